// SPDX-License-Identifier: MIT
/*
 * Unit tests: DHT records (dht/record.c) — wire form, parsing, and the checks
 * a storing node runs, with real TLS members and with the simulator crypto.
 */
#include "helpers.h"
#include "members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "record.h"

#define TTL     ((uint32_t)3600)
#define EXPIRES ((uint64_t)H_NOW + 1800)
/* Offsets into the wire form (record.h). */
#define OFF_FLAGS   1
#define OFF_KEY     2
#define OFF_WRITER  22
#define OFF_SEQ     42
#define OFF_EXPIRES 50
#define OFF_VLEN    58
#define OFF_VALUE   60

static const uint8_t hello[] = "hello, group";

/* ---- helpers ----------------------------------------------------------- */

static struct cert_info sim_identity(const char *name, const char *ns, uint8_t fill)
{
	struct cert_info i;

	memset(&i, 0, sizeof(i));
	snprintf(i.name, sizeof(i.name), "%s", name);
	snprintf(i.namespace, sizeof(i.namespace), "%s", ns);
	memset(i.addr.b, fill, CERT_ADDR_LEN);
	return i;
}

static struct ovl_crypto *sim_crypto(const char *name, const char *ns, uint8_t fill)
{
	struct cert_info id = sim_identity(name, ns, fill);
	struct ovl_crypto *c;

	assert_int_equal(ovl_crypto_sim_new(&id, &c), 0);
	return c;
}

static struct cert_addr test_key(void)
{
	struct cert_addr k;

	dht_key_of("grp", (const uint8_t *)"service/web", 11, &k);
	return k;
}

/* A record by c with the test key and value; its length. */
static size_t build(struct ovl_crypto *c, uint64_t expires, uint8_t *out, size_t cap)
{
	struct cert_addr key = test_key();
	size_t len = 0;

	assert_int_equal(
	        dht_record_build(c, &key, 7, expires, 0, hello, sizeof(hello), out, cap, &len), 0);
	return len;
}

/* Parses exactly one record filling buf. */
static struct dht_record parse_all(const uint8_t *buf, size_t len)
{
	struct wire_reader r = wire_reader(buf, len);
	struct dht_record rec;

	assert_int_equal(dht_record_parse(&r, &rec), 0);
	assert_true(wire_done(&r));
	return rec;
}

/* dht_record_verify returns want; on failure, why contains why_has. */
static void expect_verify(struct ovl_crypto *c, time_t now, const struct dht_record *rec, int want,
                          const char *why_has)
{
	char why[256] = "";
	int rc = dht_record_verify(c, now, TTL, rec, NULL, why, sizeof(why));

	if (rc != want)
		fail_msg("verify: rc %d, want %d (why: '%s')", rc, want, why);
	if (want < 0)
		assert_msg_has(why, why_has);
}

/* Fields of a hand-made record: any shape, signed by whoever is given. */
struct forged {
	uint8_t version, flags;
	struct cert_addr key, writer;
	uint64_t seq, expires;
	const uint8_t *value;
	size_t vlen;
	const uint8_t *cert;
	size_t clen;
};

/* The fields of a record c would build, for forge() to change. */
static struct forged forged_like(struct ovl_crypto *c)
{
	struct forged f = {.version = DHT_REC_VERSION, .seq = 7, .expires = EXPIRES};

	f.key = test_key();
	f.writer = ovl_crypto_self(c)->addr;
	f.value = hello;
	f.vlen = sizeof(hello);
	f.cert = ovl_crypto_cert(c, &f.clen);
	return f;
}

/* Encodes f and signs it with signer's key, as record.h says; its length. */
static size_t forge(struct ovl_crypto *signer, const struct forged *f, uint8_t *out, size_t cap)
{
	static const char ctx[] = DHT_SIG_CONTEXT;
	struct wire_writer w = wire_writer(out, cap);
	uint8_t *msg = malloc(sizeof(ctx) + cap);
	size_t signed_len;
	uint8_t *sig;

	assert_non_null(msg);
	wire_put_u8(&w, f->version);
	wire_put_u8(&w, f->flags);
	wire_put_bytes(&w, f->key.b, DHT_KEY_LEN);
	wire_put_bytes(&w, f->writer.b, CERT_ADDR_LEN);
	wire_put_u64(&w, f->seq);
	wire_put_u64(&w, f->expires);
	wire_put_u16(&w, (uint16_t)f->vlen);
	wire_put_bytes(&w, f->value, f->vlen);
	signed_len = wire_len(&w);
	wire_put_u16(&w, (uint16_t)f->clen);
	wire_put_bytes(&w, f->cert, f->clen);
	sig = wire_put_space(&w, OVL_SIG_LEN);
	assert_true(wire_wok(&w));
	memcpy(msg, ctx, sizeof(ctx) - 1);
	memcpy(msg + sizeof(ctx) - 1, out, signed_len);
	assert_int_equal(ovl_crypto_sign(signer, msg, sizeof(ctx) - 1 + signed_len, sig), 0);
	free(msg);
	return wire_len(&w);
}

