// SPDX-License-Identifier: MIT
/*
 * Unit tests for the config bundle (certs/bundle.c, docs/bundle.md): build,
 * dump, parse, save, load, settings and verification, and every way a bundle
 * can be wrong. Each refusal must name the offending key.
 */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define NS  "demo"
#define NET "10.7.0.0/24"

static const char *const boot3[] = {"198.18.0.1:7000", "boot2.example.org:7000", "[fd00::1]:7000"};
static const char *const required[] = {"namespace", "network", "bootstrap", "ca",
                                       "cert",      "key",     "crl"};

/* One group and one member, made once for the whole file. */
static struct fixture {
	struct cert_ca *ca;
	EVP_PKEY *key;
	X509 *cert;
	char *json; /* a good bundle's text */
} fx;

static int fixture_setup(void **state)
{
	struct cert_bundle *b = NULL;
	struct cert_err err = {{0}};

	(void)state;
	fx.ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	fx.key = h_key(CERT_ALGO_ED25519);
	fx.cert = h_issue(fx.ca, fx.key, "node1", "10.7.0.5");
	if (cert_bundle_build(fx.ca, fx.cert, fx.key, boot3, 3, &b, &err) < 0 ||
	    cert_bundle_dump(b, &fx.json, &err) < 0)
		fail_msg("fixture: %s", err.msg);
	cert_bundle_free(b);
	return 0;
}

static int fixture_teardown(void **state)
{
	(void)state;
	cert_secret_free(fx.json);
	X509_free(fx.cert);
	EVP_PKEY_free(fx.key);
	cert_ca_free(fx.ca);
	return 0;
}

/* A new bundle from fx, asserting success. */
static struct cert_bundle *good_bundle(void)
{
	struct cert_bundle *b = NULL;
	struct cert_err err = {{0}};

	if (cert_bundle_parse(fx.json, strlen(fx.json), &b, &err) < 0)
		fail_msg("good bundle refused: %s", err.msg);
	return b;
}

/* The good bundle as a JSON object to mutate; new reference. */
static json_t *good_root(void)
{
	json_error_t jerr;
	json_t *root = json_loads(fx.json, 0, &jerr);

	if (!root)
		fail_msg("fixture JSON: %s", jerr.text);
	return root;
}

/* Parses root's text; returns rc, frees any bundle made. */
static int parse_root(const json_t *root, struct cert_err *err)
{
	char *text = json_dumps(root, 0);
	struct cert_bundle *b = NULL;
	int rc;

	assert_non_null(text);
	memset(err, 0, sizeof(*err));
	rc = cert_bundle_parse(text, strlen(text), &b, err);
	if (rc == 0)
		assert_non_null(b);
	else
		assert_null(b);
	cert_bundle_free(b);
	free(text);
	return rc;
}

/* root with key set to v (stolen) must be refused (want) with a message holding part. */
static void expect_bad_value_rc(const char *key, json_t *v, const char *part, int want)
{
	json_t *root = good_root();
	struct cert_err err;
	int rc;

	assert_int_equal(json_object_set_new(root, key, v), 0);
	rc = parse_root(root, &err);
	if (rc != want || !strstr(err.msg, part)) {
		char *text = json_dumps(json_object_get(root, key), JSON_ENCODE_ANY);

		fail_msg("%s = %.80s: rc %d, msg '%s', want '%s'", key, text ? text : "?", rc,
		         err.msg, part);
	}
	json_decref(root);
}

static void expect_bad_value(const char *key, json_t *v, const char *part)
{
	expect_bad_value_rc(key, v, part, -EINVAL);
}

/* root with key set to v (stolen) must parse. */
static void expect_good_value(const char *key, json_t *v)
{
	json_t *root = good_root();
	struct cert_err err;
	int rc;

	assert_int_equal(json_object_set_new(root, key, v), 0);
	rc = parse_root(root, &err);
	if (rc != 0)
		fail_msg("%s: refused: %s", key, err.msg);
	json_decref(root);
}

/* ---- round trips ------------------------------------------------------ */

static char *key_pem(EVP_PKEY *k)
{
	struct cert_err err = {{0}};
	char *pem = NULL;

	assert_int_equal(cert_key_to_pem(k, &pem, &err), 0);
	return pem;
}

