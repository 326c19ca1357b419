// SPDX-License-Identifier: MIT
/* crypto — dispatch to the implementation, and the shared output buffer. */
#include "crypto_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void ovl_crypto_free(struct ovl_crypto *c)
{
	if (c)
		c->ops->free(c);
}

const struct cert_info *ovl_crypto_self(const struct ovl_crypto *c)
{
	return &c->self;
}

int ovl_crypto_update_crl(struct ovl_crypto *c, const char *crl_pem, size_t len)
{
	return c->ops->update_crl(c, crl_pem, len);
}

bool ovl_crypto_revoked(struct ovl_crypto *c, const char *serial)
{
	return c->ops->revoked && c->ops->revoked(c, serial);
}

int ovl_crypto_sign(struct ovl_crypto *c, const uint8_t *msg, size_t len, uint8_t sig[OVL_SIG_LEN])
{
	return c->ops->sign(c, msg, len, sig);
}

const uint8_t *ovl_crypto_cert(const struct ovl_crypto *c, size_t *len)
{
	return c->ops->cert(c, len);
}

int ovl_crypto_verify(struct ovl_crypto *c, time_t now, const uint8_t *cert, size_t cert_len,
                      const uint8_t *msg, size_t len, const uint8_t sig[OVL_SIG_LEN],
                      struct cert_info *signer, char *why, size_t why_len)
{
	struct cert_info scratch;

	/* The length cap is a bound on work a peer can ask of us: before any parsing. */
	if (cert_len == 0 || cert_len > OVL_CERT_WIRE_MAX) {
		ovl_crypto_why(why, why_len, "certificate of %zu bytes (1..%d)", cert_len,
		               OVL_CERT_WIRE_MAX);
		return -EINVAL;
	}
	return c->ops->verify(c, now, cert, cert_len, msg, len, sig, signer ? signer : &scratch,
	                      why, why_len);
}

void ovl_crypto_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

int ovl_hs_new(struct ovl_crypto *c, bool initiator, struct ovl_hs **out)
{
	return c->ops->hs_new(c, initiator, out);
}

void ovl_hs_free(struct ovl_hs *h)
{
	if (h)
		h->crypto->ops->hs_free(h);
}

enum ovl_hs_status ovl_hs_input(struct ovl_hs *h, time_t now, const uint8_t *in, size_t len)
{
	if (h->status != OVL_HS_CONTINUE)
		return h->status;
	h->status = h->crypto->ops->hs_input(h, now, in, len);
	return h->status;
}

size_t ovl_hs_output(struct ovl_hs *h, uint8_t *out, size_t cap)
{
	size_t n = h->out_len < cap ? h->out_len : cap;

	memcpy(out, h->out, n);
	memmove(h->out, h->out + n, h->out_len - n);
	h->out_len -= n;
	return n;
}

size_t ovl_hs_output_pending(const struct ovl_hs *h)
{
	return h->out_len;
}

int ovl_hs_result(struct ovl_hs *h, struct ovl_hs_result *out)
{
	if (h->status != OVL_HS_DONE)
		return -EINVAL;
	return h->crypto->ops->hs_result(h, out);
}

const char *ovl_hs_reason(const struct ovl_hs *h)
{
	return h->reason[0] ? h->reason : "handshake failed";
}

int ovl_hs_emit(struct ovl_hs *h, const uint8_t *data, size_t len)
{
	if (len > OVL_HS_STREAM_MAX - h->out_len)
		return -ENOBUFS;
	if (h->out_len + len > h->out_cap) {
		size_t cap = h->out_cap ? h->out_cap : 2048;
		uint8_t *p;

		while (cap < h->out_len + len)
			cap *= 2;
		p = malloc(cap);
		if (!p)
			return -ENOMEM;
		if (h->out) {
			memcpy(p, h->out, h->out_len);
			OPENSSL_clear_free(h->out, h->out_cap);
		}
		h->out = p;
		h->out_cap = cap;
	}
	memcpy(h->out + h->out_len, data, len);
	h->out_len += len;
	return 0;
}

void ovl_hs_base_free(struct ovl_hs *h)
{
	if (h->out)
		OPENSSL_clear_free(h->out, h->out_cap);
	h->out = NULL;
}
