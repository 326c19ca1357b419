// SPDX-License-Identifier: MIT
/*
 * nat — what a node can tell about the NAT in front of it from where its
 * peers see it (every link reports our endpoint as it sees it: the overlay
 * is a distributed STUN server), which candidate endpoints it offers in a
 * connect-to-me, and which member should relay a link that cannot go direct.
 *
 * Pure functions on values: no state, no I/O, no clock. The node engine
 * (node_punch.c) calls them; tests/unit/test_nat.c checks them alone.
 * Protocol and rationale: docs/nat.md.
 */
#ifndef GVPN_OVERLAY_NAT_H
#define GVPN_OVERLAY_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "endpoint.h"

#define OVL_NAT_PREDICT_MAX   3    /* predicted ports offered behind a sequential symmetric NAT */
#define OVL_NAT_DELTA_MAX     64   /* larger port steps are not a pattern worth following */
#define OVL_NAT_REFLEXIVE_MAX 8    /* distinct reflexive endpoints kept */
#define OVL_RELAY_OFFERS_MAX  6    /* relays offered in a connect-to-me */
#define OVL_RELAY_RTT_UNKNOWN 1000 /* ms counted for a link whose RTT is not measured yet */
#define OVL_RELAY_LAST_RESORT 2000 /* ms added for a relay of last resort (a bootstrap node) */

enum ovl_nat_type {
	OVL_NAT_UNKNOWN, /* no peer told us yet */
	OVL_NAT_NONE,    /* peers see one of our own addresses: public */
	OVL_NAT_CONE, /* one mapping for every peer (endpoint-independent, port-preserving or not)
	               */
	OVL_NAT_SYMMETRIC, /* a new mapping (port) for every peer */
	OVL_NAT_TYPE_MAX,
};
const char *ovl_nat_type_name(enum ovl_nat_type t);

/* One peer's view of us: the endpoint it sees, and when its link came up
 * (the order in which the NAT made its mappings). */
struct ovl_nat_obs {
	struct ovl_endpoint ep;
	uint64_t since;
};

struct ovl_nat_view {
	enum ovl_nat_type type;
	/* Distinct endpoints peers see that are not our own, the most reported
	 * first (ties: the newest first). */
	struct ovl_endpoint reflexive[OVL_NAT_REFLEXIVE_MAX];
	size_t n_reflexive;
	/* Behind a symmetric NAT whose last mappings came a small step apart, in
	 * order: the next ports it will probably use (Brunet's port prediction;
	 * the step of the last three if steady, else one); else none. */
	struct ovl_endpoint predicted[OVL_NAT_PREDICT_MAX];
	size_t n_predicted;
};

/* Judges the observations (family 0 ones are skipped) against our own
 * endpoints. */
void ovl_nat_assess(const struct ovl_endpoint *local, size_t n_local, const struct ovl_nat_obs *obs,
                    size_t n_obs, struct ovl_nat_view *out);

/*
 * The candidates we offer, at most max: our own endpoints (a peer on the same
 * LAN reaches us there), then reflexive ones. Behind a cone NAT every
 * reflexive endpoint is worth trying; behind a symmetric one only the newest
 * (some NATs are only address-dependent) and the predicted ports.
 */
size_t ovl_nat_candidates(const struct ovl_endpoint *local, size_t n_local,
                          const struct ovl_nat_view *v, struct ovl_endpoint *out, size_t max);

/* A member that could relay for us: one of our links, as we offer it in a
 * connect-to-me (its address, the endpoint we reach it at, the RTT). */
struct ovl_relay_offer {
	struct cert_addr addr;
	struct ovl_endpoint ep;
	uint16_t rtt_ms; /* 0: not measured */
};

/*
 * The relay for a link between us and a peer, from our offers (`mine`: our
 * direct links) and the peer's (`theirs`): the member both are linked to with
 * the smallest sum of the two RTTs (an unmeasured one counts as
 * OVL_RELAY_RTT_UNKNOWN, one set in `last` — bit i: the peer's offer i is a
 * bootstrap node, which should carry no user traffic — OVL_RELAY_LAST_RESORT
 * more); ties go to the lower address. If there is none, or only a bootstrap
 * node, the peer's offer with the smallest such cost that is not a bootstrap
 * node (if any), which we must link to first (*linked false).
 * Offers that are ourselves, the peer, or set in `skip` (bit i: the peer's
 * offer i already failed) never win. The index in theirs, or -1.
 */
int ovl_relay_choose(const struct ovl_relay_offer *mine, size_t n_mine,
                     const struct ovl_relay_offer *theirs, size_t n_theirs,
                     const struct cert_addr *self, const struct cert_addr *peer, uint32_t skip,
                     uint32_t last, bool *linked);

#endif
