// SPDX-License-Identifier: MIT
/* certs — is this certificate a member of our group, now? */
#include "cert_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

void cert_trust_free(struct cert_trust *t)
{
	if (!t)
		return;
	X509_free(t->ca);
	cert_crl_free(t->crl);
	free(t);
}

int cert_trust_new(const char *ca_pem, size_t ca_len, const char *crl_pem, size_t crl_len,
                   const char *ns, const char *network, struct cert_trust **out,
                   struct cert_err *err)
{
	struct cert_trust *t;
	int rc;

	if (!cert_name_valid(ns))
		return cert_errf(err, -EINVAL, "namespace '%.64s' is malformed", ns ? ns : "");
	t = calloc(1, sizeof(*t));
	if (!t)
		return cert_errf(err, -ENOMEM, "out of memory");
	snprintf(t->namespace, sizeof(t->namespace), "%s", ns);
	if (network) {
		if ((rc = cert_network_parse(network, &t->network, err)) < 0)
			goto fail;
		t->has_network = true;
	}
	if ((rc = cert_x509_from_pem(ca_pem, ca_len, &t->ca, err)) < 0) {
		cert_err_prefix(err, rc, "CA "); /* say which certificate was bad */
		goto fail;
	}
	if ((rc = cert_ca_cert_check(t->ca, ns, err)) < 0)
		goto fail;
	if (crl_pem) {
		if ((rc = cert_crl_from_pem(crl_pem, crl_len, &t->crl, err)) < 0)
			goto fail;
		if (!cert_crl_signed_by(t->crl->crl, t->ca)) {
			rc = cert_errf(err, -EINVAL, "CRL is not signed by the group CA");
			goto fail;
		}
	}
	*out = t;
	return 0;
fail:
	cert_trust_free(t);
	return rc;
}

int cert_trust_load_ca_dir(const char *dir, struct cert_trust **out, struct cert_err *err)
{
	char path[4096], ns[CERT_NAMESPACE_MAX + 1], net[CERT_NET_STR], *ca = NULL, *crl = NULL;
	struct cert_network network;
	enum cert_algo algo;
	size_t ca_len, crl_len;
	int rc;

	/* A verifier needs the public half only: ca.crt, crl.pem, group.json. */
	if ((rc = cert_group_json_read(dir, ns, &network, &algo, err)) < 0)
		return rc;
	cert_network_format(&network, net);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if ((rc = cert_file_read(path, CERT_PEM_MAX, &ca, &ca_len, err)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/crl.pem", dir);
	if ((rc = cert_file_read(path, CERT_PEM_MAX, &crl, &crl_len, err)) < 0)
		goto out;
	rc = cert_trust_new(ca, ca_len, crl, crl_len, ns, net, out, err);
	if (rc < 0)
		cert_err_prefix(err, rc, "%.200s: ", dir);
out:
	free(ca);
	free(crl);
	return rc;
}

int cert_trust_update_crl(struct cert_trust *t, const char *crl_pem, size_t len,
                          struct cert_err *err)
{
	struct cert_crl *c = NULL;
	int rc = cert_crl_from_pem(crl_pem, len, &c, err);

	if (rc < 0)
		return rc;
	if (!cert_crl_signed_by(c->crl, t->ca)) {
		cert_crl_free(c);
		return cert_errf(err, -EINVAL, "CRL is not signed by the group CA");
	}
	if (t->crl && cert_crl_number(c) <= cert_crl_number(t->crl)) {
		rc = cert_errf(err, -EALREADY, "CRL number %llu is not newer than %llu",
		               (unsigned long long)cert_crl_number(c),
		               (unsigned long long)cert_crl_number(t->crl));
		cert_crl_free(c);
		return rc;
	}
	cert_crl_free(t->crl);
	t->crl = c;
	return 0;
}

const struct cert_crl *cert_trust_crl(const struct cert_trust *t)
{
	return t->crl;
}

const char *cert_trust_namespace(const struct cert_trust *t)
{
	return t->namespace;
}

X509 *cert_trust_ca(const struct cert_trust *t)
{
	return t->ca;
}

/*
 * A CRL whose dates do not cover "now" still lists what it lists: a node with
 * a skewed clock must not lose every link, and a stale CRL is better than
 * none. Its signature is still checked.
 */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);

	if (!ok && (e == X509_V_ERR_CRL_NOT_YET_VALID || e == X509_V_ERR_CRL_HAS_EXPIRED))
		return 1;
	return ok;
}

