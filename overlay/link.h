// SPDX-License-Identifier: MIT
/*
 * link — authenticated, encrypted links between overlay neighbours over one
 * UDP socket, as a sans-I/O engine.
 *
 * The engine is fed datagrams (ovl_links_input) and the passing of time
 * (ovl_links_tick, which returns when it wants to be called next); it emits
 * datagrams and events through struct ovl_links_cb. It never touches a
 * socket, a clock or a timer itself, so the runtime (libevent) and the
 * simulator drive the very same code. Wire format and state machines:
 * docs/links.md.
 *
 * A link is identified by the peer's overlay address: there is at most one
 * per peer. Handshakes that complete with a peer we already have a link to
 * (rekey, restart, simultaneous connect) give that link a new session.
 *
 * Lifetimes: struct ovl_link pointers handed out stay valid until the `down`
 * callback for that link has returned; the engine frees the link afterwards,
 * never inside a callback frame.
 */
#ifndef GVPN_OVERLAY_LINK_H
#define GVPN_OVERLAY_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cert.h"
#include "crypto.h"
#include "endpoint.h"

/* Largest payload ovl_link_send takes: fits a 1500-byte path MTU with every
 * header (IPv6 40 + UDP 8 + ours 16 + tag 16 + inner 1 = 81). Only tunnelled
 * packets (vnet) come near it; the overlay's and the DHT's own messages stay
 * within a 1280-byte path (docs/links.md "Sizes"). */
#define OVL_LINK_MTU      1419
#define OVL_DATAGRAM_MAX  1452 /* nothing larger is ever sent or accepted */
#define OVL_LINK_OVERHEAD 33   /* a message's datagram is this much larger (header, type, tag) */

struct ovl_links_config {
	struct ovl_crypto *crypto; /* borrowed; outlives the engine */
	uint32_t keepalive_ms;     /* ping interval on an idle link (default 10000) */
	uint32_t dead_ms;          /* nothing heard for this long: link down (30000) */
	uint32_t rekey_ms;         /* new session keys after this long (120000) */
	uint64_t rekey_packets;    /* ... or after this many sent (2^40) */
	uint32_t hs_timeout_ms;    /* a handshake that takes longer fails (10000) */
	uint32_t hs_rto_ms;        /* first retransmission timeout (300, doubling to 3000) */
	uint32_t max_links;        /* links + handshakes in all (1024) */
	uint32_t max_half_open;    /* responder handshakes before cookies are required (64) */
	/* What the engine's links are called in the log: "link" (default), or
	 * "session" for vnet's end-to-end sessions, whose endpoints are made up
	 * (peers are then named by overlay address). */
	const char *log_kind;
};
/* Fills in the defaults above. */
void ovl_links_config_default(struct ovl_links_config *cfg);

struct ovl_link;

struct ovl_links_cb {
	void *ctx;
	/* Send one datagram. */
	void (*send)(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len);
	/* Fill buf with unpredictable bytes. */
	void (*random)(void *ctx, void *buf, size_t len);
	/* Wall-clock seconds, for certificate dates. */
	time_t (*wall)(void *ctx);
	/* A link is up: the peer proved its membership and holds the keys. */
	void (*up)(void *ctx, struct ovl_link *l);
	/* A link is gone (timeout, closed by either side, replaced). After this
	 * returns, l is invalid. */
	void (*down)(void *ctx, struct ovl_link *l, const char *reason);
	/* A connection attempt started with ovl_links_connect failed before any
	 * link came up. expect is NULL if the caller gave none. */
	void (*failed)(void *ctx, const struct ovl_endpoint *ep, const struct cert_addr *expect,
	               const char *reason);
	/* A message from the peer (what it passed to ovl_link_send). */
	void (*recv)(void *ctx, struct ovl_link *l, const uint8_t *msg, size_t len);
};

enum ovl_link_state {
	OVL_LINK_UP,
	OVL_LINK_CLOSING, /* down callback pending or running */
	OVL_LINK_STATE_MAX,
};

struct ovl_links;

/* New engine; *cb is copied. 0, -EINVAL (bad config), -ENOMEM. */
int ovl_links_new(const struct ovl_links_config *cfg, const struct ovl_links_cb *cb,
                  struct ovl_links **out);
/* Frees every link and handshake without callbacks or datagrams. */
void ovl_links_free(struct ovl_links *ls);

/*
 * Starts a handshake with whatever node answers at ep. expect (may be NULL)
 * is the overlay address we want there: a different member answering is
 * refused. If a link to expect is already up, nothing happens (0).
 * 0, -EBUSY (an attempt to ep is already running), -ENOSPC (too many).
 */