static void test_bundle_build_dump_parse_round_trip(void **state)
{
	struct cert_bundle *b = NULL, *back = NULL;
	struct cert_err err = {{0}};
	char *text = NULL, *again = NULL, *k1, *k2, net[CERT_NET_STR];
	long long n = 0;

	(void)state;
	assert_int_equal(cert_bundle_build(fx.ca, fx.cert, fx.key, boot3, 3, &b, &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "listen", "0.0.0.0:7000", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "dht_replicas", "5", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "shortcuts", "threshold:100", &err), 0);
	assert_int_equal(cert_bundle_dump(b, &text, &err), 0);
	assert_int_equal(cert_bundle_parse(text, strlen(text), &back, &err), 0);

	assert_string_equal(cert_bundle_namespace(back), NS);
	cert_network_format(cert_bundle_network(back), net);
	assert_string_equal(net, NET);
	assert_int_equal(cert_bundle_bootstrap_count(back), 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(cert_bundle_bootstrap(back, i), boot3[i]);
	assert_null(cert_bundle_bootstrap(back, 3));
	assert_int_equal(X509_cmp(cert_bundle_cert(back), fx.cert), 0);
	assert_int_equal(EVP_PKEY_eq(cert_bundle_key(back), fx.key), 1);
	k1 = key_pem(cert_bundle_key(back));
	k2 = key_pem(fx.key);
	assert_string_equal(k1, k2); /* the private half too */
	cert_secret_free(k1);
	cert_secret_free(k2);
	assert_int_equal(X509_cmp(cert_trust_ca(cert_bundle_trust(back)), cert_ca_x509(fx.ca)), 0);
	assert_string_equal(cert_trust_namespace(cert_bundle_trust(back)), NS);
	assert_int_equal(cert_crl_number(cert_trust_crl(cert_bundle_trust(back))), 1);
	assert_string_equal(cert_bundle_setting(back, "listen"), "0.0.0.0:7000");
	assert_string_equal(cert_bundle_setting(back, "shortcuts"), "threshold:100");
	assert_int_equal(cert_bundle_setting_int(back, "dht_replicas", &n), 0);
	assert_int_equal(n, 5);
	/* Unset settings. */
	assert_null(cert_bundle_setting(back, "interface"));
	assert_null(cert_bundle_setting(back, "dht_replicas")); /* not a string */
	assert_int_equal(cert_bundle_setting_int(back, "listen", &n), -ENOENT);
	assert_int_equal(cert_bundle_setting_int(back, "nope", &n), -ENOENT);
	assert_int_equal(n, 5);
	/* Dumping again gives the same text. */
	assert_int_equal(cert_bundle_dump(back, &again, &err), 0);
	assert_string_equal(again, text);
	assert_non_null(strstr(text, "\"bootstrap\""));
	assert_true(text[strlen(text) - 1] == '\n');

	cert_secret_free(again);
	cert_secret_free(text);
	cert_bundle_free(back);
	cert_bundle_free(b);
	cert_bundle_free(NULL);
}

static void test_bundle_build_without_bootstrap(void **state)
{
	struct cert_bundle *b = NULL, *back = NULL;
	struct cert_err err = {{0}};
	char *text = NULL;
	json_t *root;

	(void)state;
	assert_int_equal(cert_bundle_build(fx.ca, fx.cert, fx.key, NULL, 0, &b, &err), 0);
	assert_int_equal(cert_bundle_bootstrap_count(b), 0);
	assert_null(cert_bundle_bootstrap(b, 0));
	assert_int_equal(cert_bundle_dump(b, &text, &err), 0);
	root = json_loads(text, 0, NULL);
	assert_non_null(root);
	assert_true(json_is_array(json_object_get(root, "bootstrap")));
	assert_int_equal(json_array_size(json_object_get(root, "bootstrap")), 0);
	assert_int_equal(json_object_size(root), 7); /* no settings written */
	json_decref(root);
	assert_int_equal(cert_bundle_parse(text, strlen(text), &back, &err), 0);
	assert_int_equal(cert_bundle_bootstrap_count(back), 0);
	cert_secret_free(text);
	cert_bundle_free(back);
	cert_bundle_free(b);
}

static void test_bundle_build_refuses_bad_input(void **state)
{
	static const char *const bad_boot[] = {"198.18.0.1:7000", "no-port"};
	const char *many[65];
	struct cert_ca *other = h_ca("other", NET, CERT_ALGO_ED25519);
	EVP_PKEY *k2 = h_key(CERT_ALGO_ED25519);
	X509 *foreign = h_issue(other, fx.key, "node1", NULL);
	struct cert_bundle *b = NULL;
	struct cert_err err;

	(void)state;
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_build(fx.ca, fx.cert, k2, NULL, 0, &b, &err), -EINVAL, err);
	assert_msg_has(err.msg, "does not match");
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_build(fx.ca, foreign, fx.key, NULL, 0, &b, &err), -EINVAL, err);
	assert_msg_has(err.msg, "namespace 'other'");
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_build(fx.ca, fx.cert, fx.key, bad_boot, 2, &b, &err), -EINVAL, err);
	assert_msg_has(err.msg, "bootstrap entry 1");
	for (size_t i = 0; i < 65; i++)
		many[i] = "198.18.0.1:7000";
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_build(fx.ca, fx.cert, fx.key, many, 65, &b, &err), -EINVAL, err);
	assert_msg_has(err.msg, "64");
	assert_null(b);
	/* 64 is allowed. */
	assert_int_equal(cert_bundle_build(fx.ca, fx.cert, fx.key, many, 64, &b, &err), 0);
	assert_int_equal(cert_bundle_bootstrap_count(b), 64);
	cert_bundle_free(b);
	X509_free(foreign);
	EVP_PKEY_free(k2);
	cert_ca_free(other);
}

