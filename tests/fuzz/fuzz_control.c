// SPDX-License-Identifier: MIT
/*
 * fuzz_control — bytes as control-socket traffic (overlay/control.h) from two
 * clients of a detached control: line framing, the line cap, JSON parsing,
 * request validation, dispatch, the argument helpers, and deferred requests
 * answered, failed or cancelled in every order.
 *
 * Input: byte 0 picks how deferred requests end (bits 0-1: reply, fail, or
 * leave them; bit 2: close client A half-way; bit 3: close both at the end
 * before freeing; bit 4: freeze the DHT node, so its requests stay in flight
 * until cancelled); the rest is split at 0xff bytes into segments fed to
 * client A and B in turn, each followed by the answers and the pending runs.
 *
 * Commands registered: echo {value} -> {value}; addr {address} -> {address}
 * (lowercase); later (deferred); fail; silent (a handler that forgets to
 * answer); and the DHT's (dht/dht_control.h: dht_put, dht_create, dht_get,
 * dht_remove, dht_status) on a real engine attached to a started node of
 * one (simulator crypto, no peers), ticked after every segment, so their
 * requests are answered by the engine, or cancelled when a client goes.
 *
 * Properties, each an abort() when broken:
 *  - every line written is one JSON object, and an "error" is a string;
 *  - addr answers the lowercase form of what it was given;
 *  - every deferred request ends exactly once: answered by us or cancelled
 *    (never both, never neither) by the time the control is freed;
 *  - nothing is written to a client after it was told it is gone;
 *  - an answer with "code" (DHT outcomes) has an "error" that starts with it;
 *    a "values" answer lists objects whose "value_hex" is the hex of
 *    "value" when that is a string;
 *  - a DHT request the control cancelled never completes afterwards (the
 *    node is ticked once more after control_free: a done for a cancelled
 *    request would touch freed memory, which the sanitizers catch).
 */
#include "control.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dht.h"
#include "dht_control.h"
#include "log.h"
#include "node.h"
#include "runtime.h"

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

/* A DHT "values" entry: value_hex is hex, and the bytes of value if that is text. */
static void check_value(const json_t *v, const char *line)
{
	const char *hex = json_string_value(json_object_get(v, "value_hex"));
	const json_t *text = json_object_get(v, "value");
	char want[2 * 1024 + 1];
	size_t n;

	if (!hex || !text || !(json_is_string(text) || json_is_null(text)) ||
	    !json_is_string(json_object_get(v, "writer")) ||
	    !json_is_integer(json_object_get(v, "ttl")))
		die("a DHT value lacks value, value_hex, writer or ttl", line);
	if (!json_is_string(text))
		return;
	n = json_string_length(text);
	if (2 * n >= sizeof(want))
		die("a DHT value is too long", line);
	for (size_t i = 0; i < n; i++)
		snprintf(want + 2 * i, 3, "%02x", (unsigned char)json_string_value(text)[i]);
	want[2 * n] = '\0';
	if (strcmp(want, hex))
		die("value_hex is not the hex of value", line);
}

static void check_line(const char *line, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, 0, &jerr);
	const json_t *err, *code, *vals, *v;
	size_t i;

	if (!json_is_object(o))
		die("an answer is not a JSON object", line);
	err = json_object_get(o, "error");
	if (err && !json_is_string(err))
		die("\"error\" is not a string", line);
	code = json_object_get(o, "code");
	if (code &&
	    (!json_is_string(code) || !err ||
	     strncmp(json_string_value(err), json_string_value(code), json_string_length(code))))
		die("\"code\" without an \"error\" that starts with it", line);
	vals = json_object_get(o, "values");
	if (vals && !err) {
		if (!json_is_array(vals) || !json_is_string(json_object_get(o, "key")))
			die("a DHT get answer without key or values array", line);
		json_array_foreach (vals, i, v)
			check_value(v, line);
	}
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

/* ---- the DHT: an engine on a node of one ------------------------------------------ */

#define DHT_IDLE_TICKS 16 /* ticks a DHT request may take on a node of one */

static struct ovl_crypto *dht_crypto;
static struct ovl_node *dht_node;
static struct dht *dht;
static bool dht_frozen; /* not ticked: requests stay in flight */
static uint64_t rng_state;

