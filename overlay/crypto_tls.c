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
 *
 * Signed statements (DHT records) use the same node key, Ed25519 "pure"
 * (no pre-hash), and the same cert_verify() for the signer's certificate.
 * Verified certificates are cached by the SHA-256 of their DER for a few
 * minutes, so a busy writer costs one X509 parse and chain check, not one
 * per record; replacing the CRL empties the cache.
 */
#include "crypto_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define EXPORT_LABEL "EXPORTER-groupvpn-link-v1"

#define VCACHE_SIZE   64
#define VCACHE_TTL    300 /* s a verdict is reused before the chain is checked again */
#define VCACHE_ID_LEN 32  /* SHA-256 of the DER */

/* A certificate cert_verify() accepted at `since`; reused while since <= now < until. */
struct vcache_entry {
	EVP_PKEY *pub; /* NULL: the slot is free */
	uint8_t id[VCACHE_ID_LEN];
	struct cert_info info;
	time_t since, until;
};

struct tls_crypto {
	struct ovl_crypto base;
	SSL_CTX *ctx;
	struct cert_trust *trust; /* our own copy: the CRL can be replaced */
	EVP_PKEY *key;            /* our node key (a reference of our own) */
	uint8_t *cert_der;        /* our certificate as it travels; owned */
	size_t cert_der_len;
	struct vcache_entry cache[VCACHE_SIZE];
	unsigned cache_next; /* round-robin eviction */
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

/* ---- signed statements ----------------------------------------------------- */

static void cache_clear(struct tls_crypto *c)
{
	for (size_t i = 0; i < VCACHE_SIZE; i++)
		EVP_PKEY_free(c->cache[i].pub);
	memset(c->cache, 0, sizeof(c->cache));
	c->cache_next = 0;
}

/* The entry for this certificate if its verdict still holds at now; borrowed. */
static const struct vcache_entry *cache_find(const struct tls_crypto *c,
                                             const uint8_t id[VCACHE_ID_LEN], time_t now)
{
	for (size_t i = 0; i < VCACHE_SIZE; i++) {
		const struct vcache_entry *e = &c->cache[i];

		if (e->pub && memcmp(e->id, id, VCACHE_ID_LEN) == 0)
			return e->since <= now && now < e->until ? e : NULL;
	}
	return NULL;
}

/* Remembers a verified certificate; takes a reference of its own on pub. */
static void cache_add(struct tls_crypto *c, const uint8_t id[VCACHE_ID_LEN], EVP_PKEY *pub,
                      const struct cert_info *info, time_t now)
{
	struct vcache_entry *e = NULL;

	/* A stale entry for the same certificate is replaced, never duplicated. */
	for (size_t i = 0; i < VCACHE_SIZE && !e; i++)
		if (c->cache[i].pub && memcmp(c->cache[i].id, id, VCACHE_ID_LEN) == 0)
			e = &c->cache[i];
	if (!e) {
		e = &c->cache[c->cache_next];
		c->cache_next = (c->cache_next + 1) % VCACHE_SIZE;
	}
	if (!EVP_PKEY_up_ref(pub))
		return;
	EVP_PKEY_free(e->pub);
	e->pub = pub;
	memcpy(e->id, id, VCACHE_ID_LEN);
	e->info = *info;
	e->since = now;
	/* cert_verify passed, so not_before <= now <= not_after: no overflow here. */
	e->until = info->not_after - now < VCACHE_TTL ? info->not_after : now + VCACHE_TTL;
}

static int tls_sign(struct ovl_crypto *cbase, const uint8_t *msg, size_t len,
                    uint8_t sig[OVL_SIG_LEN])
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sig_len = OVL_SIG_LEN;
	int rc = -EIO;

	/* NULL digest: Ed25519 signs the message itself. */
	if (ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, c->key) == 1 &&
	    EVP_DigestSign(ctx, sig, &sig_len, msg, len) == 1 && sig_len == OVL_SIG_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

static const uint8_t *tls_cert(const struct ovl_crypto *cbase, size_t *len)
{
	const struct tls_crypto *c = (const struct tls_crypto *)cbase;

	*len = c->cert_der_len;
	return c->cert_der;
}

/* 1 good, 0 bad, -EIO could not check. */
static int check_sig(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = -EIO;

	if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1)
		r = EVP_DigestVerify(ctx, sig, OVL_SIG_LEN, msg, len) == 1 ? 1 : 0;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

static int tls_verify(struct ovl_crypto *cbase, time_t now, const uint8_t *cert, size_t cert_len,
                      const uint8_t *msg, size_t len, const uint8_t sig[OVL_SIG_LEN],
                      struct cert_info *signer, char *why, size_t why_len)
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;
	const struct vcache_entry *hit;
	const unsigned char *p = cert;
	struct cert_err err = {""};
	struct cert_info info;
	uint8_t id[VCACHE_ID_LEN];
	enum cert_verdict v;
	X509 *x = NULL;
	EVP_PKEY *pub;
	int rc, good;

