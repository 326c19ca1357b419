// SPDX-License-Identifier: MIT
/* Test helper: a group member with real TLS crypto (key, certificate, bundle). */
#ifndef GVPN_TESTS_UNIT_MEMBERS_H
#define GVPN_TESTS_UNIT_MEMBERS_H

#include "crypto.h"
#include "helpers.h"

struct member {
	EVP_PKEY *key;
	X509 *cert;
	struct cert_bundle *bundle;
	struct ovl_crypto *crypto;
};

/* A member named `name` of ca's group; fails the running test on error. */
struct member member_of(struct cert_ca *ca, const char *name);
/* Frees m's parts; a second call does nothing. */
void member_free(struct member *m);

#endif
