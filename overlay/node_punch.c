// SPDX-License-Identifier: MIT
/*
 * node_punch — getting a link to a peer through whatever NATs lie between:
 * hole punching first, a relayed link if that fails, and later attempts to
 * move a relayed link onto a direct path. One `struct punch` per peer, an
 * explicit state machine (docs/nat.md draws it):
 *
 *   ASKED ──CTM reply──► PUNCHING ──link up (direct)──► done
 *                           │ relay_after_ms without a link
 *                           ▼
 *              RELAY_LINK ─► RELAYING ──relayed link up──► wait punch_retry
 *              (link to a    (handshake        │                 │
 *               relay first)  via the relay)   ◄── no answer ── PROBING ──probe answered──► done
 *
 * A CTM (and its reply) carries the sender's candidate endpoints and its
 * relay offers: its direct links with their RTTs. Both sides then handshake
 * with every candidate of the other at once (simultaneous open); the first
 * link that comes up is kept. If none has after relay_after_ms, the side with
 * the lower address (the other one after twice that) sets up a relayed link
 * through the member both are linked to with the smallest sum of RTTs
 * (ovl_relay_choose), linking to one of the peer's relays first if there is
 * no common one. A relayed link probes the peer's candidates over its own
 * session (ovl_link_probe) after punch_retry_min_ms, then backing off; one
 * that runs through a bootstrap node moves to a better relay when a round
 * finds no direct path. A ring neighbour we gave up on is asked again.
 */
#define LOG_SUBSYS "punch"
#include "node_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "wire.h"

#define PROBE_ROUND_MS 3000 /* a probe round lasts this long */
#define REST_MS        30000

static const char *const state_names[PS_MAX] = {"free",     "asked",   "punching", "relay-link",
                                                "relaying", "probing", "resting"};

static int find_i(const struct ovl_node *n, const struct cert_addr *peer)
{
	if (!n->punch)
		return -1;
	for (size_t i = 0; i < PUNCH_MAX; i++)
		if (n->punch[i].state != PS_FREE && ovl_addr_eq(&n->punch[i].peer, peer))
			return (int)i;
	return -1;
}

static struct punch *find(struct ovl_node *n, const struct cert_addr *peer)
{
	int i = find_i(n, peer);

	return i < 0 ? NULL : &n->punch[i];
}

/* A free entry, else the resting one that would wake first; NULL if all are busy. */
static struct punch *take(struct ovl_node *n, const struct cert_addr *peer)
{
	struct punch *p = NULL;

	if (!n->punch && !(n->punch = calloc(PUNCH_MAX, sizeof(*n->punch))))
		return NULL;
	for (size_t i = 0; i < PUNCH_MAX && !p; i++)
		if (n->punch[i].state == PS_FREE)
			p = &n->punch[i];
	for (size_t i = 0; i < PUNCH_MAX && !p; i++)
		if (n->punch[i].state == PS_RESTING && (!p || n->punch[i].deadline < p->deadline))
			p = &n->punch[i];
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->peer = *peer;
	p->relay = -1;
	p->retry_ms = n->cfg.punch_retry_min_ms;
	return p;
}

static void set_state(struct ovl_node *n, struct punch *p, enum punch_state s, uint64_t deadline)
{
	char who[16];

	ovl_addr_short(&p->peer, who, sizeof(who));
	if (p->state != s)
		LOG(LOG_LVL_DEBUG, "%s: %s -> %s", who, state_names[p->state], state_names[s]);
	p->state = s;
	p->deadline = deadline;
	n->punch_due = 0; /* the next tick looks at every entry */
}

static void done(struct ovl_node *n, struct punch *p)
{
	set_state(n, p, PS_FREE, UINT64_MAX);
}

/* The link to p's peer is on a direct path now (it was relayed). */
static void went_direct(struct ovl_node *n, struct ovl_link *l)
{
	struct nlink *x = ovl_link_user(l);

	if (x && !x->direct_since)
		x->direct_since = n->now;
}

bool nd_punch_busy(const struct ovl_node *n, const struct cert_addr *peer)
{
	return find_i(n, peer) >= 0;
}

/* ---- relay offers --------------------------------------------------------- */

static unsigned rtt_key(uint32_t rtt)
{
	return rtt ? rtt : UINT32_MAX;
}