/* ---- round trips -------------------------------------------------------- */

/* writer builds a record and a tombstone; reader parses and verifies both. */
static void round_trip(struct ovl_crypto *writer, struct ovl_crypto *reader)
{
	uint8_t buf[DHT_RECORD_MAX];
	struct cert_addr key = test_key();
	const struct cert_info *self = ovl_crypto_self(writer);
	struct dht_record rec;
	struct cert_info signer;
	size_t len = 0, clen;
	const uint8_t *cert = ovl_crypto_cert(writer, &clen);
	char why[256] = "";

	assert_int_equal(dht_record_build(writer, &key, 7, EXPIRES, 0, hello, sizeof(hello), buf,
	                                  sizeof(buf), &len),
	                 0);
	assert_int_equal(len, DHT_REC_FIXED + sizeof(hello) + clen);
	rec = parse_all(buf, len);
	assert_memory_equal(rec.key.b, key.b, DHT_KEY_LEN);
	assert_memory_equal(rec.writer.b, self->addr.b, CERT_ADDR_LEN);
	assert_int_equal(rec.seq, 7);
	assert_int_equal(rec.expires, EXPIRES);
	assert_int_equal(rec.flags, 0);
	assert_int_equal(rec.vlen, sizeof(hello));
	assert_memory_equal(rec.value, hello, sizeof(hello));
	assert_int_equal(rec.clen, clen);
	assert_memory_equal(rec.cert, cert, clen);
	assert_ptr_equal(rec.raw, buf);
	assert_int_equal(rec.raw_len, len);
	assert_int_equal(rec.signed_len, OFF_VALUE + sizeof(hello));
	assert_ptr_equal(rec.sig, buf + len - OVL_SIG_LEN);
	memset(&signer, 0, sizeof(signer));
	assert_int_equal(dht_record_verify(reader, H_NOW, TTL, &rec, &signer, why, sizeof(why)), 0);
	assert_memory_equal(signer.addr.b, self->addr.b, CERT_ADDR_LEN);
	assert_string_equal(signer.name, self->name);
	/* signer may be NULL; the writer can check its own record too */
	assert_int_equal(dht_record_verify(writer, H_NOW, TTL, &rec, NULL, why, sizeof(why)), 0);

	/* A tombstone: no value, the flag set, seq moves on. */
	assert_int_equal(dht_record_build(writer, &key, 8, EXPIRES, DHT_REC_TOMBSTONE, NULL, 0, buf,
	                                  sizeof(buf), &len),
	                 0);
	rec = parse_all(buf, len);
	assert_int_equal(rec.flags, DHT_REC_TOMBSTONE);
	assert_int_equal(rec.vlen, 0);
	assert_int_equal(rec.seq, 8);
	assert_int_equal(dht_record_verify(reader, H_NOW, TTL, &rec, NULL, why, sizeof(why)), 0);
}

static void tls_record_round_trips_and_verifies(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");

	(void)state;
	round_trip(a.crypto, b.crypto);
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void sim_record_round_trips_and_verifies(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa), *b = sim_crypto("b", "grp", 0xbb);

	(void)state;
	round_trip(a, b);
	ovl_crypto_free(a);
	ovl_crypto_free(b);
}

