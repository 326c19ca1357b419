// SPDX-License-Identifier: MIT
/*
 * Unit tests for certs/: value types, names, keys and PEM, the group CA,
 * issuing, verification, the CRL, the CA directory and the file helpers.
 * Bundles are in test_bundle.c. Every refusal is checked for its return code
 * and for a non-empty message; the sanitizer build checks nothing leaks.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define NS  "demo"
#define NET "10.7.0.0/24"

/* ---- overlay addresses ------------------------------------------------ */

static void test_addr_hex_round_trip(void **state)
{
	struct cert_addr a, b;
	char hex[CERT_ADDR_HEX_LEN + 1], upper[CERT_ADDR_HEX_LEN + 1];

	(void)state;
	for (size_t i = 0; i < CERT_ADDR_LEN; i++)
		a.b[i] = (uint8_t)(i * 37 + 0xa5);
	cert_addr_hex(&a, hex);
	assert_int_equal(strlen(hex), CERT_ADDR_HEX_LEN);
	assert_int_equal(strspn(hex, "0123456789abcdef"), CERT_ADDR_HEX_LEN);
	memset(&b, 0, sizeof(b));
	assert_int_equal(cert_addr_from_hex(hex, &b), 0);
	assert_memory_equal(a.b, b.b, CERT_ADDR_LEN);
	/* Either case is accepted. */
	for (size_t i = 0; i <= CERT_ADDR_HEX_LEN; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	memset(&b, 0, sizeof(b));
	assert_int_equal(cert_addr_from_hex(upper, &b), 0);
	assert_memory_equal(a.b, b.b, CERT_ADDR_LEN);
}

static void test_addr_hex_known_value(void **state)
{
	struct cert_addr a;
	char hex[CERT_ADDR_HEX_LEN + 1];

	(void)state;
	for (size_t i = 0; i < CERT_ADDR_LEN; i++)
		a.b[i] = (uint8_t)i;
	a.b[19] = 0xff;
	cert_addr_hex(&a, hex);
	assert_string_equal(hex, "000102030405060708090a0b0c0d0e0f101112ff");
}

static void test_addr_from_hex_rejects_bad_length_and_non_hex(void **state)
{
	static const char *const bad[] = {
	        "",
	        "00",
	        "000102030405060708090a0b0c0d0e0f1011121",   /* 39 */
	        "000102030405060708090a0b0c0d0e0f10111213f", /* 41 */
	        "000102030405060708090a0b0c0d0e0f1011121g",  /* g */
	        "000102030405060708090a0b0c0d0e0f1011121 ",  /* space */
	        "0x0102030405060708090a0b0c0d0e0f10111213",  /* 0x */
	        "-00102030405060708090a0b0c0d0e0f10111213",
	};
	struct cert_addr a, before;

	(void)state;
	memset(&a, 0x5a, sizeof(a));
	before = a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cert_addr_from_hex(bad[i], &a) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_memory_equal(a.b, before.b, CERT_ADDR_LEN); /* untouched */
	}
	assert_int_equal(cert_addr_from_hex(NULL, &a), -EINVAL);
}

/* SHA-256(ns || DER SPKI), first 20 bytes, computed here without certs/. */
static void expected_addr(const char *ns, EVP_PKEY *k, uint8_t out[CERT_ADDR_LEN])
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int n = i2d_PUBKEY(k, &der);

	assert_true(n > 0);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, ns, strlen(ns)), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, der, (size_t)n), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &mdlen), 1);
	assert_int_equal(mdlen, 32);
	memcpy(out, md, CERT_ADDR_LEN);
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
}

static void test_addr_of_key_is_sha256_of_namespace_and_spki(void **state)
{
	struct cert_err err = {{0}};
	uint8_t want[CERT_ADDR_LEN];
	struct cert_addr a;

	(void)state;
	for (int algo = 0; algo < CERT_ALGO_MAX; algo++) {
		EVP_PKEY *k = h_key((enum cert_algo)algo);

		expected_addr(NS, k, want);
		memset(&a, 0, sizeof(a));
		assert_int_equal(cert_addr_of_key(NS, k, &a, &err), 0);
		assert_memory_equal(a.b, want, CERT_ADDR_LEN);
		EVP_PKEY_free(k);
	}
	assert_err(cert_addr_of_key(NS, NULL, &a, &err), -EINVAL, err);
}

static void test_addr_same_key_differs_between_namespaces(void **state)
{
	struct cert_err err = {{0}};
	struct cert_addr a, b;
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);

	(void)state;
	assert_int_equal(cert_addr_of_key("alpha", k, &a, &err), 0);
	assert_int_equal(cert_addr_of_key("beta", k, &b, &err), 0);
	assert_memory_not_equal(a.b, b.b, CERT_ADDR_LEN);
	EVP_PKEY_free(k);
}

static void test_info_addr_is_addr_of_cert_key(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	X509 *x = h_issue(ca, k, "node1", NULL);
	struct cert_info info = h_info(x);
	uint8_t want[CERT_ADDR_LEN];

	(void)state;
	expected_addr(NS, k, want);
	assert_memory_equal(info.addr.b, want, CERT_ADDR_LEN);
	X509_free(x);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

/* ---- networks, names, endpoints, enums -------------------------------- */

static void test_network_parse_accepts_good_cidrs(void **state)
{
	static const struct {
		const char *cidr;
		uint32_t addr;
		uint8_t prefix;
	} good[] = {
	        {"10.0.0.0/8", 0x0a000000, 8},      {"100.64.0.0/10", 0x64400000, 10},
	        {"192.168.1.0/24", 0xc0a80100, 24}, {"10.7.0.0/16", 0x0a070000, 16},
	        {"128.0.0.0/1", 0x80000000, 1},     {"10.0.0.4/30", 0x0a000004, 30},
	        {"172.16.0.0/012", 0xac100000, 12},
	};
	struct cert_err err = {{0}};
	char buf[CERT_NET_STR];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct cert_network n = {0, 0};

		if (cert_network_parse(good[i].cidr, &n, &err) != 0)
			fail_msg("refused '%s': %s", good[i].cidr, err.msg);
		assert_int_equal(n.addr, good[i].addr);
		assert_int_equal(n.prefix, good[i].prefix);
		cert_network_format(&n, buf);
		if (i != 6) /* "012" formats as "12" */
			assert_string_equal(buf, good[i].cidr);
	}
}

static void test_network_parse_rejects_bad_input_with_message(void **state)
{
	static const char *const bad[] = {
	        "10.0.0.1/24", /* host bits set */
	        "10.7.0.0/8",  /* host bits set */
	        "0.0.0.0/0",   /* prefix 0 */
	        "10.0.0.0/31", /* no hosts */
	        "10.0.0.0/32", /* no hosts */
	        "10.0.0.0/33", /* out of range */
	        "10.0.0.0/99999999999999999999",
	        "10.0.0.0/-8",
	        "10.0.0.0/+8",
	        "10.0.0.0/ 8",
	        "10.0.0.0/8x",
	        "10.0.0.0/",
	        "10.0.0.0",
	        "/8",
	        "",
	        "garbage",
	        "garbage/8",
	        "10.0.0/8",
	        "256.0.0.0/8",
	        " 10.0.0.0/8",
	        "fd00::/64",
	        "::/0",
	        "10.0.0.0/8/8",
	        "10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0/8",
	};
	struct cert_network n = {0x01020300, 24};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cert_err err = {{0}};
		int rc = cert_network_parse(bad[i], &n, &err);

		if (rc != -EINVAL || !err.msg[0])
			fail_msg("'%s': rc %d msg '%s'", bad[i], rc, err.msg);
		/* out is untouched on failure */
		assert_int_equal(n.addr, 0x01020300);
		assert_int_equal(n.prefix, 24);
	}
	{
		struct cert_err err = {{0}};

		assert_err(cert_network_parse(NULL, &n, &err), -EINVAL, err);
		memset(&err, 0, sizeof(err));
		assert_err(cert_network_parse("10.0.0.1/24", &n, &err), -EINVAL, err);
		assert_msg_has(err.msg, "host bits");
		assert_msg_has(err.msg, "10.0.0.0/24"); /* the suggestion */
	}
	/* NULL err is allowed */
	assert_int_equal(cert_network_parse("nope", &n, NULL), -EINVAL);
}

static void test_network_has_host_excludes_network_and_broadcast(void **state)
{
	struct cert_network n;
	struct cert_err err = {{0}};

	(void)state;
	assert_int_equal(cert_network_parse("10.7.0.0/24", &n, &err), 0);
	assert_false(cert_network_has_host(&n, 0x0a070000)); /* network */
	assert_true(cert_network_has_host(&n, 0x0a070001));
	assert_true(cert_network_has_host(&n, 0x0a07007f));
	assert_true(cert_network_has_host(&n, 0x0a0700fe));
	assert_false(cert_network_has_host(&n, 0x0a0700ff)); /* broadcast */
	assert_false(cert_network_has_host(&n, 0x0a070100)); /* next network */
	assert_false(cert_network_has_host(&n, 0x0a06ffff));
	assert_false(cert_network_has_host(&n, 0));
	assert_false(cert_network_has_host(&n, 0xffffffff));

	assert_int_equal(cert_network_parse("10.0.0.4/30", &n, &err), 0);
	assert_false(cert_network_has_host(&n, 0x0a000004));
	assert_true(cert_network_has_host(&n, 0x0a000005));
	assert_true(cert_network_has_host(&n, 0x0a000006));
	assert_false(cert_network_has_host(&n, 0x0a000007));

	assert_int_equal(cert_network_parse("128.0.0.0/1", &n, &err), 0);
	assert_false(cert_network_has_host(&n, 0x80000000));
	assert_true(cert_network_has_host(&n, 0x80000001));
	assert_false(cert_network_has_host(&n, 0xffffffff));
	assert_false(cert_network_has_host(&n, 0x7fffffff));
}

static void test_name_valid_table(void **state)
{
	char n64[65], n65[66];
	static const char *const good[] = {
	        "a", "node1", "Node-1", "n_1", "a.b.c", "0", "9lives", "x-", "x.", "_x",
	};
	static const char *const bad[] = {
	        "", ".x", "-x", "a b", "a/b", "a:b", "a@b", "ü", "a\tb", "a\nb", "..", "a*",
	};

	(void)state;
	memset(n64, 'a', 64);
	n64[64] = '\0';
	memset(n65, 'a', 65);
	n65[65] = '\0';
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!cert_name_valid(good[i]))
			fail_msg("refused good name '%s'", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cert_name_valid(bad[i]))
			fail_msg("accepted bad name '%s'", bad[i]);
	assert_true(cert_name_valid(n64));
	assert_false(cert_name_valid(n65));
	assert_false(cert_name_valid(NULL));
}