size_t nd_offers(const struct ovl_node *n, const struct cert_addr *peer,
                 struct ovl_relay_offer *out, size_t max)
{
	size_t m = 0;

	for (size_t i = 0; i < ovl_links_count(n->ls); i++) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		uint32_t r = ovl_link_rtt_ms(l);
		size_t j;

		if (r > UINT16_MAX)
			r = UINT16_MAX;
		if (nd_is_relayed(l) || ovl_link_state(l) != OVL_LINK_UP ||
		    (peer && ovl_addr_eq(&ovl_link_peer(l)->addr, peer)))
			continue;
		if (m == max && (max == 0 || rtt_key(r) >= rtt_key(out[m - 1].rtt_ms)))
			continue;
		j = m < max ? m++ : m - 1;
		for (; j > 0 && rtt_key(r) < rtt_key(out[j - 1].rtt_ms); j--)
			out[j] = out[j - 1];
		out[j].addr = ovl_link_peer(l)->addr;
		out[j].ep = *ovl_link_endpoint(l);
		out[j].rtt_ms = (uint16_t)r;
	}
	return m;
}

void nd_put_offers(struct wire_writer *w, const struct ovl_relay_offer *o, size_t n_o)
{
	wire_put_u8(w, (uint8_t)n_o);
	for (size_t i = 0; i < n_o; i++) {
		wire_put_bytes(w, o[i].addr.b, CERT_ADDR_LEN);
		ovl_ep_put(w, &o[i].ep);
		wire_put_u16(w, o[i].rtt_ms);
	}
}

bool nd_get_offers(struct wire_reader *r, struct ovl_relay_offer *out, size_t *n_out)
{
	uint8_t m = wire_get_u8(r);

	*n_out = 0;
	if (m > OVL_RELAY_OFFERS_MAX) {
		r->err = true;
		return false;
	}
	for (uint8_t i = 0; i < m; i++) {
		wire_get_bytes(r, out[i].addr.b, CERT_ADDR_LEN);
		ovl_ep_get(r, &out[i].ep);
		out[i].rtt_ms = wire_get_u16(r);
	}
	if (!wire_ok(r))
		return false;
	*n_out = m;
	return true;
}

/* ---- the attempt ------------------------------------------------------------ */

static void connect_all(struct ovl_node *n, uint64_t now, struct punch *p)
{
	for (size_t i = 0; i < p->n_cand; i++) {
		if (ovl_links_count(n->ls) + ovl_links_pending(n->ls) >= n->cfg.links.max_links)
			return;
		ovl_links_connect(n->ls, now, &p->cand[i], &p->peer);
	}
}

/* The peer's offers that are bootstrap nodes (the group's list: the peer's
 * is ours): relays of last resort, since they should carry no user traffic. */
static uint32_t last_resort(const struct ovl_node *n, const struct punch *p)
{
	uint32_t last = 0;

	for (size_t i = 0; i < p->n_offers; i++)
		for (size_t b = 0; b < n->cfg.n_bootstrap; b++)
			if (ovl_ep_eq(&p->offers[i].ep, &n->cfg.bootstrap[b]))
				last |= 1u << i;
	return last;
}

