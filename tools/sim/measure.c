// SPDX-License-Identifier: MIT
/* measure — ring consistency, link counts and lookups (see measure.h). */
#include "measure.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* ---- the true ring ------------------------------------------------------------ */

void sim_ring_init(struct sim_ring *r)
{
	memset(r, 0, sizeof(*r));
}

void sim_ring_release(struct sim_ring *r)
{
	free(r->e);
	memset(r, 0, sizeof(*r));
}

static int ent_cmp(const void *a, const void *b)
{
	const struct sim_ring_ent *x = a, *y = b;

	return ovl_addr_cmp(&x->addr, &y->addr);
}

int sim_ring_update(struct sim_ring *r, const struct sim *s)
{
	size_t n = 0;

	if (r->valid && r->version == sim_membership_version(s))
		return 0;
	if (r->cap < sim_nodes(s)) {
		struct sim_ring_ent *e = realloc(r->e, sim_nodes(s) * sizeof(*e));

		if (!e)
			return -ENOMEM;
		r->e = e;
		r->cap = sim_nodes(s);
	}
	for (size_t i = 0; i < sim_nodes(s); i++) {
		if (!sim_is_live(s, i))
			continue;
		r->e[n].addr = *sim_addr(s, i);
		r->e[n].node = (uint32_t)i;
		n++;
	}
	if (n > 1)
		qsort(r->e, n, sizeof(*r->e), ent_cmp);
	r->n = n;
	r->version = sim_membership_version(s);
	r->valid = true;
	return 0;
}

size_t sim_ring_owner(const struct sim_ring *r, const struct sim *s, const struct cert_addr *t)
{
	size_t lo = 0, hi = r->n, succ, pred;

	(void)s;
	if (r->n == 0)
		return SIZE_MAX;
	/* lo = the first entry >= t: t's successor on the ring (wrapping) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ovl_addr_cmp(&r->e[mid].addr, t) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	succ = lo % r->n;
	pred = (lo + r->n - 1) % r->n;
	/* The closest node is the first one clockwise or counter-clockwise of t. */
	if (ovl_addr_closer(t, &r->e[succ].addr, &r->e[pred].addr) <= 0)
		return r->e[succ].node;
	return r->e[pred].node;
}

size_t sim_ring_nearest(const struct sim_ring *r, const struct cert_addr *t, uint32_t *out,
                        size_t max)
{
	size_t lo = 0, hi = r->n, k = 0, span;

	if (r->n == 0 || max == 0)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ovl_addr_cmp(&r->e[mid].addr, t) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* The max nearest lie within max ranks on either side of t's place;
	 * insertion into the short sorted answer, as ovl_node_nearest does. */
	span = 2 * max < r->n ? 2 * max : r->n;
	for (size_t c = 0; c < span; c++) {
		size_t rank = (lo + r->n - max + c) % r->n, j;
		const struct cert_addr *a = &r->e[rank].addr;

		if (k == max && ovl_addr_closer(t, a, &r->e[out[k - 1]].addr) >= 0)
			continue;
		j = k < max ? k++ : k - 1;
		while (j > 0 && ovl_addr_closer(t, a, &r->e[out[j - 1]].addr) < 0) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = (uint32_t)rank;
	}
	for (size_t j = 0; j < k; j++)
		out[j] = r->e[out[j]].node;
	return k;
}

/* Whether the node at rank j of the true ring has the right neighbours. */
static bool ring_right(const struct sim_ring *r, const struct sim *s, size_t j)
{
	const struct ovl_node *n = sim_node_c(s, r->e[j].node);
	struct cert_addr p, q;
	bool has = ovl_node_neighbours(n, &p, &q);

	if (r->n == 1)
		return !has;
	return has && ovl_addr_eq(&p, &r->e[(j + r->n - 1) % r->n].addr) &&
	       ovl_addr_eq(&q, &r->e[(j + 1) % r->n].addr);
}

size_t sim_ring_wrong(struct sim_ring *r, const struct sim *s)
{
	size_t wrong = 0;

	if (sim_ring_update(r, s) < 0)
		return sim_live(s);
	for (size_t j = 0; j < r->n; j++)
		wrong += !ring_right(r, s, j);
	return wrong;
}

bool sim_ring_consistent(struct sim_ring *r, const struct sim *s)
{
	if (sim_ring_update(r, s) < 0)
		return false;
	for (size_t k = 0; k < r->n; k++) {
		size_t j = (r->cursor + k) % r->n;

		if (!ring_right(r, s, j)) {
			r->cursor = j;
			return false;
		}
	}
	return true;
}

void sim_link_counts(const struct sim *s, double *mean, size_t *max)
{
	struct ovl_node_link one;
	size_t sum = 0, hi = 0, live = 0;

	for (size_t i = 0; i < sim_nodes(s); i++) {
		const struct ovl_node *n = sim_node_c(s, i);
		size_t k;

		if (!n)
			continue;
		k = ovl_node_links(n, &one, 0);
		sum += k;
		hi = k > hi ? k : hi;
		live++;
	}
	*mean = live ? (double)sum / (double)live : 0.0;
	*max = hi;
}

