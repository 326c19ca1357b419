// SPDX-License-Identifier: MIT
/*
 * vnet — the engine: address lease, resolution cache, packet path,
 * end-to-end sessions and shortcuts. See vnet.h and docs/vnet.md.
 *
 * Messages between two members' vnets (VM_*) travel either directly, as a
 * node direct message over the link between them (authenticated and
 * encrypted once, by the link), or inside an end-to-end session: a second
 * link engine whose datagrams are routed over the overlay to the peer
 * (proto VNET_PROTO, exact mode). That engine sees each peer at a made-up
 * endpoint that names its slot in our peer table, so the same handshake,
 * AEAD, replay window and rekeying as links protect tunnelled packets
 * against every relay on the way.
 */
#define LOG_SUBSYS "vnet"
#include "vnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "alloc.h"
#include "ip.h"
#include "log.h"
#include "vnet_internal.h"

/* ---- config ------------------------------------------------------------------- */

void vnet_config_default(struct vnet_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = VNET_MTU_MAX;
	cfg->shortcuts = VNET_SC_ALWAYS;
	cfg->lease_ttl_s = VNET_LEASE_TTL_S;
	cfg->alloc_delay_ms = 1000;
	cfg->conflict_check_ms = 30000;
	cfg->negative_ms = 3000;
	cfg->shortcut_idle_ms = 60000;
	cfg->session_idle_ms = 120000;
	cfg->queue_per_dst = 64;
	cfg->queue_total = 512;
	ovl_links_config_default(&cfg->sess);
	/* Sessions run over routes: pings cost every relay a packet. */
	cfg->sess.keepalive_ms = 25000;
	cfg->sess.dead_ms = 80000;
	cfg->sess.log_kind = "session";
}

