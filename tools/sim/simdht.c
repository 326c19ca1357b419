// SPDX-License-Identifier: MIT
/* simdht — DHT engines on the simulated nodes, puts, reads, a create race (see simdht.h). */
#include "simdht.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dht_internal.h" /* sim_dht_holds only */

#define SCAN_MS     50    /* how often pending requests are checked for loss */
#define LOST_MARGIN 10000 /* ms beyond the engine's own retry budget */

/* ---- engines on nodes ------------------------------------------------------------ */

static time_t cb_wall(void *ctx)
{
	return sim_wall(ctx);
}

static void cb_random(void *ctx, void *buf, size_t len)
{
	sim_rand_fill(ctx, buf, len);
}

int sim_dht_init(struct sim_dht *sd, struct sim *s, const struct dht_config *cfg)
{
	memset(sd, 0, sizeof(*sd));
	sd->d = calloc(sim_nodes(s), sizeof(*sd->d));
	if (!sd->d)
		return -ENOMEM;
	sd->s = s;
	sd->cfg = *cfg;
	sd->n = sim_nodes(s);
	return 0;
}

void sim_dht_release(struct sim_dht *sd)
{
	/* The engines belong to their nodes (sim_free frees them). */
	free(sd->d);
	memset(sd, 0, sizeof(*sd));
}

int sim_dht_start(struct sim_dht *sd, size_t i)
{
	struct dht_cb cb = {.ctx = sd->s, .wall = cb_wall, .random = cb_random};
	int rc;

	if (i >= sd->n)
		return -EINVAL;
	rc = sim_start(sd->s, i);
	if (rc < 0)
		return rc;
	rc = dht_new(sim_node(sd->s, i), &sd->cfg, &cb, &sd->d[i]);
	if (rc < 0) {
		sd->d[i] = NULL;
		return rc;
	}
	sim_poke(sd->s, i); /* the engine's first deadline */
	return 0;
}

struct dht *sim_dht_of(struct sim_dht *sd, size_t i)
{
	/* A dead node freed its engine: never hand out the stale pointer. */
	if (i >= sd->n || !sim_is_live(sd->s, i))
		return NULL;
	return sd->d[i];
}

bool sim_dht_holds(struct sim_dht *sd, size_t i, const struct sim_dht_key *k)
{
	struct dht *d = sim_dht_of(sd, i);
	const struct dht_stored *st;

	if (!d || k->writer >= sd->n)
		return false; /* no such writer: a put that found no live node */
	st = dht_store_find(d->store, &k->key, sim_addr(sd->s, k->writer));
	return st && !(st->flags & DHT_REC_TOMBSTONE) && st->expires > (uint64_t)sim_wall(sd->s) &&
	       st->vlen == k->vlen && memcmp(st->value, k->value, k->vlen) == 0;
}

const char *sim_dht_outcome_name(unsigned outcome)
{
	if (outcome < DHT_STATUS_MAX)
		return dht_status_name((enum dht_status)outcome);
	if (outcome == SIM_DHT_LOST)
		return "lost";
	if (outcome == SIM_DHT_NOCALL)
		return "call refused";
	return "?";
}

void sim_dht_opts_default(struct sim_dht_opts *o)
{
	o->spacing_ms = 5;
	o->inflight = 200;
	o->ttl = 3600;
	o->refresh = true;
}

size_t sim_dht_held_anywhere(struct sim_dht *sd, const struct sim_dht_key *keys, size_t n)
{
	size_t held = 0;

	/* Every live node, not only the key's nearest: a copy anywhere can
	 * still be synced back to where it belongs. */
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < sd->n; i++)
			if (sim_dht_holds(sd, i, &keys[k])) {
				held++;
				break;
			}
	return held;
}

void sim_dht_totals(struct sim_dht *sd, struct dht_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sd->n; i++) {
		struct dht *d = sim_dht_of(sd, i);
		struct dht_stats st;

		if (!d)
			continue;
		dht_stats(d, &st);
		out->records += st.records;
		out->tombstones += st.tombstones;
		out->own_values += st.own_values;
		out->pending += st.pending;
		out->stored += st.stored;
		out->refused += st.refused;
		out->verify_failed += st.verify_failed;
		out->rate_limited += st.rate_limited;
		out->handed_off += st.handed_off;
		out->repaired += st.repaired;
		out->synced_out += st.synced_out;
		out->expired += st.expired;
		out->msgs_in += st.msgs_in;
		out->msgs_out += st.msgs_out;
		out->frags_in += st.frags_in;
		out->frags_out += st.frags_out;
		out->reassembly_dropped += st.reassembly_dropped;
	}
}

