// SPDX-License-Identifier: MIT
/*
 * node — joining, the routing table and its upkeep. Routing and the routed
 * protocols are in node_route.c. docs/overlay.md describes both.
 *
 * Table: the leaf set is the leaf_per_side linked peers nearest to us on
 * each side of the ring; far links fill distance classes (class i holds
 * peers whose ring distance from us has its top bit at i, on one side).
 * Each node asks for one link per class on its clockwise side, like Chord's
 * fingers; the link is the peer's counter-clockwise link of the same class,
 * so routing, which goes either way, finds about 2 log2(N) far links of
 * every scale. docs/overlay.md compares this with XOR buckets.
 */
#define LOG_SUBSYS "node"
#include "node_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "wire.h"

static const char *const state_names[OVL_NODE_STATE_MAX] = {"idle", "joining", "solo", "running",
                                                            "leaving"};
static const char *const kind_names[OVL_KIND_MAX] = {"leaf", "near", "far", "shortcut"};

const char *ovl_node_state_name(enum ovl_node_state s)
{
	return (unsigned)s < OVL_NODE_STATE_MAX ? state_names[s] : "?";
}

const char *ovl_link_kind_name(enum ovl_link_kind k)
{
	return (unsigned)k < OVL_KIND_MAX ? kind_names[k] : "?";
}

void ovl_node_config_default(struct ovl_node_config *cfg)
{
	struct ovl_crypto *c = cfg->crypto;

	cfg->links.crypto = c;
	ovl_links_config_default(&cfg->links);
	cfg->links.crypto = c;
	cfg->leaf_per_side = 3;
	cfg->far_per_class = 1;
	cfg->max_links = 36; /* trimming lags a round: peaks stay within 40 */
	cfg->maintain_ms = 5000;
	cfg->rejoin_ms = 600000;
	cfg->retry_min_ms = 1000;
	cfg->retry_max_ms = 30000;
	cfg->relay_after_ms = 3000;
	cfg->punch_retry_min_ms = 5000;
	cfg->punch_retry_max_ms = 120000;
}

static void set_state(struct ovl_node *n, enum ovl_node_state s)
{
	if (n->state == s)
		return;
	LOG(LOG_LVL_INFO, "%s -> %s", ovl_node_state_name(n->state), ovl_node_state_name(s));
	n->state = s;
}

/* ---- the table --------------------------------------------------------------- */

int nd_class(const struct ovl_node *n, const struct cert_addr *a)
{
	struct cert_addr d;
	int b;

	ovl_addr_cw(&n->self.addr, a, &d);
	if (!(d.b[0] & 0x80))
		return ovl_addr_log2(&d); /* -1 for ourselves */
	/* 2^159 or more clockwise: nearer the other way. */
	ovl_addr_cw(a, &n->self.addr, &d);
	b = ovl_addr_log2(&d);
	return OVL_ADDR_BITS + b;
}

/* Puts l (at distance d) into the sorted k-nearest list, if it belongs. */
static void keep_nearest(struct ovl_link **list, struct cert_addr *dist, size_t *n, size_t k,
                         struct ovl_link *l, const struct cert_addr *d)
{
	size_t i = *n;

	if (i == k && ovl_addr_cmp(d, &dist[k - 1]) >= 0)
		return;
	if (i < k)
		(*n)++;
	else
		i = k - 1;
	for (; i > 0 && ovl_addr_cmp(d, &dist[i - 1]) < 0; i--) {
		list[i] = list[i - 1];
		dist[i] = dist[i - 1];
	}
	list[i] = l;
	dist[i] = *d;
}

static const struct near_cache *near_cache(const struct ovl_node *n)
{
	struct near_cache *c = n->near;
	struct cert_addr ds[NEIGH_MAX], dp[NEIGH_MAX], d;
	size_t k = n->cfg.leaf_per_side;

	if (c->gen == n->links_gen)
		return c;
	c->n_succ = c->n_pred = 0;
	const struct cert_addr *addrs = ovl_links_addrs(n->ls);

	for (size_t i = 0; i < ovl_links_count(n->ls); i++) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		const struct cert_addr *a = &addrs[i];

		ovl_addr_cw(&n->self.addr, a, &d);
		keep_nearest(c->succ, ds, &c->n_succ, k, l, &d);
		ovl_addr_cw(a, &n->self.addr, &d);
		keep_nearest(c->pred, dp, &c->n_pred, k, l, &d);
	}
	c->gen = n->links_gen;
	return c;
}

/* The k nearest linked peers on one side (cw: successors), nearest first. */
static size_t side(const struct ovl_node *n, bool cw, struct ovl_link **out, size_t k)
{
	const struct near_cache *c = near_cache(n);
	size_t m = cw ? c->n_succ : c->n_pred;

	if (m > k)
		m = k;
	memcpy(out, cw ? c->succ : c->pred, m * sizeof(*out));
	return m;
}

size_t nd_near(const struct ovl_node *n, struct ovl_link **out, size_t max)
{
	struct ovl_link *s[NEIGH_MAX], *p[NEIGH_MAX];
	size_t k = n->cfg.leaf_per_side, ns = side(n, true, s, k), np = side(n, false, p, k), m = 0;

	for (size_t i = 0; i < ns && m < max; i++)
		out[m++] = s[i];
	for (size_t i = 0; i < np && m < max; i++) {
		bool dup = false;

		for (size_t j = 0; j < ns; j++)
			dup |= s[j] == p[i];
		if (!dup)
			out[m++] = p[i];
	}
	return m;
}