int vnet_shortcuts_parse(const char *s, enum vnet_shortcuts *out, uint32_t *threshold_pps)
{
	char *end;
	unsigned long v;

	if (!strcmp(s, "always")) {
		*out = VNET_SC_ALWAYS;
		return 0;
	}
	if (!strcmp(s, "never")) {
		*out = VNET_SC_NEVER;
		return 0;
	}
	if (strncmp(s, "threshold:", 10) || s[10] < '1' || s[10] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s + 10, &end, 10);
	if (errno || *end || v > 1000000)
		return -EINVAL;
	*out = VNET_SC_THRESHOLD;
	*threshold_pps = (uint32_t)v;
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- packet pool and queues ---------------------------------------------------- */

static uint8_t *slot_data(struct vnet *v, uint32_t i)
{
	return v->pool + (size_t)i * VNET_MTU_MAX;
}

static bool q_push(struct vnet *v, struct vqueue *q, const uint8_t *pkt, size_t len, bool inbound,
                   const struct cert_addr *from)
{
	uint32_t i = v->free_head;

	if (i == NIL || q->len >= v->cfg.queue_per_dst || len > VNET_MTU_MAX) {
		v->st.queue_drops++;
		return false;
	}
	v->free_head = v->slots[i].next;
	v->slots[i] = (struct slot){.next = NIL, .len = (uint16_t)len, .inbound = inbound};
	if (from)
		v->slots[i].from = *from;
	memcpy(slot_data(v, i), pkt, len);
	if (q->len == 0)
		q->head = i;
	else
		v->slots[q->tail].next = i;
	q->tail = i;
	q->len++;
	return true;
}

/* Takes the first slot off q (the caller gives it back with slot_free). */
static uint32_t q_pop(struct vqueue *q, struct vnet *v)
{
	uint32_t i;

	if (q->len == 0)
		return NIL;
	i = q->head;
	q->head = v->slots[i].next;
	if (--q->len == 0)
		q->head = q->tail = NIL;
	return i;
}

static void slot_free(struct vnet *v, uint32_t i)
{
	v->slots[i].next = v->free_head;
	v->free_head = i;
}

static void q_drop_all(struct vnet *v, struct vqueue *q)
{
	uint32_t i;

	while ((i = q_pop(q, v)) != NIL) {
		v->st.queue_drops++;
		slot_free(v, i);
	}
}

/* ---- peers ---------------------------------------------------------------------- */

static struct vpeer *peer_find(struct vnet *v, const struct cert_addr *a)
{
	if (v->peer_mru && v->peer_mru->used && ovl_addr_eq(&v->peer_mru->addr, a))
		return v->peer_mru;
	for (size_t i = 0; i < PEERS_MAX; i++)
		if (v->peers[i].used && ovl_addr_eq(&v->peers[i].addr, a))
			return v->peer_mru = &v->peers[i];
	return NULL;
}

static struct vpeer *peer_get(struct vnet *v, const struct cert_addr *a)
{
	struct vpeer *p = peer_find(v, a);

	if (p)
		return p;
	for (size_t i = 0; i < PEERS_MAX; i++) {
		p = &v->peers[i];
		if (!p->used) {
			uint32_t gen = p->gen + 1;

			*p = (struct vpeer){
			        .used = true, .gen = gen, .addr = *a, .last_active = v->now};
			p->q.head = p->q.tail = NIL;
			return p;
		}
	}
	return NULL;
}

/* The endpoint the session engine knows peer p by (not a real address). */
static void peer_ep(const struct vnet *v, const struct vpeer *p, struct ovl_endpoint *ep)
{
	uint32_t idx = (uint32_t)(p - v->peers);

	memset(ep, 0, sizeof(*ep));
	ep->family = 6;
	ep->addr[0] = 0xfd;
	ep->addr[1] = 'v';
	memcpy(ep->addr + 4, &idx, 4);
	memcpy(ep->addr + 8, &p->gen, 4);
	ep->port = 1;
}

static struct vpeer *peer_of_ep(struct vnet *v, const struct ovl_endpoint *ep)
{
	uint32_t idx, gen;

	if (ep->family != 6 || ep->addr[0] != 0xfd || ep->addr[1] != 'v')
		return NULL;
	memcpy(&idx, ep->addr + 4, 4);
	memcpy(&gen, ep->addr + 8, 4);
	if (idx >= PEERS_MAX || !v->peers[idx].used || v->peers[idx].gen != gen)
		return NULL;
	return &v->peers[idx];
}

/* The certificate facts of a member we hold a link or a session with. */
static const struct cert_info *peer_cert(struct vnet *v, const struct vpeer *p)
{
	struct ovl_link *l = ovl_links_find(ovl_node_links_engine(v->node), &p->addr);

	if (l)
		return ovl_link_peer(l);
	return p->sess ? ovl_link_peer(p->sess) : NULL;
}

/* ---- cache ------------------------------------------------------------------------ */

static struct ventry *entry_find(struct vnet *v, uint32_t ip)
{
	if (v->mru && v->mru->state != E_FREE && v->mru->ip == ip)
		return v->mru;
	for (size_t i = 0; i < ENTRIES_MAX; i++)
		if (v->entries[i].state != E_FREE && v->entries[i].ip == ip)
			return v->mru = &v->entries[i];
	return NULL;
}

static void entry_free(struct vnet *v, struct ventry *e)
{
	q_drop_all(v, &e->q);
	if (e->state == E_RESOLVING)
		dht_cancel(v->dht, e->req);
	e->state = E_FREE;
}

/* A free entry; else the one expiring first that waits for nothing. */
static struct ventry *entry_new(struct vnet *v, uint32_t ip)
{
	struct ventry *victim = NULL;

	for (size_t i = 0; i < ENTRIES_MAX; i++) {
		struct ventry *e = &v->entries[i];

		if (e->state == E_FREE) {
			victim = e;
			break;
		}
		if (e->state != E_RESOLVING && (!victim || e->expires < victim->expires))
			victim = e;
	}
	if (!victim)
		return NULL;
	if (victim->state != E_FREE)
		entry_free(v, victim);
	*victim = (struct ventry){.state = E_FREE, .ip = ip};
	victim->q.head = victim->q.tail = NIL;
	return v->mru = victim;
}

static void resolved(struct vnet *v, struct ventry *e, const char *failed);
static void on_get(void *ctx, const struct dht_result *res);

/* Starts a lookup for e (state becomes RESOLVING). false: could not. */
static bool lookup(struct vnet *v, struct ventry *e)
{
	char key[VNET_IP_APPKEY_MAX];
	struct cert_addr k;
	size_t kl = vnet_ip_appkey(e->ip, key);

	dht_key_of(v->ns, (const uint8_t *)key, kl, &k);
	if (dht_get(v->dht, v->now, &k, on_get, v, &e->req) < 0)
		return false;
	e->state = E_RESOLVING;
	v->st.lookups++;
	return true;
}

/* ---- sending -------------------------------------------------------------------- */

/* An ICMP error about pkt (from our TUN) back into the TUN. Its source is
 * the unreachable destination itself: Linux drops packets arriving with one
 * of its own addresses as source (a martian), and we have no gateway
 * address; ping then says "From <dst> ... Destination Host Unreachable". */
static void icmp_unreach(struct vnet *v, const uint8_t *pkt, size_t len, uint8_t code)
{
	size_t n;

	if (!v->ip || len < VNET_IP4_HDR_MIN)
		return;
	n = vnet_icmp4_unreach(pkt, len, get32(pkt + 16), code, (uint16_t)v->cfg.mtu, v->icmp,
	                       sizeof(v->icmp));
	if (n) {
		v->st.icmp_sent++;
		v->st.tun_out++;
		v->cb.tun_write(v->cb.ctx, v->icmp, n);
	}
}

static void maybe_shortcut(struct vnet *v, struct vpeer *p)
{
	if (v->cfg.shortcuts == VNET_SC_NEVER)
		return;
	if (v->cfg.shortcuts == VNET_SC_THRESHOLD) {
		if (v->now - p->win_start >= 1000) {
			p->win_start = v->now;
			p->win_count = 0;
		}
		if (++p->win_count < v->cfg.threshold_pps)
			return;
	}
	if (v->now < p->sc_next)
		return;
	p->sc_backoff = p->sc_backoff ? p->sc_backoff * 2 : SC_BACKOFF_MIN;
	if (p->sc_backoff > SC_BACKOFF_MAX)
		p->sc_backoff = SC_BACKOFF_MAX;
	p->sc_next = v->now + p->sc_backoff;
	if (ovl_node_connect_to(v->node, v->now, &p->addr, OVL_KIND_SHORTCUT) == 0)
		v->st.shortcuts_asked++;
}

static void session_start(struct vnet *v, struct vpeer *p)
{
	struct ovl_endpoint ep;
	int rc;

	if (p->sess || p->connecting)
		return;
	peer_ep(v, p, &ep);
	rc = ovl_links_connect(v->sess, v->now, &ep, &p->addr);
	if (rc == 0 || rc == -EBUSY)
		p->connecting = true;
}

/* A VM message (buf[0] is its type) to p: directly if linked, else in the
 * session. false if neither is up (nothing sent). */
static bool send_msg(struct vnet *v, struct vpeer *p, const uint8_t *msg, size_t len)
{
	int rc = ovl_node_send_direct(v->node, v->now, &p->addr, VNET_PROTO, msg, len);

	if (rc == 0) {
		v->st.tx_direct++;
		return true;
	}
	if (rc != -ENOTCONN) /* linked, but the link would not take it */
		return false;
	if (p->sess && ovl_link_state(p->sess) == OVL_LINK_UP &&
	    ovl_link_send(v->sess, p->sess, v->now, msg, len) == 0) {
		v->st.tx_session++;
		return true;
	}
	return false;
}

static void peer_flush(struct vnet *v, struct vpeer *p);

/* An IP packet from our TUN to member p. */
static void send_ip(struct vnet *v, struct vpeer *p, const uint8_t *pkt, size_t len)
{
	bool linked = ovl_node_linked(v->node, &p->addr, NULL);

	p->last_active = v->now;
	if (!p->first_tx)
		p->first_tx = v->now;
	if (linked)
		p->sc_backoff = 0;
	else
		maybe_shortcut(v, p);
	/* Keep order: while packets wait for a path, newer ones queue behind. */
	if (p->q.len)
		peer_flush(v, p);
	if (p->q.len == 0) {
		v->buf[0] = VM_IP;
		memcpy(v->buf + 1, pkt, len);
		if (send_msg(v, p, v->buf, len + 1)) {
			p->tx++;
			return;
		}
	}
	if (q_push(v, &p->q, pkt, len, false, NULL))
		session_start(v, p);
}

/* Sends what waits for p, as far as a path allows. */
static void peer_flush(struct vnet *v, struct vpeer *p)
{
	uint32_t i;

	while (p->q.len) {
		i = p->q.head;
		v->buf[0] = VM_IP;
		memcpy(v->buf + 1, slot_data(v, i), v->slots[i].len);
		if (!send_msg(v, p, v->buf, v->slots[i].len + 1u))
			return;
		p->tx++;
		slot_free(v, q_pop(&p->q, v));
	}
}

/* ---- receiving ------------------------------------------------------------------- */

static void deliver_in(struct vnet *v, struct vpeer *p, const uint8_t *pkt, size_t len)
{
	p->rx++;
	p->last_active = v->now;
	v->st.tun_out++;
	v->cb.tun_write(v->cb.ctx, pkt, len);
}

/* An inbound packet whose source is src: is src p's address? */
static void check_source(struct vnet *v, struct vpeer *p, uint32_t src, const uint8_t *pkt,
                         size_t len)
{
	const struct cert_info *ci = peer_cert(v, p);
	struct ventry *e;
	char s[16];

	if (ci && ci->has_ip && (vn_ip_str(src, s), !strcmp(ci->ip, s))) {
		p->ip = src;
		deliver_in(v, p, pkt, len);
		return;
	}
	e = entry_find(v, src);
	if (e && e->state == E_OK && v->now < e->expires) {
		if (ovl_addr_eq(&e->addr, &p->addr)) {
			p->ip = src;
			deliver_in(v, p, pkt, len);
			return;
		}
		if (v->now - e->resolved_at < REVERIFY_MS)
			goto spoofed;
		entry_free(v, e); /* perhaps the address moved: ask again */
		e = NULL;
	} else if (e && e->state == E_NONE && v->now < e->expires) {
		goto spoofed;
	}
	if (!e || e->state != E_RESOLVING) {
		if (e)
			entry_free(v, e);
		e = entry_new(v, src);
		if (!e || !lookup(v, e)) {
			v->st.queue_drops++;
			return;
		}
	}
	q_push(v, &e->q, pkt, len, true, &p->addr);
	return;
spoofed:
	v->st.rx_spoofed++;
	vn_ip_str(src, s);
	LOG_RL(LOG_LVL_WARN, "dropped a packet from %s with source %s: not its address", p->name,
	       s);
}

static void handle_msg(struct vnet *v, struct vpeer *p, const uint8_t *msg, size_t len)
{
	struct vnet_pkt pk;
	const char *why;

	if (len < 1)
		return;
	switch (msg[0]) {
	case VM_IP:
		if (len - 1 > v->cfg.mtu || vnet_ip_parse(msg + 1, len - 1, &pk, &why) < 0 ||
		    pk.version != 4) {
			v->st.rx_bad++;
			return;
		}
		if (!v->ip || pk.dst4 != v->ip) {
			uint8_t nm[5] = {VM_NOT_MINE, (uint8_t)(pk.dst4 >> 24),
			                 (uint8_t)(pk.dst4 >> 16), (uint8_t)(pk.dst4 >> 8),
			                 (uint8_t)pk.dst4};

			v->st.rx_not_mine++;
			if (v->now - p->not_mine_at >= 1000) {
				p->not_mine_at = v->now;
				send_msg(v, p, nm, sizeof(nm));
			}
			return;
		}
		check_source(v, p, pk.src4, msg + 1, pk.total_len);
		break;
	case VM_NOT_MINE: {
		struct ventry *e;

		if (len != 5)
			return;
		e = entry_find(v, get32(msg + 1));
		if (e && e->state == E_OK && ovl_addr_eq(&e->addr, &p->addr))
			entry_free(v, e);
		break;
	}
	default:
		LOG_RL(LOG_LVL_DEBUG, "unknown vnet message %u from %s", msg[0], p->name);
		break;
	}
}

/* ---- lookups answered -------------------------------------------------------------- */

static void waiters_answer(struct vnet *v, uint32_t ip, const struct ventry *e, const char *err)
{
	for (size_t i = 0; i < WAITERS_MAX; i++) {
		struct waiter w = v->waiters[i];

		if (!w.fn || w.ip != ip)
			continue;
		v->waiters[i].fn = NULL;
		if (e && e->state == E_OK)
			w.fn(w.ctx, ip, &e->addr, e->name, NULL);
		else if (err) {
			char why[64];

			snprintf(why, sizeof(why), "lookup failed: %s", err);
			w.fn(w.ctx, ip, NULL, NULL, why);
		} else {
			w.fn(w.ctx, ip, NULL, NULL, "nobody holds this address");
		}
	}
}

/* e just became OK or NONE (failed: the lookup itself failed, why): its
 * waiting packets go on. */
static void resolved(struct vnet *v, struct ventry *e, const char *failed)
{
	struct vpeer *p = e->state == E_OK ? peer_get(v, &e->addr) : NULL;
	uint32_t i;

	if (p) {
		p->ip = e->ip;
		snprintf(p->name, sizeof(p->name), "%s", e->name);
	}
	while ((i = q_pop(&e->q, v)) != NIL) {
		struct slot *s = &v->slots[i];
		const uint8_t *d = slot_data(v, i);

		if (s->inbound) {
			struct vpeer *from = peer_find(v, &s->from);

			if (p && from == p)
				deliver_in(v, p, d, s->len);
			else if (failed)
				v->st.queue_drops++; /* unverified: not delivered */
			else
				v->st.rx_spoofed++;
		} else if (p) {
			send_ip(v, p, d, s->len);
		} else {
			icmp_unreach(v, d, s->len, 1);
		}
		slot_free(v, i);
	}
	waiters_answer(v, e->ip, e, failed);
}

static void on_get(void *ctx, const struct dht_result *res)
{
	struct vnet *v = ctx;
	struct ventry *e = NULL;
	size_t w;

	for (size_t i = 0; i < ENTRIES_MAX; i++)
		if (v->entries[i].state == E_RESOLVING && v->entries[i].req == res->req) {
			e = &v->entries[i];
			break;
		}
	if (!e)
		return;
	if (res->status != DHT_OK) {
		char s[16];
		uint32_t ip = e->ip;

		vn_ip_str(ip, s);
		LOG_RL(LOG_LVL_INFO, "looking up %s: %s", s, dht_status_name(res->status));
		e->state = E_NONE; /* resolved() answers the waiting packets with ICMP */
		e->expires = v->now;
		resolved(v, e, dht_status_name(res->status));
		e->state = E_FREE;
		return;
	}
	e->resolved_at = v->now;
	if (vn_pick_holder(e->ip, res, &w)) {
		uint64_t ttl = res->values[w].ttl;

		e->state = E_OK;
		e->addr = res->values[w].writer;
		snprintf(e->name, sizeof(e->name), "%s", res->values[w].writer_name);
		e->expires = v->now + (ttl ? ttl : 1) * 1000;
	} else {
		e->state = E_NONE;
		e->expires = v->now + v->cfg.negative_ms;
	}
	resolved(v, e, NULL);
}

/* ---- the TUN side ---------------------------------------------------------------- */

void vnet_tun_input(struct vnet *v, uint64_t now, const uint8_t *pkt, size_t len)
{
	struct vnet_pkt pk;
	struct ventry *e;
	struct vpeer *p;
	const char *why;

	v->now = now;
	v->st.tun_in++;
	if (vnet_ip_parse(pkt, len, &pk, &why) < 0 || len > v->cfg.mtu) {
		v->st.rx_bad++;
		return;
	}
	if (pk.version != 4 || !v->ip) {
		v->st.dropped++; /* IPv6 is not carried yet; no address, no traffic */
		return;
	}
	len = pk.total_len;
	if (!cert_network_has_host(&v->cfg.net, pk.dst4) || pk.dst4 == v->ip) {
		/* broadcast, multicast, or outside the group's network */
		v->st.dropped++;
		return;
	}
	e = entry_find(v, pk.dst4);
	if (e && (e->state == E_OK || e->state == E_NONE) && now >= e->expires) {
		entry_free(v, e);
		e = NULL;
	}
	if (!e) {
		e = entry_new(v, pk.dst4);
		if (!e || !lookup(v, e)) {
			if (e)
				e->state = E_FREE;
			v->st.queue_drops++;
			return;
		}
	}
	switch (e->state) {
	case E_RESOLVING:
		q_push(v, &e->q, pkt, len, false, NULL);
		break;
	case E_NONE:
		icmp_unreach(v, pkt, len, 1);
		break;
	case E_OK:
		p = peer_get(v, &e->addr);
		if (!p) {
			v->st.dropped++;
			return;
		}
		if (!p->ip)
			p->ip = e->ip;
		send_ip(v, p, pkt, len);
		break;
	case E_FREE:
		break;
	}
}

/* ---- the node's side -------------------------------------------------------------- */

static void up_deliver(void *ctx, uint64_t now, const struct ovl_route_info *info,
                       const uint8_t *payload, size_t len)
{
	struct vnet *v = ctx;
	struct vpeer *p;
	struct ovl_endpoint ep;

	v->now = now;
	if (info->direct) {
		p = peer_get(v, &info->src);
		if (!p) {
			v->st.dropped++;
			return;
		}
		if (!p->name[0] && peer_cert(v, p))
			snprintf(p->name, sizeof(p->name), "%s", peer_cert(v, p)->name);
		v->st.rx_direct++;
		handle_msg(v, p, payload, len);
		/* A path just proved to work: what waits for the session can go. */
		if (p->q.len)
			peer_flush(v, p);
		return;
	}
	/* Routed: a session datagram, for the session engine to authenticate. */
	if (info->mode != OVL_ROUTE_EXACT ||
	    !ovl_addr_eq(&info->dst, &ovl_node_self(v->node)->addr))
		return;
	p = peer_get(v, &info->src);
	if (!p) {
		v->st.dropped++;
		return;
	}
	peer_ep(v, p, &ep);
	ovl_links_input(v->sess, now, &ep, payload, len);
}

static void up_route_error(void *ctx, uint64_t now, uint32_t id, const struct cert_addr *dst,
                           const char *reason)
{
	struct vnet *v = ctx;
	struct vpeer *p = peer_find(v, dst);

	(void)id;
	v->now = now;
	if (!p || (!p->sess && !p->connecting))
		return;
	LOG_RL(LOG_LVL_INFO, "%s is unreachable over the overlay (%s)",
	       p->name[0] ? p->name : "a peer", reason);
	/* Cached addresses that lead there are stale. */
	for (size_t i = 0; i < ENTRIES_MAX; i++)
		if (v->entries[i].state == E_OK && ovl_addr_eq(&v->entries[i].addr, dst))
			entry_free(v, &v->entries[i]);
	if (p->sess)
		ovl_link_close(v->sess, p->sess, now, "peer unreachable");
}

static void housekeep(struct vnet *v)
{
	v->housekeep_at = v->now + HOUSEKEEP_MS;
	for (size_t i = 0; i < PEERS_MAX; i++) {
		struct vpeer *p = &v->peers[i];
		uint64_t idle;
		enum ovl_link_kind kind;

		if (!p->used)
			continue;
		idle = v->now - p->last_active;
		if (idle >= v->cfg.shortcut_idle_ms && ovl_node_linked(v->node, &p->addr, &kind) &&
		    kind == OVL_KIND_SHORTCUT)
			ovl_node_close_shortcut(v->node, v->now, &p->addr, "idle shortcut");
		if (p->sess && idle >= v->cfg.session_idle_ms)
			ovl_link_close(v->sess, p->sess, v->now, "idle session");
		/* A session whose handshake has not finished in time has failed. */
		if (p->q.len && !p->sess && !p->connecting &&
		    !ovl_node_linked(v->node, &p->addr, NULL))
			q_drop_all(v, &p->q);
		if (!p->sess && !p->connecting && p->q.len == 0 && idle >= PEER_FORGET_MS)
			p->used = false;
	}
}

static uint64_t up_tick(void *ctx, uint64_t now)
{
	struct vnet *v = ctx;
	uint64_t next, t;

	v->now = now;
	vn_alloc_tick(v);
	if (now >= v->housekeep_at)
		housekeep(v);
	next = ovl_links_tick(v->sess, now);
	t = v->housekeep_at;
	if (t < next)
		next = t;
	if ((v->astate == A_RETRY || v->astate == A_WAIT) && v->alloc_at < next)
		next = v->alloc_at > now ? v->alloc_at : now + 100;
	if (v->astate == A_WAIT)
		next = next < now + 200 ? next : now + 200;
	if (v->astate == A_HELD && v->check_at < next)
		next = v->check_at;
	return next;
}

static void up_crl_updated(void *ctx, uint64_t now)
{
	struct vnet *v = ctx;
	struct ovl_crypto *c = ovl_node_crypto(v->node);

	v->now = now;
	for (size_t i = ovl_links_count(v->sess); i-- > 0;) {
		struct ovl_link *l = ovl_links_at(v->sess, i);

		if (ovl_link_state(l) == OVL_LINK_UP &&
		    ovl_crypto_revoked(c, ovl_link_peer(l)->serial))
			ovl_link_close(v->sess, l, now, "certificate revoked");
	}
}

static void vnet_free(struct vnet *v)
{
	if (!v)
		return;
	ovl_links_free(v->sess);
	free(v->peers);
	free(v->entries);
	free(v->slots);
	free(v->pool);
	free(v);
}

static void up_detach(void *ctx)
{
	vnet_free(ctx);
}

/* ---- the session engine's callbacks ------------------------------------------------- */

static void s_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct vnet *v = ctx;
	struct vpeer *p = peer_of_ep(v, to);

	if (p)
		ovl_node_route(v->node, v->now, &p->addr, OVL_ROUTE_EXACT, VNET_PROTO, buf, len,
		               NULL);
}

