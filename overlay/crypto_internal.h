// SPDX-License-Identifier: MIT
/* crypto — the ops table behind struct ovl_crypto. Private to overlay/crypto*.c. */
#ifndef GVPN_OVERLAY_CRYPTO_INTERNAL_H
#define GVPN_OVERLAY_CRYPTO_INTERNAL_H

#include "crypto.h"

struct ovl_crypto_ops {
	int (*hs_new)(struct ovl_crypto *c, bool initiator, struct ovl_hs **out);
	void (*hs_free)(struct ovl_hs *h);
	enum ovl_hs_status (*hs_input)(struct ovl_hs *h, time_t now, const uint8_t *in, size_t len);
	int (*hs_result)(struct ovl_hs *h, struct ovl_hs_result *out);
	int (*update_crl)(struct ovl_crypto *c, const char *pem, size_t len);
	bool (*revoked)(struct ovl_crypto *c, const char *serial); /* optional */
	int (*sign)(struct ovl_crypto *c, const uint8_t *msg, size_t len, uint8_t sig[OVL_SIG_LEN]);
	const uint8_t *(*cert)(const struct ovl_crypto *c, size_t *len);
	/* Called with 0 < cert_len <= OVL_CERT_WIRE_MAX and a non-NULL signer. */
	int (*verify)(struct ovl_crypto *c, time_t now, const uint8_t *cert, size_t cert_len,
	              const uint8_t *msg, size_t len, const uint8_t sig[OVL_SIG_LEN],
	              struct cert_info *signer, char *why, size_t why_len);
	void (*free)(struct ovl_crypto *c);
};

/* Common head of every implementation's crypto object. */
struct ovl_crypto {
	const struct ovl_crypto_ops *ops;
	struct cert_info self;
};

/* Common head of every handshake: output buffer, status, reason. */
struct ovl_hs {
	struct ovl_crypto *crypto;
	bool initiator;
	enum ovl_hs_status status;
	char reason[OVL_HS_REASON_MAX];
	uint8_t *out;
	size_t out_len, out_cap;
};

/* Appends to h's output buffer, growing it up to OVL_HS_STREAM_MAX; 0 or -ENOBUFS. */
int ovl_hs_emit(struct ovl_hs *h, const uint8_t *data, size_t len);
/* Frees the common part (the output buffer, wiped). */
void ovl_hs_base_free(struct ovl_hs *h);

/* printf into why (one line for ovl_crypto_verify); why may be NULL or why_len 0. */
void ovl_crypto_why(char *why, size_t why_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