static void test_endpoint_valid_table(void **state)
{
	static const char *const good[] = {
	        "1.2.3.4:7000",       "198.18.0.1:1", "boot.example.org:65535",
	        "localhost:80",       "[::1]:7000",   "[fd00::1]:443",
	        "[2001:db8::1]:7000", "a-b.c:1",      "host:00080",
	};
	static const char *const bad[] = {
	        "host:0",        "host:65536",   "host:99999", "host:123456", "host:",
	        ":7000",         "host",         "a:b:7000",   "::1:7000",    "[::1]",
	        "[::1]7000",     "[::1]:0",      "[::1:7000",  "[]:7000",     "[1.2.3.4]:7000",
	        "[nothex]:7000", "host:-1",      "host:+80",   "host:80 ",    " host:80",
	        "ho st:80",      "host..org:80", ".host:80",   "host.:80",    "-host:80",
	        "host_name:80",  "host:8o",      "",
	};
	char label64[80], long_host[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!cert_endpoint_valid(good[i]))
			fail_msg("refused good endpoint '%s'", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cert_endpoint_valid(bad[i]))
			fail_msg("accepted bad endpoint '%s'", bad[i]);
	assert_false(cert_endpoint_valid(NULL));
	/* DNS label of 64 characters; a 63-character label is fine. */
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ":80");
	assert_false(cert_endpoint_valid(label64));
	memmove(label64 + 63, label64 + 64, 4);
	assert_true(cert_endpoint_valid(label64));
	/* host longer than 253 */
	for (size_t i = 0; i < 260; i++)
		long_host[i] = i % 10 == 9 ? '.' : 'a';
	strcpy(long_host + 260, ":80");
	assert_false(cert_endpoint_valid(long_host));
}

static void test_algo_parse_and_name(void **state)
{
	enum cert_algo a = CERT_ALGO_MAX;

	(void)state;
	assert_string_equal(cert_algo_name(CERT_ALGO_ED25519), "ed25519");
	assert_string_equal(cert_algo_name(CERT_ALGO_P256), "p256");
	assert_string_equal(cert_algo_name(CERT_ALGO_MAX), "?");
	for (int i = 0; i < CERT_ALGO_MAX; i++) {
		a = CERT_ALGO_MAX;
		assert_int_equal(cert_algo_parse(cert_algo_name((enum cert_algo)i), &a), 0);
		assert_int_equal(a, i);
	}
	a = CERT_ALGO_P256;
	assert_int_equal(cert_algo_parse("ED25519", &a), -EINVAL);
	assert_int_equal(cert_algo_parse("rsa", &a), -EINVAL);
	assert_int_equal(cert_algo_parse("", &a), -EINVAL);
	assert_int_equal(cert_algo_parse("?", &a), -EINVAL);
	assert_int_equal(cert_algo_parse(NULL, &a), -EINVAL);
	assert_int_equal(a, CERT_ALGO_P256); /* untouched */
}

static void test_verdict_names_distinct_and_known(void **state)
{
	(void)state;
	for (int i = 0; i < CERT_VERDICT_MAX; i++) {
		const char *n = cert_verdict_name((enum cert_verdict)i);

		assert_non_null(n);
		assert_true(n[0] != '\0');
		if (!strcmp(n, "?"))
			fail_msg("verdict %d has no name", i);
		for (int j = 0; j < i; j++)
			if (!strcmp(n, cert_verdict_name((enum cert_verdict)j)))
				fail_msg("verdicts %d and %d are both '%s'", j, i, n);
	}
	assert_string_equal(cert_verdict_name(CERT_VALID), "valid");
	assert_string_equal(cert_verdict_name(CERT_WRONG_CA), "wrong CA");
	assert_string_equal(cert_verdict_name(CERT_VERDICT_MAX), "?");
	assert_string_equal(cert_verdict_name((enum cert_verdict) - 1), "?");
}

/* ---- keys and PEM ----------------------------------------------------- */

static void test_key_generate_both_algos_and_refuses_unknown(void **state)
{
	struct cert_err err = {{0}};
	EVP_PKEY *k = NULL, *k2 = NULL;

	(void)state;
	assert_int_equal(cert_key_generate(CERT_ALGO_ED25519, &k, &err), 0);
	assert_int_equal(EVP_PKEY_is_a(k, "ED25519"), 1);
	assert_int_equal(cert_key_generate(CERT_ALGO_ED25519, &k2, &err), 0);
	assert_int_not_equal(EVP_PKEY_eq(k, k2), 1); /* fresh each time */
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	k = NULL;
	assert_int_equal(cert_key_generate(CERT_ALGO_P256, &k, &err), 0);
	assert_int_equal(EVP_PKEY_is_a(k, "EC"), 1);
	assert_int_equal(EVP_PKEY_get_bits(k), 256);
	EVP_PKEY_free(k);
	k = NULL;
	assert_err(cert_key_generate(CERT_ALGO_MAX, &k, &err), -EIO, err);
	assert_null(k);
}

static void test_key_pem_round_trip_both_algos(void **state)
{
	struct cert_err err = {{0}};

	(void)state;
	for (int algo = 0; algo < CERT_ALGO_MAX; algo++) {
		EVP_PKEY *k = h_key((enum cert_algo)algo), *back = NULL;
		char *pem = NULL;

		assert_int_equal(cert_key_to_pem(k, &pem, &err), 0);
		assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
		assert_int_equal(cert_key_from_pem(pem, strlen(pem), &back, &err), 0);
		assert_int_equal(EVP_PKEY_eq(k, back), 1);
		assert_int_equal(EVP_PKEY_is_a(back, algo == CERT_ALGO_ED25519 ? "ED25519" : "EC"),
		                 1);
		cert_secret_free(pem);
		EVP_PKEY_free(back);
		EVP_PKEY_free(k);
	}
	cert_secret_free(NULL);
}

static void test_key_from_pem_accepts_traditional_ec(void **state)
{
	EVP_PKEY *k = h_key(CERT_ALGO_P256), *back = NULL;
	struct cert_err err = {{0}};
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	(void)state;
	assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0, NULL, NULL),
	                 1);
	n = BIO_get_mem_data(bio, &data);
	assert_non_null(memmem(data, (size_t)n, "EC PRIVATE KEY", 14));
	assert_int_equal(cert_key_from_pem(data, (size_t)n, &back, &err), 0);
	assert_int_equal(EVP_PKEY_eq(k, back), 1);
	EVP_PKEY_free(back);
	BIO_free(bio);
	EVP_PKEY_free(k);
}

static void test_key_from_pem_refuses_encrypted_key(void **state)
{
	struct cert_err err = {{0}};

	(void)state;
	for (int algo = 0; algo < CERT_ALGO_MAX; algo++) {
		EVP_PKEY *k = h_key((enum cert_algo)algo), *back = NULL;
		BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long n;

		/* PKCS#8 "ENCRYPTED PRIVATE KEY" with a passphrase. */
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(),
		                                               (const char *)"secret", 6, NULL,
		                                               NULL),
		                 1);
		n = BIO_get_mem_data(bio, &data);
		assert_non_null(memmem(data, (size_t)n, "ENCRYPTED PRIVATE KEY", 21));
		memset(&err, 0, sizeof(err));
		assert_err(cert_key_from_pem(data, (size_t)n, &back, &err), -EINVAL, err);
		assert_null(back);
		BIO_free(bio);
		EVP_PKEY_free(k);
	}
	/* Encrypted with the empty passphrase: still encrypted, still refused. */
	{
		EVP_PKEY *k = h_key(CERT_ALGO_ED25519), *back = NULL;
		BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long n;

		assert_int_equal(
		        PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(), "", 0, NULL, NULL),
		        1);
		n = BIO_get_mem_data(bio, &data);
		assert_non_null(memmem(data, (size_t)n, "ENCRYPTED PRIVATE KEY", 21));
		memset(&err, 0, sizeof(err));
		assert_err(cert_key_from_pem(data, (size_t)n, &back, &err), -EINVAL, err);
		assert_null(back);
		BIO_free(bio);
		EVP_PKEY_free(k);
	}
	/* Traditional "Proc-Type: 4,ENCRYPTED" EC key. */
	{
		EVP_PKEY *k = h_key(CERT_ALGO_P256), *back = NULL;
		BIO *bio = BIO_new(BIO_s_mem());
		unsigned char pass[] = "secret";
		char *data;
		long n;

		assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, k, EVP_aes_128_cbc(),
		                                                      pass, 6, NULL, NULL),
		                 1);
		n = BIO_get_mem_data(bio, &data);
		assert_non_null(memmem(data, (size_t)n, "ENCRYPTED", 9));
		memset(&err, 0, sizeof(err));
		assert_err(cert_key_from_pem(data, (size_t)n, &back, &err), -EINVAL, err);
		assert_null(back);
		BIO_free(bio);
		EVP_PKEY_free(k);
	}
}

/* A parser of one PEM object: (text, len, out, err) → 0 or -errno. */
typedef int (*pem_parser)(const char *pem, size_t len, void **obj, struct cert_err *err);

static int parse_x509(const char *pem, size_t len, void **obj, struct cert_err *err)
{
	X509 *x = NULL;
	int rc = cert_x509_from_pem(pem, len, &x, err);

	*obj = x;
	return rc;
}

static int parse_key(const char *pem, size_t len, void **obj, struct cert_err *err)
{
	EVP_PKEY *k = NULL;
	int rc = cert_key_from_pem(pem, len, &k, err);

	*obj = k;
	return rc;
}

static int parse_crl(const char *pem, size_t len, void **obj, struct cert_err *err)
{
	struct cert_crl *c = NULL;
	int rc = cert_crl_from_pem(pem, len, &c, err);

	*obj = c;
	return rc;
}

static void free_obj(pem_parser p, void *obj)
{
	if (p == parse_x509)
		X509_free(obj);
	else if (p == parse_key)
		EVP_PKEY_free(obj);
	else
		cert_crl_free(obj);
}

static void expect_refused(pem_parser p, const char *what, const char *pem, size_t len, int want)
{
	struct cert_err err = {{0}};
	void *obj = NULL;
	int rc = p(pem, len, &obj, &err);

	if (rc >= 0) {
		free_obj(p, obj);
		fail_msg("%s: accepted", what);
	}
	if (want && rc != want)
		fail_msg("%s: rc %d, want %d (%s)", what, rc, want, err.msg);
	if (!err.msg[0])
		fail_msg("%s: rc %d with an empty message", what, rc);
	assert_null(obj);
}

