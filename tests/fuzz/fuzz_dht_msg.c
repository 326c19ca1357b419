// SPDX-License-Identifier: MIT
/*
 * Fuzz target: DHT messages (dht/dht_internal.h: fragments, REQ, REP,
 * CHECK, STORE, FETCH, OFFER, WANT and the records inside) as a member can
 * send them. Two linked nodes (simulator crypto), each with a DHT engine; A
 * first stores a few real values put by B. The input, split into records
 * [u8 flags][u16 len][bytes], is routed by B to A (flags bit 0: nearest mode
 * to A's address, else exact; bit 1: wrapped in a one-fragment header, so
 * the fuzzer reaches the messages at once). A must never crash, leak or trip
 * a sanitizer; everything A then holds must verify (nothing unverified is
 * ever stored); and A must still answer a get from B.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dht_internal.h"
#include "log.h"
#include "node.h"

#define QMAX 4096

struct pkt {
	int to;
	struct ovl_endpoint from;
	uint16_t len;
	uint8_t b[OVL_DATAGRAM_MAX];
};

static struct pkt q[QMAX];
static int qn;
static uint64_t now_ms;
static uint64_t rng_state;

struct fnode {
	struct ovl_node *node;
	struct dht *dht;
	struct ovl_crypto *crypto;
	struct ovl_endpoint ep;
	int id;
};

static struct fnode nodes[2];

static void on_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct fnode *me = ctx;
	int dst = to->port == nodes[0].ep.port ? 0 : to->port == nodes[1].ep.port ? 1 : -1;

	if (dst < 0 || qn >= QMAX || len > OVL_DATAGRAM_MAX)
		return; /* anywhere else (addresses in fuzzed CTMs) is a black hole */
	q[qn].to = dst;
	q[qn].from = me->ep;
	q[qn].len = (uint16_t)len;
	memcpy(q[qn].b, buf, len);
	qn++;
}

static void on_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(rng_state >> 56);
	}
}

static time_t on_wall(void *ctx)
{
	(void)ctx;
	return 1700000000 + (time_t)(now_ms / 1000);
}

/* Delivers queued datagrams and ticks both nodes for `ms` of virtual time. */
static void run(uint64_t ms)
{
	uint64_t end = now_ms + ms;

	while (now_ms < end) {
		int n = qn;

		for (int i = 0; i < n && i < qn; i++)
			ovl_node_input(nodes[q[i].to].node, now_ms, &q[i].from, q[i].b, q[i].len);
		memmove(q, q + n, (size_t)(qn - n) * sizeof(q[0]));
		qn -= n;
		for (int k = 0; k < 2; k++)
			ovl_node_tick(nodes[k].node, now_ms);
		now_ms++;
	}
}

/* An answer came (a fuzzed flood may leave B rate-limited: still an answer). */
static void answered(void *ctx, const struct dht_result *res)
{
	int *ok = ctx;

	*ok = res->status == DHT_OK || res->status == DHT_REFUSED ? 1 : -100;
}

static void count_ok(void *ctx, const struct dht_result *res)
{
	int *ok = ctx;

	if (res->status == DHT_OK)
		(*ok)++;
	else
		*ok = -100;
}

static void drop_log(void *ctx, enum log_level level, const char *subsys, const char *func,
                     const char *msg)
{
	(void)ctx;
	(void)level;
	(void)subsys;
	(void)func;
	(void)msg;
}

