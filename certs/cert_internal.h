// SPDX-License-Identifier: MIT
/* certs — private parts shared by the module's files. Not for other modules. */
#ifndef GVPN_CERTS_CERT_INTERNAL_H
#define GVPN_CERTS_CERT_INTERNAL_H

#include "cert.h"

#include <jansson.h>
#include <openssl/x509.h>

#if defined(__GNUC__)
#define CERT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CERT_PRINTF(a, b)
#endif

/* Sets err->msg (if err) and returns rc, so callers write `return cert_errf(...)`. */
int cert_errf(struct cert_err *err, int rc, const char *fmt, ...) CERT_PRINTF(3, 4);
/* Puts a formatted prefix in front of err->msg (truncating the tail); returns rc. */
int cert_err_prefix(struct cert_err *err, int rc, const char *fmt, ...) CERT_PRINTF(3, 4);
/* As cert_errf, appending OpenSSL's first queued reason; drains the queue. */
int cert_err_ossl(struct cert_err *err, int rc, const char *fmt, ...) CERT_PRINTF(3, 4);

struct cert_crl {
	X509_CRL *crl;
};

struct cert_trust {
	X509 *ca;
	struct cert_crl *crl; /* may be NULL */
	char namespace[CERT_NAMESPACE_MAX + 1];
	bool has_network;
	struct cert_network network;
};

/* json_dumps with 2-space indent and a final newline; new (free()), NULL on ENOMEM. */
char *cert_json_text(const json_t *j);

/* PEM → object with the common size cap and exactly-one-object rule. */
int cert_crl_from_pem_internal(const char *pem, size_t len, X509_CRL **out, struct cert_err *err);
/* 1 if the CRL's signature verifies with ca's key. */
bool cert_crl_signed_by(X509_CRL *crl, X509 *ca);
/* Fills info's namespace and IP from x's subjectAltName; -EINVAL if absent or malformed
 * (info->namespace is set as soon as a namespace URI was seen). */
int cert_san_read(X509 *x, struct cert_info *info, struct cert_err *err);
/* Checks that ca is a usable self-signed group CA certificate for namespace ns. */
int cert_ca_cert_check(X509 *ca, const char *ns, struct cert_err *err);
/* Reads dir/group.json: namespace (into ns, CERT_NAMESPACE_MAX + 1), network, algo. */
int cert_group_json_read(const char *dir, char *ns, struct cert_network *net, enum cert_algo *algo,
                         struct cert_err *err);
/* Converts an ASN1_INTEGER serial to lowercase hex without leading zeros. */
int cert_serial_hex(const ASN1_INTEGER *s, char out[CERT_SERIAL_HEX + 1]);
/* ASN1_TIME → time_t; -EINVAL if out of range. */
int cert_asn1_time(const ASN1_TIME *t, time_t *out);

#endif