/* Every way a PEM text can be wrong, for one parser and one good text. */
static void pem_bad_input(pem_parser p, const char *good, const char *other_kind)
{
	size_t n = strlen(good);
	char *buf = malloc(3 * n + 64), *big;
	void *obj = NULL;
	struct cert_err err = {{0}};

	assert_non_null(buf);
	/* The good text, plus trailing whitespace, is accepted. */
	assert_int_equal(p(good, n, &obj, &err), 0);
	free_obj(p, obj);
	snprintf(buf, 3 * n + 64, "%s \n\t\n", good);
	obj = NULL;
	assert_int_equal(p(buf, strlen(buf), &obj, &err), 0);
	free_obj(p, obj);

	expect_refused(p, "empty", "", 0, -EINVAL);
	expect_refused(p, "NULL", NULL, 0, -EINVAL);
	expect_refused(p, "whitespace", "  \n", 3, 0);
	expect_refused(p, "garbage", "hello, world\n", 13, -EINVAL);
	expect_refused(p, "binary garbage", "\x30\x82\x01\x0a\xff\xfe", 6, -EINVAL);
	expect_refused(p, "truncated", good, n / 2, -EINVAL);
	expect_refused(p, "truncated before END", good, n - 10, -EINVAL);
	/* Header only. */
	memcpy(buf, good, 40);
	expect_refused(p, "header only", buf, strchr(good, '\n') - good + 1, -EINVAL);
	/* Base64 body damaged. */
	memcpy(buf, good, n + 1);
	buf[n / 2] = buf[n / 2] == '!' ? '#' : '!';
	expect_refused(p, "damaged body", buf, n, -EINVAL);
	/* Another PEM object before ours (OpenSSL alone would skip it). */
	snprintf(buf, 3 * n + 64, "%s%s", other_kind, good);
	expect_refused(p, "another object first", buf, strlen(buf), -EINVAL);
	/* Two objects concatenated. */
	snprintf(buf, 3 * n + 64, "%s%s", good, good);
	expect_refused(p, "two concatenated", buf, 2 * n, -EINVAL);
	/* Trailing non-whitespace. */
	snprintf(buf, 3 * n + 64, "%sx", good);
	expect_refused(p, "trailing data", buf, n + 1, -EINVAL);
	/* Embedded NUL inside and right after. */
	memcpy(buf, good, n + 1);
	buf[n / 3] = '\0';
	expect_refused(p, "embedded NUL", buf, n, -EINVAL);
	memcpy(buf, good, n + 1);
	expect_refused(p, "NUL terminator counted", buf, n + 1, -EINVAL);
	/* A PEM object of another kind. */
	expect_refused(p, "other kind", other_kind, strlen(other_kind), -EINVAL);
	/* Over the cap, and 10 MB. */
	big = h_filled(CERT_PEM_MAX + 1, ' ');
	memcpy(big, good, n);
	expect_refused(p, "CERT_PEM_MAX + 1", big, CERT_PEM_MAX + 1, -EFBIG);
	free(big);
	big = h_filled(10 * 1024 * 1024, 'A');
	expect_refused(p, "10 MB", big, 10 * 1024 * 1024, -EFBIG);
	free(big);
	free(buf);
}

struct pem_fixture {
	struct cert_ca *ca;
	EVP_PKEY *key;
	X509 *cert;
	char *cert_pem, *key_pem, *crl_pem;
};

static void pem_fixture_init(struct pem_fixture *f)
{
	struct cert_err err = {{0}};

	f->ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	f->key = h_key(CERT_ALGO_ED25519);
	f->cert = h_issue(f->ca, f->key, "node1", NULL);
	assert_int_equal(cert_x509_to_pem(f->cert, &f->cert_pem, &err), 0);
	assert_int_equal(cert_key_to_pem(f->key, &f->key_pem, &err), 0);
	f->crl_pem = h_crl_pem(f->ca);
}

static void pem_fixture_free(struct pem_fixture *f)
{
	free(f->cert_pem);
	cert_secret_free(f->key_pem);
	free(f->crl_pem);
	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	cert_ca_free(f->ca);
}

static void test_x509_from_pem_refuses_bad_input(void **state)
{
	struct pem_fixture f;

	(void)state;
	pem_fixture_init(&f);
	pem_bad_input(parse_x509, f.cert_pem, f.crl_pem);
	pem_fixture_free(&f);
}

static void test_key_from_pem_refuses_bad_input(void **state)
{
	struct pem_fixture f;

	(void)state;
	pem_fixture_init(&f);
	pem_bad_input(parse_key, f.key_pem, f.cert_pem);
	pem_fixture_free(&f);
}

static void test_crl_from_pem_refuses_bad_input(void **state)
{
	struct pem_fixture f;

	(void)state;
	pem_fixture_init(&f);
	pem_bad_input(parse_crl, f.crl_pem, f.cert_pem);
	pem_fixture_free(&f);
}

static void test_x509_pem_round_trip(void **state)
{
	struct pem_fixture f;
	struct cert_err err = {{0}};
	X509 *back = NULL;
	char *again = NULL;

	(void)state;
	pem_fixture_init(&f);
	assert_non_null(strstr(f.cert_pem, "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(cert_x509_from_pem(f.cert_pem, strlen(f.cert_pem), &back, &err), 0);
	assert_int_equal(X509_cmp(back, f.cert), 0);
	assert_int_equal(cert_x509_to_pem(back, &again, &err), 0);
	assert_string_equal(again, f.cert_pem);
	free(again);
	X509_free(back);
	pem_fixture_free(&f);
}

/* ---- the CA and issuing ----------------------------------------------- */

static void test_ca_create_ed25519_and_p256(void **state)
{
	(void)state;
	for (int algo = 0; algo < CERT_ALGO_MAX; algo++) {
		struct cert_ca *ca = h_ca("grp.1", "100.64.0.0/10", (enum cert_algo)algo);
		X509 *x = cert_ca_x509(ca);
		EVP_PKEY *pub = X509_get0_pubkey(x);
		time_t nb, na;
		char net[CERT_NET_STR];

		assert_string_equal(cert_ca_namespace(ca), "grp.1");
		cert_network_format(cert_ca_network(ca), net);
		assert_string_equal(net, "100.64.0.0/10");
		assert_int_equal(EVP_PKEY_is_a(pub, algo == CERT_ALGO_ED25519 ? "ED25519" : "EC"),
		                 1);
		assert_int_equal(X509_check_ca(x), 1);
		assert_int_equal(X509_verify(x, pub), 1); /* self-signed */
		assert_int_equal(X509_check_issued(x, x), X509_V_OK);
		{
			struct tm tm;

			assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm), 1);
			nb = timegm(&tm);
			assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
			na = timegm(&tm);
		}
		assert_int_equal(nb, H_CA_START);
		assert_int_equal(na, H_CA_END);
		assert_non_null(cert_ca_crl(ca));
		assert_int_equal(X509_CRL_verify(cert_crl_x509(cert_ca_crl(ca)), pub), 1);
		cert_ca_free(ca);
	}
	cert_ca_free(NULL);
}

static void test_ca_create_refuses_bad_params(void **state)
{
	struct cert_ca_params good = {NS, NET, CERT_ALGO_ED25519, H_CA_START, H_CA_END}, p;
	struct cert_ca *ca = NULL;
	struct cert_err err;

	(void)state;
	p = good;
	p.namespace = "bad ns";
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_create(&p, &ca, &err), -EINVAL, err);
	assert_msg_has(err.msg, "namespace");
	p.namespace = NULL;
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_create(&p, &ca, &err), -EINVAL, err);
	p = good;
	p.network = "10.7.0.1/24";
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_create(&p, &ca, &err), -EINVAL, err);
	assert_msg_has(err.msg, "network");
	p.network = NULL;
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_create(&p, &ca, &err), -EINVAL, err);
	p = good;
	p.not_after = p.not_before;
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_create(&p, &ca, &err), -EINVAL, err);
	p = good;
	p.algo = CERT_ALGO_MAX;
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_create(&p, &ca, &err), -EINVAL, err);
	assert_null(ca);
}

