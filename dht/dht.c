// SPDX-License-Identifier: MIT
/*
 * dht — the engine's frame: attachment to the node, message fragmentation
 * and reassembly, the loopback queue for messages to ourselves, our own
 * requests (retries, answers, verification of what we read) and the values
 * we keep re-putting. The primary's and replicas' side is in dht_serve.c.
 */
#define LOG_SUBSYS "dht"
#include "dht_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "log.h"

void dht_config_default(struct dht_config *cfg)
{
	*cfg = (struct dht_config){
	        .replicas = 3,
	        .ttl_max = DHT_TTL_MAX_DEFAULT,
	        .max_records = 65536,
	        .max_per_writer = 256,
	        .max_per_key = DHT_PER_KEY_MAX,
	        .rate_per_s = 20,
	        .rate_burst = 100,
	        .sync_ms = 30000,
	        .repair_delay_ms = 1000,
	        .attempt_ms = 2500,
	        .attempts = 4,
	        .replica_wait_ms = 1000,
	        .refresh_max_s = 600,
	};
}

const char *dht_op_name(enum dht_op op)
{
	static const char *const names[] = {
	        [DHT_OP_PUT] = "put",
	        [DHT_OP_CREATE] = "create",
	        [DHT_OP_GET] = "get",
	        [DHT_OP_REMOVE] = "remove",
	};
	return op > 0 && op < DHT_OP_MAX ? names[op] : "?";
}

const char *dht_status_name(enum dht_status s)
{
	static const char *const names[] = {
	        [DHT_OK] = "ok",
	        [DHT_EXISTS] = "exists",
	        [DHT_REFUSED] = "refused",
	        [DHT_TIMEOUT] = "timeout",
	        [DHT_UNREACHABLE] = "unreachable",
	};
	return s < DHT_STATUS_MAX ? names[s] : "?";
}

uint64_t dht_wall(struct dht *d)
{
	time_t t = d->cb.wall(d->cb.ctx);

	return t > 0 ? (uint64_t)t : 0;
}

void dht_due(struct dht *d, uint64_t at)
{
	if (at < d->next_due)
		d->next_due = at;
}

bool dht_is_self(const struct dht *d, const struct cert_addr *a)
{
	return ovl_addr_eq(a, &d->self.addr);
}

size_t dht_replica_set(struct dht *d, const struct cert_addr *key, struct cert_addr *out)
{
	return ovl_node_nearest(d->node, key, out, d->cfg.replicas);
}

const char *dht_namespace(const struct dht *d)
{
	return d->self.namespace;
}

const struct dht_config *dht_config(const struct dht *d)
{
	return &d->cfg;
}

/* ---- messages: fragmentation, reassembly, loopback ---------------------------- */

/* Whether a message to dst in this mode would end at ourselves. */
static bool ends_here(struct dht *d, const struct cert_addr *dst, enum ovl_route_mode mode)
{
	struct cert_addr nearest;

	if (mode == OVL_ROUTE_EXACT)
		return dht_is_self(d, dst);
	return ovl_node_nearest(d->node, dst, &nearest, 1) == 1 && dht_is_self(d, &nearest);
}