void sim_link_paths(const struct sim *s, const struct sim_ring *r, size_t *total, size_t *relayed,
                    struct sim_nat_paths *nat)
{
	*total = *relayed = 0;
	if (nat)
		memset(nat, 0, sizeof(*nat));
	for (size_t i = 0; i < sim_nodes(s); i++) {
		const struct ovl_node *n = sim_node_c(s, i);
		struct ovl_node_link *ls;
		size_t k, got;

		if (!n || (k = ovl_node_links(n, NULL, 0)) == 0)
			continue;
		ls = calloc(k, sizeof(*ls));
		if (!ls)
			continue;
		got = ovl_node_links(n, ls, k);
		for (size_t j = 0; j < got && j < k; j++) {
			size_t peer = sim_ring_owner(r, s, &ls[j].addr);
			enum sim_nat_type ta = sim_nat(s, i), tb = sim_nat(s, peer);

			*relayed += ls[j].relayed;
			if (nat && peer != SIZE_MAX)
				(ls[j].relayed ? nat->relayed : nat->direct)[ta][tb]++;
			if (nat && ls[j].relayed)
				nat->via_bootstrap +=
				        sim_is_bootstrap(s, sim_ring_owner(r, s, &ls[j].relay));
		}
		*total += got < k ? got : k;
		free(ls);
	}
}

/* ---- lookups ---------------------------------------------------------------------- */

#define LOOKUP_MAGIC 0x47534c4bu /* "GSLK" */
#define LOOKUP_LEN   8
#define SCAN_MS      50 /* how often pending lookups are checked for retries and timeouts */

enum lk_state {
	LK_PENDING,
	LK_OK,
	LK_WRONG,
	LK_ERROR,
	LK_LOST,
};

struct lookup {
	struct cert_addr target;
	uint32_t src, owner;
	uint64_t started, tried;
	uint8_t state, attempts, hops;
};

struct lookup_run {
	struct lookup *lk;
	size_t n;
};

static void lk_deliver(void *ctx, struct sim *s, size_t node, const struct ovl_route_info *info,
                       const uint8_t *payload, size_t len)
{
	struct lookup_run *run = ctx;
	struct lookup *lk;
	uint32_t magic, k;

	(void)s;
	if (info->proto != SIM_PROTO_LOOKUP || len != LOOKUP_LEN)
		return;
	magic = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
	        (uint32_t)payload[2] << 8 | payload[3];
	k = (uint32_t)payload[4] << 24 | (uint32_t)payload[5] << 16 | (uint32_t)payload[6] << 8 |
	    payload[7];
	if (magic != LOOKUP_MAGIC || k >= run->n)
		return;
	lk = &run->lk[k];
	if (lk->state != LK_PENDING)
		return; /* a retry's twin arriving late */
	if (node == lk->owner) {
		lk->state = LK_OK;
		lk->hops = info->hops;
	} else {
		lk->state = LK_WRONG;
	}
}

static void lk_route_error(void *ctx, struct sim *s, size_t node, uint32_t id,
                           const struct cert_addr *dst, const char *reason)
{
	struct lookup_run *run = ctx;

	(void)s;
	(void)id;
	(void)reason;
	/* Errors are rare: a scan is fine. Matched by (source, key): the error
	 * may come inside ovl_node_route, before we learn the message's id. */
	for (size_t k = 0; k < run->n; k++) {
		struct lookup *lk = &run->lk[k];

		if (lk->state == LK_PENDING && lk->src == node && lk->attempts > 0 &&
		    ovl_addr_eq(&lk->target, dst)) {
			lk->state = LK_ERROR;
			return;
		}
	}
}

void sim_lookup_opts_default(struct sim_lookup_opts *o)
{
	o->count = 1000;
	o->spacing_ms = 1;
	o->timeout_ms = 10000;
	o->retries = 0;
	o->attempt_ms = 2000;
}

static void lk_try(struct sim *s, struct lookup_run *run, size_t k)
{
	struct lookup *lk = &run->lk[k];
	uint8_t msg[LOOKUP_LEN] = {
	        (uint8_t)(LOOKUP_MAGIC >> 24),
	        (uint8_t)(LOOKUP_MAGIC >> 16),
	        (uint8_t)(LOOKUP_MAGIC >> 8),
	        (uint8_t)LOOKUP_MAGIC,
	        (uint8_t)(k >> 24),
	        (uint8_t)(k >> 16),
	        (uint8_t)(k >> 8),
	        (uint8_t)k,
	};

	lk->attempts++;
	lk->tried = sim_now(s);
	if (sim_route(s, lk->src, &lk->target, OVL_ROUTE_NEAREST, SIM_PROTO_LOOKUP, msg,
	              sizeof(msg), NULL) < 0 &&
	    lk->state == LK_PENDING)
		lk->state = LK_ERROR;
}

