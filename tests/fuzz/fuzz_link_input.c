// SPDX-License-Identifier: MIT
/*
 * fuzz_link_input — datagrams from the network into a link engine
 * (ovl_links_input), with time passing (ovl_links_tick).
 *
 * Each input starts afresh: engine A (under test) and engine B, both with sim
 * crypto, a deterministic `random` and a virtual clock; B connects to A
 * through an in-memory pipe, so A holds one live link and its DATA path has a
 * live session index (the same every run: the fuzzer can learn it from
 * comparisons). Then the input is a sequence of records
 *
 *   [u8 op][u16 len][len bytes][u16 ms]     (big-endian; a short tail is clipped)
 *
 * op bits 0-1 pick the source endpoint: 0 is B's (the live peer), 1..3 are
 * strangers (one IPv6). Bit 2: the bytes are XORed onto a genuine datagram B
 * sent A earlier (bits 3-4 pick which), so session indices, counters and
 * tags start out right. Bit 5: A first connects to that endpoint, so
 * handshake and cookie datagrams meet an initiator. Bit 6: A sends the bytes
 * to B as a link message instead; bit 7: B sends them to A; both: A closes
 * its link to B with the bytes as the reason. Then the clock
 * advances by ms and both engines tick. Whatever A sends to B and B to A goes
 * through the pipe; what A sends to strangers is checked and dropped.
 *
 * Properties, each an abort() when broken:
 *  - every datagram sent is 1..OVL_DATAGRAM_MAX bytes, to an IPv4 or IPv6 endpoint;
 *  - ovl_links_tick returns a deadline after now;
 *  - every ovl_links_input is counted in rx_datagrams, exactly once;
 *  - `up` and `down` pair up: never `up` for a live link or `down`/`recv`
 *    for one that is not, and the live links are exactly ovl_links_count's;
 *  - links + handshakes stay within max_links;
 *  - ovl_link_send answers -EINVAL for 0 bytes, -EMSGSIZE above
 *    OVL_LINK_MTU, and 0 otherwise on an up link.
 */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "endpoint.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_EP       4
#define PIPE_MAX   64 /* datagrams in flight in the pipe */
#define PUMP_MAX   256
#define CAPTURED   4
#define LIVE_MAX   16
#define MAX_LINKS  8
#define T0_WALL    ((time_t)1700000000)
#define DATA_LIMIT 8192 /* bytes of input looked at */

struct dgram {
	int to; /* 0 A, 1 B */
	size_t len;
	uint8_t buf[OVL_DATAGRAM_MAX];
};

struct side {
	struct fz *fz;
	int id; /* 0 A, 1 B */
	struct ovl_links *ls;
	struct ovl_crypto *crypto;
	uint64_t rng;
	struct ovl_link *live[LIVE_MAX];
	size_t n_live;
};

struct fz {
	uint64_t now;
	struct side s[2];
	struct ovl_endpoint ep_a, ep[N_EP]; /* ep[0] is B's */
	struct dgram pipe[PIPE_MAX];
	size_t n_pipe;
	struct dgram captured[CAPTURED]; /* genuine datagrams B sent A */
	size_t n_captured;
	bool closing; /* in ovl_link_close, whose reason may be empty */
};

static void die(const char *what)
{
	fprintf(stderr, "fuzz_link_input: property broken: %s\n", what);
	abort();
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- callbacks ----------------------------------------------------------------- */

static void cb_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct side *sd = ctx;
	struct fz *fz = sd->fz;
	struct dgram *d;

	if (len == 0 || len > OVL_DATAGRAM_MAX)
		die("datagram of 0 or more than OVL_DATAGRAM_MAX bytes");
	if (to->family != 4 && to->family != 6)
		die("datagram to an endpoint without family");
	/* Only A <-> B travels; the rest is checked and dropped. */
	if (sd->id == 0 && !ovl_ep_eq(to, &fz->ep[0]))
		return;
	if (sd->id == 1 && !ovl_ep_eq(to, &fz->ep_a))
		return;
	if (fz->n_pipe == PIPE_MAX)
		return; /* a full pipe loses datagrams, like a full queue */
	d = &fz->pipe[fz->n_pipe++];
	d->to = !sd->id;
	d->len = len;
	memcpy(d->buf, buf, len);
	if (sd->id == 1 && fz->n_captured < CAPTURED)
		fz->captured[fz->n_captured++] = *d;
}

