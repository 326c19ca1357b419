// SPDX-License-Identifier: MIT
/*
 * Unit tests: dht/store — newest seq wins, one entry per (key, writer), the
 * three caps refuse without side effects, expiry makes room, sorted
 * iteration and exact writer counts against a reference model.
 *
 * Records are filled in by hand (no signatures): the store never looks
 * inside raw. The link wraps malloc, calloc and reallocarray (see
 * CMakeLists.txt) so allocation failures can be injected.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"

/* ---- allocation failure injection ---------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);

static int fail_in = -1; /* allocations to let through before one fails; -1: none fails */
static bool alloc_fails(void)
{
	if (fail_in < 0)
		return false;
	return fail_in-- == 0;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size)
{
	return alloc_fails() ? NULL : __real_reallocarray(p, n, size);
}

/* ---- records made by hand ------------------------------------------------ */

#define VAL_OFF 8  /* where the value sits in a fake record's raw bytes */
#define VAL_LEN 16 /* its length (0 for a tombstone) */
#define RAW_MAX 48

struct fake {
	uint8_t raw[RAW_MAX];
	struct dht_record rec;
};

/* An address of hi bytes ending in lo: ordered by (hi, lo). */
static struct cert_addr addr(uint8_t hi, uint8_t lo)
{
	struct cert_addr a;

	memset(a.b, hi, sizeof(a.b));
	a.b[CERT_ADDR_LEN - 1] = lo;
	return a;
}

/* A record whose raw bytes (and length) depend on every field, so a stored
 * copy can be told apart from any other version. */
static void fake(struct fake *f, const struct cert_addr *key, const struct cert_addr *writer,
                 uint64_t seq, uint64_t expires, uint8_t flags)
{
	uint64_t h = seq * 0x9e3779b97f4a7c15ull ^ expires * 31 ^ flags;

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < CERT_ADDR_LEN; i++)
		h = h * 1099511628211ull ^ key->b[i] ^ (uint64_t)writer->b[i] << 8;
	for (size_t i = 0; i < sizeof(f->raw); i++) {
		h ^= h >> 29;
		h *= 0xbf58476d1ce4e5b9ull;
		f->raw[i] = (uint8_t)(h >> 56);
	}
	f->rec.key = *key;
	f->rec.writer = *writer;
	f->rec.seq = seq;
	f->rec.expires = expires;
	f->rec.flags = flags;
	f->rec.vlen = flags & DHT_REC_TOMBSTONE ? 0 : VAL_LEN;
	f->rec.value = f->raw + VAL_OFF;
	f->rec.raw = f->raw;
	f->rec.raw_len = VAL_OFF + VAL_LEN + seq % (RAW_MAX - VAL_OFF - VAL_LEN + 1);
}

static enum dht_store_result put(struct dht_store *s, uint8_t key, uint8_t writer, uint64_t seq,
                                 uint64_t expires, uint64_t now)
{
	struct cert_addr k = addr(key, 0), w = addr(writer, 0);
	struct fake f;

	fake(&f, &k, &w, seq, expires, 0);
	return dht_store_put(s, &f.rec, now);
}

static enum dht_store_result check(struct dht_store *s, uint8_t key, uint8_t writer, uint64_t seq,
                                   uint64_t expires, uint64_t now)
{
	struct cert_addr k = addr(key, 0), w = addr(writer, 0);
	struct fake f;

	fake(&f, &k, &w, seq, expires, 0);
	return dht_store_check(s, &f.rec, now);
}

static const struct dht_stored *find(const struct dht_store *s, uint8_t key, uint8_t writer)
{
	struct cert_addr k = addr(key, 0), w = addr(writer, 0);

	return dht_store_find(s, &k, &w);
}

static size_t wcount(const struct dht_store *s, uint8_t writer)
{
	struct cert_addr w = addr(writer, 0);

	return dht_store_writer_count(s, &w);
}

/* The stored record holds exactly the bytes fake() makes for its fields,
 * in its own copy, with value inside that copy. */
static void assert_holds(const struct dht_stored *r, uint64_t seq, uint64_t expires, uint8_t flags)
{
	struct fake f;

	assert_non_null(r);
	fake(&f, &r->key, &r->writer, seq, expires, flags);
	assert_true(r->seq == seq);
	assert_true(r->expires == expires);
	assert_int_equal(r->flags, flags);
	assert_int_equal(r->raw_len, f.rec.raw_len);
	assert_memory_equal(r->raw, f.raw, f.rec.raw_len);
	assert_ptr_equal(r->value, r->raw + VAL_OFF);
	assert_int_equal(r->vlen, f.rec.vlen);
}

static struct dht_store *store(uint32_t max_records, uint32_t per_writer, uint32_t per_key)
{
	struct dht_store_limits lim = {max_records, per_writer, per_key};
	struct dht_store *s;

	assert_int_equal(dht_store_new(&lim, &s), 0);
	assert_non_null(s);
	return s;
}