static void test_issue_fills_info_fields(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	X509 *x = h_issue(ca, k, "node-1.a_b", "10.7.0.42");
	struct cert_info info = h_info(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = BN_bn2hex(bn), *p = hex;

	(void)state;
	assert_string_equal(info.name, "node-1.a_b");
	assert_string_equal(info.namespace, NS);
	assert_true(info.has_ip);
	assert_string_equal(info.ip, "10.7.0.42");
	assert_int_equal(info.not_before, H_NODE_START);
	assert_int_equal(info.not_after, H_NODE_END);
	/* Serial: lowercase hex without leading zeros, same number as the X509's. */
	assert_true(info.serial[0] != '\0');
	assert_int_equal(strspn(info.serial, "0123456789abcdef"), strlen(info.serial));
	assert_true(info.serial[0] != '0');
	assert_true(strlen(info.serial) <= 32); /* 127 bits */
	while (*p == '0' && p[1])
		p++;
	for (char *c = p; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'F' ? *c + 32 : *c);
	assert_string_equal(info.serial, p);
	/* The profile of docs/certs.md. */
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_int_equal(X509_check_issued(cert_ca_x509(ca), x), X509_V_OK);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);

	/* Without an IP; two certificates never share a serial. */
	{
		X509 *a = h_issue(ca, k, "n", NULL), *b = h_issue(ca, k, "n", NULL);
		struct cert_info ia = h_info(a), ib = h_info(b);

		assert_false(ia.has_ip);
		assert_string_equal(ia.ip, "");
		assert_string_not_equal(ia.serial, ib.serial);
		assert_memory_equal(ia.addr.b, ib.addr.b, CERT_ADDR_LEN); /* same key */
		X509_free(a);
		X509_free(b);
	}
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

static void test_issue_works_with_p256_ca(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_P256);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	X509 *x = h_issue(ca, k, "node1", "10.7.0.2");
	struct cert_trust *t = h_trust(ca);
	struct cert_err err = {{0}};

	(void)state;
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(cert_verify(t, x, H_NOW, NULL, &err), CERT_VALID);
	assert_string_equal(err.msg, "");
	cert_trust_free(t);
	X509_free(x);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

static int try_issue(struct cert_ca *ca, EVP_PKEY *k, const char *name, const char *ip, time_t nb,
                     time_t na, struct cert_err *err)
{
	struct cert_issue_params p = {name, ip, nb, na};
	X509 *x = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = cert_ca_issue(ca, k, &p, &x, err);
	if (rc == 0) {
		X509_free(x);
		return 0;
	}
	assert_null(x);
	return rc;
}

static void test_issue_refuses_bad_name(void **state)
{
	static const char *const bad[] = {"", "a b", ".x", "-x", "a/b", "CN=x", NULL};
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	struct cert_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_err(try_issue(ca, k, bad[i], NULL, H_NODE_START, H_NODE_END, &err), -EINVAL,
		           err);
		assert_msg_has(err.msg, "name");
	}
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

static void test_issue_refuses_non_ed25519_key(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_P256);
	struct cert_err err;

	(void)state;
	assert_err(try_issue(ca, k, "node1", NULL, H_NODE_START, H_NODE_END, &err), -EINVAL, err);
	assert_msg_has(err.msg, "Ed25519");
	assert_err(try_issue(ca, NULL, "node1", NULL, H_NODE_START, H_NODE_END, &err), -EINVAL,
	           err);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

static void test_issue_refuses_ip_outside_network(void **state)
{
	static const char *const bad[] = {
	        "10.8.0.1", "192.168.1.1", "10.7.1.1", "fd00::1", "10.7.0", "garbage", "",
	};
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	struct cert_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_err(try_issue(ca, k, "n", bad[i], H_NODE_START, H_NODE_END, &err), -EINVAL,
		           err);
	assert_int_equal(try_issue(ca, k, "n", "10.7.0.1", H_NODE_START, H_NODE_END, &err), 0);
	assert_int_equal(try_issue(ca, k, "n", "10.7.0.254", H_NODE_START, H_NODE_END, &err), 0);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

static void test_issue_refuses_network_and_broadcast_address(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	struct cert_err err;

	(void)state;
	assert_err(try_issue(ca, k, "n", "10.7.0.0", H_NODE_START, H_NODE_END, &err), -EINVAL, err);
	assert_msg_has(err.msg, "10.7.0.0/24");
	assert_err(try_issue(ca, k, "n", "10.7.0.255", H_NODE_START, H_NODE_END, &err), -EINVAL,
	           err);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

static void test_issue_clips_not_after_to_ca_end(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	struct cert_issue_params p = {"n", NULL, H_NOW, H_CA_END + 3650 * H_DAY};
	struct cert_err err = {{0}};
	struct cert_info info;
	X509 *x = NULL;

	(void)state;
	assert_int_equal(cert_ca_issue(ca, k, &p, &x, &err), 0);
	info = h_info(x);
	assert_int_equal(info.not_before, H_NOW);
	assert_int_equal(info.not_after, H_CA_END);
	X509_free(x);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

static void test_issue_refuses_empty_validity(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	struct cert_err err;

	(void)state;
	assert_err(try_issue(ca, k, "n", NULL, H_NOW, H_NOW, &err), -EINVAL, err);
	assert_err(try_issue(ca, k, "n", NULL, H_NOW, H_NOW - 1, &err), -EINVAL, err);
	/* Starting after the CA ends: clipping leaves nothing. */
	assert_err(try_issue(ca, k, "n", NULL, H_CA_END, H_CA_END + H_DAY, &err), -EINVAL, err);
	assert_int_equal(try_issue(ca, k, "n", NULL, H_NOW, H_NOW + 1, &err), 0);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
}

/* ---- reading certificate fields --------------------------------------- */

static void test_info_get_refuses_malformed_fields(void **state)
{
	static const struct {
		const char *cn, *san, *why;
	} bad[] = {
	        {NULL, "URI:urn:groupvpn:demo", "no subject CN"},
	        {"bad name", "URI:urn:groupvpn:demo", "CN"},
	        {"n", NULL, "subjectAltName"},
	        {"n", "URI:https://example.org/", "namespace"},
	        {"n", "URI:urn:groupvpn:demo,URI:urn:groupvpn:other", "two namespaces"},
	        {"n", "URI:urn:groupvpn:bad ns", "namespace is malformed"},
	        {"n", "URI:urn:groupvpn:demo,IP:10.7.0.1,IP:10.7.0.2", "two IP"},
	};
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		X509 *x = h_make_cert(k, NULL, k, bad[i].cn, bad[i].san, false, H_NODE_START,
		                      H_NODE_END);
		struct cert_info info;
		struct cert_err err = {{0}};
		int rc = cert_info_get(x, &info, &err);

		if (rc != -EINVAL)
			fail_msg("case %zu (%s): rc %d", i, bad[i].why, rc);
		assert_msg_has(err.msg, bad[i].why);
		X509_free(x);
	}
	/* Other URIs are ignored; an IPv6 address is read as such. */
	{
		X509 *x = h_make_cert(k, NULL, k, "n",
		                      "URI:https://example.org/,URI:urn:groupvpn:demo,IP:fd00::1",
		                      false, H_NODE_START, H_NODE_END);
		struct cert_info info = h_info(x);

		assert_string_equal(info.namespace, "demo");
		assert_true(info.has_ip);
		assert_string_equal(info.ip, "fd00::1");
		X509_free(x);
	}
	EVP_PKEY_free(k);
}

/* ---- verification ----------------------------------------------------- */

/* One CA, one node, a trust: most verification tests start here. */
struct group {
	struct cert_ca *ca;
	EVP_PKEY *key;
	X509 *cert;
	struct cert_trust *trust;
};

static int group_setup(void **state)
{
	struct group *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	g->ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	g->key = h_key(CERT_ALGO_ED25519);
	g->cert = h_issue(g->ca, g->key, "node1", "10.7.0.5");
	g->trust = h_trust(g->ca);
	*state = g;
	return 0;
}

static int group_teardown(void **state)
{
	struct group *g = *state;

	cert_trust_free(g->trust);
	X509_free(g->cert);
	EVP_PKEY_free(g->key);
	cert_ca_free(g->ca);
	free(g);
	return 0;
}

/* verify must give want, with a message when want is not CERT_VALID. */
static void expect_verdict(const struct cert_trust *t, X509 *x, time_t now, enum cert_verdict want,
                           const char *msg_part)
{
	struct cert_err err = {{0}};
	enum cert_verdict v = cert_verify(t, x, now, NULL, &err);

	if (v != want)
		fail_msg("verdict '%s', want '%s' (%s)", cert_verdict_name(v),
		         cert_verdict_name(want), err.msg);
	if (want == CERT_VALID) {
		assert_string_equal(err.msg, "");
		return;
	}
	if (!err.msg[0])
		fail_msg("verdict '%s' with an empty message", cert_verdict_name(v));
	if (msg_part)
		assert_msg_has(err.msg, msg_part);
}

static void test_verify_valid(void **state)
{
	struct group *g = *state;
	struct cert_info info;
	struct cert_err err;

	memset(&info, 0, sizeof(info));
	memset(&err, 'x', sizeof(err)); /* a stale message is cleared */
	assert_int_equal(cert_verify(g->trust, g->cert, H_NOW, &info, &err), CERT_VALID);
	assert_string_equal(err.msg, "");
	assert_string_equal(info.name, "node1");
	assert_string_equal(info.ip, "10.7.0.5");
	/* NULL info and err are fine. */
	assert_int_equal(cert_verify(g->trust, g->cert, H_NOW, NULL, NULL), CERT_VALID);
	/* From the first second on; OpenSSL counts notAfter itself as expired. */
	expect_verdict(g->trust, g->cert, H_NODE_START, CERT_VALID, NULL);
	expect_verdict(g->trust, g->cert, H_NODE_END - 1, CERT_VALID, NULL);
	expect_verdict(g->trust, g->cert, H_NODE_END, CERT_EXPIRED, NULL);
}

static void test_verify_wrong_ca_with_same_namespace(void **state)
{
	struct group *g = *state;
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	X509 *x = h_issue(other, g->key, "node1", "10.7.0.5");

	/* Same subject name, same namespace: only the key tells them apart. */
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cert_ca_x509(other)),
	                               X509_get_subject_name(cert_ca_x509(g->ca))),
	                 0);
	expect_verdict(g->trust, x, H_NOW, CERT_WRONG_CA, "wrong CA");
	X509_free(x);
	cert_ca_free(other);
}

static void test_verify_wrong_ca_without_aki(void **state)
{
	struct group *g = *state;
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *other_key = h_ca_key(other);
	X509 *x = h_make_cert(other_key, cert_ca_x509(other), g->key, "node1",
	                      "URI:urn:groupvpn:" NS, false, H_NODE_START, H_NODE_END);

	/* Also without the AKI, the issuer is looked up by name and the signature fails. */
	X509_EXTENSION_free(
	        X509_delete_ext(x, X509_get_ext_by_NID(x, NID_authority_key_identifier, -1)));
	assert_true(X509_sign(x, other_key, NULL) > 0);
	expect_verdict(g->trust, x, H_NOW, CERT_WRONG_CA, NULL);
	X509_free(x);
	EVP_PKEY_free(other_key);
	cert_ca_free(other);
}

static void test_verify_self_signed_node_is_wrong_ca(void **state)
{
	struct group *g = *state;
	X509 *x = h_make_cert(g->key, NULL, g->key, "node1", "URI:urn:groupvpn:" NS, false,
	                      H_NODE_START, H_NODE_END);

	expect_verdict(g->trust, x, H_NOW, CERT_WRONG_CA, NULL);
	X509_free(x);
}

static void test_verify_expired(void **state)
{
	struct group *g = *state;
	struct cert_info info;
	struct cert_err err = {{0}};

	expect_verdict(g->trust, g->cert, H_NODE_END + 1, CERT_EXPIRED, "expired");
	/* The fields are still reported on refusal. */
	memset(&info, 0, sizeof(info));
	assert_int_equal(cert_verify(g->trust, g->cert, H_NODE_END + H_DAY, &info, &err),
	                 CERT_EXPIRED);
	assert_string_equal(info.name, "node1");
}

static void test_verify_expired_ca_says_so(void **state)
{
	struct group *g = *state;
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	struct cert_issue_params p = {"late", NULL, H_NOW, H_CA_END + H_DAY};
	struct cert_err err = {{0}};
	X509 *x = NULL;

	assert_int_equal(cert_ca_issue(g->ca, k, &p, &x, &err), 0);
	expect_verdict(g->trust, x, H_CA_END + 1, CERT_EXPIRED, "group CA");
	EVP_PKEY_free(k);
	X509_free(x);
}

static void test_verify_not_yet_valid(void **state)
{
	struct group *g = *state;
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	struct cert_issue_params p = {"future", NULL, H_NOW + H_DAY, H_NOW + 2 * H_DAY};
	struct cert_err err = {{0}};
	X509 *x = NULL;

	assert_int_equal(cert_ca_issue(g->ca, k, &p, &x, &err), 0);
	expect_verdict(g->trust, x, H_NOW, CERT_NOT_YET_VALID, "not yet valid");
	expect_verdict(g->trust, x, H_NOW + H_DAY - 1, CERT_NOT_YET_VALID, NULL);
	expect_verdict(g->trust, x, H_NOW + H_DAY, CERT_VALID, NULL);
	/* Before the CA's own start, too. */
	expect_verdict(g->trust, g->cert, H_CA_START - 1, CERT_NOT_YET_VALID, NULL);
	EVP_PKEY_free(k);
	X509_free(x);
}