int ovl_links_connect(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *ep,
                      const struct cert_addr *expect);

/* One datagram from the network. Never fails: bad input is dropped (and
 * counted). */
void ovl_links_input(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                     const uint8_t *buf, size_t len);

/* Runs what is due at now; returns the next time it must run (UINT64_MAX: none). */
uint64_t ovl_links_tick(struct ovl_links *ls, uint64_t now);

/* Sends msg (1..OVL_LINK_MTU bytes) over an up link. 0, -EINVAL, -EMSGSIZE, -ENOTCONN. */
int ovl_link_send(struct ovl_links *ls, struct ovl_link *l, uint64_t now, const uint8_t *msg,
                  size_t len);

/*
 * Path probing (ICE-style connectivity checks on an existing link): sends an
 * authenticated PROBE on the link's current session to `to`, an endpoint the
 * peer might be reachable at (a candidate from its connect-to-me). The peer
 * answers from where it got it; the first answer, within a few seconds of the
 * last probe, moves the link to the endpoint it came from: the path works
 * both ways. Probes of one round share an id. 0, -EINVAL (to is not an IP
 * endpoint), -ENOTCONN.
 */
int ovl_link_probe(struct ovl_links *ls, struct ovl_link *l, uint64_t now,
                   const struct ovl_endpoint *to);
/* A new session for l whose handshake runs at ep (another relay slot of the
 * caller's, or an IP endpoint): a rekey over a new path. When it completes,
 * the link sends there. 0, -EINVAL, -ENOTCONN, -EBUSY (a rekey is running). */
int ovl_link_repath(struct ovl_links *ls, struct ovl_link *l, uint64_t now,
                    const struct ovl_endpoint *ep);
/* Every link pings at once, whoever's turn it is: our address changed, and
 * peers find us at the new one within a round trip (roaming). */
void ovl_links_kick(struct ovl_links *ls, uint64_t now);

/* Tells the peer and takes the link down (the down callback runs with reason). */
void ovl_link_close(struct ovl_links *ls, struct ovl_link *l, uint64_t now, const char *reason);

/* The up link to peer, or NULL. Borrowed. */
struct ovl_link *ovl_links_find(struct ovl_links *ls, const struct cert_addr *peer);
/* Iteration over up links: i in [0, count). Borrowed; the order changes when links do. */
size_t ovl_links_count(const struct ovl_links *ls);
struct ovl_link *ovl_links_at(struct ovl_links *ls, size_t i);
/* The links' peer addresses, in the same order: entry i is ovl_links_at(i)'s.
 * One contiguous array, for walks that only compare addresses (routing). */
const struct cert_addr *ovl_links_addrs(const struct ovl_links *ls);
/* Handshakes in progress (both roles). */
size_t ovl_links_pending(const struct ovl_links *ls);

/* Per-link facts. */
const struct cert_info *ovl_link_peer(const struct ovl_link *l);
const struct ovl_endpoint *ovl_link_endpoint(const struct ovl_link *l);
/* Our own endpoint as the peer sees it (family 0 until it told us): STUN. */
const struct ovl_endpoint *ovl_link_observed(const struct ovl_link *l);
/* When the peer first told us that endpoint (about when our NAT made the mapping). */
uint64_t ovl_link_observed_since(const struct ovl_link *l);
/* Smoothed round-trip time in ms from pings; 0 until measured. */
uint32_t ovl_link_rtt_ms(const struct ovl_link *l);
enum ovl_link_state ovl_link_state(const struct ovl_link *l);
/* True if we started the link's current session. */
bool ovl_link_initiator(const struct ovl_link *l);
/* An upper layer's pointer, NULL initially. */
void ovl_link_set_user(struct ovl_link *l, void *user);
void *ovl_link_user(const struct ovl_link *l);

/* Counters, for tests and status. */
struct ovl_links_stats {
	uint64_t rx_datagrams, rx_dropped, tx_datagrams;
	uint64_t hs_started, hs_completed, hs_failed, hs_refused_member, cookies_sent;
	uint64_t replays, rekeys, roams;
	uint64_t close_repeats; /* CLOSE sent again to a peer still using a closed link */
	uint64_t probes_sent, probe_moves; /* path probes, and links an answer moved */
	uint64_t observed_moves; /* a peer saw us at a new endpoint: our NAT mapped us anew */
};
void ovl_links_stats(const struct ovl_links *ls, struct ovl_links_stats *out);
/* stats.observed_moves alone, cheaply (the node looks at it on every tick). */
uint64_t ovl_links_observed_moves(const struct ovl_links *ls);

#endif
