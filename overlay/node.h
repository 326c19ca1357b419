// SPDX-License-Identifier: MIT
/*
 * node — one overlay node as a sans-I/O engine: the ring routing table
 * (leaf set and far links by distance class), Brunet-style join through
 * bootstrap nodes with connect-to-me (CTM) requests, greedy routing by ring
 * distance, maintenance (leaf-set exchange, repair, partition merge) and
 * graceful leave. Built on overlay/link.h; driven exactly like it: feed
 * datagrams and time, get datagrams, events and the next deadline.
 * Protocol: docs/overlay.md.
 */
#ifndef GVPN_OVERLAY_NODE_H
#define GVPN_OVERLAY_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cert.h"
#include "endpoint.h"
#include "link.h"

#define OVL_BOOTSTRAP_MAX  64
#define OVL_CANDIDATES_MAX 8
#define OVL_HOPS_MAX       64   /* hop limit of every routed message */
#define OVL_ROUTE_MTU      1368 /* payload of a routed message: OVL_LINK_MTU - 51 */
#define OVL_DIRECT_MTU     1417 /* payload of a direct message: OVL_LINK_MTU - 2 */
/* Largest message a relayed link carries: its datagrams travel inside a
 * relay header (21 bytes) in a link message to the relay. Routing keeps
 * larger messages off relayed links; vnet's tunnelled packets fit. */
#define OVL_RELAYED_MTU (OVL_LINK_MTU - 21 - OVL_LINK_OVERHEAD)

/* Protocol numbers of routed payloads: < 16 are the overlay's own. */
#define OVL_PROTO_USER 16

struct ovl_node_config {
	struct ovl_crypto *crypto;     /* borrowed; outlives the node */
	struct ovl_links_config links; /* .crypto is set from above */
	struct ovl_endpoint bootstrap[OVL_BOOTSTRAP_MAX];
	size_t n_bootstrap;
	/* Our own local endpoints (the socket's), first candidates in CTMs. */
	struct ovl_endpoint local[OVL_CANDIDATES_MAX];
	size_t n_local;
	unsigned leaf_per_side; /* near neighbours on each side (default 3, at least 2) */
	unsigned far_per_class; /* far links per distance class and direction (default 1) */
	unsigned max_links;     /* links kept after trimming (default 36) */
	uint32_t maintain_ms;   /* leaf exchange and table upkeep period (default 5000) */
	uint32_t rejoin_ms;     /* CTM through a bootstrap, partition merge (600000 ±50 %) */
	uint32_t retry_min_ms;  /* bootstrap retry backoff (1000 .. retry_max_ms) */
	uint32_t retry_max_ms;  /* (30000) */
	/* NAT traversal (docs/nat.md). No direct link this long after both sides
	 * began punching: relay through a member both link to (3000). */
	uint32_t relay_after_ms;
	/* A relayed link probes for a direct path this long after it came up,
	 * then backing off, doubling up to punch_retry_max_ms (5000, 120000). */
	uint32_t punch_retry_min_ms;
	uint32_t punch_retry_max_ms;
};
/* Fills defaults (keeps crypto, bootstrap and local). */
void ovl_node_config_default(struct ovl_node_config *cfg);

enum ovl_route_mode {
	OVL_ROUTE_EXACT,   /* deliver only at dst; an error comes back otherwise */
	OVL_ROUTE_NEAREST, /* deliver at the live node closest to dst */
};

/* What a delivered routed message says about itself. */
struct ovl_route_info {
	struct cert_addr src, dst;
	enum ovl_route_mode mode;
	uint8_t proto;
	uint8_t hops;
	uint32_t id;
	/* Came as a direct message (ovl_node_send_direct) over our link to src:
	 * src is then the link's authenticated peer. Routed messages' src is
	 * what the originator wrote, and any member can write anything. */
	bool direct;
};

struct ovl_node_cb {
	void *ctx;
	void (*send)(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len);
	void (*random)(void *ctx, void *buf, size_t len);
	time_t (*wall)(void *ctx);
	/* A routed message with proto >= OVL_PROTO_USER reached us. Optional. */
	void (*deliver)(void *ctx, const struct ovl_route_info *info, const uint8_t *payload,
	                size_t len);
	/* A message we sent could not be delivered (reason: "no route", "hop limit",
	 * "no such node"). Optional. */
	void (*route_error)(void *ctx, uint32_t id, const struct cert_addr *dst,
	                    const char *reason);
	/* A trace we started finished: hops[0] is the first node after us;
	 * reached is where the probe ended. Optional. */
	void (*trace_done)(void *ctx, uint32_t id, const struct cert_addr *hops, size_t n_hops,
	                   const struct cert_addr *reached);
};