bool nd_is_near(const struct ovl_node *n, const struct cert_addr *a)
{
	struct ovl_link *near[2 * NEIGH_MAX];
	size_t m = nd_near(n, near, 2 * NEIGH_MAX);

	for (size_t i = 0; i < m; i++)
		if (ovl_addr_eq(&ovl_link_peer(near[i])->addr, a))
			return true;
	return false;
}

/* Is `a` within our leaf set's reach on either side? slack 0: nearer than our
 * k-th nearest on that side; slack s: within about 2^s times that distance. */
static bool within_reach(const struct ovl_node *n, const struct cert_addr *a, int slack)
{
	struct ovl_link *s[NEIGH_MAX];
	size_t k = n->cfg.leaf_per_side;
	struct cert_addr da, dk;

	if (ovl_addr_eq(a, &n->self.addr))
		return false;
	for (int cw = 0; cw < 2; cw++) {
		size_t m = side(n, cw, s, k);

		if (m < k)
			return true;
		if (cw) {
			ovl_addr_cw(&n->self.addr, a, &da);
			ovl_addr_cw(&n->self.addr, &ovl_link_peer(s[m - 1])->addr, &dk);
		} else {
			ovl_addr_cw(a, &n->self.addr, &da);
			ovl_addr_cw(&ovl_link_peer(s[m - 1])->addr, &n->self.addr, &dk);
		}
		if (slack ? ovl_addr_log2(&da) < ovl_addr_log2(&dk) + slack
		          : ovl_addr_cmp(&da, &dk) < 0)
			return true;
	}
	return false;
}

bool nd_fits_leafset(const struct ovl_node *n, const struct cert_addr *a)
{
	return within_reach(n, a, 0);
}

void nd_connect(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *ep,
                const struct cert_addr *expect)
{
	if (ovl_addr_eq(expect, &n->self.addr) || ovl_links_find(n->ls, expect))
		return;
	if (nd_punch_busy(n, expect))
		return; /* node_punch.c tries every way it knows */
	if (!ovl_ep_is_ip(ep)) {
		/* The one who told us links to it through a relay: ask it. */
		nd_punch_ask(n, now, expect, OVL_KIND_NEAR);
		return;
	}
	if (ovl_links_count(n->ls) + ovl_links_pending(n->ls) >= n->cfg.links.max_links)
		return;
	ovl_links_connect(n->ls, now, ep, expect);
}

struct neighbours {
	uint8_t m;
	struct cert_addr a[NEIGH_MAX];
	struct ovl_endpoint ep[NEIGH_MAX]; /* family 0: the sender's link to it is relayed */
};

static bool get_neighbours(struct wire_reader *r, struct neighbours *nb)
{
	nb->m = wire_get_u8(r);
	if (nb->m > NEIGH_MAX)
		return false;
	for (uint8_t i = 0; i < nb->m; i++) {
		wire_get_bytes(r, nb->a[i].b, CERT_ADDR_LEN);
		ovl_ep_get_opt(r, &nb->ep[i]);
	}
	return wire_ok(r);
}

/* Link to those neighbours that belong in our leaf set. */
static void link_neighbours(struct ovl_node *n, uint64_t now, const struct neighbours *nb)
{
	for (uint8_t i = 0; i < nb->m; i++)
		if (nd_fits_leafset(n, &nb->a[i]))
			nd_connect(n, now, &nb->ep[i], &nb->a[i]);
}

/* Entries {addr, endpoint}: link to those that belong in our leaf set. */
void nd_handle_neighbours(struct ovl_node *n, uint64_t now, struct wire_reader *r)
{
	struct neighbours nb;

	if (get_neighbours(r, &nb) && wire_done(r))
		link_neighbours(n, now, &nb);
}

void nd_handle_ctm_reply(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
                         struct wire_reader *r)
{
	struct ovl_endpoint cand[OVL_CANDIDATES_MAX];
	struct ovl_relay_offer offers[OVL_RELAY_OFFERS_MAX];
	uint8_t kind = wire_get_u8(r), nc = wire_get_u8(r);
	struct neighbours nb;
	size_t no;

	if (nc > OVL_CANDIDATES_MAX || kind >= OVL_KIND_MAX)
		return;
	for (uint8_t i = 0; i < nc; i++)
		ovl_ep_get(r, &cand[i]);
	if (!get_neighbours(r, &nb) || !nd_get_offers(r, offers, &no) || !wire_done(r))
		return;
	nd_punch_begin(n, now, src, kind, cand, nc, offers, no);
	link_neighbours(n, now, &nb);
}

/* ---- links' events ----------------------------------------------------------- */

static struct nlink *nl(struct ovl_link *l)
{
	return ovl_link_user(l);
}

/* Our near set to `to`; with `only_closer`, only the entries closer to its
 * peer than we are (nothing is sent if none is). */