static void s_random(void *ctx, void *buf, size_t len)
{
	struct vnet *v = ctx;

	v->cb.random(v->cb.ctx, buf, len);
}

static time_t s_wall(void *ctx)
{
	struct vnet *v = ctx;

	return v->cb.wall(v->cb.ctx);
}

static void s_up(void *ctx, struct ovl_link *l)
{
	struct vnet *v = ctx;
	struct vpeer *p = peer_of_ep(v, ovl_link_endpoint(l));

	/* The session's certificate must be the member the route names. */
	if (!p || !ovl_addr_eq(&p->addr, &ovl_link_peer(l)->addr)) {
		LOG_RL(LOG_LVL_WARN,
		       "session with %s refused: it came from another member's address",
		       ovl_link_peer(l)->name);
		ovl_link_close(v->sess, l, v->now, "identity does not match the route");
		return;
	}
	if (p->sess && p->sess != l)
		ovl_link_set_user(p->sess, NULL);
	p->sess = l;
	p->connecting = false;
	snprintf(p->name, sizeof(p->name), "%s", ovl_link_peer(l)->name);
	ovl_link_set_user(l, p);
	v->st.sessions_up++;
	peer_flush(v, p);
}

static void s_down(void *ctx, struct ovl_link *l, const char *reason)
{
	struct vnet *v = ctx;
	struct vpeer *p = ovl_link_user(l);

	(void)reason;
	if (p && p->sess == l) {
		p->sess = NULL;
		p->connecting = false;
	}
	(void)v;
}

