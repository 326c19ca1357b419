// SPDX-License-Identifier: MIT
/* Test helpers for the certs/ unit tests (see helpers.h). */
#include "helpers.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct cert_ca *h_ca(const char *ns, const char *network, enum cert_algo algo)
{
	struct cert_ca_params p = {
	        .namespace = ns,
	        .network = network,
	        .algo = algo,
	        .not_before = H_CA_START,
	        .not_after = H_CA_END,
	};
	struct cert_err err = {{0}};
	struct cert_ca *ca = NULL;
	int rc = cert_ca_create(&p, &ca, &err);

	if (rc < 0)
		fail_msg("cert_ca_create(%s, %s): %d %s", ns, network, rc, err.msg);
	return ca;
}

EVP_PKEY *h_key(enum cert_algo algo)
{
	struct cert_err err = {{0}};
	EVP_PKEY *k = NULL;
	int rc = cert_key_generate(algo, &k, &err);

	if (rc < 0)
		fail_msg("cert_key_generate: %d %s", rc, err.msg);
	return k;
}

X509 *h_issue(struct cert_ca *ca, EVP_PKEY *key, const char *name, const char *ip)
{
	struct cert_issue_params p = {
	        .name = name,
	        .ip = ip,
	        .not_before = H_NODE_START,
	        .not_after = H_NODE_END,
	};
	struct cert_err err = {{0}};
	X509 *x = NULL;
	int rc = cert_ca_issue(ca, key, &p, &x, &err);

	if (rc < 0)
		fail_msg("cert_ca_issue(%s): %d %s", name, rc, err.msg);
	return x;
}

char *h_ca_pem(const struct cert_ca *ca)
{
	struct cert_err err = {{0}};
	char *pem = NULL;
	int rc = cert_x509_to_pem(cert_ca_x509(ca), &pem, &err);

	if (rc < 0)
		fail_msg("cert_x509_to_pem: %d %s", rc, err.msg);
	return pem;
}

char *h_crl_pem(const struct cert_ca *ca)
{
	struct cert_err err = {{0}};
	char *pem = NULL;
	int rc = cert_crl_to_pem(cert_ca_crl(ca), &pem, &err);

	if (rc < 0)
		fail_msg("cert_crl_to_pem: %d %s", rc, err.msg);
	return pem;
}

struct cert_trust *h_trust(const struct cert_ca *ca)
{
	char *ca_pem = h_ca_pem(ca), *crl_pem = h_crl_pem(ca), net[CERT_NET_STR];
	struct cert_err err = {{0}};
	struct cert_trust *t = NULL;
	int rc;

	cert_network_format(cert_ca_network(ca), net);
	rc = cert_trust_new(ca_pem, strlen(ca_pem), crl_pem, strlen(crl_pem), cert_ca_namespace(ca),
	                    net, &t, &err);
	free(ca_pem);
	free(crl_pem);
	if (rc < 0)
		fail_msg("cert_trust_new: %d %s", rc, err.msg);
	return t;
}

EVP_PKEY *h_ca_key(const struct cert_ca *ca)
{
	char dir[64], path[128], *pem;
	struct cert_err err = {{0}};
	EVP_PKEY *k = NULL;
	size_t len;
	int rc;

	h_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/ca", dir);
	if ((rc = cert_ca_save_dir(ca, path, &err)) < 0)
		fail_msg("cert_ca_save_dir: %d %s", rc, err.msg);
	snprintf(path, sizeof(path), "%s/ca/ca.key", dir);
	pem = h_slurp(path, &len);
	rc = cert_key_from_pem(pem, len, &k, &err);
	cert_secret_free(pem);
	h_rmtree(dir);
	if (rc < 0)
		fail_msg("cert_key_from_pem(ca.key): %d %s", rc, err.msg);
	return k;
}

struct cert_info h_info(X509 *x)
{
	struct cert_err err = {{0}};
	struct cert_info info;
	int rc = cert_info_get(x, &info, &err);

	if (rc < 0)
		fail_msg("cert_info_get: %d %s", rc, err.msg);
	return info;
}

static void add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

X509 *h_make_cert(EVP_PKEY *signer, X509 *issuer, EVP_PKEY *pub, const char *cn, const char *san,
                  bool is_ca, time_t not_before, time_t not_after)
{
	static long serial = 1000;
	const EVP_MD *md = EVP_PKEY_is_a(signer, "ED25519") ? NULL : EVP_sha256();
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	if (cn)
		assert_int_equal(X509_NAME_add_entry_by_NID(X509_get_subject_name(x),
		                                            NID_commonName, MBSTRING_UTF8,
		                                            (const unsigned char *)cn, -1, -1, 0),
		                 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)), 1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), not_before));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), not_after));
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	add_ext(issuer ? issuer : x, x, NID_basic_constraints,
	        is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(issuer ? issuer : x, x, NID_key_usage,
	        is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	add_ext(issuer ? issuer : x, x, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(issuer, x, NID_authority_key_identifier, "keyid:always");
	if (san)
		add_ext(issuer ? issuer : x, x, NID_subject_alt_name, san);
	assert_true(X509_sign(x, signer, md) > 0);
	return x;
}

void h_tmpdir(char out[64])
{
	snprintf(out, 64, "/tmp/gvpn-unit-XXXXXX");
	if (!mkdtemp(out))
		fail_msg("mkdtemp failed");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void h_rmtree(const char *dir)
{
	/* Tests chmod files; as root that never blocks removal. */
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fail_msg("cannot remove %s", dir);
}

int h_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

char *h_slurp(const char *path, size_t *len)
{
	struct cert_err err = {{0}};
	char *text = NULL;
	size_t n = 0;
	int rc = cert_file_read(path, 64 * 1024 * 1024, &text, &n, &err);

	if (rc < 0)
		fail_msg("read %s: %d %s", path, rc, err.msg);
	if (len)
		*len = n;
	return text;
}

void h_spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fail_msg("cannot write %s", path);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

char *h_filled(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}