static void send_neighbours(struct ovl_node *n, uint64_t now, uint8_t type, struct ovl_link *to,
                            bool only_closer)
{
	const struct cert_addr *dst = &ovl_link_peer(to)->addr;
	struct ovl_link *near[2 * NEIGH_MAX];
	size_t m = nd_near(n, near, 2 * NEIGH_MAX), k = 0;
	struct wire_writer w = wire_writer(n->buf, sizeof(n->buf));
	uint8_t *count;

	wire_put_u8(&w, type);
	count = wire_put_space(&w, 1);
	for (size_t i = 0; i < m && k < NEIGH_MAX; i++) {
		const struct cert_addr *a = &ovl_link_peer(near[i])->addr;

		if (only_closer &&
		    (ovl_addr_eq(a, dst) || ovl_addr_closer(dst, a, &n->self.addr) > 0))
			continue;
		wire_put_bytes(&w, a->b, CERT_ADDR_LEN);
		ovl_ep_put(&w, ovl_link_endpoint(near[i]));
		k++;
	}
	if (!wire_wok(&w) || (only_closer && k == 0))
		return;
	*count = (uint8_t)k;
	ovl_link_send(n->ls, to, now, n->buf, wire_len(&w));
}

static void on_up(void *ctx, struct ovl_link *l)
{
	struct ovl_node *n = ctx;
	struct nlink *x = calloc(1, sizeof(*x));

	n->links_gen++;
	if (!x) {
		ovl_link_close(n->ls, l, n->now, "out of memory");
		return;
	}
	x->link = l;
	x->since = n->now;
	x->tag = OVL_KIND_FAR;
	ovl_link_set_user(l, x);
	if (!nd_relay_up(n, l))
		return;
	if (!nd_is_relayed(l))
		x->direct_since = n->now;
	nd_punch_up(n, l);
	for (size_t i = 0; i < SHORTCUT_WANT_MAX; i++)
		if (n->want_sc[i].until > n->now &&
		    ovl_addr_eq(&n->want_sc[i].addr, &ovl_link_peer(l)->addr)) {
			x->tag = OVL_KIND_SHORTCUT;
			n->want_sc[i].until = 0;
		}
	if (n->boot_busy && ovl_ep_eq(ovl_link_endpoint(l), &n->boot_ep)) {
		/* Our bootstrap answered: ask for our place on the ring through it. */
		x->tag = OVL_KIND_LEAF;
		n->boot_busy = false;
		n->retry_ms = n->cfg.retry_min_ms;
		n->via_pending = true;
		n->via_ep = n->boot_ep;
	}
	if (n->state == OVL_NODE_JOINING || n->state == OVL_NODE_SOLO)
		set_state(n, OVL_NODE_RUNNING);
	if (n->via_pending && ovl_ep_eq(ovl_link_endpoint(l), &n->via_ep)) {
		n->via_pending = false;
		x->tag = OVL_KIND_LEAF; /* closed once it has served (drop_leaf_links) */
		nd_send_ctm(n, n->now, l, &n->self.addr, RF_NEAREST | RF_NOT_SRC, OVL_KIND_NEAR);
		n->last_self_ctm = n->now;
	}
	/* A new neighbour hears about the rest of ours at once. */
	if (nd_is_near(n, &ovl_link_peer(l)->addr))
		send_neighbours(n, n->now, NM_LEAFSET, l, false);
}

static void on_down(void *ctx, struct ovl_link *l, const char *reason)
{
	struct ovl_node *n = ctx;

	(void)reason;
	n->links_gen++;
	nd_relay_down(n, l);
	nd_punch_down(n, l);
	free(nl(l));
	ovl_link_set_user(l, NULL);
	/* Repair sooner than the next maintenance round. */
	if (n->state == OVL_NODE_RUNNING && n->next_maintain > n->now + n->cfg.maintain_ms / 4)
		n->next_maintain = n->now + n->cfg.maintain_ms / 4;
}

static void try_bootstrap(struct ovl_node *n, uint64_t now);
static void on_failed(void *ctx, const struct ovl_endpoint *ep, const struct cert_addr *expect,
                      const char *reason)
{
	struct ovl_node *n = ctx;
	char e[OVL_EP_STR_MAX];

	if (n->boot_busy && ovl_ep_eq(ep, &n->boot_ep)) {
		ovl_ep_format(ep, e);
		LOG(LOG_LVL_INFO, "bootstrap %s: %s", e, reason);
		n->boot_busy = false;
		n->boot_i++;
		try_bootstrap(n, n->now);
		return;
	}
	nd_punch_failed(n, ep, expect);
	/* A neighbour-to-be we could not reach where another member saw it
	 * (behind a NAT that maps per destination): ask it, and punch. */
	if (expect && n->state == OVL_NODE_RUNNING && !ovl_links_find(n->ls, expect) &&
	    !nd_punch_busy(n, expect) && nd_fits_leafset(n, expect))
		nd_punch_ask(n, n->now, expect, OVL_KIND_NEAR);
}

/* A direct message: for the upper layer owning its protocol, from this
 * link's authenticated peer. */
static void handle_direct(struct ovl_node *n, struct ovl_link *l, const uint8_t *msg, size_t len)
{
	struct ovl_route_info info = {
	        .src = ovl_link_peer(l)->addr,
	        .dst = n->self.addr,
	        .mode = OVL_ROUTE_EXACT,
	        .direct = true,
	};

	if (len < 3 || ovl_link_state(l) != OVL_LINK_UP)
		return;
	info.proto = msg[1];
	for (size_t i = 0; i < n->n_upper; i++)
		if (n->upper[i].proto == info.proto) {
			n->upper[i].deliver(n->upper[i].ctx, n->now, &info, msg + 2, len - 2);
			return;
		}
	LOG_RL(LOG_LVL_DEBUG, "direct message for unknown protocol %u from %s", info.proto,
	       ovl_link_peer(l)->name);
}