static void setup(void)
{
	log_set_sink(drop_log, NULL);
	rng_state = 42;
	qn = 0;
	now_ms = 1;
	for (int i = 0; i < 2; i++) {
		struct cert_info id;
		struct ovl_node_config cfg;
		struct ovl_node_cb cb = {
		        .ctx = &nodes[i], .send = on_send, .random = on_random, .wall = on_wall};

		memset(&id, 0, sizeof(id));
		snprintf(id.name, sizeof(id.name), "n%d", i);
		snprintf(id.namespace, sizeof(id.namespace), "fuzz");
		memset(id.addr.b, i ? 0xb0 : 0x30, CERT_ADDR_LEN);
		if (ovl_crypto_sim_new(&id, &nodes[i].crypto) < 0)
			abort();
		memset(&cfg, 0, sizeof(cfg));
		cfg.crypto = nodes[i].crypto;
		ovl_node_config_default(&cfg);
		nodes[i].id = i;
		nodes[i].ep.family = 4;
		nodes[i].ep.addr[0] = 198;
		nodes[i].ep.addr[1] = 18;
		nodes[i].ep.addr[3] = (uint8_t)(i + 1);
		nodes[i].ep.port = (uint16_t)(7000 + i);
		cfg.local[0] = nodes[i].ep;
		cfg.n_local = 1;
		cfg.bootstrap[0] = nodes[0].ep;
		cfg.n_bootstrap = i ? 1 : 0;
		if (ovl_node_new(&cfg, &cb, &nodes[i].node) < 0)
			abort();
		struct dht_config dc;
		struct dht_cb dcb = {.ctx = NULL, .wall = on_wall, .random = on_random};

		dht_config_default(&dc);
		if (dht_new(nodes[i].node, &dc, &dcb, &nodes[i].dht) < 0)
			abort();
	}
	ovl_node_start(nodes[0].node, now_ms);
	ovl_node_start(nodes[1].node, now_ms);
	run(200);
	if (!ovl_links_count(ovl_node_links_engine(nodes[1].node)))
		abort(); /* the harness itself is broken */
	for (int k = 0; k < 4; k++) {
		struct cert_addr key;
		char app[8];
		int ok = 0;

		snprintf(app, sizeof(app), "k%d", k);
		dht_key_of("fuzz", (const uint8_t *)app, strlen(app), &key);
		if (dht_put(nodes[1].dht, now_ms, &key, (const uint8_t *)app, strlen(app), 600,
		            true, count_ok, &ok, NULL) < 0)
			abort();
		run(100);
		if (ok != 1)
			abort();
	}
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++) {
		ovl_node_free(nodes[i].node);
		ovl_crypto_free(nodes[i].crypto);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cert_addr *a;
	size_t off = 0;
	struct cert_addr key;
	int ok = 0;

	setup();
	a = &ovl_crypto_self(nodes[0].crypto)->addr;
	while (off + 3 <= size) {
		uint8_t flags = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		uint8_t buf[OVL_ROUTE_MTU];
		size_t n = 0;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (flags & 2) {
			/* u32 msg_id, u8 index 0, u8 count 1 */
			memset(buf, 0, 4);
			buf[3] = (uint8_t)off;
			buf[4] = 0;
			buf[5] = 1;
			n = 6;
		}
		if (len > sizeof(buf) - n)
			len = sizeof(buf) - n;
		memcpy(buf + n, data + off, len);
		n += len;
		off += len;
		if (n > 0)
			ovl_node_route(nodes[1].node, now_ms, a,
			               (flags & 1) ? OVL_ROUTE_NEAREST : OVL_ROUTE_EXACT, DHT_PROTO,
			               buf, n, NULL);
		run(5);
	}
	run(1500);
	/* Nothing A holds escaped verification. */
	for (size_t i = 0; i < dht_store_count(nodes[0].dht->store); i++) {
		const struct dht_stored *s = dht_store_at(nodes[0].dht->store, i);
		struct wire_reader r = wire_reader(s->raw, s->raw_len);
		struct dht_record rec;
		char why[DHT_ERR_MAX];

		if (dht_record_parse(&r, &rec) < 0 || !wire_done(&r) ||
		    dht_record_verify(nodes[0].crypto, on_wall(NULL), 86400, &rec, NULL, why,
		                      sizeof(why)) < 0)
			abort();
	}
	/* And A still serves. */
	dht_key_of("fuzz", (const uint8_t *)"k0", 2, &key);
	if (dht_get(nodes[1].dht, now_ms, &key, answered, &ok, NULL) < 0)
		abort();
	run(8000);
	if (ok != 1)
		abort();
	teardown();
	return 0;
}
