// SPDX-License-Identifier: MIT
/*
 * crypto_sim — the simulator's stand-in for the TLS handshake: three
 * messages of the sizes a real TLS 1.3 handshake with Ed25519 certificates
 * has (225, 827 and 611 bytes), carrying each side's identity in clear. Keys
 * come from SHA-256 over both identities and the initiator's nonce, so both
 * sides agree and every session differs. No security whatsoever: never
 * linked into a daemon's code path (only groupvpn-sim constructs it).
 *
 * Signed statements: the "certificate" is the identity blob the handshake
 * carries, the "signature" SHA-512("groupvpn sim sig" || blob || msg), so
 * anyone can forge one; a statement from another namespace is refused, as a
 * foreign group's certificate would be.
 */
#include "crypto_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "wire.h"

#define SIM_MAGIC 0x47534831u /* "GSH1" */
#define SIM_MSG1  225
#define SIM_MSG2  827
#define SIM_MSG3  611
#define SIM_NONCE 16

#define SIM_SIG_CONTEXT "groupvpn sim sig"
/* addr, name and namespace, each string after its length byte */
#define SIM_BLOB_MAX (CERT_ADDR_LEN + 1 + CERT_NAME_MAX + 1 + CERT_NAMESPACE_MAX)

_Static_assert(SIM_BLOB_MAX <= OVL_CERT_WIRE_MAX, "sim identity blob fits a certificate");

struct sim_crypto {
	struct ovl_crypto base;
	uint8_t blob[SIM_BLOB_MAX]; /* our identity as put_identity writes it */
	size_t blob_len;
};

struct sim_hs {
	struct ovl_hs base;
	uint8_t in[SIM_MSG2];
	size_t in_len;
	bool started; /* the initiator has sent message 1 */
	int stage;    /* messages received so far */
	uint8_t nonce[SIM_NONCE];
	struct cert_info peer;
};

static int put_identity(struct wire_writer *w, const struct cert_info *self)
{
	size_t nl = strlen(self->name), nsl = strlen(self->namespace);

	wire_put_bytes(w, self->addr.b, CERT_ADDR_LEN);
	wire_put_u8(w, (uint8_t)nl);
	wire_put_bytes(w, self->name, nl);
	wire_put_u8(w, (uint8_t)nsl);
	wire_put_bytes(w, self->namespace, nsl);
	return wire_wok(w) ? 0 : -EINVAL;
}

static int get_identity(struct wire_reader *r, struct cert_info *out)
{
	uint8_t nl, nsl;

	memset(out, 0, sizeof(*out));
	wire_get_bytes(r, out->addr.b, CERT_ADDR_LEN);
	nl = wire_get_u8(r);
	if (nl > CERT_NAME_MAX)
		return -EINVAL;
	wire_get_bytes(r, out->name, nl);
	nsl = wire_get_u8(r);
	if (nsl > CERT_NAMESPACE_MAX)
		return -EINVAL;
	wire_get_bytes(r, out->namespace, nsl);
	return wire_ok(r) ? 0 : -EINVAL;
}

static int emit_msg(struct sim_hs *h, uint8_t kind, size_t size, bool with_identity)
{
	uint8_t buf[SIM_MSG2] = {0};
	struct wire_writer w = wire_writer(buf, size);

	wire_put_u32(&w, SIM_MAGIC);
	wire_put_u8(&w, kind);
	if (kind == 1)
		wire_put_bytes(&w, h->nonce, SIM_NONCE);
	if (with_identity && put_identity(&w, &h->base.crypto->self) < 0)
		return -EINVAL;
	return ovl_hs_emit(&h->base, buf, size);
}

static enum ovl_hs_status fail(struct sim_hs *h, const char *why)
{
	strncpy(h->base.reason, why, sizeof(h->base.reason) - 1);
	return OVL_HS_FAILED;
}

