// SPDX-License-Identifier: MIT
/* certs — the group CA: create, issue node certificates, revoke, CA directory. */
#include "cert_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct cert_ca {
	EVP_PKEY *key;
	X509 *cert;
	struct cert_crl *crl;
	char namespace[CERT_NAMESPACE_MAX + 1];
	struct cert_network network;
	enum cert_algo algo;
};

/* Ed25519 signs the message itself; ECDSA needs a digest. */
static const EVP_MD *sign_md(const struct cert_ca *ca)
{
	return ca->algo == CERT_ALGO_ED25519 ? NULL : EVP_sha256();
}

static int random_serial(ASN1_INTEGER *out)
{
	BIGNUM *bn = BN_new();
	int ok = 0;

	/* 127 random bits: positive, at most 16 octets, never zero in practice. */
	while (bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1) {
		if (BN_is_zero(bn))
			continue;
		ok = BN_to_ASN1_INTEGER(bn, out) != NULL;
		break;
	}
	BN_free(bn);
	return ok ? 0 : -EIO;
}

static int add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(subject, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EIO;
}

static int set_name(X509_NAME *n, const char *cn)
{
	return X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	                                  (const unsigned char *)cn, -1, -1, 0)
	               ? 0
	               : -EIO;
}

/* O=<namespace>, CN=groupvpn CA: X.509 caps each at 64 characters, and a
 * namespace may use all 64. */
static int set_ca_name(X509_NAME *n, const char *ns)
{
	return X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
	                                  (const unsigned char *)ns, -1, -1, 0)
	               ? set_name(n, "groupvpn CA")
	               : -EIO;
}

/* A fresh, signed CRL with the given entries (may be NULL) and number. */
static int crl_sign(const struct cert_ca *ca, const X509_CRL *base, ASN1_INTEGER *add_serial,
                    time_t now, uint64_t number, X509_CRL **out, struct cert_err *err)
{
	X509_CRL *crl = base ? X509_CRL_dup(base) : X509_CRL_new();
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	X509_REVOKED *r = NULL;
	int idx, rc = -EIO;

	if (!crl)
		goto out;
	if (!base && (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	              !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert))))
		goto out;
	if (add_serial) {
		if (!(r = X509_REVOKED_new()) || !(t = ASN1_TIME_set(NULL, now)) ||
		    !X509_REVOKED_set_serialNumber(r, add_serial) ||
		    !X509_REVOKED_set_revocationDate(r, t) || !X509_CRL_add0_revoked(crl, r))
			goto out;
		r = NULL; /* the CRL has it now */
		ASN1_TIME_free(t);
		t = NULL;
	}
	/* Valid from now until the CA itself expires: a CRL never goes stale
	 * before its CA does, and a newer one replaces it by CRL number. */
	if (!(t = ASN1_TIME_set(NULL, now)) || !X509_CRL_set1_lastUpdate(crl, t) ||
	    !X509_CRL_set1_nextUpdate(crl, X509_get0_notAfter(ca->cert)))
		goto out;
	idx = X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1);
	if (idx >= 0)
		X509_EXTENSION_free(X509_CRL_delete_ext(crl, idx));
	if (!(num = ASN1_INTEGER_new()) || !ASN1_INTEGER_set_uint64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto out;
	if (!X509_CRL_sort(crl) || !X509_CRL_sign(crl, ca->key, sign_md(ca)))
		goto out;
	*out = crl;
	crl = NULL;
	rc = 0;
out:
	if (rc < 0)
		cert_err_ossl(err, rc, "CRL signing failed");
	X509_REVOKED_free(r);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	return rc;
}

static int ca_set_crl(struct cert_ca *ca, X509_CRL *x, struct cert_err *err)
{
	struct cert_crl *c = calloc(1, sizeof(*c));

	if (!c) {
		X509_CRL_free(x);
		return cert_errf(err, -ENOMEM, "out of memory");
	}
	c->crl = x;
	cert_crl_free(ca->crl);
	ca->crl = c;
	return 0;
}

void cert_ca_free(struct cert_ca *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	cert_crl_free(ca->crl);
	OPENSSL_cleanse(ca, sizeof(*ca));
	free(ca);
}