static void test_bundle_save_writes_0600_and_loads_back(void **state)
{
	struct cert_bundle *b = good_bundle(), *back = NULL;
	struct cert_err err = {{0}};
	char tmp[64], path[128], *text;
	mode_t old = umask(0);
	struct stat st;

	(void)state;
	h_tmpdir(tmp);
	snprintf(path, sizeof(path), "%s/member.json", tmp);
	/* An existing world-readable file is replaced by a 0600 one. */
	h_spit(path, "old");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(cert_bundle_save(b, path, &err), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(h_dir_entries(tmp), 1);
	text = h_slurp(path, NULL);
	assert_string_equal(text, fx.json);
	cert_secret_free(text);
	assert_int_equal(cert_bundle_load(path, &back, &err), 0);
	assert_int_equal(X509_cmp(cert_bundle_cert(back), fx.cert), 0);
	assert_int_equal(EVP_PKEY_eq(cert_bundle_key(back), fx.key), 1);
	cert_bundle_free(back);
	/* Saving into a missing directory fails and leaves nothing. */
	snprintf(path, sizeof(path), "%s/missing/member.json", tmp);
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_save(b, path, &err), -ENOENT, err);
	assert_int_equal(h_dir_entries(tmp), 1);
	cert_bundle_free(b);
	h_rmtree(tmp);
}

static void test_bundle_load_errors_name_the_file(void **state)
{
	struct cert_bundle *b = NULL;
	struct cert_err err = {{0}};
	char tmp[64], path[128], *big;
	FILE *f;

	(void)state;
	h_tmpdir(tmp);
	snprintf(path, sizeof(path), "%s/none.json", tmp);
	assert_err(cert_bundle_load(path, &b, &err), -ENOENT, err);
	assert_msg_has(err.msg, "none.json");
	snprintf(path, sizeof(path), "%s/bad.json", tmp);
	h_spit(path, "{\"namespace\": \"demo\", \"foo\": 1}");
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_load(path, &b, &err), -EINVAL, err);
	assert_msg_has(err.msg, "bad.json");
	assert_msg_has(err.msg, "unknown key 'foo'");
	/* A 10 MB file: refused by size before it is read. */
	snprintf(path, sizeof(path), "%s/big.json", tmp);
	big = h_filled(10 * 1024 * 1024, ' ');
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(big, 1, 10 * 1024 * 1024, f), 10 * 1024 * 1024);
	assert_int_equal(fclose(f), 0);
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_load(path, &b, &err), -EFBIG, err);
	assert_msg_has(err.msg, "big.json");
	assert_err(cert_bundle_load(tmp, &b, &err), -EINVAL, err); /* a directory */
	assert_null(b);
	free(big);
	h_rmtree(tmp);
}

/* ---- shape errors ----------------------------------------------------- */

static void test_bundle_missing_each_required_key_is_named(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		json_t *root = good_root();
		struct cert_err err;
		char want[64];

		assert_int_equal(json_object_del(root, required[i]), 0);
		snprintf(want, sizeof(want), "missing key '%s'", required[i]);
		assert_err(parse_root(root, &err), -EINVAL, err);
		assert_msg_has(err.msg, want);
		json_decref(root);
	}
	/* The empty object: the first missing key is named. */
	{
		json_t *root = json_object();
		struct cert_err err;

		assert_err(parse_root(root, &err), -EINVAL, err);
		assert_msg_has(err.msg, "missing key 'namespace'");
		json_decref(root);
	}
}

static void test_bundle_wrong_type_of_each_key_is_named(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		char want[64];
		bool is_array = !strcmp(required[i], "bootstrap");

		snprintf(want, sizeof(want), "key '%s' must be", required[i]);
		expect_bad_value(required[i], json_integer(1), want);
		expect_bad_value(required[i], json_null(), want);
		expect_bad_value(required[i], json_true(), want);
		expect_bad_value(required[i], json_object(), want);
		expect_bad_value(required[i], json_real(1.5), want);
		if (is_array)
			expect_bad_value(required[i], json_string("198.18.0.1:7000"), want);
		else
			expect_bad_value(required[i], json_pack("[s]", "x"), want);
	}
	/* Settings have types too. */
	expect_bad_value("listen", json_integer(7000), "key 'listen' must be a string");
	expect_bad_value("interface", json_true(), "key 'interface' must be a string");
	expect_bad_value("state_dir", json_null(), "key 'state_dir' must be a string");
	expect_bad_value("control_socket", json_pack("[s]", "/x"), "key 'control_socket'");
	expect_bad_value("shortcuts", json_integer(1), "key 'shortcuts' must be a string");
	expect_bad_value("dht_replicas", json_string("5"), "key 'dht_replicas' must be an integer");
	expect_bad_value("dht_replicas", json_real(5.0), "key 'dht_replicas' must be an integer");
	expect_bad_value("dht_replicas", json_true(), "key 'dht_replicas' must be an integer");
}