/* Picks a relay and starts on it; with none left, rests. */
static void choose_relay(struct ovl_node *n, uint64_t now, struct punch *p)
{
	struct ovl_relay_offer mine[OVL_RELAY_OFFERS_MAX * 4];
	size_t n_mine = nd_offers(n, &p->peer, mine, sizeof(mine) / sizeof(mine[0]));
	uint32_t last = last_resort(n, p);
	char who[16];

	ovl_addr_short(&p->peer, who, sizeof(who));
	/* A far link is a routing shortcut among many: not worth a relay's
	 * links and bandwidth (the class is asked again later, maybe of a
	 * member we can reach). Ring neighbours and traffic are. */
	if (p->kind == OVL_KIND_FAR) {
		set_state(n, p, PS_RESTING, now + REST_MS);
		return;
	}
	for (size_t tries = 0; tries <= p->n_offers; tries++) {
		bool linked;
		int i = ovl_relay_choose(mine, n_mine, p->offers, p->n_offers, &n->self.addr,
		                         &p->peer, p->skip, last, &linked);
		const struct ovl_relay_offer *o;

		if (i < 0)
			break;
		o = &p->offers[i];
		p->relay = i;
		if (linked) {
			if (nd_relay_connect(n, now, &o->addr, &p->peer, NULL) == 0) {
				LOG(LOG_LVL_INFO, "no direct path to %s after %llu ms: relaying",
				    who, (unsigned long long)(now - p->started));
				set_state(n, p, PS_RELAYING,
				          now + n->cfg.links.hs_timeout_ms + n->cfg.relay_after_ms);
				return;
			}
		} else if (ovl_links_count(n->ls) + ovl_links_pending(n->ls) <
		                   n->cfg.links.max_links &&
		           ovl_links_connect(n->ls, now, &o->ep, &o->addr) >= 0) {
			/* The relay may sit behind a NAT too: ask it as well, so both
			 * sides punch (a far link: never relayed itself). */
			if (!nd_punch_busy(n, &o->addr))
				nd_punch_ask(n, now, &o->addr, OVL_KIND_FAR);
			set_state(n, p, PS_RELAY_LINK, now + 2ull * n->cfg.links.hs_timeout_ms);
			return;
		}
		p->skip |= 1u << i;
	}
	LOG_RL(LOG_LVL_INFO, "no direct path to %s and no member to relay: giving up for now", who);
	set_state(n, p, PS_RESTING, now + REST_MS);
}

/* A relayed link that found no direct path: if it runs through a relay of
 * last resort and a better one is there now (joins come through bootstrap
 * nodes, so early relayed links often run through one), it moves there by a
 * rekey through the better relay. */
static void better_relay(struct ovl_node *n, uint64_t now, struct punch *p, struct ovl_link *l)
{
	struct ovl_relay_offer mine[OVL_RELAY_OFFERS_MAX * 4];
	size_t n_mine = nd_offers(n, &p->peer, mine, sizeof(mine) / sizeof(mine[0]));
	struct ovl_link *r = nd_relay_link(n, l);
	uint32_t last = last_resort(n, p);
	bool linked, on_last = false;
	int i;

	if (!r)
		return;
	for (size_t b = 0; b < n->cfg.n_bootstrap; b++)
		on_last |= ovl_ep_eq(ovl_link_endpoint(r), &n->cfg.bootstrap[b]);
	if (!on_last)
		return;
	i = ovl_relay_choose(mine, n_mine, p->offers, p->n_offers, &n->self.addr, &p->peer, 0, last,
	                     &linked);
	if (i < 0 || !linked || (last >> i & 1) ||
	    ovl_addr_eq(&p->offers[i].addr, &ovl_link_peer(r)->addr))
		return;
	if (nd_relay_connect(n, now, &p->offers[i].addr, &p->peer, l) == 0)
		LOG(LOG_LVL_INFO, "link to %s leaves relay %s (a bootstrap node) for a member",
		    ovl_link_peer(l)->name, ovl_link_peer(r)->name);
}

static void start_probe_round(struct ovl_node *n, uint64_t now, struct punch *p)
{
	struct ovl_link *l = ovl_links_find(n->ls, &p->peer);

	p->ep_before = l ? *ovl_link_endpoint(l) : (struct ovl_endpoint){0};
	p->probes = 0;
	p->probe_at = now;
	n->st.probe_rounds++;
	set_state(n, p, PS_PROBING, now + PROBE_ROUND_MS);
}

/* NM_PUNCH with our current candidates and relay offers over l; with l
 * NULL, RP_PUNCH routed to peer, first through any link but the one to it. */
static void send_punch(struct ovl_node *n, uint64_t now, struct ovl_link *l,
                       const struct cert_addr *peer, bool answer)
{
	struct ovl_endpoint cand[OVL_CANDIDATES_MAX];
	struct ovl_relay_offer offers[OVL_RELAY_OFFERS_MAX];
	uint8_t b[3 + OVL_CANDIDATES_MAX * OVL_EP_WIRE_V6 + 1 +
	          OVL_RELAY_OFFERS_MAX * (CERT_ADDR_LEN + OVL_EP_WIRE_V6 + 2)];
	struct wire_writer w = wire_writer(b, sizeof(b));
	size_t nc = nd_candidates(n, cand, OVL_CANDIDATES_MAX);
	const struct cert_addr *to = l ? &ovl_link_peer(l)->addr : peer;
	size_t no = nd_offers(n, to, offers, OVL_RELAY_OFFERS_MAX);
	struct ovl_link *via;

	wire_put_u8(&w, NM_PUNCH);
	wire_put_u8(&w, answer ? 1 : 0);
	wire_put_u8(&w, (uint8_t)nc);
	for (size_t i = 0; i < nc; i++)
		ovl_ep_put(&w, &cand[i]);
	nd_put_offers(&w, offers, no);
	if (!wire_wok(&w))
		return;
	if (l) {
		ovl_link_send(n->ls, l, now, b, wire_len(&w));
		return;
	}
	via = nd_first_hop_avoiding(n, peer);
	if (via)
		nd_route_via(n, via, now, peer, 0, RP_PUNCH, b + 1, wire_len(&w) - 1);
}