static void test_verify_revoked(void **state)
{
	struct group *g = *state;
	struct cert_info info = h_info(g->cert);
	struct cert_err err = {{0}};
	struct cert_trust *t;
	EVP_PKEY *k2 = h_key(CERT_ALGO_ED25519);
	X509 *other = h_issue(g->ca, k2, "node2", NULL);

	/* Revoked "tomorrow": a CRL dated after now still counts (clock skew). */
	assert_int_equal(cert_ca_revoke(g->ca, info.serial, H_NOW + H_DAY, &err), 0);
	t = h_trust(g->ca);
	expect_verdict(t, g->cert, H_NOW, CERT_REVOKED, "revoked");
	expect_verdict(t, g->cert, H_NOW + 2 * H_DAY, CERT_REVOKED, "revoked");
	/* Revoked and expired: "revoked" (docs/certs.md). */
	expect_verdict(t, g->cert, H_NODE_END + 1, CERT_REVOKED, NULL);
	/* Others in the group are unaffected. */
	expect_verdict(t, other, H_NOW, CERT_VALID, NULL);
	/* The old trust has the old CRL: still valid there. */
	expect_verdict(g->trust, g->cert, H_NOW, CERT_VALID, NULL);
	cert_trust_free(t);
	X509_free(other);
	EVP_PKEY_free(k2);
}

static void test_verify_revoked_after_crl_update(void **state)
{
	struct group *g = *state;
	struct cert_info info = h_info(g->cert);
	struct cert_err err = {{0}};
	char *crl;

	assert_int_equal(cert_ca_revoke(g->ca, info.serial, H_NOW, &err), 0);
	crl = h_crl_pem(g->ca);
	assert_int_equal(cert_trust_update_crl(g->trust, crl, strlen(crl), &err), 0);
	expect_verdict(g->trust, g->cert, H_NOW, CERT_REVOKED, NULL);
	free(crl);
}

static void test_verify_wrong_namespace(void **state)
{
	struct group *g = *state;
	EVP_PKEY *ca_key = h_ca_key(g->ca);
	X509 *x = h_make_cert(ca_key, cert_ca_x509(g->ca), g->key, "node1",
	                      "URI:urn:groupvpn:other", false, H_NODE_START, H_NODE_END);
	struct cert_info info;
	struct cert_err err = {{0}};

	expect_verdict(g->trust, x, H_NOW, CERT_WRONG_NAMESPACE, "other");
	assert_int_equal(cert_verify(g->trust, x, H_NOW, &info, &err), CERT_WRONG_NAMESPACE);
	assert_string_equal(info.namespace, "other");
	X509_free(x);
	EVP_PKEY_free(ca_key);
}

static void test_verify_ip_outside_network(void **state)
{
	struct group *g = *state;
	EVP_PKEY *ca_key = h_ca_key(g->ca);
	static const char *const sans[] = {
	        "URI:urn:groupvpn:" NS ",IP:192.168.1.1",
	        "URI:urn:groupvpn:" NS ",IP:10.7.0.0",   /* network address */
	        "URI:urn:groupvpn:" NS ",IP:10.7.0.255", /* broadcast */
	        "URI:urn:groupvpn:" NS ",IP:fd00::1",
	};

	for (size_t i = 0; i < sizeof(sans) / sizeof(sans[0]); i++) {
		X509 *x = h_make_cert(ca_key, cert_ca_x509(g->ca), g->key, "node1", sans[i], false,
		                      H_NODE_START, H_NODE_END);

		expect_verdict(g->trust, x, H_NOW, CERT_IP_OUTSIDE_NETWORK, "10.7.0.0/24");
		X509_free(x);
	}
	/* A trust without a network does not judge IPs. */
	{
		char *ca_pem = h_ca_pem(g->ca);
		struct cert_trust *t = NULL;
		struct cert_err err = {{0}};
		X509 *x = h_make_cert(ca_key, cert_ca_x509(g->ca), g->key, "node1", sans[0], false,
		                      H_NODE_START, H_NODE_END);

		assert_int_equal(
		        cert_trust_new(ca_pem, strlen(ca_pem), NULL, 0, NS, NULL, &t, &err), 0);
		assert_null(cert_trust_crl(t));
		expect_verdict(t, x, H_NOW, CERT_VALID, NULL);
		cert_trust_free(t);
		X509_free(x);
		free(ca_pem);
	}
	EVP_PKEY_free(ca_key);
}

static void test_verify_ca_cert_as_node_is_malformed(void **state)
{
	struct group *g = *state;

	expect_verdict(g->trust, cert_ca_x509(g->ca), H_NOW, CERT_MALFORMED, "malformed");
}

static void test_verify_ca_flagged_node_cert_is_malformed(void **state)
{
	struct group *g = *state;
	EVP_PKEY *ca_key = h_ca_key(g->ca);
	/* A valid node name and namespace, but basicConstraints CA:TRUE. */
	X509 *x = h_make_cert(ca_key, cert_ca_x509(g->ca), g->key, "node1", "URI:urn:groupvpn:" NS,
	                      true, H_NODE_START, H_NODE_END);

	expect_verdict(g->trust, x, H_NOW, CERT_MALFORMED, "CA certificate");
	X509_free(x);
	EVP_PKEY_free(ca_key);
}

static void test_verify_p256_node_key_is_malformed(void **state)
{
	struct group *g = *state;
	EVP_PKEY *ca_key = h_ca_key(g->ca), *p256 = h_key(CERT_ALGO_P256);
	X509 *x = h_make_cert(ca_key, cert_ca_x509(g->ca), p256, "node1", "URI:urn:groupvpn:" NS,
	                      false, H_NODE_START, H_NODE_END);

	expect_verdict(g->trust, x, H_NOW, CERT_MALFORMED, "Ed25519");
	X509_free(x);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(ca_key);
}

static void test_verify_cert_without_san_is_malformed(void **state)
{
	struct group *g = *state;
	EVP_PKEY *ca_key = h_ca_key(g->ca);
	X509 *x = h_make_cert(ca_key, cert_ca_x509(g->ca), g->key, "node1", NULL, false,
	                      H_NODE_START, H_NODE_END);
	X509 *y = h_make_cert(ca_key, cert_ca_x509(g->ca), g->key, "node1",
	                      "URI:urn:groupvpn:" NS ",IP:10.7.0.1,IP:10.7.0.2", false,
	                      H_NODE_START, H_NODE_END);

	expect_verdict(g->trust, x, H_NOW, CERT_MALFORMED, "subjectAltName");
	expect_verdict(g->trust, y, H_NOW, CERT_MALFORMED, "two IP");
	expect_verdict(g->trust, NULL, H_NOW, CERT_MALFORMED, NULL);
	X509_free(x);
	X509_free(y);
	EVP_PKEY_free(ca_key);
}

static size_t slen(const char *s)
{
	return s ? strlen(s) : 0;
}

static void test_trust_new_refuses_bad_input(void **state)
{
	struct group *g = *state;
	char *ca_pem = h_ca_pem(g->ca), *crl_pem = h_crl_pem(g->ca), *node_pem = NULL;
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	struct cert_ca *other_ns = h_ca("other", NET, CERT_ALGO_ED25519);
	char *other_crl = h_crl_pem(other), *other_ns_pem = h_ca_pem(other_ns);
	struct cert_trust *t = NULL;
	struct cert_err err;

	assert_int_equal(cert_x509_to_pem(g->cert, &node_pem, &err), 0);
#define TRY(ca, crl, ns, net, want, part)                                                          \
	do {                                                                                       \
		memset(&err, 0, sizeof(err));                                                      \
		assert_err(cert_trust_new(ca, slen(ca), crl, slen(crl), ns, net, &t, &err), want,  \
		           err);                                                                   \
		assert_msg_has(err.msg, part);                                                     \
		assert_null(t);                                                                    \
	} while (0)
	TRY(ca_pem, crl_pem, "bad ns", NET, -EINVAL, "namespace");
	TRY(ca_pem, crl_pem, NULL, NET, -EINVAL, "namespace");
	TRY(ca_pem, crl_pem, NS, "10.7.0.1/24", -EINVAL, "network");
	TRY("garbage", crl_pem, NS, NET, -EINVAL, "CA certificate");
	TRY(NULL, crl_pem, NS, NET, -EINVAL, "CA certificate");
	TRY(node_pem, crl_pem, NS, NET, -EINVAL, "not a CA");
	TRY(ca_pem, "garbage", NS, NET, -EINVAL, "CRL");
	TRY(ca_pem, other_crl, NS, NET, -EINVAL, "not signed");
	TRY(ca_pem, crl_pem, "other", NET, -EINVAL, "namespace");
	TRY(other_ns_pem, NULL, NS, NET, -EINVAL, "namespace");
#undef TRY
	free(ca_pem);
	free(crl_pem);
	free(node_pem);
	free(other_crl);
	free(other_ns_pem);
	cert_ca_free(other);
	cert_ca_free(other_ns);
}

static void test_trust_accepts_ca_without_namespace(void **state)
{
	/* A CA made with the stock openssl tools names no namespace: fine. */
	EVP_PKEY *ca_key = h_key(CERT_ALGO_ED25519), *k = h_key(CERT_ALGO_ED25519);
	X509 *ca = h_make_cert(ca_key, NULL, ca_key, "plain CA", NULL, true, H_CA_START, H_CA_END);
	X509 *x = h_make_cert(ca_key, ca, k, "node1", "URI:urn:groupvpn:" NS, false, H_NODE_START,
	                      H_NODE_END);
	struct cert_trust *t = NULL;
	struct cert_err err = {{0}};
	char *pem = NULL;

	(void)state;
	assert_int_equal(cert_x509_to_pem(ca, &pem, &err), 0);
	assert_int_equal(cert_trust_new(pem, strlen(pem), NULL, 0, NS, NET, &t, &err), 0);
	assert_string_equal(cert_trust_namespace(t), NS);
	assert_int_equal(X509_cmp(cert_trust_ca(t), ca), 0);
	expect_verdict(t, x, H_NOW, CERT_VALID, NULL);
	cert_trust_free(t);
	cert_trust_free(NULL);
	free(pem);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ca_key);
}

/* ---- the CRL ---------------------------------------------------------- */

static void test_crl_fresh_ca_has_number_1_and_no_entries(void **state)
{
	struct group *g = *state;
	const struct cert_crl *crl = cert_ca_crl(g->ca);
	char hex[CERT_SERIAL_HEX + 1];

	assert_int_equal(cert_crl_number(crl), 1);
	assert_int_equal(cert_crl_count(crl), 0);
	assert_int_equal(cert_crl_serial(crl, 0, hex), -ERANGE);
	assert_false(cert_crl_is_revoked(crl, h_info(g->cert).serial));
	assert_non_null(cert_crl_x509(crl));
	assert_int_equal(cert_crl_number(cert_trust_crl(g->trust)), 1);
}