/* ---- batches of requests ------------------------------------------------------------ */

enum verdict {
	V_NONE,
	V_READABLE, /* the written value, byte for byte */
	V_MISSING,  /* answered, but the writer's value is not among the values */
	V_WRONG,    /* the writer's value with other bytes */
};

enum req_state {
	R_IDLE,
	R_PENDING,
	R_DONE,
};

struct batch;

struct req {
	struct batch *b;
	size_t k; /* the key's index */
	uint32_t node, rid;
	uint64_t started;
	uint8_t state, outcome, verdict, values;
	unsigned hops;
};

struct batch {
	struct sim_dht *sd;
	const struct sim_dht_opts *o;
	enum dht_op op;
	const struct sim_dht_key *keys;
	struct sim_dht_key *writers; /* put, create: keys, whose writer issue() sets */
	const uint32_t *nodes;       /* who asks for key k; NULL: a random live node */
	struct req *r;
	size_t n, active;
	uint64_t lost_ms;
};

static void on_done(void *ctx, const struct dht_result *res)
{
	struct req *q = ctx;
	struct batch *b = q->b;
	const struct sim_dht_key *k = &b->keys[q->k];
	const struct cert_addr *writer = sim_addr(b->sd->s, k->writer);

	if (q->state != R_PENDING)
		return; /* cannot happen: done runs once, and lost ones are cancelled */
	q->state = R_DONE;
	b->active--;
	q->outcome = (uint8_t)res->status;
	q->hops = res->hops;
	if (b->op != DHT_OP_GET || res->status != DHT_OK)
		return;
	q->values = (uint8_t)(res->n_values < 255 ? res->n_values : 255);
	q->verdict = V_MISSING;
	for (size_t j = 0; j < res->n_values; j++) {
		const struct dht_value *v = &res->values[j];

		if (!ovl_addr_eq(&v->writer, writer))
			continue;
		q->verdict = v->len == k->vlen && memcmp(v->value, k->value, k->vlen) == 0
		                     ? V_READABLE
		                     : V_WRONG;
		break;
	}
}

/* Starts request k from its node; the outcome comes to on_done. */
static void issue(struct batch *b, size_t k)
{
	struct sim *s = b->sd->s;
	struct req *q = &b->r[k];
	const struct sim_dht_key *key = &b->keys[k];
	size_t node = b->nodes ? b->nodes[k] : sim_random_live(s);
	struct dht *d = node == SIZE_MAX ? NULL : sim_dht_of(b->sd, node);
	const uint8_t *v = (const uint8_t *)key->value;
	uint64_t now = sim_now(s);
	int rc = -ENODEV;

	q->b = b;
	q->k = k;
	q->node = (uint32_t)node;
	q->started = now;
	q->state = R_PENDING;
	if (b->writers)
		b->writers[k].writer = (uint32_t)node;
	if (d) {
		switch (b->op) {
		case DHT_OP_PUT:
			rc = dht_put(d, now, &key->key, v, key->vlen, b->o->ttl, b->o->refresh,
			             on_done, q, &q->rid);
			break;
		case DHT_OP_CREATE:
			rc = dht_create(d, now, &key->key, v, key->vlen, b->o->ttl, b->o->refresh,
			                on_done, q, &q->rid);
			break;
		default:
			rc = dht_get(d, now, &key->key, on_done, q, &q->rid);
			break;
		}
	}
	if (rc < 0) {
		q->state = R_DONE;
		q->outcome = SIM_DHT_NOCALL;
		return;
	}
	b->active++;
	sim_poke(s, node);
}

/* A request without an outcome for too long is lost; the engine forgets
 * it, so no late done can reach the batch once it is freed. */
static void reap(struct batch *b, size_t *pending, size_t *n_pending)
{
	uint64_t now = sim_now(b->sd->s);
	size_t keep = 0;

	for (size_t j = 0; j < *n_pending; j++) {
		struct req *q = &b->r[pending[j]];

		if (q->state == R_PENDING && now - q->started >= b->lost_ms) {
			struct dht *d = sim_dht_of(b->sd, q->node);

			if (d)
				dht_cancel(d, q->rid);
			q->state = R_DONE;
			q->outcome = SIM_DHT_LOST;
			b->active--;
		}
		if (q->state == R_PENDING)
			pending[keep++] = pending[j];
	}
	*n_pending = keep;
}