void nd_want_shortcut(struct ovl_node *n, uint64_t now, const struct cert_addr *a)
{
	size_t slot = 0;

	for (size_t i = 0; i < SHORTCUT_WANT_MAX; i++) {
		if (ovl_addr_eq(&n->want_sc[i].addr, a)) {
			slot = i;
			break;
		}
		if (n->want_sc[i].until < n->want_sc[slot].until)
			slot = i; /* the oldest, or a free one */
	}
	n->want_sc[slot].addr = *a;
	n->want_sc[slot].until = now + 2ull * n->cfg.links.hs_timeout_ms;
}

static void on_recv(void *ctx, struct ovl_link *l, const uint8_t *msg, size_t len)
{
	struct ovl_node *n = ctx;
	struct wire_reader r = wire_reader(msg + 1, len - 1);

	switch (msg[0]) {
	case NM_ROUTE:
		nd_handle_route(n, n->now, l, msg, len);
		break;
	case NM_LEAFSET:
		nd_handle_neighbours(n, n->now, &r);
		/* The sender counts us among its neighbours but we do not count
		 * it among ours: we may know nodes nearer to it that it lacks. Not
		 * from afar: a node that is still joining learns its place by CTM. */
		if (ovl_link_state(l) == OVL_LINK_UP && !nd_is_near(n, &ovl_link_peer(l)->addr) &&
		    within_reach(n, &ovl_link_peer(l)->addr, 2))
			send_neighbours(n, n->now, NM_LEAFSET_REP, l, true);
		break;
	case NM_LEAFSET_REP:
	case NM_LEAVE:
		nd_handle_neighbours(n, n->now, &r);
		break;
	case NM_DIRECT:
		handle_direct(n, l, msg, len);
		break;
	case NM_RELAY:
	case NM_RELAYED:
	case NM_RELAY_ERR:
		nd_relay_handle(n, n->now, l, msg, len);
		break;
	case NM_PUNCH:
		nd_punch_handle(n, n->now, l, msg, len);
		break;
	default:
		LOG_RL(LOG_LVL_DEBUG, "unknown node message %u from %s", msg[0],
		       ovl_link_peer(l)->name);
		break;
	}
}

static void on_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct ovl_node *n = ctx;

	if (to->family == OVL_EP_RELAY)
		nd_relay_send(n, n->now, to, buf, len);
	else
		n->cb.send(n->cb.ctx, to, buf, len);
}

static void on_random(void *ctx, void *buf, size_t len)
{
	struct ovl_node *n = ctx;

	n->cb.random(n->cb.ctx, buf, len);
}

static time_t on_wall(void *ctx)
{
	struct ovl_node *n = ctx;

	return n->cb.wall(n->cb.ctx);
}

/* ---- life cycle ---------------------------------------------------------------- */

int ovl_node_new(const struct ovl_node_config *cfg, const struct ovl_node_cb *cb,
                 struct ovl_node **out)
{
	struct ovl_links_cb lcb = {0};
	struct ovl_node *n;
	int rc;

	if (!cfg->crypto || !cb->send || !cb->random || !cb->wall || cfg->leaf_per_side < 2 ||
	    cfg->leaf_per_side > NEIGH_MAX / 2 || !cfg->maintain_ms || !cfg->rejoin_ms ||
	    !cfg->retry_min_ms || cfg->retry_max_ms < cfg->retry_min_ms ||
	    cfg->n_bootstrap > OVL_BOOTSTRAP_MAX || cfg->n_local > OVL_CANDIDATES_MAX ||
	    cfg->max_links < 2 * cfg->leaf_per_side + 2 || !cfg->relay_after_ms ||
	    !cfg->punch_retry_min_ms || cfg->punch_retry_max_ms < cfg->punch_retry_min_ms)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->near = calloc(1, sizeof(*n->near));
	if (!n->near) {
		free(n);
		return -ENOMEM;
	}
	n->near->gen = UINT64_MAX;
	n->punch_due = UINT64_MAX;
	n->cfg = *cfg;
	n->cfg.links.crypto = cfg->crypto;
	n->cb = *cb;
	n->self = *ovl_crypto_self(cfg->crypto);
	lcb.ctx = n;
	lcb.send = on_send;
	lcb.random = on_random;
	lcb.wall = on_wall;
	lcb.up = on_up;
	lcb.down = on_down;
	lcb.failed = on_failed;
	lcb.recv = on_recv;
	rc = ovl_links_new(&n->cfg.links, &lcb, &n->ls);
	if (rc < 0) {
		free(n->near);
		free(n);
		return rc;
	}
	*out = n;
	return 0;
}

void ovl_node_free(struct ovl_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_upper; i++)
		if (n->upper[i].detach)
			n->upper[i].detach(n->upper[i].ctx);
	for (size_t i = 0; i < ovl_links_count(n->ls); i++)
		free(nl(ovl_links_at(n->ls, i)));
	ovl_links_free(n->ls);
	free(n->near);
	free(n->punch);
	free(n->slot);
	free(n);
}

/* Tries the next bootstrap in our shuffled order; after the last, solo with backoff. */
static void try_bootstrap(struct ovl_node *n, uint64_t now)
{
	while (n->boot_i < n->cfg.n_bootstrap) {
		const struct ovl_endpoint *ep = &n->cfg.bootstrap[n->order[n->boot_i]];

		if (ovl_links_connect(n->ls, now, ep, NULL) == 0) {
			n->boot_busy = true;
			n->boot_ep = *ep;
			return;
		}
		n->boot_i++;
	}
	if (n->state == OVL_NODE_JOINING)
		set_state(n, OVL_NODE_SOLO);
	n->retry_at = now + n->retry_ms;
	n->retry_ms = n->retry_ms * 2 > n->cfg.retry_max_ms ? n->cfg.retry_max_ms : n->retry_ms * 2;
}

