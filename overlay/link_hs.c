// SPDX-License-Identifier: MIT
/*
 * link_hs — carrying a handshake over UDP: the initiator's padded first
 * datagram, stream fragments with offsets and acks, retransmission with
 * backoff, the anti-amplification budget, cookies under load, and the
 * hand-over to a session. docs/links.md has the message formats.
 */
#define LOG_SUBSYS "link"
#include "link_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "addr.h"
#include "log.h"
#include "wire.h"

/* ---- cookies --------------------------------------------------------------- */

void lk_cookie_rotate(struct ovl_links *ls, uint64_t now)
{
	if (!ls->cookie_ready) {
		ls->cb.random(ls->cb.ctx, ls->cookie_key, sizeof(ls->cookie_key));
		memcpy(ls->cookie_prev, ls->cookie_key, sizeof(ls->cookie_prev));
		ls->cookie_rotated = now;
		ls->cookie_ready = true;
	} else if (now - ls->cookie_rotated >= COOKIE_ROTATE_MS) {
		memcpy(ls->cookie_prev, ls->cookie_key, sizeof(ls->cookie_prev));
		ls->cb.random(ls->cb.ctx, ls->cookie_key, sizeof(ls->cookie_key));
		ls->cookie_rotated = now;
	}
}

/* HMAC-SHA256(key, endpoint || sender index), truncated. */
static void cookie_of(const uint8_t key[32], const struct ovl_endpoint *ep, uint32_t sender,
                      uint8_t out[COOKIE_LEN])
{
	uint8_t msg[OVL_EP_WIRE_V6 + 4], mac[32];
	struct wire_writer w = wire_writer(msg, sizeof(msg));
	size_t n = 0;

	ovl_ep_put(&w, ep);
	wire_put_u32(&w, sender);
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, msg, wire_len(&w), mac,
	               sizeof(mac), &n) ||
	    n < COOKIE_LEN)
		memset(mac, 0, sizeof(mac)); /* cannot happen; an all-zero cookie never matches */
	memcpy(out, mac, COOKIE_LEN);
}

static bool cookie_valid(struct ovl_links *ls, const struct ovl_endpoint *ep, uint32_t sender,
                         const uint8_t *cookie)
{
	uint8_t want[COOKIE_LEN];

	cookie_of(ls->cookie_key, ep, sender, want);
	if (CRYPTO_memcmp(want, cookie, COOKIE_LEN) == 0)
		return true;
	cookie_of(ls->cookie_prev, ep, sender, want);
	return CRYPTO_memcmp(want, cookie, COOKIE_LEN) == 0;
}

/* ---- sending ----------------------------------------------------------------- */

/* The responder may not send more than it received until the initiator
 * proved it can receive at its address. */
static bool budget_allows(const struct link_hs *h, size_t len)
{
	return h->initiator || h->validated || h->tx_bytes + len <= h->rx_bytes;
}

static void hs_send(struct ovl_links *ls, struct link_hs *h, const uint8_t *buf, size_t len)
{
	h->tx_bytes += len;
	lk_send(ls, &h->ep, buf, len);
}

static void send_init(struct ovl_links *ls, struct link_hs *h)
{
	uint8_t *buf = ls->buf;
	struct wire_writer w = wire_writer(buf, HS_INIT_MIN);

	wire_put_u8(&w, MSG_HS_INIT);
	wire_put_u8(&w, PROTO_VERSION);
	wire_put_u16(&w, 0);
	wire_put_u32(&w, h->local);
	wire_put_u8(&w, h->has_cookie ? COOKIE_LEN : 0);
	if (h->has_cookie)
		wire_put_bytes(&w, h->cookie, COOKIE_LEN);
	wire_put_u16(&w, (uint16_t)h->tx_len);
	wire_put_bytes(&w, h->tx, h->tx_len);
	if (!wire_wok(&w))
		return; /* a first flight that does not fit; lk_hs_start refused it */
	memset(buf + wire_len(&w), 0, HS_INIT_MIN - wire_len(&w));
	h->tx_sent = h->tx_len;
	hs_send(ls, h, buf, HS_INIT_MIN);
}