static void s_failed(void *ctx, const struct ovl_endpoint *ep, const struct cert_addr *expect,
                     const char *reason)
{
	struct vnet *v = ctx;
	struct vpeer *p = peer_of_ep(v, ep);

	(void)expect;
	if (!p)
		return;
	p->connecting = false;
	LOG_RL(LOG_LVL_INFO, "no session with %s: %s", p->name[0] ? p->name : "a peer", reason);
	if (!ovl_node_linked(v->node, &p->addr, NULL))
		q_drop_all(v, &p->q);
}

static void s_recv(void *ctx, struct ovl_link *l, const uint8_t *msg, size_t len)
{
	struct vnet *v = ctx;
	struct vpeer *p = ovl_link_user(l);

	if (!p)
		return;
	v->st.rx_session++;
	handle_msg(v, p, msg, len);
}

/* ---- life ------------------------------------------------------------------------- */

int vnet_new(struct ovl_node *node, struct dht *dht, const struct vnet_config *cfg,
             const struct vnet_cb *cb, struct vnet **out)
{
	struct ovl_links_cb scb = {
	        .send = s_send,
	        .random = s_random,
	        .wall = s_wall,
	        .up = s_up,
	        .down = s_down,
	        .failed = s_failed,
	        .recv = s_recv,
	};
	struct ovl_upper up = {
	        .proto = VNET_PROTO,
	        .deliver = up_deliver,
	        .route_error = up_route_error,
	        .tick = up_tick,
	        .detach = up_detach,
	        .crl_updated = up_crl_updated,
	};
	struct ovl_links_config lc;
	struct vnet *v;
	int rc;

	if (!node || !dht || !cfg || !cb || !cb->tun_write || !cb->address || !cb->wall ||
	    !cb->random || cfg->mtu < VNET_MTU_MIN || cfg->mtu > VNET_MTU_MAX ||
	    cfg->net.prefix < 1 || cfg->net.prefix > 30 || cfg->queue_total == 0 ||
	    cfg->queue_total > 65536 || cfg->queue_per_dst == 0 || cfg->lease_ttl_s < 10 ||
	    (cfg->fixed_ip && !cert_network_has_host(&cfg->net, cfg->fixed_ip)) ||
	    cfg->shortcuts >= VNET_SC_MAX ||
	    (cfg->shortcuts == VNET_SC_THRESHOLD && cfg->threshold_pps == 0))
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->cfg = *cfg;
	v->cb = *cb;
	v->node = node;
	v->dht = dht;
	v->ns = dht_namespace(dht);
	v->fixed = cfg->fixed_ip != 0;
	v->retry_ms = RETRY_MIN_MS;
	v->peers = calloc(PEERS_MAX, sizeof(*v->peers));
	v->entries = calloc(ENTRIES_MAX, sizeof(*v->entries));
	v->slots = calloc(cfg->queue_total, sizeof(*v->slots));
	v->pool = malloc((size_t)cfg->queue_total * VNET_MTU_MAX);
	if (!v->peers || !v->entries || !v->slots || !v->pool) {
		vnet_free(v);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cfg->queue_total; i++)
		v->slots[i].next = i + 1 < cfg->queue_total ? i + 1 : NIL;
	v->free_head = 0;
	vnet_alloc_seq_init(&v->seq, &cfg->net, &ovl_node_self(node)->addr);
	lc = cfg->sess;
	lc.crypto = ovl_node_crypto(node);
	scb.ctx = v;
	rc = ovl_links_new(&lc, &scb, &v->sess);
	if (rc < 0) {
		vnet_free(v);
		return rc;
	}
	up.ctx = v;
	rc = ovl_node_attach(node, &up);
	if (rc < 0) {
		vnet_free(v);
		return rc;
	}
	/* A fixed address is ours at once; the DHT hears of it once we are in the ring. */
	if (v->fixed) {
		v->since = cfg->last_since ? cfg->last_since : (uint64_t)cb->wall(cb->ctx);
		v->ip = cfg->fixed_ip;
	}
	*out = v;
	return 0;
}

