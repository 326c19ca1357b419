// SPDX-License-Identifier: MIT
/*
 * simdht — the DHT engine (dht/dht.h) on every simulated node, and what
 * groupvpn-sim measures about it: puts of many keys from random writers,
 * read checks (a get of every key from a random live node, judged against
 * what was written), where the records truly are (the r live nodes nearest
 * to a key, from the true ring), and a create race. Drives the engines only
 * through dht.h, except sim_dht_holds, a test-only look into a node's store.
 *
 * The engines use the sim's virtual wall clock and PRNG, so runs stay a
 * function of the seed. A node owns its engine and frees it when it dies:
 * sim_dht_of answers NULL for a node that is not live, never a stale pointer.
 */
#ifndef GVPN_TOOLS_SIM_SIMDHT_H
#define GVPN_TOOLS_SIM_SIMDHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht.h"
#include "measure.h"
#include "sim.h"

#define SIM_DHT_VALUE_MAX 24 /* the values written ("v<i>", "race<n>") fit */

struct sim_dht {
	struct sim *s;
	struct dht_config cfg;
	struct dht **d; /* per node; valid only while the node is live */
	size_t n;
};

/* Per-node slots for every node of s. 0 or -ENOMEM. */
int sim_dht_init(struct sim_dht *sd, struct sim *s, const struct dht_config *cfg);
void sim_dht_release(struct sim_dht *sd);
/* Starts node i (sim_start) and attaches an engine to it. 0 or an error. */
int sim_dht_start(struct sim_dht *sd, size_t i);
/* Node i's engine, or NULL if it has none or is not live. Borrowed. */
struct dht *sim_dht_of(struct sim_dht *sd, size_t i);

struct sim_dht_key;
/* Test-only: whether live node i's store holds k's value as written (its
 * writer's, live, same bytes). Reads the engine's internals
 * (dht_internal.h, store.h): dht.h has no such verb. */
bool sim_dht_holds(struct sim_dht *sd, size_t i, const struct sim_dht_key *k);

/* How requests are issued: one every spacing_ms, at most inflight pending. */
struct sim_dht_opts {
	uint32_t spacing_ms; /* (5) */
	size_t inflight;     /* (200) */
	uint32_t ttl;        /* seconds, for puts (3600) */
	bool refresh;        /* puts are kept alive by their writer (true) */
};
void sim_dht_opts_default(struct sim_dht_opts *o);

/* One key written by the experiment. */
struct sim_dht_key {
	struct cert_addr key;
	uint32_t writer;
	uint8_t put; /* outcome: enum dht_status, SIM_DHT_LOST or SIM_DHT_NOCALL */
	uint8_t vlen;
	char value[SIM_DHT_VALUE_MAX];
};
/* Outcomes beyond enum dht_status: no done callback within the engine's
 * own retry budget plus a margin; the engine refused the call itself. */
#define SIM_DHT_LOST     DHT_STATUS_MAX
#define SIM_DHT_NOCALL   (DHT_STATUS_MAX + 1)
#define SIM_DHT_OUTCOMES (DHT_STATUS_MAX + 2)
/* "ok", "exists", ..., "lost", "call refused". */
const char *sim_dht_outcome_name(unsigned outcome);

/* Outcomes of a batch of requests. */
struct sim_dht_tally {
	size_t count;
	size_t by[SIM_DHT_OUTCOMES];
};

/* Puts n keys "k<i>" = "v<i>" (app keys in SIM_NAMESPACE), each from a
 * random live node, runs until all have ended and fills keys[0..n) and out.
 * 0, -ENOMEM, or -EIO if no node is live. */
int sim_dht_put_keys(struct sim_dht *sd, const struct sim_dht_opts *o, struct sim_dht_key *keys,
                     size_t n, struct sim_dht_tally *out);

/* A read check: a get of every key from a random live node. */
struct sim_dht_read {
	size_t keys, readable;
	size_t live_writers, readable_live; /* keys whose writer is live, and readable of those */
	size_t missing;                     /* answered ok, without the written value */
	size_t missing_live;                /* ... of those, keys whose writer is live */
	size_t wrong;                       /* the writer's value, but other bytes */
	struct sim_dht_tally gets;          /* how the gets ended */
	double hops_mean;                   /* over readable gets */
	unsigned hops_max;
	/* Where records are: the r true nearest live nodes of every key
	 * (slots) and how many of them hold the written value. */
	size_t slots, held;
	/* The same among nodes with index >= first_new (hand-off). */
	size_t new_slots, new_held;
	/* Since the run's start, when the check ended (the caller's to fill). */
	double virtual_seconds, wall_seconds;
};
/* Fills out for keys[0..n); first_new as above (SIZE_MAX: none). 0, -ENOMEM, -EIO. */
int sim_dht_read_check(struct sim_dht *sd, struct sim_ring *ring, const struct sim_dht_opts *o,
                       const struct sim_dht_key *keys, size_t n, size_t first_new,
                       struct sim_dht_read *out);

/* N nodes create one key at the same instant; who won, and what a get sees. */
struct sim_dht_race {
	size_t nodes;
	struct sim_dht_tally creates;
	size_t winner;     /* node index of the only DHT_OK, SIZE_MAX otherwise */
	uint8_t get;       /* how the verifying get ended (an outcome, as for puts) */
	size_t values;     /* values it returned */
	bool winner_value; /* ... exactly one, the winner's, byte for byte */
	/* In the stores after the race: live nodes holding the winner's value,
	 * and (node, loser) pairs where a node holds a loser's value. */
	size_t winner_copies, loser_copies;
};
/* n distinct random live nodes (n <= live) each create app key "race"
 * with value "race<node>". 0, -EINVAL, -ENOMEM. */
int sim_dht_create_race(struct sim_dht *sd, const struct sim_dht_opts *o, size_t n,
                        struct sim_dht_race *out);

/* How many of keys[0..n) some live node holds (as sim_dht_holds): right
 * after a kill, the keys that can still be read at all. */
size_t sim_dht_held_anywhere(struct sim_dht *sd, const struct sim_dht_key *keys, size_t n);

/* Engine counters summed over live nodes. */
void sim_dht_totals(struct sim_dht *sd, struct dht_stats *out);

#endif
