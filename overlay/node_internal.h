// SPDX-License-Identifier: MIT
/* node — private structures and message constants of overlay/node*.c. See docs/overlay.md. */
#ifndef GVPN_OVERLAY_NODE_INTERNAL_H
#define GVPN_OVERLAY_NODE_INTERNAL_H

#include "node.h"
#include "wire.h"

/* Node messages: the payload of a link MSG, first byte. */
enum {
	NM_ROUTE = 1,   /* a routed message */
	NM_LEAFSET = 2, /* my near neighbours: link to those that fit your leaf set */
	NM_LEAVE = 3,   /* I am leaving; here are my near neighbours */
	NM_LEAFSET_REP =
	        4,     /* answer to a LEAFSET from a node we do not count as near; never answered */
	NM_DIRECT = 5, /* u8 proto, payload: an upper layer's message to this very peer */
};

/* Routed protocols below OVL_PROTO_USER. */
enum {
	RP_TRACE = 1,     /* probe; the node where it ends answers RP_TRACE_REP */
	RP_TRACE_REP = 2, /* u8 n, addr[n], reached addr */
	RP_CTM = 3,       /* connect to me: u8 kind, u8 n, endpoint[n] */
	RP_CTM_REP = 4,   /* u8 kind, u8 n, endpoint[n], u8 m, {addr, endpoint}[m] */
	RP_ERROR = 5,     /* u32 id, u8 code, dst addr */
};

/* RF_DETOUR: the message already took its one step past a node that knew no
 * nearer node (a link missing from a leaf set); it may not take another. */
enum { RF_NEAREST = 1, RF_TRACE = 2, RF_NOT_SRC = 4, RF_DETOUR = 8 };
enum { RERR_NO_ROUTE = 1, RERR_HOP_LIMIT = 2, RERR_NO_NODE = 3 };

#define ROUTE_HDR (1 + 1 + 1 + 1 + 20 + 20 + 4 + 1)
_Static_assert(ROUTE_HDR + 2 + OVL_ROUTE_MTU <= OVL_LINK_MTU,
               "a routed message fits a link message");
_Static_assert(2 + OVL_DIRECT_MTU <= OVL_LINK_MTU, "a direct message fits a link message");
#define SHORTCUT_WANT_MAX 16        /* shortcut requests remembered until their link comes up */
#define NEIGH_MAX         16        /* entries in a LEAFSET / LEAVE / CTM reply */
#define CLASSES           (2 * 160) /* distance classes: 160 clockwise, 160 counter-clockwise */

/* What the node keeps per link (ovl_link_user). */
struct nlink {
	struct ovl_link *link;
	enum ovl_link_kind tag; /* LEAF (bootstrap), SHORTCUT, or FAR = no special role */
	uint64_t since;
};

/* The leaf set: the leaf_per_side nearest linked peers on each side,
 * nearest first. Recomputed only when a link comes or goes (gen != the
 * node's links_gen); held apart so const accessors can refresh it. */
struct near_cache {
	uint64_t gen;
	size_t n_succ, n_pred;
	struct ovl_link *succ[NEIGH_MAX], *pred[NEIGH_MAX];
};

struct ovl_node {
	struct ovl_node_config cfg;
	struct ovl_node_cb cb;
	struct ovl_links *ls;
	struct cert_info self;
	enum ovl_node_state state;
	/* joining */
	size_t order[OVL_BOOTSTRAP_MAX], boot_i;
	bool boot_busy;
	struct ovl_endpoint boot_ep;
	uint32_t retry_ms;
	uint64_t retry_at;
	/* a CTM to ourselves to be sent through the link at this endpoint once up */
	bool via_pending;
	struct ovl_endpoint via_ep;
	uint64_t next_maintain, next_rejoin, last_self_ctm;
	uint64_t class_retry[CLASSES / 2]; /* when a clockwise class may be asked for again */
	uint32_t next_id;
	uint64_t links_gen; /* bumped by every link up or down */
	struct near_cache *near;
	uint64_t now;                /* of the call in progress, for callbacks that have none */
	struct ovl_link *route_from; /* the link a routed message being handled came over */
	/* Peers we asked for a shortcut, or that asked us: their link, once up,
	 * is a shortcut (kept out of trimming, closed by its user when idle). */
	struct {
		struct cert_addr addr;
		uint64_t until;
	} want_sc[SHORTCUT_WANT_MAX];
	struct ovl_upper upper[OVL_UPPER_MAX];
	size_t n_upper;
	uint8_t buf[OVL_LINK_MTU];
};

/* node_route.c */
int nd_route(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
             const struct cert_addr *dst, uint8_t flags, uint8_t hops, uint8_t proto, uint32_t id,
             const struct cert_addr *path, uint8_t n_path, const uint8_t *payload, size_t len);
void nd_handle_route(struct ovl_node *n, uint64_t now, struct ovl_link *from, const uint8_t *msg,
                     size_t len);
/* Sends a routed message whose first hop is the given link (rejoin through a bootstrap). */
int nd_route_via(struct ovl_node *n, struct ovl_link *l, uint64_t now, const struct cert_addr *dst,
                 uint8_t flags, uint8_t proto, const uint8_t *payload, size_t len);
int nd_send_ctm(struct ovl_node *n, uint64_t now, struct ovl_link *via, const struct cert_addr *dst,
                uint8_t flags, enum ovl_link_kind kind);

/* node.c */
/* Remembers that a link to a, if it comes up soon, is a shortcut. */
void nd_want_shortcut(struct ovl_node *n, uint64_t now, const struct cert_addr *a);
size_t nd_candidates(const struct ovl_node *n, struct ovl_endpoint *out, size_t max);
/* The near set: up to cfg.leaf_per_side peers on each side, sorted nearest first. */
size_t nd_near(const struct ovl_node *n, struct ovl_link **out, size_t max);
bool nd_is_near(const struct ovl_node *n, const struct cert_addr *a);
/* Would a node at `a` be one of our leaf_per_side nearest on its side? */
bool nd_fits_leafset(const struct ovl_node *n, const struct cert_addr *a);
void nd_connect(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *ep,
                const struct cert_addr *expect);
void nd_handle_ctm_reply(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
                         struct wire_reader *r);
void nd_handle_neighbours(struct ovl_node *n, uint64_t now, struct wire_reader *r);
/* A peer's distance class: log2 of its ring distance, 0..159 when it is
 * nearer clockwise, 160..319 when counter-clockwise; -1 for ourselves. */
int nd_class(const struct ovl_node *n, const struct cert_addr *a);

#endif