static bool send_hs(struct ovl_links *ls, struct link_hs *h, size_t off, size_t len)
{
	uint8_t *buf = ls->buf;
	struct wire_writer w = wire_writer(buf, sizeof(ls->buf));

	if (!budget_allows(h, HS_HDR + len))
		return false;
	wire_put_u8(&w, MSG_HS);
	wire_put_u8(&w, PROTO_VERSION);
	wire_put_u16(&w, 0);
	wire_put_u32(&w, h->remote);
	wire_put_u32(&w, h->local);
	wire_put_u32(&w, (uint32_t)h->rx_len);
	wire_put_u32(&w, (uint32_t)off);
	wire_put_u16(&w, (uint16_t)len);
	if (len)
		wire_put_bytes(&w, h->tx + off, len); /* an ack alone has no data */
	hs_send(ls, h, buf, wire_len(&w));
	return true;
}

/* Sends the stream bytes not yet sent; with want_ack, at least an ack. */
static void flush(struct ovl_links *ls, struct link_hs *h, bool want_ack)
{
	bool sent = false;

	if (h->remote == 0)
		return; /* the initiator's stream rides in HS_INIT until it is answered */
	while (h->tx_sent < h->tx_len) {
		size_t n = h->tx_len - h->tx_sent;

		if (n > HS_FRAG_MAX)
			n = HS_FRAG_MAX;
		if (!send_hs(ls, h, h->tx_sent, n))
			return; /* over budget: the rest waits for the initiator's proof */
		h->tx_sent += n;
		sent = true;
	}
	if (want_ack && !sent)
		send_hs(ls, h, h->tx_len, 0);
}

/* Moves the handshake's new output into our stream. */
static int collect(struct link_hs *h)
{
	size_t pend = ovl_hs_output_pending(h->tls);

	if (pend == 0)
		return 0;
	if (pend > OVL_HS_STREAM_MAX - h->tx_len)
		return -ENOBUFS;
	if (h->tx_len + pend > h->tx_cap) {
		size_t cap = h->tx_cap ? h->tx_cap : 2048;
		uint8_t *p;

		while (cap < h->tx_len + pend)
			cap *= 2;
		p = realloc(h->tx, cap);
		if (!p)
			return -ENOMEM;
		h->tx = p;
		h->tx_cap = cap;
	}
	h->tx_len += ovl_hs_output(h->tls, h->tx + h->tx_len, pend);
	return 0;
}

/* ---- life and death -------------------------------------------------------- */

void lk_hs_destroy(struct ovl_links *ls, struct link_hs *h)
{
	struct idx_entry *e = lk_idx_find(ls, h->local);

	if (e && e->kind == IDX_HS && e->p == h)
		lk_idx_del(ls, h->local);
	if (h->sess) { /* never confirmed */
		h->sess->hs = NULL;
		lk_session_free(ls, h->sess);
	}
	if (h->rekey_of) {
		h->rekey_of->rekey = NULL;
		lk_wake(ls);
	}
	ovl_hs_free(h->tls);
	free(h->tx);
	free(h);
}

void lk_hs_abandon(struct ovl_links *ls, const struct cert_addr *peer)
{
	for (size_t i = 0; i < ls->n_hs; i++) {
		struct link_hs *h = ls->hss[i];

		/* Not one whose TLS finished (h->sess): the responder may
		 * have installed that session already and would be stranded on it. */
		if (!h->dead && h->initiator && h->user_connect && !h->rekey_of && !h->sess &&
		    h->has_expect && ovl_addr_eq(&h->expect, peer))
			h->dead = true; /* reaped when the call returns; not a failure */
	}
}

static void hs_fail(struct ovl_links *ls, struct link_hs *h, const char *reason)
{
	char ep[OVL_EP_STR_MAX];

	if (h->dead)
		return;
	h->dead = true;
	ls->st.hs_failed++;
	if (!strncmp(reason, "peer certificate", 16))
		ls->st.hs_refused_member++;
	if (ls->cfg.log_kind && h->has_expect)
		ovl_addr_short(&h->expect, ep, sizeof(ep)); /* a made-up endpoint says nothing */
	else
		ovl_ep_format(&h->ep, ep);
	/* A stranger can make us say this as often as it likes: rate-limited. */
	LOG_RL(LOG_LVL_WARN, "%s %s handshake with %s failed: %s",
	       h->initiator ? "outgoing" : "incoming", lk_kind(ls), ep, reason);
	if (h->rekey_of) {
		h->rekey_of->rekey = NULL;
		h->rekey_of = NULL;
		lk_wake(ls);
	}
	if (h->user_connect && ls->cb.failed)
		ls->cb.failed(ls->cb.ctx, &h->ep, h->has_expect ? &h->expect : NULL, reason);
}