static void build_takes_the_largest_value_and_an_exact_buffer(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa);
	struct cert_addr key = test_key();
	uint8_t *value = calloc(1, DHT_VALUE_MAX), buf[DHT_RECORD_MAX];
	size_t len = 0, clen;

	(void)state;
	assert_non_null(value);
	ovl_crypto_cert(a, &clen);
	value[DHT_VALUE_MAX - 1] = 0x5a;
	assert_int_equal(dht_record_build(a, &key, 1, EXPIRES, 0, value, DHT_VALUE_MAX, buf,
	                                  DHT_REC_FIXED + DHT_VALUE_MAX + clen, &len),
	                 0);
	assert_int_equal(len, DHT_REC_FIXED + DHT_VALUE_MAX + clen);
	{
		struct dht_record rec = parse_all(buf, len);

		assert_int_equal(rec.vlen, DHT_VALUE_MAX);
		assert_int_equal(rec.value[DHT_VALUE_MAX - 1], 0x5a);
		expect_verify(a, H_NOW, &rec, 0, NULL);
	}
	free(value);
	ovl_crypto_free(a);
}

static void build_refuses_bad_shapes_and_short_buffers(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa);
	struct cert_addr key = test_key();
	uint8_t value[DHT_VALUE_MAX + 1] = {0}, buf[DHT_RECORD_MAX + 64];
	size_t len = 0, clen;

	(void)state;
	ovl_crypto_cert(a, &clen);
	assert_int_equal(dht_record_build(a, &key, 1, EXPIRES, 0, value, DHT_VALUE_MAX + 1, buf,
	                                  sizeof(buf), &len),
	                 -EINVAL);
	assert_int_equal(dht_record_build(a, &key, 1, EXPIRES, DHT_REC_TOMBSTONE, value, 1, buf,
	                                  sizeof(buf), &len),
	                 -EINVAL);
	assert_int_equal(
	        dht_record_build(a, &key, 1, EXPIRES, 0x02, value, 1, buf, sizeof(buf), &len),
	        -EINVAL);
	assert_int_equal(dht_record_build(a, &key, 1, EXPIRES, 0, value, 10, buf,
	                                  DHT_REC_FIXED + 10 + clen - 1, &len),
	                 -EMSGSIZE);
	assert_int_equal(len, 0); /* nothing claimed on failure */
	ovl_crypto_free(a);
}

/* ---- parsing ----------------------------------------------------------- */

static void parse_refuses_every_truncation(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa);
	uint8_t buf[DHT_RECORD_MAX];
	size_t len = build(a, EXPIRES, buf, sizeof(buf));

	(void)state;
	for (size_t n = 0; n < len; n++) {
		/* each prefix in a buffer of exactly its size (ASan sees overreads) */
		uint8_t *p = malloc(n ? n : 1);
		struct wire_reader r;
		struct dht_record rec;

		assert_non_null(p);
		memcpy(p, buf, n);
		r = wire_reader(p, n);
		if (dht_record_parse(&r, &rec) != -EINVAL)
			fail_msg("a record cut to %zu of %zu bytes parsed", n, len);
		assert_false(wire_ok(&r));
		free(p);
	}
	ovl_crypto_free(a);
}

static void parse_reads_exactly_one_record_and_leaves_the_rest(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa);
	uint8_t buf[2 * DHT_RECORD_MAX + 3];
	size_t l1 = build(a, EXPIRES, buf, sizeof(buf));
	size_t l2 = build(a, EXPIRES + 1, buf + l1, sizeof(buf) - l1);
	struct wire_reader r;
	struct dht_record r1, r2, r3;

	(void)state;
	memcpy(buf + l1 + l2, "\x01\x00\x07", 3); /* trailing garbage, version byte and all */
	r = wire_reader(buf, l1 + l2 + 3);
	assert_int_equal(dht_record_parse(&r, &r1), 0);
	assert_int_equal(r.off, l1);
	assert_int_equal(r1.raw_len, l1);
	assert_int_equal(dht_record_parse(&r, &r2), 0);
	assert_ptr_equal(r2.raw, buf + l1);
	assert_int_equal(r2.expires, EXPIRES + 1);
	assert_int_equal(wire_remaining(&r), 3);
	expect_verify(a, H_NOW, &r1, 0, NULL);
	expect_verify(a, H_NOW, &r2, 0, NULL);
	assert_int_equal(dht_record_parse(&r, &r3), -EINVAL);
	assert_false(wire_ok(&r));
	/* once the reader has failed, nothing more parses from it */
	r.err = true;
	r.off = 0;
	assert_int_equal(dht_record_parse(&r, &r3), -EINVAL);
	ovl_crypto_free(a);
}

