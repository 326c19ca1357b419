// SPDX-License-Identifier: MIT
/*
 * link — the engine: index table, links, sessions, DATA, keepalives, rekey,
 * roaming, close. The handshake transport is in link_hs.c. docs/links.md
 * describes the wire format and the state machines.
 */
#define LOG_SUBSYS "link"
#include "link_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "log.h"
#include "wire.h"

void ovl_links_config_default(struct ovl_links_config *cfg)
{
	struct ovl_crypto *c = cfg->crypto;

	memset(cfg, 0, sizeof(*cfg));
	cfg->crypto = c;
	cfg->keepalive_ms = 10000;
	cfg->dead_ms = 30000;
	cfg->rekey_ms = 120000;
	cfg->rekey_packets = 1ull << 40;
	cfg->hs_timeout_ms = 10000;
	cfg->hs_rto_ms = 300;
	cfg->max_links = 1024;
	cfg->max_half_open = 64;
}

/* ---- index table: local index -> handshake or session ------------------ */

/* Each link holds at most OLD_MAX + 2 sessions and one handshake; half open
 * handshakes come on top. The table stays at most half full. */
#define IDX_CAP_MAX (16u << 20)
#define IDX_CAP_MIN 64u

static size_t idx_home(uint32_t key, size_t cap)
{
	/* Indices are random: their low bits are already well spread. */
	return (key * 2654435761u) & (cap - 1);
}

static size_t idx_slot(const struct ovl_links *ls, uint32_t key)
{
	return idx_home(key, ls->idx_cap);
}

struct idx_entry *lk_idx_find(struct ovl_links *ls, uint32_t key)
{
	for (size_t i = idx_slot(ls, key);; i = (i + 1) & (ls->idx_cap - 1)) {
		if (ls->idx[i].kind == IDX_EMPTY)
			return NULL;
		if (ls->idx[i].key == key)
			return &ls->idx[i];
	}
}

static void idx_insert(struct idx_entry *tab, size_t cap, const struct idx_entry *e)
{
	size_t i = idx_home(e->key, cap);

	while (tab[i].kind != IDX_EMPTY)
		i = (i + 1) & (cap - 1);
	tab[i] = *e;
}

/* Doubles the table: it starts small (a node has a few dozen links, the
 * engine allows a thousand) and stays at most half full. */
static int idx_grow(struct ovl_links *ls)
{
	size_t cap = ls->idx_cap * 2;
	struct idx_entry *tab;

	if (cap > IDX_CAP_MAX)
		return -ENOSPC;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (size_t i = 0; i < ls->idx_cap; i++)
		if (ls->idx[i].kind != IDX_EMPTY)
			idx_insert(tab, cap, &ls->idx[i]);
	free(ls->idx);
	ls->idx = tab;
	ls->idx_cap = cap;
	return 0;
}

static int idx_put(struct ovl_links *ls, uint32_t key, int kind, void *p)
{
	const struct idx_entry e = {.key = key, .kind = (uint8_t)kind, .p = p};

	if (ls->idx_n + 1 > ls->idx_cap / 2 && idx_grow(ls) < 0)
		return -ENOSPC;
	idx_insert(ls->idx, ls->idx_cap, &e);
	ls->idx_n++;
	return 0;
}

void lk_idx_del(struct ovl_links *ls, uint32_t key)
{
	size_t mask = ls->idx_cap - 1, i, j;
	struct idx_entry *e = lk_idx_find(ls, key);

	if (!e)
		return;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	i = (size_t)(e - ls->idx);
	ls->idx[i].kind = IDX_EMPTY;
	ls->idx_n--;
	for (j = (i + 1) & mask; ls->idx[j].kind != IDX_EMPTY; j = (j + 1) & mask) {
		size_t home = idx_slot(ls, ls->idx[j].key);

		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			ls->idx[i] = ls->idx[j];
			ls->idx[j].kind = IDX_EMPTY;
			i = j;
		}
	}
}

void lk_idx_set(struct ovl_links *ls, uint32_t key, int kind, void *p)
{
	struct idx_entry *e = lk_idx_find(ls, key);

	if (e) {
		e->kind = (uint8_t)kind;
		e->p = p;
	}
}

/* A fresh local index, registered to p. 0 or -ENOSPC. */
int lk_idx_new(struct ovl_links *ls, int kind, void *p, uint32_t *out)
{
	for (int tries = 0; tries < 64; tries++) {
		uint32_t k;

		ls->cb.random(ls->cb.ctx, &k, sizeof(k));
		if (k == 0 || lk_idx_find(ls, k))
			continue;
		if (idx_put(ls, k, kind, p) < 0)
			return -ENOSPC;
		*out = k;
		return 0;
	}
	return -ENOSPC;
}

/* ---- engine -------------------------------------------------------------- */

int ovl_links_new(const struct ovl_links_config *cfg, const struct ovl_links_cb *cb,
                  struct ovl_links **out)
{
	struct ovl_links *ls;