static enum cert_verdict map_x509_error(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return CERT_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return CERT_NOT_YET_VALID;
	case X509_V_ERR_CERT_REVOKED:
		return CERT_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
	case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_CERT_UNTRUSTED:
		return CERT_WRONG_CA;
	default:
		return CERT_MALFORMED;
	}
}

static enum cert_verdict verify_chain(const struct cert_trust *t, X509 *x, time_t now,
                                      struct cert_err *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	enum cert_verdict v = CERT_MALFORMED;
	int e, depth;

	if (!store || !ctx || !X509_STORE_add_cert(store, t->ca) ||
	    (t->crl && !X509_STORE_add_crl(store, t->crl->crl)) ||
	    !X509_STORE_CTX_init(ctx, store, x, NULL)) {
		cert_err_ossl(err, -ENOMEM, "verification set-up failed");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (t->crl)
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	if (X509_verify_cert(ctx) == 1) {
		v = CERT_VALID;
		goto out;
	}
	e = X509_STORE_CTX_get_error(ctx);
	depth = X509_STORE_CTX_get_error_depth(ctx);
	v = map_x509_error(e);
	cert_errf(err, -EINVAL, "%s: %s%s", cert_verdict_name(v), X509_verify_cert_error_string(e),
	          depth > 0 ? " (the group CA certificate)" : "");
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return v;
}

enum cert_verdict cert_verify(const struct cert_trust *t, X509 *x, time_t now,
                              struct cert_info *info, struct cert_err *err)
{
	struct cert_info ci;
	struct cert_err ierr;
	enum cert_verdict v;
	bool have_info;
	EVP_PKEY *pub;

	if (!x)
		return cert_errf(err, 0, "malformed: no certificate"), CERT_MALFORMED;
	have_info = cert_info_get(x, &ci, &ierr) == 0;
	if (have_info && info)
		*info = ci;
	/* Chain first: "wrong CA" says more about a stranger's certificate
	 * than any complaint about its fields would. */
	v = verify_chain(t, x, now, err);
	if (v != CERT_VALID)
		return v;
	if (!have_info)
		return cert_errf(err, 0, "malformed: %s", ierr.msg), CERT_MALFORMED;
	if (X509_check_ca(x) > 0)
		return cert_errf(err, 0, "malformed: a CA certificate is not a node certificate"),
		       CERT_MALFORMED;
	pub = X509_get0_pubkey(x);
	if (!pub || !EVP_PKEY_is_a(pub, "ED25519"))
		return cert_errf(err, 0, "malformed: node key must be Ed25519"), CERT_MALFORMED;
	if (strcmp(ci.namespace, t->namespace) != 0)
		return cert_errf(err, 0, "wrong namespace: certificate is for '%s', group is '%s'",
		                 ci.namespace, t->namespace),
		       CERT_WRONG_NAMESPACE;
	if (ci.has_ip && t->has_network) {
		struct in_addr a;
		char net[CERT_NET_STR];

		cert_network_format(&t->network, net);
		if (inet_pton(AF_INET, ci.ip, &a) != 1 ||
		    !cert_network_has_host(&t->network, ntohl(a.s_addr)))
			return cert_errf(err, 0, "IP %s is outside the group network %s", ci.ip,
			                 net),
			       CERT_IP_OUTSIDE_NETWORK;
	}
	if (err)
		err->msg[0] = '\0';
	return CERT_VALID;
}