/* Everything observable about a store, for "nothing changed" checks. */
#define SNAP_MAX 64
struct snap {
	size_t n;
	struct {
		struct cert_addr key, writer;
		uint64_t seq, expires;
		uint8_t flags, confirms;
		uint16_t vlen;
		uint32_t mark;
		size_t raw_len, voff;
		uint8_t raw[RAW_MAX];
	} r[SNAP_MAX];
	size_t wcount[256];
};

static void snap_take(struct dht_store *s, struct snap *p)
{
	memset(p, 0, sizeof(*p));
	p->n = dht_store_count(s);
	assert_true(p->n <= SNAP_MAX);
	for (size_t i = 0; i < p->n; i++) {
		const struct dht_stored *r = dht_store_at(s, i);

		p->r[i].key = r->key;
		p->r[i].writer = r->writer;
		p->r[i].seq = r->seq;
		p->r[i].expires = r->expires;
		p->r[i].flags = r->flags;
		p->r[i].confirms = r->confirms;
		p->r[i].vlen = r->vlen;
		p->r[i].mark = r->mark;
		p->r[i].raw_len = r->raw_len;
		p->r[i].voff = (size_t)(r->value - r->raw);
		assert_true(r->raw_len <= RAW_MAX);
		memcpy(p->r[i].raw, r->raw, r->raw_len);
	}
	for (int w = 0; w < 256; w++)
		p->wcount[w] = wcount(s, (uint8_t)w);
}

/* Both snapshots were zeroed before filling, padding included. */
static void assert_unchanged(struct dht_store *s, const struct snap *before)
{
	static struct snap now;

	snap_take(s, &now);
	assert_int_equal(now.n, before->n);
	assert_memory_equal(&now, before, sizeof(now));
}

/* ---- limits and names ---------------------------------------------------- */

static void limits_default_and_new_refuses_zero_or_oversized_limits(void **state)
{
	struct dht_store_limits d, lim;
	struct dht_store *s = (struct dht_store *)&d;

	(void)state;
	dht_store_limits_default(&d);
	assert_int_equal(d.max_records, 65536);
	assert_int_equal(d.max_per_writer, 256);
	assert_int_equal(d.max_per_key, 16);
	assert_int_equal(dht_store_new(&d, &s), 0);
	dht_store_free(s);

	lim = d;
	lim.max_records = 0;
	assert_int_equal(dht_store_new(&lim, &s), -EINVAL);
	assert_null(s);
	lim = d;
	lim.max_per_writer = 0;
	assert_int_equal(dht_store_new(&lim, &s), -EINVAL);
	lim = d;
	lim.max_per_key = 0;
	assert_int_equal(dht_store_new(&lim, &s), -EINVAL);
	lim = d;
	lim.max_per_key = DHT_PER_KEY_MAX + 1;
	assert_int_equal(dht_store_new(&lim, &s), -EINVAL);
	lim.max_per_key = DHT_PER_KEY_MAX;
	assert_int_equal(dht_store_new(&lim, &s), 0);
	dht_store_free(s);
	dht_store_free(NULL);
}

static void result_names_are_the_documented_strings(void **state)
{
	static const char *const want[DHT_ST_RESULT_MAX] = {
	        "added",    "replaced",      "already held",
	        "stale",    "store full",    "writer limit reached",
	        "key full", "out of memory",
	};

	(void)state;
	for (int r = 0; r < DHT_ST_RESULT_MAX; r++)
		assert_string_equal(dht_store_result_name((enum dht_store_result)r), want[r]);
	assert_non_null(dht_store_result_name(DHT_ST_RESULT_MAX));
}

/* ---- seq ordering -------------------------------------------------------- */

static void put_copies_raw_and_points_value_into_the_copy(void **state)
{
	struct dht_store *s = store(16, 16, 16);
	struct cert_addr k = addr(1, 0), w = addr(2, 0);
	const struct dht_stored *r;
	struct fake f;

	(void)state;
	fake(&f, &k, &w, 7, 100, 0);
	assert_int_equal(dht_store_put(s, &f.rec, 10), DHT_ST_ADDED);
	memset(f.raw, 0xee, sizeof(f.raw)); /* the caller's buffer goes away */
	r = dht_store_find(s, &k, &w);
	assert_holds(r, 7, 100, 0);
	assert_ptr_not_equal(r->raw, f.raw);
	assert_memory_equal(&r->key, &k, sizeof(k));
	assert_memory_equal(&r->writer, &w, sizeof(w));
	assert_int_equal(r->mark, 0);
	assert_int_equal(r->confirms, 0);

	/* a tombstone: no value, flag kept */
	fake(&f, &k, &w, 8, 100, DHT_REC_TOMBSTONE);
	assert_int_equal(dht_store_put(s, &f.rec, 10), DHT_ST_REPLACED);
	assert_holds(dht_store_find(s, &k, &w), 8, 100, DHT_REC_TOMBSTONE);
	dht_store_free(s);
}