static void test_bundle_unknown_key_is_named(void **state)
{
	(void)state;
	expect_bad_value("foo", json_integer(1), "unknown key 'foo'");
	expect_bad_value("Namespace", json_string(NS), "unknown key 'Namespace'");
	expect_bad_value("", json_string(""), "unknown key ''");
	/* A very long unknown key is cut, not overflowed. */
	{
		char *k = h_filled(5000, 'k');

		expect_bad_value(k, json_integer(1), "unknown key 'kkkk");
		free(k);
	}
}

static void test_bundle_duplicate_key_is_refused(void **state)
{
	size_t n = strlen(fx.json);
	char *text = malloc(n + 64);
	struct cert_bundle *b = NULL;
	struct cert_err err = {{0}};

	(void)state;
	assert_non_null(text);
	/* {"network": "10.7.0.0/24", <the good bundle's keys> } */
	snprintf(text, n + 64, "{\"network\": \"" NET "\",%s", strchr(fx.json, '{') + 1);
	assert_err(cert_bundle_parse(text, strlen(text), &b, &err), -EINVAL, err);
	assert_msg_has(err.msg, "duplicate");
	assert_msg_has(err.msg, "network");
	assert_null(b);
	free(text);
}

static void test_bundle_not_an_object_is_refused(void **state)
{
	static const char *const bad[] = {"[]", "[1, 2]", "\"x\"", "1", "null", "true"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cert_bundle *b = NULL;
		struct cert_err err = {{0}};

		assert_err(cert_bundle_parse(bad[i], strlen(bad[i]), &b, &err), -EINVAL, err);
		assert_msg_has(err.msg, i < 2 ? "must be a JSON object" : "bundle:");
		assert_null(b);
	}
}

static void test_bundle_invalid_json_says_where(void **state)
{
	size_t n = strlen(fx.json);
	char *buf = malloc(n + 2);
	struct {
		const char *text;
		size_t len;
	} bad[] = {
#define L(s) {s, sizeof(s) - 1}
	        L(""),
	        L("{"),
	        L("{\"namespace\": }"),
	        L("{\"namespace\": \"demo\",}"),
	        L("{'namespace': 'demo'}"),
	        L("{\"namespace\": \"\xff\"}"), /* not UTF-8 */
#undef L
	        {fx.json, n / 2}, /* truncated */
	        {buf, n + 1},     /* trailing garbage */
	        {buf, n + 1},     /* embedded NUL (set below) */
	};

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cert_bundle *b = NULL;
		struct cert_err err = {{0}};

		memcpy(buf, fx.json, n);
		buf[n] = i == 7 ? 'x' : '\0';
		if (i == 8) {
			memcpy(buf, fx.json, n + 1);
			buf[n / 2] = '\0';
		}
		assert_err(cert_bundle_parse(bad[i].text, bad[i].len, &b, &err), -EINVAL, err);
		assert_msg_has(err.msg, "not valid JSON");
		assert_msg_has(err.msg, "line");
		assert_null(b);
	}
	free(buf);
}

static void test_bundle_10mb_input_is_efbig(void **state)
{
	struct cert_bundle *b = NULL;
	struct cert_err err = {{0}};
	char *big = h_filled(10 * 1024 * 1024, ' ');

	(void)state;
	assert_err(cert_bundle_parse(big, 10 * 1024 * 1024, &b, &err), -EFBIG, err);
	assert_msg_has(err.msg, "too large");
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_parse(big, CERT_BUNDLE_MAX + 1, &b, &err), -EFBIG, err);
	/* Valid JSON of 10 MB: a huge string value. */
	big[0] = '{';
	memcpy(big + 1, "\"foo\": \"", 8);
	big[10 * 1024 * 1024 - 2] = '"';
	big[10 * 1024 * 1024 - 1] = '}';
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_parse(big, 10 * 1024 * 1024, &b, &err), -EFBIG, err);
	/* Just under the cap it is parsed, and refused for what it says. */
	big[CERT_BUNDLE_MAX - 2] = '"';
	big[CERT_BUNDLE_MAX - 1] = '}';
	memset(&err, 0, sizeof(err));
	assert_err(cert_bundle_parse(big, CERT_BUNDLE_MAX, &b, &err), -EINVAL, err);
	assert_msg_has(err.msg, "unknown key 'foo'");
	assert_null(b);
	free(big);
}

/* ---- meaning errors --------------------------------------------------- */

