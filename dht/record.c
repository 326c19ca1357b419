// SPDX-License-Identifier: MIT
/*
 * record — encode, parse and check one signed DHT value (record.h).
 *
 * Parsing is structure only and cheap, so a node can refuse junk before
 * spending a signature check on it; dht_record_verify is the part that costs.
 * The signed message is rebuilt on the stack from the record's own bytes:
 * what is checked is exactly what travelled.
 */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define SIG_CONTEXT_LEN (sizeof(DHT_SIG_CONTEXT) - 1)
/* version .. vlen, before the value */
#define SIGNED_HEAD (1 + 1 + DHT_KEY_LEN + CERT_ADDR_LEN + 8 + 8 + 2)
#define SIGNED_MAX  (SIGNED_HEAD + DHT_VALUE_MAX)
/* The most a signed message can be: context, head, value. */
#define SIG_MSG_MAX (SIG_CONTEXT_LEN + SIGNED_MAX)

_Static_assert(DHT_KEY_LEN == CERT_ADDR_LEN, "keys and overlay addresses share a space");
_Static_assert(DHT_REC_FIXED == SIGNED_HEAD + 2 + OVL_SIG_LEN, "record.h's fixed part");
_Static_assert(DHT_VALUE_MAX <= UINT16_MAX && OVL_CERT_WIRE_MAX <= UINT16_MAX, "u16 lengths");

static void say(char *why, size_t why_len, const char *what)
{
	if (why && why_len)
		snprintf(why, why_len, "%s", what);
}

void dht_key_of(const char *ns, const uint8_t *appkey, size_t len, struct cert_addr *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	/* Only an allocation failure gets here; a zero key then fails lookups, not memory. */
	memset(out, 0, sizeof(*out));
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, ns, strlen(ns)) && EVP_DigestUpdate(ctx, appkey, len) &&
	    EVP_DigestFinal_ex(ctx, md, &n) && n >= DHT_KEY_LEN)
		memcpy(out->b, md, DHT_KEY_LEN);
	EVP_MD_CTX_free(ctx);
}

/* The rules parse and build share; true if a record may carry these fields. */
static bool shape_ok(uint8_t version, uint8_t flags, size_t vlen, size_t clen)
{
	return version == DHT_REC_VERSION && !(flags & ~DHT_REC_FLAGS) && vlen <= DHT_VALUE_MAX &&
	       (!(flags & DHT_REC_TOMBSTONE) || vlen == 0) && clen >= 1 &&
	       clen <= OVL_CERT_WIRE_MAX;
}

/* DHT_SIG_CONTEXT || signed bytes into msg (SIG_MSG_MAX); its length, or 0 if too long. */
static size_t signed_message(const uint8_t *raw, size_t signed_len, uint8_t msg[SIG_MSG_MAX])
{
	if (signed_len > SIGNED_MAX)
		return 0;
	memcpy(msg, DHT_SIG_CONTEXT, SIG_CONTEXT_LEN);
	memcpy(msg + SIG_CONTEXT_LEN, raw, signed_len);
	return SIG_CONTEXT_LEN + signed_len;
}

int dht_record_build(struct ovl_crypto *c, const struct cert_addr *key, uint64_t seq,
                     uint64_t expires, uint8_t flags, const uint8_t *value, size_t vlen,
                     uint8_t *out, size_t cap, size_t *out_len)
{
	struct wire_writer w = wire_writer(out, cap);
	uint8_t msg[SIG_MSG_MAX];
	size_t clen, signed_len, mlen;
	const uint8_t *cert = ovl_crypto_cert(c, &clen);
	uint8_t *sig;
	int rc;

	if (!shape_ok(DHT_REC_VERSION, flags, vlen, clen))
		return -EINVAL;
	if (cap < DHT_REC_FIXED + vlen + clen)
		return -EMSGSIZE;
	wire_put_u8(&w, DHT_REC_VERSION);
	wire_put_u8(&w, flags);
	wire_put_bytes(&w, key->b, DHT_KEY_LEN);
	wire_put_bytes(&w, ovl_crypto_self(c)->addr.b, CERT_ADDR_LEN);
	wire_put_u64(&w, seq);
	wire_put_u64(&w, expires);
	wire_put_u16(&w, (uint16_t)vlen);
	wire_put_bytes(&w, value, vlen);
	signed_len = wire_len(&w);
	wire_put_u16(&w, (uint16_t)clen);
	wire_put_bytes(&w, cert, clen);
	sig = wire_put_space(&w, OVL_SIG_LEN);
	if (!wire_wok(&w) || !sig)
		return -EMSGSIZE; /* cannot happen: the size was checked above */
	mlen = signed_message(out, signed_len, msg);
	rc = mlen ? ovl_crypto_sign(c, msg, mlen, sig) : -EINVAL;
	if (rc < 0)
		return rc;
	*out_len = wire_len(&w);
	return 0;
}