static void newest_seq_wins_older_is_stale_equal_is_same(void **state)
{
	struct dht_store *s = store(16, 16, 16);

	(void)state;
	assert_int_equal(check(s, 1, 2, 5, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 1, 2, 5, 100, 10), DHT_ST_ADDED);
	assert_int_equal(check(s, 1, 2, 5, 999, 10), DHT_ST_SAME);
	assert_int_equal(put(s, 1, 2, 5, 999, 10), DHT_ST_SAME);
	assert_holds(find(s, 1, 2), 5, 100, 0); /* the first copy of seq 5 stays */
	assert_int_equal(check(s, 1, 2, 4, 100, 10), DHT_ST_STALE);
	assert_int_equal(put(s, 1, 2, 4, 100, 10), DHT_ST_STALE);
	assert_holds(find(s, 1, 2), 5, 100, 0);
	assert_int_equal(check(s, 1, 2, 9, 200, 10), DHT_ST_REPLACED);
	assert_holds(find(s, 1, 2), 5, 100, 0); /* check changed nothing */
	assert_int_equal(put(s, 1, 2, 9, 200, 10), DHT_ST_REPLACED);
	assert_holds(find(s, 1, 2), 9, 200, 0);
	assert_int_equal(put(s, 1, 2, 6, 300, 10), DHT_ST_STALE);
	assert_holds(find(s, 1, 2), 9, 200, 0);
	assert_int_equal(dht_store_count(s), 1);
	assert_int_equal(wcount(s, 2), 1);
	dht_store_free(s);
}

static void replace_keeps_one_entry_per_key_writer_and_zeroes_bookkeeping(void **state)
{
	struct dht_store *s = store(16, 16, 16);
	struct dht_stored *r;

	(void)state;
	assert_int_equal(put(s, 1, 2, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 1, 3, 1, 100, 10), DHT_ST_ADDED); /* same key, other writer */
	assert_int_equal(put(s, 4, 2, 1, 100, 10), DHT_ST_ADDED); /* same writer, other key */
	r = dht_store_at(s, 0);
	r->mark = 77;
	r->confirms = 3;
	for (uint64_t seq = 2; seq < 40; seq++)
		assert_int_equal(put(s, 1, 2, seq, 100 + seq, 10), DHT_ST_REPLACED);
	assert_int_equal(dht_store_count(s), 3);
	assert_int_equal(wcount(s, 2), 2);
	assert_int_equal(wcount(s, 3), 1);
	r = dht_store_at(s, 0);
	assert_holds(r, 39, 139, 0);
	assert_int_equal(r->mark, 0);
	assert_int_equal(r->confirms, 0);
	assert_holds(find(s, 1, 3), 1, 100, 0);
	assert_holds(find(s, 4, 2), 1, 100, 0);
	dht_store_free(s);
}

/* ---- caps ---------------------------------------------------------------- */

