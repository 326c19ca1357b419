// SPDX-License-Identifier: MIT
/*
 * record — one signed DHT value: its wire form, its signature, and the
 * checks every storing node and reader runs on it (docs/dht.md).
 *
 *   u8  version (1)          u8  flags (DHT_REC_TOMBSTONE)
 *   key[20]                  writer[20]   (the writer's overlay address)
 *   u64 seq                  u64 expires  (unix seconds)
 *   u16 vlen, value[vlen]    (vlen <= DHT_VALUE_MAX; 0 for a tombstone)
 *   u16 clen, cert[clen]     (the writer's certificate, as ovl_crypto_cert)
 *   sig[64]                  over DHT_SIG_CONTEXT || bytes from version to
 *                            the end of value
 *
 * A tombstone is a writer's signed "my value for this key is gone": it
 * outranks older seqs of the same writer so a removed value cannot come
 * back from a replica that missed the remove; readers never see it.
 *
 * Must not: allocate, log, read clocks (now comes in).
 */
#ifndef GVPN_DHT_RECORD_H
#define GVPN_DHT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cert.h"
#include "crypto.h"
#include "wire.h"

#define DHT_KEY_LEN       CERT_ADDR_LEN
#define DHT_VALUE_MAX     1024
#define DHT_APPKEY_MAX    255 /* application key bytes (before hashing) */
#define DHT_REC_VERSION   1
#define DHT_REC_TOMBSTONE 0x01
#define DHT_REC_FLAGS     DHT_REC_TOMBSTONE        /* every flag we know */
#define DHT_SIG_CONTEXT   "groupvpn dht record v1" /* signed first, without its NUL */
#define DHT_REC_FIXED     (1 + 1 + 20 + 20 + 8 + 8 + 2 + 2 + OVL_SIG_LEN)
#define DHT_RECORD_MAX    (DHT_REC_FIXED + DHT_VALUE_MAX + OVL_CERT_WIRE_MAX)
#define DHT_SKEW_S        120 /* clock difference tolerated between members (s) */

/* A parsed record. Pointers borrow the buffer it was parsed from. */
struct dht_record {
	struct cert_addr key, writer;
	uint64_t seq;
	uint64_t expires; /* unix seconds */
	uint8_t flags;
	const uint8_t *value;
	uint16_t vlen;
	const uint8_t *cert;
	uint16_t clen;
	const uint8_t *sig; /* OVL_SIG_LEN bytes */
	const uint8_t *raw; /* the whole encoded record ... */
	size_t raw_len;     /* ... and its length */
	size_t signed_len;  /* raw[0, signed_len) is signed (after the context) */
};

/* Key = first 160 bits of SHA-256(namespace || appkey). */
void dht_key_of(const char *ns, const uint8_t *appkey, size_t len, struct cert_addr *out);

/*
 * Encodes and signs a record written by us (crypto's identity is the writer).
 * 0, -EINVAL (value too long, tombstone with a value, unknown flags),
 * -EMSGSIZE (cap too small), -EIO (signing failed).
 */
int dht_record_build(struct ovl_crypto *c, const struct cert_addr *key, uint64_t seq,
                     uint64_t expires, uint8_t flags, const uint8_t *value, size_t vlen,
                     uint8_t *out, size_t cap, size_t *out_len);

/*
 * Reads one record from r: structure only (version, known flags, lengths,
 * tombstones without a value). Leaves r after the record. 0 or -EINVAL
 * (r's error flag is then set too).
 */
int dht_record_parse(struct wire_reader *r, struct dht_record *out);

/*
 * Everything a storing node or reader checks: not expired at now, expires
 * no later than now + ttl_max + DHT_SKEW_S, the certificate is a valid
 * member's (ovl_crypto_verify), writer is that certificate's address, and
 * the signature holds. 0 or -EINVAL / -EPERM / -EBADMSG / -ETIME (expired)
 * / -ERANGE (expires too late), with one line in why. signer may be NULL.
 */
int dht_record_verify(struct ovl_crypto *c, time_t now, uint32_t ttl_max,
                      const struct dht_record *rec, struct cert_info *signer, char *why,
                      size_t why_len);

#endif