void nd_punch_begin(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                    enum ovl_link_kind kind, const struct ovl_endpoint *cand, size_t n_cand,
                    const struct ovl_relay_offer *offers, size_t n_offers)
{
	struct ovl_link *l = ovl_links_find(n->ls, peer);
	struct punch *p = find(n, peer);

	if (ovl_addr_eq(peer, &n->self.addr))
		return;
	if (l && !nd_is_relayed(l)) {
		/* Linked directly: nothing to punch, but a probe round after a
		 * move goes on (a CTM the peer sent for other reasons came). */
		if (p && p->state != PS_PROBING)
			done(n, p);
		return;
	}
	if (!p)
		p = take(n, peer);
	if (!p) { /* every entry busy: a plain simultaneous open, no fallback */
		for (size_t i = 0; i < n_cand; i++)
			nd_connect(n, now, &cand[i], peer);
		return;
	}
	if (n_cand > OVL_CANDIDATES_MAX)
		n_cand = OVL_CANDIDATES_MAX;
	if (n_offers > OVL_RELAY_OFFERS_MAX)
		n_offers = OVL_RELAY_OFFERS_MAX;
	memcpy(p->cand, cand, n_cand * sizeof(*cand));
	p->n_cand = n_cand;
	memcpy(p->offers, offers, n_offers * sizeof(*offers));
	p->n_offers = n_offers;
	p->skip = 0;
	if (p->state == PS_FREE || p->state == PS_ASKED || p->state == PS_RESTING)
		p->kind = kind;
	if (l) { /* relayed already: news of its candidates is a reason to probe */
		start_probe_round(n, now, p);
		return;
	}
	switch (p->state) {
	case PS_PUNCHING:
	case PS_RELAY_LINK:
	case PS_RELAYING:
	case PS_PROBING:
		connect_all(n, now, p); /* the other half of the exchange: nothing new to start */
		return;
	default:
		break;
	}
	p->started = now;
	n->st.punches++;
	/* The lower address relays first; the other waits as long again, in
	 * case the first never heard of the attempt. */
	set_state(n, p, PS_PUNCHING,
	          now + n->cfg.relay_after_ms +
	                  (ovl_addr_cmp(&n->self.addr, peer) < 0 ? 0 : n->cfg.relay_after_ms));
	connect_all(n, now, p);
}

void nd_punch_ask(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                  enum ovl_link_kind kind)
{
	struct punch *p;

	if (ovl_addr_eq(peer, &n->self.addr) || ovl_links_find(n->ls, peer))
		return;
	p = find(n, peer);
	if (p && p->state != PS_RESTING && p->state != PS_ASKED)
		return; /* under way */
	if (p && p->state == PS_ASKED && now < p->deadline)
		return;
	if (!p)
		p = take(n, peer);
	if (p) {
		p->kind = kind;
		set_state(n, p, PS_ASKED, now + 2ull * n->cfg.links.hs_timeout_ms);
	}
	nd_send_ctm(n, now, NULL, peer, 0, kind);
}

