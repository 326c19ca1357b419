// SPDX-License-Identifier: MIT
/*
 * crypto_tls — the link handshake as TLS 1.3 over OpenSSL memory BIOs.
 *
 * Both sides present their node certificate; each verifies the other with
 * cert_verify() (group CA, CRL, namespace, dates, Ed25519 key) from
 * OpenSSL's certificate-verify hook, so path validation is OpenSSL's and the
 * group rules are ours. No session tickets, no resumption, no SNI: every link
 * is a full handshake with fresh ephemeral keys (forward secrecy), and TLS 1.3
 * encrypts both certificates (identities hidden from passive observers).
 * After the handshake the TLS object is only asked for exported keys.
 */
#include "crypto_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define EXPORT_LABEL "EXPORTER-groupvpn-link-v1"

struct tls_crypto {
	struct ovl_crypto base;
	SSL_CTX *ctx;
	struct cert_trust *trust; /* our own copy: the CRL can be replaced */
};

struct tls_hs {
	struct ovl_hs base;
	SSL *ssl;
	BIO *in, *out; /* owned by ssl */
	time_t now;
	bool have_peer;
	struct cert_info peer;
	char verify_reason[OVL_HS_REASON_MAX];
};

static int hs_ex_index = -1;

static void ossl_reason(char *out, size_t n, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(out, n, "%s%s%s", what, r ? ": " : "", r ? r : "");
	ERR_clear_error();
}

/*
 * Replaces OpenSSL's whole verification step (SSL_CTX_set_cert_verify_callback):
 * the peer's leaf is judged by cert_verify(), which itself runs OpenSSL's
 * X509_verify_cert against our store with the CRL. Extra chain certificates a
 * peer sends are ignored: our CA signs node certificates directly.
 */
