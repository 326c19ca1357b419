// SPDX-License-Identifier: MIT
/*
 * fuzz_crl — bytes as a group CRL (cert_crl_from_pem), then every reader:
 * count, serial, number, is_revoked; and cert_trust_update_crl() against a
 * trust that holds CRL number 2 of a fixed CA.
 *
 * The same bytes are also taken as DER and wrapped in PEM: the fuzzer sees no
 * coverage inside OpenSSL, and mutating base64 text rarely yields a CRL that
 * decodes, while mutating DER does. And since it cannot forge the CA's
 * signature, every CRL that parses is also re-signed — the CA's name as
 * issuer, the CA key (read back from a CA directory written once at start-up)
 * — and offered to a fresh copy of the trust, which reaches the CRL-number
 * comparison.
 *
 * Properties, each an abort() when broken:
 *  - every refusal says why;
 *  - every entry's serial reads back (parsing promised that) as lowercase hex
 *    without leading zeros, is_revoked() finds it, and the index past the end
 *    is -ERANGE;
 *  - a parsed CRL re-encodes to PEM that parses to the same entries and number;
 *  - the trust never takes an input as given: that would be a forged signature;
 *  - it takes a re-signed one exactly when its CRL number is above 2
 *    (0, and then holds its entries), and otherwise answers -EALREADY.
 */
#include "cert.h"
#include "fuzz_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NS     "fuzz"
#define FUZZ_T0     ((time_t)1700000000)
#define TRUST_CRL_N 2 /* the number of the CRL the trust holds */

static struct cert_trust *trust;
static char *ca_pem, *crl_pem; /* to make fresh copies of the trust */
static EVP_PKEY *ca_key;       /* signs the re-signed copies */
static X509_NAME *ca_name;     /* their issuer */

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_crl: property broken: %s%s%s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

static void free_at_exit(void)
{
	cert_trust_free(trust);
	free(ca_pem);
	free(crl_pem);
	EVP_PKEY_free(ca_key);
	X509_NAME_free(ca_name);
	trust = NULL;
}

/*
 * A CA for namespace "fuzz" (re-signed inputs get its issuer name,
 * so seeds reach the signature check), trusted with CRL number 1; then CRL
 * number 2 must replace it and a second copy of 2 must not.
 */
static void trust_init(void)
{
	const struct cert_ca_params cp = {
	        .namespace = FUZZ_NS,
	        .network = "10.99.0.0/16",
	        .algo = CERT_ALGO_ED25519,
	        .not_before = FUZZ_T0,
	        .not_after = FUZZ_T0 + 20 * 365 * 86400,
	};
	struct cert_ca *ca = NULL;
	struct cert_err err = {""};
	char *crl1 = NULL;

	if (cert_ca_create(&cp, &ca, &err) < 0 ||
	    cert_x509_to_pem(cert_ca_x509(ca), &ca_pem, &err) < 0 ||
	    cert_crl_to_pem(cert_ca_crl(ca), &crl1, &err) < 0 ||
	    cert_trust_new(ca_pem, strlen(ca_pem), crl1, strlen(crl1), FUZZ_NS, NULL, &trust,
	                   &err) < 0 ||
	    cert_ca_revoke(ca, "1234abcd", FUZZ_T0 + 60, &err) < 0 ||
	    cert_crl_to_pem(cert_ca_crl(ca), &crl_pem, &err) < 0)
		die("start-up", err.msg);
	if (cert_trust_update_crl(trust, crl_pem, strlen(crl_pem), &err) != 0)
		die("start-up: a newer CRL was not taken", err.msg);
	if (cert_trust_update_crl(trust, crl_pem, strlen(crl_pem), &err) != -EALREADY)
		die("start-up: the same CRL was taken twice", err.msg);
	if (cert_crl_number(cert_trust_crl(trust)) != TRUST_CRL_N ||
	    !cert_crl_is_revoked(cert_trust_crl(trust), "1234abcd"))
		die("start-up: the trust does not hold CRL 2", NULL);
	{
		struct cert_err kerr = {""};

		if (!(ca_key = fuzz_ca_key(ca, "fuzz_crl", &kerr)))
			die("start-up: reading the CA key back", kerr.msg);
	}
	ca_name = X509_NAME_dup(X509_get_subject_name(cert_ca_x509(ca)));
	if (!ca_name)
		die("start-up: CA name", NULL);
	atexit(free_at_exit);
	free(crl1);
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

static void check_serial(const char *hex)
{
	size_t n = strlen(hex);

	if (n == 0 || n > CERT_SERIAL_HEX || (n > 1 && hex[0] == '0'))
		die("serial is not 1-40 hex digits without leading zeros", hex);
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)hex[i]) || isupper((unsigned char)hex[i]))
			die("serial is not lowercase hex", hex);
}

static bool same_entries(const struct cert_crl *a, const struct cert_crl *b)
{
	char ha[CERT_SERIAL_HEX + 1], hb[CERT_SERIAL_HEX + 1];

	if (cert_crl_count(a) != cert_crl_count(b))
		return false;
	for (size_t i = 0; i < cert_crl_count(a); i++)
		if (cert_crl_serial(a, i, ha) != 0 || cert_crl_serial(b, i, hb) != 0 ||
		    strcmp(ha, hb) != 0)
			return false;
	return true;
}

