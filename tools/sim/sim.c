// SPDX-License-Identifier: MIT
/* sim — scheduler, network model and node hosting (see sim.h). */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "crypto.h"
#include "log.h"

enum ev_kind {
	EV_DELIVER, /* a datagram reaches its destination endpoint */
	EV_WAKE,    /* a node's deadline */
};

struct dgram {
	struct ovl_endpoint from, to;
	uint32_t dst;
	uint16_t len;
	uint8_t buf[];
};

struct event {
	uint64_t t, seq;
	uint32_t kind;
	uint32_t node; /* EV_WAKE */
	uint32_t gen;  /* EV_WAKE: valid only if it matches the node's */
	struct dgram *d;
};

enum node_state {
	NODE_NEW,
	NODE_LIVE,
	NODE_DEAD,
};

/* A NAT router's mapping: datagrams to dst leave from our public port. */
struct natmap {
	struct ovl_endpoint dst;
	uint16_t port;
	uint64_t last;
};

struct simnat {
	enum sim_nat_type type;
	uint16_t next_port; /* SIM_NAT_SEQUENTIAL */
	uint16_t cone_port; /* SIM_NAT_CONE: SIM_PORT until a rebinding */
	struct natmap *m;
	size_t n, cap;
};

struct simnode {
	struct sim *s;
	struct simnat *nat; /* NULL: public */
	uint32_t idx;
	uint8_t state;
	uint32_t gen;
	uint64_t wake_at; /* the valid pending wake-up, UINT64_MAX if none */
	double x, y;
	struct cert_addr addr;
	struct ovl_endpoint ep;
	struct ovl_crypto *crypto;
	struct ovl_node *node;
};

struct sim {
	struct sim_config cfg;
	uint64_t now, seq;
	uint64_t rng[4];
	struct simnode *nodes;
	size_t n, live;
	uint64_t members;
	struct event *heap;
	size_t heap_n, heap_cap;
	sim_drop_fn drop;
	void *drop_ctx;
	struct sim_hooks hooks;
	struct sim_stats st;
	enum log_level saved_level;
};

/* ---- PRNG: xoshiro256**, seeded through splitmix64 ------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rand(struct sim *s)
{
	uint64_t *r = s->rng;
	uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;

	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = rotl(r[3], 45);
	return out;
}

uint64_t sim_rand_below(struct sim *s, uint64_t n)
{
	/* Rejection keeps it uniform; the loop ends with probability > 1/2 per round. */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;

	do
		v = sim_rand(s);
	while (v >= lim);
	return v % n;
}

void sim_rand_fill(struct sim *s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		uint64_t v = sim_rand(s);
		size_t k = len < sizeof(v) ? len : sizeof(v);

		memcpy(p, &v, k);
		p += k;
		len -= k;
	}
}

/* ---- event heap ------------------------------------------------------------- */

static bool ev_before(const struct event *a, const struct event *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct event ev)
{
	size_t i;

	if (s->heap_n == s->heap_cap) {
		size_t cap = s->heap_cap ? 2 * s->heap_cap : 1024;
		struct event *h = realloc(s->heap, cap * sizeof(*h));

		if (!h) {
			fprintf(stderr, "groupvpn-sim: out of memory (event heap)\n");
			abort();
		}
		s->heap = h;
		s->heap_cap = cap;
	}
	ev.seq = s->seq++;
	for (i = s->heap_n++; i > 0; i = (i - 1) / 2) {
		size_t up = (i - 1) / 2;

		if (!ev_before(&ev, &s->heap[up]))
			break;
		s->heap[i] = s->heap[up];
	}
	s->heap[i] = ev;
}

static struct event heap_pop(struct sim *s)
{
	struct event top = s->heap[0], last = s->heap[--s->heap_n];
	size_t i = 0, n = s->heap_n;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && ev_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (n > 0)
		s->heap[i] = last;
	return top;
}

/* ---- network ------------------------------------------------------------------ */

