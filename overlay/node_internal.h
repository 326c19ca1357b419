// SPDX-License-Identifier: MIT
/* node — private structures and message constants of overlay/node*.c. See docs/overlay.md. */
#ifndef GVPN_OVERLAY_NODE_INTERNAL_H
#define GVPN_OVERLAY_NODE_INTERNAL_H

#include "nat.h"
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
	NM_RELAY = 6,  /* dst addr, datagram: relay this link datagram to dst, one of your links */
	NM_RELAYED = 7,   /* src addr, datagram: a link datagram src asked us to relay to you */
	NM_RELAY_ERR = 8, /* dst addr: I have no link to dst (any more) */
	NM_PUNCH = 9,     /* u8 flags (1: answer), u8 n, endpoint[n], offers: probe my candidates */
};

/* Routed protocols below OVL_PROTO_USER. */
enum {
	RP_TRACE = 1,     /* probe; the node where it ends answers RP_TRACE_REP */
	RP_TRACE_REP = 2, /* u8 n, addr[n], reached addr */
	RP_CTM = 3,       /* connect to me: u8 kind, u8 n, endpoint[n] */
	RP_CTM_REP = 4,   /* u8 kind, u8 n, endpoint[n], u8 m, {addr, endpoint}[m] */
	RP_ERROR = 5,     /* u32 id, u8 code, dst addr */
	RP_PUNCH = 6,     /* u8 flags, u8 n, endpoint[n]: we moved; probe these (as NM_PUNCH) */
	RP_VIA = 7, /* final addr, u8 proto (RP_CTM_REP), payload: pass it to final, your link */
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
#define RELAY_HDR         (1 + CERT_ADDR_LEN)
#define RELAY_DGRAM_MAX   (OVL_LINK_MTU - RELAY_HDR) /* a relayed datagram, at most */
#define RELAY_SLOTS       64    /* (relay, peer) pairs we send relayed datagrams through */
#define RELAY_HOLD_MS     60000 /* a link that relayed is kept out of trimming this long */
#define RELAY_ERR_MS      1000  /* NM_RELAY_ERR to one link at most this often */
#define PUNCH_MAX         32    /* peers with a hole-punching attempt in progress */
#define PUNCH_PROBES      3     /* probes to each candidate in a probe round */
_Static_assert(OVL_RELAYED_MTU + OVL_LINK_OVERHEAD == RELAY_DGRAM_MAX, "relayed sizes agree");

/* A relay slot: the made-up endpoint {OVL_EP_RELAY, port = index} of a link
 * (or handshake) whose datagrams go through `relay` to `peer`. */
struct rslot {
	bool used;
	struct cert_addr relay, peer;
	uint64_t last; /* last datagram either way */
};

/* A hole-punching attempt with one peer (docs/nat.md has the diagram). */
enum punch_state {
	PS_FREE,
	PS_ASKED,      /* we sent a CTM; waiting for the reply with its candidates */
	PS_PUNCHING,   /* both sides send handshakes to each other's candidates */
	PS_RELAY_LINK, /* no common member to relay: linking to one of the peer's */
	PS_RELAYING,   /* a relayed handshake runs, or the relayed link is up */
	PS_PROBING,    /* the relayed link probes the peer's candidates for a direct path */
	PS_RESTING,    /* gave up; no new attempt before the deadline */
	PS_MAX,
};

struct punch {
	enum punch_state state;
	struct cert_addr peer;
	enum ovl_link_kind kind;
	struct ovl_endpoint cand[OVL_CANDIDATES_MAX];
	size_t n_cand;
	struct ovl_relay_offer offers[OVL_RELAY_OFFERS_MAX];
	size_t n_offers;
	uint32_t skip;     /* offers that failed as relays */
	int relay;         /* the offer we relay through (-1: none yet) */
	uint64_t started;  /* when the attempt began */
	uint64_t deadline; /* the state's timeout */
	uint64_t probe_at; /* PS_PROBING: the next probe; PS_RELAYING: the next probe round */
	uint32_t retry_ms; /* the probe rounds' backoff */
	uint8_t probes;    /* probes sent this round */
	struct ovl_endpoint ep_before; /* PS_PROBING: the link's endpoint when the round began */
};

/* What the node keeps per link (ovl_link_user). */
struct nlink {
	struct ovl_link *link;
	enum ovl_link_kind tag; /* LEAF (bootstrap), SHORTCUT, or FAR = no special role */
	uint64_t since;
	uint64_t direct_since; /* when it last went onto a direct path (0: relayed) */
	uint64_t relay_until;  /* relayed for us or for others lately: not trimmed before */
	uint64_t relay_err_at; /* last NM_RELAY_ERR sent over it */
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
	struct rslot *slot;  /* RELAY_SLOTS, made on first use (NULL: none yet) */
	struct punch *punch; /* PUNCH_MAX, made on first use: most nodes of a ring never punch */
	uint64_t punch_due;  /* the earliest punch deadline (UINT64_MAX: none) */
	uint64_t observed_moves; /* the link engine's count when we last told our peers */
	uint64_t moved_told;     /* when we last did */
	struct ovl_node_stats st;
	uint8_t buf[OVL_LINK_MTU];
	uint8_t rbuf[OVL_LINK_MTU]; /* relay messages: built while buf may be in use */
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
/* The link nearest to dst other than our link to dst itself (NULL: none). */
struct ovl_link *nd_first_hop_avoiding(struct ovl_node *n, const struct cert_addr *dst);

/* node_relay.c */
/* Sends a datagram the link engine addressed to a relay slot. */
void nd_relay_send(struct ovl_node *n, uint64_t now, const struct ovl_endpoint *to,
                   const uint8_t *buf, size_t len);
/* NM_RELAY, NM_RELAYED, NM_RELAY_ERR over link l. */
void nd_relay_handle(struct ovl_node *n, uint64_t now, struct ovl_link *l, const uint8_t *msg,
                     size_t len);
bool nd_is_relayed(const struct ovl_link *l);
/* The link to the member relaying l, or NULL (l direct, or the relay gone). */
struct ovl_link *nd_relay_link(const struct ovl_node *n, const struct ovl_link *l);
/* Starts a handshake with peer through our link to relay; with `l` (our
 * relayed link to peer), a rekey of it through that relay instead. 0 or -errno. */
int nd_relay_connect(struct ovl_node *n, uint64_t now, const struct cert_addr *relay,
                     const struct cert_addr *peer, struct ovl_link *l);
/* Link events as they concern relaying; up returns false if it closed l. */
bool nd_relay_up(struct ovl_node *n, struct ovl_link *l);
void nd_relay_down(struct ovl_node *n, struct ovl_link *l);

/* node_punch.c */
/* Our direct links as relay offers, the lowest RTT first, `peer` left out. */
size_t nd_offers(const struct ovl_node *n, const struct cert_addr *peer,
                 struct ovl_relay_offer *out, size_t max);
void nd_put_offers(struct wire_writer *w, const struct ovl_relay_offer *o, size_t n_o);
/* Reads u8 m, m offers; false (and the reader's error) if malformed. */
bool nd_get_offers(struct wire_reader *r, struct ovl_relay_offer *out, size_t *n_out);
/* A CTM or its reply brought peer's candidates and offers: link to it,
 * directly if the NATs let us, else through a relay. */
void nd_punch_begin(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                    enum ovl_link_kind kind, const struct ovl_endpoint *cand, size_t n_cand,
                    const struct ovl_relay_offer *offers, size_t n_offers);
/* We want a link to peer and only know an address: ask it with a CTM. */
void nd_punch_ask(struct ovl_node *n, uint64_t now, const struct cert_addr *peer,
                  enum ovl_link_kind kind);
bool nd_punch_busy(const struct ovl_node *n, const struct cert_addr *peer);
void nd_punch_up(struct ovl_node *n, struct ovl_link *l);
void nd_punch_down(struct ovl_node *n, struct ovl_link *l);
void nd_punch_failed(struct ovl_node *n, const struct ovl_endpoint *ep,
                     const struct cert_addr *expect);
void nd_punch_handle(struct ovl_node *n, uint64_t now, struct ovl_link *l, const uint8_t *msg,
                     size_t len);
/* RP_PUNCH from src, routed (payload without the type byte). */
void nd_punch_routed(struct ovl_node *n, uint64_t now, const struct cert_addr *src,
                     const uint8_t *payload, size_t len);
/* Our address changed (an interface, or the NAT's mapping): every peer on a
 * direct link learns the new candidates by a routed RP_PUNCH, which does not
 * take the link to it (it may not work any more), and probes them: behind
 * its own NAT, only its probe opens the way back to us. */
void nd_punch_moved(struct ovl_node *n, uint64_t now);
/* Runs what is due; returns the next deadline (UINT64_MAX: none). */
uint64_t nd_punch_tick(struct ovl_node *n, uint64_t now);
/* A peer sees us at a new endpoint (our NAT mapped us anew): nd_punch_moved. */
void nd_check_observed(struct ovl_node *n, uint64_t now);

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