static void shuffle(struct ovl_node *n)
{
	for (size_t i = 0; i < n->cfg.n_bootstrap; i++)
		n->order[i] = i;
	for (size_t i = n->cfg.n_bootstrap; i > 1; i--) {
		uint32_t r;

		n->cb.random(n->cb.ctx, &r, sizeof(r));
		size_t j = r % i, t = n->order[i - 1];

		n->order[i - 1] = n->order[j];
		n->order[j] = t;
	}
	n->boot_i = 0;
}

/* period × [0.5, 1.5): nodes started together do not rejoin together. */
static uint64_t jitter(struct ovl_node *n, uint32_t period)
{
	uint32_t r;

	n->cb.random(n->cb.ctx, &r, sizeof(r));
	return period / 2 + (uint64_t)r % (period ? period : 1);
}

void ovl_node_start(struct ovl_node *n, uint64_t now)
{
	n->now = now;
	if (n->state != OVL_NODE_IDLE)
		return;
	set_state(n, OVL_NODE_JOINING);
	n->retry_ms = n->cfg.retry_min_ms;
	n->next_maintain = now + n->cfg.maintain_ms;
	/* One early rejoin, once the join rush around us has settled: a join
	 * that ended in a local minimum is found out then, not ten minutes later. */
	n->next_rejoin =
	        now + jitter(n, 4 * n->cfg.maintain_ms < n->cfg.rejoin_ms ? 4 * n->cfg.maintain_ms
	                                                                  : n->cfg.rejoin_ms);
	shuffle(n);
	try_bootstrap(n, now);
}

void ovl_node_input(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *from,
                    const uint8_t *buf, size_t len)
{
	n->now = now;
	if (n->state == OVL_NODE_IDLE || n->state == OVL_NODE_LEAVING)
		return;
	ovl_links_input(n->ls, now, from, buf, len);
}

/* ---- maintenance ----------------------------------------------------------------- */

/* How many links each class holds. */
static void count_classes(const struct ovl_node *n, unsigned have[CLASSES])
{
	const struct cert_addr *addrs = ovl_links_addrs(n->ls);

	memset(have, 0, CLASSES * sizeof(have[0]));
	for (size_t i = 0; i < ovl_links_count(n->ls); i++) {
		int c = nd_class(n, &addrs[i]);

		if (c >= 0)
			have[c]++;
	}
}

/* Asks for a far link in the first clockwise class (from the top) that has none. */
static void fill_classes(struct ovl_node *n, uint64_t now)
{
	unsigned have[CLASSES];
	struct ovl_link *s[NEIGH_MAX];
	struct cert_addr d;
	int floor_c = -1;
	size_t m;

	count_classes(n, have);
	/* Classes below our leaf set's reach hold nobody we lack. */
	m = side(n, true, s, n->cfg.leaf_per_side);
	if (m) {
		ovl_addr_cw(&n->self.addr, &ovl_link_peer(s[m - 1])->addr, &d);
		floor_c = ovl_addr_log2(&d);
	}
	/* Clockwise classes end at 158: 2^159 and beyond is the other side. */
	for (int c = OVL_ADDR_BITS - 2; c > floor_c; c--) {
		struct cert_addr off, target;

		if (have[c] >= n->cfg.far_per_class || now < n->class_retry[c])
			continue;
		/* A random point of the class: self + 2^c + [0, 2^c). */
		n->cb.random(n->cb.ctx, off.b, sizeof(off.b));
		for (int bit = OVL_ADDR_BITS - 1; bit >= c; bit--) {
			int byte = CERT_ADDR_LEN - 1 - bit / 8, sh = bit % 8;
			uint8_t want = bit == c;

			off.b[byte] = (uint8_t)((off.b[byte] & ~(1u << sh)) | (want << sh));
		}
		ovl_addr_add(&n->self.addr, &off, &target);
		n->class_retry[c] = now + 4ull * n->cfg.maintain_ms;
		nd_send_ctm(n, now, NULL, &target, RF_NEAREST, OVL_KIND_FAR);
		return; /* one request per round keeps joins gentle */
	}
}

/* Closes surplus links beyond max_links: never near ones, shortcuts or young ones. */
static void trim(struct ovl_node *n, uint64_t now)
{
	unsigned have[CLASSES];
	size_t cnt = ovl_links_count(n->ls);

	if (cnt <= n->cfg.max_links)
		return;
	count_classes(n, have);
	for (size_t i = cnt; i-- > 0 && ovl_links_count(n->ls) > n->cfg.max_links;) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		struct nlink *x = nl(l);
		int b = nd_class(n, &ovl_link_peer(l)->addr);

		if (!x || x->tag == OVL_KIND_SHORTCUT || x->relay_until > now ||
		    now - x->since < 2ull * n->cfg.maintain_ms ||
		    nd_is_near(n, &ovl_link_peer(l)->addr) || b < 0 ||
		    have[b] <= n->cfg.far_per_class)
			continue;
		have[b]--;
		ovl_link_close(n->ls, l, now, "trimmed: surplus link");
	}
}