static struct ovl_endpoint ep_of(size_t i)
{
	struct ovl_endpoint ep = {.family = 4, .port = SIM_PORT};
	uint32_t v = (uint32_t)i + 1;

	ep.addr[0] = 198;
	ep.addr[1] = (uint8_t)(18 + (v >> 16));
	ep.addr[2] = (uint8_t)(v >> 8);
	ep.addr[3] = (uint8_t)v;
	return ep;
}

size_t sim_node_of(const struct sim *s, const struct ovl_endpoint *ep)
{
	uint32_t v;

	if (ep->family != 4 || ep->addr[0] != 198 || (ep->addr[1] != 18 && ep->addr[1] != 19))
		return SIZE_MAX;
	v = (uint32_t)(ep->addr[1] - 18) << 16 | (uint32_t)ep->addr[2] << 8 | ep->addr[3];
	if (v == 0 || v > s->n)
		return SIZE_MAX;
	/* A NAT router answers on any of its ports; a public node on one. */
	if (ep->port != SIM_PORT && !s->nodes[v - 1].nat)
		return SIZE_MAX;
	return v - 1;
}

/* ---- NAT routers ------------------------------------------------------------- */

static struct ovl_endpoint private_ep(size_t i)
{
	struct ovl_endpoint ep = {.family = 4, .port = SIM_PORT};
	uint32_t v = (uint32_t)i + 1;

	ep.addr[0] = 10;
	ep.addr[1] = (uint8_t)(v >> 16);
	ep.addr[2] = (uint8_t)(v >> 8);
	ep.addr[3] = (uint8_t)v;
	return ep;
}

int sim_set_nat(struct sim *s, size_t i, enum sim_nat_type t)
{
	struct simnode *sn;

	if (i >= s->n || (unsigned)t >= SIM_NAT_TYPE_MAX)
		return -EINVAL;
	sn = &s->nodes[i];
	if (sn->state != NODE_NEW)
		return -EALREADY;
	if (sn->nat) {
		free(sn->nat->m);
		free(sn->nat);
		sn->nat = NULL;
	}
	if (t == SIM_NAT_NONE)
		return 0;
	sn->nat = calloc(1, sizeof(*sn->nat));
	if (!sn->nat)
		return -ENOMEM;
	sn->nat->type = t;
	sn->nat->next_port = (uint16_t)(20000 + sim_rand_below(s, 20000));
	sn->nat->cone_port = SIM_PORT;
	return 0;
}

int sim_nat_rebind(struct sim *s, size_t i)
{
	struct simnat *nt = i < s->n ? s->nodes[i].nat : NULL;

	if (!nt)
		return -EINVAL;
	nt->n = 0;
	nt->cone_port = (uint16_t)(nt->cone_port == SIM_PORT ? SIM_PORT + 1000 : nt->cone_port + 1);
	return 0;
}

bool sim_is_bootstrap(const struct sim *s, size_t i)
{
	for (size_t b = 0; b < s->cfg.n_bootstrap; b++)
		if (s->cfg.bootstrap[b] == i)
			return true;
	return false;
}

enum sim_nat_type sim_nat(const struct sim *s, size_t i)
{
	return i < s->n && s->nodes[i].nat ? s->nodes[i].nat->type : SIM_NAT_NONE;
}

static bool port_taken(const struct simnat *nt, uint16_t port)
{
	for (size_t k = 0; k < nt->n; k++)
		if (nt->m[k].port == port)
			return true;
	return false;
}

/* The public port a datagram from sn to `to` leaves from (a mapping made if
 * need be). */
