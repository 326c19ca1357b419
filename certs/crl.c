// SPDX-License-Identifier: MIT
/* certs — reading a group CRL. Signing lives with the CA (ca.c). */
#include "cert_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

int cert_crl_from_pem(const char *pem, size_t len, struct cert_crl **out, struct cert_err *err)
{
	struct cert_crl *c;
	X509_CRL *x = NULL;
	int rc = cert_crl_from_pem_internal(pem, len, &x, err);

	if (rc < 0)
		return rc;
	/* Every entry's serial must be readable, so lookups can never misparse. */
	for (int i = 0; i < sk_X509_REVOKED_num(X509_CRL_get_REVOKED(x)); i++) {
		char hex[CERT_SERIAL_HEX + 1];
		const X509_REVOKED *r = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(x), i);

		if (cert_serial_hex(X509_REVOKED_get0_serialNumber(r), hex) < 0) {
			X509_CRL_free(x);
			return cert_errf(err, -EINVAL, "CRL: entry %d has a malformed serial", i);
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		X509_CRL_free(x);
		return cert_errf(err, -ENOMEM, "CRL: out of memory");
	}
	c->crl = x;
	*out = c;
	return 0;
}

int cert_crl_to_pem(const struct cert_crl *crl, char **out, struct cert_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;
	int rc = 0;

	if (!bio)
		return cert_err_ossl(err, -ENOMEM, "CRL to PEM");
	if (!PEM_write_bio_X509_CRL(bio, crl->crl)) {
		rc = cert_err_ossl(err, -EIO, "CRL to PEM");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	s = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!s) {
		rc = cert_errf(err, -ENOMEM, "CRL to PEM: out of memory");
		goto out;
	}
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*out = s;
out:
	BIO_free(bio);
	return rc;
}

void cert_crl_free(struct cert_crl *crl)
{
	if (!crl)
		return;
	X509_CRL_free(crl->crl);
	free(crl);
}

size_t cert_crl_count(const struct cert_crl *crl)
{
	int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl->crl));

	return n > 0 ? (size_t)n : 0;
}

int cert_crl_serial(const struct cert_crl *crl, size_t i, char out[CERT_SERIAL_HEX + 1])
{
	const X509_REVOKED *r;

	if (i >= cert_crl_count(crl))
		return -ERANGE;
	r = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl->crl), (int)i);
	return cert_serial_hex(X509_REVOKED_get0_serialNumber(r), out);
}

bool cert_crl_is_revoked(const struct cert_crl *crl, const char *serial)
{
	char hex[CERT_SERIAL_HEX + 1];

	for (size_t i = 0; i < cert_crl_count(crl); i++)
		if (cert_crl_serial(crl, i, hex) == 0 && strcmp(hex, serial) == 0)
			return true;
	return false;
}

uint64_t cert_crl_number(const struct cert_crl *crl)
{
	ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl->crl, NID_crl_number, NULL, NULL);
	uint64_t v = 0;

	if (num && !ASN1_INTEGER_get_uint64(&v, num))
		v = 0;
	ASN1_INTEGER_free(num);
	return v;
}

X509_CRL *cert_crl_x509(const struct cert_crl *crl)
{
	return crl->crl;
}

bool cert_crl_signed_by(X509_CRL *crl, X509 *ca)
{
	EVP_PKEY *pub = X509_get0_pubkey(ca);

	if (!pub || X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0)
		return false;
	if (X509_CRL_verify(crl, pub) != 1) {
		ERR_clear_error();
		return false;
	}
	return true;
}