void nd_punch_up(struct ovl_node *n, struct ovl_link *l)
{
	const struct cert_addr *a = &ovl_link_peer(l)->addr;
	struct punch *p = find(n, a);
	uint64_t now = n->now;
	char who[16];

	/* Attempts waiting for a link to this member as their relay go on. */
	if (!nd_is_relayed(l) && n->punch)
		for (size_t i = 0; i < PUNCH_MAX; i++) {
			struct punch *q = &n->punch[i];

			if (q->state == PS_RELAY_LINK && q->relay >= 0 &&
			    ovl_addr_eq(&q->offers[q->relay].addr, a)) {
				if (nd_relay_connect(n, now, a, &q->peer, NULL) == 0)
					set_state(n, q, PS_RELAYING,
					          now + n->cfg.links.hs_timeout_ms +
					                  n->cfg.relay_after_ms);
				else
					choose_relay(n, now, q);
			}
		}
	ovl_addr_short(a, who, sizeof(who));
	if (!nd_is_relayed(l)) {
		if (p && p->state != PS_ASKED && p->state != PS_RESTING) {
			n->st.punch_direct++;
			LOG(LOG_LVL_DEBUG, "direct link to %s, %llu ms after punching began", who,
			    (unsigned long long)(now - p->started));
		}
		if (p)
			done(n, p);
		return;
	}
	if (!p)
		p = take(n, a); /* the peer relayed first: we probe too */
	if (!p)
		return;
	if (!p->started)
		p->started = now;
	n->st.punch_relayed++;
	p->probe_at = now + p->retry_ms;
	set_state(n, p, PS_RELAYING, UINT64_MAX);
}

void nd_punch_down(struct ovl_node *n, struct ovl_link *l)
{
	struct punch *p = find(n, &ovl_link_peer(l)->addr);

	if (p && p->state != PS_RESTING)
		done(n, p); /* whoever wants the link asks again */
}

void nd_punch_failed(struct ovl_node *n, const struct ovl_endpoint *ep,
                     const struct cert_addr *expect)
{
	struct punch *p;

	if (!expect)
		return;
	if (ep->family == OVL_EP_RELAY) {
		p = find(n, expect);
		if (p && p->state == PS_RELAYING && !ovl_links_find(n->ls, expect)) {
			if (p->relay >= 0)
				p->skip |= 1u << p->relay;
			choose_relay(n, n->now, p);
		}
		return;
	}
	for (size_t i = 0; n->punch && i < PUNCH_MAX; i++) {
		p = &n->punch[i];
		if (p->state == PS_RELAY_LINK && p->relay >= 0 &&
		    ovl_addr_eq(&p->offers[p->relay].addr, expect)) {
			p->skip |= 1u << p->relay;
			choose_relay(n, n->now, p);
		}
	}
}

/*
 * A PUNCH from the peer of link l (over l when `routed` is false, else
 * routed): take its candidates and offers, answer with ours if asked, and
 * probe. Only from a member we hold a link to: a stranger's word starts
 * nothing (a CTM does); over a link only a relayed one has anything to gain.
 */
static void punch_in(struct ovl_node *n, uint64_t now, struct ovl_link *l, bool routed,
                     struct wire_reader *r)
{
	struct ovl_endpoint cand[OVL_CANDIDATES_MAX];
	struct ovl_relay_offer offers[OVL_RELAY_OFFERS_MAX];
	uint8_t flags = wire_get_u8(r), nc = wire_get_u8(r);
	struct punch *p;
	size_t no;

	if (nc > OVL_CANDIDATES_MAX || (flags & ~1u))
		return;
	for (uint8_t i = 0; i < nc; i++)
		ovl_ep_get(r, &cand[i]);
	if (!nd_get_offers(r, offers, &no) || !wire_done(r) || !l ||
	    ovl_link_state(l) != OVL_LINK_UP || (!routed && !nd_is_relayed(l)))
		return;
	p = find(n, &ovl_link_peer(l)->addr);
	if (!p)
		p = take(n, &ovl_link_peer(l)->addr);
	if (!p)
		return;
	memcpy(p->cand, cand, nc * sizeof(cand[0]));
	p->n_cand = nc;
	memcpy(p->offers, offers, no * sizeof(offers[0]));
	p->n_offers = no;
	p->skip = 0;
	if (flags & 1)
		send_punch(n, now, routed ? NULL : l, &ovl_link_peer(l)->addr, false);
	start_probe_round(n, now, p);
}

void nd_punch_handle(struct ovl_node *n, uint64_t now, struct ovl_link *l, const uint8_t *msg,
                     size_t len)
{
	struct wire_reader r = wire_reader(msg + 1, len - 1);

	punch_in(n, now, l, false, &r);
}

void nd_punch_routed(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
                     const uint8_t *payload, size_t len)
{
	struct wire_reader r = wire_reader(payload, len);

	punch_in(n, now, ovl_links_find(n->ls, src), true, &r);
}

