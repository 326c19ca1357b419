// SPDX-License-Identifier: MIT
/*
 * node_relay — relayed links (Brunet's tunnel edges). When two members cannot
 * reach each other directly (symmetric NATs on both sides, a firewall), their
 * link runs through a third member both are linked to. The link engine sees
 * an ordinary link whose endpoint is a relay slot (OVL_EP_RELAY); its
 * datagrams, already sealed with the two ends' keys, travel inside link
 * messages to and from the relay:
 *
 *   A --[NM_RELAY dst=B | datagram]--> R --[NM_RELAYED src=A | datagram]--> B
 *
 * R forwards only between two of its own authenticated links, and only over
 * direct ones (a relay is never relayed), and sees the datagram as the
 * ciphertext it is: it holds none of the A-B keys. docs/nat.md.
 */
#define LOG_SUBSYS "relay"
#include "node_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "wire.h"

static struct nlink *nl(const struct ovl_link *l)
{
	return ovl_link_user(l);
}

bool nd_is_relayed(const struct ovl_link *l)
{
	return ovl_link_endpoint(l)->family == OVL_EP_RELAY;
}

static struct ovl_endpoint slot_ep(size_t i)
{
	return (struct ovl_endpoint){.family = OVL_EP_RELAY, .port = (uint16_t)i};
}

static int slot_i(const struct ovl_node *n, const struct ovl_endpoint *ep)
{
	if (!n->slot || ep->family != OVL_EP_RELAY || ep->port >= RELAY_SLOTS ||
	    !n->slot[ep->port].used)
		return -1;
	return ep->port;
}

static const struct rslot *slot_of(const struct ovl_node *n, const struct ovl_endpoint *ep)
{
	int i = slot_i(n, ep);

	return i < 0 ? NULL : &n->slot[i];
}

static bool slot_in_use(struct ovl_node *n, size_t i)
{
	struct ovl_endpoint ep = slot_ep(i);

	for (size_t k = 0; k < ovl_links_count(n->ls); k++)
		if (ovl_ep_eq(ovl_link_endpoint(ovl_links_at(n->ls, k)), &ep))
			return true;
	return false;
}

/* The slot for (relay, peer), made if need be; -1 if every slot is busy. */
static int slot_get(struct ovl_node *n, uint64_t now, const struct cert_addr *relay,
                    const struct cert_addr *peer)
{
	int free_i = -1, old_i = -1;

	if (!n->slot && !(n->slot = calloc(RELAY_SLOTS, sizeof(*n->slot))))
		return -1;
	for (size_t i = 0; i < RELAY_SLOTS; i++) {
		struct rslot *s = &n->slot[i];

		if (s->used && ovl_addr_eq(&s->relay, relay) && ovl_addr_eq(&s->peer, peer)) {
			s->last = now;
			return (int)i;
		}
		if (!s->used && free_i < 0)
			free_i = (int)i;
	}
	if (free_i < 0) {
		/* The slot idle longest that no link uses; a handshake still
		 * running on it fails, as it would with the relay gone. */
		for (size_t i = 0; i < RELAY_SLOTS; i++)
			if (!slot_in_use(n, i) &&
			    (old_i < 0 || n->slot[i].last < n->slot[old_i].last))
				old_i = (int)i;
		free_i = old_i;
	}
	if (free_i < 0)
		return -1;
	n->slot[free_i] = (struct rslot){.used = true, .relay = *relay, .peer = *peer, .last = now};
	return free_i;
}

static void hold(struct ovl_link *l, uint64_t now)
{
	struct nlink *x = nl(l);

	if (x)
		x->relay_until = now + RELAY_HOLD_MS;
}

struct ovl_link *nd_relay_link(const struct ovl_node *n, const struct ovl_link *l)
{
	const struct rslot *s = slot_of(n, ovl_link_endpoint(l));

	return s ? ovl_links_find(n->ls, &s->relay) : NULL;
}

void nd_relay_send(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *to,
                   const uint8_t *buf, size_t len)
{
	int i = slot_i(n, to);
	struct rslot *s = i < 0 ? NULL : &n->slot[i];
	struct ovl_link *r = s ? ovl_links_find(n->ls, &s->relay) : NULL;
	struct wire_writer w = wire_writer(n->rbuf, sizeof(n->rbuf));

	if (!r || nd_is_relayed(r) || len > RELAY_DGRAM_MAX) {
		n->st.relay_drops++;
		return;
	}
	wire_put_u8(&w, NM_RELAY);
	wire_put_bytes(&w, s->peer.b, CERT_ADDR_LEN);
	wire_put_bytes(&w, buf, len);
	s->last = now;
	hold(r, now);
	if (wire_wok(&w))
		ovl_link_send(n->ls, r, now, n->rbuf, wire_len(&w));
}

int nd_relay_connect(struct ovl_node *n, uint64_t now, const struct cert_addr *relay,
                     const struct cert_addr *peer, struct ovl_link *l)
{
	struct ovl_link *r = ovl_links_find(n->ls, relay);
	struct ovl_endpoint ep;
	int i;

	if (!r || nd_is_relayed(r))
		return -ENOTCONN;
	i = slot_get(n, now, relay, peer);
	if (i < 0)
		return -ENOSPC;
	ep = slot_ep((size_t)i);
	if (l)
		return ovl_link_repath(n->ls, l, now, &ep);
	return ovl_links_connect(n->ls, now, &ep, peer);
}

