// SPDX-License-Identifier: MIT
/*
 * dht_serve — the storing side: a primary answering requests with its
 * replicas (put, remove, create with reservations, get with a fetch from
 * the replicas and local repair), replicas answering the primary, and the
 * upkeep that keeps each key on its r nearest nodes: a periodic digest
 * exchange (OFFER / WANT / STORE) that also hands records to nodes that
 * joined and drops what we gave away. Protocol and reasons: docs/dht.md.
 */
#define LOG_SUBSYS "dht"
#include "dht_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"

/* ---- rate limits ---------------------------------------------------------------- */

/* One token bucket per origin in a set-associative table (RATE_WAYS per
 * set). A request costs PEER_RATE_X tokens, a replica message one. A new
 * origin takes the way with the most tokens: a full bucket holds no state,
 * so nothing is lost; if every way is still limiting someone, the newcomer
 * starts with what the evicted origin had left, so evicting is never a way
 * around the limit. */
static bool rate_ok(struct dht *d, const struct cert_addr *who, uint32_t cost)
{
	uint32_t h = ((uint32_t)who->b[0] << 8 | who->b[1]) ^ who->b[19];
	struct bucket *set = &d->rate[(h % (RATE_SLOTS / RATE_WAYS)) * RATE_WAYS], *b = NULL;
	uint64_t cap = (uint64_t)d->cfg.rate_burst * PEER_RATE_X * 1000;

	if (dht_is_self(d, who))
		return true;
	for (int i = 0; i < RATE_WAYS; i++) {
		struct bucket *x = &set[i];
		uint64_t t;

		if (!x->used) {
			x->tokens = (uint32_t)cap;
			x->at = d->now;
		}
		t = x->tokens + (d->now - x->at) * d->cfg.rate_per_s * PEER_RATE_X;
		x->tokens = (uint32_t)(t > cap ? cap : t);
		x->at = d->now;
		if (x->used && ovl_addr_eq(&x->who, who)) {
			b = x;
			break;
		}
		if (!b || !x->used || (b->used && x->tokens > b->tokens))
			b = x;
	}
	if (!b->used || !ovl_addr_eq(&b->who, who)) {
		b->used = true;
		b->who = *who; /* tokens: the victim's (full, unless all ways were busy) */
	}
	if (b->tokens < cost * 1000) {
		d->st.rate_limited++;
		return false;
	}
	b->tokens -= cost * 1000;
	return true;
}

/* ---- replies and batches ---------------------------------------------------------- */

