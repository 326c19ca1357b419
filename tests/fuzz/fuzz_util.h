// SPDX-License-Identifier: MIT
/* Helpers shared by the fuzz targets' start-up code (never on the per-input path). */
#ifndef GVPN_TESTS_FUZZ_UTIL_H
#define GVPN_TESTS_FUZZ_UTIL_H

#include "cert.h"

/*
 * A new copy of the CA's private key. struct cert_ca keeps it to itself, so
 * the CA is saved to a scratch directory (named after `tag`), ca.key read
 * back, and the directory removed. NULL with err set on failure.
 */
EVP_PKEY *fuzz_ca_key(const struct cert_ca *ca, const char *tag, struct cert_err *err);

#endif