enum ovl_node_state {
	OVL_NODE_IDLE,    /* created, not started */
	OVL_NODE_JOINING, /* looking for a bootstrap that answers */
	OVL_NODE_SOLO,    /* nobody answered: a ring of one, retrying with backoff */
	OVL_NODE_RUNNING, /* linked into the ring */
	OVL_NODE_LEAVING, /* ovl_node_leave was called */
	OVL_NODE_STATE_MAX,
};
const char *ovl_node_state_name(enum ovl_node_state s);

/* Why a link exists, for status. */
enum ovl_link_kind {
	OVL_KIND_LEAF,     /* to a bootstrap, until we are placed */
	OVL_KIND_NEAR,     /* leaf set: ring neighbours */
	OVL_KIND_FAR,      /* distance-class link */
	OVL_KIND_SHORTCUT, /* on demand, for traffic (later: vnet) */
	OVL_KIND_MAX,
};
const char *ovl_link_kind_name(enum ovl_link_kind k);

struct ovl_node;

int ovl_node_new(const struct ovl_node_config *cfg, const struct ovl_node_cb *cb,
                 struct ovl_node **out);
void ovl_node_free(struct ovl_node *n);

/* Begins joining through the bootstrap list (in random order). */
void ovl_node_start(struct ovl_node *n, uint64_t now);
void ovl_node_input(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *from,
                    const uint8_t *buf, size_t len);
/* Runs what is due; returns the next deadline (ms, same clock as now). */
uint64_t ovl_node_tick(struct ovl_node *n, uint64_t now);
/* Graceful leave: tells the neighbours (who link to each other) and closes
 * every link. The node is then idle; free it. */
void ovl_node_leave(struct ovl_node *n, uint64_t now);

/* Routes payload (at most OVL_ROUTE_MTU bytes) towards dst. *id (may be NULL)
 * names the message in route_error. 0, -EINVAL, -EMSGSIZE, -EHOSTUNREACH (no links). */
int ovl_node_route(struct ovl_node *n, uint64_t now, const struct cert_addr *dst,
                   enum ovl_route_mode mode, uint8_t proto, const uint8_t *payload, size_t len,
                   uint32_t *id);
/* Sends a trace probe to dst (nearest mode); the answer comes to trace_done. */
int ovl_node_trace(struct ovl_node *n, uint64_t now, const struct cert_addr *dst, uint32_t *id);
/* Asks a peer to link to us directly (a CTM routed to dst, exact). For
 * shortcuts; the link gets kind `kind`. */
int ovl_node_connect_to(struct ovl_node *n, uint64_t now, const struct cert_addr *dst,
                        enum ovl_link_kind kind);

/*
 * Sends payload (1..OVL_DIRECT_MTU bytes) to peer over our link to it, as
 * one link message without a routing header; it arrives at the upper layer
 * owning proto (>= OVL_PROTO_USER) with info.direct set. 0, -EINVAL,
 * -EMSGSIZE, -ENOTCONN (no link to peer).
 */
int ovl_node_send_direct(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                         uint8_t proto, const uint8_t *payload, size_t len);
/* Is there a link up to peer? Its kind (as in status) in *kind (may be NULL). */
bool ovl_node_linked(const struct ovl_node *n, const struct cert_addr *peer,
                     enum ovl_link_kind *kind);
/* When our link to peer came up (node clock, ms); 0 if there is none. */
uint64_t ovl_node_link_since(const struct ovl_node *n, const struct cert_addr *peer);
/* When our link to peer went onto a direct path (came up direct, or moved
 * off its relay); 0 if there is no link or it is relayed. */
uint64_t ovl_node_direct_since(const struct ovl_node *n, const struct cert_addr *peer);
/* Closes our link to peer if it is a shortcut (and not also a ring
 * neighbour); true if it closed one. For idle shortcuts. */
bool ovl_node_close_shortcut(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                             const char *reason);

/* ---- upper layers ---------------------------------------------------------- */

/*
 * An upper layer riding on the node (the DHT; later vnet): it owns one
 * routed protocol number, runs from the node's tick, and hears every route
 * error (message ids are unique per node, so each upper recognises its
 * own). The node owns what is attached: ovl_node_free calls detach.
 */