static uint16_t nat_out(struct sim *s, struct simnode *sn, const struct ovl_endpoint *to)
{
	struct simnat *nt = sn->nat;
	struct natmap *m = NULL;
	uint16_t port = nt->cone_port;

	for (size_t k = 0; k < nt->n && !m; k++)
		if (ovl_ep_eq(&nt->m[k].dst, to))
			m = &nt->m[k];
	if (m && s->now - m->last > SIM_NAT_TIMEOUT_MS) {
		*m = nt->m[--nt->n]; /* expired: a new mapping, maybe a new port */
		m = NULL;
	}
	if (m) {
		m->last = s->now;
		return m->port;
	}
	if (nt->type == SIM_NAT_SYMMETRIC) {
		do
			port = (uint16_t)(1024 + sim_rand_below(s, 65536 - 1024));
		while (port_taken(nt, port));
	} else if (nt->type == SIM_NAT_SEQUENTIAL) {
		do
			port = nt->next_port = nt->next_port >= 65535 ? 1024 : nt->next_port + 1;
		while (port_taken(nt, port));
	}
	if (nt->n == nt->cap) {
		size_t cap = nt->cap ? 2 * nt->cap : 16;
		struct natmap *q = realloc(nt->m, cap * sizeof(*q));

		if (!q) {
			fprintf(stderr, "groupvpn-sim: out of memory (NAT table)\n");
			abort();
		}
		nt->m = q;
		nt->cap = cap;
	}
	nt->m[nt->n++] = (struct natmap){.dst = *to, .port = port, .last = s->now};
	return port;
}

/* May a datagram from `from` to our public `to` pass our router? Answers only. */
static bool nat_in(struct sim *s, struct simnode *sn, const struct ovl_endpoint *from,
                   const struct ovl_endpoint *to)
{
	for (size_t k = 0; k < sn->nat->n; k++) {
		struct natmap *m = &sn->nat->m[k];

		if (m->port == to->port && ovl_ep_eq(&m->dst, from) &&
		    s->now - m->last <= SIM_NAT_TIMEOUT_MS) {
			m->last = s->now;
			return true;
		}
	}
	return false;
}

static uint64_t delay_ms(const struct sim *s, size_t a, size_t b)
{
	double dx = s->nodes[a].x - s->nodes[b].x, dy = s->nodes[a].y - s->nodes[b].y;
	double d = sqrt(dx * dx + dy * dy) / sqrt(2.0);

	return SIM_DELAY_BASE_MS + (uint64_t)(d * SIM_DELAY_RANGE_MS);
}

/* ---- node callbacks ------------------------------------------------------------- */

static void cb_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct simnode *sn = ctx;
	struct sim *s = sn->s;
	size_t dst = sim_node_of(s, to);
	struct dgram *d;

	s->st.sent++;
	if (len == 0 || len > OVL_DATAGRAM_MAX || dst == SIZE_MAX ||
	    s->nodes[dst].state != NODE_LIVE) {
		/* Unknown and dark endpoints swallow datagrams; so does a dead node's
		 * endpoint when the datagram arrives (deliver checks again). */
		s->st.lost_dark++;
		return;
	}
	if (s->drop && s->drop(s->drop_ctx, s, sn->idx, dst, buf, len)) {
		s->st.lost_rule++;
		return;
	}
	if (s->cfg.loss_ppm && sim_rand_below(s, 1000000) < s->cfg.loss_ppm) {
		s->st.lost_random++;
		return;
	}
	d = malloc(sizeof(*d) + len);
	if (!d) {
		fprintf(stderr, "groupvpn-sim: out of memory (datagram)\n");
		abort();
	}
	d->from = sn->ep;
	if (sn->nat)
		d->from.port = nat_out(s, sn, to);
	d->to = *to;
	d->dst = (uint32_t)dst;
	d->len = (uint16_t)len;
	memcpy(d->buf, buf, len);
	heap_push(s, (struct event){
	                     .t = s->now + delay_ms(s, sn->idx, dst), .kind = EV_DELIVER, .d = d});
}

static void cb_random(void *ctx, void *buf, size_t len)
{
	struct simnode *sn = ctx;

	sim_rand_fill(sn->s, buf, len);
}

static time_t cb_wall(void *ctx)
{
	struct simnode *sn = ctx;

	return sim_wall(sn->s);
}

