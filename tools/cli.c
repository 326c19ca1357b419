// SPDX-License-Identifier: MIT
/* cli — shared error output of the command line tools. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cert.h"

const char *cli_prog = "groupvpn";

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(run '%s --help' for usage)\n", cli_prog);
	return CLI_EXIT_USAGE;
}

int cli_load_member(const char *path, struct cert_bundle **out, struct cert_info *self)
{
	struct cert_err cerr = {""};
	enum cert_verdict verdict;
	const char *v;

	*out = NULL;
	if (cert_bundle_load(path, out, &cerr) < 0) {
		/* File errors name the path already; parse errors do not. */
		if (!strncmp(cerr.msg, path, strlen(path)))
			return cli_fail("%s", cerr.msg);
		return cli_fail("%s: %s", path, cerr.msg);
	}
	verdict = cert_bundle_verify(*out, time(NULL), self, &cerr);
	if (verdict == CERT_VALID)
		return 0;
	v = cert_verdict_name(verdict);
	if (!cerr.msg[0] || !strncmp(cerr.msg, v, strlen(v)))
		cli_fail("%s: refusing to run with this certificate: %s", path,
		         cerr.msg[0] ? cerr.msg : v);
	else
		cli_fail("%s: refusing to run with this certificate: %s: %s", path, v, cerr.msg);
	cert_bundle_free(*out);
	*out = NULL;
	return CLI_EXIT_FAIL;
}
