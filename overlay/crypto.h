// SPDX-License-Identifier: MIT
/*
 * crypto — the link handshake behind one interface, so the simulator can
 * swap the expensive part for a cheap stand-in (DESIGN §1) while everything
 * around it runs unchanged.
 *
 *   ovl_crypto_tls_new: TLS 1.3 via OpenSSL over memory BIOs; mutual X.509
 *     authentication with cert_verify() (group CA, CRL, namespace, dates);
 *     keys from SSL_export_keying_material. The real thing.
 *   ovl_crypto_sim_new: no cryptography: each side states its identity in
 *     clear, padded to the sizes TLS would use. For groupvpn-sim only.
 *
 * A handshake is a byte stream each way (like TLS records over TCP); the
 * link layer carries, acknowledges and retransmits it. Must not: do I/O,
 * read clocks (time comes in as an argument), or log.
 */
#ifndef GVPN_OVERLAY_CRYPTO_H
#define GVPN_OVERLAY_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "aead.h"
#include "cert.h"

#define OVL_HS_KEYS_LEN   (2 * OVL_AEAD_KEY_LEN)
#define OVL_HS_REASON_MAX 160
/* Bytes of handshake stream one side may send in all: a bound on what a
 * peer can make us buffer. TLS flights with Ed25519 certificates are < 1 KiB. */
#define OVL_HS_STREAM_MAX 16384

enum ovl_hs_status {
	OVL_HS_CONTINUE,
	OVL_HS_DONE,
	OVL_HS_FAILED,
};

struct ovl_hs_result {
	struct cert_info peer; /* verified identity; peer.addr is its overlay address */
	/* [0, 32): initiator → responder key; [32, 64): responder → initiator */
	uint8_t keys[OVL_HS_KEYS_LEN];
	enum ovl_aead_alg alg;
};

struct ovl_crypto;
struct ovl_hs;

/* New; borrows nothing from the bundle after it returns. */
int ovl_crypto_tls_new(const struct cert_bundle *b, struct ovl_crypto **out, char *err,
                       size_t errlen);
/* New sim stand-in: claims identity `self` (name, namespace, addr); trusts any
 * peer in the same namespace. */
int ovl_crypto_sim_new(const struct cert_info *self, struct ovl_crypto **out);
void ovl_crypto_free(struct ovl_crypto *c);
/* Our own identity. Borrowed. */
const struct cert_info *ovl_crypto_self(const struct ovl_crypto *c);
/*
 * Replaces the CRL used for new handshakes if crl_pem is newer and signed
 * by the group CA (cert_trust_update_crl). 0, -EALREADY, -EINVAL.
 */
int ovl_crypto_update_crl(struct ovl_crypto *c, const char *crl_pem, size_t len);
/* Does the current CRL list this certificate serial (cert_info.serial)?
 * For dropping links and sessions of members revoked after they came up. */
bool ovl_crypto_revoked(struct ovl_crypto *c, const char *serial);

/* ---- signed statements (DHT records) ------------------------------------------
 * A member signs with its node key; anyone verifies with the signer's
 * certificate, which travels with the statement. The sim stand-in uses its
 * identity blob as "certificate" and a hash as "signature" (no security). */
#define OVL_SIG_LEN       64
#define OVL_CERT_WIRE_MAX 1024 /* largest certificate blob accepted */

/* Signs msg with our node key (Ed25519). 0, -EIO. */
int ovl_crypto_sign(struct ovl_crypto *c, const uint8_t *msg, size_t len, uint8_t sig[OVL_SIG_LEN]);
/* Our certificate as it travels (DER; sim: identity blob). Borrowed. */
const uint8_t *ovl_crypto_cert(const struct ovl_crypto *c, size_t *len);
/*
 * Is cert a valid member certificate at now (CA, CRL, namespace, dates,
 * as for a link) and sig its key's signature over msg? 0 and *signer filled
 * (signer->addr is the signer's overlay address); -EINVAL (malformed),
 * -EPERM (not a member: revoked, wrong CA, expired, ...) or -EBADMSG (bad
 * signature), with one line in why. Verified certificates may be cached;
 * a CRL update empties the cache.
 */
int ovl_crypto_verify(struct ovl_crypto *c, time_t now, const uint8_t *cert, size_t cert_len,
                      const uint8_t *msg, size_t len, const uint8_t sig[OVL_SIG_LEN],
                      struct cert_info *signer, char *why, size_t why_len);

/* New handshake; the initiator sends first. */
int ovl_hs_new(struct ovl_crypto *c, bool initiator, struct ovl_hs **out);
void ovl_hs_free(struct ovl_hs *h);
/*
 * Feeds len bytes of the peer's stream (len may be 0 to start the
 * initiator). now: wall-clock seconds, for certificate dates. After any
 * call, drain ovl_hs_output: DONE can come with a last flight to send.
 */
enum ovl_hs_status ovl_hs_input(struct ovl_hs *h, time_t now, const uint8_t *in, size_t len);
/* Moves up to cap pending output bytes into out; returns how many. */
size_t ovl_hs_output(struct ovl_hs *h, uint8_t *out, size_t cap);
size_t ovl_hs_output_pending(const struct ovl_hs *h);
/* After DONE: the peer's identity and the session keys (secret: wipe). */
int ovl_hs_result(struct ovl_hs *h, struct ovl_hs_result *out);
/* After FAILED: why, fit for a log line ("certificate: revoked: ..."). */
const char *ovl_hs_reason(const struct ovl_hs *h);

#endif