static void test_bundle_key_not_matching_cert_is_refused(void **state)
{
	(void)state;
	for (int algo = 0; algo < CERT_ALGO_MAX; algo++) {
		EVP_PKEY *k = h_key((enum cert_algo)algo);
		char *pem = key_pem(k);

		expect_bad_value("key", json_string(pem), "key 'key' does not match key 'cert'");
		cert_secret_free(pem);
		EVP_PKEY_free(k);
	}
}

static void test_bundle_cert_from_other_namespace_is_refused(void **state)
{
	struct cert_ca *other = h_ca("other", NET, CERT_ALGO_ED25519);
	X509 *x = h_issue(other, fx.key, "node1", NULL);
	struct cert_err err = {{0}};
	char *pem = NULL;

	(void)state;
	assert_int_equal(cert_x509_to_pem(x, &pem, &err), 0);
	expect_bad_value("cert", json_string(pem), "key 'cert' is for namespace 'other'");
	free(pem);
	X509_free(x);
	cert_ca_free(other);
}

static void test_bundle_cert_from_other_ca_parses_but_is_wrong_ca(void **state)
{
	/* Parsing is structural (docs/bundle.md): the signature is verify's job. */
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	X509 *x = h_issue(other, fx.key, "node1", NULL);
	struct cert_bundle *b = NULL;
	struct cert_err err = {{0}};
	json_t *root = good_root();
	char *pem = NULL, *text;

	(void)state;
	assert_int_equal(cert_x509_to_pem(x, &pem, &err), 0);
	assert_int_equal(json_object_set_new(root, "cert", json_string(pem)), 0);
	text = json_dumps(root, 0);
	assert_int_equal(cert_bundle_parse(text, strlen(text), &b, &err), 0);
	assert_int_equal(cert_bundle_verify(b, H_NOW, NULL, &err), CERT_WRONG_CA);
	assert_msg_has(err.msg, "wrong CA");
	cert_bundle_free(b);
	free(text);
	free(pem);
	json_decref(root);
	X509_free(x);
	cert_ca_free(other);
}

static void test_bundle_crl_or_ca_from_other_ca_is_refused(void **state)
{
	/* Same namespace, same subject name: only the signature differs. */
	struct cert_ca *other = h_ca(NS, NET, CERT_ALGO_ED25519);
	struct cert_ca *other_ns = h_ca("other", NET, CERT_ALGO_ED25519);
	char *crl = h_crl_pem(other), *ca = h_ca_pem(other), *ca_ns = h_ca_pem(other_ns);

	(void)state;
	expect_bad_value("crl", json_string(crl), "not signed");
	expect_bad_value("crl", json_string(crl), "key 'ca/crl'");
	expect_bad_value("ca", json_string(ca), "not signed");
	/* A CA of another group. */
	expect_bad_value("ca", json_string(ca_ns), "namespace");
	/* A node certificate is not a CA. */
	{
		struct cert_err err = {{0}};
		char *node = NULL;

		assert_int_equal(cert_x509_to_pem(fx.cert, &node, &err), 0);
		expect_bad_value("ca", json_string(node), "not a CA");
		free(node);
	}
	free(crl);
	free(ca);
	free(ca_ns);
	cert_ca_free(other);
	cert_ca_free(other_ns);
}

static void test_bundle_garbage_pem_names_the_key(void **state)
{
	static const struct {
		const char *key, *part;
	} cases[] = {
	        {"ca", "key 'ca/crl': CA certificate"},
	        {"crl", "key 'ca/crl': CRL"},
	        {"cert", "key 'cert': certificate"},
	        {"key", "key 'key': private key"},
	};
	json_t *good = good_root();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *pem = json_string_value(json_object_get(good, cases[i].key));
		size_t n = strlen(pem);
		char *cut = strndup(pem, n / 2), *two = malloc(2 * n + 1);

		assert_non_null(cut);
		assert_non_null(two);
		snprintf(two, 2 * n + 1, "%s%s", pem, pem);
		expect_bad_value(cases[i].key, json_string("garbage"), cases[i].part);
		expect_bad_value(cases[i].key, json_string(""), cases[i].part);
		expect_bad_value(cases[i].key, json_string(cut), cases[i].part);
		expect_bad_value(cases[i].key, json_string(two), cases[i].part);
		free(cut);
		free(two);
	}
	/* A PEM of 64 KiB + 1 inside a bundle. */
	{
		char *big = h_filled(CERT_PEM_MAX + 1, 'A');

		expect_bad_value_rc("cert", json_string(big), "key 'cert': certificate: too large",
		                    -EFBIG);
		free(big);
	}
	json_decref(good);
}

static void test_bundle_bad_namespace_or_network_is_named(void **state)
{
	(void)state;
	expect_bad_value("namespace", json_string("bad ns"), "key 'namespace' is malformed");
	expect_bad_value("namespace", json_string(""), "key 'namespace'");
	expect_bad_value("namespace", json_string("other"), "namespace");
	expect_bad_value("network", json_string("10.7.0.1/24"), "key 'network'");
	expect_bad_value("network", json_string("10.7.0.0/31"), "key 'network'");
	expect_bad_value("network", json_string("fd00::/64"), "key 'network'");
}

