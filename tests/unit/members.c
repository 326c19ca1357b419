// SPDX-License-Identifier: MIT
/* Test helper: a group member with real TLS crypto. */
#include "members.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

struct member member_of(struct cert_ca *ca, const char *name)
{
	struct member m;
	struct cert_err err = {""};
	char e[256] = "";

	m.key = h_key(CERT_ALGO_ED25519);
	m.cert = h_issue(ca, m.key, name, NULL);
	if (cert_bundle_build(ca, m.cert, m.key, NULL, 0, &m.bundle, &err) < 0)
		fail_msg("bundle: %s", err.msg);
	if (ovl_crypto_tls_new(m.bundle, &m.crypto, e, sizeof(e)) < 0)
		fail_msg("crypto: %s", e);
	return m;
}

void member_free(struct member *m)
{
	if (!m->crypto)
		return;
	ovl_crypto_free(m->crypto);
	cert_bundle_free(m->bundle);
	X509_free(m->cert);
	EVP_PKEY_free(m->key);
	m->crypto = NULL;
}