static enum ovl_hs_status sim_hs_input(struct ovl_hs *base, time_t now, const uint8_t *in,
                                       size_t len)
{
	struct sim_hs *h = (struct sim_hs *)base;
	size_t want;

	(void)now;
	if (h->base.initiator && !h->started) {
		h->started = true;
		if (RAND_bytes(h->nonce, SIM_NONCE) != 1 || emit_msg(h, 1, SIM_MSG1, true) < 0)
			return fail(h, "sim handshake: cannot start");
		if (len == 0)
			return OVL_HS_CONTINUE;
	}
	want = h->base.initiator ? SIM_MSG2 : (h->stage == 0 ? SIM_MSG1 : SIM_MSG3);
	while (len > 0) {
		size_t take = want - h->in_len < len ? want - h->in_len : len;
		struct wire_reader r;
		uint8_t kind;

		memcpy(h->in + h->in_len, in, take);
		h->in_len += take;
		in += take;
		len -= take;
		if (h->in_len < want)
			return OVL_HS_CONTINUE;
		r = wire_reader(h->in, want);
		if (wire_get_u32(&r) != SIM_MAGIC)
			return fail(h, "sim handshake: bad magic");
		kind = wire_get_u8(&r);
		h->in_len = 0;
		if (h->base.initiator) {
			if (kind != 2 || get_identity(&r, &h->peer) < 0)
				return fail(h, "sim handshake: bad message 2");
			h->stage = 2;
			if (strcmp(h->peer.namespace, h->base.crypto->self.namespace) != 0)
				return fail(h, "peer certificate: wrong namespace");
			return emit_msg(h, 3, SIM_MSG3, false) < 0 ? fail(h, "emit") : OVL_HS_DONE;
		}
		if (h->stage == 0) {
			if (kind != 1)
				return fail(h, "sim handshake: bad message 1");
			wire_get_bytes(&r, h->nonce, SIM_NONCE);
			if (get_identity(&r, &h->peer) < 0)
				return fail(h, "sim handshake: bad identity");
			if (strcmp(h->peer.namespace, h->base.crypto->self.namespace) != 0)
				return fail(h, "peer certificate: wrong namespace");
			h->stage = 1;
			want = SIM_MSG3;
			if (emit_msg(h, 2, SIM_MSG2, true) < 0)
				return fail(h, "emit");
			continue;
		}
		if (kind != 3)
			return fail(h, "sim handshake: bad message 3");
		h->stage = 2;
		return len ? fail(h, "sim handshake: trailing bytes") : OVL_HS_DONE;
	}
	return OVL_HS_CONTINUE;
}

static int sim_hs_result(struct ovl_hs *base, struct ovl_hs_result *out)
{
	struct sim_hs *h = (struct sim_hs *)base;
	const struct cert_info *self = &base->crypto->self;
	const struct cert_info *ini = base->initiator ? self : &h->peer;
	const struct cert_info *resp = base->initiator ? &h->peer : self;
	unsigned int n = 0;
	uint8_t md[32];

	for (int dir = 0; dir < 2; dir++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		uint8_t d = (uint8_t)dir;

		if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
		    !EVP_DigestUpdate(ctx, &d, 1) || !EVP_DigestUpdate(ctx, h->nonce, SIM_NONCE) ||
		    !EVP_DigestUpdate(ctx, ini->addr.b, CERT_ADDR_LEN) ||
		    !EVP_DigestUpdate(ctx, resp->addr.b, CERT_ADDR_LEN) ||
		    !EVP_DigestFinal_ex(ctx, md, &n)) {
			EVP_MD_CTX_free(ctx);
			return -EIO;
		}
		EVP_MD_CTX_free(ctx);
		memcpy(out->keys + dir * OVL_AEAD_KEY_LEN, md, OVL_AEAD_KEY_LEN);
	}
	out->peer = h->peer;
	out->alg = OVL_AEAD_AES256GCM;
	return 0;
}

