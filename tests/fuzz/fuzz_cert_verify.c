// SPDX-License-Identifier: MIT
/*
 * fuzz_cert_verify — bytes as a node certificate, PEM (cert_x509_from_pem)
 * and DER (d2i_X509), then cert_info_get() and cert_verify() against one
 * fixed group trust.
 *
 * The trust is made once at start-up: an Ed25519 CA for namespace "fuzz"
 * (subject "O=fuzz, CN=groupvpn CA"; inputs are re-signed with it, issuer included) with
 * one revoked serial in its CRL. Start-up also checks the verdicts that fuzz
 * inputs cannot reach on their own — valid, revoked, expired, not yet valid —
 * on certificates it issues itself.
 *
 * The fuzzer sees no coverage inside OpenSSL and cannot forge signatures, so
 * on its own it would never get past the chain check. So each parsed input is
 * also re-signed: a copy gets the CA's name as issuer, loses its authority key
 * identifier and is signed with the CA key (read back from a CA directory
 * written once at start-up), and is verified in the middle of its own dates.
 * That copy reaches the field checks: CN, namespace, IP, key type, CA flag.
 *
 * Properties, each an abort() when broken:
 *  - every refusal says why, and a verdict is one of the enum's values;
 *  - a certificate that parsed re-encodes to PEM that parses to an equal
 *    certificate with equal fields;
 *  - an input as given is never "valid": that would be a forged signature;
 *  - a re-signed copy that is "valid" is what cert_verify promises: a node
 *    (not CA) certificate with an Ed25519 key, a valid name, our namespace,
 *    and a fixed IP (if any) that is a host of our network.
 */
#include "cert.h"
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NS       "fuzz"
#define FUZZ_NET      "10.99.0.0/16"
#define FUZZ_T0       ((time_t)1700000000) /* 2023-11-14: the CA starts here */
#define FUZZ_DAY      ((time_t)86400)
#define FUZZ_CA_END   (FUZZ_T0 + 20 * 365 * FUZZ_DAY)
#define FUZZ_NODE_END (FUZZ_T0 + 365 * FUZZ_DAY)
/* Inside the validity of the certificates start-up issues. */
#define FUZZ_NOW (FUZZ_T0 + 30 * FUZZ_DAY)

static struct cert_trust *trust;
static EVP_PKEY *ca_key;   /* signs the re-signed copies */
static X509_NAME *ca_name; /* their issuer */
static struct cert_network net;

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_cert_verify: property broken: %s%s%s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

static void expect_verdict(X509 *x, time_t now, enum cert_verdict want, const char *what)
{
	struct cert_err err = {""};
	enum cert_verdict v = cert_verify(trust, x, now, NULL, &err);

	if (v != want) {
		fprintf(stderr, "fuzz_cert_verify: %s: want '%s', got '%s' (%s)\n", what,
		        cert_verdict_name(want), cert_verdict_name(v), err.msg);
		abort();
	}
}

static void free_at_exit(void)
{
	cert_trust_free(trust);
	EVP_PKEY_free(ca_key);
	X509_NAME_free(ca_name);
	trust = NULL;
}

static void trust_init(void)
{
	const struct cert_ca_params cp = {
	        .namespace = FUZZ_NS,
	        .network = FUZZ_NET,
	        .algo = CERT_ALGO_ED25519,
	        .not_before = FUZZ_T0,
	        .not_after = FUZZ_CA_END,
	};
	struct cert_issue_params ip = {
	        .name = "node-1",
	        .ip = "10.99.0.7",
	        .not_before = FUZZ_T0,
	        .not_after = FUZZ_NODE_END,
	};
	struct cert_ca *ca = NULL;
	struct cert_info info;
	struct cert_err err = {""};
	EVP_PKEY *key = NULL;
	X509 *good = NULL, *gone = NULL;
	char *ca_pem = NULL, *crl_pem = NULL;

	if (cert_ca_create(&cp, &ca, &err) < 0 ||
	    cert_key_generate(CERT_ALGO_ED25519, &key, &err) < 0 ||
	    cert_ca_issue(ca, key, &ip, &good, &err) < 0)
		die("start-up: CA and first node", err.msg);
	ip.name = "node-2";
	ip.ip = NULL;
	if (cert_ca_issue(ca, key, &ip, &gone, &err) < 0 || cert_info_get(gone, &info, &err) < 0 ||
	    cert_ca_revoke(ca, info.serial, FUZZ_T0 + FUZZ_DAY, &err) < 0)
		die("start-up: revoked node", err.msg);
	if (cert_x509_to_pem(cert_ca_x509(ca), &ca_pem, &err) < 0 ||
	    cert_crl_to_pem(cert_ca_crl(ca), &crl_pem, &err) < 0 ||
	    cert_trust_new(ca_pem, strlen(ca_pem), crl_pem, strlen(crl_pem), FUZZ_NS, FUZZ_NET,
	                   &trust, &err) < 0)
		die("start-up: trust", err.msg);
	/* The valid path, and the ones only the CA key can reach. */
	expect_verdict(good, FUZZ_NOW, CERT_VALID, "issued certificate");
	expect_verdict(gone, FUZZ_NOW, CERT_REVOKED, "revoked certificate");
	expect_verdict(good, FUZZ_NODE_END + FUZZ_DAY, CERT_EXPIRED, "after notAfter");
	expect_verdict(good, FUZZ_T0 - FUZZ_DAY, CERT_NOT_YET_VALID, "before notBefore");
	expect_verdict(cert_ca_x509(ca), FUZZ_NOW, CERT_MALFORMED, "the CA as a node");
	{
		struct cert_err kerr = {""};

		if (!(ca_key = fuzz_ca_key(ca, "fuzz_cert_verify", &kerr)))
			die("start-up: reading the CA key back", kerr.msg);
	}
	ca_name = X509_NAME_dup(X509_get_subject_name(cert_ca_x509(ca)));
	if (!ca_name || cert_network_parse(FUZZ_NET, &net, &err) < 0)
		die("start-up: CA name and network", err.msg);
	atexit(free_at_exit);
	free(ca_pem);
	free(crl_pem);
	X509_free(gone);
	X509_free(good);
	EVP_PKEY_free(key);
	cert_ca_free(ca);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!trust)
		trust_init();
	return 0;
}

