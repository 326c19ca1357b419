// SPDX-License-Identifier: MIT
/*
 * Unit tests: the link handshake and signed statements (overlay/crypto*): real
 * TLS 1.3 / Ed25519 and the simulator stand-in.
 */
#include "helpers.h"
#include "members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto.h"

/* Moves every pending output byte of from into to, in chunks of `chunk`. */
static enum ovl_hs_status pump(struct ovl_hs *from, struct ovl_hs *to, time_t now, size_t chunk,
                               enum ovl_hs_status *to_status)
{
	uint8_t buf[4096];
	size_t n;

	while ((n = ovl_hs_output(from, buf, chunk < sizeof(buf) ? chunk : sizeof(buf))) > 0)
		*to_status = ovl_hs_input(to, now, buf, n);
	return *to_status;
}

/* Runs a handshake to its end: returns how many flights crossed. */
static int run(struct ovl_hs *ini, struct ovl_hs *resp, time_t now, size_t chunk,
               enum ovl_hs_status *si, enum ovl_hs_status *sr)
{
	int flights = 0;

	*sr = OVL_HS_CONTINUE;
	*si = ovl_hs_input(ini, now, NULL, 0);
	for (int i = 0; i < 10; i++) {
		if (ovl_hs_output_pending(ini)) {
			pump(ini, resp, now, chunk, sr);
			flights++;
		}
		if (ovl_hs_output_pending(resp)) {
			pump(resp, ini, now, chunk, si);
			flights++;
		}
		if (!ovl_hs_output_pending(ini) && !ovl_hs_output_pending(resp))
			break;
	}
	return flights;
}