static void writer_cap_refuses_new_pairs_and_leaves_store_unchanged(void **state)
{
	static struct snap before;
	struct dht_store *s = store(16, 3, 16);

	(void)state;
	for (uint8_t k = 1; k <= 3; k++)
		assert_int_equal(put(s, k, 9, 1, 100, 10), DHT_ST_ADDED);
	snap_take(s, &before);
	assert_int_equal(check(s, 4, 9, 1, 100, 10), DHT_ST_WRITER_FULL);
	assert_int_equal(put(s, 4, 9, 1, 100, 10), DHT_ST_WRITER_FULL);
	assert_unchanged(s, &before);
	assert_null(find(s, 4, 9));
	assert_int_equal(wcount(s, 9), 3);

	/* the writer can still update what it holds; others can still add */
	assert_int_equal(put(s, 2, 9, 2, 100, 10), DHT_ST_REPLACED);
	assert_int_equal(put(s, 4, 8, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(dht_store_count(s), 4);
	dht_store_free(s);
}

static void key_cap_refuses_new_writers_and_leaves_store_unchanged(void **state)
{
	static struct snap before;
	struct dht_store *s = store(16, 16, 3);

	(void)state;
	for (uint8_t w = 1; w <= 3; w++)
		assert_int_equal(put(s, 5, w, 1, 100, 10), DHT_ST_ADDED);
	snap_take(s, &before);
	assert_int_equal(check(s, 5, 4, 1, 100, 10), DHT_ST_KEY_FULL);
	assert_int_equal(put(s, 5, 4, 1, 100, 10), DHT_ST_KEY_FULL);
	assert_int_equal(put(s, 5, 0, 1, 100, 10), DHT_ST_KEY_FULL); /* sorts first */
	assert_unchanged(s, &before);
	assert_int_equal(wcount(s, 4), 0);

	assert_int_equal(put(s, 5, 3, 2, 100, 10), DHT_ST_REPLACED);
	assert_int_equal(put(s, 6, 4, 1, 100, 10), DHT_ST_ADDED);
	dht_store_free(s);
}

static void total_cap_refuses_first_and_leaves_store_unchanged(void **state)
{
	static struct snap before;
	struct dht_store *s = store(4, 4, 4);

	(void)state;
	for (uint8_t w = 1; w <= 4; w++)
		assert_int_equal(put(s, 5, w, 1, 100, 10), DHT_ST_ADDED);
	snap_take(s, &before);
	assert_int_equal(check(s, 6, 7, 1, 100, 10), DHT_ST_FULL);
	assert_int_equal(put(s, 6, 7, 1, 100, 10), DHT_ST_FULL);
	/* key 5 is full and writer 1 is not: the total is still what refuses */
	assert_int_equal(put(s, 5, 9, 1, 100, 10), DHT_ST_FULL);
	assert_unchanged(s, &before);
	assert_int_equal(put(s, 5, 4, 2, 100, 10), DHT_ST_REPLACED);
	dht_store_free(s);

	/* writer full and key full at once: the writer is reported */
	s = store(16, 1, 1);
	assert_int_equal(put(s, 5, 1, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 5, 2, 1, 100, 10), DHT_ST_KEY_FULL);
	assert_int_equal(put(s, 6, 1, 1, 100, 10), DHT_ST_WRITER_FULL);
	assert_int_equal(put(s, 7, 2, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 5, 2, 1, 100, 10), DHT_ST_WRITER_FULL);
	dht_store_free(s);
}

/* ---- expiry -------------------------------------------------------------- */

static void expired_records_make_room_under_each_cap(void **state)
{
	struct dht_store *s;

	(void)state;
	/* total: one of four expired at now = 50 */
	s = store(4, 16, 16);
	assert_int_equal(put(s, 1, 1, 1, 50, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 2, 1, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 3, 2, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 4, 2, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(check(s, 5, 3, 1, 100, 49), DHT_ST_FULL); /* not yet expired */
	assert_int_equal(check(s, 5, 3, 1, 100, 50), DHT_ST_ADDED);
	assert_int_equal(dht_store_count(s), 4); /* check does not expire */
	assert_non_null(find(s, 1, 1));
	assert_int_equal(put(s, 5, 3, 1, 100, 50), DHT_ST_ADDED);
	assert_int_equal(dht_store_count(s), 4);
	assert_null(find(s, 1, 1));
	assert_int_equal(wcount(s, 1), 1);
	assert_holds(find(s, 5, 3), 1, 100, 0);
	dht_store_free(s);

	/* writer: its own expired record makes room, and was its only other */
	s = store(16, 2, 16);
	assert_int_equal(put(s, 1, 7, 1, 50, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 2, 7, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 3, 8, 1, 40, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 4, 7, 1, 100, 60), DHT_ST_ADDED);
	assert_int_equal(dht_store_count(s), 2); /* every expired record went */
	assert_int_equal(wcount(s, 7), 2);
	assert_int_equal(wcount(s, 8), 0);
	dht_store_free(s);

	/* key */
	s = store(16, 16, 2);
	assert_int_equal(put(s, 1, 1, 1, 50, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 1, 2, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 1, 3, 1, 100, 50), DHT_ST_ADDED);
	assert_null(find(s, 1, 1));
	assert_int_equal(dht_store_count(s), 2);
	dht_store_free(s);
}

static void expired_records_that_do_not_help_are_kept(void **state)
{
	static struct snap before;
	struct dht_store *s = store(16, 2, 16);

	(void)state;
	assert_int_equal(put(s, 1, 7, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 2, 7, 1, 100, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 3, 8, 1, 20, 10), DHT_ST_ADDED); /* expired at 50 */
	snap_take(s, &before);
	assert_int_equal(check(s, 4, 7, 1, 100, 50), DHT_ST_WRITER_FULL);
	assert_int_equal(put(s, 4, 7, 1, 100, 50), DHT_ST_WRITER_FULL);
	assert_unchanged(s, &before);
	/* without a cap in the way, nothing is expired either */
	assert_int_equal(put(s, 4, 9, 1, 100, 50), DHT_ST_ADDED);
	assert_non_null(find(s, 3, 8));
	dht_store_free(s);
}

static void expire_removes_exactly_the_expired(void **state)
{
	struct dht_store *s = store(64, 64, 16);

	(void)state;
	for (uint8_t i = 0; i < 30; i++)
		assert_int_equal(put(s, (uint8_t)(i % 7), (uint8_t)(i % 5), 1, 10u + i, 0),
		                 DHT_ST_ADDED);
	assert_int_equal(dht_store_expire(s, 9), 0);
	assert_int_equal(dht_store_count(s), 30);
	assert_int_equal(dht_store_expire(s, 19), 10); /* expires 10..19: <= now goes */
	assert_int_equal(dht_store_count(s), 20);
	for (size_t i = 0; i < dht_store_count(s); i++)
		assert_true(dht_store_at(s, i)->expires > 19);
	for (uint8_t i = 0; i < 30; i++) {
		const struct dht_stored *r = find(s, (uint8_t)(i % 7), (uint8_t)(i % 5));

		if (i < 10)
			assert_null(r);
		else
			assert_holds(r, 1, 10u + i, 0);
	}
	for (uint8_t w = 0; w < 5; w++)
		assert_int_equal(wcount(s, w), 4);
	assert_int_equal(dht_store_expire(s, 19), 0);
	assert_int_equal(dht_store_expire(s, 1000), 20);
	assert_int_equal(dht_store_count(s), 0);
	for (uint8_t w = 0; w < 5; w++)
		assert_int_equal(wcount(s, w), 0);
	/* an emptied store fills again */
	assert_int_equal(put(s, 1, 1, 1, 2000, 1000), DHT_ST_ADDED);
	assert_int_equal(wcount(s, 1), 1);
	dht_store_free(s);
}

static void other_live_ignores_own_writer_tombstones_and_expired(void **state)
{
	struct dht_store *s = store(16, 16, 16);
	struct cert_addr k = addr(1, 0), w1 = addr(1, 0), w2 = addr(2, 0), w3 = addr(3, 0);
	struct cert_addr none = addr(7, 0);
	const struct dht_stored *r;
	struct fake f;

	(void)state;
	assert_null(dht_store_other_live(s, &k, &w1, 10));
	assert_int_equal(put(s, 1, 1, 1, 100, 10), DHT_ST_ADDED); /* own */
	fake(&f, &k, &w2, 1, 100, DHT_REC_TOMBSTONE);
	assert_int_equal(dht_store_put(s, &f.rec, 10), DHT_ST_ADDED);
	assert_int_equal(put(s, 1, 3, 1, 20, 10), DHT_ST_ADDED);  /* expires at 20 */
	assert_int_equal(put(s, 2, 4, 1, 100, 10), DHT_ST_ADDED); /* other key */

	assert_null(dht_store_other_live(s, &k, &w1, 20));
	r = dht_store_other_live(s, &k, &w1, 19);
	assert_non_null(r);
	assert_memory_equal(&r->writer, &w3, sizeof(w3));
	r = dht_store_other_live(s, &k, &none, 20);
	assert_non_null(r);
	assert_memory_equal(&r->writer, &w1, sizeof(w1));
	r = dht_store_other_live(s, &k, &w3, 100); /* all expired by now */
	assert_null(r);

	/* a live, non-tombstone value of w2 counts again */
	assert_int_equal(put(s, 1, 2, 2, 200, 10), DHT_ST_REPLACED);
	r = dht_store_other_live(s, &k, &w1, 100);
	assert_non_null(r);
	assert_memory_equal(&r->writer, &w2, sizeof(w2));
	dht_store_free(s);
}

/* ---- lookups and removal ------------------------------------------------- */

static void key_range_finds_all_of_a_keys_records(void **state)
{
	struct dht_store *s = store(64, 64, 16);
	struct cert_addr k;
	size_t first, n;

	(void)state;
	k = addr(3, 0);
	assert_int_equal(dht_store_key_range(s, &k, &n), 0);
	assert_int_equal(n, 0);
	/* keys 2, 3 and 4 (3 and its neighbours 3|1 differ in the last byte) */
	for (uint8_t w = 10; w > 0; w--) {
		struct cert_addr kk = addr(3, 0), ww = addr(w, (uint8_t)(w * 37));
		struct fake f;

		fake(&f, &kk, &ww, 1, 100, 0);
		assert_int_equal(dht_store_put(s, &f.rec, 0), DHT_ST_ADDED);
		kk = addr(3, 1);
		fake(&f, &kk, &ww, 1, 100, 0);
		if (w % 2)
			assert_int_equal(dht_store_put(s, &f.rec, 0), DHT_ST_ADDED);
	}
	assert_int_equal(put(s, 2, 1, 1, 100, 0), DHT_ST_ADDED);
	assert_int_equal(put(s, 2, 200, 1, 100, 0), DHT_ST_ADDED);
	assert_int_equal(put(s, 4, 1, 1, 100, 0), DHT_ST_ADDED);

	k = addr(3, 0);
	first = dht_store_key_range(s, &k, &n);
	assert_int_equal(first, 2);
	assert_int_equal(n, 10);
	for (size_t i = first; i < first + n; i++) {
		const struct dht_stored *r = dht_store_at(s, i);

		assert_memory_equal(&r->key, &k, sizeof(k));
		assert_int_equal(r->writer.b[0], i - first + 1); /* sorted by writer */
	}
	k = addr(3, 1);
	first = dht_store_key_range(s, &k, &n);
	assert_int_equal(first, 12);
	assert_int_equal(n, 5);
	k = addr(2, 0);
	assert_int_equal(dht_store_key_range(s, &k, &n), 0);
	assert_int_equal(n, 2);
	k = addr(4, 0);
	assert_int_equal(dht_store_key_range(s, &k, &n), 17);
	assert_int_equal(n, 1);
	k = addr(3, 2); /* absent, between 3|1 and 4 */
	assert_int_equal(dht_store_key_range(s, &k, &n), 17);
	assert_int_equal(n, 0);
	k = addr(9, 0);
	assert_int_equal(dht_store_key_range(s, &k, &n), 18);
	assert_int_equal(n, 0);
	dht_store_free(s);
}

static void remove_drops_only_that_pair_and_its_count(void **state)
{
	struct dht_store *s = store(16, 16, 16);
	struct cert_addr k = addr(1, 0), w = addr(2, 0), w3 = addr(3, 0);

	(void)state;
	assert_false(dht_store_remove(s, &k, &w));
	assert_int_equal(put(s, 1, 2, 1, 100, 0), DHT_ST_ADDED);
	assert_int_equal(put(s, 1, 3, 1, 100, 0), DHT_ST_ADDED);
	assert_int_equal(put(s, 4, 2, 1, 100, 0), DHT_ST_ADDED);
	assert_false(dht_store_remove(s, &w, &k)); /* (2, 1) is not (1, 2) */
	assert_true(dht_store_remove(s, &k, &w));
	assert_false(dht_store_remove(s, &k, &w));
	assert_int_equal(dht_store_count(s), 2);
	assert_null(find(s, 1, 2));
	assert_non_null(find(s, 1, 3));
	assert_non_null(find(s, 4, 2));
	assert_int_equal(wcount(s, 2), 1);
	assert_true(dht_store_remove(s, &k, &w3));
	assert_int_equal(wcount(s, 3), 0);
	/* a removed pair comes back at any seq */
	assert_int_equal(put(s, 1, 2, 0, 100, 0), DHT_ST_ADDED);
	assert_null(dht_store_at(s, dht_store_count(s)));
	dht_store_free(s);
}

/* ---- allocation failure -------------------------------------------------- */

/* A store of limits (17, 16, 16) holding records (i, i) for i in 1..n,
 * those of 2 and 3 expiring at 50, the others at 100. */
static struct dht_store *nomem_setup(uint8_t n)
{
	struct dht_store *s = store(17, 16, 16);

	for (uint8_t i = 1; i <= n; i++)
		assert_int_equal(put(s, i, i, 1, i == 2 || i == 3 ? 50 : 100, 0), DHT_ST_ADDED);
	if (n == 17)
		assert_int_equal(put(s, 5, 5, 2, 100, 0), DHT_ST_REPLACED);
	return s;
}

/* From the same start each time, fails the put's 0th, 1st, ... allocation
 * until none is left to fail: every failure must answer NOMEM and change
 * nothing. Returns how many allocations the put makes; *out is the store
 * after the put that went through. */
static int put_under_failures(uint8_t setup, uint8_t key, uint8_t writer, uint64_t seq,
                              uint64_t now, enum dht_store_result want, struct dht_store **out)
{
	static struct snap before;
	enum dht_store_result r;
	struct dht_store *s;
	int n;

	for (n = 0;; n++) {
		s = nomem_setup(setup);
		snap_take(s, &before);
		fail_in = n;
		r = put(s, key, writer, seq, 100, now);
		fail_in = -1;
		if (r != DHT_ST_NOMEM)
			break;
		assert_unchanged(s, &before);
		dht_store_free(s);
		assert_true(n < 10);
	}
	assert_int_equal(r, want);
	*out = s;
	return n;
}

static void nomem_answers_and_leaves_store_unchanged(void **state)
{
	struct dht_store_limits lim;
	struct dht_store *s = (struct dht_store *)&lim; /* not NULL: new must clear it */

	(void)state;
	dht_store_limits_default(&lim);
	fail_in = 0;
	assert_int_equal(dht_store_new(&lim, &s), -ENOMEM);
	fail_in = -1;
	assert_null(s);

	/* the first put allocates both arrays and the record */
	assert_int_equal(put_under_failures(0, 1, 1, 1, 0, DHT_ST_ADDED, &s), 3);
	dht_store_free(s);
	/* the 17th record and writer grow both arrays */
	assert_int_equal(put_under_failures(16, 17, 17, 1, 0, DHT_ST_ADDED, &s), 3);
	dht_store_free(s);
	/* a replacement allocates only the new copy */
	assert_int_equal(put_under_failures(17, 5, 5, 3, 0, DHT_ST_REPLACED, &s), 1);
	dht_store_free(s);
	/* full: two expired records make room (the count array still grows
	 * first, as the writer is new), and every failure keeps them */
	assert_int_equal(put_under_failures(17, 18, 18, 1, 60, DHT_ST_ADDED, &s), 2);
	assert_int_equal(dht_store_count(s), 16);
	assert_null(find(s, 2, 2));
	assert_null(find(s, 3, 3));
	assert_int_equal(wcount(s, 2), 0);
	assert_int_equal(wcount(s, 18), 1);
	dht_store_free(s);
}

/* ---- against a reference model ------------------------------------------- */

#define M_KEYS    10
#define M_WRITERS 8

struct m_entry {
	bool present;
	uint64_t seq, expires;
	uint8_t flags;
	uint32_t mark;
};

struct model {
	struct cert_addr key[M_KEYS], writer[M_WRITERS];
	int key_order[M_KEYS], writer_order[M_WRITERS]; /* indices in memcmp order */
	struct m_entry e[M_KEYS][M_WRITERS];
	struct dht_store_limits lim;
};

static uint64_t rng = 0x243f6a8885a308d3ull; /* fixed seed: failures replay */

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void sort_indices(const struct cert_addr *a, int *order, int n)
{
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = 1; i < n; i++) /* insertion sort: n is tiny */
		for (int j = i; j > 0 && memcmp(&a[order[j - 1]], &a[order[j]], sizeof(a[0])) > 0;
		     j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
}

/* Random addresses, some sharing all but their last byte, so ordering is
 * decided at every byte position. */
static void make_addrs(struct cert_addr *a, int n)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < CERT_ADDR_LEN; j++)
			a[i].b[j] = (uint8_t)next();
		if (i % 3 == 1) {
			int cut = (int)(next() % CERT_ADDR_LEN);

			memcpy(a[i].b, a[i - 1].b, (size_t)cut);
		}
	}
}

static void m_counts(const struct model *m, int k, int w, uint64_t now, bool live, size_t *total,
                     size_t *by_writer, size_t *by_key)
{
	*total = *by_writer = *by_key = 0;
	for (int i = 0; i < M_KEYS; i++)
		for (int j = 0; j < M_WRITERS; j++) {
			const struct m_entry *e = &m->e[i][j];

			if (!e->present || (live && e->expires <= now))
				continue;
			++*total;
			*by_writer += j == w;
			*by_key += i == k;
		}
}

/* The store's contract, written the simple way. */
static enum dht_store_result m_put(struct model *m, int k, int w, uint64_t seq, uint64_t expires,
                                   uint8_t flags, uint64_t now, bool apply)
{
	struct m_entry *e = &m->e[k][w];
	size_t total, by_writer, by_key;

	if (e->present) {
		if (e->seq > seq)
			return DHT_ST_STALE;
		if (e->seq == seq)
			return DHT_ST_SAME;
		if (apply)
			*e = (struct m_entry){true, seq, expires, flags, 0};
		return DHT_ST_REPLACED;
	}
	m_counts(m, k, w, now, false, &total, &by_writer, &by_key);
	if (total >= m->lim.max_records || by_writer >= m->lim.max_per_writer ||
	    by_key >= m->lim.max_per_key) {
		m_counts(m, k, w, now, true, &total, &by_writer, &by_key);
		if (total >= m->lim.max_records)
			return DHT_ST_FULL;
		if (by_writer >= m->lim.max_per_writer)
			return DHT_ST_WRITER_FULL;
		if (by_key >= m->lim.max_per_key)
			return DHT_ST_KEY_FULL;
		if (apply)
			for (int i = 0; i < M_KEYS; i++)
				for (int j = 0; j < M_WRITERS; j++)
					if (m->e[i][j].expires <= now)
						m->e[i][j].present = false;
	}
	if (apply)
		*e = (struct m_entry){true, seq, expires, flags, 0};
	return DHT_ST_ADDED;
}

/* The store holds exactly the model, in (key, writer) order, with its
 * bytes, bookkeeping and per-writer counts. */
static void m_compare(struct model *m, struct dht_store *s)
{
	size_t at = 0, n = dht_store_count(s);

	for (int a = 0; a < M_KEYS; a++) {
		int k = m->key_order[a];
		size_t first, cnt, want = 0;

		first = dht_store_key_range(s, &m->key[k], &cnt);
		assert_int_equal(first, at);
		for (int b = 0; b < M_WRITERS; b++) {
			int w = m->writer_order[b];
			const struct m_entry *e = &m->e[k][w];
			struct dht_stored *r;

			if (!e->present)
				continue;
			want++;
			assert_true(at < n);
			r = dht_store_at(s, at++);
			assert_memory_equal(&r->key, &m->key[k], sizeof(r->key));
			assert_memory_equal(&r->writer, &m->writer[w], sizeof(r->writer));
			assert_holds(r, e->seq, e->expires, e->flags);
			assert_int_equal(r->mark, e->mark);
			assert_ptr_equal(dht_store_find(s, &m->key[k], &m->writer[w]), r);
		}
		assert_int_equal(cnt, want);
	}
	assert_int_equal(at, n);
	for (size_t i = 1; i < n; i++) {
		const struct dht_stored *p = dht_store_at(s, i - 1), *q = dht_store_at(s, i);
		int c = memcmp(&p->key, &q->key, sizeof(p->key));

		assert_true(c < 0 ||
		            (c == 0 && memcmp(&p->writer, &q->writer, sizeof(p->writer)) < 0));
	}
	for (int w = 0; w < M_WRITERS; w++) {
		size_t cnt = 0;

		for (int k = 0; k < M_KEYS; k++)
			cnt += m->e[k][w].present;
		assert_int_equal(dht_store_writer_count(s, &m->writer[w]), cnt);
	}
}

static const struct m_entry *m_other_live(const struct model *m, int k, int not_w, uint64_t now)
{
	for (int b = 0; b < M_WRITERS; b++) {
		int w = m->writer_order[b];
		const struct m_entry *e = &m->e[k][w];

		if (w != not_w && e->present && e->expires > now && !(e->flags & DHT_REC_TOMBSTONE))
			return e;
	}
	return NULL;
}

/* The mutable entry of (key, writer), through iteration (find is const). */
static struct dht_stored *held(struct dht_store *s, const struct cert_addr *key,
                               const struct cert_addr *writer)
{
	size_t n, first = dht_store_key_range(s, key, &n), i;

	for (i = first; i < first + n; i++)
		if (memcmp(&dht_store_at(s, i)->writer, writer, sizeof(*writer)) == 0)
			break;
	assert_true(i < first + n);
	return dht_store_at(s, i);
}

static void random_operations_match_reference_model(void **state)
{
	static struct model m;
	struct dht_store *s;
	uint64_t now = 1000;
	uint32_t next_mark = 1;
	int outcomes[DHT_ST_RESULT_MAX] = {0}, expired = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	make_addrs(m.key, M_KEYS);
	make_addrs(m.writer, M_WRITERS);
	sort_indices(m.key, m.key_order, M_KEYS);
	sort_indices(m.writer, m.writer_order, M_WRITERS);
	m.lim = (struct dht_store_limits){30, 7, 5};
	assert_int_equal(dht_store_new(&m.lim, &s), 0);

	for (int op = 0; op < 5000; op++) {
		uint64_t dice = next() % 100;
		int k = (int)(next() % M_KEYS), w = (int)(next() % M_WRITERS);

		if (dice < 60) {
			uint64_t seq = next() % 6, expires = now + next() % 60 - 5;
			uint8_t flags = next() % 10 == 0 ? DHT_REC_TOMBSTONE : 0;
			enum dht_store_result want =
			        m_put(&m, k, w, seq, expires, flags, now, false);
			size_t before = dht_store_count(s);
			struct fake f;

			fake(&f, &m.key[k], &m.writer[w], seq, expires, flags);
			assert_int_equal(dht_store_check(s, &f.rec, now), want);
			assert_int_equal(dht_store_count(s), before);
			assert_int_equal(m_put(&m, k, w, seq, expires, flags, now, true), want);
			assert_int_equal(dht_store_put(s, &f.rec, now), want);
			outcomes[want]++;
			if (want == DHT_ST_ADDED || want == DHT_ST_REPLACED) {
				/* the engine's bookkeeping survives unrelated changes */
				struct dht_stored *r = held(s, &m.key[k], &m.writer[w]);

				assert_int_equal(r->mark, 0);
				r->mark = m.e[k][w].mark = next_mark++;
			}
		} else if (dice < 75) {
			bool had = m.e[k][w].present;

			m.e[k][w].present = false;
			assert_int_equal(dht_store_remove(s, &m.key[k], &m.writer[w]), had);
		} else if (dice < 80) {
			size_t gone = 0;

			for (int i = 0; i < M_KEYS; i++)
				for (int j = 0; j < M_WRITERS; j++)
					if (m.e[i][j].present && m.e[i][j].expires <= now) {
						m.e[i][j].present = false;
						gone++;
					}
			assert_int_equal(dht_store_expire(s, now), gone);
			expired += gone > 0;
		} else if (dice < 90) {
			const struct m_entry *e = m_other_live(&m, k, w, now);
			const struct dht_stored *r =
			        dht_store_other_live(s, &m.key[k], &m.writer[w], now);

			if (!e) {
				assert_null(r);
			} else {
				assert_non_null(r);
				assert_int_equal(r->mark, e->mark);
			}
		} else {
			now += next() % 8;
		}
		m_compare(&m, s);
	}
	/* the walk reached every outcome but NOMEM, and real expiry */
	for (int r = 0; r < DHT_ST_NOMEM; r++)
		assert_true(outcomes[r] > 0);
	assert_true(expired > 0);
	dht_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(limits_default_and_new_refuses_zero_or_oversized_limits),
	        cmocka_unit_test(result_names_are_the_documented_strings),
	        cmocka_unit_test(put_copies_raw_and_points_value_into_the_copy),
	        cmocka_unit_test(newest_seq_wins_older_is_stale_equal_is_same),
	        cmocka_unit_test(replace_keeps_one_entry_per_key_writer_and_zeroes_bookkeeping),
	        cmocka_unit_test(writer_cap_refuses_new_pairs_and_leaves_store_unchanged),
	        cmocka_unit_test(key_cap_refuses_new_writers_and_leaves_store_unchanged),
	        cmocka_unit_test(total_cap_refuses_first_and_leaves_store_unchanged),
	        cmocka_unit_test(expired_records_make_room_under_each_cap),
	        cmocka_unit_test(expired_records_that_do_not_help_are_kept),
	        cmocka_unit_test(expire_removes_exactly_the_expired),
	        cmocka_unit_test(other_live_ignores_own_writer_tombstones_and_expired),
	        cmocka_unit_test(key_range_finds_all_of_a_keys_records),
	        cmocka_unit_test(remove_drops_only_that_pair_and_its_count),
	        cmocka_unit_test(nomem_answers_and_leaves_store_unchanged),
	        cmocka_unit_test(random_operations_match_reference_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