int cert_ca_create(const struct cert_ca_params *p, struct cert_ca **out, struct cert_err *err)
{
	struct cert_ca *ca;
	X509_CRL *crl = NULL;
	char uri[CERT_NAMESPACE_MAX + 32];
	int rc;

	if (!cert_name_valid(p->namespace))
		return cert_errf(err, -EINVAL,
		                 "namespace '%.64s': want 1-%d of A-Z a-z 0-9 . _ - (not starting "
		                 "with . or -)",
		                 p->namespace ? p->namespace : "", CERT_NAMESPACE_MAX);
	if (p->not_after <= p->not_before)
		return cert_errf(err, -EINVAL, "CA validity: not_after must be after not_before");
	if ((unsigned)p->algo >= CERT_ALGO_MAX)
		return cert_errf(err, -EINVAL, "unknown CA algorithm");
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return cert_errf(err, -ENOMEM, "out of memory");
	ca->algo = p->algo;
	snprintf(ca->namespace, sizeof(ca->namespace), "%s", p->namespace);
	if ((rc = cert_network_parse(p->network, &ca->network, err)) < 0 ||
	    (rc = cert_key_generate(p->algo, &ca->key, err)) < 0)
		goto fail;
	snprintf(uri, sizeof(uri), "URI:" CERT_NS_URI_PREFIX "%s", p->namespace);
	rc = -EIO;
	if (!(ca->cert = X509_new()) || !X509_set_version(ca->cert, X509_VERSION_3) ||
	    random_serial(X509_get_serialNumber(ca->cert)) < 0 ||
	    set_ca_name(X509_get_subject_name(ca->cert), p->namespace) < 0 ||
	    !X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert)) ||
	    !ASN1_TIME_set(X509_getm_notBefore(ca->cert), p->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(ca->cert), p->not_after) ||
	    !X509_set_pubkey(ca->cert, ca->key) ||
	    add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(ca->cert, ca->cert, NID_subject_alt_name, uri) < 0 ||
	    !X509_sign(ca->cert, ca->key, sign_md(ca))) {
		cert_err_ossl(err, rc, "CA certificate creation failed");
		goto fail;
	}
	if ((rc = crl_sign(ca, NULL, NULL, p->not_before, 1, &crl, err)) < 0 ||
	    (rc = ca_set_crl(ca, crl, err)) < 0)
		goto fail;
	*out = ca;
	return 0;
fail:
	cert_ca_free(ca);
	return rc;
}

const char *cert_ca_namespace(const struct cert_ca *ca)
{
	return ca->namespace;
}

const struct cert_network *cert_ca_network(const struct cert_ca *ca)
{
	return &ca->network;
}

X509 *cert_ca_x509(const struct cert_ca *ca)
{
	return ca->cert;
}

const struct cert_crl *cert_ca_crl(const struct cert_ca *ca)
{
	return ca->crl;
}

int cert_ca_issue(struct cert_ca *ca, EVP_PKEY *pub, const struct cert_issue_params *p, X509 **out,
                  struct cert_err *err)
{
	char san[CERT_NAMESPACE_MAX + 64];
	struct in_addr ip;
	time_t ca_end, not_after = p->not_after;
	X509 *x = NULL;