size_t sim_random_live(struct sim *s)
{
	/* Rejection sampling; live nodes are at least half of all after any churn
	 * we run, so 1000 draws practically never all miss. */
	for (int i = 0; i < 1000; i++) {
		size_t k = (size_t)sim_rand_below(s, sim_nodes(s));

		if (sim_is_live(s, k))
			return k;
	}
	for (size_t k = 0; k < sim_nodes(s); k++)
		if (sim_is_live(s, k))
			return k;
	return SIZE_MAX;
}

static int u8_cmp(const void *a, const void *b)
{
	return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b;
}

static void lk_summarise(const struct lookup_run *run, struct sim_lookup_stats *out)
{
	uint8_t *hops = malloc(run->n ? run->n : 1);
	uint64_t sum = 0;
	size_t ok = 0;

	memset(out, 0, sizeof(*out));
	out->count = run->n;
	for (size_t k = 0; k < run->n; k++) {
		const struct lookup *lk = &run->lk[k];

		switch (lk->state) {
		case LK_OK:
			if (hops)
				hops[ok] = lk->hops;
			ok++;
			sum += lk->hops;
			out->first_try += lk->attempts == 1;
			if (lk->hops > out->hops_max)
				out->hops_max = lk->hops;
			break;
		case LK_WRONG:
			out->wrong_node++;
			break;
		case LK_ERROR:
			out->errors++;
			break;
		default:
			out->lost++;
			break;
		}
	}
	out->ok = ok;
	if (ok > 0) {
		out->hops_mean = (double)sum / (double)ok;
		if (hops) {
			/* nearest rank: the smallest value with >= 99 % at or below it */
			size_t rank = (99 * ok + 99) / 100;

			qsort(hops, ok, 1, u8_cmp);
			out->hops_p99 = hops[rank - 1];
		}
	}
	free(hops);
}

int sim_lookups(struct sim *s, struct sim_ring *r, const struct sim_lookup_opts *o,
                struct sim_lookup_stats *out)
{
	struct sim_hooks hooks = {.deliver = lk_deliver, .route_error = lk_route_error};
	struct lookup_run run = {.n = o->count};
	size_t *pending = NULL, n_pending = 0, issued = 0;
	uint64_t t0 = sim_now(s), next_scan;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (o->count == 0)
		return 0;
	if (sim_live(s) == 0) {
		out->count = out->errors = o->count; /* nobody to ask */
		return 0;
	}
	if (sim_ring_update(r, s) < 0)
		return -ENOMEM;
	run.lk = calloc(o->count, sizeof(*run.lk));
	pending = calloc(o->count, sizeof(*pending));
	if (!run.lk || !pending) {
		rc = -ENOMEM;
		goto out;
	}
	hooks.ctx = &run;
	sim_set_hooks(s, &hooks);
	next_scan = t0 + SCAN_MS;
	/* Bounded: every lookup is settled at the latest timeout_ms after it
	 * started, and the clock moves forward on every round. */
	while (issued < o->count || n_pending > 0) {
		uint64_t now = sim_now(s), next_issue = UINT64_MAX, next;

		while (issued < o->count && t0 + (uint64_t)issued * o->spacing_ms <= now) {
			struct lookup *lk = &run.lk[issued];

			lk->src = (uint32_t)sim_random_live(s);
			sim_rand(s); /* keeps target draws apart from source draws */
			for (size_t b = 0; b < CERT_ADDR_LEN; b += 8) {
				uint64_t v = sim_rand(s);
				size_t take = CERT_ADDR_LEN - b < 8 ? CERT_ADDR_LEN - b : 8;

				memcpy(lk->target.b + b, &v, take);
			}
			lk->owner = (uint32_t)sim_ring_owner(r, s, &lk->target);
			lk->started = now;
			lk->state = LK_PENDING;
			pending[n_pending++] = issued;
			lk_try(s, &run, issued);
			issued++;
		}
		if (now >= next_scan || issued == o->count) {
			size_t keep = 0;

			for (size_t j = 0; j < n_pending; j++) {
				struct lookup *lk = &run.lk[pending[j]];

				if (lk->state == LK_PENDING && now - lk->started >= o->timeout_ms)
					lk->state = LK_LOST;
				if (lk->state == LK_PENDING && lk->attempts <= o->retries &&
				    now - lk->tried >= o->attempt_ms)
					lk_try(s, &run, pending[j]);
				if (lk->state == LK_PENDING)
					pending[keep++] = pending[j];
			}
			n_pending = keep;
			next_scan = now + SCAN_MS;
		}
		if (issued < o->count)
			next_issue = t0 + (uint64_t)issued * o->spacing_ms;
		next = next_issue < next_scan ? next_issue : next_scan;
		if (issued == o->count && n_pending == 0)
			break;
		sim_run_until(s, next > now ? next : now + 1);
	}
	lk_summarise(&run, out);
out:
	sim_set_hooks(s, NULL);
	free(pending);
	free(run.lk);
	return rc;
}
