// SPDX-License-Identifier: MIT
/*
 * store — a sorted array of held records plus a sorted array of per-writer
 * counts, both searched by bisection. Inserts and removals memmove, which is
 * cheap at the sizes the caps allow (65536 pointers at most).
 *
 * Every change is all-or-nothing: put allocates everything it may need
 * before it touches anything, so DHT_ST_NOMEM leaves the store as it was.
 * Expired records are only dropped when that is what lets a put in; a put
 * that is refused anyway changes nothing.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct writer_count {
	struct cert_addr writer;
	uint32_t count;
};

struct dht_store {
	struct dht_store_limits lim;
	struct dht_stored **recs; /* sorted by (key, writer), unique */
	size_t n, cap;
	struct writer_count *wc; /* sorted by writer, unique, every count > 0 */
	size_t wn, wcap;
	/* No held record expires before this (a lower bound, exact after each
	 * expire pass): lets a full store refuse without scanning. */
	uint64_t min_expires;
};

void dht_store_limits_default(struct dht_store_limits *l)
{
	l->max_records = 65536;
	l->max_per_writer = 256;
	l->max_per_key = 16;
}

const char *dht_store_result_name(enum dht_store_result r)
{
	static const char *const names[DHT_ST_RESULT_MAX] = {
	        [DHT_ST_ADDED] = "added",       [DHT_ST_REPLACED] = "replaced",
	        [DHT_ST_SAME] = "already held", [DHT_ST_STALE] = "stale",
	        [DHT_ST_FULL] = "store full",   [DHT_ST_WRITER_FULL] = "writer limit reached",
	        [DHT_ST_KEY_FULL] = "key full", [DHT_ST_NOMEM] = "out of memory",
	};

	if ((unsigned)r >= DHT_ST_RESULT_MAX || !names[r])
		return "unknown";
	return names[r];
}

int dht_store_new(const struct dht_store_limits *lim, struct dht_store **out)
{
	struct dht_store *s;

	*out = NULL;
	if (!lim->max_records || !lim->max_per_writer || !lim->max_per_key ||
	    lim->max_per_key > DHT_PER_KEY_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lim = *lim;
	s->min_expires = UINT64_MAX;
	*out = s;
	return 0;
}

void dht_store_free(struct dht_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->recs[i]);
	free(s->recs);
	free(s->wc);
	free(s);
}

/* ---- searching ----------------------------------------------------------- */

static int addr_cmp(const struct cert_addr *a, const struct cert_addr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b));
}

static int pair_cmp(const struct dht_stored *r, const struct cert_addr *key,
                    const struct cert_addr *writer)
{
	int c = addr_cmp(&r->key, key);

	return c ? c : addr_cmp(&r->writer, writer);
}

/* First index whose (key, writer) is >= the pair; *found if equal. A NULL
 * writer sorts before every writer: the key's first index. */
static size_t lower_bound(const struct dht_store *s, const struct cert_addr *key,
                          const struct cert_addr *writer, bool *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = writer ? pair_cmp(s->recs[mid], key, writer)
		               : addr_cmp(&s->recs[mid]->key, key);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (found)
		*found = writer && lo < s->n && pair_cmp(s->recs[lo], key, writer) == 0;
	return lo;
}

static size_t wc_find(const struct dht_store *s, const struct cert_addr *writer, bool *found)
{
	size_t lo = 0, hi = s->wn;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr_cmp(&s->wc[mid].writer, writer) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->wn && addr_cmp(&s->wc[lo].writer, writer) == 0;
	return lo;
}

const struct dht_stored *dht_store_find(const struct dht_store *s, const struct cert_addr *key,
                                        const struct cert_addr *writer)
{
	bool found;
	size_t i = lower_bound(s, key, writer, &found);

	return found ? s->recs[i] : NULL;
}

size_t dht_store_key_range(const struct dht_store *s, const struct cert_addr *key, size_t *count)
{
	size_t first = lower_bound(s, key, NULL, NULL), end = first;

	/* A key holds at most max_per_key records: a scan is enough. */
	while (end < s->n && addr_cmp(&s->recs[end]->key, key) == 0)
		end++;
	*count = end - first;
	return first;
}

const struct dht_stored *dht_store_other_live(const struct dht_store *s,
                                              const struct cert_addr *key,
                                              const struct cert_addr *not_writer, uint64_t now)
{
	size_t n, first = dht_store_key_range(s, key, &n);

	for (size_t i = first; i < first + n; i++) {
		const struct dht_stored *r = s->recs[i];

		if (r->expires > now && !(r->flags & DHT_REC_TOMBSTONE) &&
		    (!not_writer || addr_cmp(&r->writer, not_writer) != 0))
			return r;
	}
	return NULL;
}