	if (!cert_name_valid(p->name))
		return cert_errf(err, -EINVAL,
		                 "name '%.64s': want 1-%d of A-Z a-z 0-9 . _ - (not starting with "
		                 ". or -)",
		                 p->name ? p->name : "", CERT_NAME_MAX);
	if (!pub || !EVP_PKEY_is_a(pub, "ED25519"))
		return cert_errf(err, -EINVAL, "node keys must be Ed25519");
	if (p->ip) {
		char net[CERT_NET_STR];

		if (inet_pton(AF_INET, p->ip, &ip) != 1)
			return cert_errf(err, -EINVAL, "ip '%.46s' is not an IPv4 address", p->ip);
		cert_network_format(&ca->network, net);
		if (!cert_network_has_host(&ca->network, ntohl(ip.s_addr)))
			return cert_errf(err, -EINVAL,
			                 "ip %s is not a host address of the group network %s",
			                 p->ip, net);
	}
	if (cert_asn1_time(X509_get0_notAfter(ca->cert), &ca_end) < 0)
		return cert_errf(err, -EINVAL, "CA certificate has a malformed notAfter");
	if (not_after > ca_end)
		not_after = ca_end;
	if (not_after <= p->not_before)
		return cert_errf(err, -EINVAL,
		                 "validity: the certificate would end before it starts "
		                 "(has the CA expired?)");
	snprintf(san, sizeof(san), "URI:" CERT_NS_URI_PREFIX "%s%s%s", ca->namespace,
	         p->ip ? ",IP:" : "", p->ip ? p->ip : "");
	if (!(x = X509_new()) || !X509_set_version(x, X509_VERSION_3) ||
	    random_serial(X509_get_serialNumber(x)) < 0 ||
	    set_name(X509_get_subject_name(x), p->name) < 0 ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), p->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), not_after) || !X509_set_pubkey(x, pub) ||
	    add_ext(ca->cert, x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(ca->cert, x, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(ca->cert, x, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    add_ext(ca->cert, x, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(ca->cert, x, NID_authority_key_identifier, "keyid:always") < 0 ||
	    add_ext(ca->cert, x, NID_subject_alt_name, san) < 0 ||
	    !X509_sign(x, ca->key, sign_md(ca))) {
		X509_free(x);
		return cert_err_ossl(err, -EIO, "certificate signing failed");
	}
	*out = x;
	return 0;
}

int cert_ca_revoke(struct cert_ca *ca, const char *serial, time_t now, struct cert_err *err)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *s = NULL;
	X509_CRL *crl = NULL;
	char norm[CERT_SERIAL_HEX + 1];
	int rc;

	if (!serial || !*serial || strlen(serial) > CERT_SERIAL_HEX ||
	    strspn(serial, "0123456789abcdefABCDEF") != strlen(serial) || !BN_hex2bn(&bn, serial) ||
	    !(s = BN_to_ASN1_INTEGER(bn, NULL))) {
		rc = cert_errf(err, -EINVAL, "serial '%.48s': want 1-%d hex digits",
		               serial ? serial : "", CERT_SERIAL_HEX);
		goto out;
	}
	if ((rc = cert_serial_hex(s, norm)) < 0) {
		cert_errf(err, rc, "serial '%.48s' is malformed", serial);
		goto out;
	}
	if (cert_crl_is_revoked(ca->crl, norm)) {
		rc = cert_errf(err, -EALREADY, "serial %s is already revoked", norm);
		goto out;
	}
	if ((rc = crl_sign(ca, ca->crl->crl, s, now, cert_crl_number(ca->crl) + 1, &crl, err)) < 0)
		goto out;
	rc = ca_set_crl(ca, crl, err);
out:
	BN_free(bn);
	ASN1_INTEGER_free(s);
	return rc;
}

/* ---- CA directory ----------------------------------------------------- */

static void path_join(char *out, size_t n, const char *dir, const char *file)
{
	snprintf(out, n, "%s/%s", dir, file);
}

int cert_ca_save_crl(const struct cert_ca *ca, const char *dir, struct cert_err *err)
{
	char path[4096], *pem = NULL;
	int rc;

	path_join(path, sizeof(path), dir, "crl.pem");
	if ((rc = cert_crl_to_pem(ca->crl, &pem, err)) < 0)
		return rc;
	rc = cert_file_write_atomic(path, pem, strlen(pem), 0644, err);
	free(pem);
	return rc;
}

int cert_ca_save_dir(const struct cert_ca *ca, const char *dir, struct cert_err *err)
{
	static const char *const files[] = {"ca.key", "ca.crt", "crl.pem", "group.json"};
	char path[4096], net[CERT_NET_STR], *key = NULL, *crt = NULL, *grp = NULL;
	json_t *g = NULL;
	size_t written = 0;
	struct stat st;
	int rc;

	if (strlen(dir) > 4000)
		return cert_errf(err, -ENAMETOOLONG, "%.40s...: path too long", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cert_errf(err, -errno, "%s: %s", dir, strerror(errno));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path_join(path, sizeof(path), dir, files[i]);
		if (lstat(path, &st) == 0)
			return cert_errf(err, -EEXIST,
			                 "%s already exists: refusing to overwrite a CA", path);
	}
	cert_network_format(&ca->network, net);
	g = json_pack("{s:s, s:s, s:s}", "namespace", ca->namespace, "network", net, "algo",
	              cert_algo_name(ca->algo));
	if (!g || !(grp = cert_json_text(g))) {
		rc = cert_errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cert_key_to_pem(ca->key, &key, err)) < 0 ||
	    (rc = cert_x509_to_pem(ca->cert, &crt, err)) < 0)
		goto out;
	/* The key first: whatever else fails, no CA ever exists without it. */
	path_join(path, sizeof(path), dir, "ca.key");
	if ((rc = cert_file_write_atomic(path, key, strlen(key), 0600, err)) < 0)
		goto out;
	written++;
	path_join(path, sizeof(path), dir, "ca.crt");
	if ((rc = cert_file_write_atomic(path, crt, strlen(crt), 0644, err)) < 0)
		goto out;
	written++;
	if ((rc = cert_ca_save_crl(ca, dir, err)) < 0)
		goto out;
	written++;
	path_join(path, sizeof(path), dir, "group.json");
	if ((rc = cert_file_write_atomic(path, grp, strlen(grp), 0644, err)) < 0)
		goto out;
	written++;
out:
	if (rc < 0) { /* leave nothing half-made */
		for (size_t i = 0; i < written; i++) {
			path_join(path, sizeof(path), dir, files[i]);
			unlink(path);
		}
	}
	cert_secret_free(key);
	free(crt);
	free(grp);
	json_decref(g);
	return rc;
}