static void test_crl_revoke_lists_serial_and_bumps_number(void **state)
{
	struct group *g = *state;
	struct cert_info info = h_info(g->cert);
	struct cert_err err = {{0}};
	char hex[CERT_SERIAL_HEX + 1];
	const struct cert_crl *crl;

	assert_int_equal(cert_ca_revoke(g->ca, info.serial, H_NOW, &err), 0);
	crl = cert_ca_crl(g->ca);
	assert_int_equal(cert_crl_number(crl), 2);
	assert_int_equal(cert_crl_count(crl), 1);
	assert_true(cert_crl_is_revoked(crl, info.serial));
	assert_int_equal(cert_crl_serial(crl, 0, hex), 0);
	assert_string_equal(hex, info.serial);
	assert_int_equal(cert_crl_serial(crl, 1, hex), -ERANGE);
	assert_false(cert_crl_is_revoked(crl, "1234"));
	/* Signed by the CA. */
	assert_int_equal(X509_CRL_verify(cert_crl_x509(crl), X509_get0_pubkey(cert_ca_x509(g->ca))),
	                 1);
	/* A second serial, given in upper case: number 3, both listed. */
	assert_int_equal(cert_ca_revoke(g->ca, "ABCDEF0123", H_NOW + 1, &err), 0);
	crl = cert_ca_crl(g->ca);
	assert_int_equal(cert_crl_number(crl), 3);
	assert_int_equal(cert_crl_count(crl), 2);
	assert_true(cert_crl_is_revoked(crl, "abcdef0123"));
	assert_true(cert_crl_is_revoked(crl, info.serial));
}

static void test_crl_revoke_twice_is_ealready(void **state)
{
	struct group *g = *state;
	struct cert_info info = h_info(g->cert);
	struct cert_err err = {{0}};
	char upper[CERT_SERIAL_HEX + 3];

	assert_int_equal(cert_ca_revoke(g->ca, info.serial, H_NOW, &err), 0);
	assert_err(cert_ca_revoke(g->ca, info.serial, H_NOW, &err), -EALREADY, err);
	assert_msg_has(err.msg, info.serial);
	/* The same number spelt differently is the same serial. */
	snprintf(upper, sizeof(upper), "00%s", info.serial);
	for (char *c = upper; *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_revoke(g->ca, upper, H_NOW, &err), -EALREADY, err);
	assert_int_equal(cert_crl_number(cert_ca_crl(g->ca)), 2);
	assert_int_equal(cert_crl_count(cert_ca_crl(g->ca)), 1);
}

static void test_crl_revoke_refuses_bad_serials(void **state)
{
	struct group *g = *state;
	char long41[42];
	const char *bad[] = {"", "xyz", "12g4", "-12", "0x12", " 12", "12 ", "1 2", long41, NULL};
	struct cert_err err;

	memset(long41, 'a', 41);
	long41[41] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (cert_ca_revoke(g->ca, bad[i], H_NOW, &err) != -EINVAL || !err.msg[0])
			fail_msg("serial '%s' not refused (%s)", bad[i] ? bad[i] : "(null)",
			         err.msg);
	}
	assert_int_equal(cert_crl_number(cert_ca_crl(g->ca)), 1);
	assert_int_equal(cert_crl_count(cert_ca_crl(g->ca)), 0);
	/* 40 hex digits (20 octets) is the most a serial can have. */
	long41[40] = '\0';
	long41[0] = '7';
	assert_int_equal(cert_ca_revoke(g->ca, long41, H_NOW, &err), 0);
	assert_true(cert_crl_is_revoked(cert_ca_crl(g->ca), long41));
}

static void test_crl_pem_round_trip(void **state)
{
	struct group *g = *state;
	struct cert_info info = h_info(g->cert);
	struct cert_err err = {{0}};
	struct cert_crl *back = NULL;
	char *pem, *again = NULL;

	assert_int_equal(cert_ca_revoke(g->ca, info.serial, H_NOW, &err), 0);
	pem = h_crl_pem(g->ca);
	assert_non_null(strstr(pem, "-----BEGIN X509 CRL-----"));
	assert_int_equal(cert_crl_from_pem(pem, strlen(pem), &back, &err), 0);
	assert_int_equal(cert_crl_number(back), 2);
	assert_int_equal(cert_crl_count(back), 1);
	assert_true(cert_crl_is_revoked(back, info.serial));
	assert_int_equal(X509_CRL_cmp(cert_crl_x509(back), cert_crl_x509(cert_ca_crl(g->ca))), 0);
	assert_int_equal(cert_crl_to_pem(back, &again, &err), 0);
	assert_string_equal(again, pem);
	free(again);
	free(pem);
	cert_crl_free(back);
	cert_crl_free(NULL);
}

static void test_trust_update_crl_accepts_only_newer(void **state)
{
	struct group *g = *state;
	struct cert_err err = {{0}};
	char *crl1 = h_crl_pem(g->ca), *crl2, *crl3;

	assert_int_equal(cert_ca_revoke(g->ca, "01", H_NOW, &err), 0);
	crl2 = h_crl_pem(g->ca);
	assert_int_equal(cert_ca_revoke(g->ca, "02", H_NOW, &err), 0);
	crl3 = h_crl_pem(g->ca);
	/* Same number: already have it. */
	assert_err(cert_trust_update_crl(g->trust, crl1, strlen(crl1), &err), -EALREADY, err);
	assert_int_equal(cert_crl_number(cert_trust_crl(g->trust)), 1);
	/* Newer: replaced (skipping a number is fine). */
	assert_int_equal(cert_trust_update_crl(g->trust, crl3, strlen(crl3), &err), 0);
	assert_int_equal(cert_crl_number(cert_trust_crl(g->trust)), 3);
	/* Older: refused, the newer one stays. */
	memset(&err, 0, sizeof(err));
	assert_err(cert_trust_update_crl(g->trust, crl2, strlen(crl2), &err), -EALREADY, err);
	memset(&err, 0, sizeof(err));
	assert_err(cert_trust_update_crl(g->trust, crl3, strlen(crl3), &err), -EALREADY, err);
	assert_int_equal(cert_crl_number(cert_trust_crl(g->trust)), 3);
	assert_true(cert_crl_is_revoked(cert_trust_crl(g->trust), "2"));
	/* Garbage: -EINVAL, CRL kept. */
	memset(&err, 0, sizeof(err));
	assert_err(cert_trust_update_crl(g->trust, "junk", 4, &err), -EINVAL, err);
	assert_int_equal(cert_crl_number(cert_trust_crl(g->trust)), 3);
	free(crl1);
	free(crl2);
	free(crl3);
}

static void test_trust_update_crl_refuses_other_ca(void **state)
{
	struct group *g = *state;
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519); /* same issuer name */
	struct cert_err err = {{0}};
	char *pem;

	assert_int_equal(cert_ca_revoke(other, "01", H_NOW, &err), 0);
	assert_int_equal(cert_ca_revoke(other, "02", H_NOW, &err), 0);
	pem = h_crl_pem(other); /* number 3: newer, but not ours */
	memset(&err, 0, sizeof(err));
	assert_err(cert_trust_update_crl(g->trust, pem, strlen(pem), &err), -EINVAL, err);
	assert_msg_has(err.msg, "not signed");
	assert_int_equal(cert_crl_number(cert_trust_crl(g->trust)), 1);
	free(pem);
	cert_ca_free(other);
}

/* ---- the CA directory ------------------------------------------------- */

struct cadir {
	char tmp[64], dir[128];
	struct cert_ca *ca;
};

static int cadir_setup(void **state)
{
	struct cadir *c = calloc(1, sizeof(*c));
	struct cert_err err = {{0}};

	assert_non_null(c);
	h_tmpdir(c->tmp);
	snprintf(c->dir, sizeof(c->dir), "%s/ca", c->tmp);
	c->ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	if (cert_ca_save_dir(c->ca, c->dir, &err) < 0)
		fail_msg("save: %s", err.msg);
	*state = c;
	return 0;
}

static int cadir_teardown(void **state)
{
	struct cadir *c = *state;

	h_rmtree(c->tmp);
	cert_ca_free(c->ca);
	free(c);
	return 0;
}

static void cadir_file(const struct cadir *c, const char *name, char out[192])
{
	snprintf(out, 192, "%s/%s", c->dir, name);
}

static void expect_load_fails(const struct cadir *c, int want, const char *part)
{
	struct cert_err err = {{0}};
	struct cert_ca *ca = NULL;
	struct cert_trust *t = NULL;

	assert_err(cert_ca_load_dir(c->dir, &ca, &err), want, err);
	assert_msg_has(err.msg, part);
	assert_null(ca);
	memset(&err, 0, sizeof(err));
	assert_err(cert_trust_load_ca_dir(c->dir, &t, &err), want, err);
	assert_null(t);
}

/* A problem with ca.key: the CA will not load, but a verifier, which never
 * reads the private key, still does. */
static void expect_key_problem(const struct cadir *c, int want, const char *part)
{
	struct cert_err err = {{0}};
	struct cert_ca *ca = NULL;
	struct cert_trust *t = NULL;

	assert_err(cert_ca_load_dir(c->dir, &ca, &err), want, err);
	assert_msg_has(err.msg, part);
	assert_null(ca);
	memset(&err, 0, sizeof(err));
	assert_int_equal(cert_trust_load_ca_dir(c->dir, &t, &err), 0);
	assert_non_null(t);
	cert_trust_free(t);
}

/* Regression: a 53..64-character namespace overflowed the CA's 64-character CN. */
static void test_ca_with_longest_namespace(void **state)
{
	char ns[CERT_NAMESPACE_MAX + 1];
	struct cert_ca *ca;

	(void)state;
	memset(ns, 'a', CERT_NAMESPACE_MAX);
	ns[CERT_NAMESPACE_MAX] = '\0';
	ca = h_ca(ns, NET, CERT_ALGO_ED25519);
	assert_string_equal(cert_ca_namespace(ca), ns);
	cert_ca_free(ca);
}

/* Regression: opening a FIFO with no writer blocked for ever. */
static void test_file_read_refuses_fifo_without_hanging(void **state)
{
	char dir[64], path[128], *out = NULL;
	struct cert_err err = {{0}};
	size_t len;

	(void)state;
	h_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_err(cert_file_read(path, 1024, &out, &len, &err), -EINVAL, err);
	assert_msg_has(err.msg, "not a regular file");
	assert_null(out);
	h_rmtree(dir);
}

/* A verifier needs ca.crt, crl.pem and group.json only: never the CA key. */
static void test_trust_loads_from_public_files_only(void **state)
{
	struct cadir *c = *state;
	struct cert_err err = {{0}};
	struct cert_trust *t = NULL;
	char path[192];

	cadir_file(c, "ca.key", path);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cert_trust_load_ca_dir(c->dir, &t, &err), 0);
	assert_string_equal(cert_trust_namespace(t), NS);
	cert_trust_free(t);
}