size_t dht_store_count(const struct dht_store *s)
{
	return s->n;
}

struct dht_stored *dht_store_at(struct dht_store *s, size_t i)
{
	return i < s->n ? s->recs[i] : NULL;
}

size_t dht_store_writer_count(const struct dht_store *s, const struct cert_addr *writer)
{
	bool found;
	size_t i = wc_find(s, writer, &found);

	return found ? s->wc[i].count : 0;
}

/* ---- changing ------------------------------------------------------------ */

/* arr grown to hold at least need elements of size elem (never past limit
 * unless need is), or arr itself if it is big enough; NULL if out of memory,
 * arr then untouched. */
static void *grow(void *arr, size_t *cap, size_t need, size_t limit, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	if (ncap > limit)
		ncap = limit > need ? limit : need;
	p = reallocarray(arr, ncap, elem);
	if (p)
		*cap = ncap;
	return p;
}

/* Counts one more record of writer; room was reserved by the caller. */
static void wc_inc(struct dht_store *s, const struct cert_addr *writer)
{
	bool found;
	size_t i = wc_find(s, writer, &found);

	if (found) {
		s->wc[i].count++;
		return;
	}
	memmove(&s->wc[i + 1], &s->wc[i], (s->wn - i) * sizeof(s->wc[0]));
	s->wc[i].writer = *writer;
	s->wc[i].count = 1;
	s->wn++;
}

static void wc_dec(struct dht_store *s, const struct cert_addr *writer)
{
	bool found;
	size_t i = wc_find(s, writer, &found);

	if (!found)
		return; /* cannot happen: every held record is counted */
	if (--s->wc[i].count == 0) {
		memmove(&s->wc[i], &s->wc[i + 1], (s->wn - i - 1) * sizeof(s->wc[0]));
		s->wn--;
	}
}

/* A new held copy of rec, bookkeeping zeroed; NULL if out of memory. The
 * record and its raw bytes share one allocation. */
static struct dht_stored *stored_new(const struct dht_record *rec)
{
	struct dht_stored *st;
	size_t off = 0;

	/* Caller's contract: a parsed record, so its value lies inside raw. */
	assert(rec->raw_len <= DHT_RECORD_MAX);
	if (rec->value && rec->raw) {
		assert((uintptr_t)rec->value >= (uintptr_t)rec->raw);
		off = (size_t)((uintptr_t)rec->value - (uintptr_t)rec->raw);
		assert(off <= rec->raw_len && rec->vlen <= rec->raw_len - off);
	} else {
		assert(rec->vlen == 0);
	}
	st = malloc(sizeof(*st) + rec->raw_len);
	if (!st)
		return NULL;
	st->key = rec->key;
	st->writer = rec->writer;
	st->seq = rec->seq;
	st->expires = rec->expires;
	st->flags = rec->flags;
	st->raw = (uint8_t *)(st + 1);
	st->raw_len = rec->raw_len;
	if (rec->raw_len)
		memcpy(st->raw, rec->raw, rec->raw_len);
	st->value = st->raw + off;
	st->vlen = rec->vlen;
	st->mark = 0;
	st->confirms = 0;
	return st;
}

/* For a new (key, writer): which cap refuses, if any, counting only what
 * would still be held once records with expires <= now are gone. With
 * DHT_ST_ADDED, *need_expire says those records must go first. */
static enum dht_store_result admit(const struct dht_store *s, const struct dht_record *rec,
                                   uint64_t now, bool *need_expire)
{
	size_t total = s->n, by_writer = dht_store_writer_count(s, &rec->writer), by_key;
	size_t first = dht_store_key_range(s, &rec->key, &by_key), key_end = first + by_key;

	*need_expire = false;
	if (total < s->lim.max_records && by_writer < s->lim.max_per_writer &&
	    by_key < s->lim.max_per_key)
		return DHT_ST_ADDED;
	if (now >= s->min_expires) {
		/* Something may have expired: count again without it. A
		 * refused put scans only while now is past min_expires, i.e.
		 * until the next expire pass; otherwise this is O(log n). */
		total = by_writer = by_key = 0;
		for (size_t i = 0; i < s->n; i++) {
			const struct dht_stored *r = s->recs[i];

			if (r->expires <= now)
				continue;
			total++;
			if (addr_cmp(&r->writer, &rec->writer) == 0)
				by_writer++;
			if (i >= first && i < key_end)
				by_key++;
		}
		*need_expire = true;
	}
	if (total >= s->lim.max_records)
		return DHT_ST_FULL;
	if (by_writer >= s->lim.max_per_writer)
		return DHT_ST_WRITER_FULL;
	if (by_key >= s->lim.max_per_key)
		return DHT_ST_KEY_FULL;
	return DHT_ST_ADDED;
}