static int new_session(struct ovl_links *ls, struct link_hs *h, const struct ovl_hs_result *res,
                       uint64_t now, struct session **out)
{
	const uint8_t *k_ir = res->keys, *k_ri = res->keys + OVL_AEAD_KEY_LEN;
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (ovl_aead_new(res->alg, h->initiator ? k_ir : k_ri, &s->tx) < 0 ||
	    ovl_aead_new(res->alg, h->initiator ? k_ri : k_ir, &s->rx) < 0) {
		ovl_aead_free(s->tx);
		free(s);
		return -ENOMEM;
	}
	s->local = h->local;
	s->remote = h->remote;
	s->initiator = h->initiator;
	s->created = now;
	s->last_rx = now;
	s->ep = h->ep;
	ovl_replay_init(&s->replay);
	/* From now on the index names the session. */
	lk_idx_set(ls, h->local, IDX_SESSION, s);
	*out = s;
	return 0;
}

static void hs_done(struct ovl_links *ls, struct link_hs *h, uint64_t now)
{
	const struct cert_info *self = ovl_crypto_self(ls->cfg.crypto);
	struct ovl_hs_result res;
	struct session *s;
	char want[16], got[16];

	if (ovl_hs_result(h->tls, &res) < 0) {
		hs_fail(ls, h, "cannot derive session keys");
		return;
	}
	if (h->has_expect && !ovl_addr_eq(&res.peer.addr, &h->expect)) {
		char reason[160];

		ovl_addr_short(&h->expect, want, sizeof(want));
		ovl_addr_short(&res.peer.addr, got, sizeof(got));
		snprintf(reason, sizeof(reason), "wrong peer: wanted %s, %s (%s) answered", want,
		         res.peer.name, got);
		hs_fail(ls, h, reason);
		goto out;
	}
	if (ovl_addr_eq(&res.peer.addr, &self->addr)) {
		hs_fail(ls, h, "connected to ourselves");
		goto out;
	}
	if (new_session(ls, h, &res, now, &s) < 0) {
		hs_fail(ls, h, "out of memory");
		goto out;
	}
	if (h->initiator) {
		/* Our last flight goes out; the link is up once the responder
		 * proves it has the keys (its first DATA, see confirm()). */
		h->sess = s;
		s->hs = h;
		flush(ls, h, true);
		goto out;
	}
	flush(ls, h, false);
	h->dead = true;
	ls->st.hs_completed++;
	if (h->rekey_of) {
		h->rekey_of->rekey = NULL;
		h->rekey_of = NULL;
		lk_wake(ls);
	}
	if (lk_install(ls, s, &res.peer, now) < 0) {
		lk_session_free(ls, s);
		goto out;
	}
	if (s->link && s->link->state == OVL_LINK_UP) /* `up` may have closed it */
		lk_send_confirm(ls, s, now);
out:
	OPENSSL_cleanse(res.keys, sizeof(res.keys));
}

/* Feeds peer stream bytes to the handshake and acts on what it says. */
static void feed(struct ovl_links *ls, struct link_hs *h, uint64_t now, const uint8_t *data,
                 size_t len)
{
	enum ovl_hs_status st = ovl_hs_input(h->tls, ls->cb.wall(ls->cb.ctx), data, len);

	if (collect(h) < 0) {
		hs_fail(ls, h, "handshake stream too long");
		return;
	}
	switch (st) {
	case OVL_HS_CONTINUE:
		flush(ls, h, true);
		break;
	case OVL_HS_DONE:
		hs_done(ls, h, now);
		break;
	case OVL_HS_FAILED:
		flush(ls, h, false); /* a TLS alert tells the peer at once */
		hs_fail(ls, h, ovl_hs_reason(h->tls));
		break;
	}
}

static struct link_hs *hs_new(struct ovl_links *ls, uint64_t now, bool initiator,
                              const struct ovl_endpoint *ep)
{
	struct link_hs *h;

	if (ls->n_links + ls->n_hs >= ls->cfg.max_links)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->initiator = initiator;
	h->ep = *ep;
	h->started = now;
	h->deadline = now + ls->cfg.hs_timeout_ms;
	h->rto_ms = ls->cfg.hs_rto_ms;
	h->rto_at = now + h->rto_ms;
	if (ovl_hs_new(ls->cfg.crypto, initiator, &h->tls) < 0 ||
	    lk_idx_new(ls, IDX_HS, h, &h->local) < 0) {
		ovl_hs_free(h->tls);
		free(h);
		return NULL;
	}
	if (lk_push((void ***)&ls->hss, &ls->n_hs, &ls->cap_hs, h) < 0) {
		lk_idx_del(ls, h->local);
		ovl_hs_free(h->tls);
		free(h);
		return NULL;
	}
	ls->st.hs_started++;
	return h;
}