static void cb_random(void *ctx, void *buf, size_t len)
{
	struct side *sd = ctx;
	uint8_t *p = buf;

	while (len) {
		uint64_t r = splitmix(&sd->rng);
		size_t k = len < sizeof(r) ? len : sizeof(r);

		memcpy(p, &r, k);
		p += k;
		len -= k;
	}
}

static time_t cb_wall(void *ctx)
{
	struct side *sd = ctx;

	return T0_WALL + (time_t)(sd->fz->now / 1000);
}

static size_t live_find(const struct side *sd, const struct ovl_link *l)
{
	for (size_t i = 0; i < sd->n_live; i++)
		if (sd->live[i] == l)
			return i;
	return SIZE_MAX;
}

static void cb_up(void *ctx, struct ovl_link *l)
{
	struct side *sd = ctx;

	if (live_find(sd, l) != SIZE_MAX)
		die("`up` for a link that is already up");
	if (sd->n_live == LIVE_MAX)
		die("more live links than max_links allows");
	if (ovl_link_state(l) != OVL_LINK_UP)
		die("`up` for a link not in state UP");
	sd->live[sd->n_live++] = l;
}

static void cb_down(void *ctx, struct ovl_link *l, const char *reason)
{
	struct side *sd = ctx;
	size_t i = live_find(sd, l);

	if (i == SIZE_MAX)
		die("`down` for a link that is not up");
	if (!reason || (!reason[0] && !sd->fz->closing))
		die("`down` without a reason");
	sd->live[i] = sd->live[--sd->n_live];
}

static void cb_failed(void *ctx, const struct ovl_endpoint *ep, const struct cert_addr *expect,
                      const char *reason)
{
	(void)ctx;
	(void)expect;
	if (!ep || !reason || !reason[0])
		die("`failed` without an endpoint or a reason");
}

static void cb_recv(void *ctx, struct ovl_link *l, const uint8_t *msg, size_t len)
{
	struct side *sd = ctx;
	volatile uint8_t sum = 0;

	if (live_find(sd, l) == SIZE_MAX)
		die("`recv` on a link that is not up");
	if (len == 0 || len > OVL_LINK_MTU)
		die("`recv` of 0 or more than OVL_LINK_MTU bytes");
	for (size_t i = 0; i < len; i++) /* the whole message is readable */
		sum ^= msg[i];
	(void)sum;
}

static uint64_t log_clock(void *ctx)
{
	return ((const struct fz *)ctx)->now;
}

/* ---- driving ------------------------------------------------------------------------ */

static void check(struct side *sd)
{
	if (sd->n_live != ovl_links_count(sd->ls))
		die("live links differ from ovl_links_count");
	if (ovl_links_count(sd->ls) + ovl_links_pending(sd->ls) > MAX_LINKS)
		die("links + handshakes above max_links");
}

static void input(struct fz *fz, int to, const struct ovl_endpoint *from, const uint8_t *buf,
                  size_t len)
{
	struct side *sd = &fz->s[to];
	struct ovl_links_stats before, after;
	/* Exactly len bytes, so a sanitizer catches a read past the datagram. */
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		die("out of memory");
	memcpy(copy, buf, len);
	ovl_links_stats(sd->ls, &before);
	ovl_links_input(sd->ls, fz->now, from, copy, len);
	ovl_links_stats(sd->ls, &after);
	free(copy);
	if (after.rx_datagrams != before.rx_datagrams + 1)
		die("an input was not counted exactly once in rx_datagrams");
	check(sd);
}