static void tls_members_agree_on_keys_and_learn_each_other(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	struct ovl_hs *hi, *hr;
	struct ovl_hs_result ri, rr;
	enum ovl_hs_status si, sr;

	(void)state;
	assert_int_equal(ovl_hs_new(a.crypto, true, &hi), 0);
	assert_int_equal(ovl_hs_new(b.crypto, false, &hr), 0);
	assert_int_equal(run(hi, hr, H_NOW, 4096, &si, &sr), 3);
	assert_int_equal(si, OVL_HS_DONE);
	assert_int_equal(sr, OVL_HS_DONE);
	assert_int_equal(ovl_hs_result(hi, &ri), 0);
	assert_int_equal(ovl_hs_result(hr, &rr), 0);
	assert_memory_equal(ri.keys, rr.keys, OVL_HS_KEYS_LEN);
	/* the two directions use different keys */
	assert_memory_not_equal(ri.keys, ri.keys + OVL_AEAD_KEY_LEN, OVL_AEAD_KEY_LEN);
	assert_string_equal(ri.peer.name, "bob");
	assert_string_equal(rr.peer.name, "alice");
	assert_memory_equal(ri.peer.addr.b, ovl_crypto_self(b.crypto)->addr.b, CERT_ADDR_LEN);
	assert_memory_equal(rr.peer.addr.b, ovl_crypto_self(a.crypto)->addr.b, CERT_ADDR_LEN);
	assert_int_equal(ri.alg, rr.alg);
	ovl_hs_free(hi);
	ovl_hs_free(hr);
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_two_handshakes_between_same_pair_get_fresh_keys(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_P256);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	uint8_t first[OVL_HS_KEYS_LEN];

	(void)state;
	for (int round = 0; round < 2; round++) {
		struct ovl_hs *hi, *hr;
		struct ovl_hs_result r;
		enum ovl_hs_status si, sr;

		assert_int_equal(ovl_hs_new(a.crypto, true, &hi), 0);
		assert_int_equal(ovl_hs_new(b.crypto, false, &hr), 0);
		run(hi, hr, H_NOW, 4096, &si, &sr);
		assert_int_equal(si, OVL_HS_DONE);
		assert_int_equal(sr, OVL_HS_DONE);
		assert_int_equal(ovl_hs_result(hi, &r), 0);
		if (round == 0)
			memcpy(first, r.keys, sizeof(first));
		else
			assert_memory_not_equal(first, r.keys, sizeof(first));
		ovl_hs_free(hi);
		ovl_hs_free(hr);
	}
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_handshake_survives_byte_by_byte_delivery(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	struct ovl_hs *hi, *hr;
	enum ovl_hs_status si, sr;

	(void)state;
	assert_int_equal(ovl_hs_new(a.crypto, true, &hi), 0);
	assert_int_equal(ovl_hs_new(b.crypto, false, &hr), 0);
	run(hi, hr, H_NOW, 1, &si, &sr);
	assert_int_equal(si, OVL_HS_DONE);
	assert_int_equal(sr, OVL_HS_DONE);
	ovl_hs_free(hi);
	ovl_hs_free(hr);
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

/* Runs a handshake expected to fail on the responder's side with `why`. */
static void expect_refused(struct member *ini, struct member *resp, time_t now, const char *why)
{
	struct ovl_hs *hi, *hr;
	enum ovl_hs_status si, sr;

	assert_int_equal(ovl_hs_new(ini->crypto, true, &hi), 0);
	assert_int_equal(ovl_hs_new(resp->crypto, false, &hr), 0);
	run(hi, hr, now, 4096, &si, &sr);
	if (sr != OVL_HS_FAILED && si != OVL_HS_FAILED)
		fail_msg("handshake did not fail (want '%s')", why);
	/* Whoever judged the stranger's certificate says why. */
	if (!strstr(ovl_hs_reason(hr), why) && !strstr(ovl_hs_reason(hi), why))
		fail_msg("reasons '%s' / '%s' do not contain '%s'", ovl_hs_reason(hi),
		         ovl_hs_reason(hr), why);
	/* Never both done. (A TLS 1.3 client is done once it has sent its
	 * Finished, before the server judged its certificate: that is why the
	 * link layer waits for the responder's key confirmation.) */
	assert_false(si == OVL_HS_DONE && sr == OVL_HS_DONE);
	{
		struct ovl_hs_result r;

		if (sr != OVL_HS_DONE)
			assert_int_equal(ovl_hs_result(hr, &r), -EINVAL);
	}
	ovl_hs_free(hi);
	ovl_hs_free(hr);
}

static void tls_refuses_foreign_ca(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct cert_ca *other = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), m = member_of(other, "mallory");

	(void)state;
	expect_refused(&m, &a, H_NOW, "wrong CA"); /* stranger initiates */
	expect_refused(&a, &m, H_NOW, "wrong CA"); /* stranger responds */
	member_free(&a);
	member_free(&m);
	cert_ca_free(ca);
	cert_ca_free(other);
}

static void tls_refuses_expired_and_not_yet_valid(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");

	(void)state;
	expect_refused(&a, &b, H_NODE_END + H_DAY, "expired");
	expect_refused(&a, &b, H_NODE_START - H_DAY, "not yet valid");
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_refuses_revoked_after_crl_update(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	struct cert_info bi = h_info(b.cert);
	struct ovl_hs *hi, *hr;
	enum ovl_hs_status si, sr;
	char *crl;

	(void)state;
	assert_int_equal(cert_ca_revoke(ca, bi.serial, H_NOW, NULL), 0);
	crl = h_crl_pem(ca);
	/* Before alice learns the new CRL, bob still gets in. */
	assert_int_equal(ovl_hs_new(b.crypto, true, &hi), 0);
	assert_int_equal(ovl_hs_new(a.crypto, false, &hr), 0);
	run(hi, hr, H_NOW, 4096, &si, &sr);
	assert_int_equal(sr, OVL_HS_DONE);
	ovl_hs_free(hi);
	ovl_hs_free(hr);
	/* After it, no new link; an older CRL does not undo it. */
	assert_int_equal(ovl_crypto_update_crl(a.crypto, crl, strlen(crl)), 0);
	assert_int_equal(ovl_crypto_update_crl(a.crypto, crl, strlen(crl)), -EALREADY);
	expect_refused(&b, &a, H_NOW, "revoked");
	free(crl);
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_garbage_input_fails_cleanly(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice");
	uint8_t junk[600];
	struct ovl_hs *h;

	(void)state;
	for (int role = 0; role < 2; role++) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 37 + 11);
		assert_int_equal(ovl_hs_new(a.crypto, role == 1, &h), 0);
		if (role == 1)
			ovl_hs_input(h, H_NOW, NULL, 0);
		assert_int_equal(ovl_hs_input(h, H_NOW, junk, sizeof(junk)), OVL_HS_FAILED);
		assert_true(strlen(ovl_hs_reason(h)) > 0);
		/* once failed, it stays failed */
		assert_int_equal(ovl_hs_input(h, H_NOW, junk, 10), OVL_HS_FAILED);
		ovl_hs_free(h);
	}
	member_free(&a);
	cert_ca_free(ca);
}

static void tls_refuses_oversized_stream(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice");
	uint8_t *big = calloc(1, OVL_HS_STREAM_MAX + 1);
	struct ovl_hs *h;

	(void)state;
	assert_non_null(big);
	assert_int_equal(ovl_hs_new(a.crypto, false, &h), 0);
	assert_int_equal(ovl_hs_input(h, H_NOW, big, OVL_HS_STREAM_MAX + 1), OVL_HS_FAILED);
	ovl_hs_free(h);
	free(big);
	member_free(&a);
	cert_ca_free(ca);
}

/* ---- signed statements (TLS crypto) -------------------------------------- */

static const uint8_t stmt[] = "key=42 value=hello";

/* ovl_crypto_verify returns want; on failure, why contains why_has. */
static void expect_verify(struct ovl_crypto *c, time_t now, const uint8_t *cert, size_t clen,
                          const uint8_t *msg, size_t len, const uint8_t *sig, int want,
                          const char *why_has)
{
	struct cert_info signer;
	char why[256] = "";
	int rc = ovl_crypto_verify(c, now, cert, clen, msg, len, sig, &signer, why, sizeof(why));

	if (rc != want)
		fail_msg("verify: rc %d, want %d (why: '%s')", rc, want, why);
	if (want < 0)
		assert_msg_has(why, why_has);
}

/* Signs stmt with m; returns m's certificate blob (borrowed). */
static const uint8_t *signed_by(struct ovl_crypto *c, uint8_t sig[OVL_SIG_LEN], size_t *clen)
{
	assert_int_equal(ovl_crypto_sign(c, stmt, sizeof(stmt), sig), 0);
	return ovl_crypto_cert(c, clen);
}

static void tls_signed_statement_verifies_and_names_its_signer(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	uint8_t sig[OVL_SIG_LEN], sig2[OVL_SIG_LEN];
	struct cert_info signer;
	char why[256] = "";
	size_t clen;
	const uint8_t *cert = signed_by(a.crypto, sig, &clen);

	(void)state;
	for (int round = 0; round < 2; round++) { /* the second one from the cache */
		memset(&signer, 0, sizeof(signer));
		assert_int_equal(ovl_crypto_verify(b.crypto, H_NOW, cert, clen, stmt, sizeof(stmt),
		                                   sig, &signer, why, sizeof(why)),
		                 0);
		assert_memory_equal(signer.addr.b, ovl_crypto_self(a.crypto)->addr.b,
		                    CERT_ADDR_LEN);
		assert_string_equal(signer.name, "alice");
	}
	/* The signer can check its own statement; Ed25519 signatures are deterministic. */
	expect_verify(a.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, 0, NULL);
	assert_int_equal(ovl_crypto_sign(a.crypto, stmt, sizeof(stmt), sig2), 0);
	assert_memory_equal(sig, sig2, OVL_SIG_LEN);
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_certificate_blob_is_the_node_certificate_der(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice");
	unsigned char *der = NULL;
	int der_len = i2d_X509(a.cert, &der);
	size_t clen;
	const uint8_t *cert = ovl_crypto_cert(a.crypto, &clen);

	(void)state;
	assert_true(der_len > 0);
	assert_int_equal(clen, (size_t)der_len);
	assert_memory_equal(cert, der, clen);
	assert_true(clen <= OVL_CERT_WIRE_MAX);
	OPENSSL_free(der);
	member_free(&a);
	cert_ca_free(ca);
}

static void tls_verify_refuses_changed_message_or_signature(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	uint8_t sig[OVL_SIG_LEN], bad_sig[OVL_SIG_LEN], msg[sizeof(stmt)];
	size_t clen;
	const uint8_t *cert = signed_by(a.crypto, sig, &clen);

	(void)state;
	/* First a good one, so the certificate is cached: the cache must not skip the signature. */
	expect_verify(b.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, 0, NULL);
	for (size_t i = 0; i < sizeof(stmt); i += 5) {
		memcpy(msg, stmt, sizeof(stmt));
		msg[i] ^= 0x01;
		expect_verify(b.crypto, H_NOW, cert, clen, msg, sizeof(msg), sig, -EBADMSG,
		              "bad signature");
	}
	expect_verify(b.crypto, H_NOW, cert, clen, stmt, sizeof(stmt) - 1, sig, -EBADMSG,
	              "bad signature");
	for (size_t i = 0; i < OVL_SIG_LEN; i += 7) {
		memcpy(bad_sig, sig, OVL_SIG_LEN);
		bad_sig[i] ^= 0x80;
		expect_verify(b.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), bad_sig, -EBADMSG,
		              "bad signature");
	}
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_verify_refuses_signature_under_another_members_certificate(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	uint8_t sig[OVL_SIG_LEN], unused[OVL_SIG_LEN];
	size_t clen;
	const uint8_t *bob_cert = signed_by(b.crypto, unused, &clen);

	(void)state;
	/* bob's valid certificate with alice's signature: bob did not say it. */
	assert_int_equal(ovl_crypto_sign(a.crypto, stmt, sizeof(stmt), sig), 0);
	expect_verify(a.crypto, H_NOW, bob_cert, clen, stmt, sizeof(stmt), sig, -EBADMSG,
	              "bad signature");
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_verify_refuses_foreign_group_certificate(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct cert_ca *other = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), m = member_of(other, "mallory");
	uint8_t sig[OVL_SIG_LEN];
	size_t clen;
	const uint8_t *cert = signed_by(m.crypto, sig, &clen);

	(void)state;
	/* Same namespace, same network, well signed: only the CA differs. */
	expect_verify(m.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, 0, NULL);
	expect_verify(a.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, -EPERM,
	              "certificate: wrong CA");
	member_free(&a);
	member_free(&m);
	cert_ca_free(ca);
	cert_ca_free(other);
}

static void tls_verify_refuses_signer_outside_certificate_dates(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	uint8_t sig[OVL_SIG_LEN];
	size_t clen;
	const uint8_t *cert = signed_by(a.crypto, sig, &clen);

	(void)state;
	/* Cached at H_NOW; a cached verdict holds only near the time it was reached. */
	expect_verify(b.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, 0, NULL);
	expect_verify(b.crypto, H_NODE_END + H_DAY, cert, clen, stmt, sizeof(stmt), sig, -EPERM,
	              "expired");
	expect_verify(b.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, 0, NULL);
	expect_verify(b.crypto, H_NODE_START - H_DAY, cert, clen, stmt, sizeof(stmt), sig, -EPERM,
	              "not yet valid");
	/* Cached a second before it ends, it still ends on time. */
	expect_verify(b.crypto, H_NODE_END - 1, cert, clen, stmt, sizeof(stmt), sig, 0, NULL);
	expect_verify(b.crypto, H_NODE_END + 2, cert, clen, stmt, sizeof(stmt), sig, -EPERM,
	              "expired");
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_verify_refuses_revoked_signer(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	struct cert_info bi = h_info(b.cert);
	uint8_t sig[OVL_SIG_LEN];
	size_t clen;
	const uint8_t *cert = signed_by(b.crypto, sig, &clen);
	char *crl;

	(void)state;
	assert_int_equal(cert_ca_revoke(ca, bi.serial, H_NOW, NULL), 0);
	crl = h_crl_pem(ca);
	assert_int_equal(ovl_crypto_update_crl(a.crypto, crl, strlen(crl)), 0);
	expect_verify(a.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, -EPERM,
	              "certificate: revoked");
	free(crl);
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

static void tls_crl_update_empties_the_verified_certificate_cache(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob"),
	              c = member_of(ca, "carol");
	struct cert_info bi = h_info(b.cert);
	uint8_t sig_b[OVL_SIG_LEN], sig_c[OVL_SIG_LEN];
	size_t blen, clen;
	const uint8_t *bcert = signed_by(b.crypto, sig_b, &blen);
	const uint8_t *ccert = signed_by(c.crypto, sig_c, &clen);
	char *crl;

	(void)state;
	/* Both verified (and cached) under the old CRL... */
	expect_verify(a.crypto, H_NOW, bcert, blen, stmt, sizeof(stmt), sig_b, 0, NULL);
	expect_verify(a.crypto, H_NOW, ccert, clen, stmt, sizeof(stmt), sig_c, 0, NULL);
	assert_int_equal(cert_ca_revoke(ca, bi.serial, H_NOW, NULL), 0);
	crl = h_crl_pem(ca);
	/* ...a CRL that is not newer changes nothing... */
	assert_int_equal(ovl_crypto_update_crl(a.crypto, crl, strlen(crl)), 0);
	assert_int_equal(ovl_crypto_update_crl(a.crypto, crl, strlen(crl)), -EALREADY);
	/* ...and a few seconds later, within the cache's lifetime, bob is out; carol is not. */
	expect_verify(a.crypto, H_NOW + 5, bcert, blen, stmt, sizeof(stmt), sig_b, -EPERM,
	              "revoked");
	expect_verify(a.crypto, H_NOW + 5, ccert, clen, stmt, sizeof(stmt), sig_c, 0, NULL);
	free(crl);
	member_free(&a);
	member_free(&b);
	member_free(&c);
	cert_ca_free(ca);
}

static void tls_verify_stays_correct_when_more_signers_than_cache_slots(void **state)
{
	enum { N = 70 }; /* more than the cache holds (64) */
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member r = member_of(ca, "reader"), *w = calloc(N, sizeof(*w));
	uint8_t(*sig)[OVL_SIG_LEN] = calloc(N, OVL_SIG_LEN);

	(void)state;
	assert_non_null(w);
	assert_non_null(sig);
	for (int i = 0; i < N; i++) {
		char name[16];

		snprintf(name, sizeof(name), "w%d", i);
		w[i] = member_of(ca, name);
		assert_int_equal(ovl_crypto_sign(w[i].crypto, stmt, sizeof(stmt), sig[i]), 0);
	}
	/* Twice round: the second pass finds some evicted, some cached. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			struct cert_info signer;
			size_t clen;
			const uint8_t *cert = ovl_crypto_cert(w[i].crypto, &clen);
			char why[256] = "";

			assert_int_equal(ovl_crypto_verify(r.crypto, H_NOW + pass, cert, clen, stmt,
			                                   sizeof(stmt), sig[i], &signer, why,
			                                   sizeof(why)),
			                 0);
			assert_memory_equal(signer.addr.b, ovl_crypto_self(w[i].crypto)->addr.b,
			                    CERT_ADDR_LEN);
			/* someone else's signature under this certificate */
			expect_verify(r.crypto, H_NOW + pass, cert, clen, stmt, sizeof(stmt),
			              sig[(i + 1) % N], -EBADMSG, "bad signature");
		}
	}
	for (int i = 0; i < N; i++)
		member_free(&w[i]);
	free(w);
	free(sig);
	member_free(&r);
	cert_ca_free(ca);
}

static void tls_verify_refuses_malformed_certificate_bytes(void **state)
{
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct member a = member_of(ca, "alice"), b = member_of(ca, "bob");
	uint8_t sig[OVL_SIG_LEN], buf[OVL_CERT_WIRE_MAX + 1], junk[300];
	size_t clen;
	const uint8_t *cert = signed_by(a.crypto, sig, &clen);

	(void)state;
	/* Every truncation, good certificate cached or not. */
	for (size_t n = 1; n < clen; n++)
		expect_verify(b.crypto, H_NOW, cert, n, stmt, sizeof(stmt), sig, -EINVAL,
		              "malformed certificate");
	expect_verify(b.crypto, H_NOW, cert, clen, stmt, sizeof(stmt), sig, 0, NULL);
	expect_verify(b.crypto, H_NOW, cert, clen - 1, stmt, sizeof(stmt), sig, -EINVAL,
	              "malformed certificate");
	/* Trailing bytes after a whole certificate. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, cert, clen);
	expect_verify(b.crypto, H_NOW, buf, clen + 1, stmt, sizeof(stmt), sig, -EINVAL,
	              "malformed certificate");
	/* Garbage, and a certificate-sized nothing. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	expect_verify(b.crypto, H_NOW, junk, sizeof(junk), stmt, sizeof(stmt), sig, -EINVAL,
	              "malformed certificate");
	/* Lengths outside 1..OVL_CERT_WIRE_MAX are refused before parsing. */
	expect_verify(b.crypto, H_NOW, cert, 0, stmt, sizeof(stmt), sig, -EINVAL, "certificate");
	expect_verify(b.crypto, H_NOW, buf, OVL_CERT_WIRE_MAX + 1, stmt, sizeof(stmt), sig, -EINVAL,
	              "certificate of 1025 bytes");
	member_free(&a);
	member_free(&b);
	cert_ca_free(ca);
}

/* ---- the simulator stand-in ------------------------------------------- */

static struct cert_info sim_identity(const char *name, const char *ns, uint8_t fill)
{
	struct cert_info i;

	memset(&i, 0, sizeof(i));
	snprintf(i.name, sizeof(i.name), "%s", name);
	snprintf(i.namespace, sizeof(i.namespace), "%s", ns);
	memset(i.addr.b, fill, CERT_ADDR_LEN);
	return i;
}

static void sim_handshake_has_tls_shape_and_agrees_on_keys(void **state)
{
	struct cert_info ia = sim_identity("a", "grp", 0xaa), ib = sim_identity("b", "grp", 0xbb);
	struct ovl_crypto *ca, *cb;
	struct ovl_hs *hi, *hr;
	struct ovl_hs_result ri, rr;
	enum ovl_hs_status si, sr;

	(void)state;
	assert_int_equal(ovl_crypto_sim_new(&ia, &ca), 0);
	assert_int_equal(ovl_crypto_sim_new(&ib, &cb), 0);
	for (size_t chunk = 1; chunk <= 4096; chunk *= 64) {
		assert_int_equal(ovl_hs_new(ca, true, &hi), 0);
		assert_int_equal(ovl_hs_new(cb, false, &hr), 0);
		assert_int_equal(run(hi, hr, H_NOW, chunk, &si, &sr), 3);
		assert_int_equal(si, OVL_HS_DONE);
		assert_int_equal(sr, OVL_HS_DONE);
		assert_int_equal(ovl_hs_result(hi, &ri), 0);
		assert_int_equal(ovl_hs_result(hr, &rr), 0);
		assert_memory_equal(ri.keys, rr.keys, OVL_HS_KEYS_LEN);
		assert_string_equal(ri.peer.name, "b");
		assert_memory_equal(rr.peer.addr.b, ia.addr.b, CERT_ADDR_LEN);
		ovl_hs_free(hi);
		ovl_hs_free(hr);
	}
	ovl_crypto_free(ca);
	ovl_crypto_free(cb);
}

static void sim_refuses_other_namespace_and_garbage(void **state)
{
	struct cert_info ia = sim_identity("a", "grp", 1), ib = sim_identity("b", "other", 2);
	struct ovl_crypto *ca, *cb;
	struct ovl_hs *hi, *hr;
	enum ovl_hs_status si, sr;
	uint8_t junk[900] = {1, 2, 3};

	(void)state;
	assert_int_equal(ovl_crypto_sim_new(&ia, &ca), 0);
	assert_int_equal(ovl_crypto_sim_new(&ib, &cb), 0);
	assert_int_equal(ovl_hs_new(ca, true, &hi), 0);
	assert_int_equal(ovl_hs_new(cb, false, &hr), 0);
	run(hi, hr, H_NOW, 4096, &si, &sr);
	assert_int_equal(sr, OVL_HS_FAILED);
	assert_non_null(strstr(ovl_hs_reason(hr), "wrong namespace"));
	ovl_hs_free(hi);
	ovl_hs_free(hr);
	assert_int_equal(ovl_hs_new(cb, false, &hr), 0);
	assert_int_equal(ovl_hs_input(hr, H_NOW, junk, sizeof(junk)), OVL_HS_FAILED);
	ovl_hs_free(hr);
	ovl_crypto_free(ca);
	ovl_crypto_free(cb);
}

static void sim_signed_statement_verifies_and_names_its_signer(void **state)
{
	struct cert_info ia = sim_identity("a", "grp", 0xaa), ib = sim_identity("b", "grp", 0xbb);
	struct ovl_crypto *ca, *cb;
	uint8_t sig[OVL_SIG_LEN];
	struct cert_info signer;
	char why[128] = "";
	size_t clen;
	const uint8_t *cert;

	(void)state;
	assert_int_equal(ovl_crypto_sim_new(&ia, &ca), 0);
	assert_int_equal(ovl_crypto_sim_new(&ib, &cb), 0);
	cert = signed_by(ca, sig, &clen);
	assert_true(clen > CERT_ADDR_LEN && clen <= OVL_CERT_WIRE_MAX);
	assert_int_equal(ovl_crypto_verify(cb, H_NOW, cert, clen, stmt, sizeof(stmt), sig, &signer,
	                                   why, sizeof(why)),
	                 0);
	assert_memory_equal(signer.addr.b, ia.addr.b, CERT_ADDR_LEN);
	assert_string_equal(signer.name, "a");
	assert_string_equal(signer.namespace, "grp");
	/* signer may be NULL */
	assert_int_equal(ovl_crypto_verify(cb, H_NOW, cert, clen, stmt, sizeof(stmt), sig, NULL,
	                                   why, sizeof(why)),
	                 0);
	ovl_crypto_free(ca);
	ovl_crypto_free(cb);
}

static void sim_verify_refuses_changes_other_namespace_and_bad_blobs(void **state)
{
	struct cert_info ia = sim_identity("a", "grp", 0xaa), ib = sim_identity("b", "grp", 0xbb);
	struct cert_info io = sim_identity("o", "other", 0xcc);
	struct ovl_crypto *ca, *cb, *co;
	uint8_t sig[OVL_SIG_LEN], bad[OVL_SIG_LEN], msg[sizeof(stmt)], blob[OVL_CERT_WIRE_MAX + 1];
	size_t clen, olen;
	const uint8_t *cert, *ocert;

	(void)state;
	assert_int_equal(ovl_crypto_sim_new(&ia, &ca), 0);
	assert_int_equal(ovl_crypto_sim_new(&ib, &cb), 0);
	assert_int_equal(ovl_crypto_sim_new(&io, &co), 0);
	cert = signed_by(ca, sig, &clen);
	memcpy(msg, stmt, sizeof(stmt));
	msg[3] ^= 1;
	expect_verify(cb, H_NOW, cert, clen, msg, sizeof(msg), sig, -EBADMSG, "bad signature");
	memcpy(bad, sig, OVL_SIG_LEN);
	bad[OVL_SIG_LEN - 1] ^= 1;
	expect_verify(cb, H_NOW, cert, clen, stmt, sizeof(stmt), bad, -EBADMSG, "bad signature");
	/* The signature binds the claimed identity: a's signature under b's blob fails. */
	{
		size_t blen;
		const uint8_t *bcert = ovl_crypto_cert(cb, &blen);

		expect_verify(cb, H_NOW, bcert, blen, stmt, sizeof(stmt), sig, -EBADMSG,
		              "bad signature");
	}
	ocert = signed_by(co, sig, &olen);
	expect_verify(cb, H_NOW, ocert, olen, stmt, sizeof(stmt), sig, -EPERM,
	              "certificate: wrong namespace");
	/* Truncated and trailing blobs. */
	for (size_t n = 1; n < clen; n++)
		expect_verify(cb, H_NOW, cert, n, stmt, sizeof(stmt), sig, -EINVAL,
		              "malformed certificate");
	memset(blob, 0, sizeof(blob));
	memcpy(blob, cert, clen);
	expect_verify(cb, H_NOW, blob, clen + 1, stmt, sizeof(stmt), sig, -EINVAL,
	              "malformed certificate");
	expect_verify(cb, H_NOW, blob, OVL_CERT_WIRE_MAX + 1, stmt, sizeof(stmt), sig, -EINVAL,
	              "certificate of 1025 bytes");
	expect_verify(cb, H_NOW, blob, 0, stmt, sizeof(stmt), sig, -EINVAL, "certificate");
	/* A name length over CERT_NAME_MAX. */
	blob[CERT_ADDR_LEN] = CERT_NAME_MAX + 1;
	expect_verify(cb, H_NOW, blob, 200, stmt, sizeof(stmt), sig, -EINVAL,
	              "malformed certificate");
	ovl_crypto_free(ca);
	ovl_crypto_free(cb);
	ovl_crypto_free(co);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(tls_members_agree_on_keys_and_learn_each_other),
	        cmocka_unit_test(tls_two_handshakes_between_same_pair_get_fresh_keys),
	        cmocka_unit_test(tls_handshake_survives_byte_by_byte_delivery),
	        cmocka_unit_test(tls_refuses_foreign_ca),
	        cmocka_unit_test(tls_refuses_expired_and_not_yet_valid),
	        cmocka_unit_test(tls_refuses_revoked_after_crl_update),
	        cmocka_unit_test(tls_garbage_input_fails_cleanly),
	        cmocka_unit_test(tls_refuses_oversized_stream),
	        cmocka_unit_test(tls_signed_statement_verifies_and_names_its_signer),
	        cmocka_unit_test(tls_certificate_blob_is_the_node_certificate_der),
	        cmocka_unit_test(tls_verify_refuses_changed_message_or_signature),
	        cmocka_unit_test(tls_verify_refuses_signature_under_another_members_certificate),
	        cmocka_unit_test(tls_verify_refuses_foreign_group_certificate),
	        cmocka_unit_test(tls_verify_refuses_signer_outside_certificate_dates),
	        cmocka_unit_test(tls_verify_refuses_revoked_signer),
	        cmocka_unit_test(tls_crl_update_empties_the_verified_certificate_cache),
	        cmocka_unit_test(tls_verify_stays_correct_when_more_signers_than_cache_slots),
	        cmocka_unit_test(tls_verify_refuses_malformed_certificate_bytes),
	        cmocka_unit_test(sim_handshake_has_tls_shape_and_agrees_on_keys),
	        cmocka_unit_test(sim_refuses_other_namespace_and_garbage),
	        cmocka_unit_test(sim_signed_statement_verifies_and_names_its_signer),
	        cmocka_unit_test(sim_verify_refuses_changes_other_namespace_and_bad_blobs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