static void test_bundle_network_is_what_verify_checks(void **state)
{
	json_t *root = good_root();
	char *text;
	struct cert_bundle *b = NULL;
	struct cert_err err = {{0}};

	(void)state;
	/* Parsing is structural; the bundle's network is the one IPs are judged by. */
	assert_int_equal(json_object_set_new(root, "network", json_string("10.8.0.0/24")), 0);
	text = json_dumps(root, 0);
	assert_int_equal(cert_bundle_parse(text, strlen(text), &b, &err), 0);
	assert_int_equal(cert_bundle_verify(b, H_NOW, NULL, &err), CERT_IP_OUTSIDE_NETWORK);
	assert_msg_has(err.msg, "10.8.0.0/24");
	cert_bundle_free(b);
	free(text);
	json_decref(root);
}

static void test_bundle_bad_bootstrap_entry_is_named(void **state)
{
	json_t *many = json_array();

	(void)state;
	expect_bad_value("bootstrap", json_pack("[s]", "198.18.0.1"), "bootstrap entry 0");
	expect_bad_value("bootstrap", json_pack("[s]", "198.18.0.1"), "host:port");
	expect_bad_value("bootstrap", json_pack("[s]", "host:0"), "bootstrap entry 0");
	expect_bad_value("bootstrap", json_pack("[s]", "host:65536"), "bootstrap entry 0");
	expect_bad_value("bootstrap", json_pack("[s]", ""), "bootstrap entry 0");
	expect_bad_value("bootstrap", json_pack("[ss]", "a.example:1", "a:b:c"),
	                 "bootstrap entry 1");
	expect_bad_value("bootstrap", json_pack("[si]", "a.example:1", 7000),
	                 "bootstrap entry 1 must be a string");
	expect_bad_value("bootstrap", json_pack("[[]]"), "bootstrap entry 0 must be a string");
	expect_bad_value("bootstrap", json_pack("[n]"), "bootstrap entry 0 must be a string");
	for (int i = 0; i < 64; i++)
		assert_int_equal(json_array_append_new(many, json_string("198.18.0.1:7000")), 0);
	expect_good_value("bootstrap", json_deep_copy(many));
	assert_int_equal(json_array_append_new(many, json_string("198.18.0.1:7000")), 0);
	expect_bad_value("bootstrap", many, "more than 64");
	expect_good_value("bootstrap", json_array());
}

/* ---- settings --------------------------------------------------------- */

/* value must be accepted (good) or refused naming key, both in a parsed bundle
 * and through cert_bundle_set_setting. */
static void check_setting(const char *key, const char *value, bool good)
{
	struct cert_bundle *b = good_bundle();
	struct cert_err err = {{0}};
	char want[64];
	int rc = cert_bundle_set_setting(b, key, value, &err);

	snprintf(want, sizeof(want), "'%s'", key);
	if (good) {
		if (rc != 0)
			fail_msg("set %s=%s refused: %s", key, value, err.msg);
		if (!strcmp(key, "dht_replicas")) {
			long long n = 0;

			assert_int_equal(cert_bundle_setting_int(b, key, &n), 0);
			assert_int_equal(n, strtoll(value, NULL, 10));
			expect_good_value(key, json_integer(n));
		} else {
			assert_string_equal(cert_bundle_setting(b, key), value);
			expect_good_value(key, json_string(value));
		}
	} else {
		if (rc != -EINVAL || !strstr(err.msg, want))
			fail_msg("set %s=%s: rc %d msg '%s'", key, value, rc, err.msg);
		assert_null(cert_bundle_setting(b, key));
		if (strcmp(key, "dht_replicas"))
			expect_bad_value(key, json_string(value), want);
	}
	cert_bundle_free(b);
}

