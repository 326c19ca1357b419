// SPDX-License-Identifier: MIT
/*
 * vnet — the virtual network on the overlay (DESIGN §6, docs/vnet.md): our
 * virtual IPv4 address (fixed by the certificate, or leased through the DHT
 * with create on ip/<addr>), resolution of destinations to overlay
 * addresses (DHT get, cached, packets queued meanwhile), and tunnelling:
 * over a direct link when there is one (protected once, by the link), else
 * inside an end-to-end session routed over the overlay (relays see only
 * ciphertext), while a shortcut link is being set up.
 *
 * A sans-I/O engine attached to an overlay node (which owns it) next to the
 * DHT. The TUN device is behind cb.tun_write and vnet_tun_input; address
 * changes come out through cb.address for the caller to apply.
 *
 * Must not: do I/O, read clocks, allocate per packet, log anything a peer
 * controls without a rate limit, or deliver a packet whose source address
 * is not its sender's.
 */
#ifndef GVPN_VNET_VNET_H
#define GVPN_VNET_VNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cert.h"
#include "dht.h"
#include "link.h"
#include "node.h"

#define VNET_PROTO (OVL_PROTO_USER + 2) /* routed and direct protocol number */
/* Largest IP packet: what a routed end-to-end session message holds
 * (OVL_ROUTE_MTU - session header 16 - tag 16 - inner 1 - our type 1). */
#define VNET_MTU_MAX     1334
#define VNET_MTU_MIN     576
#define VNET_LEASE_TTL_S 300 /* lease records live this long; renewed at half-life */

enum vnet_shortcuts {
	VNET_SC_ALWAYS,    /* the first packet to a peer asks for a direct link */
	VNET_SC_THRESHOLD, /* ... once traffic to it passes threshold_pps */
	VNET_SC_NEVER,     /* direct only where the ring links us anyway */
	VNET_SC_MAX,
};
/* "always", "threshold:<packets/s>" (1..1000000), "never". 0 or -EINVAL. */
int vnet_shortcuts_parse(const char *s, enum vnet_shortcuts *out, uint32_t *threshold_pps);

struct vnet_config {
	struct cert_network net; /* the group's virtual network */
	uint32_t fixed_ip;       /* our certificate's fixed address (host order), or 0 */
	uint32_t last_ip;        /* the address we held last time (state dir), or 0 */
	uint64_t last_since;     /* ... held since (unix seconds), or 0 */
	unsigned mtu;            /* of the TUN device: VNET_MTU_MIN..VNET_MTU_MAX */
	enum vnet_shortcuts shortcuts;
	uint32_t threshold_pps;
	uint32_t lease_ttl_s;         /* VNET_LEASE_TTL_S */
	uint32_t alloc_delay_ms;      /* after the node is running, wait this long (1000) */
	uint32_t conflict_check_ms;   /* our own lease is looked at this often (30000) */
	uint32_t negative_ms;         /* "nobody holds it" is cached this long (3000) */
	uint32_t shortcut_idle_ms;    /* a shortcut without traffic closes (60000) */
	uint32_t session_idle_ms;     /* an end-to-end session without traffic closes (120000) */
	unsigned queue_per_dst;       /* packets waiting for one destination (64) */
	unsigned queue_total;         /* ... for all of them (512) */
	struct ovl_links_config sess; /* end-to-end sessions' timers; .crypto set from the node */
};
void vnet_config_default(struct vnet_config *cfg);

struct vnet_cb {
	void *ctx;
	/* One IP packet for the TUN device. */
	void (*tun_write)(void *ctx, const uint8_t *pkt, size_t len);
	/* Our address changed: ip (host order) with the network's prefix; ip 0:
	 * we have none (lost it). since: the lease's start, to keep for next time. */
	void (*address)(void *ctx, uint32_t ip, uint8_t prefix, uint64_t since);
	time_t (*wall)(void *ctx);
	void (*random)(void *ctx, void *buf, size_t len);
};

struct vnet;

/* New engine on node, using dht (same node) for leases and lookups; the
 * node owns it. 0, -EINVAL, -ENOMEM, -EEXIST (the node has a vnet). */
int vnet_new(struct ovl_node *node, struct dht *dht, const struct vnet_config *cfg,
             const struct vnet_cb *cb, struct vnet **out);
/* One packet read from the TUN device. Never fails: what cannot go is
 * dropped (counted), answered with ICMP where a router would. */
void vnet_tun_input(struct vnet *v, uint64_t now, const uint8_t *pkt, size_t len);
/* Releases our lease (a tombstone) so another member may take the address. */
void vnet_release(struct vnet *v, uint64_t now);

/* Our address (host order), 0 while we have none. */
uint32_t vnet_ip(const struct vnet *v);
const struct vnet_config *vnet_config(const struct vnet *v);

/* Resolves ip through the cache or the DHT; done(ctx, ip, addr, name, err)
 * runs once: addr NULL and err set when nobody holds it or the lookup failed.
 * 0, -EINVAL (not in our network), -ENOBUFS. */
typedef void (*vnet_resolve_fn)(void *ctx, uint32_t ip, const struct cert_addr *addr,
                                const char *name, const char *err);
int vnet_resolve(struct vnet *v, uint64_t now, uint32_t ip, vnet_resolve_fn done, void *ctx);
/* Forgets a pending resolve's callback (its ctx is going away). */
void vnet_resolve_cancel(struct vnet *v, void *ctx);

struct vnet_stats {
	uint64_t tun_in, tun_out;       /* packets from / to the TUN device */
	uint64_t tx_direct, tx_session; /* packets sent over a direct link / a session */
	uint64_t rx_direct, rx_session;
	uint64_t rx_spoofed;  /* source address not the sender's: dropped */
	uint64_t rx_not_mine; /* destination not our address: dropped (sender told) */
	uint64_t rx_bad;      /* malformed or oversized */
	uint64_t icmp_sent;   /* ICMP errors written to the TUN device */
	uint64_t queue_drops; /* queue full, or the lookup failed */
	uint64_t dropped;     /* anything else dropped (no address yet, IPv6, ...) */
	uint64_t lookups, shortcuts_asked, sessions_up, conflicts_lost;
};
void vnet_stats(const struct vnet *v, struct vnet_stats *out);

/* A member we exchange packets with (status). */
struct vnet_peer_info {
	uint32_t ip; /* its address as we know it, 0 if not resolved */
	struct cert_addr addr;
	char name[CERT_NAME_MAX + 1];
	bool direct;  /* a link to it is up ... */
	bool relayed; /* ... through a relay */
	bool session; /* an end-to-end session to it is up */
	uint64_t tx_packets, rx_packets;
	/* ms from our first packet to it until a direct path to it was up (a
	 * link that came up direct, or a relayed one that moved to a direct
	 * path); -1 if there is none, or there was one before the first packet. */
	int64_t direct_after_ms;
};
/* Fills up to max; returns how many peers there are. */
size_t vnet_peers(const struct vnet *v, struct vnet_peer_info *out, size_t max);
/* The address we know for a linked peer (status), 0 if none. */
uint32_t vnet_ip_of(const struct vnet *v, const struct cert_addr *addr);

#endif