static void cb_deliver(void *ctx, const struct ovl_route_info *info, const uint8_t *payload,
                       size_t len)
{
	struct simnode *sn = ctx;
	struct sim *s = sn->s;

	if (s->hooks.deliver)
		s->hooks.deliver(s->hooks.ctx, s, sn->idx, info, payload, len);
}

static void cb_route_error(void *ctx, uint32_t id, const struct cert_addr *dst, const char *reason)
{
	struct simnode *sn = ctx;
	struct sim *s = sn->s;

	if (s->hooks.route_error)
		s->hooks.route_error(s->hooks.ctx, s, sn->idx, id, dst, reason);
}

static void cb_trace_done(void *ctx, uint32_t id, const struct cert_addr *hops, size_t n_hops,
                          const struct cert_addr *reached)
{
	struct simnode *sn = ctx;
	struct sim *s = sn->s;

	if (s->hooks.trace_done)
		s->hooks.trace_done(s->hooks.ctx, s, sn->idx, id, hops, n_hops, reached);
}

/* ---- log: counted by level, never printed; rate limits on virtual time ---- */

static void log_count(void *ctx, enum log_level level, const char *subsys, const char *func,
                      const char *msg)
{
	struct sim *s = ctx;

	if ((unsigned)level < 4)
		s->st.log_lines[level]++;
	if (s->cfg.log_print)
		fprintf(stderr, "[%10.3f] %-5s %s: %s: %s\n", (double)s->now / 1000.0,
		        log_level_name(level), subsys, func, msg);
}

static uint64_t log_clock(void *ctx)
{
	const struct sim *s = ctx;

	return s->now + 1; /* the rate limiter treats 0 as "never" */
}

/* ---- scheduling ------------------------------------------------------------------ */

/* Asks node i for its deadline and makes sure a wake-up is pending no later. */
static void tick_node(struct sim *s, struct simnode *sn)
{
	uint64_t next = ovl_node_tick(sn->node, s->now);

	s->st.ticks++;
	if (next == UINT64_MAX)
		return;
	if (next <= s->now) {
		/* Everything due should have run; ticking again at the same instant
		 * could spin forever. Counted, and retried a millisecond later. */
		s->st.tick_past++;
		next = s->now + 1;
	}
	if (next >= sn->wake_at)
		return; /* the pending, earlier wake-up will tick and learn this one */
	sn->gen++;
	sn->wake_at = next;
	heap_push(s, (struct event){.t = next, .kind = EV_WAKE, .node = sn->idx, .gen = sn->gen});
}

static void run_event(struct sim *s, struct event *ev)
{
	struct simnode *sn;

	s->st.events++;
	if (ev->kind == EV_WAKE) {
		sn = &s->nodes[ev->node];
		if (sn->state != NODE_LIVE || ev->gen != sn->gen)
			return; /* superseded, or the node died */
		sn->wake_at = UINT64_MAX;
		tick_node(s, sn);
		return;
	}
	sn = &s->nodes[ev->d->dst];
	if (sn->state == NODE_LIVE && sn->nat && !nat_in(s, sn, &ev->d->from, &ev->d->to)) {
		s->st.lost_nat++;
	} else if (sn->state == NODE_LIVE) {
		s->st.delivered++;
		ovl_node_input(sn->node, s->now, &ev->d->from, ev->d->buf, ev->d->len);
		tick_node(s, sn);
	} else {
		s->st.lost_dark++;
	}
	free(ev->d);
}

void sim_run_until(struct sim *s, uint64_t until)
{
	while (s->heap_n > 0 && s->heap[0].t <= until) {
		struct event ev = heap_pop(s);

		if (ev.t > s->now)
			s->now = ev.t;
		run_event(s, &ev);
	}
	if (until > s->now)
		s->now = until;
}

