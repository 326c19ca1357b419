// SPDX-License-Identifier: MIT
/*
 * Test helpers for the certs/ unit tests: make a CA, a key, a certificate or
 * a temp directory in one call. Every helper fails the running cmocka test
 * instead of returning an error, so tests read as what they prove.
 */
#ifndef GVPN_TESTS_UNIT_HELPERS_H
#define GVPN_TESTS_UNIT_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "cert.h"

/* The tests' "now": a fixed instant, so no test depends on the clock. */
#define H_NOW  ((time_t)1700000000) /* 2023-11-14 */
#define H_HOUR ((time_t)3600)
#define H_DAY  ((time_t)86400)

/* CA validity used by h_ca(): one day before H_NOW to ten years after. */
#define H_CA_START (H_NOW - H_DAY)
#define H_CA_END   (H_NOW + 3650 * H_DAY)
/* Node validity used by h_issue(): one hour before H_NOW to a year after. */
#define H_NODE_START (H_NOW - H_HOUR)
#define H_NODE_END   (H_NOW + 365 * H_DAY)

/* The call failed with rc and said why. */
#define assert_err(rc, want, e)                                                                    \
	do {                                                                                       \
		int rc_ = (rc);                                                                    \
		if (rc_ != (want))                                                                 \
			fail_msg("rc %d, want %d (msg: '%s')", rc_, (int)(want), (e).msg);         \
		if ((e).msg[0] == '\0')                                                            \
			fail_msg("rc %d but the error message is empty", rc_);                     \
	} while (0)

/* msg contains needle (printed on failure). */
#define assert_msg_has(m, needle)                                                                  \
	do {                                                                                       \
		if (!strstr((m), (needle)))                                                        \
			fail_msg("message '%s' does not contain '%s'", (m), (needle));             \
	} while (0)

/* A new CA valid H_CA_START..H_CA_END. */
struct cert_ca *h_ca(const char *ns, const char *network, enum cert_algo algo);
/* A new private key. */
EVP_PKEY *h_key(enum cert_algo algo);
/* A new certificate for key from ca, valid H_NODE_START..H_NODE_END; ip may be NULL. */
X509 *h_issue(struct cert_ca *ca, EVP_PKEY *key, const char *name, const char *ip);
/* New trust from the CA's certificate and current CRL, namespace and network. */
struct cert_trust *h_trust(const struct cert_ca *ca);
/* New PEM text of the CA's certificate / current CRL (free()). */
char *h_ca_pem(const struct cert_ca *ca);
char *h_crl_pem(const struct cert_ca *ca);
/* A new copy of the CA's private key (saved to a temp dir and read back). */
EVP_PKEY *h_ca_key(const struct cert_ca *ca);
/* The info of x (asserts it reads). */
struct cert_info h_info(X509 *x);

/*
 * A new certificate built with the plain OpenSSL API, for shapes cert_ca_issue
 * refuses to make. Signed by signer; issuer NULL = self-signed. cn and san
 * (an X509v3 config string such as "URI:urn:groupvpn:x,IP:10.0.0.1") may be NULL.
 */
X509 *h_make_cert(EVP_PKEY *signer, X509 *issuer, EVP_PKEY *pub, const char *cn, const char *san,
                  bool is_ca, time_t not_before, time_t not_after);

/* mkdtemp under /tmp into out; h_rmtree removes it and everything in it. */
void h_tmpdir(char out[64]);
void h_rmtree(const char *dir);
/* Number of entries in dir (without . and ..). */
int h_dir_entries(const char *dir);
/* path's whole content, new (free()); asserts it reads. */
char *h_slurp(const char *path, size_t *len);
/* Writes text to path (mode 0644, via stdio); asserts success. */
void h_spit(const char *path, const char *text);
/* A new buffer of n bytes of c, NUL-terminated. */
char *h_filled(size_t n, char c);

#endif