static void tick(struct fz *fz, int who)
{
	struct side *sd = &fz->s[who];
	uint64_t d = ovl_links_tick(sd->ls, fz->now);

	if (d <= fz->now)
		die("ovl_links_tick returned a deadline not after now");
	check(sd);
}

/* Delivers what is in the pipe, and what that makes them send, up to a bound. */
static void pump(struct fz *fz)
{
	for (int rounds = 0; fz->n_pipe && rounds < PUMP_MAX; rounds++) {
		struct dgram d = fz->pipe[0];

		memmove(fz->pipe, fz->pipe + 1, --fz->n_pipe * sizeof(fz->pipe[0]));
		input(fz, d.to, d.to == 0 ? &fz->ep[0] : &fz->ep_a, d.buf, d.len);
		tick(fz, d.to);
	}
	fz->n_pipe = 0;
}

static void send_over(struct fz *fz, int from, const uint8_t *msg, size_t len)
{
	struct side *sd = &fz->s[from];
	const struct cert_addr *peer = &ovl_crypto_self(fz->s[!from].crypto)->addr;
	struct ovl_link *l = ovl_links_find(sd->ls, peer);
	uint8_t *copy;
	int rc, want;

	if (!l)
		return;
	copy = malloc(len ? len : 1);
	if (!copy)
		die("out of memory");
	memcpy(copy, msg, len);
	want = len == 0 ? -EINVAL : len > OVL_LINK_MTU ? -EMSGSIZE : 0;
	rc = ovl_link_send(sd->ls, l, fz->now, copy, len);
	free(copy);
	if (rc != want && !(want == 0 && rc == -EKEYEXPIRED))
		die("ovl_link_send answered other than its contract");
	tick(fz, from);
}

static void close_link(struct fz *fz, const uint8_t *reason, size_t len)
{
	struct ovl_link *l = ovl_links_find(fz->s[0].ls, &ovl_crypto_self(fz->s[1].crypto)->addr);
	char *r = malloc(len + 1);

	if (!r)
		die("out of memory");
	memcpy(r, reason, len);
	r[len] = '\0';
	fz->closing = true;
	if (l)
		ovl_link_close(fz->s[0].ls, l, fz->now, r);
	fz->closing = false;
	free(r);
	check(&fz->s[0]);
	tick(fz, 0);
}

static int side_new(struct fz *fz, int id, const char *name)
{
	struct ovl_links_config cfg;
	struct ovl_links_cb cb = {
	        .send = cb_send,
	        .random = cb_random,
	        .wall = cb_wall,
	        .up = cb_up,
	        .down = cb_down,
	        .failed = cb_failed,
	        .recv = cb_recv,
	};
	struct side *sd = &fz->s[id];
	struct cert_info self;

	memset(&self, 0, sizeof(self));
	snprintf(self.name, sizeof(self.name), "%s", name);
	snprintf(self.namespace, sizeof(self.namespace), "fuzz");
	memset(self.addr.b, id ? 0xb0 : 0xa0, sizeof(self.addr.b));
	sd->fz = fz;
	sd->id = id;
	sd->rng = id ? 0xb0b : 0xa11ce;
	if (ovl_crypto_sim_new(&self, &sd->crypto) < 0)
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	ovl_links_config_default(&cfg);
	cfg.crypto = sd->crypto;
	/* Short timers, so a few records reach keepalives, rekeys, timeouts. */
	cfg.keepalive_ms = 1000;
	cfg.dead_ms = 5000;
	cfg.rekey_ms = 4000;
	cfg.hs_timeout_ms = 3000;
	cfg.hs_rto_ms = 100;
	cfg.max_links = MAX_LINKS;
	cfg.max_half_open = 2;
	cb.ctx = sd;
	return ovl_links_new(&cfg, &cb, &sd->ls);
}