/* group.json: {"namespace", "network", "algo"}, nothing else. */
int cert_group_json_read(const char *dir, char *ns, struct cert_network *net, enum cert_algo *algo,
                         struct cert_err *err)
{
	char path[4096], *text = NULL;
	const char *k, *s_ns = NULL, *s_net = NULL, *s_algo = NULL;
	json_error_t jerr;
	json_t *g = NULL, *v;
	size_t len;
	int rc;

	path_join(path, sizeof(path), dir, "group.json");
	if ((rc = cert_file_read(path, 64 * 1024, &text, &len, err)) < 0)
		return rc;
	g = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!g || !json_is_object(g)) {
		rc = cert_errf(err, -EINVAL, "%s: %s", path, g ? "not a JSON object" : jerr.text);
		goto out;
	}
	json_object_foreach (g, k, v) {
		const char **slot = !strcmp(k, "namespace") ? &s_ns
		                    : !strcmp(k, "network") ? &s_net
		                    : !strcmp(k, "algo")    ? &s_algo
		                                            : NULL;

		if (!slot) {
			rc = cert_errf(err, -EINVAL, "%s: unknown key '%.64s'", path, k);
			goto out;
		}
		if (!json_is_string(v)) {
			rc = cert_errf(err, -EINVAL, "%s: key '%s' must be a string", path, k);
			goto out;
		}
		*slot = json_string_value(v);
	}
	if (!s_ns || !s_net || !s_algo) {
		rc = cert_errf(err, -EINVAL, "%s: missing key '%s'", path,
		               !s_ns    ? "namespace"
		               : !s_net ? "network"
		                        : "algo");
		goto out;
	}
	if (!cert_name_valid(s_ns)) {
		rc = cert_errf(err, -EINVAL, "%s: namespace is malformed", path);
		goto out;
	}
	if (cert_algo_parse(s_algo, algo) < 0) {
		rc = cert_errf(err, -EINVAL, "%s: algo must be ed25519 or p256", path);
		goto out;
	}
	if ((rc = cert_network_parse(s_net, net, err)) < 0)
		goto out;
	snprintf(ns, CERT_NAMESPACE_MAX + 1, "%s", s_ns);
out:
	json_decref(g);
	return rc;
}

static int read_pem_file(const char *dir, const char *file, char **out, size_t *len,
                         struct cert_err *err)
{
	char path[4096];