void nd_punch_moved(struct ovl_node *n, uint64_t now)
{
	for (size_t i = 0; i < ovl_links_count(n->ls); i++) {
		struct ovl_link *l = ovl_links_at(n->ls, i);

		if (!nd_is_relayed(l) && ovl_link_state(l) == OVL_LINK_UP)
			send_punch(n, now, NULL, &ovl_link_peer(l)->addr, true);
	}
}

/* ---- timers ------------------------------------------------------------------ */

static uint64_t tick_one(struct ovl_node *n, uint64_t now, struct punch *p)
{
	struct ovl_link *l = ovl_links_find(n->ls, &p->peer);
	char who[16];

	switch (p->state) {
	case PS_FREE:
		return UINT64_MAX;
	case PS_ASKED:
		if (now >= p->deadline)
			done(n, p);
		break;
	case PS_RESTING:
		if (now < p->deadline)
			break;
		done(n, p);
		/* A ring neighbour we still lack is asked again: relays come and go,
		 * and nobody else may ever tell it about us (its own requests end
		 * at whichever node is nearer to it). */
		if (p->kind == OVL_KIND_NEAR && !l && nd_fits_leafset(n, &p->peer))
			nd_punch_ask(n, now, &p->peer, OVL_KIND_NEAR);
		break;
	case PS_PUNCHING:
		if (l) { /* the peer's relayed link came first, or up came without us */
			if (nd_is_relayed(l)) {
				p->probe_at = now + p->retry_ms;
				set_state(n, p, PS_RELAYING, UINT64_MAX);
			} else
				done(n, p);
		} else if (now >= p->deadline) {
			choose_relay(n, now, p);
		}
		break;
	case PS_RELAY_LINK:
		if (now >= p->deadline) {
			p->skip |= 1u << p->relay;
			choose_relay(n, now, p);
		}
		break;
	case PS_RELAYING:
		if (l && !nd_is_relayed(l)) {
			went_direct(n, l);
			done(n, p);
		} else if (!l && now >= p->deadline) {
			if (p->relay >= 0)
				p->skip |= 1u << p->relay;
			choose_relay(n, now, p);
		} else if (l && now >= p->probe_at) {
			send_punch(n, now, l, NULL, true);
			start_probe_round(n, now, p);
		}
		break;
	case PS_PROBING:
		if (!l) {
			done(n, p);
			break;
		}
		if (!nd_is_relayed(l) && !ovl_ep_eq(ovl_link_endpoint(l), &p->ep_before)) {
			ovl_addr_short(&p->peer, who, sizeof(who));
			LOG(LOG_LVL_INFO, "link to %s (%s) moved to a %s path",
			    ovl_link_peer(l)->name, who,
			    p->ep_before.family == OVL_EP_RELAY ? "direct" : "new");
			if (p->ep_before.family == OVL_EP_RELAY)
				n->st.punch_direct++;
			went_direct(n, l);
			done(n, p);
			break;
		}
		if (now >= p->probe_at && p->probes < PUNCH_PROBES) {
			for (size_t i = 0; i < p->n_cand; i++)
				ovl_link_probe(n->ls, l, now, &p->cand[i]);
			p->probes++;
			p->probe_at = p->probes < PUNCH_PROBES
			                      ? now + (300ull << p->probes)
			                      : UINT64_MAX; /* 600, 1200 ms apart */
		}
		if (now >= p->deadline && !nd_is_relayed(l)) {
			done(n, p); /* a direct link that moved nowhere: it needed no move */
			break;
		}
		if (now >= p->deadline) {
			better_relay(n, now, p, l);
			p->retry_ms = p->retry_ms * 2 > n->cfg.punch_retry_max_ms
			                      ? n->cfg.punch_retry_max_ms
			                      : p->retry_ms * 2;
			p->probe_at = now + p->retry_ms;
			set_state(n, p, PS_RELAYING, UINT64_MAX);
		}
		break;
	case PS_MAX:
		break;
	}
	if (p->state == PS_FREE)
		return UINT64_MAX;
	if (p->state == PS_RELAYING || p->state == PS_PROBING)
		return p->probe_at < p->deadline ? p->probe_at : p->deadline;
	return p->deadline;
}