static bool info_equal(const struct cert_info *a, const struct cert_info *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->namespace, b->namespace) &&
	       !memcmp(a->addr.b, b->addr.b, sizeof(a->addr.b)) && a->has_ip == b->has_ip &&
	       (!a->has_ip || !strcmp(a->ip, b->ip)) && !strcmp(a->serial, b->serial) &&
	       a->not_before == b->not_before && a->not_after == b->not_after;
}

/* What a "valid" verdict promises about a certificate. */
static void check_valid(X509 *x, const struct cert_info *info)
{
	EVP_PKEY *pub = X509_get0_pubkey(x);
	struct in_addr a;

	if (!cert_name_valid(info->name) || strcmp(info->namespace, FUZZ_NS) != 0)
		die("valid, yet the name or namespace is not ours", info->name);
	if (!pub || !EVP_PKEY_is_a(pub, "ED25519"))
		die("valid, yet the key is not Ed25519", info->name);
	if (X509_check_ca(x) > 0)
		die("valid, yet a CA certificate", info->name);
	if (info->has_ip && (inet_pton(AF_INET, info->ip, &a) != 1 ||
	                     !cert_network_has_host(&net, ntohl(a.s_addr))))
		die("valid, yet the IP is not a host of " FUZZ_NET, info->ip);
}

/* A copy of x as if our CA had signed it; NULL if OpenSSL cannot sign it. */
static X509 *resign(X509 *x)
{
	X509 *y = X509_dup(x);
	int i;

	if (!y)
		return NULL;
	while ((i = X509_get_ext_by_NID(y, NID_authority_key_identifier, -1)) >= 0)
		X509_EXTENSION_free(X509_delete_ext(y, i));
	if (!X509_set_issuer_name(y, ca_name) || !X509_sign(y, ca_key, NULL)) {
		X509_free(y);
		y = NULL;
	}
	ERR_clear_error();
	return y;
}

/* The middle of x's validity, or FUZZ_NOW if its dates do not read. */
static time_t midpoint(X509 *x)
{
	struct tm nb, na;

	if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &nb) ||
	    !ASN1_TIME_to_tm(X509_get0_notAfter(x), &na)) {
		ERR_clear_error();
		return FUZZ_NOW;
	}
	return timegm(&nb) / 2 + timegm(&na) / 2;
}

/* The re-signed copy, verified inside its own dates. */
static void check_resigned(X509 *x)
{
	struct cert_info vinfo;
	struct cert_err err = {""};
	enum cert_verdict v;
	time_t now = midpoint(x);
	X509 *y = resign(x);

	if (!y)
		return;
	v = cert_verify(trust, y, now, &vinfo, &err);
	if ((unsigned)v >= CERT_VERDICT_MAX)
		die("verdict out of range", NULL);
	if (v == CERT_VALID) {
		if (err.msg[0])
			die("valid, yet an error message", err.msg);
		check_valid(y, &vinfo);
	} else if (!err.msg[0]) {
		die("refusal without a reason", cert_verdict_name(v));
	}
	X509_free(y);
}

static void check(X509 *x)
{
	struct cert_info info, vinfo, info2;
	struct cert_err err = {""};
	enum cert_verdict v;
	bool have_info;
	char *pem = NULL;
	X509 *y = NULL;

	have_info = cert_info_get(x, &info, &err) == 0;
	if (!have_info && !err.msg[0])
		die("cert_info_get refused without a reason", NULL);
	if (have_info && (!cert_name_valid(info.name) || !cert_name_valid(info.namespace)))
		die("cert_info_get accepted an invalid name or namespace", info.name);

	err.msg[0] = '\0';
	v = cert_verify(trust, x, FUZZ_NOW, &vinfo, &err);
	if ((unsigned)v >= CERT_VERDICT_MAX)
		die("verdict out of range", NULL);
	if (v == CERT_VALID)
		die("a fuzz input was valid: it chains to a CA key it never saw", info.name);
	if (!err.msg[0])
		die("refusal without a reason", cert_verdict_name(v));
	check_resigned(x);

	if (cert_x509_to_pem(x, &pem, &err) < 0)
		die("a parsed certificate does not encode", err.msg);
	if (cert_x509_from_pem(pem, strlen(pem), &y, &err) < 0)
		die("the PEM of a parsed certificate does not parse", err.msg);
	if (X509_cmp(x, y) != 0)
		die("PEM round trip changed the certificate", NULL);
	if (have_info != (cert_info_get(y, &info2, &err) == 0) ||
	    (have_info && !info_equal(&info, &info2)))
		die("PEM round trip changed cert_info_get", err.msg);
	X509_free(y);
	free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cert_err err = {""};
	const unsigned char *p = data;
	X509 *x = NULL;

	if (!trust)
		trust_init();
	if (cert_x509_from_pem((const char *)data, size, &x, &err) == 0) {
		check(x);
		X509_free(x);
		x = NULL;
	} else if (!err.msg[0]) {
		die("cert_x509_from_pem refused without a reason", NULL);
	}
	x = d2i_X509(NULL, &p, (long)size);
	if (x) {
		check(x);
		X509_free(x);
	}
	ERR_clear_error();
	return 0;
}