/* ---- queries ---------------------------------------------------------------------- */

uint32_t vnet_ip(const struct vnet *v)
{
	return v->ip;
}

const struct vnet_config *vnet_config(const struct vnet *v)
{
	return &v->cfg;
}

int vnet_resolve(struct vnet *v, uint64_t now, uint32_t ip, vnet_resolve_fn done, void *ctx)
{
	struct ventry *e;
	size_t slot = WAITERS_MAX;

	v->now = now;
	if (!cert_network_has_host(&v->cfg.net, ip))
		return -EINVAL;
	for (size_t i = 0; i < WAITERS_MAX; i++)
		if (!v->waiters[i].fn) {
			slot = i;
			break;
		}
	if (slot == WAITERS_MAX)
		return -ENOBUFS;
	e = entry_find(v, ip);
	if (e && e->state != E_RESOLVING && now >= e->expires) {
		entry_free(v, e);
		e = NULL;
	}
	if (!e) {
		e = entry_new(v, ip);
		if (!e)
			return -ENOBUFS;
		if (!lookup(v, e)) {
			e->state = E_FREE;
			return -ENOBUFS;
		}
	}
	v->waiters[slot] = (struct waiter){.ip = ip, .fn = done, .ctx = ctx};
	if (e->state != E_RESOLVING)
		waiters_answer(v, ip, e, NULL);
	return 0;
}