uint64_t nd_punch_tick(struct ovl_node *n, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	if (!n->punch || (n->punch_due && now < n->punch_due))
		return n->punch ? n->punch_due : UINT64_MAX;
	n->punch_due = UINT64_MAX;
	for (size_t i = 0; i < PUNCH_MAX; i++) {
		uint64_t t = tick_one(n, now, &n->punch[i]);

		if (t < next)
			next = t;
	}
	/* Nothing under way: the table goes until the next attempt (a ring of
	 * thousands would otherwise hold 32 idle entries a node). */
	if (next == UINT64_MAX && n->punch_due == UINT64_MAX) {
		bool idle = true;

		for (size_t i = 0; i < PUNCH_MAX && idle; i++)
			idle = n->punch[i].state == PS_FREE;
		if (idle) {
			free(n->punch);
			n->punch = NULL;
			return UINT64_MAX;
		}
	}
	/* A state change during the walk (set_state clears punch_due) may have
	 * touched an entry already walked: walk again soon. */
	n->punch_due = n->punch_due == 0 ? now + 1 : next;
	if (n->punch_due <= now)
		n->punch_due = now + 1;
	return n->punch_due;
}

/* ---- our own endpoints, our NAT, status ------------------------------------- */

void ovl_node_nat(const struct ovl_node *n, struct ovl_nat_view *out)
{
	struct ovl_nat_obs obs[OVL_NAT_REFLEXIVE_MAX * 4];
	size_t m = 0;

	/* What our peers see (the overlay as STUN), and since when: the order
	 * in which our NAT made those mappings (after a rebinding, the new ones
	 * are the newest). */
	for (size_t i = ovl_links_count(n->ls); i-- > 0 && m < sizeof(obs) / sizeof(obs[0]);) {
		struct ovl_link *l = ovl_links_at(n->ls, i);

		if (!ovl_ep_is_ip(ovl_link_observed(l)))
			continue;
		obs[m].ep = *ovl_link_observed(l);
		obs[m++].since = ovl_link_observed_since(l);
	}
	ovl_nat_assess(n->cfg.local, n->cfg.n_local, obs, m, out);
}

size_t nd_candidates(const struct ovl_node *n, struct ovl_endpoint *out, size_t max)
{
	struct ovl_nat_view v;

	ovl_node_nat(n, &v);
	return ovl_nat_candidates(n->cfg.local, n->cfg.n_local, &v, out, max);
}

/* A peer sees us at a new endpoint on a link it saw us on before: the NAT in
 * front of us mapped us anew (it rebooted, or rebound). Peers behind NATs of
 * their own must learn that from us, as with an address of ours that
 * changed; at most once a second. */
void nd_check_observed(struct ovl_node *n, uint64_t now)
{
	uint64_t moves = ovl_links_observed_moves(n->ls);

	if (moves == n->observed_moves || (n->moved_told && now - n->moved_told < 1000))
		return;
	n->observed_moves = moves;
	n->moved_told = now;
	LOG(LOG_LVL_INFO, "a peer sees us at a new endpoint: telling our peers where we are");
	nd_punch_moved(n, now);
}

uint64_t ovl_node_direct_since(const struct ovl_node *n, const struct cert_addr *peer)
{
	struct ovl_link *l = ovl_links_find(n->ls, peer);
	const struct nlink *x = l ? ovl_link_user(l) : NULL;

	return x && !nd_is_relayed(l) ? x->direct_since : 0;
}

bool ovl_node_link_relayed(const struct ovl_node *n, const struct cert_addr *peer)
{
	struct ovl_link *l = ovl_links_find(n->ls, peer);

	return l && nd_is_relayed(l);
}

void ovl_node_stats(const struct ovl_node *n, struct ovl_node_stats *out)
{
	*out = n->st;
}

void ovl_node_set_local(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *local,
                        size_t n_local)
{
	n->now = now;
	if (n_local > OVL_CANDIDATES_MAX)
		n_local = OVL_CANDIDATES_MAX;
	if (n_local == n->cfg.n_local && !memcmp(local, n->cfg.local, n_local * sizeof(*local)))
		return;
	memcpy(n->cfg.local, local, n_local * sizeof(*local));
	n->cfg.n_local = n_local;
	LOG(LOG_LVL_INFO, "our addresses changed (%zu now): every link pings", n_local);
	ovl_links_kick(n->ls, now);
	if (n->state == OVL_NODE_RUNNING)
		nd_punch_moved(n, now);
}