/* The answer for rec without changes, and where it goes: *at is its index,
 * *found whether (key, writer) is held, *need_expire as for admit(). */
static enum dht_store_result judge(const struct dht_store *s, const struct dht_record *rec,
                                   uint64_t now, size_t *at, bool *found, bool *need_expire)
{
	*need_expire = false;
	*at = lower_bound(s, &rec->key, &rec->writer, found);
	if (*found) {
		uint64_t held = s->recs[*at]->seq;

		if (held > rec->seq)
			return DHT_ST_STALE;
		return held == rec->seq ? DHT_ST_SAME : DHT_ST_REPLACED;
	}
	return admit(s, rec, now, need_expire);
}

/* Answers as if expired records were gone, without removing them: the
 * same answer put gives, since put expires exactly when that lets it in. */
enum dht_store_result dht_store_check(struct dht_store *s, const struct dht_record *rec,
                                      uint64_t now)
{
	size_t at;
	bool found, need_expire;

	return judge(s, rec, now, &at, &found, &need_expire);
}

enum dht_store_result dht_store_put(struct dht_store *s, const struct dht_record *rec, uint64_t now)
{
	struct dht_stored *st;
	size_t at;
	bool found, need_expire;
	enum dht_store_result r = judge(s, rec, now, &at, &found, &need_expire);

	if (r != DHT_ST_ADDED && r != DHT_ST_REPLACED)
		return r;
	if (r == DHT_ST_ADDED) {
		/* Room for one more. A full store gets here only if expiring
		 * frees a slot first, so max_records is then enough. */
		size_t need = s->n < s->lim.max_records ? s->n + 1 : s->n;
		bool wfound;
		void *p;

		p = grow(s->recs, &s->cap, need, s->lim.max_records, sizeof(s->recs[0]));
		if (!p)
			return DHT_ST_NOMEM;
		s->recs = p;
		wc_find(s, &rec->writer, &wfound);
		if (!wfound) {
			p = grow(s->wc, &s->wcap, s->wn + 1, s->lim.max_records, sizeof(s->wc[0]));
			if (!p)
				return DHT_ST_NOMEM;
			s->wc = p;
		}
	}
	st = stored_new(rec);
	if (!st)
		return DHT_ST_NOMEM;

	if (r == DHT_ST_REPLACED) {
		free(s->recs[at]);
		s->recs[at] = st;
	} else {
		if (need_expire) {
			dht_store_expire(s, now);
			at = lower_bound(s, &rec->key, &rec->writer, &found);
		}
		memmove(&s->recs[at + 1], &s->recs[at], (s->n - at) * sizeof(s->recs[0]));
		s->recs[at] = st;
		s->n++;
		wc_inc(s, &st->writer);
	}
	if (st->expires < s->min_expires)
		s->min_expires = st->expires;
	return r;
}

bool dht_store_remove(struct dht_store *s, const struct cert_addr *key,
                      const struct cert_addr *writer)
{
	bool found;
	size_t i = lower_bound(s, key, writer, &found);

	if (!found)
		return false;
	wc_dec(s, writer);
	free(s->recs[i]);
	memmove(&s->recs[i], &s->recs[i + 1], (s->n - i - 1) * sizeof(s->recs[0]));
	s->n--;
	if (s->n == 0)
		s->min_expires = UINT64_MAX;
	return true;
}

size_t dht_store_expire(struct dht_store *s, uint64_t now)
{
	size_t kept = 0, wkept = 0, gone;
	uint64_t min = UINT64_MAX;

	if (now < s->min_expires)
		return 0;
	/* One compaction pass over each array: removing one at a time would
	 * be quadratic when most of a large store expires at once. */
	for (size_t i = 0; i < s->n; i++) {
		struct dht_stored *r = s->recs[i];
		bool found;
		size_t w;

		if (r->expires > now) {
			if (r->expires < min)
				min = r->expires;
			s->recs[kept++] = r;
			continue;
		}
		w = wc_find(s, &r->writer, &found);
		if (found)
			s->wc[w].count--;
		free(r);
	}
	for (size_t i = 0; i < s->wn; i++) {
		if (s->wc[i].count)
			s->wc[wkept++] = s->wc[i];
	}
	s->wn = wkept;
	gone = s->n - kept;
	s->n = kept;
	s->min_expires = min;
	return gone;
}
