// SPDX-License-Identifier: MIT
/*
 * node_route — greedy routing by ring distance, and the overlay's own routed
 * protocols: connect-to-me (CTM) and its reply, trace, routing errors.
 *
 * Each hop forwards to the linked node strictly closer to the destination
 * than itself, so a message can never loop; a hop limit bounds it anyway.
 * Where nobody is closer, the message has arrived: at the destination
 * (exact), or at the node closest to it (nearest).
 */
#define LOG_SUBSYS "route"
#include "node_internal.h"

#include <errno.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "wire.h"

/* The linked peer closest to dst, if closer than us; NULL if we are closest.
 * With RF_NOT_SRC, src is never chosen (a CTM to one's own address must end
 * at a neighbour, not back at the sender). A message too big for a relayed
 * link (`big`) takes only direct ones. */
static struct ovl_link *next_hop(struct ovl_node *n, const struct cert_addr *dst,
                                 const struct cert_addr *src, uint8_t flags, bool self_eligible,
                                 bool big)
{
	struct ovl_link *best = NULL;
	const struct cert_addr *best_addr = self_eligible ? &n->self.addr : NULL;
	struct cert_addr best_d, d;

	if (best_addr)
		ovl_addr_dist(dst, best_addr, &best_d);
	const struct cert_addr *addrs = ovl_links_addrs(n->ls);

	for (size_t i = 0; i < ovl_links_count(n->ls); i++) {
		const struct cert_addr *a = &addrs[i];
		int c;

		if ((flags & RF_NOT_SRC) && ovl_addr_eq(a, src))
			continue;
		if (big && nd_is_relayed(ovl_links_at(n->ls, i)))
			continue;
		ovl_addr_dist(dst, a, &d);
		c = best_addr ? ovl_addr_cmp(&d, &best_d) : -1;
		/* A tie (two nodes as far, one each side) goes as ovl_addr_closer says. */
		if (c < 0 || (c == 0 && ovl_addr_closer(dst, a, best_addr) < 0)) {
			best = ovl_links_at(n->ls, i);
			best_addr = a;
			best_d = d;
		}
	}
	return best;
}

/* The linked peer nearest to dst other than avoid (NULL: any), however far. */
static struct ovl_link *next_hop_avoiding(struct ovl_node *n, const struct cert_addr *dst,
                                          const struct cert_addr *src, uint8_t flags,
                                          struct ovl_link *avoid, bool big)
{
	struct ovl_link *best = NULL;
	struct cert_addr best_d, d;

	for (size_t i = 0; i < ovl_links_count(n->ls); i++) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		const struct cert_addr *a = &ovl_links_addrs(n->ls)[i];

		if (l == avoid || ((flags & RF_NOT_SRC) && ovl_addr_eq(a, src)) ||
		    (big && nd_is_relayed(l)))
			continue;
		ovl_addr_dist(dst, a, &d);
		if (!best || ovl_addr_cmp(&d, &best_d) < 0) {
			best = l;
			best_d = d;
		}
	}
	return best;
}

static int encode(struct ovl_node *n, const struct cert_addr *src, const struct cert_addr *dst,
                  uint8_t flags, uint8_t hops, uint8_t proto, uint32_t id,
                  const struct cert_addr *path, uint8_t n_path, const uint8_t *payload, size_t len,
                  size_t *out_len)
{
	struct wire_writer w = wire_writer(n->buf, sizeof(n->buf));

	wire_put_u8(&w, NM_ROUTE);
	wire_put_u8(&w, flags);
	wire_put_u8(&w, hops);
	wire_put_u8(&w, OVL_HOPS_MAX);
	wire_put_bytes(&w, src->b, CERT_ADDR_LEN);
	wire_put_bytes(&w, dst->b, CERT_ADDR_LEN);
	wire_put_u32(&w, id);
	wire_put_u8(&w, proto);
	if (flags & RF_TRACE) {
		wire_put_u8(&w, n_path);
		for (uint8_t i = 0; i < n_path; i++)
			wire_put_bytes(&w, path[i].b, CERT_ADDR_LEN);
	}
	wire_put_u16(&w, (uint16_t)len);
	wire_put_bytes(&w, payload, len);
	if (!wire_wok(&w))
		return -EMSGSIZE;
	*out_len = wire_len(&w);
	return 0;
}