void vnet_resolve_cancel(struct vnet *v, void *ctx)
{
	for (size_t i = 0; i < WAITERS_MAX; i++)
		if (v->waiters[i].ctx == ctx)
			v->waiters[i].fn = NULL;
}

void vnet_stats(const struct vnet *v, struct vnet_stats *out)
{
	*out = v->st;
}

size_t vnet_peers(const struct vnet *v, struct vnet_peer_info *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < PEERS_MAX; i++) {
		const struct vpeer *p = &v->peers[i];

		if (!p->used || (!p->tx && !p->rx && !p->sess))
			continue;
		if (n < max)
			out[n] = (struct vnet_peer_info){
			        .ip = p->ip,
			        .addr = p->addr,
			        .direct = ovl_node_linked(v->node, &p->addr, NULL),
			        .relayed = ovl_node_link_relayed(v->node, &p->addr),
			        .session = p->sess != NULL,
			        .tx_packets = p->tx,
			        .rx_packets = p->rx,
			};
		if (n < max) {
			uint64_t since = ovl_node_direct_since(v->node, &p->addr);

			memcpy(out[n].name, p->name, sizeof(p->name));
			out[n].direct_after_ms = since && p->first_tx && since >= p->first_tx
			                                 ? (int64_t)(since - p->first_tx)
			                                 : -1;
		}
		n++;
	}
	return n;
}

uint32_t vnet_ip_of(const struct vnet *v, const struct cert_addr *addr)
{
	for (size_t i = 0; i < PEERS_MAX; i++)
		if (v->peers[i].used && ovl_addr_eq(&v->peers[i].addr, addr))
			return v->peers[i].ip;
	return 0;
}