/* Issues every request of b (one per spacing_ms, at most inflight at once)
 * and runs the sim until each has an outcome. Bounded: a request ends at
 * the latest lost_ms after it started, and the clock moves on every round.
 * With spacing 0, as many as inflight allows start at the same instant. */
static int batch_run(struct batch *b)
{
	const struct sim_dht_opts *o = b->o;
	const struct dht_config *c = &b->sd->cfg;
	struct sim *s = b->sd->s;
	size_t *pending, n_pending = 0, issued = 0, cap = o->inflight ? o->inflight : 1;
	uint64_t next_issue = sim_now(s), next_scan = sim_now(s) + SCAN_MS;

	b->r = calloc(b->n ? b->n : 1, sizeof(*b->r));
	pending = calloc(b->n ? b->n : 1, sizeof(*pending));
	if (!b->r || !pending) {
		free(pending);
		free(b->r);
		b->r = NULL;
		return -ENOMEM;
	}
	b->lost_ms = (uint64_t)c->attempts * c->attempt_ms + c->replica_wait_ms + LOST_MARGIN;
	while (issued < b->n || b->active > 0) {
		uint64_t now = sim_now(s), next;

		while (issued < b->n && b->active < cap && next_issue <= now) {
			issue(b, issued);
			if (b->r[issued].state == R_PENDING)
				pending[n_pending++] = issued;
			issued++;
			next_issue = now + o->spacing_ms;
		}
		if (now >= next_scan) {
			reap(b, pending, &n_pending);
			next_scan = now + SCAN_MS;
		}
		if (issued == b->n && b->active == 0)
			break;
		next = next_scan;
		if (issued < b->n && b->active < cap && next_issue < next)
			next = next_issue;
		if (issued < b->n && b->active >= cap && now + 1 < next)
			next = now + (o->spacing_ms ? o->spacing_ms : 1); /* a slot may free soon */
		sim_run_until(s, next > now ? next : now + 1);
	}
	free(pending);
	return 0;
}

static void tally(const struct batch *b, struct sim_dht_tally *t)
{
	memset(t, 0, sizeof(*t));
	t->count = b->n;
	for (size_t k = 0; k < b->n; k++)
		t->by[b->r[k].outcome < SIM_DHT_OUTCOMES ? b->r[k].outcome : SIM_DHT_LOST]++;
}

/* ---- the experiment's verbs ------------------------------------------------------------ */

static void make_key(struct sim_dht_key *k, const char *app, const char *value)
{
	memset(k, 0, sizeof(*k));
	dht_key_of(SIM_NAMESPACE, (const uint8_t *)app, strlen(app), &k->key);
	k->vlen = (uint8_t)snprintf(k->value, sizeof(k->value), "%s", value);
}

int sim_dht_put_keys(struct sim_dht *sd, const struct sim_dht_opts *o, struct sim_dht_key *keys,
                     size_t n, struct sim_dht_tally *out)
{
	struct batch b = {
	        .sd = sd, .o = o, .op = DHT_OP_PUT, .keys = keys, .writers = keys, .n = n};
	int rc;

	memset(out, 0, sizeof(*out));
	if (sim_live(sd->s) == 0)
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		char app[32], val[32];

		snprintf(app, sizeof(app), "k%zu", i);
		snprintf(val, sizeof(val), "v%zu", i);
		make_key(&keys[i], app, val);
	}
	rc = batch_run(&b);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		keys[i].put = b.r[i].outcome;
	tally(&b, out);
	free(b.r);
	return 0;
}