static void send_error(struct ovl_node *n, uint64_t now, const struct cert_addr *to, uint32_t id,
                       uint8_t proto, uint8_t code, const struct cert_addr *dst)
{
	uint8_t b[4 + 1 + CERT_ADDR_LEN];
	struct wire_writer w = wire_writer(b, sizeof(b));

	/* Errors answer what a sender waits for: user messages and traces. A lost
	 * CTM reply is harmless (the replier links to the requester directly),
	 * and an error about an error would never end. */
	if (proto != RP_TRACE && proto < OVL_PROTO_USER)
		return;

	wire_put_u32(&w, id);
	wire_put_u8(&w, code);
	wire_put_bytes(&w, dst->b, CERT_ADDR_LEN);
	nd_route(n, now, &n->self.addr, to, 0, 0, RP_ERROR, 0, NULL, 0, b, sizeof(b));
}

static const char *error_name(uint8_t code)
{
	switch (code) {
	case RERR_NO_ROUTE:
		return "no route";
	case RERR_HOP_LIMIT:
		return "hop limit";
	case RERR_NO_NODE:
		return "no such node";
	}
	return "routing error";
}

static void deliver(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
                    const struct cert_addr *dst, uint8_t flags, uint8_t hops, uint8_t proto,
                    uint32_t id, const struct cert_addr *path, uint8_t n_path,
                    const uint8_t *payload, size_t len);

int nd_route(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
             const struct cert_addr *dst, uint8_t flags, uint8_t hops, uint8_t proto, uint32_t id,
             const struct cert_addr *path, uint8_t n_path, const uint8_t *payload, size_t len)
{
	bool originating = ovl_addr_eq(src, &n->self.addr);
	bool self_ok = !(originating && (flags & RF_NOT_SRC));
	struct ovl_link *from = n->route_from; /* only for this call, not for nested ones */
	size_t size =
	        ROUTE_HDR + 2 + len + ((flags & RF_TRACE) ? 1 + (n_path + 1) * CERT_ADDR_LEN : 0);
	bool big = size > OVL_RELAYED_MTU;
	struct ovl_link *l = next_hop(n, dst, src, flags, self_ok, big);
	struct cert_addr hop_path[OVL_HOPS_MAX];
	size_t out_len;
	int rc;

	n->route_from = NULL;
	/* We are the nearest node we know to an exact destination that is not
	 * us: a leaf set misses a link (a firewall or a NAT between ring
	 * neighbours). The message goes one step to the linked node nearest to
	 * it, never back where it came from, which may hold that link. It may
	 * take that step once (RF_DETOUR): if that node lacks the link too,
	 * greedy routing brings the message back and it ends here with "no such
	 * node". So it cannot loop. */
	if (!l && self_ok && !(flags & (RF_NEAREST | RF_DETOUR)) &&
	    !ovl_addr_eq(dst, &n->self.addr)) {
		l = next_hop_avoiding(n, dst, src, flags, from, big);
		if (l)
			flags |= RF_DETOUR;
	}

	if (!l) {
		if (!self_ok)
			return -EHOSTUNREACH; /* nobody to ask but ourselves */
		deliver(n, now, src, dst, flags, hops, proto, id, path, n_path, payload, len);
		return 0;
	}
	if (hops >= OVL_HOPS_MAX) {
		send_error(n, now, src, id, proto, RERR_HOP_LIMIT, dst);
		return -ELOOP;
	}
	if (flags & RF_TRACE) {
		if (n_path >= OVL_HOPS_MAX)
			return -ELOOP;
		if (n_path) /* a trace starts with no path at all */
			memcpy(hop_path, path, n_path * sizeof(*path));
		hop_path[n_path++] = ovl_link_peer(l)->addr;
		path = hop_path;
	}
	rc = encode(n, src, dst, flags, (uint8_t)(hops + 1), proto, id, path, n_path, payload, len,
	            &out_len);
	if (rc < 0)
		return rc;
	return ovl_link_send(n->ls, l, now, n->buf, out_len);
}

