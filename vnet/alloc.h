// SPDX-License-Identifier: MIT
/*
 * alloc — DHT-DHCP's pure parts (DESIGN §6, docs/vnet.md): the
 * deterministic sequence of candidate addresses a node tries, the lease
 * value stored under `ip/<addr>`, and the rule that decides who keeps an
 * address two members claim (after a partition heals).
 *
 * Must not: allocate, log, do I/O. The engine (vnet.c) drives the DHT.
 */
#ifndef GVPN_VNET_ALLOC_H
#define GVPN_VNET_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"

/* "ip/" + dotted quad: the application key of an address's lease. */
#define VNET_IP_APPKEY_MAX (3 + 15 + 1)

/* Writes "ip/a.b.c.d" (NUL-terminated); returns its length. */
size_t vnet_ip_appkey(uint32_t ip, char out[VNET_IP_APPKEY_MAX]);

/*
 * Candidates: every host address of net (network and broadcast skipped)
 * exactly once, in an order that depends only on (net, seed): a full-cycle
 * walk start + i * step (mod hosts) with start and step derived from
 * SHA-256(seed), step coprime to the number of hosts. Two nodes with
 * different seeds start at different places, so they rarely collide.
 */
struct vnet_alloc_seq {
	uint32_t base;  /* first host address (network + 1), host order */
	uint32_t hosts; /* number of host addresses */
	uint32_t start, step;
	uint32_t i; /* candidates handed out so far */
};
void vnet_alloc_seq_init(struct vnet_alloc_seq *s, const struct cert_network *net,
                         const struct cert_addr *seed);
/* The next candidate (host order); false once all hosts were handed out. */
bool vnet_alloc_seq_next(struct vnet_alloc_seq *s, uint32_t *ip);

/*
 * The lease value (what `ip/<addr>` holds, signed by the holder as every
 * DHT record is):
 *   u8 version (1)   u8 flags (VNET_LEASE_FIXED)   u64 since (unix seconds)
 * since: when the holder first took the address (kept across renewals and
 * restarts). FIXED: the holder's certificate names this address; it is only
 * believed when the record's writer certificate really does (the caller
 * checks that and passes it as vnet_claim.fixed).
 */
#define VNET_LEASE_VERSION 1
#define VNET_LEASE_FIXED   0x01
#define VNET_LEASE_LEN     10
struct vnet_lease {
	uint8_t flags;
	uint64_t since;
};
void vnet_lease_encode(const struct vnet_lease *l, uint8_t out[VNET_LEASE_LEN]);
/* Exactly VNET_LEASE_LEN bytes, version 1, known flags only. 0 or -EINVAL. */
int vnet_lease_parse(const uint8_t *p, size_t len, struct vnet_lease *out);

/* One member's claim on an address, as a reader sees it. */
struct vnet_claim {
	struct cert_addr writer;
	bool fixed;     /* the writer's certificate fixes this address (checked) */
	uint64_t since; /* from the lease value */
};
/*
 * Who keeps the address: a certificate-fixed claim first; then the earliest
 * `since`; then the smaller overlay address (memcmp of the 20 bytes). Negative: a
 * wins, positive: b wins, 0 only for the same writer. Every member applies
 * the same rule to the same records, so all agree.
 */
int vnet_claim_cmp(const struct vnet_claim *a, const struct vnet_claim *b);
/* Index of the winner among n >= 1 claims. */
size_t vnet_claim_winner(const struct vnet_claim *c, size_t n);

#endif