int sim_dht_read_check(struct sim_dht *sd, struct sim_ring *ring, const struct sim_dht_opts *o,
                       const struct sim_dht_key *keys, size_t n, size_t first_new,
                       struct sim_dht_read *out)
{
	struct batch b = {.sd = sd, .o = o, .op = DHT_OP_GET, .keys = keys, .n = n};
	uint32_t near[DHT_REPLICAS_MAX];
	uint64_t hops = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->keys = n;
	if (sim_live(sd->s) == 0)
		return -EIO;
	if (sim_ring_update(ring, sd->s) < 0)
		return -ENOMEM;
	/* Where the records are, before the gets (which change nothing anyway). */
	for (size_t i = 0; i < n; i++) {
		size_t m = sim_ring_nearest(ring, &keys[i].key, near, sd->cfg.replicas);

		for (size_t j = 0; j < m; j++) {
			bool held = sim_dht_holds(sd, near[j], &keys[i]);

			out->slots++;
			out->held += held;
			if (first_new != SIZE_MAX && near[j] >= first_new) {
				out->new_slots++;
				out->new_held += held;
			}
		}
	}
	rc = batch_run(&b);
	if (rc < 0)
		return rc;
	tally(&b, &out->gets);
	for (size_t i = 0; i < n; i++) {
		const struct req *q = &b.r[i];
		bool live = sim_is_live(sd->s, keys[i].writer);

		out->live_writers += live;
		switch (q->verdict) {
		case V_READABLE:
			out->readable++;
			out->readable_live += live;
			hops += q->hops;
			if (q->hops > out->hops_max)
				out->hops_max = q->hops;
			break;
		case V_MISSING:
			out->missing++;
			out->missing_live += live;
			break;
		case V_WRONG:
			out->wrong++;
			break;
		default:
			break;
		}
	}
	out->hops_mean = out->readable ? (double)hops / (double)out->readable : 0.0;
	free(b.r);
	return 0;
}

int sim_dht_create_race(struct sim_dht *sd, const struct sim_dht_opts *o, size_t n,
                        struct sim_dht_race *out)
{
	struct sim_dht_opts at_once = *o;
	struct sim_dht_key *keys = NULL, check;
	struct batch b = {.sd = sd, .o = &at_once, .op = DHT_OP_CREATE, .n = n};
	uint32_t *nodes = NULL, *live = NULL;
	size_t n_live = 0;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	out->nodes = n;
	out->winner = SIZE_MAX;
	out->get = SIM_DHT_LOST;
	if (n == 0 || n > sim_live(sd->s))
		return -EINVAL;
	keys = calloc(n, sizeof(*keys));
	nodes = calloc(n, sizeof(*nodes));
	live = calloc(sim_nodes(sd->s), sizeof(*live));
	if (!keys || !nodes || !live)
		goto out;
	for (size_t i = 0; i < sim_nodes(sd->s); i++)
		if (sim_is_live(sd->s, i))
			live[n_live++] = (uint32_t)i;
	/* n distinct racers: a partial Fisher-Yates shuffle. */
	for (size_t k = 0; k < n; k++) {
		size_t j = k + (size_t)sim_rand_below(sd->s, n_live - k);
		uint32_t t = live[k];
		char val[32];

		live[k] = live[j];
		live[j] = t;
		nodes[k] = live[k];
		snprintf(val, sizeof(val), "race%u", live[k]);
		make_key(&keys[k], "race", val);
	}
	at_once.spacing_ms = 0;
	at_once.inflight = n;
	b.keys = keys;
	b.writers = keys;
	b.nodes = nodes;
	rc = batch_run(&b);
	if (rc < 0)
		goto out;
	tally(&b, &out->creates);
	for (size_t k = 0; k < n; k++)
		if (b.r[k].outcome == DHT_OK)
			out->winner = out->creates.by[DHT_OK] == 1 ? nodes[k] : SIZE_MAX;
	free(b.r);

	/* What a reader sees: one value, the winner's (if there is one winner,
	 * else the check holds the first racer's value and must fail). */
	check = keys[0];
	for (size_t k = 0; k < n; k++)
		if (nodes[k] == out->winner)
			check = keys[k];
	b = (struct batch){.sd = sd, .o = o, .op = DHT_OP_GET, .keys = &check, .n = 1};
	rc = batch_run(&b);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < sim_nodes(sd->s); i++)
		for (size_t k = 0; k < n; k++)
			if (sim_dht_holds(sd, i, &keys[k])) {
				if (nodes[k] == out->winner)
					out->winner_copies++;
				else
					out->loser_copies++;
			}
	out->get = b.r[0].outcome;
	out->values = b.r[0].values;
	out->winner_value =
	        out->winner != SIZE_MAX && b.r[0].verdict == V_READABLE && b.r[0].values == 1;
	free(b.r);
out:
	free(live);
	free(nodes);
	free(keys);
	return rc;
}