int dht_record_parse(struct wire_reader *r, struct dht_record *out)
{
	struct dht_record rec;
	size_t start = r->off;
	uint8_t version;

	memset(&rec, 0, sizeof(rec));
	/* Validate first: the fixed head says how long the rest must be. */
	version = wire_get_u8(r);
	rec.flags = wire_get_u8(r);
	wire_get_bytes(r, rec.key.b, DHT_KEY_LEN);
	wire_get_bytes(r, rec.writer.b, CERT_ADDR_LEN);
	rec.seq = wire_get_u64(r);
	rec.expires = wire_get_u64(r);
	rec.vlen = wire_get_u16(r);
	if (!wire_ok(r) || version != DHT_REC_VERSION || rec.vlen > DHT_VALUE_MAX)
		goto bad;
	rec.value = wire_get_ptr(r, rec.vlen);
	rec.signed_len = r->off - start;
	rec.clen = wire_get_u16(r);
	if (!wire_ok(r) || !shape_ok(version, rec.flags, rec.vlen, rec.clen))
		goto bad;
	rec.cert = wire_get_ptr(r, rec.clen);
	rec.sig = wire_get_ptr(r, OVL_SIG_LEN);
	if (!wire_ok(r))
		goto bad;
	/* Then interpret: the pointers borrow r's buffer. */
	rec.raw = r->p + start;
	rec.raw_len = r->off - start;
	*out = rec;
	return 0;
bad:
	r->err = true;
	return -EINVAL;
}

int dht_record_verify(struct ovl_crypto *c, time_t now, uint32_t ttl_max,
                      const struct dht_record *rec, struct cert_info *signer, char *why,
                      size_t why_len)
{
	uint64_t unow = now > 0 ? (uint64_t)now : 0;
	uint8_t msg[SIG_MSG_MAX];
	struct cert_info who;
	size_t mlen;
	int rc;

	/* A record built by hand rather than parsed gets the structural rules too. */
	mlen = rec->raw && rec->sig && rec->cert ? signed_message(rec->raw, rec->signed_len, msg)
	                                         : 0;
	if (!mlen || rec->signed_len != SIGNED_HEAD + (size_t)rec->vlen ||
	    !shape_ok(rec->raw[0], rec->flags, rec->vlen, rec->clen)) {
		rc = -EINVAL;
		say(why, why_len, "malformed record");
		goto out;
	}
	if (rec->expires <= unow) {
		rc = -ETIME;
		say(why, why_len, "expired");
		goto out;
	}
	if (rec->expires > unow + ttl_max + DHT_SKEW_S) {
		rc = -ERANGE;
		say(why, why_len, "expires too late");
		goto out;
	}
	rc = ovl_crypto_verify(c, now, rec->cert, rec->clen, msg, mlen, rec->sig, &who, why,
	                       why_len);
	if (rc < 0)
		goto out;
	if (memcmp(rec->writer.b, who.addr.b, CERT_ADDR_LEN) != 0) {
		rc = -EPERM;
		say(why, why_len, "writer is not the certificate's owner");
		goto out;
	}
	if (signer)
		*signer = who;
out:
	return rc;
}