static void sim_hs_free(struct ovl_hs *base)
{
	ovl_hs_base_free(base);
	free(base);
}

static int sim_hs_new(struct ovl_crypto *c, bool initiator, struct ovl_hs **out)
{
	struct sim_hs *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->base.crypto = c;
	h->base.initiator = initiator;
	*out = &h->base;
	return 0;
}

/* SHA-512(context || blob || msg): exactly OVL_SIG_LEN bytes. */
static int sim_sig(const uint8_t *blob, size_t blob_len, const uint8_t *msg, size_t len,
                   uint8_t sig[OVL_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int rc = -EIO;

	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) &&
	    EVP_DigestUpdate(ctx, SIM_SIG_CONTEXT, strlen(SIM_SIG_CONTEXT)) &&
	    EVP_DigestUpdate(ctx, blob, blob_len) && EVP_DigestUpdate(ctx, msg, len) &&
	    EVP_DigestFinal_ex(ctx, sig, &n) && n == OVL_SIG_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int sim_sign(struct ovl_crypto *cbase, const uint8_t *msg, size_t len,
                    uint8_t sig[OVL_SIG_LEN])
{
	struct sim_crypto *c = (struct sim_crypto *)cbase;

	return sim_sig(c->blob, c->blob_len, msg, len, sig);
}

static const uint8_t *sim_cert(const struct ovl_crypto *cbase, size_t *len)
{
	const struct sim_crypto *c = (const struct sim_crypto *)cbase;

	*len = c->blob_len;
	return c->blob;
}

static int sim_verify(struct ovl_crypto *cbase, time_t now, const uint8_t *cert, size_t cert_len,
                      const uint8_t *msg, size_t len, const uint8_t sig[OVL_SIG_LEN],
                      struct cert_info *signer, char *why, size_t why_len)
{
	struct wire_reader r = wire_reader(cert, cert_len);
	uint8_t want[OVL_SIG_LEN];
	struct cert_info info;

	(void)now;
	if (get_identity(&r, &info) < 0 || !wire_done(&r)) {
		ovl_crypto_why(why, why_len, "malformed certificate");
		return -EINVAL;
	}
	if (strcmp(info.namespace, cbase->self.namespace) != 0) {
		ovl_crypto_why(why, why_len, "certificate: wrong namespace");
		return -EPERM;
	}
	if (sim_sig(cert, cert_len, msg, len, want) < 0) {
		ovl_crypto_why(why, why_len, "cannot check the signature");
		return -EIO;
	}
	if (CRYPTO_memcmp(want, sig, OVL_SIG_LEN) != 0) {
		ovl_crypto_why(why, why_len, "bad signature");
		return -EBADMSG;
	}
	*signer = info;
	return 0;
}

static int sim_update_crl(struct ovl_crypto *c, const char *pem, size_t len)
{
	(void)c;
	(void)pem;
	(void)len;
	return -EALREADY;
}

static void sim_free(struct ovl_crypto *c)
{
	free((struct sim_crypto *)c);
}

static const struct ovl_crypto_ops sim_ops = {
        .hs_new = sim_hs_new,
        .hs_free = sim_hs_free,
        .hs_input = sim_hs_input,
        .hs_result = sim_hs_result,
        .update_crl = sim_update_crl,
        .sign = sim_sign,
        .cert = sim_cert,
        .verify = sim_verify,
        .free = sim_free,
};

int ovl_crypto_sim_new(const struct cert_info *self, struct ovl_crypto **out)
{
	struct sim_crypto *c = calloc(1, sizeof(*c));
	struct wire_writer w;

	if (!c)
		return -ENOMEM;
	c->base.ops = &sim_ops;
	c->base.self = *self;
	w = wire_writer(c->blob, sizeof(c->blob));
	if (put_identity(&w, &c->base.self) < 0) {
		free(c);
		return -EINVAL;
	}
	c->blob_len = wire_len(&w);
	*out = &c->base;
	return 0;
}
