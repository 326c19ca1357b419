// SPDX-License-Identifier: MIT
/* netsim — an in-memory network for link engines on a virtual clock. See netsim.h. */
#include "netsim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "log.h"

#define NS_WALL_BASE ((time_t)1700000000)
#define NS_PORT      7000

struct ns_node {
	struct netsim *ns;
	int id;
	struct ovl_links *ls;
	struct ovl_crypto *crypto;
	bool own_crypto;
	struct ovl_links_config cfg;
	struct ovl_endpoint ep;
	uint64_t deadline; /* UINT64_MAX: none */
	uint64_t rng;
	unsigned restarts;
	struct ns_event *ev;
	size_t n_ev, cap_ev;
};

struct ns_pkt {
	uint64_t t, seq;
	struct ovl_endpoint from, to;
	uint8_t *buf;
	size_t len;
};

struct ns_flow_entry {
	struct ovl_endpoint from, to;
	struct ns_flow f;
};

struct ns_delay {
	int src, dst;
	uint32_t ms;
};

struct netsim {
	uint64_t now, seq, rng, seed;
	time_t wall_base;
	struct ns_node **nodes;
	int n_nodes;
	struct ns_pkt *heap; /* min-heap on (t, seq) */
	size_t n_heap, cap_heap;
	struct ns_flow_entry *flows;
	size_t n_flows, cap_flows;
	struct ns_delay *delays;
	size_t n_delays;
	unsigned loss_pct, dup_pct;
	ns_drop_fn drop;
	void *drop_ctx;
	ns_hook_fn hook;
	void *hook_ctx;
	struct ns_faults faults;
	bool log_attached, trace;
};

static void die(const char *what)
{
	fprintf(stderr, "netsim: %s\n", what);
	abort();
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		die("out of memory");
	return q;
}

/* splitmix64: small, fast and good enough to spread seeds and decide loss. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct ns_node *node(const struct netsim *ns, int i)
{
	if (i < 0 || i >= ns->n_nodes)
		die("no such node");
	return ns->nodes[i];
}

static int node_at(const struct netsim *ns, const struct ovl_endpoint *ep)
{
	for (int i = 0; i < ns->n_nodes; i++)
		if (ovl_ep_eq(&ns->nodes[i]->ep, ep))
			return i;
	return -1;
}

/* ---- counters ------------------------------------------------------------- */

static struct ns_flow *flow(struct netsim *ns, const struct ovl_endpoint *from,
                            const struct ovl_endpoint *to)
{
	struct ns_flow_entry *e;

	for (size_t i = 0; i < ns->n_flows; i++)
		if (ovl_ep_eq(&ns->flows[i].from, from) && ovl_ep_eq(&ns->flows[i].to, to))
			return &ns->flows[i].f;
	if (ns->n_flows == ns->cap_flows) {
		ns->cap_flows = ns->cap_flows ? 2 * ns->cap_flows : 16;
		ns->flows = xrealloc(ns->flows, ns->cap_flows * sizeof(*ns->flows));
	}
	e = &ns->flows[ns->n_flows++];
	memset(e, 0, sizeof(*e));
	e->from = *from;
	e->to = *to;
	return &e->f;
}

struct ns_flow ns_flow(const struct netsim *ns, const struct ovl_endpoint *from,
                       const struct ovl_endpoint *to)
{
	struct ns_flow none = {0};

	for (size_t i = 0; i < ns->n_flows; i++)
		if (ovl_ep_eq(&ns->flows[i].from, from) && ovl_ep_eq(&ns->flows[i].to, to))
			return ns->flows[i].f;
	return none;
}

struct ns_faults ns_faults(const struct netsim *ns)
{
	return ns->faults;
}

/* ---- the queue -------------------------------------------------------------- */