static void test_bundle_setting_listen(void **state)
{
	static const char *const good[] = {"0.0.0.0:7000", "0.0.0.0:0",     "[::]:7000",
	                                   "[::]:0",       "vpn.example:1", "127.0.0.1:65535"};
	static const char *const bad[] = {"0.0.0.0", "0.0.0.0:65536", ":7000", "a:b:c",
	                                  "",        "0.0.0.0:-1",    "[::]",  "0.0.0.0:0x10",
	                                  ":0",      "0.0.0.0:00"};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		check_setting("listen", good[i], true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_setting("listen", bad[i], false);
}

static void test_bundle_setting_interface(void **state)
{
	static const char *const bad[] = {"",  "0123456789abcdef", "a/b", "a:b", "a b", "a\tb", ".",
	                                  ".."};

	(void)state;
	check_setting("interface", "gvpn0", true);
	check_setting("interface", "0123456789abcde", true); /* 15 */
	check_setting("interface", "...", true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_setting("interface", bad[i], false);
}

static void test_bundle_setting_shortcuts(void **state)
{
	static const char *const good[] = {"always", "never", "threshold:1", "threshold:999999999"};
	static const char *const bad[] = {"sometimes",    "Always",
	                                  "threshold:",   "threshold:0",
	                                  "threshold:-1", "threshold:1x",
	                                  "threshold: 1", "threshold:1000000000",
	                                  "threshold",    "",
	                                  "always "};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		check_setting("shortcuts", good[i], true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_setting("shortcuts", bad[i], false);
}

static void test_bundle_setting_dht_replicas_range_and_type(void **state)
{
	static const char *const bad[] = {"2",   "9",  "17", "0",   "-3",
	                                  "abc", "5x", "",   "5.0", "99999999999999999999"};

	(void)state;
	check_setting("dht_replicas", "3", true);
	check_setting("dht_replicas", "5", true);
	check_setting("dht_replicas", "8", true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_setting("dht_replicas", bad[i], false);
	/* In JSON: range and type. */
	expect_bad_value("dht_replicas", json_integer(2), "key 'dht_replicas' must be 3..8");
	expect_bad_value("dht_replicas", json_integer(9), "must be 3..8");
	expect_bad_value("dht_replicas", json_integer(-1), "must be 3..8");
	expect_bad_value("dht_replicas", json_integer(INT64_MAX), "must be 3..8");
	expect_bad_value("dht_replicas", json_integer(INT64_MIN), "must be 3..8");
	expect_bad_value("dht_replicas", json_real(1e30), "must be an integer");
	expect_good_value("dht_replicas", json_integer(3));
}

static void test_bundle_setting_paths(void **state)
{
	char *p107 = h_filled(107, 'p'), *p108 = h_filled(108, 'p');
	char *p4095 = h_filled(4095, 'p'), *p4096 = h_filled(4096, 'p');

	(void)state;
	check_setting("control_socket", "/run/groupvpn.sock", true);
	check_setting("control_socket", p107, true);
	check_setting("control_socket", p108, false);
	check_setting("control_socket", "", false);
	check_setting("state_dir", "/var/lib/groupvpn", true);
	check_setting("state_dir", p4095, true);
	check_setting("state_dir", p4096, false);
	check_setting("state_dir", "", false);
	free(p107);
	free(p108);
	free(p4095);
	free(p4096);
}

static void test_bundle_set_setting_replaces_and_survives_dump(void **state)
{
	struct cert_bundle *b = good_bundle(), *back = NULL;
	struct cert_err err = {{0}};
	char *text = NULL;
	long long n = 0;

	(void)state;
	assert_int_equal(cert_bundle_set_setting(b, "interface", "gvpn0", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "interface", "gvpn1", &err), 0);
	assert_string_equal(cert_bundle_setting(b, "interface"), "gvpn1");
	assert_int_equal(cert_bundle_set_setting(b, "dht_replicas", "4", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "state_dir", "/var/lib/g", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "control_socket", "/run/g.sock", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "shortcuts", "never", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "listen", "[::]:0", &err), 0);
	assert_int_equal(cert_bundle_dump(b, &text, &err), 0);
	assert_int_equal(cert_bundle_parse(text, strlen(text), &back, &err), 0);
	assert_string_equal(cert_bundle_setting(back, "interface"), "gvpn1");
	assert_string_equal(cert_bundle_setting(back, "state_dir"), "/var/lib/g");
	assert_string_equal(cert_bundle_setting(back, "control_socket"), "/run/g.sock");
	assert_string_equal(cert_bundle_setting(back, "shortcuts"), "never");
	assert_string_equal(cert_bundle_setting(back, "listen"), "[::]:0");
	assert_int_equal(cert_bundle_setting_int(back, "dht_replicas", &n), 0);
	assert_int_equal(n, 4);
	cert_secret_free(text);
	cert_bundle_free(back);
	cert_bundle_free(b);
}

static void test_bundle_bad_set_setting_leaves_bundle_unchanged(void **state)
{
	static const struct {
		const char *key, *value, *part;
	} bad[] = {
	        {"foo", "1", "unknown setting 'foo'"},
	        {"namespace", "other", "unknown setting 'namespace'"},
	        {"key", "x", "unknown setting 'key'"},
	        {"listen", "nope", "'listen'"},
	        {"interface", "much-too-long-name", "'interface'"},
	        {"dht_replicas", "2", "'dht_replicas'"},
	        {"dht_replicas", "three", "'dht_replicas'"},
	        {"shortcuts", "maybe", "'shortcuts'"},
	        {"state_dir", "", "'state_dir'"},
	        {"interface", "\xff\xfe", "'interface'"}, /* not UTF-8 */
	};
	struct cert_bundle *b = good_bundle();
	struct cert_err err = {{0}};
	char *before = NULL, *after = NULL;
	long long n = 0;

	(void)state;
	assert_int_equal(cert_bundle_set_setting(b, "interface", "gvpn0", &err), 0);
	assert_int_equal(cert_bundle_set_setting(b, "dht_replicas", "5", &err), 0);
	assert_int_equal(cert_bundle_dump(b, &before, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_err(cert_bundle_set_setting(b, bad[i].key, bad[i].value, &err), -EINVAL,
		           err);
		assert_msg_has(err.msg, bad[i].part);
	}
	assert_string_equal(cert_bundle_setting(b, "interface"), "gvpn0");
	assert_int_equal(cert_bundle_setting_int(b, "dht_replicas", &n), 0);
	assert_int_equal(n, 5);
	assert_null(cert_bundle_setting(b, "listen"));
	assert_int_equal(cert_bundle_dump(b, &after, &err), 0);
	assert_string_equal(after, before);
	cert_secret_free(before);
	cert_secret_free(after);
	cert_bundle_free(b);
}

/* ---- verification ----------------------------------------------------- */

static void test_bundle_verify_valid_expired_and_revoked(void **state)
{
	struct cert_bundle *b = good_bundle(), *rb = NULL;
	struct cert_info info;
	struct cert_err err = {{0}};
	struct cert_ca *ca = h_ca(NS, NET, CERT_ALGO_ED25519);
	EVP_PKEY *k = h_key(CERT_ALGO_ED25519);
	X509 *x = h_issue(ca, k, "gone", NULL);

	(void)state;
	memset(&info, 0, sizeof(info));
	assert_int_equal(cert_bundle_verify(b, H_NOW, &info, &err), CERT_VALID);
	assert_string_equal(err.msg, "");
	assert_string_equal(info.name, "node1");
	assert_string_equal(info.namespace, NS);
	assert_string_equal(info.ip, "10.7.0.5");
	assert_int_equal(cert_bundle_verify(b, H_NODE_END + 1, &info, &err), CERT_EXPIRED);
	assert_true(err.msg[0] != '\0');
	memset(&err, 0, sizeof(err));
	assert_int_equal(cert_bundle_verify(b, H_NODE_START - 1, NULL, &err), CERT_NOT_YET_VALID);
	assert_true(err.msg[0] != '\0');
	/* A bundle made after its certificate was revoked carries the CRL that says so. */
	assert_int_equal(cert_ca_revoke(ca, h_info(x).serial, H_NOW, &err), 0);
	assert_int_equal(cert_bundle_build(ca, x, k, NULL, 0, &rb, &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(cert_bundle_verify(rb, H_NOW, NULL, &err), CERT_REVOKED);
	assert_true(err.msg[0] != '\0');
	cert_bundle_free(rb);
	X509_free(x);
	EVP_PKEY_free(k);
	cert_ca_free(ca);
	cert_bundle_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_bundle_build_dump_parse_round_trip),
	        cmocka_unit_test(test_bundle_build_without_bootstrap),
	        cmocka_unit_test(test_bundle_build_refuses_bad_input),
	        cmocka_unit_test(test_bundle_save_writes_0600_and_loads_back),
	        cmocka_unit_test(test_bundle_load_errors_name_the_file),
	        cmocka_unit_test(test_bundle_missing_each_required_key_is_named),
	        cmocka_unit_test(test_bundle_wrong_type_of_each_key_is_named),
	        cmocka_unit_test(test_bundle_unknown_key_is_named),
	        cmocka_unit_test(test_bundle_duplicate_key_is_refused),
	        cmocka_unit_test(test_bundle_not_an_object_is_refused),
	        cmocka_unit_test(test_bundle_invalid_json_says_where),
	        cmocka_unit_test(test_bundle_10mb_input_is_efbig),
	        cmocka_unit_test(test_bundle_key_not_matching_cert_is_refused),
	        cmocka_unit_test(test_bundle_cert_from_other_namespace_is_refused),
	        cmocka_unit_test(test_bundle_cert_from_other_ca_parses_but_is_wrong_ca),
	        cmocka_unit_test(test_bundle_crl_or_ca_from_other_ca_is_refused),
	        cmocka_unit_test(test_bundle_garbage_pem_names_the_key),
	        cmocka_unit_test(test_bundle_bad_namespace_or_network_is_named),
	        cmocka_unit_test(test_bundle_network_is_what_verify_checks),
	        cmocka_unit_test(test_bundle_bad_bootstrap_entry_is_named),
	        cmocka_unit_test(test_bundle_setting_listen),
	        cmocka_unit_test(test_bundle_setting_interface),
	        cmocka_unit_test(test_bundle_setting_shortcuts),
	        cmocka_unit_test(test_bundle_setting_dht_replicas_range_and_type),
	        cmocka_unit_test(test_bundle_setting_paths),
	        cmocka_unit_test(test_bundle_set_setting_replaces_and_survives_dump),
	        cmocka_unit_test(test_bundle_bad_set_setting_leaves_bundle_unchanged),
	        cmocka_unit_test(test_bundle_verify_valid_expired_and_revoked),
	};

	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