struct ovl_link *nd_first_hop_avoiding(struct ovl_node *n, const struct cert_addr *dst)
{
	return next_hop_avoiding(n, dst, &n->self.addr, 0, ovl_links_find(n->ls, dst), false);
}

int nd_route_via(struct ovl_node *n, struct ovl_link *l, uint64_t now, const struct cert_addr *dst,
                 uint8_t flags, uint8_t proto, const uint8_t *payload, size_t len)
{
	size_t out_len;
	int rc = encode(n, &n->self.addr, dst, flags, 1, proto, ++n->next_id, NULL, 0, payload, len,
	                &out_len);

	return rc < 0 ? rc : ovl_link_send(n->ls, l, now, n->buf, out_len);
}

/* Room for a relay offers list (nd_put_offers). */
#define OFFERS_WIRE_MAX (1 + OVL_RELAY_OFFERS_MAX * (CERT_ADDR_LEN + OVL_EP_WIRE_V6 + 2))

int nd_send_ctm(struct ovl_node *n, uint64_t now, struct ovl_link *via, const struct cert_addr *dst,
                uint8_t flags, enum ovl_link_kind kind)
{
	uint8_t b[2 + OVL_CANDIDATES_MAX * OVL_EP_WIRE_V6 + OFFERS_WIRE_MAX + CERT_ADDR_LEN];
	struct ovl_endpoint cand[OVL_CANDIDATES_MAX];
	struct ovl_relay_offer offers[OVL_RELAY_OFFERS_MAX];
	struct wire_writer w = wire_writer(b, sizeof(b));
	size_t nc = nd_candidates(n, cand, OVL_CANDIDATES_MAX);
	size_t no = nd_offers(n, dst, offers, OVL_RELAY_OFFERS_MAX);
	/* The anchor: the link the request leaves by. The reply goes to it and
	 * over its link to us, since whoever answers may find no route to us
	 * (behind a NAT we have few links, and our neighbours none yet). */
	struct ovl_link *first =
	        via ? via : next_hop(n, dst, &n->self.addr, flags, !(flags & RF_NOT_SRC), false);

	wire_put_u8(&w, (uint8_t)kind);
	wire_put_u8(&w, (uint8_t)nc);
	for (size_t i = 0; i < nc; i++)
		ovl_ep_put(&w, &cand[i]);
	nd_put_offers(&w, offers, no);
	wire_put_bytes(&w, first ? ovl_link_peer(first)->addr.b : n->self.addr.b, CERT_ADDR_LEN);
	if (via)
		return nd_route_via(n, via, now, dst, flags, RP_CTM, b, wire_len(&w));
	return nd_route(n, now, &n->self.addr, dst, flags, 0, RP_CTM, ++n->next_id, NULL, 0, b,
	                wire_len(&w));
}

/* A CTM reached us: link to the requester, and tell it who we and our neighbours are. */
static void handle_ctm(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
                       struct wire_reader *r)
{
	uint8_t b[OVL_ROUTE_MTU];
	struct wire_writer w = wire_writer(b, sizeof(b));
	struct ovl_endpoint cand[OVL_CANDIDATES_MAX];
	struct ovl_relay_offer offers[OVL_RELAY_OFFERS_MAX];
	struct ovl_link *near[2 * NEIGH_MAX];
	uint8_t kind = wire_get_u8(r), nc = wire_get_u8(r);
	struct cert_addr anchor;
	size_t nn, mine, no;
	bool via;

	if (nc > OVL_CANDIDATES_MAX || kind >= OVL_KIND_MAX)
		return;
	for (uint8_t i = 0; i < nc; i++)
		ovl_ep_get(r, &cand[i]);
	nd_get_offers(r, offers, &no);
	wire_get_bytes(r, anchor.b, CERT_ADDR_LEN);
	if (!wire_done(r) || ovl_addr_eq(src, &n->self.addr))
		return;
	/* The reply goes through the requester's anchor unless we can reach it
	 * ourselves (or the anchor is us, or the requester). */
	via = !ovl_links_find(n->ls, src) && !ovl_addr_eq(&anchor, src) &&
	      !ovl_addr_eq(&anchor, &n->self.addr);
	if (via) {
		wire_put_bytes(&w, src->b, CERT_ADDR_LEN);
		wire_put_u8(&w, RP_CTM_REP);
	}
	if (kind == OVL_KIND_SHORTCUT)
		nd_want_shortcut(n, now, src);
	/* Both sides connect at once: through NATs this is hole punching. */
	nd_punch_begin(n, now, src, kind, cand, nc, offers, no);