struct ovl_upper {
	void *ctx;
	uint8_t proto; /* >= OVL_PROTO_USER */
	void (*deliver)(void *ctx, uint64_t now, const struct ovl_route_info *info,
	                const uint8_t *payload, size_t len);
	void (*route_error)(void *ctx, uint64_t now, uint32_t id, const struct cert_addr *dst,
	                    const char *reason); /* optional */
	/* Runs what is due; returns the upper's next deadline (UINT64_MAX: none). */
	uint64_t (*tick)(void *ctx, uint64_t now);
	void (*detach)(void *ctx); /* the node is being freed; optional */
	/* The CRL changed (ovl_node_crl_updated): drop what revoked members hold. Optional. */
	void (*crl_updated)(void *ctx, uint64_t now);
};
#define OVL_UPPER_MAX 4
/* *up is copied. 0, -EINVAL, -EEXIST (proto taken), -ENOSPC. */
int ovl_node_attach(struct ovl_node *n, const struct ovl_upper *up);
/* After ovl_crypto_update_crl took a newer CRL: closes the links of members
 * it revokes and tells the upper layers. Returns how many links closed. */
size_t ovl_node_crl_updated(struct ovl_node *n, uint64_t now);
/* The crypto the node was made with (signing for upper layers). Borrowed. */
struct ovl_crypto *ovl_node_crypto(struct ovl_node *n);
/* Near neighbours kept on each side (the config's leaf_per_side). */
unsigned ovl_node_leaf_per_side(const struct ovl_node *n);
/* Bumps whenever a link comes up or goes down. */
uint64_t ovl_node_links_gen(const struct ovl_node *n);
/* Ourselves and our linked peers, nearest to target first (ring distance;
 * ties as ovl_addr_closer); fills up to max, returns how many. */
size_t ovl_node_nearest(const struct ovl_node *n, const struct cert_addr *target,
                        struct cert_addr *out, size_t max);

/* ---- status -------------------------------------------------------------- */

const struct cert_info *ovl_node_self(const struct ovl_node *n);
enum ovl_node_state ovl_node_state(const struct ovl_node *n);
/* Our candidate endpoints: local ones, then reflexive ones peers reported. */
size_t ovl_node_endpoints(const struct ovl_node *n, struct ovl_endpoint *out, size_t max);

struct ovl_node_link {
	struct cert_addr addr;
	char name[CERT_NAME_MAX + 1];
	enum ovl_link_kind kind;
	struct ovl_endpoint endpoint; /* where its datagrams go: the peer, or the relay */
	uint32_t rtt_ms;
	bool relayed; /* through the member relay / relay_name */
	struct cert_addr relay;
	char relay_name[CERT_NAME_MAX + 1];
};
/* Fills up to max entries; returns how many links there are. */
size_t ovl_node_links(const struct ovl_node *n, struct ovl_node_link *out, size_t max);
/* The linked peers closest to us clockwise (succ) and counter-clockwise
 * (pred); false if we have no link. */
bool ovl_node_neighbours(const struct ovl_node *n, struct cert_addr *pred, struct cert_addr *succ);
/* What we know of the NAT in front of us (nat.h). */
struct ovl_nat_view;
void ovl_node_nat(const struct ovl_node *n, struct ovl_nat_view *out);
/* Is our link to peer relayed (true) or direct? false too if there is none. */
bool ovl_node_link_relayed(const struct ovl_node *n, const struct cert_addr *peer);

/* NAT traversal and relaying counters. */
struct ovl_node_stats {
	uint64_t relayed;       /* datagrams we relayed between two of our links */
	uint64_t relay_drops;   /* ... refused: no link to the target, too large, a relayed link */
	uint64_t punches;       /* hole-punching attempts started */
	uint64_t punch_direct;  /* ... that ended in a direct link */
	uint64_t punch_relayed; /* ... that fell back to a relayed link */
	uint64_t probe_rounds;  /* relayed links that probed for a direct path */
};
void ovl_node_stats(const struct ovl_node *n, struct ovl_node_stats *out);

/* Our own endpoints changed (an interface was re-addressed): they become
 * our first candidates, and every link pings at once, so peers see us at the
 * new address within a round trip. max OVL_CANDIDATES_MAX. */
void ovl_node_set_local(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *local,
                        size_t n_local);

/* The underlying link engine, for counters. Borrowed. */
struct ovl_links *ovl_node_links_engine(struct ovl_node *n);

#endif