static int verify_peer(X509_STORE_CTX *sctx, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_hs *h = ssl ? SSL_get_ex_data(ssl, hs_ex_index) : NULL;
	struct tls_crypto *c = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
	struct cert_err err = {""};
	struct cert_info info;
	enum cert_verdict v;

	if (!h || !leaf) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	v = cert_verify(c->trust, leaf, h->now, &info, &err);
	if (v != CERT_VALID) {
		snprintf(h->verify_reason, sizeof(h->verify_reason), "peer certificate: %s",
		         err.msg[0] ? err.msg : cert_verdict_name(v));
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	h->peer = info;
	h->have_peer = true;
	return 1;
}

static void drain_output(struct tls_hs *h)
{
	uint8_t buf[2048];
	int n;

	while ((n = BIO_read(h->out, buf, sizeof(buf))) > 0) {
		if (ovl_hs_emit(&h->base, buf, (size_t)n) < 0) {
			snprintf(h->base.reason, sizeof(h->base.reason),
			         "handshake stream over %d bytes", OVL_HS_STREAM_MAX);
			h->base.status = OVL_HS_FAILED;
			break;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
}

static enum ovl_hs_status tls_hs_input(struct ovl_hs *base, time_t now, const uint8_t *in,
                                       size_t len)
{
	struct tls_hs *h = (struct tls_hs *)base;
	int r, e;

	h->now = now;
	if (len && (len > OVL_HS_STREAM_MAX || BIO_write(h->in, in, (int)len) != (int)len)) {
		snprintf(base->reason, sizeof(base->reason), "cannot buffer handshake input");
		return OVL_HS_FAILED;
	}
	r = SSL_do_handshake(h->ssl);
	/* Whatever happened, send what TLS wrote: a flight, or an alert. */
	drain_output(h);
	if (base->status == OVL_HS_FAILED)
		return OVL_HS_FAILED;
	if (r == 1) {
		if (!h->have_peer) { /* cannot happen with VERIFY_FAIL_IF_NO_PEER_CERT */
			snprintf(base->reason, sizeof(base->reason), "peer sent no certificate");
			return OVL_HS_FAILED;
		}
		return OVL_HS_DONE;
	}
	e = SSL_get_error(h->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return OVL_HS_CONTINUE;
	if (h->verify_reason[0])
		snprintf(base->reason, sizeof(base->reason), "%s", h->verify_reason);
	else
		ossl_reason(base->reason, sizeof(base->reason), "TLS handshake failed");
	ERR_clear_error();
	return OVL_HS_FAILED;
}

static int tls_hs_result(struct ovl_hs *base, struct ovl_hs_result *out)
{
	struct tls_hs *h = (struct tls_hs *)base;
	const SSL_CIPHER *cipher = SSL_get_current_cipher(h->ssl);

	if (!h->have_peer || !cipher)
		return -EINVAL;
	out->peer = h->peer;
	/* The suite both sides agreed on also picks the datagram AEAD. */
	out->alg = SSL_CIPHER_get_id(cipher) == TLS1_3_CK_CHACHA20_POLY1305_SHA256
	                   ? OVL_AEAD_CHACHA20POLY1305
	                   : OVL_AEAD_AES256GCM;
	if (SSL_export_keying_material(h->ssl, out->keys, sizeof(out->keys), EXPORT_LABEL,
	                               strlen(EXPORT_LABEL), NULL, 0, 0) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

static void tls_hs_free(struct ovl_hs *base)
{
	struct tls_hs *h = (struct tls_hs *)base;

	SSL_free(h->ssl); /* frees both BIOs, cleanses the key schedule */
	ovl_hs_base_free(base);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

static int tls_hs_new(struct ovl_crypto *cbase, bool initiator, struct ovl_hs **out)
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;
	struct tls_hs *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->base.crypto = cbase;
	h->base.initiator = initiator;
	h->ssl = SSL_new(c->ctx);
	h->in = BIO_new(BIO_s_mem());
	h->out = BIO_new(BIO_s_mem());
	if (!h->ssl || !h->in || !h->out || !SSL_set_ex_data(h->ssl, hs_ex_index, h)) {
		BIO_free(h->in); /* not yet handed to the SSL object */
		BIO_free(h->out);
		SSL_free(h->ssl);
		free(h);
		ERR_clear_error();
		return -ENOMEM;
	}
	/* An empty memory BIO means "no data yet", not end of file. */
	BIO_set_mem_eof_return(h->in, -1);
	SSL_set_bio(h->ssl, h->in, h->out);
	if (initiator)
		SSL_set_connect_state(h->ssl);
	else
		SSL_set_accept_state(h->ssl);
	*out = &h->base;
	return 0;
}

static int tls_update_crl(struct ovl_crypto *cbase, const char *pem, size_t len)
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;

	return cert_trust_update_crl(c->trust, pem, len, NULL);
}

static void tls_free(struct ovl_crypto *cbase)
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;

	SSL_CTX_free(c->ctx);
	cert_trust_free(c->trust);
	free(c);
}

static const struct ovl_crypto_ops tls_ops = {
        .hs_new = tls_hs_new,
        .hs_free = tls_hs_free,
        .hs_input = tls_hs_input,
        .hs_result = tls_hs_result,
        .update_crl = tls_update_crl,
        .free = tls_free,
};

/* A private copy of the bundle's trust, so CRL updates stay ours. */
static int copy_trust(const struct cert_bundle *b, struct cert_trust **out, struct cert_err *err)
{
	const struct cert_trust *t = cert_bundle_trust(b);
	char *ca = NULL, *crl = NULL, net[CERT_NET_STR];
	int rc;

	cert_network_format(cert_bundle_network(b), net);
	if ((rc = cert_x509_to_pem(cert_trust_ca(t), &ca, err)) < 0)
		return rc;
	if (cert_trust_crl(t) && (rc = cert_crl_to_pem(cert_trust_crl(t), &crl, err)) < 0) {
		free(ca);
		return rc;
	}
	rc = cert_trust_new(ca, strlen(ca), crl, crl ? strlen(crl) : 0, cert_trust_namespace(t),
	                    net, out, err);
	free(ca);
	free(crl);
	return rc;
}

int ovl_crypto_tls_new(const struct cert_bundle *b, struct ovl_crypto **out, char *errbuf,
                       size_t errlen)
{
	struct tls_crypto *c;
	struct cert_err err = {""};

	if (hs_ex_index < 0)
		hs_ex_index = SSL_get_ex_new_index(0, (void *)"groupvpn hs", NULL, NULL, NULL);
	c = calloc(1, sizeof(*c));
	if (!c)
		return snprintf(errbuf, errlen, "out of memory"), -ENOMEM;
	c->base.ops = &tls_ops;
	if (cert_info_get(cert_bundle_cert(b), &c->base.self, &err) < 0 ||
	    copy_trust(b, &c->trust, &err) < 0) {
		snprintf(errbuf, errlen, "%s", err.msg);
		goto fail;
	}
	c->ctx = SSL_CTX_new(TLS_method());
	if (!c->ctx || !SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(c->ctx,
	                              "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") ||
	    !SSL_CTX_set1_groups_list(c->ctx, "X25519:P-256") ||
	    !SSL_CTX_use_certificate(c->ctx, cert_bundle_cert(b)) ||
	    !SSL_CTX_use_PrivateKey(c->ctx, cert_bundle_key(b)) ||
	    !SSL_CTX_check_private_key(c->ctx)) {
		ossl_reason(errbuf, errlen, "TLS context");
		goto fail;
	}
	SSL_CTX_set_options(c->ctx,
	                    SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(c->ctx, 0);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(c->ctx, verify_peer, c);
	*out = &c->base;
	return 0;
fail:
	tls_free(&c->base);
	return -EINVAL;
}
