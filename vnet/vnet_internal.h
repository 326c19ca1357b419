// SPDX-License-Identifier: MIT
/* vnet — private structures of vnet/vnet*.c: the engine (vnet.c) and our
 * address's lease (vnet_addr.c). See vnet.h and docs/vnet.md. */
#ifndef GVPN_VNET_VNET_INTERNAL_H
#define GVPN_VNET_VNET_INTERNAL_H

#include "alloc.h"
#include "ip.h"
#include "vnet.h"

/* A tunnelled packet goes as one direct message (NM_DIRECT, proto, VM_IP,
 * the packet), also over a relayed link. */
_Static_assert(2 + 1 + VNET_MTU_MAX <= OVL_RELAYED_MTU, "a full packet fits a relayed link");

enum {
	VM_IP = 1,       /* an IP packet */
	VM_NOT_MINE = 2, /* u32 ip: I do not hold this address (your cache is stale) */
};

#define PEERS_MAX      1024
#define ENTRIES_MAX    1024
#define WAITERS_MAX    16
#define HOUSEKEEP_MS   1000
#define REVERIFY_MS    5000 /* a mismatching source older than this is looked up again */
#define PEER_FORGET_MS 600000
#define RETRY_MIN_MS   1000
#define RETRY_MAX_MS   30000
#define SC_BACKOFF_MIN 2000
#define SC_BACKOFF_MAX 60000
#define NIL            UINT32_MAX
#define CLAIMS_MAX     16 /* values a get can return (the store's writers per key) */

/* A queue of pool slots (packets waiting for a lookup or a session). */
struct vqueue {
	uint32_t head, tail, len;
};

struct vpeer {
	bool used;
	uint32_t gen; /* bumps when the slot is reused: stale endpoints stop matching */
	struct cert_addr addr;
	char name[CERT_NAME_MAX + 1];
	uint32_t ip; /* its address as resolved or verified, 0 if unknown */
	struct ovl_link *sess;
	bool connecting;
	struct vqueue q; /* packets waiting for the session */
	uint64_t last_active, not_mine_at;
	uint64_t first_tx; /* when we first sent it a packet (0: never) */
	uint64_t tx, rx;
	uint64_t sc_next;
	uint32_t sc_backoff;
	uint64_t win_start;
	uint32_t win_count;
};

enum entry_state { E_FREE, E_RESOLVING, E_OK, E_NONE };

/* The cache: destination address -> member. */
struct ventry {
	enum entry_state state;
	uint32_t ip;
	struct cert_addr addr;
	char name[CERT_NAME_MAX + 1];
	uint64_t expires, resolved_at;
	uint32_t req;
	struct vqueue q; /* packets waiting for the answer: to send, or to verify */
};

struct slot {
	uint32_t next;
	uint16_t len;
	bool inbound;          /* received, waiting for its source to be verified */
	struct cert_addr from; /* inbound: who sent it */
};

enum alloc_state { A_WAIT, A_TRYING, A_HELD, A_RETRY };

struct waiter {
	uint32_t ip;
	vnet_resolve_fn fn;
	void *ctx;
};

struct vnet {
	struct vnet_config cfg;
	struct vnet_cb cb;
	struct ovl_node *node;
	struct dht *dht;
	struct ovl_links *sess;
	uint64_t now;
	const char *ns;
	/* address */
	enum alloc_state astate;
	uint32_t ip, cand;
	uint64_t since;
	bool fixed;
	struct vnet_alloc_seq seq;
	bool tried_last;
	uint32_t areq, creq;
	bool areq_busy, creq_busy;
	uint64_t running_since, alloc_at, check_at;
	uint32_t retry_ms;
	/* tables */
	struct vpeer *peers;
	struct ventry *entries;
	struct ventry *mru;
	struct vpeer *peer_mru;
	struct slot *slots;
	uint8_t *pool; /* queue_total * VNET_MTU_MAX */
	uint32_t free_head;
	struct waiter waiters[WAITERS_MAX];
	uint64_t housekeep_at;
	struct vnet_stats st;
	uint8_t buf[1 + VNET_MTU_MAX];
	uint8_t icmp[VNET_ICMP4_MAX];
};

/* vnet_addr.c */
void vn_alloc_tick(struct vnet *v);
/* The claim that keeps ip among a get's values (alloc.h's rule); false if
 * none is valid. */
bool vn_pick_holder(uint32_t ip, const struct dht_result *res, size_t *winner);
void vn_ip_str(uint32_t ip, char out[16]);

#endif
