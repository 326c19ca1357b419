// SPDX-License-Identifier: MIT
/*
 * addr — arithmetic on the 2^160 ring of overlay addresses.
 *
 * The address type is struct cert_addr (certs/cert.h): certificates define
 * addresses, the overlay only measures them. Big-endian, 20 bytes. Pure
 * functions, no allocation.
 */
#ifndef GVPN_OVERLAY_ADDR_H
#define GVPN_OVERLAY_ADDR_H

#include "cert.h"

#define OVL_ADDR_BITS (8 * CERT_ADDR_LEN)

int ovl_addr_cmp(const struct cert_addr *a, const struct cert_addr *b);
bool ovl_addr_eq(const struct cert_addr *a, const struct cert_addr *b);
/* out = (to - from) mod 2^160: how far clockwise from `from` to `to`. */
void ovl_addr_cw(const struct cert_addr *from, const struct cert_addr *to, struct cert_addr *out);
/* out = min(cw(a, b), cw(b, a)): the ring distance. */
void ovl_addr_dist(const struct cert_addr *a, const struct cert_addr *b, struct cert_addr *out);
/*
 * Which of x, y is closer to target on the ring: < 0 x, > 0 y, 0 only if
 * x == y. Equal distances (x and y on opposite sides) break towards the one
 * clockwise of target, so every node agrees on one "closest".
 */
int ovl_addr_closer(const struct cert_addr *target, const struct cert_addr *x,
                    const struct cert_addr *y);
/* Index of the highest set bit, 0..159, or -1 for zero. */
int ovl_addr_log2(const struct cert_addr *d);
/* out = a + b mod 2^160. */
void ovl_addr_add(const struct cert_addr *a, const struct cert_addr *b, struct cert_addr *out);
/* out = a + 2^k mod 2^160, k in 0..159. */
void ovl_addr_add_pow2(const struct cert_addr *a, int k, struct cert_addr *out);
/* x lies strictly inside the clockwise arc from a to b. */
bool ovl_addr_in_cw_arc(const struct cert_addr *a, const struct cert_addr *x,
                        const struct cert_addr *b);
/* For log lines: the first n-1 hex digits + NUL in out[n]. */
void ovl_addr_short(const struct cert_addr *a, char *out, size_t n);

#endif
