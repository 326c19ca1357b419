// SPDX-License-Identifier: MIT
/*
 * measure — what the simulator reports about a ring: consistency against
 * the true ring of live nodes, link counts, and lookups (routed messages in
 * nearest mode judged against the true owner of their key). Reads the
 * engines only through overlay/node.h; must not change their state except
 * by routing the lookups.
 */
#ifndef GVPN_TOOLS_SIM_MEASURE_H
#define GVPN_TOOLS_SIM_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"

/* Live nodes sorted by address, cached per membership version. */
struct sim_ring_ent {
	struct cert_addr addr;
	uint32_t node;
};
struct sim_ring {
	bool valid;
	uint64_t version;
	struct sim_ring_ent *e;
	size_t n, cap;
	size_t cursor; /* where sim_ring_consistent starts */
};
void sim_ring_init(struct sim_ring *r);
void sim_ring_release(struct sim_ring *r);
/* Refreshes the cache if the membership changed. 0 or -ENOMEM. */
int sim_ring_update(struct sim_ring *r, const struct sim *s);
/* The live node truly closest to target (ovl_addr_closer); SIZE_MAX if none. */
size_t sim_ring_owner(const struct sim_ring *r, const struct sim *s, const struct cert_addr *t);

/* The max live nodes truly nearest to t (ring distance, ties as
 * ovl_addr_closer: what ovl_node_nearest computes from a node's links),
 * nearest first, as node indices. Returns how many (fewer if fewer live).
 * r must be up to date (sim_ring_update). */
size_t sim_ring_nearest(const struct sim_ring *r, const struct cert_addr *t, uint32_t *out,
                        size_t max);

/* How many live nodes have a neighbour pair other than their true ring
 * predecessor and successor (0: the ring is consistent). With one live node,
 * "no neighbours" is right. */
size_t sim_ring_wrong(struct sim_ring *r, const struct sim *s);
/* Whether the ring is consistent, cheaply while it is not: the scan starts
 * at the node found wrong last time and stops at the first wrong one. */
bool sim_ring_consistent(struct sim_ring *r, const struct sim *s);

/* Links per live node (ovl_node_links). */
void sim_link_counts(const struct sim *s, double *mean, size_t *max);
/* Link ends by the NAT types at both ends (ours, the peer's) and path. */
struct sim_nat_paths {
	size_t direct[SIM_NAT_TYPE_MAX][SIM_NAT_TYPE_MAX];
	size_t relayed[SIM_NAT_TYPE_MAX][SIM_NAT_TYPE_MAX];
	size_t via_bootstrap; /* relayed link ends whose relay is a bootstrap node */
};
/* Link ends by the NAT types at both ends (ours, the peer's) and path, and
 * how many relayed ones go through one of the bootstrap nodes. */
/* Links in all (each counted at both ends), how many of them are relayed,
 * and (nat may be NULL) by NAT types. r must be up to date (sim_ring_update). */
void sim_link_paths(const struct sim *s, const struct sim_ring *r, size_t *total, size_t *relayed,
                    struct sim_nat_paths *nat);

/* A live node chosen at random (SIZE_MAX if none). */
size_t sim_random_live(struct sim *s);

/* Routed protocol of the lookups: not the DHT's (OVL_PROTO_USER), so a
 * node running a DHT still hands lookups to the sim's deliver hook. */
#define SIM_PROTO_LOOKUP (OVL_PROTO_USER + 1)

struct sim_lookup_opts {
	size_t count;        /* lookups to make */
	uint32_t spacing_ms; /* one lookup started every spacing_ms (0: all at once) */
	uint32_t timeout_ms; /* a lookup with no answer after this long has failed (10 s) */
	/* Attempts after a silent one, each after attempt_ms: the application's
	 * retry over a lossy network (0: none). */
	unsigned retries;
	uint32_t attempt_ms;
};
void sim_lookup_opts_default(struct sim_lookup_opts *o);

struct sim_lookup_stats {
	size_t count, ok;
	size_t wrong_node; /* delivered, but not at the true owner */
	size_t errors;     /* route_error, or ovl_node_route refused */
	size_t lost;       /* nothing within the timeout */
	size_t first_try;  /* ok without a retry */
	double hops_mean;
	unsigned hops_p99, hops_max;
};

/* Makes o->count lookups from random live nodes to random addresses, runs
 * the simulation until each has an outcome, and fills out. 0 or -ENOMEM. */
int sim_lookups(struct sim *s, struct sim_ring *r, const struct sim_lookup_opts *o,
                struct sim_lookup_stats *out);

#endif
