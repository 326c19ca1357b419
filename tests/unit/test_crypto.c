// SPDX-License-Identifier: MIT
/* Unit tests: the link handshake (overlay/crypto*): real TLS 1.3 and the simulator stand-in. */
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
	        cmocka_unit_test(sim_handshake_has_tls_shape_and_agrees_on_keys),
	        cmocka_unit_test(sim_refuses_other_namespace_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