static void test_ca_dir_round_trip(void **state)
{
	struct cadir *c = *state;
	struct cert_err err = {{0}};
	struct cert_ca *back = NULL;
	struct cert_trust *t = NULL;
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	X509 *x;
	char path[192];
	struct stat st;

	static const char *const files[] = {"ca.key", "ca.crt", "crl.pem", "group.json"};
	for (size_t i = 0; i < 4; i++) {
		cadir_file(c, files[i], path);
		assert_int_equal(stat(path, &st), 0);
	}
	assert_int_equal(h_dir_entries(c->dir), 4); /* no temp files left */
	assert_int_equal(stat(c->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	assert_int_equal(cert_ca_load_dir(c->dir, &back, &err), 0);
	assert_int_equal(X509_cmp(cert_ca_x509(back), cert_ca_x509(c->ca)), 0);
	assert_string_equal(cert_ca_namespace(back), NS);
	assert_int_equal(cert_ca_network(back)->addr, cert_ca_network(c->ca)->addr);
	assert_int_equal(cert_ca_network(back)->prefix, 24);
	assert_int_equal(cert_crl_number(cert_ca_crl(back)), 1);
	/* The loaded CA can sign, and what it signs verifies against the original. */
	x = h_issue(back, k, "node1", "10.7.0.9");
	t = h_trust(c->ca);
	expect_verdict(t, x, H_NOW, CERT_VALID, NULL);
	cert_trust_free(t);
	t = NULL;
	assert_int_equal(cert_trust_load_ca_dir(c->dir, &t, &err), 0);
	assert_string_equal(cert_trust_namespace(t), NS);
	expect_verdict(t, x, H_NOW, CERT_VALID, NULL);
	cert_trust_free(t);
	X509_free(x);
	EVP_PKEY_free(k);
	cert_ca_free(back);
}

static void test_ca_dir_p256_round_trip(void **state)
{
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_P256), *back = NULL;
	struct cert_err err = {{0}};
	char tmp[64], dir[128], *grp;

	(void)state;
	h_tmpdir(tmp);
	snprintf(dir, sizeof(dir), "%s/x", tmp);
	assert_int_equal(cert_ca_save_dir(ca, dir, &err), 0);
	snprintf(dir, sizeof(dir), "%s/x/group.json", tmp);
	grp = h_slurp(dir, NULL);
	assert_msg_has(grp, "\"p256\"");
	free(grp);
	snprintf(dir, sizeof(dir), "%s/x", tmp);
	assert_int_equal(cert_ca_load_dir(dir, &back, &err), 0);
	assert_int_equal(X509_cmp(cert_ca_x509(back), cert_ca_x509(ca)), 0);
	cert_ca_free(back);
	cert_ca_free(ca);
	h_rmtree(tmp);
}

static void test_ca_dir_save_refuses_existing_ca(void **state)
{
	struct cadir *c = *state;
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	struct cert_err err = {{0}};
	static const char *const files[] = {"ca.key", "ca.crt", "crl.pem", "group.json"};
	char *before[4], path[192];

	for (size_t i = 0; i < 4; i++) {
		cadir_file(c, files[i], path);
		before[i] = h_slurp(path, NULL);
	}
	assert_err(cert_ca_save_dir(other, c->dir, &err), -EEXIST, err);
	assert_msg_has(err.msg, "exists");
	for (size_t i = 0; i < 4; i++) {
		char *now;

		cadir_file(c, files[i], path);
		now = h_slurp(path, NULL);
		assert_string_equal(now, before[i]);
		cert_secret_free(now);
		cert_secret_free(before[i]);
	}
	assert_int_equal(h_dir_entries(c->dir), 4);
	/* Any one of the four files is enough to refuse. */
	cadir_file(c, "ca.key", path);
	assert_int_equal(unlink(path), 0);
	cadir_file(c, "ca.crt", path);
	assert_int_equal(unlink(path), 0);
	cadir_file(c, "crl.pem", path);
	assert_int_equal(unlink(path), 0);
	memset(&err, 0, sizeof(err));
	assert_err(cert_ca_save_dir(other, c->dir, &err), -EEXIST, err);
	assert_msg_has(err.msg, "group.json");
	assert_int_equal(h_dir_entries(c->dir), 1);
	cert_ca_free(other);
}

static void test_ca_dir_key_is_0600_and_load_refuses_0644(void **state)
{
	struct cadir *c = *state;
	char path[192];
	struct stat st;

	cadir_file(c, "ca.key", path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	cadir_file(c, "ca.crt", path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	cadir_file(c, "ca.key", path);
	assert_int_equal(chmod(path, 0644), 0);
	expect_key_problem(c, -EPERM, "0644");
	assert_int_equal(chmod(path, 0640), 0);
	expect_key_problem(c, -EPERM, "ca.key");
	assert_int_equal(chmod(path, 0400), 0);
	{
		struct cert_ca *ca = NULL;
		struct cert_err err = {{0}};

		assert_int_equal(cert_ca_load_dir(c->dir, &ca, &err), 0);
		cert_ca_free(ca);
	}
}

static void test_ca_dir_load_refuses_corrupt_group_json(void **state)
{
	struct cadir *c = *state;
	static const struct {
		const char *text, *part;
	} bad[] = {
	        {"", "group.json"},
	        {"{", "group.json"},
	        {"[]", "not a JSON object"},
	        {"{\"namespace\":\"demo\",\"network\":\"10.7.0.0/24\"}", "missing key 'algo'"},
	        {"{\"network\":\"10.7.0.0/24\",\"algo\":\"ed25519\"}", "missing key 'namespace'"},
	        {"{\"namespace\":\"demo\",\"network\":\"10.7.0.0/24\",\"algo\":\"ed25519\","
	         "\"foo\":1}",
	         "unknown key 'foo'"},
	        {"{\"namespace\":1,\"network\":\"10.7.0.0/24\",\"algo\":\"ed25519\"}",
	         "'namespace' must be a string"},
	        {"{\"namespace\":\"demo\",\"network\":\"10.7.0.0/24\",\"algo\":\"rsa\"}", "algo"},
	        {"{\"namespace\":\"demo\",\"network\":\"10.7.0.0/24\",\"algo\":\"p256\"}",
	         "does not match"},
	        {"{\"namespace\":\"demo\",\"network\":\"10.7.0.1/24\",\"algo\":\"ed25519\"}",
	         "host bits"},
	        {"{\"namespace\":\"bad ns\",\"network\":\"10.7.0.0/24\",\"algo\":\"ed25519\"}",
	         "namespace"},
	        {"{\"namespace\":\"demo\",\"namespace\":\"demo\",\"network\":\"10.7.0.0/24\","
	         "\"algo\":\"ed25519\"}",
	         "group.json"},
	        /* ca.crt names "demo": group.json may not claim another namespace. */
	        {"{\"namespace\":\"other\",\"network\":\"10.7.0.0/24\",\"algo\":\"ed25519\"}",
	         "namespace"},
	};
	char path[192];

	cadir_file(c, "group.json", path);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cert_err err = {{0}};
		struct cert_ca *ca = NULL;
		int rc;

		h_spit(path, bad[i].text);
		rc = cert_ca_load_dir(c->dir, &ca, &err);
		if (rc != -EINVAL || !strstr(err.msg, bad[i].part)) {
			cert_ca_free(ca);
			fail_msg("group.json '%s': rc %d, msg '%s', want '%s'", bad[i].text, rc,
			         err.msg, bad[i].part);
		}
		assert_null(ca);
	}
}

static void test_ca_dir_load_refuses_missing_files(void **state)
{
	struct cadir *c = *state;
	static const char *const files[] = {"crl.pem", "ca.crt", "ca.key", "group.json"};
	char path[192];

	/* Remove them one by one; each time the message names the missing one. */
	for (size_t i = 0; i < 4; i++) {
		cadir_file(c, files[i], path);
		assert_int_equal(unlink(path), 0);
		expect_load_fails(c, -ENOENT, files[i]);
	}
}

static void test_ca_dir_load_refuses_foreign_key(void **state)
{
	struct cadir *c = *state;
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_ca_key(other);
	struct cert_err err = {{0}};
	char path[192], *pem = NULL;

	assert_int_equal(cert_key_to_pem(k, &pem, &err), 0);
	cadir_file(c, "ca.key", path);
	assert_int_equal(cert_file_write_atomic(path, pem, strlen(pem), 0600, &err), 0);
	expect_key_problem(c, -EINVAL, "does not match");
	/* Garbage in ca.key. */
	assert_int_equal(cert_file_write_atomic(path, "junk\n", 5, 0600, &err), 0);
	expect_key_problem(c, -EINVAL, "private key");
	cert_secret_free(pem);
	EVP_PKEY_free(k);
	cert_ca_free(other);
}

static void test_ca_dir_load_refuses_foreign_crl_and_cert(void **state)
{
	struct cadir *c = *state;
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	char *crl = h_crl_pem(other), *crt = h_ca_pem(other), path[192];
	char *mine;

	cadir_file(c, "crl.pem", path);
	mine = h_slurp(path, NULL);
	h_spit(path, crl);
	expect_load_fails(c, -EINVAL, "crl.pem");
	h_spit(path, "junk");
	expect_load_fails(c, -EINVAL, "CRL");
	h_spit(path, mine);
	cadir_file(c, "ca.crt", path);
	h_spit(path, crt);
	expect_load_fails(c, -EINVAL, "does not match");
	free(mine);
	free(crl);
	free(crt);
	cert_ca_free(other);
}

static void test_ca_save_crl_rewrites_crl(void **state)
{
	struct cadir *c = *state;
	struct cert_err err = {{0}};
	struct cert_ca *back = NULL;
	char path[192];
	struct stat st;

	assert_int_equal(cert_ca_revoke(c->ca, "abc", H_NOW, &err), 0);
	assert_int_equal(cert_ca_save_crl(c->ca, c->dir, &err), 0);
	cadir_file(c, "crl.pem", path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(h_dir_entries(c->dir), 4);
	assert_int_equal(cert_ca_load_dir(c->dir, &back, &err), 0);
	assert_int_equal(cert_crl_number(cert_ca_crl(back)), 2);
	assert_true(cert_crl_is_revoked(cert_ca_crl(back), "abc"));
	cert_ca_free(back);
	/* Into a directory that does not exist: an error, nothing made. */
	memset(&err, 0, sizeof(err));
	snprintf(path, sizeof(path), "%s/nope", c->tmp);
	assert_err(cert_ca_save_crl(c->ca, path, &err), -ENOENT, err);
}

/* ---- file helpers ----------------------------------------------------- */

static void test_file_write_atomic_sets_exact_mode_whatever_umask(void **state)
{
	static const struct {
		mode_t umask;
		unsigned mode;
	} cases[] = {
	        {0, 0600},   {0, 0644},   {077, 0644},  {077, 0600},
	        {022, 0666}, {027, 0640}, {0777, 0600},
	};
	char tmp[64], path[128];
	mode_t old = umask(022);

	(void)state;
	h_tmpdir(tmp);
	snprintf(path, sizeof(path), "%s/f", tmp);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cert_err err = {{0}};
		struct stat st;

		umask(cases[i].umask);
		/* Both a fresh file and one replacing another mode. */
		assert_int_equal(cert_file_write_atomic(path, "x", 1, cases[i].mode, &err), 0);
		umask(022);
		assert_int_equal(stat(path, &st), 0);
		if ((st.st_mode & 07777) != cases[i].mode)
			fail_msg("umask %03o mode %04o: got %04o", (unsigned)cases[i].umask,
			         cases[i].mode, (unsigned)(st.st_mode & 07777));
	}
	umask(old);
	h_rmtree(tmp);
}

static void test_file_write_atomic_replaces_whole_file(void **state)
{
	char tmp[64], path[128], *text;
	struct cert_err err = {{0}};
	struct stat before, after;
	int fd;
	char buf[16] = {0};

	(void)state;
	h_tmpdir(tmp);
	snprintf(path, sizeof(path), "%s/f", tmp);
	assert_int_equal(cert_file_write_atomic(path, "old content", 11, 0644, &err), 0);
	assert_int_equal(stat(path, &before), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(cert_file_write_atomic(path, "new", 3, 0644, &err), 0);
	/* A new inode took the name; a reader of the old one sees all of the old. */
	assert_int_equal(stat(path, &after), 0);
	assert_true(before.st_ino != after.st_ino);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 11);
	assert_string_equal(buf, "old content");
	close(fd);
	text = h_slurp(path, NULL);
	assert_string_equal(text, "new");
	free(text);
	assert_int_equal(h_dir_entries(tmp), 1);
	/* Empty content is fine too. */
	assert_int_equal(cert_file_write_atomic(path, "", 0, 0600, &err), 0);
	text = h_slurp(path, NULL);
	assert_string_equal(text, "");
	free(text);
	h_rmtree(tmp);
}

static void test_file_write_atomic_readers_see_old_or_new(void **state)
{
	enum { SIZE = 256 * 1024, ROUNDS = 24 };
	char tmp[64], path[128];
	char *a = h_filled(SIZE, 'a'), *b = h_filled(2 * SIZE, 'b');
	struct cert_err err = {{0}};
	int status, reads = 0, seen_a = 0, seen_b = 0;
	pid_t pid;

	(void)state;
	h_tmpdir(tmp);
	snprintf(path, sizeof(path), "%s/f", tmp);
	assert_int_equal(cert_file_write_atomic(path, a, SIZE, 0644, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < ROUNDS; i++) {
			struct cert_err e;

			if (cert_file_write_atomic(path, i % 2 ? a : b, i % 2 ? SIZE : 2 * SIZE,
			                           0644, &e) < 0)
				_exit(1);
		}
		_exit(0);
	}
	/* Read until the writer is done: every read is one whole version. */
	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);
		struct cert_err e = {{0}};
		char *text = NULL;
		size_t len = 0;

		assert_int_equal(cert_file_read(path, 4 * SIZE, &text, &len, &e), 0);
		reads++;
		if (len == SIZE && text[0] == 'a' && strspn(text, "a") == SIZE)
			seen_a++;
		else if (len == 2 * SIZE && text[0] == 'b' && strspn(text, "b") == 2 * SIZE)
			seen_b++;
		else
			fail_msg("read %d: a torn file of %zu bytes", reads, len);
		free(text);
		if (done == pid)
			break;
		assert_int_equal(done, 0);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(seen_a + seen_b, reads);
	assert_int_equal(h_dir_entries(tmp), 1); /* no temp files left */
	free(a);
	free(b);
	h_rmtree(tmp);
}

static void test_file_write_atomic_failure_leaves_no_temp_file(void **state)
{
	char tmp[64], path[160];
	struct cert_err err = {{0}};

	(void)state;
	h_tmpdir(tmp);
	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/missing/f", tmp);
	assert_err(cert_file_write_atomic(path, "x", 1, 0600, &err), -ENOENT, err);
	assert_msg_has(err.msg, "missing");
	assert_int_equal(h_dir_entries(tmp), 0);
	/* rename() fails (the target is a directory): the temp file goes. */
	snprintf(path, sizeof(path), "%s/d", tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	memset(&err, 0, sizeof(err));
	assert_err(cert_file_write_atomic(path, "x", 1, 0600, &err), -EISDIR, err);
	assert_int_equal(h_dir_entries(tmp), 1);
	assert_int_equal(h_dir_entries(path), 0);
	h_rmtree(tmp);
}

static void test_file_read_enforces_cap_and_regular_files(void **state)
{
	char tmp[64], path[128], *text = NULL;
	struct cert_err err = {{0}};
	size_t len = 0;

	(void)state;
	h_tmpdir(tmp);
	snprintf(path, sizeof(path), "%s/f", tmp);
	assert_int_equal(cert_file_write_atomic(path, "0123456789", 10, 0600, &err), 0);
	/* Exactly at the cap is fine, NUL-terminated. */
	assert_int_equal(cert_file_read(path, 10, &text, &len, &err), 0);
	assert_int_equal(len, 10);
	assert_string_equal(text, "0123456789");
	free(text);
	text = NULL;
	assert_err(cert_file_read(path, 9, &text, &len, &err), -EFBIG, err);
	assert_msg_has(err.msg, "too large");
	assert_null(text);
	memset(&err, 0, sizeof(err));
	assert_err(cert_file_read(tmp, 1024, &text, &len, &err), -EINVAL, err);
	assert_msg_has(err.msg, "not a regular file");
	memset(&err, 0, sizeof(err));
	snprintf(path, sizeof(path), "%s/none", tmp);
	assert_err(cert_file_read(path, 1024, &text, &len, &err), -ENOENT, err);
	assert_msg_has(err.msg, "none");
	assert_null(text);
	/* An empty file is an empty string. */
	snprintf(path, sizeof(path), "%s/empty", tmp);
	h_spit(path, "");
	assert_int_equal(cert_file_read(path, 0, &text, &len, &err), 0);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
	h_rmtree(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_addr_hex_round_trip),
	        cmocka_unit_test(test_addr_hex_known_value),
	        cmocka_unit_test(test_addr_from_hex_rejects_bad_length_and_non_hex),
	        cmocka_unit_test(test_addr_of_key_is_sha256_of_namespace_and_spki),
	        cmocka_unit_test(test_addr_same_key_differs_between_namespaces),
	        cmocka_unit_test(test_info_addr_is_addr_of_cert_key),
	        cmocka_unit_test(test_network_parse_accepts_good_cidrs),
	        cmocka_unit_test(test_network_parse_rejects_bad_input_with_message),
	        cmocka_unit_test(test_network_has_host_excludes_network_and_broadcast),
	        cmocka_unit_test(test_name_valid_table),
	        cmocka_unit_test(test_endpoint_valid_table),
	        cmocka_unit_test(test_algo_parse_and_name),
	        cmocka_unit_test(test_verdict_names_distinct_and_known),
	        cmocka_unit_test(test_key_generate_both_algos_and_refuses_unknown),
	        cmocka_unit_test(test_key_pem_round_trip_both_algos),
	        cmocka_unit_test(test_key_from_pem_accepts_traditional_ec),
	        cmocka_unit_test(test_key_from_pem_refuses_encrypted_key),
	        cmocka_unit_test(test_x509_from_pem_refuses_bad_input),
	        cmocka_unit_test(test_key_from_pem_refuses_bad_input),
	        cmocka_unit_test(test_crl_from_pem_refuses_bad_input),
	        cmocka_unit_test(test_x509_pem_round_trip),
	        cmocka_unit_test(test_ca_create_ed25519_and_p256),
	        cmocka_unit_test(test_ca_create_refuses_bad_params),
	        cmocka_unit_test(test_issue_fills_info_fields),
	        cmocka_unit_test(test_issue_works_with_p256_ca),
	        cmocka_unit_test(test_issue_refuses_bad_name),
	        cmocka_unit_test(test_issue_refuses_non_ed25519_key),
	        cmocka_unit_test(test_issue_refuses_ip_outside_network),
	        cmocka_unit_test(test_issue_refuses_network_and_broadcast_address),
	        cmocka_unit_test(test_issue_clips_not_after_to_ca_end),
	        cmocka_unit_test(test_issue_refuses_empty_validity),
	        cmocka_unit_test(test_info_get_refuses_malformed_fields),
#define G(t) cmocka_unit_test_setup_teardown(t, group_setup, group_teardown)
	        G(test_verify_valid),
	        G(test_verify_wrong_ca_with_same_namespace),
	        G(test_verify_wrong_ca_without_aki),
	        G(test_verify_self_signed_node_is_wrong_ca),
	        G(test_verify_expired),
	        G(test_verify_expired_ca_says_so),
	        G(test_verify_not_yet_valid),
	        G(test_verify_revoked),
	        G(test_verify_revoked_after_crl_update),
	        G(test_verify_wrong_namespace),
	        G(test_verify_ip_outside_network),
	        G(test_verify_ca_cert_as_node_is_malformed),
	        G(test_verify_ca_flagged_node_cert_is_malformed),
	        G(test_verify_p256_node_key_is_malformed),
	        G(test_verify_cert_without_san_is_malformed),
	        G(test_trust_new_refuses_bad_input),
	        cmocka_unit_test(test_trust_accepts_ca_without_namespace),
	        G(test_crl_fresh_ca_has_number_1_and_no_entries),
	        G(test_crl_revoke_lists_serial_and_bumps_number),
	        G(test_crl_revoke_twice_is_ealready),
	        G(test_crl_revoke_refuses_bad_serials),
	        G(test_crl_pem_round_trip),
	        G(test_trust_update_crl_accepts_only_newer),
	        G(test_trust_update_crl_refuses_other_ca),
#undef G
#define D(t) cmocka_unit_test_setup_teardown(t, cadir_setup, cadir_teardown)
	        D(test_ca_dir_round_trip),
	        D(test_trust_loads_from_public_files_only),
	        cmocka_unit_test(test_ca_dir_p256_round_trip),
	        D(test_ca_dir_save_refuses_existing_ca),
	        D(test_ca_dir_key_is_0600_and_load_refuses_0644),
	        D(test_ca_dir_load_refuses_corrupt_group_json),
	        D(test_ca_dir_load_refuses_missing_files),
	        D(test_ca_dir_load_refuses_foreign_key),
	        D(test_ca_dir_load_refuses_foreign_crl_and_cert),
	        D(test_ca_save_crl_rewrites_crl),
#undef D
	        cmocka_unit_test(test_file_write_atomic_sets_exact_mode_whatever_umask),
	        cmocka_unit_test(test_file_write_atomic_replaces_whole_file),
	        cmocka_unit_test(test_file_write_atomic_readers_see_old_or_new),
	        cmocka_unit_test(test_file_write_atomic_failure_leaves_no_temp_file),
	        cmocka_unit_test(test_file_read_enforces_cap_and_regular_files),
	        cmocka_unit_test(test_file_read_refuses_fifo_without_hanging),
	        cmocka_unit_test(test_ca_with_longest_namespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