/* A well-signed record of shape f does not parse. */
static void expect_parse_refused(struct ovl_crypto *c, const struct forged *f, const char *what)
{
	uint8_t *buf = malloc(DHT_RECORD_MAX + 2 * OVL_CERT_WIRE_MAX);
	struct wire_reader r;
	struct dht_record rec;
	size_t len;

	assert_non_null(buf);
	len = forge(c, f, buf, DHT_RECORD_MAX + 2 * OVL_CERT_WIRE_MAX);
	r = wire_reader(buf, len);
	if (dht_record_parse(&r, &rec) != -EINVAL)
		fail_msg("a record with %s parsed", what);
	assert_false(wire_ok(&r));
	free(buf);
}

static void parse_refuses_wrong_version_unknown_flags_and_bad_lengths(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa);
	uint8_t *big = calloc(1, 2 * OVL_CERT_WIRE_MAX);
	struct forged f;

	(void)state;
	assert_non_null(big);
	f = forged_like(a);
	{ /* the forger itself makes records that parse and verify */
		uint8_t buf[DHT_RECORD_MAX];
		size_t len = forge(a, &f, buf, sizeof(buf));
		struct dht_record rec = parse_all(buf, len);

		expect_verify(a, H_NOW, &rec, 0, NULL);
	}
	f.version = 0;
	expect_parse_refused(a, &f, "version 0");
	f.version = 2;
	expect_parse_refused(a, &f, "version 2");
	f = forged_like(a);
	for (unsigned bit = 1; bit < 8; bit++) {
		f.flags = (uint8_t)(1u << bit);
		expect_parse_refused(a, &f, "an unknown flag");
	}
	f = forged_like(a);
	f.flags = DHT_REC_TOMBSTONE;
	expect_parse_refused(a, &f, "a tombstone carrying a value");
	f = forged_like(a);
	f.value = big;
	f.vlen = DHT_VALUE_MAX + 1;
	expect_parse_refused(a, &f, "a value over DHT_VALUE_MAX");
	f = forged_like(a);
	f.clen = 0;
	expect_parse_refused(a, &f, "no certificate");
	memcpy(big, f.cert, f.clen);
	f.cert = big;
	f.clen = OVL_CERT_WIRE_MAX + 1;
	expect_parse_refused(a, &f, "a certificate over OVL_CERT_WIRE_MAX");
	free(big);
	ovl_crypto_free(a);
}

/* ---- verification ------------------------------------------------------- */

