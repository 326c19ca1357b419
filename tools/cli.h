// SPDX-License-Identifier: MIT
/* cli — the error conventions every groupvpn command line tool shares. */
#ifndef GVPN_TOOLS_CLI_H
#define GVPN_TOOLS_CLI_H

#include <stddef.h>

#define CLI_EXIT_FAIL  1 /* the operation failed or was refused */
#define CLI_EXIT_USAGE 2 /* the command line is wrong */

/* The program name in messages; main() sets it first. */
extern const char *cli_prog;

/* "prog: <message>" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, plus a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct cert_bundle;
struct cert_info;
/*
 * A daemon's start: loads the bundle at path and checks its certificate
 * (dates, CA, CRL). 0 with *out (new) and *self filled; else the error is
 * printed ("PATH: refusing to run with this certificate: revoked: ...") and
 * CLI_EXIT_FAIL returned.
 */
int cli_load_member(const char *path, struct cert_bundle **out, struct cert_info *self);

#endif