static bool pkt_before(const struct ns_pkt *a, const struct ns_pkt *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void heap_push(struct netsim *ns, struct ns_pkt p)
{
	size_t i;

	if (ns->n_heap == ns->cap_heap) {
		ns->cap_heap = ns->cap_heap ? 2 * ns->cap_heap : 64;
		ns->heap = xrealloc(ns->heap, ns->cap_heap * sizeof(*ns->heap));
	}
	p.seq = ns->seq++;
	for (i = ns->n_heap++; i > 0; i = (i - 1) / 2) {
		size_t up = (i - 1) / 2;

		if (!pkt_before(&p, &ns->heap[up]))
			break;
		ns->heap[i] = ns->heap[up];
	}
	ns->heap[i] = p;
}

static struct ns_pkt heap_pop(struct netsim *ns)
{
	struct ns_pkt top = ns->heap[0], last = ns->heap[--ns->n_heap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= ns->n_heap)
			break;
		if (c + 1 < ns->n_heap && pkt_before(&ns->heap[c + 1], &ns->heap[c]))
			c++;
		if (!pkt_before(&ns->heap[c], &last))
			break;
		ns->heap[i] = ns->heap[c];
		i = c;
	}
	if (ns->n_heap)
		ns->heap[i] = last;
	return top;
}

static void enqueue(struct netsim *ns, const struct ovl_endpoint *from,
                    const struct ovl_endpoint *to, const uint8_t *buf, size_t len, uint64_t t)
{
	struct ns_pkt p = {.t = t, .from = *from, .to = *to, .len = len};

	/* Exactly len bytes, so a sanitizer build catches reads past the end. */
	p.buf = xrealloc(NULL, len);
	if (len)
		memcpy(p.buf, buf, len);
	heap_push(ns, p);
}

static void trace(const struct netsim *ns, const char *what, const struct ovl_endpoint *from,
                  const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	char f[OVL_EP_STR_MAX], t[OVL_EP_STR_MAX], head[3 * 16 + 1] = "";

	if (!ns->trace)
		return;
	ovl_ep_format(from, f);
	ovl_ep_format(to, t);
	for (size_t i = 0; i < len && i < 16; i++)
		snprintf(head + 2 * i + i / 4, sizeof(head) - 2 * i - i / 4, "%02x%s", buf[i],
		         i % 4 == 3 ? " " : "");
	fprintf(stderr, "%6llu.%03llu %-9s %s -> %s %4zu bytes: %s\n",
	        (unsigned long long)(ns->now / 1000), (unsigned long long)(ns->now % 1000), what, f,
	        t, len, head);
}

/* ---- engine callbacks ------------------------------------------------------------ */

static uint32_t delay(const struct netsim *ns, int src, int dst)
{
	for (size_t i = 0; i < ns->n_delays; i++)
		if (ns->delays[i].src == src && ns->delays[i].dst == dst)
			return ns->delays[i].ms;
	return NS_DEFAULT_DELAY_MS;
}

static bool chance(struct netsim *ns, unsigned pct)
{
	return pct && rng_next(&ns->rng) % 100 < pct;
}

static void cb_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct ns_node *n = ctx;
	struct netsim *ns = n->ns;
	struct ns_datagram d = {.t = ns->now,
	                        .src = n->id,
	                        .dst = node_at(ns, to),
	                        .from = n->ep,
	                        .to = *to,
	                        .buf = buf,
	                        .len = len};
	struct ns_flow *f;
	uint64_t at;

	if (len == 0 || len > OVL_DATAGRAM_MAX)
		ns->faults.oversize++;
	if (to->family != 4 && to->family != 6) {
		ns->faults.bad_send++;
		return;
	}
	f = flow(ns, &n->ep, to);
	f->sent_bytes += len;
	f->sent_dgrams++;
	if ((ns->drop && ns->drop(ns->drop_ctx, ns, &d)) || chance(ns, ns->loss_pct)) {
		f->dropped_dgrams++;
		trace(ns, "dropped", &n->ep, to, buf, len);
		return;
	}
	trace(ns, "sent", &n->ep, to, buf, len);
	at = ns->now + delay(ns, n->id, d.dst);
	enqueue(ns, &n->ep, to, buf, len, at);
	if (chance(ns, ns->dup_pct))
		enqueue(ns, &n->ep, to, buf, len, at + 1);
}

