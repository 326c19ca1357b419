// SPDX-License-Identifier: MIT
/* cli — shared error output of the command line tools. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>

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
