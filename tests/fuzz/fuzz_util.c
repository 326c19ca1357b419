// SPDX-License-Identifier: MIT
/* Helpers shared by the fuzz targets' start-up code. */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

EVP_PKEY *fuzz_ca_key(const struct cert_ca *ca, const char *tag, struct cert_err *err)
{
	static const char *const files[] = {"ca.key", "ca.crt", "crl.pem", "group.json"};
	const char *tmpdir = getenv("TMPDIR");
	char dir[512], path[600], *pem = NULL;
	EVP_PKEY *key = NULL;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/%s.XXXXXX", tmpdir ? tmpdir : "/tmp", tag);
	if (!mkdtemp(dir)) {
		snprintf(err->msg, sizeof(err->msg), "mkdtemp %.200s failed", dir);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if (cert_ca_save_dir(ca, dir, err) == 0 &&
	    cert_file_read(path, CERT_PEM_MAX, &pem, &len, err) == 0)
		cert_key_from_pem(pem, len, &key, err);
	cert_secret_free(pem);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	return key;
}