bool sim_run_until_cond(struct sim *s, uint64_t until, uint64_t every_ms, sim_cond_fn cond,
                        void *ctx)
{
	if (every_ms == 0)
		every_ms = 1;
	for (;;) {
		if (cond(s, ctx))
			return true;
		if (s->now >= until)
			return false;
		sim_run_until(s, until - s->now > every_ms ? s->now + every_ms : until);
	}
}

/* ---- nodes -------------------------------------------------------------------------- */

void sim_config_default(struct sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->seed = 1;
	cfg->nodes = 1;
	cfg->loss_ppm = 5000;
	for (size_t i = 0; i < 3; i++)
		cfg->bootstrap[i] = i;
	cfg->n_bootstrap = 3;
	ovl_node_config_default(&cfg->node);
	cfg->log_level = LOG_LVL_WARN;
}

int sim_new(const struct sim_config *cfg, struct sim **out)
{
	struct sim *s;
	uint64_t x;

	if (cfg->nodes == 0 || cfg->nodes > SIM_NODES_MAX || cfg->loss_ppm > 1000000 ||
	    cfg->n_bootstrap > OVL_BOOTSTRAP_MAX || (unsigned)cfg->log_level >= LOG_LVL_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->nodes = calloc(cfg->nodes, sizeof(*s->nodes));
	if (!s->nodes) {
		free(s);
		return -ENOMEM;
	}
	s->n = cfg->nodes;
	x = cfg->seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	for (size_t i = 0; i < s->n; i++) {
		struct simnode *sn = &s->nodes[i];

		sn->s = s;
		sn->idx = (uint32_t)i;
		sn->state = NODE_NEW;
		sn->wake_at = UINT64_MAX;
		sim_rand_fill(s, sn->addr.b, sizeof(sn->addr.b));
		sn->x = (double)(sim_rand(s) >> 11) / 9007199254740992.0; /* 2^53 */
		sn->y = (double)(sim_rand(s) >> 11) / 9007199254740992.0;
		sn->ep = ep_of(i);
	}
	/* Lines above the level are not even formatted. */
	s->saved_level = log_threshold;
	log_set_level(cfg->log_level);
	log_set_sink(log_count, s);
	log_set_clock(log_clock, s);
	*out = s;
	return 0;
}

static void node_destroy(struct simnode *sn)
{
	ovl_node_free(sn->node);
	ovl_crypto_free(sn->crypto);
	sn->node = NULL;
	sn->crypto = NULL;
}

void sim_free(struct sim *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (s->nodes[i].state == NODE_LIVE)
			node_destroy(&s->nodes[i]);
		if (s->nodes[i].nat)
			free(s->nodes[i].nat->m);
		free(s->nodes[i].nat);
	}
	for (size_t i = 0; i < s->heap_n; i++)
		if (s->heap[i].kind == EV_DELIVER)
			free(s->heap[i].d);
	free(s->heap);
	free(s->nodes);
	log_set_level(s->saved_level);
	free(s);
	log_set_sink(NULL, NULL);
	log_set_clock(NULL, NULL);
}

int sim_start(struct sim *s, size_t i)
{
	struct ovl_node_cb cb = {
	        .send = cb_send,
	        .random = cb_random,
	        .wall = cb_wall,
	        .deliver = cb_deliver,
	        .route_error = cb_route_error,
	        .trace_done = cb_trace_done,
	};
	struct ovl_node_config cfg = s->cfg.node;
	struct cert_info id;
	struct simnode *sn;
	int rc;

	if (i >= s->n)
		return -EINVAL;
	sn = &s->nodes[i];
	if (sn->state != NODE_NEW)
		return -EALREADY;
	memset(&id, 0, sizeof(id));
	snprintf(id.name, sizeof(id.name), "n%zu", i);
	snprintf(id.namespace, sizeof(id.namespace), "%s", SIM_NAMESPACE);
	id.addr = sn->addr;
	rc = ovl_crypto_sim_new(&id, &sn->crypto);
	if (rc < 0)
		return rc;
	cfg.crypto = sn->crypto;
	cfg.links.crypto = sn->crypto;
	cfg.n_bootstrap = 0;
	for (size_t b = 0; b < s->cfg.n_bootstrap; b++)
		if (s->cfg.bootstrap[b] < s->n)
			cfg.bootstrap[cfg.n_bootstrap++] = ep_of(s->cfg.bootstrap[b]);
	cfg.local[0] = sn->nat ? private_ep(i) : sn->ep;
	cfg.n_local = 1;
	cb.ctx = sn;
	rc = ovl_node_new(&cfg, &cb, &sn->node);
	if (rc < 0) {
		ovl_crypto_free(sn->crypto);
		sn->crypto = NULL;
		return rc;
	}
	sn->state = NODE_LIVE;
	s->live++;
	s->members++;
	ovl_node_start(sn->node, s->now);
	tick_node(s, sn);
	return 0;
}

