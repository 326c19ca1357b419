// SPDX-License-Identifier: MIT
/*
 * dht — the group's distributed hash table on the overlay (DESIGN §5,
 * docs/dht.md): put, create (put-if-absent), get and remove of signed,
 * TTL-bound values; each key's record lives on the r nodes nearest to it.
 *
 * A sans-I/O engine attached to an overlay node (ovl_node_attach): it speaks
 * routed protocol DHT_PROTO, runs from the node's tick and is freed with the
 * node. Requests from this node's users complete through cb.done; a request
 * is routed to the key's primary (the nearest live node), which applies it
 * with its replicas and answers. Replicas keep each other up to date
 * (digest exchange), hand records to nodes that join near a key and
 * re-replicate when one fails. Values this node wrote are re-put before they
 * expire until removed (or the node goes).
 *
 * Must not: do I/O, read clocks (now comes in; wall time from cb.wall), log
 * anything a peer controls without a rate limit.
 */
#ifndef GVPN_DHT_DHT_H
#define GVPN_DHT_DHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "node.h"
#include "record.h"

#define DHT_PROTO           OVL_PROTO_USER /* routed protocol number */
#define DHT_REPLICAS_MIN    3
#define DHT_REPLICAS_MAX    8
#define DHT_TTL_MAX_DEFAULT 86400
#define DHT_ERR_MAX         128

struct dht_config {
	unsigned replicas;        /* r: copies of each record (3; 3..DHT_REPLICAS_MAX) */
	uint32_t ttl_max;         /* longest TTL accepted, seconds (86400) */
	uint32_t max_records;     /* held in all (65536) */
	uint32_t max_per_writer;  /* held per writer (256) */
	uint32_t max_per_key;     /* writers per key (16) */
	uint32_t rate_per_s;      /* requests accepted per origin and second (20) */
	uint32_t rate_burst;      /* ... with this burst (100) */
	uint32_t sync_ms;         /* replica digest exchange period (30000) */
	uint32_t repair_delay_ms; /* after links change, sync this soon (1000) */
	uint32_t attempt_ms;      /* a request unanswered this long is sent again (2500) */
	unsigned attempts;        /* ... at most this many times in all (4) */
	uint32_t replica_wait_ms; /* a primary waits this long for its replicas (1000) */
	uint32_t refresh_max_s;   /* own values re-put at least this often (600) */
};
void dht_config_default(struct dht_config *cfg);

enum dht_op {
	DHT_OP_PUT = 1,
	DHT_OP_CREATE = 2,
	DHT_OP_GET = 3,
	DHT_OP_REMOVE = 4,
	DHT_OP_MAX,
};
const char *dht_op_name(enum dht_op op);

/* How a request ended. */
enum dht_status {
	DHT_OK = 0,
	DHT_EXISTS,      /* create: another writer holds a live value */
	DHT_REFUSED,     /* a storing node said no (limit, rate, bad record): see error */
	DHT_TIMEOUT,     /* no answer after every attempt */
	DHT_UNREACHABLE, /* no route (no links) */
	DHT_STATUS_MAX,
};
const char *dht_status_name(enum dht_status s);

struct dht_value {
	struct cert_addr writer;
	char writer_name[CERT_NAME_MAX + 1];
	/* The fixed virtual IP the writer's certificate names ("" if none). */
	char writer_ip[CERT_IP_STR_MAX];
	const uint8_t *value; /* borrowed for the callback's duration */
	uint16_t len;
	uint32_t ttl; /* seconds left */
};

struct dht_result {
	uint32_t req;
	enum dht_op op;
	struct cert_addr key;
	enum dht_status status;
	char error[DHT_ERR_MAX]; /* "" when ok; for EXISTS, who holds the key */
	/* get: the live values, verified by us, one per writer */
	const struct dht_value *values;
	size_t n_values;
	unsigned hops;  /* routed hops of the answer's request */
	unsigned tries; /* attempts made */
};

struct dht_cb {
	void *ctx;
	time_t (*wall)(void *ctx); /* unix seconds */
	void (*random)(void *ctx, void *buf, size_t len);
};

/* A request ended: called exactly once per accepted request (unless
 * cancelled), never from inside the call that made the request. May call
 * back into the engine. */
typedef void (*dht_done_fn)(void *ctx, const struct dht_result *res);

struct dht;

/* New engine attached to node (which then owns it: ovl_node_free frees it).
 * The node must keep at least replicas - 1 near neighbours on each side
 * (leaf_per_side), so every key's replica set is within its view.
 * 0, -EINVAL (bad config), -ENOMEM, -EEXIST (the node has a DHT). */
int dht_new(struct ovl_node *node, const struct dht_config *cfg, const struct dht_cb *cb,
            struct dht **out);

/*
 * Requests. key is the 160-bit DHT key (dht_key_of). ttl in seconds,
 * 1..cfg.ttl_max. refresh: keep re-putting the value before it expires
 * until removed. On success *req (may be NULL) names the request; done(ctx,
 * result) runs when it ends. The caller then ticks the node (the runtime:
 * ovl_runtime_kick; the sim: sim_poke). -EINVAL (bad ttl, value too long),
 * -ENOMEM, -ENOBUFS (too many requests pending).
 */
int dht_put(struct dht *d, uint64_t now, const struct cert_addr *key, const uint8_t *value,
            size_t len, uint32_t ttl, bool refresh, dht_done_fn done, void *ctx, uint32_t *req);
int dht_create(struct dht *d, uint64_t now, const struct cert_addr *key, const uint8_t *value,
               size_t len, uint32_t ttl, bool refresh, dht_done_fn done, void *ctx, uint32_t *req);
int dht_get(struct dht *d, uint64_t now, const struct cert_addr *key, dht_done_fn done, void *ctx,
            uint32_t *req);
/* Removes our own value of key (a tombstone) and stops refreshing it. */
int dht_remove(struct dht *d, uint64_t now, const struct cert_addr *key, dht_done_fn done,
               void *ctx, uint32_t *req);
/* Forgets a pending request: its done will not run. */
void dht_cancel(struct dht *d, uint32_t req);
/* The namespace keys are made in (our certificate's). Borrowed. */
const char *dht_namespace(const struct dht *d);

/* Counters and sizes for status and benchmarks. */
struct dht_stats {
	size_t records, tombstones, own_values, pending;
	uint64_t stored, refused, verify_failed, rate_limited;
	uint64_t handed_off, repaired, synced_out, expired;
	uint64_t msgs_in, msgs_out, frags_in, frags_out, reassembly_dropped;
};
void dht_stats(const struct dht *d, struct dht_stats *out);
const struct dht_config *dht_config(const struct dht *d);

/* Test hook: sends an already built record to its key's primary as a put
 * from us, whatever its writer (a forging member). */
int dht_put_raw(struct dht *d, uint64_t now, const uint8_t *record, size_t len, dht_done_fn done,
                void *ctx, uint32_t *req);

#endif