/*
 * Leaf-set exchange cannot repair two interleaved chains (each only hears of
 * its own members), and a join during a rush can end in a local minimum
 * that starts one. So each round we ask for our place once more, through a
 * random link that is not a neighbour: the request arrives from far away and
 * greedy routing takes it to our true neighbours, whichever chain they are in.
 */
static void probe_from_afar(struct ovl_node *n, uint64_t now, struct ovl_link *const *near,
                            size_t n_near)
{
	size_t cnt = ovl_links_count(n->ls), far = 0, pick;
	uint32_t r;

	if (cnt == 0)
		return;
	n->cb.random(n->cb.ctx, &r, sizeof(r));
	if (cnt <= n_near) {
		/* Every link we have is in our leaf set: a node that joined into a
		 * corner of the ring and knows nobody else. Any link will do. */
		nd_send_ctm(n, now, ovl_links_at(n->ls, r % cnt), &n->self.addr,
		            RF_NEAREST | RF_NOT_SRC, OVL_KIND_NEAR);
		return;
	}
	pick = r % (cnt - n_near);
	for (size_t i = 0; i < cnt; i++) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		bool is_near = false;

		for (size_t j = 0; j < n_near; j++)
			is_near |= near[j] == l;
		if (is_near)
			continue;
		if (far++ == pick) {
			nd_send_ctm(n, now, l, &n->self.addr, RF_NEAREST | RF_NOT_SRC,
			            OVL_KIND_NEAR);
			return;
		}
	}
}

/*
 * A link to a bootstrap we joined or rejoined through has done its job once
 * we are placed (a full leaf set): close it unless it is a neighbour or the
 * only link in its class. Bootstraps would otherwise hold a link to every
 * node that ever joined through them.
 */
static void drop_leaf_links(struct ovl_node *n, uint64_t now, size_t n_near)
{
	unsigned have[CLASSES];
	size_t cnt = ovl_links_count(n->ls);

	if (n_near < 2 * n->cfg.leaf_per_side)
		return;
	count_classes(n, have);
	for (size_t i = cnt; i-- > 0;) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		struct nlink *x = l ? nl(l) : NULL;
		int b;

		if (!x || x->tag != OVL_KIND_LEAF || now - x->since < n->cfg.maintain_ms)
			continue;
		b = nd_class(n, &ovl_link_peer(l)->addr);
		x->tag = OVL_KIND_FAR;
		if (nd_is_near(n, &ovl_link_peer(l)->addr) || b < 0 || x->relay_until > now ||
		    have[b] <= n->cfg.far_per_class)
			continue;
		have[b]--;
		ovl_link_close(n->ls, l, now, "placed: bootstrap link no longer needed");
	}
}

static void maintain(struct ovl_node *n, uint64_t now)
{
	struct ovl_link *near[2 * NEIGH_MAX];
	size_t m = nd_near(n, near, 2 * NEIGH_MAX);
	struct ovl_link *s[NEIGH_MAX], *p[NEIGH_MAX];

	/* Leaf-set exchange: neighbours learn of better neighbours. */
	for (size_t i = 0; i < m; i++)
		send_neighbours(n, now, NM_LEAFSET, near[i], false);
	/* A short side (or sides made of the same few links) means the ring
	 * around us broke: ask again where we belong. */
	if ((side(n, true, s, n->cfg.leaf_per_side) < n->cfg.leaf_per_side ||
	     side(n, false, p, n->cfg.leaf_per_side) < n->cfg.leaf_per_side ||
	     m < 2 * n->cfg.leaf_per_side) &&
	    ovl_links_count(n->ls) > 0 && now - n->last_self_ctm >= n->cfg.maintain_ms) {
		nd_send_ctm(n, now, NULL, &n->self.addr, RF_NEAREST | RF_NOT_SRC, OVL_KIND_NEAR);
		n->last_self_ctm = now;
	}
	probe_from_afar(n, now, near, m);
	fill_classes(n, now);
	trim(n, now);
	drop_leaf_links(n, now, m);
}

/* Through a random bootstrap, ask for our place again: if it sits in another
 * partition of the ring, this is how the two merge. */