static void rng_fill(uint64_t *s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t r = rng_next(s);
		size_t k = len < sizeof(r) ? len : sizeof(r);

		memcpy(p, &r, k);
		p += k;
		len -= k;
	}
}

static void cb_random(void *ctx, void *buf, size_t len)
{
	struct ns_node *n = ctx;

	rng_fill(&n->rng, buf, len);
}

static time_t cb_wall(void *ctx)
{
	struct ns_node *n = ctx;

	return n->ns->wall_base + (time_t)(n->ns->now / 1000);
}

static struct ns_event *record(struct ns_node *n, enum ns_ev_kind kind, struct ovl_link *l,
                               const char *reason)
{
	struct ns_event *e;

	if (n->n_ev == n->cap_ev) {
		n->cap_ev = n->cap_ev ? 2 * n->cap_ev : 32;
		n->ev = xrealloc(n->ev, n->cap_ev * sizeof(*n->ev));
	}
	e = &n->ev[n->n_ev++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->t = n->ns->now;
	if (l) {
		e->peer = *ovl_link_peer(l);
		e->ep = *ovl_link_endpoint(l);
	}
	if (reason)
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
	return e;
}

/* Runs the hook on a copy of event k (the hook may record more and move the
 * array), with the callback's own pointers, which are valid only now. */
static void hook(struct ns_node *n, size_t k, struct ovl_link *l, const uint8_t *raw)
{
	struct ns_event e;

	if (!n->ns->hook)
		return;
	e = n->ev[k];
	e.link = l;
	e.raw = raw;
	n->ns->hook(n->ns->hook_ctx, n->ns, n->id, &e);
}

static void cb_up(void *ctx, struct ovl_link *l)
{
	struct ns_node *n = ctx;
	struct ns_event *e = record(n, NS_EV_UP, l, NULL);

	e->initiator = ovl_link_initiator(l);
	hook(n, n->n_ev - 1, l, NULL);
}

static void cb_down(void *ctx, struct ovl_link *l, const char *reason)
{
	struct ns_node *n = ctx;

	record(n, NS_EV_DOWN, l, reason ? reason : "");
	hook(n, n->n_ev - 1, l, NULL);
}

static void cb_failed(void *ctx, const struct ovl_endpoint *ep, const struct cert_addr *expect,
                      const char *reason)
{
	struct ns_node *n = ctx;
	struct ns_event *e = record(n, NS_EV_FAILED, NULL, reason ? reason : "");

	e->ep = *ep;
	if (expect) {
		e->has_expect = true;
		e->expect = *expect;
	}
	hook(n, n->n_ev - 1, NULL, NULL);
}

static void cb_recv(void *ctx, struct ovl_link *l, const uint8_t *msg, size_t len)
{
	struct ns_node *n = ctx;
	struct ns_event *e = record(n, NS_EV_RECV, l, NULL);

	e->msg = xrealloc(NULL, len);
	if (len)
		memcpy(e->msg, msg, len);
	e->len = len;
	hook(n, n->n_ev - 1, l, msg);
}

/* ---- nodes ---------------------------------------------------------------------- */

static void engine_new(struct ns_node *n)
{
	struct ovl_links_cb cb = {
	        .ctx = n,
	        .send = cb_send,
	        .random = cb_random,
	        .wall = cb_wall,
	        .up = cb_up,
	        .down = cb_down,
	        .failed = cb_failed,
	        .recv = cb_recv,
	};
	uint64_t s = n->ns->seed ^ ((uint64_t)n->id << 32) ^ n->restarts;

	/* A restarted process draws fresh randomness. */
	n->rng = rng_next(&s);
	if (ovl_links_new(&n->cfg, &cb, &n->ls) < 0)
		die("ovl_links_new refused the config");
	n->deadline = n->ns->now;
}

struct netsim *ns_new(uint64_t seed)
{
	struct netsim *ns = calloc(1, sizeof(*ns));

	if (!ns)
		die("out of memory");
	ns->rng = ns->seed = seed;
	ns->wall_base = NS_WALL_BASE;
	return ns;
}

void ns_free(struct netsim *ns)
{
	if (!ns)
		return;
	if (ns->log_attached) {
		log_set_sink(NULL, NULL);
		log_set_clock(NULL, NULL);
	}
	for (int i = 0; i < ns->n_nodes; i++) {
		struct ns_node *n = ns->nodes[i];

		ovl_links_free(n->ls);
		if (n->own_crypto)
			ovl_crypto_free(n->crypto);
		for (size_t k = 0; k < n->n_ev; k++)
			free(n->ev[k].msg);
		free(n->ev);
		free(n);
	}
	for (size_t i = 0; i < ns->n_heap; i++)
		free(ns->heap[i].buf);
	free(ns->nodes);
	free(ns->heap);
	free(ns->flows);
	free(ns->delays);
	free(ns);
}

int ns_add(struct netsim *ns, struct ovl_crypto *c, const struct ovl_links_config *cfg)
{
	struct ns_node *n = calloc(1, sizeof(*n));

	if (!n)
		die("out of memory");
	if (ns->n_nodes >= 250)
		die("too many nodes");
	n->ns = ns;
	n->id = ns->n_nodes;
	n->crypto = c;
	if (cfg)
		n->cfg = *cfg;
	else
		ovl_links_config_default(&n->cfg);
	n->cfg.crypto = c;
	n->ep.family = 4;
	n->ep.addr[0] = 198;
	n->ep.addr[1] = 18;
	n->ep.addr[2] = 0;
	n->ep.addr[3] = (uint8_t)(n->id + 1);
	n->ep.port = NS_PORT;
	ns->nodes = xrealloc(ns->nodes, (size_t)(ns->n_nodes + 1) * sizeof(*ns->nodes));
	ns->nodes[ns->n_nodes++] = n;
	engine_new(n);
	return n->id;
}

int ns_add_sim(struct netsim *ns, const char *name, const struct ovl_links_config *cfg)
{
	struct cert_info self;
	struct ovl_crypto *c;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name seeds the address */
	int i;

	memset(&self, 0, sizeof(self));
	snprintf(self.name, sizeof(self.name), "%s", name);
	snprintf(self.namespace, sizeof(self.namespace), "netsim");
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	rng_fill(&h, self.addr.b, sizeof(self.addr.b));
	if (ovl_crypto_sim_new(&self, &c) < 0)
		die("ovl_crypto_sim_new failed");
	i = ns_add(ns, c, cfg);
	ns->nodes[i]->own_crypto = true;
	return i;
}

void ns_restart(struct netsim *ns, int i)
{
	struct ns_node *n = node(ns, i);

	ovl_links_free(n->ls);
	n->ls = NULL;
	n->restarts++;
	engine_new(n);
}

struct ovl_links *ns_engine(struct netsim *ns, int i)
{
	return node(ns, i)->ls;
}

struct ovl_crypto *ns_crypto(struct netsim *ns, int i)
{
	return node(ns, i)->crypto;
}

const struct cert_addr *ns_addr(struct netsim *ns, int i)
{
	return &ovl_crypto_self(node(ns, i)->crypto)->addr;
}

const struct ovl_endpoint *ns_ep(struct netsim *ns, int i)
{
	return &node(ns, i)->ep;
}

uint64_t ns_now(const struct netsim *ns)
{
	return ns->now;
}

int ns_nodes(const struct netsim *ns)
{
	return ns->n_nodes;
}

/* ---- the network ----------------------------------------------------------------- */

void ns_set_delay(struct netsim *ns, int src, int dst, uint32_t ms)
{
	for (size_t i = 0; i < ns->n_delays; i++) {
		if (ns->delays[i].src == src && ns->delays[i].dst == dst) {
			ns->delays[i].ms = ms;
			return;
		}
	}
	ns->delays = xrealloc(ns->delays, (ns->n_delays + 1) * sizeof(*ns->delays));
	ns->delays[ns->n_delays++] = (struct ns_delay){.src = src, .dst = dst, .ms = ms};
}

void ns_set_loss(struct netsim *ns, unsigned pct)
{
	ns->loss_pct = pct > 100 ? 100 : pct;
}

void ns_set_dup(struct netsim *ns, unsigned pct)
{
	ns->dup_pct = pct > 100 ? 100 : pct;
}

void ns_set_drop(struct netsim *ns, ns_drop_fn fn, void *ctx)
{
	ns->drop = fn;
	ns->drop_ctx = ctx;
}

void ns_set_hook(struct netsim *ns, ns_hook_fn fn, void *ctx)
{
	ns->hook = fn;
	ns->hook_ctx = ctx;
}

void ns_set_endpoint(struct netsim *ns, int i, const struct ovl_endpoint *ep)
{
	node(ns, i)->ep = *ep;
}

static void log_sink(void *ctx, enum log_level level, const char *subsys, const char *func,
                     const char *msg)
{
	const struct netsim *ns = ctx;

	fprintf(stderr, "%6llu.%03llu %-5s %s: %s: %s\n", (unsigned long long)(ns->now / 1000),
	        (unsigned long long)(ns->now % 1000), log_level_name(level), subsys, func, msg);
}

static uint64_t log_clock(void *ctx)
{
	return ((const struct netsim *)ctx)->now;
}

void ns_log_attach(struct netsim *ns)
{
	log_set_sink(log_sink, ns);
	log_set_clock(log_clock, ns);
	ns->log_attached = true;
}

void ns_set_trace(struct netsim *ns, bool on)
{
	ns->trace = on;
}

void ns_set_wall_base(struct netsim *ns, time_t base)
{
	ns->wall_base = base;
}

void ns_inject(struct netsim *ns, const struct ovl_endpoint *from, const struct ovl_endpoint *to,
               const uint8_t *buf, size_t len, uint32_t delay_ms)
{
	struct ns_flow *f = flow(ns, from, to);

	f->sent_bytes += len;
	f->sent_dgrams++;
	enqueue(ns, from, to, buf, len, ns->now + delay_ms);
}

struct ovl_endpoint ns_stranger_ep(unsigned n, uint16_t port)
{
	struct ovl_endpoint ep = {.family = 4, .port = port};

	ep.addr[0] = 198;
	ep.addr[1] = 18;
	ep.addr[2] = 1;
	ep.addr[3] = (uint8_t)n;
	return ep;
}

/* ---- running ------------------------------------------------------------------------ */

void ns_poke(struct netsim *ns, int i)
{
	node(ns, i)->deadline = ns->now;
}

/* The node whose tick is due first, or -1. */
static int next_tick(const struct netsim *ns, uint64_t *t)
{
	int best = -1;

	*t = UINT64_MAX;
	for (int i = 0; i < ns->n_nodes; i++) {
		if (ns->nodes[i]->deadline < *t) {
			*t = ns->nodes[i]->deadline;
			best = i;
		}
	}
	return best;
}

static void deliver(struct netsim *ns, struct ns_pkt *p)
{
	int i = node_at(ns, &p->to);

	if (i >= 0) {
		struct ns_node *n = ns->nodes[i];
		struct ns_flow *f = flow(ns, &p->from, &p->to);

		f->delivered_bytes += p->len;
		f->delivered_dgrams++;
		trace(ns, "delivered", &p->from, &p->to, p->buf, p->len);
		ovl_links_input(n->ls, ns->now, &p->from, p->buf, p->len);
		n->deadline = ns->now;
	} else {
		trace(ns, "lost", &p->from, &p->to, p->buf, p->len);
	}
	free(p->buf);
}

static void tick(struct netsim *ns, struct ns_node *n)
{
	uint64_t d = ovl_links_tick(n->ls, ns->now);

	if (d <= ns->now) {
		/* Would spin forever at one instant: count it and move on. */
		ns->faults.tick_past++;
		d = ns->now + 1;
	}
	n->deadline = d;
}

bool ns_run_until(struct netsim *ns, ns_cond_fn cond, void *ctx, uint64_t deadline)
{
	for (;;) {
		uint64_t tt, tp;
		int who;

		if (cond && cond(ns, ctx))
			return true;
		who = next_tick(ns, &tt);
		tp = ns->n_heap ? ns->heap[0].t : UINT64_MAX;
		if ((tt == UINT64_MAX && tp == UINT64_MAX) || (tt > deadline && tp > deadline)) {
			if (ns->now < deadline && deadline != UINT64_MAX)
				ns->now = deadline;
			return cond ? cond(ns, ctx) : true;
		}
		/* Timers first at equal times: a due deadline runs before new input. */
		if (tt <= tp) {
			if (tt > ns->now)
				ns->now = tt;
			tick(ns, ns->nodes[who]);
		} else {
			struct ns_pkt p = heap_pop(ns);

			if (p.t > ns->now)
				ns->now = p.t;
			deliver(ns, &p);
		}
	}
}

void ns_run_for(struct netsim *ns, uint64_t ms)
{
	ns_run_until(ns, NULL, NULL, ns->now + ms);
}

/* ---- driving ------------------------------------------------------------------------ */

int ns_connect(struct netsim *ns, int i, int j, const struct cert_addr *expect)
{
	return ns_connect_ep(ns, i, ns_ep(ns, j), expect);
}

int ns_connect_ep(struct netsim *ns, int i, const struct ovl_endpoint *ep,
                  const struct cert_addr *expect)
{
	int rc = ovl_links_connect(node(ns, i)->ls, ns->now, ep, expect);

	ns_poke(ns, i);
	return rc;
}

struct ovl_link *ns_link(struct netsim *ns, int i, int j)
{
	return ovl_links_find(node(ns, i)->ls, ns_addr(ns, j));
}

int ns_send(struct netsim *ns, int i, int j, const void *msg, size_t len)
{
	struct ovl_link *l = ns_link(ns, i, j);
	int rc;

	if (!l)
		return -ENOTCONN;
	rc = ovl_link_send(node(ns, i)->ls, l, ns->now, msg, len);
	ns_poke(ns, i);
	return rc;
}

void ns_close(struct netsim *ns, int i, int j, const char *reason)
{
	struct ovl_link *l = ns_link(ns, i, j);

	if (l)
		ovl_link_close(node(ns, i)->ls, l, ns->now, reason);
	ns_poke(ns, i);
}

/* ---- what happened ------------------------------------------------------------------ */

const struct ns_event *ns_events(struct netsim *ns, int i, size_t *n)
{
	*n = node(ns, i)->n_ev;
	return node(ns, i)->ev;
}

size_t ns_count(struct netsim *ns, int i, enum ns_ev_kind kind)
{
	struct ns_node *n = node(ns, i);
	size_t c = 0;

	for (size_t k = 0; k < n->n_ev; k++)
		c += n->ev[k].kind == kind;
	return c;
}

const struct ns_event *ns_last(struct netsim *ns, int i, enum ns_ev_kind kind)
{
	struct ns_node *n = node(ns, i);

	for (size_t k = n->n_ev; k-- > 0;)
		if (n->ev[k].kind == kind)
			return &n->ev[k];
	return NULL;
}

size_t ns_count_recv(struct netsim *ns, int i, const void *msg, size_t len)
{
	struct ns_node *n = node(ns, i);
	size_t c = 0;

	for (size_t k = 0; k < n->n_ev; k++)
		c += n->ev[k].kind == NS_EV_RECV && n->ev[k].len == len &&
		     memcmp(n->ev[k].msg, msg, len) == 0;
	return c;
}

struct ovl_links_stats ns_stats(struct netsim *ns, int i)
{
	struct ovl_links_stats st;

	ovl_links_stats(node(ns, i)->ls, &st);
	return st;
}
