// SPDX-License-Identifier: MIT
/*
 * store — the records one node holds: at most one per (key, writer), the
 * newest seq wins, with caps in total, per writer and per key. Records go in
 * already verified (record.h); the store only orders, counts and expires.
 * Kept sorted by (key, writer), so a key's values are contiguous.
 *
 * Must not: verify signatures, log, read clocks (now comes in, unix seconds).
 */
#ifndef GVPN_DHT_STORE_H
#define GVPN_DHT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define DHT_PER_KEY_MAX 16 /* values (writers) one key can hold, at most */

struct dht_store_limits {
	uint32_t max_records;    /* in all, tombstones included (65536) */
	uint32_t max_per_writer; /* records of one writer (256) */
	uint32_t max_per_key;    /* writers of one key (16, at most DHT_PER_KEY_MAX) */
};
void dht_store_limits_default(struct dht_store_limits *l);

/* One held record. Owned by the store; valid until the next change. */
struct dht_stored {
	struct cert_addr key, writer;
	uint64_t seq, expires;
	uint8_t flags;
	const uint8_t *value; /* points into raw */
	uint16_t vlen;
	uint8_t *raw; /* the encoded record, as received (signature included) */
	size_t raw_len;
	/* The engine's bookkeeping; zeroed for a new or replacing record. */
	uint32_t mark;
	uint8_t confirms;
};

enum dht_store_result {
	DHT_ST_ADDED,       /* new (key, writer) */
	DHT_ST_REPLACED,    /* a newer seq replaced ours */
	DHT_ST_SAME,        /* we hold this seq already */
	DHT_ST_STALE,       /* we hold a newer seq: nothing changed */
	DHT_ST_FULL,        /* max_records reached */
	DHT_ST_WRITER_FULL, /* max_per_writer reached */
	DHT_ST_KEY_FULL,    /* max_per_key reached */
	DHT_ST_NOMEM,
	DHT_ST_RESULT_MAX,
};
/* "added", "replaced", "already held", "stale", "store full", "writer limit reached",
 * "key full", "out of memory". */
const char *dht_store_result_name(enum dht_store_result r);

struct dht_store;

int dht_store_new(const struct dht_store_limits *lim, struct dht_store **out);
void dht_store_free(struct dht_store *s); /* NULL is fine */

/* Adds or replaces (by seq) rec's (key, writer); copies rec->raw. Expired
 * records (expires <= now) make room before a cap refuses. */
enum dht_store_result dht_store_put(struct dht_store *s, const struct dht_record *rec,
                                    uint64_t now);
/* What put would answer, without changing anything. */
enum dht_store_result dht_store_check(struct dht_store *s, const struct dht_record *rec,
                                      uint64_t now);
/* The record of (key, writer), expired or not; NULL if none. Borrowed. */
const struct dht_stored *dht_store_find(const struct dht_store *s, const struct cert_addr *key,
                                        const struct cert_addr *writer);
/* Index of key's first record (or where it would be) and how many it has. */
size_t dht_store_key_range(const struct dht_store *s, const struct cert_addr *key, size_t *count);
/* A live (not expired) non-tombstone record of key by a writer other than
 * `not`; NULL if none. Borrowed. */
const struct dht_stored *dht_store_other_live(const struct dht_store *s,
                                              const struct cert_addr *key,
                                              const struct cert_addr * not, uint64_t now);
/* Drops (key, writer). true if it was there. */
bool dht_store_remove(struct dht_store *s, const struct cert_addr *key,
                      const struct cert_addr *writer);
/* Drops every record with expires <= now; returns how many. */
size_t dht_store_expire(struct dht_store *s, uint64_t now);

/* Iteration in (key, writer) order: i in [0, count). Borrowed, and mutable
 * only in mark/confirms. Any put/remove/expire reorders. */
size_t dht_store_count(const struct dht_store *s);
struct dht_stored *dht_store_at(struct dht_store *s, size_t i);
/* Records of one writer (for limits and status). */
size_t dht_store_writer_count(const struct dht_store *s, const struct cert_addr *writer);

#endif