	if (EVP_Digest(cert, cert_len, id, NULL, EVP_sha256(), NULL) != 1) {
		ERR_clear_error();
		ovl_crypto_why(why, why_len, "cannot hash the certificate");
		return -EIO;
	}
	hit = cache_find(c, id, now);
	if (hit) {
		info = hit->info;
		pub = hit->pub;
	} else {
		x = d2i_X509(NULL, &p, (long)cert_len);
		if (!x || p != cert + cert_len) {
			ovl_crypto_why(why, why_len, "malformed certificate");
			rc = -EINVAL;
			goto out;
		}
		v = cert_verify(c->trust, x, now, &info, &err);
		if (v != CERT_VALID) {
			const char *name = cert_verdict_name(v);

			/* cert_verify's messages mostly start with the verdict already. */
			if (strncmp(err.msg, name, strlen(name)) == 0)
				ovl_crypto_why(why, why_len, "certificate: %s", err.msg);
			else
				ovl_crypto_why(why, why_len, "certificate: %s: %s", name, err.msg);
			rc = -EPERM;
			goto out;
		}
		pub = X509_get0_pubkey(x);
		if (!pub) {
			ovl_crypto_why(why, why_len, "malformed certificate");
			rc = -EINVAL;
			goto out;
		}
		/* Kept even if the signature below fails: replaying a member's
		 * certificate with junk signatures then costs one check, not many. */
		cache_add(c, id, pub, &info, now);
	}
	good = check_sig(pub, msg, len, sig);
	if (good <= 0) {
		ovl_crypto_why(why, why_len,
		               good < 0 ? "cannot check the signature" : "bad signature");
		rc = good < 0 ? -EIO : -EBADMSG;
		goto out;
	}
	*signer = info;
	rc = 0;
out:
	X509_free(x);
	ERR_clear_error();
	return rc;
}

static int tls_update_crl(struct ovl_crypto *cbase, const char *pem, size_t len)
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;
	int rc = cert_trust_update_crl(c->trust, pem, len, NULL);

	/* Cached verdicts were reached under the old list. */
	if (rc == 0)
		cache_clear(c);
	return rc;
}

static bool tls_revoked(struct ovl_crypto *cbase, const char *serial)
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;
	const struct cert_crl *crl = cert_trust_crl(c->trust);

	return crl && cert_crl_is_revoked(crl, serial);
}

static void tls_free(struct ovl_crypto *cbase)
{
	struct tls_crypto *c = (struct tls_crypto *)cbase;

	cache_clear(c);
	SSL_CTX_free(c->ctx);
	cert_trust_free(c->trust);
	EVP_PKEY_free(c->key);
	OPENSSL_free(c->cert_der);
	free(c);
}

static const struct ovl_crypto_ops tls_ops = {
        .hs_new = tls_hs_new,
        .hs_free = tls_hs_free,
        .hs_input = tls_hs_input,
        .hs_result = tls_hs_result,
        .update_crl = tls_update_crl,
        .revoked = tls_revoked,
        .sign = tls_sign,
        .cert = tls_cert,
        .verify = tls_verify,
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
	int der_len;

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
	/* The key and certificate again, for signed statements. */
	der_len = i2d_X509(cert_bundle_cert(b), &c->cert_der);
	if (der_len <= 0 || !EVP_PKEY_up_ref(cert_bundle_key(b))) {
		ossl_reason(errbuf, errlen, "node certificate or key");
		goto fail;
	}
	c->key = cert_bundle_key(b);
	c->cert_der_len = (size_t)der_len;
	if (c->cert_der_len > OVL_CERT_WIRE_MAX) {
		snprintf(errbuf, errlen, "node certificate is %zu bytes, over %d", c->cert_der_len,
		         OVL_CERT_WIRE_MAX);
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