	mine = nd_candidates(n, cand, OVL_CANDIDATES_MAX);
	wire_put_u8(&w, kind);
	wire_put_u8(&w, (uint8_t)mine);
	for (size_t i = 0; i < mine; i++)
		ovl_ep_put(&w, &cand[i]);
	nn = kind == OVL_KIND_NEAR ? nd_near(n, near, 2 * NEIGH_MAX) : 0;
	if (nn > NEIGH_MAX)
		nn = NEIGH_MAX;
	wire_put_u8(&w, (uint8_t)nn);
	for (size_t i = 0; i < nn; i++) {
		wire_put_bytes(&w, ovl_link_peer(near[i])->addr.b, CERT_ADDR_LEN);
		ovl_ep_put(&w, ovl_link_endpoint(near[i]));
	}
	no = nd_offers(n, src, offers, OVL_RELAY_OFFERS_MAX);
	nd_put_offers(&w, offers, no);
	if (!wire_wok(&w))
		return;
	if (via)
		nd_route(n, now, &n->self.addr, &anchor, 0, 0, RP_VIA, ++n->next_id, NULL, 0, b,
		         wire_len(&w));
	else
		nd_route(n, now, &n->self.addr, src, 0, 0, RP_CTM_REP, ++n->next_id, NULL, 0, b,
		         wire_len(&w));
}

/* RP_VIA: a reply for a member we are the anchor of; it goes over our link
 * to it as the routed message it would have been, from its sender. */
static void handle_via(struct ovl_node *n, uint64_t now, const struct cert_addr *src, uint32_t id,
                       struct wire_reader *r)
{
	struct cert_addr final;
	struct ovl_link *l;
	uint8_t proto;
	size_t len, out_len;
	const uint8_t *p;

	wire_get_bytes(r, final.b, CERT_ADDR_LEN);
	proto = wire_get_u8(r);
	len = wire_remaining(r);
	p = wire_get_ptr(r, len);
	if (!wire_ok(r) || !p || proto != RP_CTM_REP || ovl_addr_eq(&final, &n->self.addr))
		return;
	l = ovl_links_find(n->ls, &final);
	if (!l || ovl_link_state(l) != OVL_LINK_UP)
		return;
	if (encode(n, src, &final, 0, 1, proto, id, NULL, 0, p, len, &out_len) == 0)
		ovl_link_send(n->ls, l, now, n->buf, out_len);
}