int dht_send(struct dht *d, const struct cert_addr *dst, enum ovl_route_mode mode,
             const uint8_t *msg, size_t len)
{
	uint8_t frag[FRAG_ROUTED];
	size_t count = (len + FRAG_DATA - 1) / FRAG_DATA;
	uint32_t msg_id;
	int rc = 0;

	if (len == 0 || count > FRAGS_MAX)
		return -EMSGSIZE;
	d->st.msgs_out++;
	if (ends_here(d, dst, mode)) {
		/* Handled at the next tick, never inside the caller's frame. */
		struct loop_msg *m;

		if (d->n_loop == LOOP_MAX)
			return -ENOBUFS;
		m = &d->loop[d->n_loop];
		m->buf = malloc(len);
		if (!m->buf)
			return -ENOMEM;
		memcpy(m->buf, msg, len);
		m->len = len;
		m->info = (struct ovl_route_info){
		        .src = d->self.addr, .dst = *dst, .mode = mode, .proto = DHT_PROTO};
		d->n_loop++;
		dht_due(d, d->now);
		return 0;
	}
	msg_id = ++d->next_msg_id;
	for (size_t i = 0; i < count; i++) {
		size_t off = i * FRAG_DATA, n = len - off < FRAG_DATA ? len - off : FRAG_DATA;
		struct wire_writer w = wire_writer(frag, sizeof(frag));
		int r;

		wire_put_u32(&w, msg_id);
		wire_put_u8(&w, (uint8_t)i);
		wire_put_u8(&w, (uint8_t)count);
		wire_put_bytes(&w, msg + off, n);
		r = ovl_node_route(d->node, d->now, dst, mode, DHT_PROTO, frag, wire_len(&w), NULL);
		d->st.frags_out++;
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

static void dispatch(struct dht *d, const struct ovl_route_info *info, const uint8_t *msg,
                     size_t len)
{
	struct wire_reader r = wire_reader(msg, len);
	uint8_t type = wire_get_u8(&r);

	d->st.msgs_in++;
	switch (type) {
	case M_REQ:
		dht_serve_req(d, info, &r);
		break;
	case M_REP:
		dht_handle_rep(d, info, &r);
		break;
	default:
		dht_serve_msg(d, type, info, &r);
		break;
	}
}

static void reasm_drop(struct reasm *ra)
{
	free(ra->buf);
	memset(ra, 0, sizeof(*ra));
}

/* A fragment arrived; whole messages are dispatched. */
static void on_deliver(void *ctx, uint64_t now, const struct ovl_route_info *info,
                       const uint8_t *payload, size_t len)
{
	struct dht *d = ctx;
	struct wire_reader r = wire_reader(payload, len);
	uint32_t msg_id = wire_get_u32(&r);
	uint8_t idx = wire_get_u8(&r), count = wire_get_u8(&r);
	size_t n = wire_remaining(&r);
	const uint8_t *data = wire_get_ptr(&r, n);
	struct reasm *ra = NULL, *oldest = NULL;

	d->now = now;
	d->st.frags_in++;
	if (!wire_ok(&r) || count == 0 || count > FRAGS_MAX || idx >= count || n == 0 ||
	    n > FRAG_DATA || (idx + 1 < count && n != FRAG_DATA)) {
		LOG_RL(LOG_LVL_DEBUG, "malformed fragment dropped");
		d->st.reassembly_dropped++;
		return;
	}
	if (count == 1) {
		dispatch(d, info, data, n);
		return;
	}
	for (size_t i = 0; i < REASM_MAX; i++) {
		struct reasm *x = &d->reasm[i];

		if (x->used && now - x->started > REASM_MS) {
			d->st.reassembly_dropped++;
			reasm_drop(x);
		}
		if (x->used && x->msg_id == msg_id && ovl_addr_eq(&x->src, &info->src))
			ra = x;
	}
	for (size_t i = 0; !ra && i < REASM_MAX; i++) {
		struct reasm *x = &d->reasm[i];

		if (!x->used) {
			oldest = x;
			break;
		}
		if (!oldest || x->started < oldest->started)
			oldest = x;
	}
	if (!ra) {
		ra = oldest;
		if (ra->used) {
			d->st.reassembly_dropped++;
			reasm_drop(ra);
		}
		ra->buf = malloc((size_t)count * FRAG_DATA);
		if (!ra->buf)
			return;
		ra->used = true;
		ra->src = info->src;
		ra->msg_id = msg_id;
		ra->count = count;
		ra->started = now;
	}
	if (ra->count != count) {
		d->st.reassembly_dropped++;
		reasm_drop(ra);
		return;
	}
	if (ra->got & (1u << idx))
		return; /* a duplicate */
	memcpy(ra->buf + (size_t)idx * FRAG_DATA, data, n);
	ra->got |= 1u << idx;
	ra->got_n++;
	if (idx + 1 == count)
		ra->last_len = n;
	ra->info = *info;
	if (ra->got_n == count) {
		struct reasm whole = *ra;

		memset(ra, 0, sizeof(*ra)); /* the slot is free before anything runs */
		dispatch(d, &whole.info, whole.buf,
		         (size_t)(count - 1) * FRAG_DATA + whole.last_len);
		free(whole.buf);
	}
}

/* ---- records ------------------------------------------------------------------- */

bool dht_read_record(struct dht *d, struct wire_reader *r, struct dht_record *rec, char *why,
                     size_t why_len)
{
	if (dht_record_parse(r, rec) < 0) {
		snprintf(why, why_len, "malformed record");
		d->st.verify_failed++;
		return false;
	}
	if (dht_record_verify(d->crypto, (time_t)dht_wall(d), d->cfg.ttl_max, rec, NULL, why,
	                      why_len) < 0) {
		d->st.verify_failed++;
		return false;
	}
	return true;
}

/* ---- our requests ----------------------------------------------------------------- */

static struct own *own_find(struct dht *d, const struct cert_addr *key)
{
	for (size_t i = 0; i < d->n_own; i++)
		if (ovl_addr_eq(&d->own[i].key, key))
			return &d->own[i];
	return NULL;
}

/* Keeps *o alive (replacing what we kept for its key). 0, -ENOBUFS, -ENOMEM. */
static int own_add(struct dht *d, const struct own *o)
{
	struct own *slot = own_find(d, &o->key);

	if (!slot) {
		if (d->n_own == OWN_MAX)
			return -ENOBUFS;
		if (d->n_own == d->own_cap) {
			size_t cap = d->own_cap ? 2 * d->own_cap : 16;
			struct own *p = realloc(d->own, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			d->own = p;
			d->own_cap = cap;
		}
		slot = &d->own[d->n_own++];
	}
	*slot = *o;
	dht_due(d, slot->refresh_at);
	return 0;
}

static struct creq *req_find(struct dht *d, uint32_t rid, size_t *at)
{
	for (size_t i = 0; i < d->n_req; i++)
		if (d->req[i]->rid == rid) {
			if (at)
				*at = i;
			return d->req[i];
		}
	return NULL;
}

static void req_free(struct creq *q)
{
	free(q->rec);
	free(q->keep);
	free(q);
}

static void req_unlink(struct dht *d, size_t i)
{
	d->req[i] = d->req[--d->n_req];
}

static void req_send(struct dht *d, struct creq *q)
{
	struct wire_writer w = wire_writer(d->out, sizeof(d->out));
	int rc;

	wire_put_u8(&w, M_REQ);
	wire_put_u32(&w, q->rid);
	wire_put_u8(&w, (uint8_t)q->op);
	wire_put_bytes(&w, q->key.b, CERT_ADDR_LEN);
	wire_put_u8(&w, (uint8_t)q->tries);
	if (q->rec)
		wire_put_bytes(&w, q->rec, q->rec_len);
	q->tries++;
	q->next_at = d->now + d->cfg.attempt_ms;
	dht_due(d, q->next_at);
	if (!wire_wok(&w))
		return; /* cannot happen: records fit a message */
	rc = dht_send(d, &q->key, OVL_ROUTE_NEAREST, d->out, wire_len(&w));
	if (rc < 0)
		LOG_RL(LOG_LVL_DEBUG, "%s: send failed: %d", dht_op_name(q->op), rc);
}

/* Ends request i with res (done runs after the request is gone). */
static void req_finish(struct dht *d, size_t i, struct dht_result *res)
{
	struct creq *q = d->req[i];

	req_unlink(d, i);
	res->req = q->rid;
	res->op = q->op;
	res->key = q->key;
	res->tries = q->tries;
	if (q->keep && res->status == DHT_OK && own_add(d, q->keep) < 0)
		LOG(LOG_LVL_WARN, "cannot keep a created value alive: too many values");
	if (q->done)
		q->done(q->ctx, res);
	req_free(q);
}

static int req_start(struct dht *d, uint64_t now, enum dht_op op, const struct cert_addr *key,
                     uint8_t *rec, size_t rec_len, dht_done_fn done, void *ctx, uint32_t *rid)
{
	struct creq *q;

	d->now = now;
	if (d->n_req == PENDING_MAX) {
		free(rec);
		return -ENOBUFS;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		free(rec);
		return -ENOMEM;
	}
	do
		q->rid = ++d->next_rid;
	while (q->rid == 0 || req_find(d, q->rid, NULL));
	q->op = op;
	q->key = *key;
	q->rec = rec;
	q->rec_len = rec_len;
	q->done = done;
	q->ctx = ctx;
	d->req[d->n_req++] = q;
	if (rid)
		*rid = q->rid;
	req_send(d, q);
	return 0;
}

static uint64_t next_seq(struct dht *d)
{
	uint64_t s = dht_wall(d) * 1000;

	d->last_seq = s > d->last_seq ? s : d->last_seq + 1;
	return d->last_seq;
}

/* A new record of ours, malloc'd. */
static int make_record(struct dht *d, const struct cert_addr *key, uint64_t expires, uint8_t flags,
                       const uint8_t *value, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = malloc(DHT_RECORD_MAX);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = dht_record_build(d->crypto, key, next_seq(d), expires, flags, value, len, buf,
	                      DHT_RECORD_MAX, out_len);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static uint64_t refresh_delay_ms(const struct dht *d, uint32_t ttl)
{
	uint64_t s = ttl / 2;

	if (s > d->cfg.refresh_max_s)
		s = d->cfg.refresh_max_s;
	return (s ? s : 1) * 1000;
}

static int write_value(struct dht *d, uint64_t now, enum dht_op op, const struct cert_addr *key,
                       const uint8_t *value, size_t len, uint32_t ttl, bool refresh,
                       dht_done_fn done, void *ctx, uint32_t *rid)
{
	struct own o = {0}, *keep = NULL, *old;
	uint8_t *rec;
	size_t rec_len;
	uint32_t id;
	int rc;

	d->now = now;
	if (ttl == 0 || ttl > d->cfg.ttl_max || len > DHT_VALUE_MAX || (len && !value))
		return -EINVAL;
	o.key = *key;
	if (len)
		memcpy(o.value, value, len);
	o.len = (uint16_t)len;
	o.ttl = ttl;
	o.expires = dht_wall(d) + ttl;
	o.refresh_at = now + refresh_delay_ms(d, ttl);
	if (refresh && op == DHT_OP_CREATE) {
		/* Kept alive only once the create succeeded: a refused or
		 * lost create must never come back as a put. */
		keep = malloc(sizeof(*keep));
		if (!keep)
			return -ENOMEM;
		*keep = o;
	}
	rc = make_record(d, key, o.expires, 0, value, len, &rec, &rec_len);
	if (rc < 0) {
		free(keep);
		return rc;
	}
	if (refresh && op == DHT_OP_PUT) {
		rc = own_add(d, &o);
		if (rc < 0) {
			free(rec);
			return rc;
		}
	} else if ((old = own_find(d, key))) {
		/* Written anew without refresh, or as a create: the old value is
		 * no longer ours to keep alive (a create's, once it succeeds). */
		*old = d->own[--d->n_own];
	}
	rc = req_start(d, now, op, key, rec, rec_len, done, ctx, &id);
	if (rc < 0) {
		free(keep);
		return rc;
	}
	struct creq *q = req_find(d, id, NULL);

	if (q) /* always: requests never end inside the call that made them */
		q->keep = keep;
	else
		free(keep);
	if (rid)
		*rid = id;
	return 0;
}

int dht_put(struct dht *d, uint64_t now, const struct cert_addr *key, const uint8_t *value,
            size_t len, uint32_t ttl, bool refresh, dht_done_fn done, void *ctx, uint32_t *req)
{
	return write_value(d, now, DHT_OP_PUT, key, value, len, ttl, refresh, done, ctx, req);
}

int dht_create(struct dht *d, uint64_t now, const struct cert_addr *key, const uint8_t *value,
               size_t len, uint32_t ttl, bool refresh, dht_done_fn done, void *ctx, uint32_t *req)
{
	return write_value(d, now, DHT_OP_CREATE, key, value, len, ttl, refresh, done, ctx, req);
}

int dht_get(struct dht *d, uint64_t now, const struct cert_addr *key, dht_done_fn done, void *ctx,
            uint32_t *req)
{
	return req_start(d, now, DHT_OP_GET, key, NULL, 0, done, ctx, req);
}

int dht_remove(struct dht *d, uint64_t now, const struct cert_addr *key, dht_done_fn done,
               void *ctx, uint32_t *req)
{
	struct own *o;
	uint64_t expires;
	uint8_t *rec;
	size_t rec_len;
	int rc;

	d->now = now;
	o = own_find(d, key);
	/* The tombstone must outlive any value of ours it replaces. */
	expires = o ? o->expires : dht_wall(d) + d->cfg.ttl_max;
	if (expires <= dht_wall(d))
		expires = dht_wall(d) + 60;
	rc = make_record(d, key, expires, DHT_REC_TOMBSTONE, NULL, 0, &rec, &rec_len);
	if (rc < 0)
		return rc;
	if (o)
		*o = d->own[--d->n_own];
	return req_start(d, now, DHT_OP_REMOVE, key, rec, rec_len, done, ctx, req);
}

int dht_put_raw(struct dht *d, uint64_t now, const uint8_t *record, size_t len, dht_done_fn done,
                void *ctx, uint32_t *req)
{
	struct wire_reader r = wire_reader(record, len);
	struct dht_record rec;
	uint8_t *copy;

	if (dht_record_parse(&r, &rec) < 0 || !wire_done(&r))
		return -EINVAL;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, record, len);
	return req_start(d, now, DHT_OP_PUT, &rec.key, copy, len, done, ctx, req);
}

void dht_cancel(struct dht *d, uint32_t rid)
{
	size_t i;
	struct creq *q = req_find(d, rid, &i);

	if (q) {
		req_unlink(d, i);
		req_free(q);
	}
}

/* An answer to one of our requests. */
void dht_handle_rep(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r)
{
	struct dht_value vals[DHT_PER_KEY_MAX];
	uint64_t seqs[DHT_PER_KEY_MAX];
	struct dht_result res = {0};
	uint32_t rid = wire_get_u32(r);
	uint8_t status = wire_get_u8(r), hops = wire_get_u8(r), elen = wire_get_u8(r), n;
	const uint8_t *err = wire_get_ptr(r, elen);
	uint64_t wall = dht_wall(d);
	struct creq *q;
	size_t i, nv = 0;

	n = wire_get_u8(r);
	if (!wire_ok(r) || status >= DHT_STATUS_MAX || elen > ERRSTR_MAX || n > DHT_PER_KEY_MAX ||
	    !(q = req_find(d, rid, &i))) {
		LOG_RL(LOG_LVL_DEBUG, "stray or malformed answer dropped");
		return;
	}
	/* Only the primary's answer counts; an answer routed from elsewhere to
	 * our exact address is still just an answer, and every value in it is
	 * checked again below. */
	(void)info;
	res.status = (enum dht_status)status;
	res.hops = hops;
	memcpy(res.error, err, elen);
	res.error[elen] = '\0';
	for (uint8_t k = 0; k < n; k++) {
		struct dht_record rec;
		struct cert_info who;
		char why[DHT_ERR_MAX];
		size_t j;

		if (dht_record_parse(r, &rec) < 0)
			break;
		/* Readers verify again: a storing node cannot make us believe a
		 * forged or foreign value. */
		if (dht_record_verify(d->crypto, (time_t)wall, d->cfg.ttl_max, &rec, &who, why,
		                      sizeof(why)) < 0 ||
		    !ovl_addr_eq(&rec.key, &q->key)) {
			d->st.verify_failed++;
			LOG_RL(LOG_LVL_INFO, "answer for %s holds a bad value: %s",
			       dht_op_name(q->op), why);
			continue;
		}
		if (status == DHT_EXISTS && rec.flags == 0) {
			snprintf(res.error, sizeof(res.error), "held by %s", who.name);
			continue;
		}
		for (j = 0; j < nv; j++)
			if (ovl_addr_eq(&vals[j].writer, &rec.writer))
				break;
		if (j < nv && seqs[j] >= rec.seq)
			continue;
		if (j == nv)
			nv++;
		seqs[j] = rec.seq;
		vals[j] = (struct dht_value){
		        .writer = rec.writer,
		        .value = rec.value,
		        .len = rec.flags & DHT_REC_TOMBSTONE ? UINT16_MAX : rec.vlen,
		        .ttl = (uint32_t)(rec.expires - wall),
		};
		snprintf(vals[j].writer_name, sizeof(vals[j].writer_name), "%s", who.name);
		snprintf(vals[j].writer_ip, sizeof(vals[j].writer_ip), "%s",
		         who.has_ip ? who.ip : "");
	}
	if (q->op == DHT_OP_GET && status == DHT_OK) {
		/* Tombstones hide the writer's older values; drop them last. */
		size_t m = 0;

		for (size_t j = 0; j < nv; j++)
			if (vals[j].len != UINT16_MAX)
				vals[m++] = vals[j];
		res.values = vals;
		res.n_values = m;
	}
	req_finish(d, i, &res);
}

/* ---- timers ------------------------------------------------------------------------- */

static void refresh_own(struct dht *d, struct own *o)
{
	uint8_t *rec;
	size_t rec_len;

	o->expires = dht_wall(d) + o->ttl;
	o->refresh_at = d->now + refresh_delay_ms(d, o->ttl);
	dht_due(d, o->refresh_at);
	if (make_record(d, &o->key, o->expires, 0, o->value, o->len, &rec, &rec_len) < 0)
		return;
	if (req_start(d, d->now, DHT_OP_PUT, &o->key, rec, rec_len, NULL, NULL, NULL) < 0)
		LOG_RL(LOG_LVL_WARN, "cannot re-put a value: too many requests pending");
}

static uint64_t on_tick(void *ctx, uint64_t now)
{
	struct dht *d = ctx;
	uint64_t next;

	d->now = now;
	if (ovl_node_links_gen(d->node) != d->links_gen)
		d->next_due = now; /* dht_serve_tick schedules the hand-off */
	if (now < d->next_due)
		return d->next_due;
	d->next_due = UINT64_MAX;

	/* Messages to ourselves, queued by dht_send. */
	while (d->n_loop > 0) {
		struct loop_msg m = d->loop[0];

		memmove(d->loop, d->loop + 1, --d->n_loop * sizeof(d->loop[0]));
		dispatch(d, &m.info, m.buf, m.len);
		free(m.buf);
	}
	for (size_t i = 0; i < d->n_req;) {
		struct creq *q = d->req[i];

		if (now < q->next_at) {
			dht_due(d, q->next_at);
			i++;
			continue;
		}
		if (q->tries < d->cfg.attempts) {
			req_send(d, q);
			i++;
			continue;
		}
		struct dht_result res = {.status = DHT_TIMEOUT};

		snprintf(res.error, sizeof(res.error), "no answer after %u tries", q->tries);
		req_finish(d, i, &res); /* i now holds another request */
	}
	for (size_t i = 0; i < d->n_own; i++) {
		if (now >= d->own[i].refresh_at)
			refresh_own(d, &d->own[i]);
		dht_due(d, d->own[i].refresh_at);
	}
	next = dht_serve_tick(d, now);
	dht_due(d, next);
	if (d->n_loop > 0)
		dht_due(d, now + 1);
	return d->next_due > now ? d->next_due : now + 1;
}

static void on_detach(void *ctx)
{
	struct dht *d = ctx;

	for (size_t i = 0; i < d->n_req; i++)
		req_free(d->req[i]);
	for (size_t i = 0; i < REASM_MAX; i++)
		free(d->reasm[i].buf);
	for (size_t i = 0; i < d->n_loop; i++)
		free(d->loop[i].buf);
	dht_serve_free(d);
	dht_store_free(d->store);
	free(d->own);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
}

int dht_new(struct ovl_node *node, const struct dht_config *cfg, const struct dht_cb *cb,
            struct dht **out)
{
	struct dht_store_limits lim = {
	        .max_records = cfg->max_records,
	        .max_per_writer = cfg->max_per_writer,
	        .max_per_key = cfg->max_per_key,
	};
	struct ovl_upper up = {
	        .proto = DHT_PROTO,
	        .deliver = on_deliver,
	        .tick = on_tick,
	        .detach = on_detach,
	};
	struct dht *d;
	int rc;

	if (!cb->wall || !cb->random || cfg->replicas < DHT_REPLICAS_MIN ||
	    cfg->replicas > DHT_REPLICAS_MAX || cfg->ttl_max == 0 || !cfg->rate_per_s ||
	    !cfg->rate_burst || !cfg->sync_ms || !cfg->attempt_ms || !cfg->attempts ||
	    cfg->attempts > 255 || !cfg->replica_wait_ms || !cfg->refresh_max_s ||
	    ovl_node_leaf_per_side(node) + 1 < cfg->replicas)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->cb = *cb;
	d->node = node;
	d->crypto = ovl_node_crypto(node);
	d->self = *ovl_crypto_self(d->crypto);
	d->next_due = 0;
	cb->random(cb->ctx, &d->next_rid, sizeof(d->next_rid));
	cb->random(cb->ctx, &d->next_msg_id, sizeof(d->next_msg_id));
	rc = dht_store_new(&lim, &d->store);
	if (rc < 0) {
		free(d);
		return rc;
	}
	up.ctx = d;
	rc = ovl_node_attach(node, &up);
	if (rc < 0) {
		dht_store_free(d->store);
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void dht_stats(const struct dht *d, struct dht_stats *out)
{
	size_t n = dht_store_count(d->store), tomb = 0;

	*out = d->st;
	for (size_t i = 0; i < n; i++)
		if (dht_store_at(d->store, i)->flags & DHT_REC_TOMBSTONE)
			tomb++;
	out->records = n - tomb;
	out->tombstones = tomb;
	out->own_values = d->n_own;
	out->pending = d->n_req;
}
