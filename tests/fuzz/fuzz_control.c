// SPDX-License-Identifier: MIT
/*
 * fuzz_control — bytes as control-socket traffic (overlay/control.h) from two
 * clients of a detached control: line framing, the line cap, JSON parsing,
 * request validation, dispatch, the argument helpers, and deferred requests
 * answered, failed or cancelled in every order.
 *
 * Input: byte 0 picks how deferred requests end (bits 0-1: reply, fail, or
 * leave them; bit 2: close client A half-way; bit 3: close both at the end
 * before freeing); the rest is split at 0xff bytes into segments fed to
 * client A and B in turn, each followed by the answers and the pending runs.
 *
 * Commands registered: echo {value} -> {value}; addr {address} -> {address}
 * (lowercase); later (deferred); fail; silent (a handler that forgets to
 * answer).
 *
 * Properties, each an abort() when broken:
 *  - every line written is one JSON object, and an "error" is a string;
 *  - addr answers the lowercase form of what it was given;
 *  - every deferred request ends exactly once: answered by us or cancelled
 *    (never both, never neither) by the time the control is freed;
 *  - nothing is written to a client after it was told it is gone.
 */
#include "control.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PENDING_MAX  256
#define LINE_MAX_OUT (CTL_LINE_MAX + 4096) /* an answer line; ours are short */
#define RUNS_MAX     100000

struct client {
	struct ctl_conn *conn; /* NULL once gone */
	bool gone;
	char line[LINE_MAX_OUT];
	size_t len;
};

static struct ctl_req *pending[PENDING_MAX];
static size_t n_pending;
static size_t deferred, ended; /* counts for the exactly-once property */

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_control: property broken: %s%s%.200s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

static void check_line(const char *line, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, 0, &jerr);
	const json_t *err;

	if (!json_is_object(o))
		die("an answer is not a JSON object", line);
	err = json_object_get(o, "error");
	if (err && !json_is_string(err))
		die("\"error\" is not a string", line);
	json_decref(o);
}

static void on_write(void *ctx, const char *buf, size_t len)
{
	struct client *c = ctx;

	if (c->gone)
		die("written to after it was gone", NULL);
	if (!buf) {
		if (c->len)
			die("an answer line was cut off", NULL);
		c->gone = true;
		c->conn = NULL;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			check_line(c->line, c->len);
			c->len = 0;
		} else if (c->len == sizeof(c->line)) {
			die("an answer line is far too long", NULL);
		} else {
			c->line[c->len++] = buf[i];
		}
	}
}

/* ---- commands ------------------------------------------------------------------ */

static void cmd_echo(void *ctx, struct ctl_req *req)
{
	json_t *v;

	(void)ctx;
	if (!ctl_req_only_keys(req, "value", NULL))
		return;
	v = json_object_get(ctl_req_args(req), "value");
	ctl_req_reply(req, json_pack("{s:O?}", "value", v));
}

static void cmd_addr(void *ctx, struct ctl_req *req)
{
	char hex[CERT_ADDR_HEX_LEN + 1], want[CERT_ADDR_HEX_LEN + 1];
	struct cert_addr a;
	const char *s;

	(void)ctx;
	if (!ctl_req_only_keys(req, "address", NULL) || !ctl_req_get_addr(req, "address", &a))
		return;
	s = json_string_value(json_object_get(ctl_req_args(req), "address"));
	if (!s || strlen(s) != CERT_ADDR_HEX_LEN)
		die("get_addr took something that is not 40 characters", s);
	for (size_t i = 0; i <= CERT_ADDR_HEX_LEN; i++)
		want[i] = (char)tolower((unsigned char)s[i]);
	cert_addr_hex(&a, hex);
	if (strcmp(hex, want))
		die("address does not round-trip", s);
	ctl_req_reply(req, json_pack("{s:s}", "address", hex));
}

static void later_cancel(void *ctx, struct ctl_req *req)
{
	(void)ctx;
	for (size_t i = 0; i < n_pending; i++) {
		if (pending[i] == req) {
			pending[i] = pending[--n_pending];
			ended++;
			return;
		}
	}
	die("cancel for a request that is not pending", NULL);
}

static void cmd_later(void *ctx, struct ctl_req *req)
{
	(void)ctx;
	if (n_pending == PENDING_MAX) {
		ctl_req_fail(req, "too many pending");
		return;
	}
	ctl_req_defer(req, 1000, "later timed out", later_cancel, NULL);
	pending[n_pending++] = req;
	deferred++;
}

static void cmd_fail(void *ctx, struct ctl_req *req)
{
	(void)ctx;
	ctl_req_fail(req, "failed as asked: %s", ctl_req_cmd(req));
}

static void cmd_silent(void *ctx, struct ctl_req *req)
{
	(void)ctx;
	(void)req; /* the control must answer for it */
}

/* ---- driving ------------------------------------------------------------------- */

static void answer_pending(unsigned how)
{
	while (n_pending > 0 && how != 2) {
		struct ctl_req *req = pending[--n_pending];

		ended++;
		if (how == 0)
			ctl_req_reply(req, json_pack("{s:b}", "done", 1));
		else
			ctl_req_fail(req, "done, failing");
	}
}

static void run(struct control *ctl, unsigned how)
{
	for (int i = 0; i < RUNS_MAX; i++) {
		answer_pending(how);
		if (!control_run_pending(ctl))
			return;
	}
	die("control_run_pending never settles", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client cl[2];
	struct control *ctl = NULL;
	unsigned flags, how;
	size_t seg = 0, start;

	if (size < 1)
		return 0;
	flags = data[0];
	how = flags & 3;
	if (how == 3)
		how = 0;
	memset(cl, 0, sizeof(cl));
	n_pending = deferred = ended = 0;
	if (control_new_detached(&ctl) < 0 || control_register(ctl, "echo", cmd_echo, NULL) < 0 ||
	    control_register(ctl, "addr", cmd_addr, NULL) < 0 ||
	    control_register(ctl, "later", cmd_later, NULL) < 0 ||
	    control_register(ctl, "fail", cmd_fail, NULL) < 0 ||
	    control_register(ctl, "silent", cmd_silent, NULL) < 0)
		die("set-up", NULL);
	if (control_register(ctl, "echo", cmd_echo, NULL) != -EEXIST ||
	    control_register(ctl, "Bad Name", cmd_echo, NULL) != -EINVAL)
		die("register accepts a duplicate or a bad name", NULL);
	for (int i = 0; i < 2; i++) {
		cl[i].conn = control_conn_new(ctl, on_write, &cl[i]);
		if (!cl[i].conn)
			die("conn_new", NULL);
	}
	start = 1;
	for (size_t i = 1; i <= size; i++) {
		struct client *c;

		if (i < size && data[i] != 0xff)
			continue;
		c = &cl[seg % 2];
		if (c->conn)
			(void)control_conn_input(c->conn, data + start, i - start);
		run(ctl, how);
		if ((flags & 4) && seg == 1 && cl[0].conn)
			control_conn_close(cl[0].conn);
		seg++;
		start = i + 1;
	}
	if (flags & 8)
		for (int i = 0; i < 2; i++)
			if (cl[i].conn)
				control_conn_close(cl[i].conn);
	control_free(ctl);
	if (n_pending != 0 || ended != deferred)
		die("a deferred request did not end exactly once", NULL);
	for (int i = 0; i < 2; i++)
		if (!cl[i].gone)
			die("a client was not told it is gone", NULL);
	return 0;
}
