// SPDX-License-Identifier: MIT
/*
 * fuzz_bundle — bytes as a config bundle (cert_bundle_parse).
 *
 * Properties, each an abort() when broken:
 *  - a refusal always says why (err.msg is not empty);
 *  - a parsed bundle dumps, the dump parses again, and dumping that gives the
 *    same text (parse ∘ dump is the identity on what dump writes);
 *  - both copies get the same verdict from cert_bundle_verify at the same time,
 *    and a verdict is one of the enum's values;
 *  - the accessors agree with what parsing promised (cert namespace = bundle
 *    namespace, bootstrap entries are valid endpoints).
 */
#include "cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed times, so a run is deterministic: one before any seed was made, one
 * after all have expired. The third is the certificate's own midpoint. */
#define T_PAST   ((time_t)1000000000) /* 2001-09-09 */
#define T_FUTURE ((time_t)4102444800) /* 2100-01-01 */

static const char *const setting_keys[] = {
        "listen", "control_socket", "state_dir", "interface", "shortcuts", "dht_replicas", "nope",
};

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_bundle: property broken: %s%s%s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

static void check_accessors(const struct cert_bundle *b)
{
	struct cert_info info;
	struct cert_err err = {""};
	size_t n = cert_bundle_bootstrap_count(b);
	long long v;

	if (!cert_bundle_cert(b) || !cert_bundle_key(b) || !cert_bundle_trust(b))
		die("parsed bundle lacks cert, key or trust", NULL);
	if (cert_info_get(cert_bundle_cert(b), &info, &err) < 0)
		die("parsed bundle's cert has no readable fields", err.msg);
	if (strcmp(info.namespace, cert_bundle_namespace(b)) != 0 ||
	    strcmp(cert_trust_namespace(cert_bundle_trust(b)), cert_bundle_namespace(b)) != 0)
		die("namespaces of bundle, cert and trust differ", cert_bundle_namespace(b));
	if (!cert_trust_crl(cert_bundle_trust(b)))
		die("parsed bundle has no CRL", NULL);
	for (size_t i = 0; i < n; i++)
		if (!cert_endpoint_valid(cert_bundle_bootstrap(b, i)))
			die("bootstrap entry is not an endpoint", cert_bundle_bootstrap(b, i));
	if (cert_bundle_bootstrap(b, n) != NULL)
		die("bootstrap index past the end is not NULL", NULL);
	for (size_t i = 0; i < sizeof(setting_keys) / sizeof(setting_keys[0]); i++) {
		const char *s = cert_bundle_setting(b, setting_keys[i]);
		int rc = cert_bundle_setting_int(b, setting_keys[i], &v);

		if (s && rc == 0)
			die("a setting is both a string and an integer", setting_keys[i]);
	}
}

static enum cert_verdict verdict(const struct cert_bundle *b, time_t now)
{
	struct cert_info info;
	struct cert_err err = {""};
	enum cert_verdict v = cert_bundle_verify(b, now, &info, &err);

	if ((unsigned)v >= CERT_VERDICT_MAX)
		die("verdict out of range", NULL);
	if (v != CERT_VALID && !err.msg[0])
		die("refusal without a reason", cert_verdict_name(v));
	if (v == CERT_VALID && err.msg[0])
		die("valid, yet an error message", err.msg);
	return v;
}

/* The middle of the certificate's validity: valid unless revoked or foreign. */
static time_t midpoint(const struct cert_bundle *b)
{
	struct cert_info info;

	if (cert_info_get(cert_bundle_cert(b), &info, NULL) < 0)
		die("cert_info_get failed the second time", NULL);
	return info.not_before / 2 + info.not_after / 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cert_bundle *b = NULL, *again = NULL;
	struct cert_err err = {""};
	char *text = NULL, *text2 = NULL;
	time_t mid;

	if (cert_bundle_parse((const char *)data, size, &b, &err) < 0) {
		if (!err.msg[0])
			die("parse refused without a reason", NULL);
		return 0;
	}
	check_accessors(b);
	if (cert_bundle_dump(b, &text, &err) < 0)
		die("a parsed bundle does not dump", err.msg);
	if (cert_bundle_parse(text, strlen(text), &again, &err) < 0) {
		fprintf(stderr, "%s\n", text);
		die("the dump of a parsed bundle does not parse", err.msg);
	}
	check_accessors(again);
	if (cert_bundle_dump(again, &text2, &err) < 0)
		die("the re-parsed bundle does not dump", err.msg);
	if (strcmp(text, text2) != 0) {
		fprintf(stderr, "first dump:\n%s\nsecond dump:\n%s\n", text, text2);
		die("dump(parse(dump(b))) != dump(b)", NULL);
	}
	mid = midpoint(b);
	if (verdict(b, T_PAST) != verdict(again, T_PAST) ||
	    verdict(b, T_FUTURE) != verdict(again, T_FUTURE) ||
	    verdict(b, mid) != verdict(again, mid))
		die("the round trip changed the verdict", NULL);
	cert_secret_free(text);
	cert_secret_free(text2);
	cert_bundle_free(again);
	cert_bundle_free(b);
	return 0;
}