static void deliver(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
                    const struct cert_addr *dst, uint8_t flags, uint8_t hops, uint8_t proto,
                    uint32_t id, const struct cert_addr *path, uint8_t n_path,
                    const uint8_t *payload, size_t len)
{
	struct wire_reader r = wire_reader(payload, len);
	bool exact_here = ovl_addr_eq(dst, &n->self.addr);

	if (!(flags & RF_NEAREST) && !exact_here) {
		send_error(n, now, src, id, proto, RERR_NO_NODE, dst);
		return;
	}
	switch (proto) {
	case RP_TRACE: {
		uint8_t b[1 + (OVL_HOPS_MAX + 1) * CERT_ADDR_LEN + 4];
		struct wire_writer w = wire_writer(b, sizeof(b));

		wire_put_u32(&w, id);
		wire_put_u8(&w, n_path);
		for (uint8_t i = 0; i < n_path; i++)
			wire_put_bytes(&w, path[i].b, CERT_ADDR_LEN);
		wire_put_bytes(&w, n->self.addr.b, CERT_ADDR_LEN);
		if (ovl_addr_eq(src, &n->self.addr)) { /* a trace to ourselves */
			if (n->cb.trace_done)
				n->cb.trace_done(n->cb.ctx, id, path, n_path, &n->self.addr);
		} else {
			nd_route(n, now, &n->self.addr, src, 0, 0, RP_TRACE_REP, ++n->next_id, NULL,
			         0, b, wire_len(&w));
		}
		break;
	}
	case RP_TRACE_REP: {
		struct cert_addr hops_seen[OVL_HOPS_MAX], reached;
		uint32_t tid = wire_get_u32(&r);
		uint8_t k = wire_get_u8(&r);

		if (k > OVL_HOPS_MAX)
			return;
		for (uint8_t i = 0; i < k; i++)
			wire_get_bytes(&r, hops_seen[i].b, CERT_ADDR_LEN);
		wire_get_bytes(&r, reached.b, CERT_ADDR_LEN);
		if (wire_done(&r) && n->cb.trace_done)
			n->cb.trace_done(n->cb.ctx, tid, hops_seen, k, &reached);
		break;
	}
	case RP_CTM:
		handle_ctm(n, now, src, &r);
		break;
	case RP_CTM_REP:
		nd_handle_ctm_reply(n, now, src, &r);
		break;
	case RP_PUNCH:
		if (exact_here)
			nd_punch_routed(n, now, src, payload, len);
		break;
	case RP_VIA:
		if (exact_here)
			handle_via(n, now, src, id, &r);
		break;
	case RP_ERROR: {
		struct cert_addr edst;
		uint32_t eid = wire_get_u32(&r);
		uint8_t code = wire_get_u8(&r);

		wire_get_bytes(&r, edst.b, CERT_ADDR_LEN);
		if (!wire_done(&r))
			break;
		for (size_t i = 0; i < n->n_upper; i++)
			if (n->upper[i].route_error)
				n->upper[i].route_error(n->upper[i].ctx, now, eid, &edst,
				                        error_name(code));
		if (n->cb.route_error)
			n->cb.route_error(n->cb.ctx, eid, &edst, error_name(code));
		break;
	}
	default: {
		struct ovl_route_info info = {
		        .src = *src,
		        .dst = *dst,
		        .mode = (flags & RF_NEAREST) ? OVL_ROUTE_NEAREST : OVL_ROUTE_EXACT,
		        .proto = proto,
		        .hops = hops,
		        .id = id,
		};

		if (proto < OVL_PROTO_USER)
			break;
		for (size_t i = 0; i < n->n_upper; i++)
			if (n->upper[i].proto == proto) {
				n->upper[i].deliver(n->upper[i].ctx, now, &info, payload, len);
				return;
			}
		if (n->cb.deliver)
			n->cb.deliver(n->cb.ctx, &info, payload, len);
		break;
	}
	}
}

void nd_handle_route(struct ovl_node *n, uint64_t now, struct ovl_link *from, const uint8_t *msg,
                     size_t len)
{
	struct wire_reader r = wire_reader(msg, len);
	struct cert_addr src, dst, path[OVL_HOPS_MAX];
	uint8_t flags, hops, limit, proto, n_path = 0;
	const uint8_t *payload;
	uint16_t plen;
	uint32_t id;

	wire_get_u8(&r); /* NM_ROUTE */
	flags = wire_get_u8(&r);
	hops = wire_get_u8(&r);
	limit = wire_get_u8(&r);
	wire_get_bytes(&r, src.b, CERT_ADDR_LEN);
	wire_get_bytes(&r, dst.b, CERT_ADDR_LEN);
	id = wire_get_u32(&r);
	proto = wire_get_u8(&r);
	if (flags & RF_TRACE) {
		n_path = wire_get_u8(&r);
		if (n_path > OVL_HOPS_MAX) {
			LOG_RL(LOG_LVL_DEBUG, "trace path too long");
			return;
		}
		for (uint8_t i = 0; i < n_path; i++)
			wire_get_bytes(&r, path[i].b, CERT_ADDR_LEN);
	}
	plen = wire_get_u16(&r);
	payload = wire_get_ptr(&r, plen);
	if (!wire_done(&r) || (flags & ~(RF_NEAREST | RF_TRACE | RF_NOT_SRC | RF_DETOUR)) ||
	    limit == 0 || hops > limit || plen > OVL_ROUTE_MTU) {
		LOG_RL(LOG_LVL_DEBUG, "malformed routed message dropped");
		return;
	}
	n->route_from = from;
	nd_route(n, now, &src, &dst, flags, hops, proto, id, path, n_path, payload, plen);
	n->route_from = NULL;
}