	if (!cfg->crypto || !cb->send || !cb->random || !cb->wall || !cfg->keepalive_ms ||
	    cfg->dead_ms <= cfg->keepalive_ms || !cfg->rekey_ms || !cfg->rekey_packets ||
	    !cfg->hs_timeout_ms || !cfg->hs_rto_ms || cfg->max_links < 2 ||
	    cfg->max_links > (1u << 20))
		return -EINVAL;
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->cfg = *cfg;
	ls->cb = *cb;
	ls->idx_cap = IDX_CAP_MIN;
	ls->idx = calloc(ls->idx_cap, sizeof(*ls->idx));
	if (!ls->idx) {
		free(ls);
		return -ENOMEM;
	}
	*out = ls;
	return 0;
}

void lk_session_free(struct ovl_links *ls, struct session *s)
{
	if (!s)
		return;
	lk_idx_del(ls, s->local);
	ovl_aead_free(s->tx);
	ovl_aead_free(s->rx);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static void link_free(struct ovl_links *ls, struct ovl_link *l)
{
	lk_session_free(ls, l->cur);
	for (int i = 0; i < OLD_MAX; i++)
		lk_session_free(ls, l->old[i]);
	lk_session_free(ls, l->next);
	free(l);
}

void ovl_links_free(struct ovl_links *ls)
{
	if (!ls)
		return;
	for (size_t i = 0; i < ls->n_hs; i++)
		lk_hs_destroy(ls, ls->hss[i]);
	for (size_t i = 0; i < ls->n_links; i++)
		link_free(ls, ls->links[i]);
	for (size_t i = 0; i < ls->n_reap; i++)
		link_free(ls, ls->reap[i]);
	for (size_t i = 0; i < ls->n_tombs; i++)
		lk_session_free(ls, ls->tombs[i]);
	free(ls->tombs);
	free(ls->hss);
	free(ls->links);
	free(ls->addrs);
	free(ls->reap);
	free(ls->idx);
	OPENSSL_cleanse(ls->cookie_key, sizeof(ls->cookie_key));
	OPENSSL_cleanse(ls->cookie_prev, sizeof(ls->cookie_prev));
	free(ls);
}

int lk_push(void ***arr, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		void **q = realloc(*arr, nc * sizeof(*q));

		if (!q)
			return -ENOMEM;
		*arr = q;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

void lk_remove(void **arr, size_t *n, const void *p)
{
	for (size_t i = 0; i < *n; i++) {
		if (arr[i] == p) {
			arr[i] = arr[--*n];
			return;
		}
	}
}

void lk_send(struct ovl_links *ls, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	ls->st.tx_datagrams++;
	ls->cb.send(ls->cb.ctx, to, buf, len);
}

/* Frees the links that went down during this call, now that no callback runs. */
static void reap(struct ovl_links *ls)
{
	for (size_t i = 0; i < ls->n_reap; i++)
		link_free(ls, ls->reap[i]);
	ls->n_reap = 0;
	for (size_t i = 0; i < ls->n_hs;) {
		struct link_hs *h = ls->hss[i];

		if (h->dead) {
			ls->hss[i] = ls->hss[--ls->n_hs];
			lk_hs_destroy(ls, h);
		} else {
			i++;
		}
	}
}

/*
 * Every public entry point is bracketed by enter/leave. Callbacks may call
 * back in (close a link from `up`, connect from `failed`); what goes down is
 * freed only when the outermost call returns, never inside a callback frame.
 */
static void enter(struct ovl_links *ls)
{
	ls->depth++;
}

static void leave(struct ovl_links *ls)
{
	if (--ls->depth == 0)
		reap(ls);
}

/* ---- links --------------------------------------------------------------- */

static int links_push(struct ovl_links *ls, struct ovl_link *l, const struct cert_addr *a)
{
	if (ls->n_links == ls->cap_links) {
		size_t nc = ls->cap_links ? ls->cap_links * 2 : 8;
		struct ovl_link **nl = realloc(ls->links, nc * sizeof(*nl));
		struct cert_addr *na;

		if (!nl)
			return -ENOMEM;
		ls->links = nl;
		na = realloc(ls->addrs, nc * sizeof(*na));
		if (!na)
			return -ENOMEM;
		ls->addrs = na;
		ls->cap_links = nc;
	}
	ls->addrs[ls->n_links] = *a;
	ls->links[ls->n_links++] = l;
	return 0;
}

/* Removes l, moving the last link (and its address) into its place. */
static void links_remove(struct ovl_links *ls, const struct ovl_link *l)
{
	for (size_t i = 0; i < ls->n_links; i++) {
		if (ls->links[i] == l) {
			ls->n_links--;
			ls->links[i] = ls->links[ls->n_links];
			ls->addrs[i] = ls->addrs[ls->n_links];
			return;
		}
	}
}

struct ovl_link *ovl_links_find(struct ovl_links *ls, const struct cert_addr *peer)
{
	for (size_t i = 0; i < ls->n_links; i++)
		if (ovl_addr_eq(&ls->addrs[i], peer))
			return ls->links[i];
	return NULL;
}

const struct cert_addr *ovl_links_addrs(const struct ovl_links *ls)
{
	return ls->addrs;
}

size_t ovl_links_count(const struct ovl_links *ls)
{
	return ls->n_links;
}

struct ovl_link *ovl_links_at(struct ovl_links *ls, size_t i)
{
	return i < ls->n_links ? ls->links[i] : NULL;
}

size_t ovl_links_pending(const struct ovl_links *ls)
{
	size_t n = 0;

	for (size_t i = 0; i < ls->n_hs; i++)
		n += !ls->hss[i]->dead;
	return n;
}

const struct cert_info *ovl_link_peer(const struct ovl_link *l)
{
	return &l->peer;
}

const struct ovl_endpoint *ovl_link_endpoint(const struct ovl_link *l)
{
	return &l->ep;
}

const struct ovl_endpoint *ovl_link_observed(const struct ovl_link *l)
{
	return &l->observed;
}

uint32_t ovl_link_rtt_ms(const struct ovl_link *l)
{
	return l->srtt;
}

enum ovl_link_state ovl_link_state(const struct ovl_link *l)
{
	return l->state;
}

bool ovl_link_initiator(const struct ovl_link *l)
{
	return l->cur && l->cur->initiator;
}

void ovl_link_set_user(struct ovl_link *l, void *user)
{
	l->user = user;
}

void *ovl_link_user(const struct ovl_link *l)
{
	return l->user;
}

void ovl_links_stats(const struct ovl_links *ls, struct ovl_links_stats *out)
{
	*out = ls->st;
}

/* Takes l down: no more traffic, the down callback, freed at the end of the call. */
uint64_t ovl_links_observed_moves(const struct ovl_links *ls)
{
	return ls->st.observed_moves;
}

void lk_link_down(struct ovl_links *ls, struct ovl_link *l, const char *reason)
{
	char who[16];

	if (l->state == OVL_LINK_CLOSING)
		return;
	l->state = OVL_LINK_CLOSING;
	links_remove(ls, l);
	if (l->rekey) {
		l->rekey->rekey_of = NULL;
		l->rekey->dead = true;
		l->rekey = NULL;
	}
	/* No datagram may reach this link's sessions any more. */
	if (l->cur)
		lk_idx_del(ls, l->cur->local);
	for (int i = 0; i < OLD_MAX; i++)
		if (l->old[i])
			lk_idx_del(ls, l->old[i]->local);
	if (l->next)
		lk_idx_del(ls, l->next->local);
	ovl_addr_short(&l->peer.addr, who, sizeof(who));
	LOG(LOG_LVL_INFO, "%s to %s (%s) down: %s", lk_kind(ls), l->peer.name, who, reason);
	if (ls->cb.down)
		ls->cb.down(ls->cb.ctx, l, reason);
	if (lk_push((void ***)&ls->reap, &ls->n_reap, &ls->cap_reap, l) < 0)
		link_free(ls, l); /* out of memory: free now rather than leak */
}

/* How long a replaced session stays open after the peer last used it: as
 * long as the link itself would live without traffic. After crossed
 * handshakes each side may keep sending on the session it started, so the
 * peer's is "old" here yet carries everything the peer sends; with
 * one-sided keepalive its packets can be a keepalive period apart, and a
 * shorter grace (it was 15 s) let one lost PONG close it while the link
 * stayed up — a half-open link that swallowed routed messages. */
static uint64_t prev_grace(const struct ovl_links *ls)
{
	return ls->cfg.dead_ms;
}

/* When an old session closes: grace after the later of retirement and last use. */
static uint64_t old_expiry(const struct ovl_links *ls, const struct session *s)
{
	return (s->last_rx > s->retired ? s->last_rx : s->retired) + prev_grace(ls);
}

/* Makes s current; the former current joins the old ones (the stalest leaves). */
static void make_current(struct ovl_links *ls, struct ovl_link *l, struct session *s, uint64_t now)
{
	int slot = 0;

	if (l->cur) {
		for (int i = 0; i < OLD_MAX; i++) {
			if (!l->old[i]) {
				slot = i;
				break;
			}
			if (old_expiry(ls, l->old[i]) < old_expiry(ls, l->old[slot]))
				slot = i;
		}
		lk_session_free(ls, l->old[slot]);
		l->old[slot] = l->cur;
		l->cur->retired = now;
	}
	l->cur = s;
	l->ep = s->ep;
	ls->st.rekeys++;
	lk_wake(ls);
}

/* Puts s into the link to peer (new or existing); fires `up` for a new link. */
int lk_install(struct ovl_links *ls, struct session *s, const struct cert_info *peer, uint64_t now)
{
	struct ovl_link *l = ovl_links_find(ls, &peer->addr);
	char who[16];

	lk_wake(ls); /* a new link pings at once; a new session confirms */
	if (!l) {
		if (ls->n_links >= ls->cfg.max_links)
			return -ENOSPC;
		l = calloc(1, sizeof(*l));
		if (!l || links_push(ls, l, &peer->addr) < 0) {
			free(l);
			return -ENOMEM;
		}
		l->ls = ls;
		l->peer = *peer;
		l->state = OVL_LINK_UP;
		l->cur = s;
		l->ep = s->ep;
		l->last_rx = now;
		l->next_ping = now; /* first ping at once: RTT and STUN early */
		s->link = l;
		lk_hs_abandon(ls, &peer->addr);
		ovl_addr_short(&peer->addr, who, sizeof(who));
		LOG(LOG_LVL_INFO, "%s to %s (%s) up, %s", lk_kind(ls), peer->name, who,
		    s->initiator ? "we initiated" : "they initiated");
		if (ls->cb.up)
			ls->cb.up(ls->cb.ctx, l);
		return 0;
	}
	s->link = l;
	l->peer = *peer; /* a renewed certificate may carry new dates */
	l->last_rx = now;
	if (!s->initiator) {
		/* Wait until the initiator sends on it (see struct ovl_link). */
		lk_session_free(ls, l->next);
		l->next = s;
		return 0;
	}
	/* A session we started and the peer confirmed is what we send on; a
	 * ping on it at once lets the peer switch to it within a round trip. */
	make_current(ls, l, s, now);
	l->next_ping = now;
	return 0;
}

/* ---- DATA ------------------------------------------------------------------ */

static int seal_send(struct ovl_links *ls, struct session *s, const struct ovl_endpoint *to,
                     uint8_t inner, const uint8_t *msg, size_t len)
{
	uint8_t *buf = ls->buf;
	struct wire_writer w = wire_writer(buf, sizeof(ls->buf));
	uint8_t *pt;

	if (s->tx_ctr >= 2 * ls->cfg.rekey_packets || s->tx_ctr == UINT64_MAX)
		return -EKEYEXPIRED; /* never reuse a nonce; a rekey is overdue */
	wire_put_u8(&w, MSG_DATA);
	wire_put_u8(&w, 0);
	wire_put_u16(&w, 0);
	wire_put_u32(&w, s->remote);
	wire_put_u64(&w, s->tx_ctr);
	pt = wire_put_space(&w, 1 + len + OVL_AEAD_TAG_LEN);
	if (!pt)
		return -EMSGSIZE;
	pt[0] = inner;
	if (len)
		memcpy(pt + 1, msg, len);
	if (ovl_aead_seal(s->tx, s->tx_ctr, buf, DATA_HDR, pt, 1 + len, pt) < 0)
		return -EIO;
	if (++s->tx_ctr == ls->cfg.rekey_packets)
		lk_wake(ls); /* worn out: the tick starts a rekey */
	lk_send(ls, to, buf, wire_len(&w));
	return 0;
}

int ovl_link_send(struct ovl_links *ls, struct ovl_link *l, uint64_t now, const uint8_t *msg,
                  size_t len)
{
	(void)now;
	if (!l || !msg || len == 0)
		return -EINVAL;
	if (len > OVL_LINK_MTU)
		return -EMSGSIZE;
	if (l->state != OVL_LINK_UP || !l->cur)
		return -ENOTCONN;
	return seal_send(ls, l->cur, &l->ep, IN_MSG, msg, len);
}

static void send_close(struct ovl_links *ls, struct session *s, const struct ovl_endpoint *to,
                       const char *reason)
{
	uint8_t buf[1 + REASON_MAX];
	size_t n = reason ? strlen(reason) : 0;

	if (n > REASON_MAX)
		n = REASON_MAX;
	buf[0] = (uint8_t)n;
	memcpy(buf + 1, reason, n);
	seal_send(ls, s, to, IN_CLOSE, buf, 1 + n);
}

/*
 * A CLOSE can be lost, and the peer would then keep a half-open link for up
 * to dead_ms, forwarding into it messages that vanish. So the session we
 * closed outlives the link as a tombstone: still indexed, it answers any
 * authentic DATA from the peer with another CLOSE (at most once a second)
 * until the peer's own dead_ms has surely passed.
 */
static void entomb(struct ovl_links *ls, struct ovl_link *l, uint64_t now)
{
	struct session *s = l->cur;

	if (!s || lk_push((void ***)&ls->tombs, &ls->n_tombs, &ls->cap_tombs, s) < 0)
		return; /* out of memory: lk_link_down frees it with the link */
	l->cur = NULL;
	s->link = NULL;
	s->tomb = true;
	s->tomb_sent = 0; /* the first repeat may go at once */
	s->tomb_until = now + ls->cfg.dead_ms;
	lk_wake(ls);
}

static void tomb_free(struct ovl_links *ls, struct session *s)
{
	lk_remove((void **)ls->tombs, &ls->n_tombs, s);
	lk_session_free(ls, s);
}

void ovl_link_close(struct ovl_links *ls, struct ovl_link *l, uint64_t now, const char *reason)
{
	if (!l || l->state != OVL_LINK_UP)
		return;
	enter(ls);
	if (l->cur) {
		send_close(ls, l->cur, &l->ep, reason);
		entomb(ls, l, now);
	}
	lk_link_down(ls, l, reason ? reason : "closed");
	leave(ls);
}

/* PING: id, our smoothed RTT (0: none yet), and the endpoint we see the peer
 * at: a peer that leaves the pinging to us still learns both. */
static void send_ping(struct ovl_links *ls, struct ovl_link *l, uint64_t now)
{
	uint8_t b[4 + 4 + OVL_EP_WIRE_V6];
	struct wire_writer w = wire_writer(b, sizeof(b));

	l->ping_id++;
	l->ping_sent_at = now;
	l->ping_tx = now;
	wire_put_u32(&w, l->ping_id);
	wire_put_u32(&w, l->srtt);
	ovl_ep_put(&w, &l->ep);
	seal_send(ls, l->cur, &l->ep, IN_PING, b, wire_len(&w));
}

/*
 * One PING and its PONG a period keep both ends of a link alive, so pinging
 * is the lower address's job; the other side pings at first (RTT and STUN at
 * once) and when no PING came for one and a half periods (lost pings, a
 * restart, a move to a new address). Half the datagrams of both pinging.
 */
static bool ping_needed(const struct ovl_links *ls, const struct ovl_link *l, uint64_t now)
{
	const struct cert_info *self = ovl_crypto_self(ls->cfg.crypto);

	return l->ping_id == 0 || ovl_addr_cmp(&self->addr, &l->peer.addr) < 0 ||
	       now - l->ping_heard >= ls->cfg.keepalive_ms + ls->cfg.keepalive_ms / 2;
}

/* CONFIRM tells the initiator the responder holds the keys, and where it is seen. */
void lk_send_confirm(struct ovl_links *ls, struct session *s, uint64_t now)
{
	uint8_t b[OVL_EP_WIRE_V6];
	struct wire_writer w = wire_writer(b, sizeof(b));

	ovl_ep_put(&w, &s->ep);
	s->confirm_sent = now;
	seal_send(ls, s, &s->ep, IN_CONFIRM, b, wire_len(&w));
}

/* What the peer says our endpoint is (STUN); "none" over a relayed link. A
 * change on a link that had told us before: our NAT mapped us anew. */
static void observe(struct ovl_links *ls, struct ovl_link *l, const struct ovl_endpoint *ep,
                    uint64_t now)
{
	if (!ovl_ep_is_ip(ep) || ovl_ep_eq(&l->observed, ep))
		return;
	if (ovl_ep_is_ip(&l->observed))
		ls->st.observed_moves++;
	l->observed = *ep;
	l->observed_at = now;
}

uint64_t ovl_link_observed_since(const struct ovl_link *l)
{
	return l->observed_at;
}

/* The first answer to this round's probes: that path works both ways, and
 * the link moves there (from a relay, or from a worse path). */
static void probe_answered(struct ovl_links *ls, struct ovl_link *l,
                           const struct ovl_endpoint *from, const struct ovl_endpoint *seen,
                           uint64_t now)
{
	char a[OVL_EP_STR_MAX], b[OVL_EP_STR_MAX];

	l->probe_id = 0; /* later answers (other candidates) change nothing */
	observe(ls, l, seen, now);
	if (ovl_ep_eq(&l->ep, from))
		return;
	ovl_ep_format(&l->ep, a);
	ovl_ep_format(from, b);
	LOG(LOG_LVL_INFO, "%s to %s moved from %s to %s: a probe was answered", lk_kind(ls),
	    l->peer.name, a, b);
	l->ep = *from;
	l->cur->ep = *from;
	ls->st.roams++;
	ls->st.probe_moves++;
}

int ovl_link_probe(struct ovl_links *ls, struct ovl_link *l, uint64_t now,
                   const struct ovl_endpoint *to)
{
	uint8_t b[4];
	struct wire_writer w = wire_writer(b, sizeof(b));

	if (!to || !ovl_ep_is_ip(to))
		return -EINVAL;
	if (!l || l->state != OVL_LINK_UP || !l->cur)
		return -ENOTCONN;
	if (!l->probe_id || now > l->probe_until)
		while (!l->probe_id)
			ls->cb.random(ls->cb.ctx, &l->probe_id, sizeof(l->probe_id));
	l->probe_until = now + PROBE_WINDOW_MS;
	wire_put_u32(&w, l->probe_id);
	ls->st.probes_sent++;
	enter(ls);
	seal_send(ls, l->cur, to, IN_PROBE, b, wire_len(&w));
	leave(ls);
	return 0;
}

int ovl_link_repath(struct ovl_links *ls, struct ovl_link *l, uint64_t now,
                    const struct ovl_endpoint *ep)
{
	int rc;

	if (!ep || (!ovl_ep_is_ip(ep) && ep->family != OVL_EP_RELAY))
		return -EINVAL;
	if (!l || l->state != OVL_LINK_UP)
		return -ENOTCONN;
	if (l->rekey)
		return -EBUSY;
	enter(ls);
	rc = lk_hs_start(ls, now, ep, &l->peer.addr, false, l);
	leave(ls);
	return rc;
}

void ovl_links_kick(struct ovl_links *ls, uint64_t now)
{
	(void)now;
	for (size_t i = 0; i < ls->n_links; i++)
		ls->links[i]->kick = true;
	lk_wake(ls);
}

static void handle_inner(struct ovl_links *ls, struct ovl_link *l, struct session *s,
                         const struct ovl_endpoint *from, uint64_t now, const uint8_t *pt,
                         size_t len)
{
	struct wire_reader r = wire_reader(pt + 1, len - 1);
	struct ovl_endpoint ep;
	uint8_t b[4 + OVL_EP_WIRE_V6];
	struct wire_writer w;
	uint32_t id;

	switch (pt[0]) {
	case IN_PING: {
		uint32_t their_rtt;

		id = wire_get_u32(&r);
		their_rtt = wire_get_u32(&r);
		ovl_ep_get_opt(&r, &ep);
		if (!wire_done(&r))
			goto bad;
		l->ping_heard = now;
		observe(ls, l, &ep, now);
		if (their_rtt && now - l->ping_sent_at >= ls->cfg.keepalive_ms)
			l->srtt = their_rtt; /* the same path, measured at the other end */
		w = wire_writer(b, sizeof(b));
		wire_put_u32(&w, id);
		ovl_ep_put(&w, from);
		/* On the session we send on: it stays alive at the peer even when
		 * the peer pings on another one (see old_expiry). */
		seal_send(ls, l->cur ? l->cur : s, from, IN_PONG, b, wire_len(&w));
		break;
	}
	case IN_PONG:
		id = wire_get_u32(&r);
		ovl_ep_get_opt(&r, &ep);
		if (!wire_done(&r))
			goto bad;
		observe(ls, l, &ep, now);
		if (id == l->ping_id && l->ping_sent_at) {
			uint64_t sample = now - l->ping_sent_at;
			uint32_t rtt =
			        sample ? (uint32_t)(sample > UINT32_MAX ? UINT32_MAX : sample) : 1;

			l->srtt = l->srtt ? (uint32_t)((7ull * l->srtt + rtt) / 8) : rtt;
			l->ping_sent_at = 0;
		}
		break;
	case IN_CONFIRM:
		ovl_ep_get_opt(&r, &ep);
		if (!wire_done(&r))
			goto bad;
		observe(ls, l, &ep, now);
		break;
	case IN_PROBE:
		/* Answered on the session it came on, from where it came: the
		 * prober learns this path works both ways. */
		id = wire_get_u32(&r);
		if (!wire_done(&r) || !ovl_ep_is_ip(from))
			goto bad;
		w = wire_writer(b, sizeof(b));
		wire_put_u32(&w, id);
		ovl_ep_put(&w, from);
		seal_send(ls, s, from, IN_PROBE_ACK, b, wire_len(&w));
		break;
	case IN_PROBE_ACK:
		id = wire_get_u32(&r);
		ovl_ep_get_opt(&r, &ep);
		if (!wire_done(&r) || !ovl_ep_is_ip(from))
			goto bad;
		if (id && id == l->probe_id && now <= l->probe_until)
			probe_answered(ls, l, from, &ep, now);
		break;
	case IN_CLOSE: {
		char reason[REASON_MAX + 32];
		uint8_t n = wire_get_u8(&r);
		const uint8_t *p = wire_get_ptr(&r, n);

		if (!p || !wire_done(&r))
			goto bad;
		snprintf(reason, sizeof(reason), "closed by peer: %.*s", (int)n, (const char *)p);
		lk_link_down(ls, l, reason);
		break;
	}
	case IN_MSG:
		if (len < 2)
			goto bad;
		if (ls->cb.recv)
			ls->cb.recv(ls->cb.ctx, l, pt + 1, len - 1);
		break;
	default:
		goto bad;
	}
	return;
bad:
	ls->st.rx_dropped++;
}

/* An authenticated packet on an initiator's unconfirmed session confirms it. */
static struct ovl_link *confirm(struct ovl_links *ls, struct session *s, uint64_t now)
{
	struct link_hs *h = s->hs;
	struct ovl_hs_result res;

	if (!h || ovl_hs_result(h->tls, &res) < 0)
		return NULL;
	OPENSSL_cleanse(res.keys, sizeof(res.keys));
	s->created = now; /* the rekey clock starts at confirmation */
	s->hs = NULL;
	h->sess = NULL;
	if (h->rekey_of)
		h->rekey_of->rekey = NULL;
	lk_wake(ls);
	h->dead = true; /* reaped at the end of this call */
	ls->st.hs_completed++;
	if (lk_install(ls, s, &res.peer, now) < 0) {
		lk_session_free(ls, s);
		return NULL;
	}
	return s->link;
}

void lk_handle_data(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                    uint8_t *buf, size_t len)
{
	struct wire_reader r = wire_reader(buf, len);
	struct idx_entry *e;
	struct session *s;
	struct ovl_link *l;
	uint32_t recv_idx;
	uint64_t ctr;
	uint8_t *pt;
	size_t ptlen;

	wire_get_u8(&r);
	wire_get_u8(&r);
	wire_get_u16(&r);
	recv_idx = wire_get_u32(&r);
	ctr = wire_get_u64(&r);
	if (!wire_ok(&r) || len < DATA_HDR + 1 + OVL_AEAD_TAG_LEN)
		goto drop;
	e = lk_idx_find(ls, recv_idx);
	if (!e || e->kind != IDX_SESSION)
		goto drop;
	s = e->p;
	if (!ovl_replay_check(&s->replay, ctr)) {
		ls->st.replays++;
		goto drop;
	}
	pt = buf + DATA_HDR;
	ptlen = len - DATA_HDR - OVL_AEAD_TAG_LEN;
	if (ovl_aead_open(s->rx, ctr, buf, DATA_HDR, pt, len - DATA_HDR, pt) < 0)
		goto drop;
	/* Authentic: only now may the packet move the window or the endpoint. */
	ovl_replay_update(&s->replay, ctr);
	if (s->tomb) {
		if (pt[0] == IN_CLOSE) {
			tomb_free(ls, s); /* the peer has closed too */
		} else if (!s->tomb_sent || now - s->tomb_sent >= TOMB_REPEAT_MS) {
			s->tomb_sent = now;
			ls->st.close_repeats++;
			send_close(ls, s, from, "link closed");
		}
		return;
	}
	s->last_rx = now;
	s->heard = true;
	l = s->link ? s->link : confirm(ls, s, now);
	if (!l || l->state != OVL_LINK_UP)
		return;
	l->last_rx = now;
	if (s == l->next) {
		/* The initiator uses the new keys: so do we from now on. */
		l->next = NULL;
		make_current(ls, l, s, now);
	}
	/* Roaming: the peer's packets come from a new address. Only to an IP
	 * endpoint (a peer still sending over the relay after we moved to a
	 * direct path must not pull us back), and not on a probe, whose path
	 * is proven only once it is answered. */
	if (s == l->cur && !ovl_ep_eq(&l->ep, from) && ovl_ep_is_ip(from) && pt[0] != IN_PROBE &&
	    pt[0] != IN_PROBE_ACK) {
		char a[OVL_EP_STR_MAX], b[OVL_EP_STR_MAX];

		ovl_ep_format(&l->ep, a);
		ovl_ep_format(from, b);
		LOG(LOG_LVL_INFO, "%s moved from %s to %s", l->peer.name, a, b);
		l->ep = *from;
		s->ep = *from;
		ls->st.roams++;
	}
	handle_inner(ls, l, s, from, now, pt, ptlen);
	return;
drop:
	ls->st.rx_dropped++;
}

/* ---- public entry points --------------------------------------------------- */

void ovl_links_input(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                     const uint8_t *buf, size_t len)
{
	uint8_t copy[OVL_DATAGRAM_MAX];

	ls->st.rx_datagrams++;
	if (!buf || len < 1 || len > OVL_DATAGRAM_MAX) {
		ls->st.rx_dropped++;
		return;
	}
	enter(ls);
	/* Decrypt in place in our own copy: the caller's buffer stays untouched. */
	memcpy(copy, buf, len);
	switch (copy[0]) {
	case MSG_HS_INIT:
		lk_handle_init(ls, now, from, copy, len);
		break;
	case MSG_HS_COOKIE:
		lk_handle_cookie(ls, now, from, copy, len);
		break;
	case MSG_HS:
		lk_handle_hs(ls, now, from, copy, len);
		break;
	case MSG_DATA:
		lk_handle_data(ls, now, from, copy, len);
		break;
	default:
		ls->st.rx_dropped++;
		break;
	}
	leave(ls);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Rekeys are started by the lower address only, so two never race. */
static bool we_rekey(const struct ovl_links *ls, const struct ovl_link *l)
{
	const struct cert_info *self = ovl_crypto_self(ls->cfg.crypto);

	if (l->cur->tx_ctr >= ls->cfg.rekey_packets)
		return true; /* the sender that wears the keys out renews them */
	return ovl_addr_cmp(&self->addr, &l->peer.addr) < 0;
}

/*
 * A responder repeats CONFIRM until the initiator is heard on the session:
 * answering only the initiator's retransmissions (which back off to 3 s)
 * left about 1.4 % of handshakes under 30 % loss to time out.
 */
static uint64_t repeat_confirm(struct ovl_links *ls, struct session *s, uint64_t now)
{
	uint64_t every = 2ull * ls->cfg.hs_rto_ms;

	if (!s || s->initiator || s->heard || now - s->created >= ls->cfg.hs_timeout_ms)
		return UINT64_MAX;
	if (now - s->confirm_sent >= every)
		lk_send_confirm(ls, s, now);
	return s->confirm_sent + every;
}

static uint64_t tick_link(struct ovl_links *ls, struct ovl_link *l, uint64_t now)
{
	uint64_t next = UINT64_MAX, silent_at;
	bool early;

	if (now - l->last_rx >= ls->cfg.dead_ms) {
		lk_link_down(ls, l, "timeout: peer silent");
		return UINT64_MAX;
	}
	next = l->last_rx + ls->cfg.dead_ms;
	for (int i = 0; i < OLD_MAX; i++) {
		if (l->old[i] && now >= old_expiry(ls, l->old[i])) {
			lk_session_free(ls, l->old[i]);
			l->old[i] = NULL;
		}
		if (l->old[i])
			next = min_u64(next, old_expiry(ls, l->old[i]));
	}
	/* A next session the initiator never used: its handshake failed there. */
	if (l->next && now - l->next->created >= ls->cfg.hs_timeout_ms + prev_grace(ls)) {
		lk_session_free(ls, l->next);
		l->next = NULL;
	}
	if (l->next)
		next = min_u64(next, l->next->created + ls->cfg.hs_timeout_ms + prev_grace(ls));
	/* Pings due within a quarter period go out now: the links' keepalives
	 * fall into step, and the engine wakes a few times per period, not once
	 * per link. */
	silent_at = l->ping_heard + ls->cfg.keepalive_ms + ls->cfg.keepalive_ms / 2;
	early = l->ping_heard && l->ping_tx < silent_at; /* not acted on yet */
	if (l->kick || now + ls->cfg.keepalive_ms / 4 >= l->next_ping ||
	    (early && now >= silent_at)) {
		if (l->kick || ping_needed(ls, l, now))
			send_ping(ls, l, now);
		l->kick = false;
		l->next_ping = now + ls->cfg.keepalive_ms;
	}
	next = min_u64(next, l->next_ping);
	if (early && l->ping_tx < silent_at) /* the silence after which we ping too */
		next = min_u64(next, silent_at);
	next = min_u64(next, repeat_confirm(ls, l->cur, now));
	next = min_u64(next, repeat_confirm(ls, l->next, now));
	if (!l->rekey && we_rekey(ls, l)) {
		uint64_t due = l->cur->created + ls->cfg.rekey_ms;

		if (now >= due || l->cur->tx_ctr >= ls->cfg.rekey_packets) {
			if (lk_hs_start(ls, now, &l->ep, &l->peer.addr, false, l) < 0)
				next = min_u64(next, now + ls->cfg.hs_rto_ms); /* try again soon */
		} else {
			next = min_u64(next, due);
		}
	}
	return next;
}

uint64_t ovl_links_tick(struct ovl_links *ls, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	enter(ls);
	lk_cookie_rotate(ls, now);
	if (now >= ls->due) {
		uint64_t due = UINT64_MAX;

		/* Links may go down (and leave the array) while we walk it: walk
		 * a copy of the count backwards so removals (swap with last) are
		 * safe. A callback that wakes us meanwhile keeps ls->due at 0. */
		ls->due = UINT64_MAX;
		for (size_t i = ls->n_links; i-- > 0;) {
			if (i < ls->n_links)
				due = min_u64(due, tick_link(ls, ls->links[i], now));
		}
		for (size_t i = ls->n_tombs; i-- > 0;) {
			struct session *s = ls->tombs[i];

			if (now >= s->tomb_until)
				tomb_free(ls, s);
			else
				due = min_u64(due, s->tomb_until);
		}
		ls->due = min_u64(ls->due, due);
	}
	next = ls->due;
	for (size_t i = 0; i < ls->n_hs; i++)
		if (!ls->hss[i]->dead)
			next = min_u64(next, lk_hs_tick(ls, ls->hss[i], now));
	leave(ls);
	if (ls->n_links || ovl_links_pending(ls))
		next = min_u64(next, now + COOKIE_ROTATE_MS);
	return next;
}

int ovl_links_connect(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *ep,
                      const struct cert_addr *expect)
{
	int rc;

	if (!ep || (!ovl_ep_is_ip(ep) && ep->family != OVL_EP_RELAY))
		return -EINVAL;
	if (expect && ovl_links_find(ls, expect))
		return 0;
	for (size_t i = 0; i < ls->n_hs; i++) {
		struct link_hs *h = ls->hss[i];

		if (!h->dead && h->initiator && h->user_connect && ovl_ep_eq(&h->ep, ep))
			return -EBUSY;
	}
	enter(ls);
	rc = lk_hs_start(ls, now, ep, expect, true, NULL);
	leave(ls);
	return rc;
}