static void node_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)to;
	(void)buf;
	(void)len; /* no peers */
}

static void fake_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(rng_state >> 56);
	}
}

static time_t fake_wall(void *ctx)
{
	(void)ctx;
	return 1700000000;
}

/* A started node of one with a DHT; its commands on ctl. dht_control has no
 * runtime to kick here: run() ticks the node, on the clock the commands use
 * (ovl_runtime_now). */
static struct dht_control *dht_setup(struct control *ctl)
{
	const struct ovl_node_cb ncb = {
	        .send = node_send, .random = fake_random, .wall = fake_wall};
	const struct dht_cb dcb = {.wall = fake_wall, .random = fake_random};
	struct ovl_node_config cfg;
	struct dht_config dcfg;
	struct dht_control *dc = NULL;
	struct cert_info id;

	rng_state = 42;
	memset(&id, 0, sizeof(id));
	snprintf(id.name, sizeof(id.name), "fz");
	snprintf(id.namespace, sizeof(id.namespace), "fuzz");
	memset(id.addr.b, 0x5a, CERT_ADDR_LEN);
	if (ovl_crypto_sim_new(&id, &dht_crypto) < 0)
		die("sim crypto", NULL);
	memset(&cfg, 0, sizeof(cfg)); /* the default keeps bootstrap and local as they are */
	ovl_node_config_default(&cfg);
	cfg.crypto = dht_crypto;
	cfg.links.crypto = dht_crypto;
	cfg.local[0].family = 4;
	cfg.local[0].addr[0] = 198;
	cfg.local[0].addr[1] = 18;
	cfg.local[0].addr[3] = 1;
	cfg.local[0].port = 7000;
	cfg.n_local = 1;
	dht_config_default(&dcfg);
	if (ovl_node_new(&cfg, &ncb, &dht_node) < 0 || dht_new(dht_node, &dcfg, &dcb, &dht) < 0 ||
	    dht_control_register(dht, NULL, ctl, &dc) < 0)
		die("DHT set-up", NULL);
	ovl_node_start(dht_node, ovl_runtime_now());
	return dc;
}

static void dht_tick(void)
{
	if (!dht_frozen)
		(void)ovl_node_tick(dht_node, ovl_runtime_now());
}

/* Requests in flight in the engine. */
static bool dht_busy(void)
{
	struct dht_stats st;

	dht_stats(dht, &st);
	return !dht_frozen && st.pending > 0;
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
	int idle = 0;

	for (int i = 0; i < RUNS_MAX; i++) {
		answer_pending(how);
		dht_tick();
		if (control_run_pending(ctl))
			idle = 0;
		else if (!dht_busy() || ++idle > DHT_IDLE_TICKS)
			return;
	}
	die("control_run_pending never settles", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client cl[2];
	struct control *ctl = NULL;
	struct dht_control *dc;
	unsigned flags, how;
	size_t seg = 0, start;

	if (size < 1)
		return 0;
	flags = data[0];
	how = flags & 3;
	if (how == 3)
		how = 0;
	dht_frozen = flags & 16;
	memset(cl, 0, sizeof(cl));
	n_pending = deferred = ended = 0;
	log_set_sink(log_sink_discard, NULL);
	if (control_new_detached(&ctl) < 0 || control_register(ctl, "echo", cmd_echo, NULL) < 0 ||
	    control_register(ctl, "addr", cmd_addr, NULL) < 0 ||
	    control_register(ctl, "later", cmd_later, NULL) < 0 ||
	    control_register(ctl, "fail", cmd_fail, NULL) < 0 ||
	    control_register(ctl, "silent", cmd_silent, NULL) < 0)
		die("set-up", NULL);
	dc = dht_setup(ctl);
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
	dht_frozen = false;
	dht_tick(); /* nothing of ours may complete now: the requests were cancelled */
	dht_control_free(dc);
	ovl_node_free(dht_node); /* and the DHT with it */
	ovl_crypto_free(dht_crypto);
	if (n_pending != 0 || ended != deferred)
		die("a deferred request did not end exactly once", NULL);
	for (int i = 0; i < 2; i++)
		if (!cl[i].gone)
			die("a client was not told it is gone", NULL);
	return 0;
}
