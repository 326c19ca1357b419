// SPDX-License-Identifier: MIT
/* certs — keys, PEM, overlay addresses and reading a node certificate's fields. */
#include "cert_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

int cert_key_generate(enum cert_algo algo, EVP_PKEY **out, struct cert_err *err)
{
	EVP_PKEY *k = NULL;

	switch (algo) {
	case CERT_ALGO_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case CERT_ALGO_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case CERT_ALGO_MAX:
		break;
	}
	if (!k)
		return cert_err_ossl(err, -EIO, "key generation (%s) failed", cert_algo_name(algo));
	*out = k;
	return 0;
}

/* Copies a memory BIO's contents into a new NUL-terminated string. */
static int bio_to_string(BIO *bio, char **out, bool secret)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s;

	if (n < 0)
		return -EIO;
	s = malloc((size_t)n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	if (secret)
		OPENSSL_cleanse(data, (size_t)n);
	*out = s;
	return 0;
}

int cert_key_to_pem(EVP_PKEY *key, char **out, struct cert_err *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	int rc;

	if (!bio)
		return cert_err_ossl(err, -ENOMEM, "key to PEM");
	if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		rc = cert_err_ossl(err, -EIO, "key to PEM");
	else if ((rc = bio_to_string(bio, out, true)) < 0)
		cert_errf(err, rc, "key to PEM: out of memory");
	BIO_free(bio);
	return rc;
}

/* Only whitespace may follow the one PEM object we read. */
static bool bio_rest_blank(BIO *bio)
{
	char c;

	while (BIO_read(bio, &c, 1) == 1)
		if (!isspace((unsigned char)c))
			return false;
	return true;
}

static int pem_precheck(const char *pem, size_t len, const char *what, struct cert_err *err)
{
	if (!pem || len == 0)
		return cert_errf(err, -EINVAL, "%s: empty", what);
	if (len > CERT_PEM_MAX)
		return cert_errf(err, -EFBIG, "%s: too large (%zu bytes, limit %d)", what, len,
		                 CERT_PEM_MAX);
	if (memchr(pem, '\0', len))
		return cert_errf(err, -EINVAL, "%s: contains a NUL byte", what);
	return 0;
}

/*
 * OpenSSL's PEM readers skip any PEM block of another type that comes first,
 * so "<CRL><certificate>" would read as one certificate. One object means one
 * BEGIN line.
 */
static int pem_one_object(const char *pem, size_t len, const char *what, struct cert_err *err)
{
	static const char begin[] = "-----BEGIN ";
	const char *p = memmem(pem, len, begin, sizeof(begin) - 1);

	if (p && memmem(p + 1, len - (size_t)(p + 1 - pem), begin, sizeof(begin) - 1))
		return cert_errf(err, -EINVAL, "%s: more than one PEM object (one per file)", what);
	return 0;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int cert_key_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct cert_err *err)
{
	BIO *bio;
	EVP_PKEY *k;
	int rc = pem_precheck(pem, len, "private key", err);

	if (rc < 0)
		return rc;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return cert_err_ossl(err, -ENOMEM, "private key");
	/* A passphrase callback that refuses: encrypted keys fail instead of
	 * prompting (an empty passphrase would still decrypt a key locked with ""). */
	k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (!k) {
		rc = cert_err_ossl(err, -EINVAL, "private key: not a PEM private key");
	} else if (!bio_rest_blank(bio)) {
		EVP_PKEY_free(k);
		rc = cert_errf(err, -EINVAL, "private key: unexpected data after the key");
	} else {
		*out = k;
	}
	BIO_free(bio);
	return rc;
}

int cert_x509_from_pem(const char *pem, size_t len, X509 **out, struct cert_err *err)
{
	BIO *bio;
	X509 *x;
	int rc = pem_precheck(pem, len, "certificate", err);

	if (rc < 0 || (rc = pem_one_object(pem, len, "certificate", err)) < 0)
		return rc;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return cert_err_ossl(err, -ENOMEM, "certificate");
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x) {
		rc = cert_err_ossl(err, -EINVAL, "certificate: not a PEM certificate");
	} else if (!bio_rest_blank(bio)) {
		X509_free(x);
		rc = cert_errf(err, -EINVAL,
		               "certificate: unexpected data after the certificate (one per file)");
	} else {
		*out = x;
	}
	BIO_free(bio);
	return rc;
}

int cert_x509_to_pem(X509 *x, char **out, struct cert_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc;

	if (!bio)
		return cert_err_ossl(err, -ENOMEM, "certificate to PEM");
	if (!PEM_write_bio_X509(bio, x))
		rc = cert_err_ossl(err, -EIO, "certificate to PEM");
	else if ((rc = bio_to_string(bio, out, false)) < 0)
		cert_errf(err, rc, "certificate to PEM: out of memory");
	BIO_free(bio);
	return rc;
}

int cert_crl_from_pem_internal(const char *pem, size_t len, X509_CRL **out, struct cert_err *err)
{
	BIO *bio;
	X509_CRL *c;
	int rc = pem_precheck(pem, len, "CRL", err);

	if (rc < 0 || (rc = pem_one_object(pem, len, "CRL", err)) < 0)
		return rc;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return cert_err_ossl(err, -ENOMEM, "CRL");
	c = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	if (!c) {
		rc = cert_err_ossl(err, -EINVAL, "CRL: not a PEM CRL");
	} else if (!bio_rest_blank(bio)) {
		X509_CRL_free(c);
		rc = cert_errf(err, -EINVAL, "CRL: unexpected data after the CRL");
	} else {
		*out = c;
	}
	BIO_free(bio);
	return rc;
}