static void rejoin(struct ovl_node *n, uint64_t now)
{
	const struct ovl_endpoint *ep;
	uint32_t r;

	if (n->cfg.n_bootstrap == 0)
		return;
	n->cb.random(n->cb.ctx, &r, sizeof(r));
	ep = &n->cfg.bootstrap[r % n->cfg.n_bootstrap];
	for (size_t i = 0; i < ovl_links_count(n->ls); i++) {
		struct ovl_link *l = ovl_links_at(n->ls, i);

		if (ovl_ep_eq(ovl_link_endpoint(l), ep)) {
			nd_send_ctm(n, now, l, &n->self.addr, RF_NEAREST | RF_NOT_SRC,
			            OVL_KIND_NEAR);
			return;
		}
	}
	if (ovl_links_connect(n->ls, now, ep, NULL) == 0) {
		n->via_pending = true;
		n->via_ep = *ep;
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t ovl_node_tick(struct ovl_node *n, uint64_t now)
{
	uint64_t next;

	n->now = now;
	if (n->state == OVL_NODE_IDLE || n->state == OVL_NODE_LEAVING)
		return UINT64_MAX;
	/* One upper's tick may give another work due now (vnet asks the DHT,
	 * whose answer to a key we hold ourselves comes from its tick): run
	 * them again while something is due, a bounded number of times. */
	for (int pass = 0; pass < 4; pass++) {
		next = UINT64_MAX;
		for (size_t i = 0; i < n->n_upper; i++)
			next = min_u64(next, n->upper[i].tick(n->upper[i].ctx, now));
		if (next > now)
			break;
	}
	if ((n->state == OVL_NODE_SOLO || (n->state == OVL_NODE_JOINING && !n->boot_busy)) &&
	    now >= n->retry_at && !n->boot_busy) {
		shuffle(n);
		try_bootstrap(n, now);
	}
	if (n->state == OVL_NODE_RUNNING && ovl_links_count(n->ls) == 0 &&
	    ovl_links_pending(n->ls) == 0) {
		/* Lost every link: start over. */
		set_state(n, OVL_NODE_JOINING);
		n->retry_ms = n->cfg.retry_min_ms;
		n->retry_at = now;
		shuffle(n);
		try_bootstrap(n, now);
	}
	if (now >= n->next_maintain) {
		if (n->state == OVL_NODE_RUNNING)
			maintain(n, now);
		n->next_maintain = now + n->cfg.maintain_ms;
	}
	if (now >= n->next_rejoin) {
		if (n->state == OVL_NODE_RUNNING || n->state == OVL_NODE_SOLO)
			rejoin(n, now);
		n->next_rejoin = now + jitter(n, n->cfg.rejoin_ms);
	}
	if (n->state == OVL_NODE_RUNNING) {
		nd_check_observed(n, now);
		next = min_u64(next, nd_punch_tick(n, now));
	}
	next = min_u64(next, ovl_links_tick(n->ls, now));
	next = min_u64(next, n->next_maintain);
	next = min_u64(next, n->next_rejoin);
	if (n->state == OVL_NODE_SOLO || (n->state == OVL_NODE_JOINING && !n->boot_busy))
		next = min_u64(next, n->retry_at);
	return next > now ? next : now + 1;
}

int ovl_node_attach(struct ovl_node *n, const struct ovl_upper *up)
{
	if (up->proto < OVL_PROTO_USER || !up->deliver || !up->tick)
		return -EINVAL;
	for (size_t i = 0; i < n->n_upper; i++)
		if (n->upper[i].proto == up->proto)
			return -EEXIST;
	if (n->n_upper == OVL_UPPER_MAX)
		return -ENOSPC;
	n->upper[n->n_upper++] = *up;
	return 0;
}

struct ovl_crypto *ovl_node_crypto(struct ovl_node *n)
{
	return n->cfg.crypto;
}

unsigned ovl_node_leaf_per_side(const struct ovl_node *n)
{
	return n->cfg.leaf_per_side;
}

uint64_t ovl_node_links_gen(const struct ovl_node *n)
{
	return n->links_gen;
}

size_t ovl_node_nearest(const struct ovl_node *n, const struct cert_addr *target,
                        struct cert_addr *out, size_t max)
{
	const struct cert_addr *addrs = ovl_links_addrs(n->ls);
	size_t cnt = ovl_links_count(n->ls), k = 0;

	/* Insertion into a short sorted list: max is small (replicas). */
	for (size_t i = 0; i <= cnt; i++) {
		const struct cert_addr *a = i < cnt ? &addrs[i] : &n->self.addr;
		size_t j;

		if (k == max && (max == 0 || ovl_addr_closer(target, a, &out[k - 1]) >= 0))
			continue;
		j = k < max ? k++ : k - 1;
		while (j > 0 && ovl_addr_closer(target, a, &out[j - 1]) < 0) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = *a;
	}
	return k;
}

void ovl_node_leave(struct ovl_node *n, uint64_t now)
{
	struct ovl_link *near[2 * NEIGH_MAX];
	size_t m;

	n->now = now;
	if (n->state == OVL_NODE_IDLE || n->state == OVL_NODE_LEAVING)
		return;
	m = nd_near(n, near, 2 * NEIGH_MAX);
	/* Neighbours get our leaf set so they can link to each other at once. */
	for (size_t i = 0; i < m; i++)
		send_neighbours(n, now, NM_LEAVE, near[i], false);
	while (ovl_links_count(n->ls) > 0)
		ovl_link_close(n->ls, ovl_links_at(n->ls, 0), now, "leaving");
	set_state(n, OVL_NODE_LEAVING);
}

int ovl_node_route(struct ovl_node *n, uint64_t now, const struct cert_addr *dst,
                   enum ovl_route_mode mode, uint8_t proto, const uint8_t *payload, size_t len,
                   uint32_t *id)
{
	uint32_t mid = ++n->next_id;

	n->now = now;
	if (!dst || proto < OVL_PROTO_USER || (len && !payload))
		return -EINVAL;
	if (len > OVL_ROUTE_MTU)
		return -EMSGSIZE;
	if (id)
		*id = mid;
	return nd_route(n, now, &n->self.addr, dst, mode == OVL_ROUTE_NEAREST ? RF_NEAREST : 0, 0,
	                proto, mid, NULL, 0, payload, len);
}

int ovl_node_trace(struct ovl_node *n, uint64_t now, const struct cert_addr *dst, uint32_t *id)
{
	uint32_t mid = ++n->next_id;

	n->now = now;
	if (id)
		*id = mid;
	return nd_route(n, now, &n->self.addr, dst, RF_NEAREST | RF_TRACE, 0, RP_TRACE, mid, NULL,
	                0, NULL, 0);
}

int ovl_node_connect_to(struct ovl_node *n, uint64_t now, const struct cert_addr *dst,
                        enum ovl_link_kind kind)
{
	n->now = now;
	if ((unsigned)kind >= OVL_KIND_MAX)
		return -EINVAL;
	if (ovl_links_find(n->ls, dst))
		return 0;
	if (kind == OVL_KIND_SHORTCUT)
		nd_want_shortcut(n, now, dst);
	if (nd_punch_busy(n, dst))
		return 0; /* an attempt is under way (or resting after one failed) */
	nd_punch_ask(n, now, dst, kind);
	return 0;
}

size_t ovl_node_crl_updated(struct ovl_node *n, uint64_t now)
{
	size_t closed = 0;

	n->now = now;
	for (size_t i = ovl_links_count(n->ls); i-- > 0;) {
		struct ovl_link *l = ovl_links_at(n->ls, i);

		if (ovl_link_state(l) == OVL_LINK_UP &&
		    ovl_crypto_revoked(n->cfg.crypto, ovl_link_peer(l)->serial)) {
			LOG(LOG_LVL_INFO, "closing the link to %s: certificate revoked",
			    ovl_link_peer(l)->name);
			ovl_link_close(n->ls, l, now, "certificate revoked");
			closed++;
		}
	}
	for (size_t i = 0; i < n->n_upper; i++)
		if (n->upper[i].crl_updated)
			n->upper[i].crl_updated(n->upper[i].ctx, now);
	return closed;
}

int ovl_node_send_direct(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                         uint8_t proto, const uint8_t *payload, size_t len)
{
	struct ovl_link *l;

	n->now = now;
	if (proto < OVL_PROTO_USER || len == 0)
		return -EINVAL;
	if (len > OVL_DIRECT_MTU)
		return -EMSGSIZE;
	l = ovl_links_find(n->ls, peer);
	if (!l)
		return -ENOTCONN;
	if (nd_is_relayed(l) && len + 2 > OVL_RELAYED_MTU)
		return -EMSGSIZE;
	n->buf[0] = NM_DIRECT;
	n->buf[1] = proto;
	memcpy(n->buf + 2, payload, len);
	return ovl_link_send(n->ls, l, now, n->buf, len + 2);
}

static enum ovl_link_kind link_kind(const struct ovl_node *n, struct ovl_link *l)
{
	struct nlink *x = nl(l);

	if (nd_is_near(n, &ovl_link_peer(l)->addr))
		return OVL_KIND_NEAR;
	if (x && (x->tag == OVL_KIND_LEAF || x->tag == OVL_KIND_SHORTCUT))
		return x->tag;
	return OVL_KIND_FAR;
}

bool ovl_node_linked(const struct ovl_node *n, const struct cert_addr *peer,
                     enum ovl_link_kind *kind)
{
	struct ovl_link *l = ovl_links_find(n->ls, peer);

	if (l && kind)
		*kind = link_kind(n, l);
	return l != NULL;
}

uint64_t ovl_node_link_since(const struct ovl_node *n, const struct cert_addr *peer)
{
	struct ovl_link *l = ovl_links_find(n->ls, peer);
	struct nlink *x = l ? nl(l) : NULL;

	return x ? x->since : 0;
}

bool ovl_node_close_shortcut(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                             const char *reason)
{
	struct ovl_link *l = ovl_links_find(n->ls, peer);

	n->now = now;
	if (!l || link_kind(n, l) != OVL_KIND_SHORTCUT)
		return false;
	ovl_link_close(n->ls, l, now, reason);
	return true;
}

/* ---- status ----------------------------------------------------------------- */

const struct cert_info *ovl_node_self(const struct ovl_node *n)
{
	return &n->self;
}

enum ovl_node_state ovl_node_state(const struct ovl_node *n)
{
	return n->state;
}

size_t ovl_node_endpoints(const struct ovl_node *n, struct ovl_endpoint *out, size_t max)
{
	return nd_candidates(n, out, max);
}

size_t ovl_node_links(const struct ovl_node *n, struct ovl_node_link *out, size_t max)
{
	size_t cnt = ovl_links_count(n->ls);

	for (size_t i = 0; i < cnt && i < max; i++) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		struct ovl_node_link *o = &out[i];

		o->addr = ovl_link_peer(l)->addr;
		memcpy(o->name, ovl_link_peer(l)->name, sizeof(o->name));
		o->endpoint = *ovl_link_endpoint(l);
		o->rtt_ms = ovl_link_rtt_ms(l);
		o->kind = link_kind(n, l);
		o->relayed = nd_is_relayed(l);
		memset(&o->relay, 0, sizeof(o->relay));
		o->relay_name[0] = '\0';
		if (o->relayed) {
			struct ovl_link *r = nd_relay_link(n, l);

			if (r) {
				o->relay = ovl_link_peer(r)->addr;
				memcpy(o->relay_name, ovl_link_peer(r)->name,
				       sizeof(o->relay_name));
				o->endpoint = *ovl_link_endpoint(r);
			}
		}
	}
	return cnt;
}

bool ovl_node_neighbours(const struct ovl_node *n, struct cert_addr *pred, struct cert_addr *succ)
{
	struct ovl_link *s[1], *p[1];

	if (side(n, true, s, 1) == 0 || side(n, false, p, 1) == 0)
		return false;
	*succ = ovl_link_peer(s[0])->addr;
	*pred = ovl_link_peer(p[0])->addr;
	return true;
}

struct ovl_links *ovl_node_links_engine(struct ovl_node *n)
{
	return n->ls;
}