/* Tells the sender of an NM_RELAY that we cannot pass it on (at most once a
 * second per link: every datagram of a dead relayed link would ask). */
static void relay_error(struct ovl_node *n, uint64_t now, struct ovl_link *l,
                        const struct cert_addr *dst)
{
	struct nlink *x = nl(l);
	uint8_t b[RELAY_HDR];

	n->st.relay_drops++;
	if (!x || (x->relay_err_at && now - x->relay_err_at < RELAY_ERR_MS))
		return;
	x->relay_err_at = now;
	b[0] = NM_RELAY_ERR;
	memcpy(b + 1, dst->b, CERT_ADDR_LEN);
	ovl_link_send(n->ls, l, now, b, sizeof(b));
}

/* Closes our links relayed by `relay` to `peer` (NULL: to anyone). */
static void close_relayed(struct ovl_node *n, uint64_t now, const struct cert_addr *relay,
                          const struct cert_addr *peer, const char *reason)
{
	for (size_t i = ovl_links_count(n->ls); i-- > 0;) {
		struct ovl_link *l = ovl_links_at(n->ls, i);
		const struct rslot *s = slot_of(n, ovl_link_endpoint(l));

		if (s && ovl_addr_eq(&s->relay, relay) && (!peer || ovl_addr_eq(&s->peer, peer)))
			ovl_link_close(n->ls, l, now, reason);
	}
}

void nd_relay_handle(struct ovl_node *n, uint64_t now, struct ovl_link *l, const uint8_t *msg,
                     size_t len)
{
	const struct cert_addr *from = &ovl_link_peer(l)->addr;
	struct cert_addr who;
	struct ovl_link *to;
	const uint8_t *dgram = msg + RELAY_HDR;
	size_t dlen = len - RELAY_HDR;
	struct wire_writer w;
	int i;

	if (len < RELAY_HDR || ovl_link_state(l) != OVL_LINK_UP)
		return;
	memcpy(who.b, msg + 1, CERT_ADDR_LEN);
	switch (msg[0]) {
	case NM_RELAY: /* we relay: from -> who */
		if (dlen == 0 || nd_is_relayed(l))
			return;
		to = ovl_links_find(n->ls, &who);
		if (!to || to == l || nd_is_relayed(to) || ovl_link_state(to) != OVL_LINK_UP) {
			relay_error(n, now, l, &who);
			return;
		}
		w = wire_writer(n->rbuf, sizeof(n->rbuf));
		wire_put_u8(&w, NM_RELAYED);
		wire_put_bytes(&w, from->b, CERT_ADDR_LEN);
		wire_put_bytes(&w, dgram, dlen);
		hold(l, now);
		hold(to, now);
		n->st.relayed++;
		ovl_link_send(n->ls, to, now, n->rbuf, wire_len(&w));
		break;
	case NM_RELAYED: { /* relayed to us: who -> from -> us */
		uint8_t copy[RELAY_DGRAM_MAX];
		struct ovl_endpoint ep;

		if (dlen == 0 || dlen > RELAY_DGRAM_MAX || nd_is_relayed(l) ||
		    ovl_addr_eq(&who, &n->self.addr) || ovl_addr_eq(&who, from))
			return;
		i = slot_get(n, now, from, &who);
		if (i < 0) {
			LOG_RL(LOG_LVL_DEBUG,
			       "relayed datagram from %s dropped: no free relay slot",
			       ovl_link_peer(l)->name);
			return;
		}
		hold(l, now);
		ep = slot_ep((size_t)i);
		/* The engine calls back into us: the message must outlive that. */
		memcpy(copy, dgram, dlen);
		ovl_links_input(n->ls, now, &ep, copy, dlen);
		break;
	}
	case NM_RELAY_ERR:
		if (len != RELAY_HDR)
			return;
		close_relayed(n, now, from, &who, "the relay has no link to the peer");
		break;
	}
}

bool nd_relay_up(struct ovl_node *n, struct ovl_link *l)
{
	const struct rslot *s = slot_of(n, ovl_link_endpoint(l));

	if (!s)
		return true;
	/* The relay named the peer in NM_RELAYED; the handshake proved who it
	 * is. A relay that lied gets no link out of it. */
	if (!ovl_addr_eq(&s->peer, &ovl_link_peer(l)->addr)) {
		LOG_RL(LOG_LVL_WARN, "relayed link closed: %s answered for another member",
		       ovl_link_peer(l)->name);
		ovl_link_close(n->ls, l, n->now, "relayed link answered by another member");
		return false;
	}
	return true;
}

void nd_relay_down(struct ovl_node *n, struct ovl_link *l)
{
	const struct cert_addr *a = &ovl_link_peer(l)->addr;

	close_relayed(n, n->now, a, NULL, "the relay went away");
	for (size_t i = 0; n->slot && i < RELAY_SLOTS; i++)
		if (n->slot[i].used && ovl_addr_eq(&n->slot[i].relay, a))
			n->slot[i].used = false;
}