int cert_addr_of_key(const char *ns, EVP_PKEY *pub, struct cert_addr *out, struct cert_err *err)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int n, rc = 0;

	if (!pub)
		return cert_errf(err, -EINVAL, "address: no public key");
	n = i2d_PUBKEY(pub, &der);
	if (n <= 0)
		return cert_err_ossl(err, -EINVAL, "address: cannot encode public key");
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, ns, strlen(ns)) || !EVP_DigestUpdate(ctx, der, (size_t)n) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen < CERT_ADDR_LEN)
		rc = cert_err_ossl(err, -EIO, "address: SHA-256 failed");
	else
		memcpy(out->b, md, CERT_ADDR_LEN);
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return rc;
}

int cert_serial_hex(const ASN1_INTEGER *s, char out[CERT_SERIAL_HEX + 1])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
	char *hex, *p;
	int rc = 0;

	if (!bn)
		return -EINVAL;
	hex = BN_is_negative(bn) ? NULL : BN_bn2hex(bn);
	BN_free(bn);
	if (!hex)
		return -EINVAL;
	for (p = hex; p[0] == '0' && p[1]; p++)
		;
	if (strlen(p) > CERT_SERIAL_HEX) {
		rc = -EINVAL;
	} else {
		size_t i;

		for (i = 0; p[i]; i++)
			out[i] = (char)tolower((unsigned char)p[i]);
		out[i] = '\0';
	}
	OPENSSL_free(hex);
	return rc;
}

int cert_asn1_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

/* The CN as UTF-8, validated as a node name. */
static int read_cn(X509 *x, char *out, struct cert_err *err)
{
	const X509_NAME *subj = X509_get_subject_name(x);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int n, rc = 0;

	if (idx < 0)
		return cert_errf(err, -EINVAL, "certificate has no subject CN (node name)");
	if (X509_NAME_get_index_by_NID(subj, NID_commonName, idx) >= 0)
		return cert_errf(err, -EINVAL, "certificate has more than one subject CN");
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
	if (n < 0)
		return cert_err_ossl(err, -EINVAL, "certificate CN is not a string");
	if ((size_t)n != strlen((char *)utf8) || !cert_name_valid((char *)utf8))
		rc = cert_errf(
		        err, -EINVAL,
		        "certificate CN is not a valid node name (1-%d of A-Z a-z 0-9 . _ -)",
		        CERT_NAME_MAX);
	else
		memcpy(out, utf8, (size_t)n + 1);
	OPENSSL_free(utf8);
	return rc;
}

/* Namespace URI and optional IP from the subjectAltName extension. */
int cert_san_read(X509 *x, struct cert_info *info, struct cert_err *err)
{
	GENERAL_NAMES *gens;
	int crit = 0, rc = 0;
	bool have_ns = false;
	size_t plen = strlen(CERT_NS_URI_PREFIX);

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		if (crit == -2)
			return cert_errf(err, -EINVAL,
			                 "certificate has two subjectAltName extensions");
		return cert_errf(err, -EINVAL,
		                 "certificate has no subjectAltName with the group namespace "
		                 "(URI " CERT_NS_URI_PREFIX "<namespace>)");
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_URI) {
			const ASN1_IA5STRING *u = g->d.uniformResourceIdentifier;
			size_t ulen = (size_t)ASN1_STRING_length(u);
			const char *ud = (const char *)ASN1_STRING_get0_data(u);

			if (ulen <= plen || strncmp(ud, CERT_NS_URI_PREFIX, plen) != 0)
				continue; /* other URIs are none of our business */
			if (have_ns)
				rc = cert_errf(err, -EINVAL, "certificate names two namespaces");
			else if (ulen - plen > CERT_NAMESPACE_MAX || memchr(ud, '\0', ulen))
				rc = cert_errf(err, -EINVAL, "certificate namespace is malformed");
			else {
				memcpy(info->namespace, ud + plen, ulen - plen);
				info->namespace[ulen - plen] = '\0';
				if (!cert_name_valid(info->namespace))
					rc = cert_errf(err, -EINVAL,
					               "certificate namespace is malformed");
				have_ns = true;
			}
		} else if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *ip = g->d.iPAddress;
			int len = ASN1_STRING_length(ip);
			int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;

			if (info->has_ip)
				rc = cert_errf(err, -EINVAL,
				               "certificate carries two IP addresses");
			else if (!af || !inet_ntop(af, ASN1_STRING_get0_data(ip), info->ip,
			                           sizeof(info->ip)))
				rc = cert_errf(err, -EINVAL, "certificate IP address is malformed");
			else
				info->has_ip = true;
		}
	}
	GENERAL_NAMES_free(gens);
	if (rc == 0 && !have_ns)
		rc = cert_errf(err, -EINVAL,
		               "certificate has no group namespace (URI " CERT_NS_URI_PREFIX
		               "<namespace> in subjectAltName)");
	return rc;
}

int cert_info_get(X509 *x, struct cert_info *out, struct cert_err *err)
{
	struct cert_info info;
	int rc;

	memset(&info, 0, sizeof(info));
	if ((rc = read_cn(x, info.name, err)) < 0 || (rc = cert_san_read(x, &info, err)) < 0)
		return rc;
	if (cert_serial_hex(X509_get0_serialNumber(x), info.serial) < 0)
		return cert_errf(err, -EINVAL, "certificate serial number is malformed");
	if (cert_asn1_time(X509_get0_notBefore(x), &info.not_before) < 0 ||
	    cert_asn1_time(X509_get0_notAfter(x), &info.not_after) < 0)
		return cert_errf(err, -EINVAL, "certificate validity dates are malformed");
	if ((rc = cert_addr_of_key(info.namespace, X509_get0_pubkey(x), &info.addr, err)) < 0)
		return rc;
	*out = info;
	return 0;
}