static struct ovl_endpoint ep4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct ovl_endpoint ep = {.family = 4, .port = port};

	ep.addr[0] = a;
	ep.addr[1] = b;
	ep.addr[2] = c;
	ep.addr[3] = d;
	return ep;
}

static bool setup(struct fz *fz)
{
	memset(fz, 0, sizeof(*fz));
	fz->now = 1000;
	fz->ep_a = ep4(192, 0, 2, 1, 7000);
	fz->ep[0] = ep4(192, 0, 2, 2, 7000);
	fz->ep[1] = ep4(198, 51, 100, 1, 7001);
	fz->ep[2] = ep4(198, 51, 100, 2, 7002);
	fz->ep[3] = (struct ovl_endpoint){.family = 6, .port = 7003};
	fz->ep[3].addr[0] = 0x20;
	fz->ep[3].addr[1] = 0x01;
	fz->ep[3].addr[2] = 0x0d;
	fz->ep[3].addr[3] = 0xb8;
	fz->ep[3].addr[15] = 3;
	if (side_new(fz, 0, "alice") < 0 || side_new(fz, 1, "bob") < 0)
		die("cannot make the engines");
	log_set_clock(log_clock, fz);
	if (ovl_links_connect(fz->s[1].ls, fz->now, &fz->ep_a, NULL) < 0)
		die("B cannot connect");
	tick(fz, 1);
	for (int i = 0; i < 20 && !(fz->s[0].n_live && fz->s[1].n_live); i++) {
		pump(fz);
		fz->now += 5;
		tick(fz, 0);
		tick(fz, 1);
	}
	if (!fz->s[0].n_live || !fz->s[1].n_live)
		die("the set-up link did not come up");
	/* Some traffic B -> A to capture: pings are due at once, and messages. */
	send_over(fz, 1, (const uint8_t *)"hello A", 7);
	send_over(fz, 0, (const uint8_t *)"hello B", 7);
	pump(fz);
	return true;
}

static void teardown(struct fz *fz)
{
	for (int i = 0; i < 2; i++) {
		ovl_links_free(fz->s[i].ls);
		ovl_crypto_free(fz->s[i].crypto);
	}
	log_set_clock(NULL, NULL);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_sink(log_sink_discard, NULL);
	log_set_level(LOG_LVL_DEBUG);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz fz;
	static uint8_t dg[1 << 16];
	size_t off = 0;

	if (size > DATA_LIMIT)
		size = DATA_LIMIT;
	setup(&fz);
	while (off < size) {
		uint8_t op = data[off++];
		size_t len = off + 2 <= size ? get16(data + off) : 0;
		const struct ovl_endpoint *from = &fz.ep[op & 3];
		uint16_t ms;

		off += off + 2 <= size ? 2 : size - off;
		if (len > size - off)
			len = size - off;
		memcpy(dg, data + off, len);
		off += len;
		ms = off + 2 <= size ? get16(data + off) : 0;
		off += off + 2 <= size ? 2 : size - off;

		if (op & 0x04 && fz.n_captured) {
			const struct dgram *g = &fz.captured[(op >> 3 & 3) % fz.n_captured];

			for (size_t i = 0; i < g->len; i++)
				dg[i] = (uint8_t)(g->buf[i] ^ (i < len ? dg[i] : 0));
			if (len < g->len)
				len = g->len;
		}
		if (op & 0x20)
			ovl_links_connect(fz.s[0].ls, fz.now, from, NULL);
		if ((op & 0xc0) == 0xc0)
			close_link(&fz, dg, len);
		else if (op & 0x40)
			send_over(&fz, 0, dg, len);
		else if (op & 0x80)
			send_over(&fz, 1, dg, len);
		else
			input(&fz, 0, from, dg, len);
		tick(&fz, 0);
		pump(&fz);
		fz.now += ms;
		tick(&fz, 0);
		tick(&fz, 1);
		pump(&fz);
	}
	teardown(&fz);
	return 0;
}