	path_join(path, sizeof(path), dir, file);
	return cert_file_read(path, CERT_PEM_MAX, out, len, err);
}

int cert_ca_cert_check(X509 *ca, const char *ns, struct cert_err *err)
{
	struct cert_info dummy;
	EVP_PKEY *pub = X509_get0_pubkey(ca);

	if (X509_check_ca(ca) < 1)
		return cert_errf(err, -EINVAL, "CA certificate is not a CA (basicConstraints)");
	if (!pub || !(EVP_PKEY_is_a(pub, "ED25519") || EVP_PKEY_is_a(pub, "EC")))
		return cert_errf(err, -EINVAL, "CA key must be Ed25519 or ECDSA P-256");
	if (X509_check_issued(ca, ca) != X509_V_OK || X509_verify(ca, pub) != 1) {
		ERR_clear_error();
		return cert_errf(err, -EINVAL, "CA certificate is not self-signed");
	}
	/* A CA that names a namespace must name ours; one that names none is fine
	 * (a CA made with the stock openssl command line). Read the SAN alone: the
	 * CA's CN ("groupvpn CA") is no node name, so cert_info_get() would
	 * always fail here and let any namespace through. */
	memset(&dummy, 0, sizeof(dummy));
	if (ns && X509_get_ext_by_NID(ca, NID_subject_alt_name, -1) >= 0) {
		struct cert_err e2;
		int rc = cert_san_read(ca, &dummy, &e2);

		if (dummy.namespace[0] && (rc < 0 || strcmp(dummy.namespace, ns) != 0))
			return cert_errf(err, -EINVAL,
			                 "CA certificate belongs to namespace '%.64s', not '%s'",
			                 dummy.namespace, ns);
	}
	return 0;
}

int cert_ca_load_dir(const char *dir, struct cert_ca **out, struct cert_err *err)
{
	struct cert_ca *ca;
	char path[4096], *pem = NULL;
	struct cert_crl *crl = NULL;
	struct stat st;
	size_t len;
	int rc;

	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return cert_errf(err, -ENOMEM, "out of memory");
	if ((rc = cert_group_json_read(dir, ca->namespace, &ca->network, &ca->algo, err)) < 0)
		goto fail;
	path_join(path, sizeof(path), dir, "ca.key");
	if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		rc = cert_errf(err, -EPERM, "%s: permissions %04o are too open (want 0600)", path,
		               (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if ((rc = read_pem_file(dir, "ca.key", &pem, &len, err)) < 0)
		goto fail;
	rc = cert_key_from_pem(pem, len, &ca->key, err);
	OPENSSL_clear_free(pem, len);
	pem = NULL;
	if (rc < 0)
		goto fail;
	if ((rc = read_pem_file(dir, "ca.crt", &pem, &len, err)) < 0 ||
	    (rc = cert_x509_from_pem(pem, len, &ca->cert, err)) < 0 ||
	    (rc = cert_ca_cert_check(ca->cert, ca->namespace, err)) < 0)
		goto fail;
	free(pem);
	pem = NULL;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		rc = cert_err_ossl(err, -EINVAL, "%s: ca.key does not match ca.crt", dir);
		goto fail;
	}
	if ((ca->algo == CERT_ALGO_ED25519) != (EVP_PKEY_is_a(ca->key, "ED25519") == 1)) {
		rc = cert_errf(err, -EINVAL, "%s: group.json algo does not match ca.key", dir);
		goto fail;
	}
	if ((rc = read_pem_file(dir, "crl.pem", &pem, &len, err)) < 0 ||
	    (rc = cert_crl_from_pem(pem, len, &crl, err)) < 0)
		goto fail;
	if (!cert_crl_signed_by(crl->crl, ca->cert)) {
		rc = cert_errf(err, -EINVAL, "%s: crl.pem is not signed by this CA", dir);
		goto fail;
	}
	ca->crl = crl;
	crl = NULL;
	free(pem);
	*out = ca;
	return 0;
fail:
	free(pem);
	cert_crl_free(crl);
	cert_ca_free(ca);
	return rc;
}