void dht_reply(struct dht *d, const struct cert_addr *client, uint32_t rid, enum dht_status st,
               uint8_t hops, const char *err, const struct dht_stored *const *recs, size_t n)
{
	struct wire_writer w = wire_writer(d->out, sizeof(d->out));
	size_t elen = err ? strlen(err) : 0;

	if (elen > ERRSTR_MAX)
		elen = ERRSTR_MAX;
	if (n > DHT_PER_KEY_MAX)
		n = DHT_PER_KEY_MAX;
	wire_put_u8(&w, M_REP);
	wire_put_u32(&w, rid);
	wire_put_u8(&w, (uint8_t)st);
	wire_put_u8(&w, hops);
	wire_put_u8(&w, (uint8_t)elen);
	wire_put_bytes(&w, err, elen);
	wire_put_u8(&w, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		wire_put_bytes(&w, recs[i]->raw, recs[i]->raw_len);
	if (wire_wok(&w))
		dht_send(d, client, OVL_ROUTE_EXACT, d->out, wire_len(&w));
}

/* Records for one peer, sent in as few STORE messages as fit. */
struct batch {
	struct dht *d;
	struct cert_addr to;
	struct wire_writer w;
	size_t n;
};

static void batch_flush(struct batch *b)
{
	if (b->n == 0)
		return;
	b->d->out[1] = (uint8_t)b->n;
	dht_send(b->d, &b->to, OVL_ROUTE_EXACT, b->d->out, wire_len(&b->w));
	b->n = 0;
}

static void batch_begin(struct batch *b, struct dht *d, const struct cert_addr *to)
{
	b->d = d;
	b->to = *to;
	b->n = 0;
}

static void batch_add(struct batch *b, const struct dht_stored *rec)
{
	if (b->n > 0 && (b->n == UINT8_MAX || wire_len(&b->w) + rec->raw_len > MSG_MAX))
		batch_flush(b);
	if (b->n == 0) {
		b->w = wire_writer(b->d->out, sizeof(b->d->out));
		wire_put_u8(&b->w, M_STORE);
		wire_put_u8(&b->w, 0); /* count, set at flush */
	}
	wire_put_bytes(&b->w, rec->raw, rec->raw_len);
	b->n++;
}

/* Sends one held record to every other member of its replica set. */
static void replicate(struct dht *d, const struct dht_stored *rec)
{
	struct cert_addr rs[DHT_REPLICAS_MAX];
	size_t n = dht_replica_set(d, &rec->key, rs);
	struct batch b;

	for (size_t i = 0; i < n; i++) {
		if (dht_is_self(d, &rs[i]))
			continue;
		batch_begin(&b, d, &rs[i]);
		batch_add(&b, rec);
		batch_flush(&b);
	}
}

/* ---- reservations ------------------------------------------------------------------- */

static struct resv *resv_find(struct dht *d, const struct cert_addr *key)
{
	for (size_t i = 0; i < d->n_resv; i++)
		if (ovl_addr_eq(&d->resv[i].key, key) && d->resv[i].until > d->now)
			return &d->resv[i];
	return NULL;
}

static bool resv_add(struct dht *d, const struct cert_addr *key, const struct cert_addr *writer)
{
	struct resv *r = resv_find(d, key);

	if (!r) {
		if (d->n_resv == RESV_MAX)
			return false;
		r = &d->resv[d->n_resv++];
	}
	r->key = *key;
	r->writer = *writer;
	r->until = d->now + 2ull * d->cfg.replica_wait_ms;
	dht_due(d, r->until);
	return true;
}

static void resv_release(struct dht *d, const struct cert_addr *key, const struct cert_addr *writer)
{
	for (size_t i = 0; i < d->n_resv; i++)
		if (ovl_addr_eq(&d->resv[i].key, key) && ovl_addr_eq(&d->resv[i].writer, writer)) {
			d->resv[i] = d->resv[--d->n_resv];
			return;
		}
}

/* ---- storing ----------------------------------------------------------------------------- */

/* Verifies (only when it would change something) and stores one record.
 * Returns the store's verdict; *why says what refused it. */
static enum dht_store_result accept(struct dht *d, const struct dht_record *rec, char *why,
                                    size_t why_len)
{
	uint64_t wall = dht_wall(d);
	enum dht_store_result res = dht_store_check(d->store, rec, wall);

	if (res == DHT_ST_SAME || res == DHT_ST_STALE)
		return res;
	if (res != DHT_ST_ADDED && res != DHT_ST_REPLACED) {
		snprintf(why, why_len, "%s", dht_store_result_name(res));
		d->st.refused++;
		return res;
	}
	if (dht_record_verify(d->crypto, (time_t)wall, d->cfg.ttl_max, rec, NULL, why, why_len) <
	    0) {
		d->st.verify_failed++;
		return DHT_ST_RESULT_MAX;
	}
	res = dht_store_put(d->store, rec, wall);
	if (res == DHT_ST_ADDED || res == DHT_ST_REPLACED) {
		d->st.stored++;
		resv_release(d, &rec->key, &rec->writer);
	} else if (res != DHT_ST_SAME && res != DHT_ST_STALE) {
		snprintf(why, why_len, "%s", dht_store_result_name(res));
		d->st.refused++;
	}
	return res;
}

static bool accepted(enum dht_store_result r)
{
	return r == DHT_ST_ADDED || r == DHT_ST_REPLACED || r == DHT_ST_SAME || r == DHT_ST_STALE;
}

/* Records from a STORE, a FETCH answer or a CHECK answer. */
static size_t accept_all(struct dht *d, struct wire_reader *r, uint8_t n)
{
	size_t changed = 0;

	for (uint8_t i = 0; i < n; i++) {
		struct dht_record rec;
		char why[DHT_ERR_MAX];
		enum dht_store_result res;

		if (dht_record_parse(r, &rec) < 0) {
			LOG_RL(LOG_LVL_DEBUG, "malformed record in a replica message");
			break;
		}
		res = accept(d, &rec, why, sizeof(why));
		if (res == DHT_ST_ADDED || res == DHT_ST_REPLACED)
			changed++;
		else if (!accepted(res))
			LOG_RL(LOG_LVL_INFO, "record refused: %s", why);
	}
	return changed;
}

/* The live values of key we hold, for an answer. */
static size_t live_values(struct dht *d, const struct cert_addr *key, const struct dht_stored **out)
{
	size_t cnt, first = dht_store_key_range(d->store, key, &cnt), n = 0;
	uint64_t wall = dht_wall(d);

	for (size_t i = first; i < first + cnt && n < DHT_PER_KEY_MAX; i++) {
		const struct dht_stored *s = dht_store_at(d->store, i);

		if (!(s->flags & DHT_REC_TOMBSTONE) && s->expires > wall)
			out[n++] = s;
	}
	return n;
}

/* ---- coordination (primary) ------------------------------------------------------------ */

/* The coordination cid, if from is a replica it asked that has not answered yet. */
static struct coord *coord_find(struct dht *d, uint32_t cid, const struct cert_addr *from,
                                size_t *at, size_t *at_k)
{
	for (size_t i = 0; i < d->n_coord; i++) {
		struct coord *c = d->coord[i];

		if (c->cid != cid)
			continue;
		for (size_t k = 0; k < c->n_asked; k++)
			if (!c->answered[k] && ovl_addr_eq(&c->asked[k], from)) {
				*at = i;
				*at_k = k;
				return c;
			}
	}
	return NULL;
}

static void coord_free(struct coord *c)
{
	free(c->rec);
	free(c);
}

/* A coordination for op on key with every other member of the replica set
 * asked; NULL when there is nobody to ask (or no room: answered then). */
static struct coord *coord_start(struct dht *d, enum dht_op op, const struct ovl_route_info *info,
                                 uint32_t rid, const struct cert_addr *key)
{
	struct cert_addr rs[DHT_REPLICAS_MAX];
	size_t n = dht_replica_set(d, key, rs);
	struct coord *c;

	if (d->n_coord == COORD_MAX)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cid = ++d->next_cid;
	c->op = op;
	c->rid = rid;
	c->client = info->src;
	c->key = *key;
	c->hops = info->hops;
	for (size_t i = 0; i < n; i++)
		if (!dht_is_self(d, &rs[i]))
			c->asked[c->n_asked++] = rs[i];
	if (c->n_asked == 0) {
		free(c);
		return NULL;
	}
	c->deadline = d->now + d->cfg.replica_wait_ms;
	dht_due(d, c->deadline);
	d->coord[d->n_coord++] = c;
	return c;
}

static void ask(struct dht *d, struct coord *c, uint8_t type)
{
	for (size_t i = 0; i < c->n_asked; i++) {
		struct wire_writer w = wire_writer(d->out, sizeof(d->out));

		wire_put_u8(&w, type);
		wire_put_u32(&w, c->cid);
		wire_put_bytes(&w, c->key.b, CERT_ADDR_LEN);
		if (type == M_CHECK)
			wire_put_bytes(&w, c->writer.b, CERT_ADDR_LEN);
		dht_send(d, &c->asked[i], OVL_ROUTE_EXACT, d->out, wire_len(&w));
	}
}

static void answer_get(struct dht *d, const struct cert_addr *client, uint32_t rid, uint8_t hops,
                       const struct cert_addr *key)
{
	const struct dht_stored *vals[DHT_PER_KEY_MAX];
	size_t n = live_values(d, key, vals);

	dht_reply(d, client, rid, DHT_OK, hops, NULL, vals, n);
}

/* A create's candidate record goes in and out to the replicas. */
static void commit(struct dht *d, const struct cert_addr *client, uint32_t rid, uint8_t hops,
                   const struct dht_record *rec)
{
	char why[DHT_ERR_MAX] = "";
	enum dht_store_result res = accept(d, rec, why, sizeof(why));
	const struct dht_stored *s;

	if (!accepted(res)) {
		dht_reply(d, client, rid, DHT_REFUSED, hops, why, NULL, 0);
		return;
	}
	s = dht_store_find(d->store, &rec->key, &rec->writer);
	if (s && (res == DHT_ST_ADDED || res == DHT_ST_REPLACED))
		replicate(d, s);
	dht_reply(d, client, rid, DHT_OK, hops, NULL, NULL, 0);
}

static void exists_reply(struct dht *d, const struct cert_addr *client, uint32_t rid, uint8_t hops,
                         const struct cert_addr *key, const struct cert_addr *writer)
{
	const struct dht_stored *other = dht_store_other_live(d->store, key, writer, dht_wall(d));

	if (other)
		dht_reply(d, client, rid, DHT_EXISTS, hops, "held by another member", &other, 1);
	else
		dht_reply(d, client, rid, DHT_EXISTS, hops,
		          "another member's create of this key is in progress", NULL, 0);
}

static void coord_finish(struct dht *d, size_t i)
{
	struct coord *c = d->coord[i];

	d->coord[i] = d->coord[--d->n_coord];
	if (c->op == DHT_OP_GET) {
		answer_get(d, &c->client, c->rid, c->hops, &c->key);
	} else {
		struct wire_reader r = wire_reader(c->rec, c->rec_len);
		struct dht_record rec;

		resv_release(d, &c->key, &c->writer);
		if (dht_record_parse(&r, &rec) < 0) {
			/* cannot happen: it parsed when it came in */
		} else if (c->conflict ||
		           dht_store_other_live(d->store, &c->key, &c->writer, dht_wall(d))) {
			exists_reply(d, &c->client, c->rid, c->hops, &c->key, &c->writer);
		} else if ((c->n_ok + 1) * 2 > c->n_asked + 1) {
			commit(d, &c->client, c->rid, c->hops, &rec);
		} else {
			char why[DHT_ERR_MAX];

			snprintf(why, sizeof(why), "only %zu of %zu replicas answered", c->n_ok + 1,
			         c->n_asked + 1);
			dht_reply(d, &c->client, c->rid, DHT_REFUSED, c->hops, why, NULL, 0);
		}
	}
	coord_free(c);
}

static void serve_create(struct dht *d, const struct ovl_route_info *info, uint32_t rid,
                         const struct dht_record *rec)
{
	const struct resv *rv = resv_find(d, &rec->key);
	struct coord *c;

	if (dht_store_other_live(d->store, &rec->key, &rec->writer, dht_wall(d)) ||
	    (rv && !ovl_addr_eq(&rv->writer, &rec->writer))) {
		exists_reply(d, &info->src, rid, info->hops, &rec->key, &rec->writer);
		return;
	}
	for (size_t i = 0; i < d->n_coord; i++)
		if (d->coord[i]->op == DHT_OP_CREATE && d->coord[i]->rid == rid &&
		    ovl_addr_eq(&d->coord[i]->client, &info->src))
			return; /* a retry of a create we are deciding */
	if (!resv_add(d, &rec->key, &rec->writer)) {
		dht_reply(d, &info->src, rid, DHT_REFUSED, info->hops,
		          "too many creates in progress", NULL, 0);
		return;
	}
	c = coord_start(d, DHT_OP_CREATE, info, rid, &rec->key);
	if (!c) {
		resv_release(d, &rec->key, &rec->writer);
		commit(d, &info->src, rid, info->hops, rec);
		return;
	}
	c->writer = rec->writer;
	c->rec = malloc(rec->raw_len);
	if (!c->rec) {
		c->deadline = d->now; /* answered as a failure at the next tick */
		c->n_ok = 0;
		return;
	}
	memcpy(c->rec, rec->raw, rec->raw_len);
	c->rec_len = rec->raw_len;
	ask(d, c, M_CHECK);
}

void dht_serve_req(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r)
{
	uint32_t rid = wire_get_u32(r);
	uint8_t op = wire_get_u8(r);
	struct cert_addr key;
	struct dht_record rec;
	char why[DHT_ERR_MAX] = "";
	enum dht_store_result res;

	wire_get_bytes(r, key.b, CERT_ADDR_LEN);
	wire_get_u8(r); /* the attempt, for debugging */
	if (!wire_ok(r) || op == 0 || op >= DHT_OP_MAX) {
		LOG_RL(LOG_LVL_DEBUG, "malformed request dropped");
		return;
	}
	if (!rate_ok(d, &info->src, PEER_RATE_X)) {
		dht_reply(d, &info->src, rid, DHT_REFUSED, info->hops, "rate limited", NULL, 0);
		return;
	}
	if (op == DHT_OP_GET) {
		struct coord *c;

		if (!wire_done(r))
			return;
		c = coord_start(d, DHT_OP_GET, info, rid, &key);
		if (c)
			ask(d, c, M_FETCH);
		else
			answer_get(d, &info->src, rid, info->hops, &key);
		return;
	}
	if (dht_record_parse(r, &rec) < 0 || !wire_done(r)) {
		dht_reply(d, &info->src, rid, DHT_REFUSED, info->hops, "malformed record", NULL, 0);
		d->st.verify_failed++;
		return;
	}
	if (!ovl_addr_eq(&rec.key, &key) ||
	    (op == DHT_OP_REMOVE) != !!(rec.flags & DHT_REC_TOMBSTONE)) {
		dht_reply(d, &info->src, rid, DHT_REFUSED, info->hops,
		          "record does not match the request", NULL, 0);
		return;
	}
	/* A client's record is verified before anything is answered or
	 * reserved, even one that would change nothing here: a forgery is told
	 * it is refused, never "ok". */
	if (dht_record_verify(d->crypto, (time_t)dht_wall(d), d->cfg.ttl_max, &rec, NULL, why,
	                      sizeof(why)) < 0) {
		d->st.verify_failed++;
		LOG_RL(LOG_LVL_INFO, "%s refused: %s", dht_op_name(op), why);
		dht_reply(d, &info->src, rid, DHT_REFUSED, info->hops, why, NULL, 0);
		return;
	}
	if (op == DHT_OP_CREATE) {
		serve_create(d, info, rid, &rec);
		return;
	}
	res = accept(d, &rec, why, sizeof(why));
	if (!accepted(res)) {
		LOG_RL(LOG_LVL_INFO, "%s refused: %s", dht_op_name(op), why);
		dht_reply(d, &info->src, rid, DHT_REFUSED, info->hops, why, NULL, 0);
		return;
	}
	if (res == DHT_ST_ADDED || res == DHT_ST_REPLACED) {
		const struct dht_stored *s = dht_store_find(d->store, &rec.key, &rec.writer);

		if (s)
			replicate(d, s);
	}
	dht_reply(d, &info->src, rid, DHT_OK, info->hops, NULL, NULL, 0);
}

/* ---- replica side and upkeep messages --------------------------------------------------- */

static void serve_check(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r)
{
	struct wire_writer w = wire_writer(d->out, sizeof(d->out));
	uint32_t cid = wire_get_u32(r);
	struct cert_addr key, writer;
	const struct dht_stored *other;
	const struct resv *rv;
	bool ok;

	wire_get_bytes(r, key.b, CERT_ADDR_LEN);
	wire_get_bytes(r, writer.b, CERT_ADDR_LEN);
	if (!wire_done(r))
		return;
	other = dht_store_other_live(d->store, &key, &writer, dht_wall(d));
	rv = resv_find(d, &key);
	ok = !other && !(rv && !ovl_addr_eq(&rv->writer, &writer)) && resv_add(d, &key, &writer);
	wire_put_u8(&w, M_CHECK_REP);
	wire_put_u32(&w, cid);
	wire_put_u8(&w, ok);
	wire_put_u8(&w, other ? 1 : 0);
	if (other)
		wire_put_bytes(&w, other->raw, other->raw_len);
	if (wire_wok(&w))
		dht_send(d, &info->src, OVL_ROUTE_EXACT, d->out, wire_len(&w));
}

static void serve_fetch(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r)
{
	struct wire_writer w = wire_writer(d->out, sizeof(d->out));
	uint32_t cid = wire_get_u32(r);
	struct cert_addr key;
	size_t cnt, first, n;

	wire_get_bytes(r, key.b, CERT_ADDR_LEN);
	if (!wire_done(r))
		return;
	first = dht_store_key_range(d->store, &key, &cnt);
	n = cnt < DHT_PER_KEY_MAX ? cnt : DHT_PER_KEY_MAX;
	wire_put_u8(&w, M_FETCH_REP);
	wire_put_u32(&w, cid);
	wire_put_u8(&w, (uint8_t)n);
	for (size_t i = first; i < first + n; i++) {
		const struct dht_stored *s = dht_store_at(d->store, i);

		wire_put_bytes(&w, s->raw, s->raw_len);
	}
	if (wire_wok(&w))
		dht_send(d, &info->src, OVL_ROUTE_EXACT, d->out, wire_len(&w));
}

/* An answer to a CHECK or FETCH of one of our coordinations. */
static void serve_answer(struct dht *d, uint8_t type, const struct ovl_route_info *info,
                         struct wire_reader *r)
{
	uint32_t cid = wire_get_u32(r);
	uint8_t ok = type == M_CHECK_REP ? wire_get_u8(r) : 1, n = wire_get_u8(r);
	size_t at, at_k;
	struct coord *c = wire_ok(r) ? coord_find(d, cid, &info->src, &at, &at_k) : NULL;

	if (!c || c->op != (type == M_CHECK_REP ? DHT_OP_CREATE : DHT_OP_GET) ||
	    n > DHT_PER_KEY_MAX) {
		LOG_RL(LOG_LVL_DEBUG, "stray replica answer dropped");
		return;
	}
	c->answered[at_k] = true;
	c->n_answered++;
	if (ok)
		c->n_ok++;
	else
		c->conflict = true;
	/* Values the replica holds that we lack: repaired here (verified first). */
	d->st.repaired += accept_all(d, r, n);
	if (c->n_answered == c->n_asked)
		coord_finish(d, at);
}

static void serve_store(struct dht *d, struct wire_reader *r)
{
	uint8_t n = wire_get_u8(r);

	if (!wire_ok(r))
		return;
	accept_all(d, r, n);
}

/* A neighbour's digests: we ask for what we lack and push what is newer here. */
static void serve_offer(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r)
{
	uint16_t want[OFFER_MAX], nw = 0;
	const struct dht_stored *newer[OFFER_MAX];
	size_t nn = 0;
	uint32_t oid = wire_get_u32(r);
	uint16_t n = wire_get_u16(r);
	struct wire_writer w;
	struct batch b;

	if (!wire_ok(r) || n > OFFER_MAX || wire_remaining(r) != (size_t)n * OFFER_ENT) {
		LOG_RL(LOG_LVL_DEBUG, "malformed offer dropped");
		return;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct offer_ent e;
		const struct dht_stored *s;

		wire_get_bytes(r, e.key.b, CERT_ADDR_LEN);
		wire_get_bytes(r, e.writer.b, CERT_ADDR_LEN);
		e.seq = wire_get_u64(r);
		s = dht_store_find(d->store, &e.key, &e.writer);
		if (!s || s->seq < e.seq)
			want[nw++] = i;
		else if (s->seq > e.seq)
			newer[nn++] = s;
	}
	w = wire_writer(d->out, sizeof(d->out));
	wire_put_u8(&w, M_WANT);
	wire_put_u32(&w, oid);
	wire_put_u16(&w, nw);
	for (uint16_t i = 0; i < nw; i++)
		wire_put_u16(&w, want[i]);
	dht_send(d, &info->src, OVL_ROUTE_EXACT, d->out, wire_len(&w));
	if (nn == 0)
		return;
	batch_begin(&b, d, &info->src);
	for (size_t i = 0; i < nn; i++)
		batch_add(&b, newer[i]);
	batch_flush(&b);
}

/* The held record of (key, writer), for its mark and confirms. */
static struct dht_stored *mutable_find(struct dht *d, const struct cert_addr *key,
                                       const struct cert_addr *writer)
{
	size_t cnt, first = dht_store_key_range(d->store, key, &cnt);

	for (size_t j = first; j < first + cnt; j++) {
		struct dht_stored *m = dht_store_at(d->store, j);

		if (ovl_addr_eq(&m->writer, writer))
			return m;
	}
	return NULL;
}

static void offer_free(struct offer *o)
{
	free(o->ent);
	memset(o, 0, sizeof(*o));
}

/* The answer to our digests: send what is wanted; count the rest as held
 * there, and drop what is no longer ours once every replica holds it. */
static void serve_want(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r)
{
	uint32_t oid = wire_get_u32(r);
	uint16_t n = wire_get_u16(r);
	struct offer *o = NULL;
	uint8_t *wanted;
	struct batch b;

	if (!wire_ok(r) || wire_remaining(r) != (size_t)n * 2)
		return;
	for (size_t i = 0; i < d->n_offers; i++)
		if (d->offers[i].oid == oid && ovl_addr_eq(&d->offers[i].peer, &info->src))
			o = &d->offers[i];
	if (!o || n > o->n)
		return;
	wanted = calloc(o->n, 1);
	if (!wanted)
		return;
	for (uint16_t i = 0; i < n; i++) {
		uint16_t k = wire_get_u16(r);

		if (k < o->n)
			wanted[k] = 1;
	}
	batch_begin(&b, d, &o->peer);
	for (size_t k = 0; k < o->n; k++) {
		struct offer_ent *e = &o->ent[k];
		const struct dht_stored *s = dht_store_find(d->store, &e->key, &e->writer);
		struct cert_addr rs[DHT_REPLICAS_MAX];
		struct dht_stored *m;
		size_t nrs, i;
		bool mine = false;

		if (!s)
			continue;
		if (wanted[k]) {
			batch_add(&b, s);
			d->st.synced_out++;
			continue;
		}
		if (s->seq > e->seq || s->mark != o->round)
			continue;
		m = mutable_find(d, &e->key, &e->writer);
		if (!m)
			continue;
		m->confirms++;
		nrs = dht_replica_set(d, &e->key, rs);
		for (i = 0; i < nrs; i++)
			if (dht_is_self(d, &rs[i]))
				mine = true;
		if (!mine && m->confirms >= nrs) {
			/* Every node now responsible holds it: handed off. */
			dht_store_remove(d->store, &e->key, &e->writer);
			d->st.handed_off++;
		}
	}
	batch_flush(&b);
	free(wanted);
	offer_free(o);
	*o = d->offers[--d->n_offers];
}

void dht_serve_msg(struct dht *d, uint8_t type, const struct ovl_route_info *info,
                   struct wire_reader *r)
{
	if (!rate_ok(d, &info->src, 1)) {
		LOG_RL(LOG_LVL_INFO, "replica messages over the rate limit dropped");
		return;
	}
	switch (type) {
	case M_CHECK:
		serve_check(d, info, r);
		break;
	case M_FETCH:
		serve_fetch(d, info, r);
		break;
	case M_CHECK_REP:
	case M_FETCH_REP:
		serve_answer(d, type, info, r);
		break;
	case M_STORE:
		serve_store(d, r);
		break;
	case M_OFFER:
		serve_offer(d, info, r);
		break;
	case M_WANT:
		serve_want(d, info, r);
		break;
	default:
		LOG_RL(LOG_LVL_DEBUG, "unknown DHT message %u dropped", type);
		break;
	}
}

/* ---- the digest exchange ------------------------------------------------------------------ */

struct peer_list {
	struct cert_addr peer;
	struct offer_ent *ent;
	size_t n, cap;
};

static void sync_round(struct dht *d)
{
	struct peer_list pl[OFFERS_MAX];
	size_t npl = 0, count;
	struct cert_addr rs[DHT_REPLICAS_MAX];
	size_t nrs = 0;
	const struct cert_addr *prev = NULL;

	d->st.expired += dht_store_expire(d->store, dht_wall(d));
	for (size_t i = 0; i < d->n_offers; i++)
		offer_free(&d->offers[i]);
	d->n_offers = 0;
	d->round++;
	count = dht_store_count(d->store);
	for (size_t i = 0; i < count; i++) {
		struct dht_stored *s = dht_store_at(d->store, i);

		if (!prev || !ovl_addr_eq(prev, &s->key))
			nrs = dht_replica_set(d, &s->key, rs);
		prev = &s->key;
		s->mark = d->round;
		s->confirms = 0;
		for (size_t k = 0; k < nrs; k++) {
			size_t p;

			if (dht_is_self(d, &rs[k]))
				continue;
			for (p = 0; p < npl; p++)
				if (ovl_addr_eq(&pl[p].peer, &rs[k]))
					break;
			if (p == npl) {
				if (npl == OFFERS_MAX)
					continue;
				pl[npl++] = (struct peer_list){.peer = rs[k]};
			}
			if (pl[p].n == pl[p].cap) {
				size_t cap = pl[p].cap ? 2 * pl[p].cap : 64;
				struct offer_ent *e = realloc(pl[p].ent, cap * sizeof(*e));

				if (!e)
					continue;
				pl[p].ent = e;
				pl[p].cap = cap;
			}
			pl[p].ent[pl[p].n++] = (struct offer_ent){
			        .key = s->key, .writer = s->writer, .seq = s->seq};
		}
	}
	for (size_t p = 0; p < npl; p++) {
		for (size_t off = 0; off < pl[p].n && d->n_offers < OFFERS_MAX; off += OFFER_MAX) {
			size_t n = pl[p].n - off < OFFER_MAX ? pl[p].n - off : OFFER_MAX;
			struct offer *o = &d->offers[d->n_offers];
			struct wire_writer w = wire_writer(d->out, sizeof(d->out));

			o->ent = malloc(n * sizeof(*o->ent));
			if (!o->ent)
				break;
			memcpy(o->ent, pl[p].ent + off, n * sizeof(*o->ent));
			o->n = n;
			o->oid = ++d->next_oid;
			o->peer = pl[p].peer;
			o->round = d->round;
			d->n_offers++;
			wire_put_u8(&w, M_OFFER);
			wire_put_u32(&w, o->oid);
			wire_put_u16(&w, (uint16_t)n);
			for (size_t k = 0; k < n; k++) {
				wire_put_bytes(&w, o->ent[k].key.b, CERT_ADDR_LEN);
				wire_put_bytes(&w, o->ent[k].writer.b, CERT_ADDR_LEN);
				wire_put_u64(&w, o->ent[k].seq);
			}
			dht_send(d, &o->peer, OVL_ROUTE_EXACT, d->out, wire_len(&w));
		}
		free(pl[p].ent);
	}
}

uint64_t dht_serve_tick(struct dht *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	uint64_t gen = ovl_node_links_gen(d->node);

	for (size_t i = 0; i < d->n_coord;) {
		if (now >= d->coord[i]->deadline) {
			coord_finish(d, i);
			continue;
		}
		if (d->coord[i]->deadline < next)
			next = d->coord[i]->deadline;
		i++;
	}
	for (size_t i = 0; i < d->n_resv;) {
		if (now >= d->resv[i].until) {
			d->resv[i] = d->resv[--d->n_resv];
			continue;
		}
		if (d->resv[i].until < next)
			next = d->resv[i].until;
		i++;
	}
	if (gen != d->links_gen) {
		/* The ring around us changed: hand off and re-replicate soon, but
		 * not more often than every few seconds however much links churn. */
		uint64_t at = now + d->cfg.repair_delay_ms, floor = d->last_sync + 5000;

		d->links_gen = gen;
		if (at < floor)
			at = floor;
		if (at < d->next_sync)
			d->next_sync = at;
	}
	if (now >= d->next_sync) {
		uint64_t jitter;

		sync_round(d);
		d->last_sync = now;
		d->cb.random(d->cb.ctx, &jitter, sizeof(jitter));
		d->next_sync = now + d->cfg.sync_ms / 2 + jitter % (d->cfg.sync_ms / 2 + 1);
	}
	return next < d->next_sync ? next : d->next_sync;
}

void dht_serve_free(struct dht *d)
{
	for (size_t i = 0; i < d->n_coord; i++)
		coord_free(d->coord[i]);
	for (size_t i = 0; i < d->n_offers; i++)
		offer_free(&d->offers[i]);
}
