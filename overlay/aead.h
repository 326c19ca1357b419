// SPDX-License-Identifier: MIT
/*
 * aead — datagram protection for one direction of a link or session:
 * AES-256-GCM or ChaCha20-Poly1305 via OpenSSL EVP, 256-bit key, 96-bit nonce
 * = 32 zero bits || 64-bit big-endian counter. The counter is the sender's
 * datagram number and is never reused under one key (the caller rekeys long
 * before it could wrap). The key schedule for each direction is set up on its
 * first use (a session only seals with one key and opens with the other);
 * after that sealing and opening allocate nothing.
 */
#ifndef GVPN_OVERLAY_AEAD_H
#define GVPN_OVERLAY_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define OVL_AEAD_KEY_LEN 32
#define OVL_AEAD_TAG_LEN 16

enum ovl_aead_alg {
	OVL_AEAD_AES256GCM,
	OVL_AEAD_CHACHA20POLY1305,
	OVL_AEAD_MAX,
};

struct ovl_aead;

const char *ovl_aead_alg_name(enum ovl_aead_alg alg);
/* New; the key is copied (wiped once both directions have their context, or
 * on free); the caller wipes its copy. */
int ovl_aead_new(enum ovl_aead_alg alg, const uint8_t key[OVL_AEAD_KEY_LEN], struct ovl_aead **out);
/* Wipes the key schedule. NULL is fine. */
void ovl_aead_free(struct ovl_aead *a);

/* out receives len + OVL_AEAD_TAG_LEN bytes; out may equal pt. 0 or -EIO. */
int ovl_aead_seal(struct ovl_aead *a, uint64_t counter, const uint8_t *aad, size_t aad_len,
                  const uint8_t *pt, size_t len, uint8_t *out);
/* ct_len includes the tag; out receives ct_len - OVL_AEAD_TAG_LEN bytes; out may equal ct.
 * 0, or -EBADMSG when the tag does not verify (out's contents are then junk). */
int ovl_aead_open(struct ovl_aead *a, uint64_t counter, const uint8_t *aad, size_t aad_len,
                  const uint8_t *ct, size_t ct_len, uint8_t *out);

#endif