/* The PEM of a copy of c as if our CA had signed it (new), or NULL. */
static char *resign(const struct cert_crl *c)
{
	X509_CRL *y = X509_CRL_dup(cert_crl_x509(c));
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	long n;

	if (y && bio && X509_CRL_set_issuer_name(y, ca_name) && X509_CRL_sign(y, ca_key, NULL) &&
	    PEM_write_bio_X509_CRL(bio, y) && (n = BIO_get_mem_data(bio, &data)) > 0 &&
	    (pem = malloc((size_t)n + 1))) {
		memcpy(pem, data, (size_t)n);
		pem[n] = '\0';
	}
	BIO_free(bio);
	X509_CRL_free(y);
	ERR_clear_error();
	return pem;
}

/* A re-signed copy of c, offered to a fresh trust holding CRL 2. */
static void check_resigned(const struct cert_crl *c)
{
	struct cert_trust *t = NULL;
	struct cert_crl *parsed = NULL;
	struct cert_err err = {""};
	char *pem = resign(c);
	int rc;

	if (!pem || strlen(pem) > CERT_PEM_MAX) { /* signing may not grow it past the cap */
		free(pem);
		return;
	}
	if (cert_crl_from_pem(pem, strlen(pem), &parsed, &err) < 0)
		die("a re-signed CRL does not parse", err.msg);
	if (cert_trust_new(ca_pem, strlen(ca_pem), crl_pem, strlen(crl_pem), FUZZ_NS, NULL, &t,
	                   &err) < 0)
		die("fresh trust", err.msg);
	rc = cert_trust_update_crl(t, pem, strlen(pem), &err);
	if (cert_crl_number(parsed) > TRUST_CRL_N) {
		if (rc != 0)
			die("a newer CRL signed by the CA was refused", err.msg);
		if (cert_crl_number(cert_trust_crl(t)) != cert_crl_number(parsed) ||
		    !same_entries(cert_trust_crl(t), parsed))
			die("the trust took a newer CRL but does not hold it", NULL);
	} else {
		if (rc != -EALREADY)
			die("a CRL not newer than the trust's was not -EALREADY", err.msg);
		if (cert_crl_number(cert_trust_crl(t)) != TRUST_CRL_N)
			die("a refused CRL changed the trust", NULL);
	}
	cert_trust_free(t);
	cert_crl_free(parsed);
	free(pem);
}

/* Entries, reads and round trip. */
static void check(const struct cert_crl *crl)
{
	struct cert_crl *again = NULL;
	struct cert_err err = {""};
	char hex[CERT_SERIAL_HEX + 1], *pem = NULL;
	size_t n = cert_crl_count(crl);

	if (!cert_crl_x509(crl))
		die("parsed CRL has no X509_CRL", NULL);
	for (size_t i = 0; i < n; i++) {
		if (cert_crl_serial(crl, i, hex) != 0)
			die("an entry's serial does not read back", NULL);
		check_serial(hex);
		if (!cert_crl_is_revoked(crl, hex))
			die("is_revoked misses an entry", hex);
	}
	if (cert_crl_serial(crl, n, hex) != -ERANGE)
		die("serial past the end is not -ERANGE", NULL);
	(void)cert_crl_is_revoked(crl, "1");

	if (cert_crl_to_pem(crl, &pem, &err) < 0)
		die("a parsed CRL does not encode", err.msg);
	if (cert_crl_from_pem(pem, strlen(pem), &again, &err) < 0)
		die("the PEM of a parsed CRL does not parse", err.msg);
	if (cert_crl_number(again) != cert_crl_number(crl) || !same_entries(crl, again))
		die("PEM round trip changed the entries or the number", NULL);
	cert_crl_free(again);
	free(pem);
}

static void one(const char *pem, size_t len)
{
	struct cert_crl *crl = NULL;
	struct cert_err err = {""};
	int rc;

	if (cert_crl_from_pem(pem, len, &crl, &err) == 0) {
		check(crl);
		check_resigned(crl);
		cert_crl_free(crl);
	} else if (!err.msg[0]) {
		die("cert_crl_from_pem refused without a reason", NULL);
	}
	err.msg[0] = '\0';
	rc = cert_trust_update_crl(trust, pem, len, &err);
	if (rc == 0 || rc == -EALREADY)
		die("the trust took a CRL its CA never signed", NULL);
	if (!err.msg[0])
		die("cert_trust_update_crl refused without a reason", NULL);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	BIO *bio;
	char *pem;
	long n;

	if (!trust)
		trust_init();
	one((const char *)data, size);
	if (size == 0) /* PEM_write_bio() refuses to wrap nothing */
		return 0;
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio(bio, "X509 CRL", "", data, (long)size))
		die("out of memory wrapping DER in PEM", NULL);
	n = BIO_get_mem_data(bio, &pem);
	one(pem, (size_t)n);
	BIO_free(bio);
	return 0;
}