int lk_hs_start(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *ep,
                const struct cert_addr *expect, bool user_connect, struct ovl_link *rekey_of)
{
	struct link_hs *h;

	lk_cookie_rotate(ls, now);
	h = hs_new(ls, now, true, ep);
	if (!h)
		return -ENOSPC;
	h->user_connect = user_connect;
	if (expect) {
		h->has_expect = true;
		h->expect = *expect;
	}
	if (rekey_of) {
		h->rekey_of = rekey_of;
		rekey_of->rekey = h;
	}
	if (ovl_hs_input(h->tls, ls->cb.wall(ls->cb.ctx), NULL, 0) != OVL_HS_CONTINUE ||
	    collect(h) < 0 || h->tx_len == 0 ||
	    h->tx_len > HS_INIT_MIN - HS_INIT_HDR - COOKIE_LEN) {
		hs_fail(ls, h, "cannot start handshake");
		return -EIO;
	}
	send_init(ls, h);
	return 0;
}

/* ---- timers ------------------------------------------------------------------ */

uint64_t lk_hs_tick(struct ovl_links *ls, struct link_hs *h, uint64_t now)
{
	if (now >= h->deadline) {
		hs_fail(ls, h, "handshake timed out");
		return UINT64_MAX;
	}
	if (now >= h->rto_at) {
		if (h->initiator && h->remote == 0) {
			send_init(ls, h);
		} else if (h->tx_acked < h->tx_len) {
			h->tx_sent = h->tx_acked; /* go back and resend what is unacked */
			flush(ls, h, false);
		}
		h->rto_ms = h->rto_ms * 2 > RTO_MAX_MS ? RTO_MAX_MS : h->rto_ms * 2;
		h->rto_at = now + h->rto_ms;
	}
	return h->deadline < h->rto_at ? h->deadline : h->rto_at;
}

/* ---- receiving --------------------------------------------------------------- */

static size_t half_open(const struct ovl_links *ls)
{
	size_t n = 0;

	for (size_t i = 0; i < ls->n_hs; i++)
		n += !ls->hss[i]->dead && !ls->hss[i]->initiator && !ls->hss[i]->validated;
	return n;
}

void lk_handle_init(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                    const uint8_t *buf, size_t len)
{
	struct wire_reader r = wire_reader(buf, len);
	const uint8_t *cookie = NULL, *data;
	uint32_t sender;
	uint16_t dlen;
	uint8_t clen;
	bool validated = false;
	struct link_hs *h;

	wire_get_u8(&r);
	if (wire_get_u8(&r) != PROTO_VERSION || wire_get_u16(&r) != 0)
		goto drop;
	sender = wire_get_u32(&r);
	clen = wire_get_u8(&r);
	if (clen == COOKIE_LEN)
		cookie = wire_get_ptr(&r, COOKIE_LEN);
	else if (clen != 0)
		goto drop;
	dlen = wire_get_u16(&r);
	data = wire_get_ptr(&r, dlen);
	/* Unpadded first datagrams are refused: padding is what pays for our answer. */
	if (!wire_ok(&r) || len < HS_INIT_MIN || sender == 0 || dlen == 0)
		goto drop;

	/* A retransmission: the initiator did not get our flight. */
	for (size_t i = 0; i < ls->n_hs; i++) {
		h = ls->hss[i];
		if (!h->dead && !h->initiator && h->remote == sender && ovl_ep_eq(&h->ep, from)) {
			h->rx_bytes += len;
			h->tx_sent = h->tx_acked;
			flush(ls, h, false);
			return;
		}
	}
	lk_cookie_rotate(ls, now);
	if (cookie && cookie_valid(ls, from, sender, cookie))
		validated = true;
	else if (half_open(ls) >= ls->cfg.max_half_open) {
		/* Under load: no state until the initiator proves its address. */
		uint8_t out[HS_COOKIE_LEN];
		struct wire_writer w = wire_writer(out, sizeof(out));

		wire_put_u8(&w, MSG_HS_COOKIE);
		wire_put_u8(&w, PROTO_VERSION);
		wire_put_u16(&w, 0);
		wire_put_u32(&w, sender);
		cookie_of(ls->cookie_key, from, sender, wire_put_space(&w, COOKIE_LEN));
		ls->st.cookies_sent++;
		lk_send(ls, from, out, wire_len(&w));
		return;
	}
	h = hs_new(ls, now, false, from);
	if (!h)
		goto drop;
	h->remote = sender;
	h->validated = validated;
	h->rx_bytes = len;
	h->rx_len = dlen;
	feed(ls, h, now, data, dlen);
	return;
drop:
	ls->st.rx_dropped++;
}