static void verify_refuses_record_changed_after_signing(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	static const size_t offsets[] = {OFF_KEY + 3, OFF_SEQ + 7, OFF_EXPIRES + 7, OFF_VALUE,
	                                 OFF_VALUE + 5};
	uint8_t orig[DHT_RECORD_MAX], buf[DHT_RECORD_MAX];
	size_t len = build(a.crypto, EXPIRES, orig, sizeof(orig));
	struct cert_addr key = test_key();

	(void)state;
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		struct dht_record rec;

		memcpy(buf, orig, len);
		buf[offsets[i]] ^= 0x01;
		rec = parse_all(buf, len);
		expect_verify(b.crypto, H_NOW, &rec, -EBADMSG, "bad signature");
	}
	/* The flags: a tombstone turned into an empty value. */
	{
		size_t tlen = 0;
		struct dht_record rec;

		assert_int_equal(dht_record_build(a.crypto, &key, 9, EXPIRES, DHT_REC_TOMBSTONE,
		                                  NULL, 0, buf, sizeof(buf), &tlen),
		                 0);
		buf[OFF_FLAGS] = 0;
		rec = parse_all(buf, tlen);
		expect_verify(b.crypto, H_NOW, &rec, -EBADMSG, "bad signature");
	}
	/* The signature itself. */
	memcpy(buf, orig, len);
	buf[len - 1] ^= 0x01;
	{
		struct dht_record rec = parse_all(buf, len);

		expect_verify(b.crypto, H_NOW, &rec, -EBADMSG, "bad signature");
	}
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void verify_refuses_writer_patched_to_another_member(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member m = member_of(ca, "mallory"), a = member_of(ca, "alice"),
	              b = member_of(ca, "bob");
	uint8_t buf[DHT_RECORD_MAX];
	size_t len = build(m.crypto, EXPIRES, buf, sizeof(buf));
	struct dht_record rec;
	char why[256] = "";
	int rc;

	(void)state;
	memcpy(buf + OFF_WRITER, ovl_crypto_self(a.crypto)->addr.b, CERT_ADDR_LEN);
	rec = parse_all(buf, len);
	assert_memory_equal(rec.writer.b, ovl_crypto_self(a.crypto)->addr.b, CERT_ADDR_LEN);
	rc = dht_record_verify(b.crypto, H_NOW, TTL, &rec, NULL, why, sizeof(why));
	if (!(rc == -EBADMSG && strstr(why, "bad signature")) &&
	    !(rc == -EPERM && strstr(why, "writer is not the certificate's owner")))
		fail_msg("patched writer: rc %d (%s)", rc, why);
	member_free(&m);
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

/* The signer is a member and signs honestly, but names another member as writer. */
static void writer_other_than_signer(struct ovl_crypto *m, struct ovl_crypto *a,
                                     struct ovl_crypto *reader)
{
	uint8_t buf[DHT_RECORD_MAX];
	struct forged f = forged_like(m);
	struct dht_record rec;
	size_t len;

	f.writer = ovl_crypto_self(a)->addr;
	len = forge(m, &f, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(reader, H_NOW, &rec, -EPERM, "writer is not the certificate's owner");
}

static void verify_refuses_writer_who_is_not_the_certificate_owner(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member m = member_of(ca, "mallory"), a = member_of(ca, "alice"),
	              b = member_of(ca, "bob");
	struct ovl_crypto *sm = sim_crypto("m", "grp", 0x11), *sa = sim_crypto("a", "grp", 0x22),
	                  *sb = sim_crypto("b", "grp", 0x33);

	(void)state;
	writer_other_than_signer(m.crypto, a.crypto, b.crypto);
	writer_other_than_signer(sm, sa, sb);
	member_free(&m);
	member_free(&a);
	member_free(&b);
	ovl_crypto_free(sm);
	ovl_crypto_free(sa);
	ovl_crypto_free(sb);
	cert_ca_free(ca);
}

static void verify_refuses_expired_and_too_distant_expiry(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa);
	uint64_t limit = (uint64_t)H_NOW + TTL + DHT_SKEW_S;
	uint8_t buf[DHT_RECORD_MAX];
	struct dht_record rec;
	size_t len;

	(void)state;
	len = build(a, (uint64_t)H_NOW, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(a, H_NOW, &rec, -ETIME, "expired");
	expect_verify(a, H_NOW - 1, &rec, 0, NULL); /* a second earlier it was fine */
	len = build(a, 0, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(a, H_NOW, &rec, -ETIME, "expired");
	len = build(a, limit, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(a, H_NOW, &rec, 0, NULL);
	len = build(a, limit + 1, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(a, H_NOW, &rec, -ERANGE, "expires too late");
	expect_verify(a, H_NOW + 1, &rec, 0, NULL);
	len = build(a, UINT64_MAX, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(a, H_NOW, &rec, -ERANGE, "expires too late");
	ovl_crypto_free(a);
}

static void verify_refuses_non_member_writers(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct cert_ca *other = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob"),
	              m = member_of(other, "mallory");
	struct cert_info bi = h_info(b.cert);
	struct ovl_crypto *sa = sim_crypto("a", "grp", 0x22), *so = sim_crypto("o", "other", 0x44);
	uint8_t buf[DHT_RECORD_MAX];
	struct dht_record rec;
	size_t len;
	char *crl;

	(void)state;
	/* Another group's member (same namespace, other CA). */
	len = build(m.crypto, EXPIRES, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(a.crypto, H_NOW, &rec, -EPERM, "wrong CA");
	/* A revoked member, once the reader has the CRL. */
	len = build(b.crypto, EXPIRES, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(a.crypto, H_NOW, &rec, 0, NULL);
	assert_int_equal(cert_ca_revoke(ca, bi.serial, H_NOW, NULL), 0);
	crl = h_crl_pem(ca);
	assert_int_equal(ovl_crypto_update_crl(a.crypto, crl, strlen(crl)), 0);
	expect_verify(a.crypto, H_NOW, &rec, -EPERM, "revoked");
	free(crl);
	/* The simulator's stand-in: another namespace. */
	len = build(so, EXPIRES, buf, sizeof(buf));
	rec = parse_all(buf, len);
	expect_verify(sa, H_NOW, &rec, -EPERM, "wrong namespace");
	member_free(&a);
	member_free(&b);
	member_free(&m);
	ovl_crypto_free(sa);
	ovl_crypto_free(so);
	cert_ca_free(ca);
	cert_ca_free(other);
}

/* A parsed record whose fields were then set to shapes parse refuses. */
static void verify_refuses_tombstone_with_value_unknown_flags_and_wrong_version(void **state)
{
	struct ovl_crypto *a = sim_crypto("a", "grp", 0xaa);
	uint8_t buf[DHT_RECORD_MAX];
	size_t len = build(a, EXPIRES, buf, sizeof(buf));
	struct dht_record good = parse_all(buf, len), rec;

	(void)state;
	expect_verify(a, H_NOW, &good, 0, NULL);
	rec = good;
	rec.flags = DHT_REC_TOMBSTONE; /* with hello as its value */
	expect_verify(a, H_NOW, &rec, -EINVAL, "malformed record");
	rec = good;
	rec.flags = 0x40;
	expect_verify(a, H_NOW, &rec, -EINVAL, "malformed record");
	rec = good;
	rec.signed_len++;
	expect_verify(a, H_NOW, &rec, -EINVAL, "malformed record");
	buf[0] = DHT_REC_VERSION + 1;
	expect_verify(a, H_NOW, &good, -EINVAL, "malformed record");
	ovl_crypto_free(a);
}

/* ---- keys ---------------------------------------------------------------- */

static void key_is_sha256_of_namespace_and_appkey_known_answer(void **state)
{
	/* printf 'nsKEY' | openssl dgst -sha256; printf 'grpservice/web' | ... */
	static const uint8_t ns_key[DHT_KEY_LEN] = {0x5a, 0xfa, 0x09, 0x2e, 0x7f, 0xee, 0x4a,
	                                            0x76, 0x39, 0xce, 0x1c, 0x58, 0xce, 0xa7,
	                                            0x13, 0x2e, 0xea, 0x89, 0x64, 0xe7};
	static const uint8_t grp_web[DHT_KEY_LEN] = {0xab, 0x6e, 0x12, 0xa2, 0x3e, 0x68, 0x88,
	                                             0x35, 0x47, 0x36, 0x79, 0x1a, 0x07, 0x35,
	                                             0x4c, 0xf1, 0xf9, 0x46, 0x4b, 0x1f};
	static const uint8_t grp_empty[DHT_KEY_LEN] = {0x39, 0x78, 0x20, 0x46, 0x85, 0xfb, 0x43,
	                                               0x7c, 0xb2, 0xc7, 0xed, 0xaa, 0x62, 0x17,
	                                               0x3e, 0x78, 0x89, 0xdf, 0xf9, 0x6f};
	struct cert_addr k;

	(void)state;
	dht_key_of("ns", (const uint8_t *)"KEY", 3, &k);
	assert_memory_equal(k.b, ns_key, DHT_KEY_LEN);
	dht_key_of("grp", (const uint8_t *)"service/web", 11, &k);
	assert_memory_equal(k.b, grp_web, DHT_KEY_LEN);
	dht_key_of("grp", NULL, 0, &k);
	assert_memory_equal(k.b, grp_empty, DHT_KEY_LEN);
	/* another namespace, another key */
	dht_key_of("grq", (const uint8_t *)"service/web", 11, &k);
	assert_memory_not_equal(k.b, grp_web, DHT_KEY_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(tls_record_round_trips_and_verifies),
	        cmocka_unit_test(sim_record_round_trips_and_verifies),
	        cmocka_unit_test(build_takes_the_largest_value_and_an_exact_buffer),
	        cmocka_unit_test(build_refuses_bad_shapes_and_short_buffers),
	        cmocka_unit_test(parse_refuses_every_truncation),
	        cmocka_unit_test(parse_reads_exactly_one_record_and_leaves_the_rest),
	        cmocka_unit_test(parse_refuses_wrong_version_unknown_flags_and_bad_lengths),
	        cmocka_unit_test(verify_refuses_record_changed_after_signing),
	        cmocka_unit_test(verify_refuses_writer_patched_to_another_member),
	        cmocka_unit_test(verify_refuses_writer_who_is_not_the_certificate_owner),
	        cmocka_unit_test(verify_refuses_expired_and_too_distant_expiry),
	        cmocka_unit_test(verify_refuses_non_member_writers),
	        cmocka_unit_test(
	                verify_refuses_tombstone_with_value_unknown_flags_and_wrong_version),
	        cmocka_unit_test(key_is_sha256_of_namespace_and_appkey_known_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