void sim_kill(struct sim *s, size_t i)
{
	struct simnode *sn;

	if (i >= s->n || s->nodes[i].state != NODE_LIVE)
		return;
	sn = &s->nodes[i];
	node_destroy(sn);
	sn->state = NODE_DEAD;
	sn->gen++;
	sn->wake_at = UINT64_MAX;
	s->live--;
	s->members++;
}

int sim_route(struct sim *s, size_t i, const struct cert_addr *dst, enum ovl_route_mode mode,
              uint8_t proto, const uint8_t *payload, size_t len, uint32_t *id)
{
	struct simnode *sn;
	int rc;

	if (i >= s->n || s->nodes[i].state != NODE_LIVE)
		return -EINVAL;
	sn = &s->nodes[i];
	rc = ovl_node_route(sn->node, s->now, dst, mode, proto, payload, len, id);
	tick_node(s, sn);
	return rc;
}

int sim_trace(struct sim *s, size_t i, const struct cert_addr *dst, uint32_t *id)
{
	struct simnode *sn;
	int rc;

	if (i >= s->n || s->nodes[i].state != NODE_LIVE)
		return -EINVAL;
	sn = &s->nodes[i];
	rc = ovl_node_trace(sn->node, s->now, dst, id);
	tick_node(s, sn);
	return rc;
}

void sim_poke(struct sim *s, size_t i)
{
	if (i < s->n && s->nodes[i].state == NODE_LIVE)
		tick_node(s, &s->nodes[i]);
}

/* ---- accessors -------------------------------------------------------------------------- */

uint64_t sim_now(const struct sim *s)
{
	return s->now;
}

time_t sim_wall(const struct sim *s)
{
	return (time_t)(SIM_WALL_EPOCH + s->now / 1000);
}

size_t sim_nodes(const struct sim *s)
{
	return s->n;
}

size_t sim_live(const struct sim *s)
{
	return s->live;
}

bool sim_is_live(const struct sim *s, size_t i)
{
	return i < s->n && s->nodes[i].state == NODE_LIVE;
}

struct ovl_node *sim_node(struct sim *s, size_t i)
{
	return sim_is_live(s, i) ? s->nodes[i].node : NULL;
}

const struct ovl_node *sim_node_c(const struct sim *s, size_t i)
{
	return sim_is_live(s, i) ? s->nodes[i].node : NULL;
}

const struct cert_addr *sim_addr(const struct sim *s, size_t i)
{
	return &s->nodes[i].addr;
}

const struct ovl_endpoint *sim_endpoint(const struct sim *s, size_t i)
{
	return &s->nodes[i].ep;
}

uint64_t sim_membership_version(const struct sim *s)
{
	return s->members;
}

void sim_stats(const struct sim *s, struct sim_stats *out)
{
	*out = s->st;
}

void sim_set_drop(struct sim *s, sim_drop_fn fn, void *ctx)
{
	s->drop = fn;
	s->drop_ctx = ctx;
}

void sim_set_hooks(struct sim *s, const struct sim_hooks *h)
{
	if (h)
		s->hooks = *h;
	else
		memset(&s->hooks, 0, sizeof(s->hooks));
}