void lk_handle_cookie(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                      const uint8_t *buf, size_t len)
{
	struct wire_reader r = wire_reader(buf, len);
	struct idx_entry *e;
	struct link_hs *h;
	const uint8_t *cookie;
	uint32_t recv_idx;

	(void)now;
	wire_get_u8(&r);
	if (wire_get_u8(&r) != PROTO_VERSION || wire_get_u16(&r) != 0)
		goto drop;
	recv_idx = wire_get_u32(&r);
	cookie = wire_get_ptr(&r, COOKIE_LEN);
	if (!wire_done(&r))
		goto drop;
	e = lk_idx_find(ls, recv_idx);
	if (!e || e->kind != IDX_HS)
		goto drop;
	h = e->p;
	if (h->dead || !h->initiator || h->remote != 0 || !ovl_ep_eq(&h->ep, from))
		goto drop;
	memcpy(h->cookie, cookie, COOKIE_LEN);
	h->has_cookie = true;
	send_init(ls, h);
	return;
drop:
	ls->st.rx_dropped++;
}

/* Acks and stream data for handshake h. */
static void hs_segment(struct ovl_links *ls, struct link_hs *h, uint64_t now, uint32_t ack,
                       uint32_t off, const uint8_t *data, uint16_t dlen)
{
	if (ack > h->tx_acked && ack <= h->tx_len) {
		h->tx_acked = ack;
		if (h->tx_sent < ack)
			h->tx_sent = ack;
		h->rto_ms = ls->cfg.hs_rto_ms; /* progress: back to the first timeout */
		h->rto_at = now + h->rto_ms;
	}
	if (dlen == 0 || h->sess) {
		/* An ack alone, or data after we finished: nothing to feed. */
		if (h->sess && dlen)
			flush(ls, h, true);
		return;
	}
	if (off <= h->rx_len && (size_t)off + dlen > h->rx_len) {
		size_t skip = h->rx_len - off;

		h->rx_len += dlen - skip;
		feed(ls, h, now, data + skip, dlen - skip);
	} else {
		/* A repeat or a gap: say what we have, so the peer resends the rest. */
		flush(ls, h, true);
	}
}

void lk_handle_hs(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                  const uint8_t *buf, size_t len)
{
	struct wire_reader r = wire_reader(buf, len);
	uint32_t recv_idx, sender, ack, off;
	const uint8_t *data;
	struct idx_entry *e;
	struct link_hs *h;
	uint16_t dlen;

	wire_get_u8(&r);
	if (wire_get_u8(&r) != PROTO_VERSION || wire_get_u16(&r) != 0)
		goto drop;
	recv_idx = wire_get_u32(&r);
	sender = wire_get_u32(&r);
	ack = wire_get_u32(&r);
	off = wire_get_u32(&r);
	dlen = wire_get_u16(&r);
	data = wire_get_ptr(&r, dlen);
	if (!wire_done(&r) || sender == 0 || dlen > HS_FRAG_MAX || off > OVL_HS_STREAM_MAX)
		goto drop;
	e = lk_idx_find(ls, recv_idx);
	if (!e)
		goto drop;
	if (e->kind == IDX_SESSION) {
		struct session *s = e->p;

		if (s->remote != sender)
			goto drop;
		if (s->hs) { /* initiator, unconfirmed: the responder still talks handshake */
			hs_segment(ls, s->hs, now, ack, off, data, dlen);
			return;
		}
		/* Responder, done: our CONFIRM was lost, the initiator repeats its
		 * last flight. Confirm again (rate-limited). */
		if (!s->initiator && s->link && now - s->confirm_sent >= CONFIRM_REPEAT_MS)
			lk_send_confirm(ls, s, now);
		return;
	}
	h = e->p;
	if (h->dead)
		goto drop;
	if (h->initiator) {
		if (h->remote == 0) {
			h->remote = sender;
			h->ep = *from; /* the responder may answer from another address */
		} else if (h->remote != sender) {
			goto drop;
		}
	} else {
		if (h->remote != sender || !ovl_ep_eq(&h->ep, from))
			goto drop;
		/* It echoed our random index: it receives at this address. */
		h->validated = true;
		h->rx_bytes += len;
	}
	hs_segment(ls, h, now, ack, off, data, dlen);
	return;
drop:
	ls->st.rx_dropped++;
}
