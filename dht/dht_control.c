// SPDX-License-Identifier: MIT
/* dht_control — dht_put, dht_create, dht_get, dht_remove, dht_status on the control socket. */
#define LOG_SUBSYS "dht-control"
#include "dht_control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cert.h"
#include "control.h"
#include "log.h"
#include "runtime.h"

struct dht_control {
	struct dht *d;
	struct ovl_runtime *rt; /* NULL: the caller ticks the node */
};

/* One control request waiting for its engine request; the ctx of both. */
struct dc_pending {
	struct dht_control *dc;
	struct ctl_req *req;
	uint32_t rid;
};

uint32_t dht_control_timeout_ms(const struct dht_config *cfg)
{
	uint64_t ms = (uint64_t)cfg->attempt_ms * cfg->attempts + DHT_CTL_GRACE_MS;

	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* ---- answers ----------------------------------------------------------------- */

/* Bytes a peer or a certificate gave us, made safe for one JSON line:
 * printable ASCII, anything else as '?'. */
static void printable(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < cap; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

/* Answers {"error": "CODE: DETAIL", "code": CODE}: a client tells the
 * outcomes apart by code, people read error. */
static void fail_code(struct ctl_req *req, const char *code, const char *detail)
{
	char msg[CTL_ERR_MAX], safe[DHT_ERR_MAX];

	printable(safe, sizeof(safe), detail);
	if (safe[0])
		snprintf(msg, sizeof(msg), "%s: %s", code, safe);
	else
		snprintf(msg, sizeof(msg), "%s", code);
	ctl_req_reply(req, json_pack("{s:s,s:s}", "error", msg, "code", code));
}

static void hex_of(const uint8_t *b, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = '\0';
}

/* A value as JSON text: the string if it is UTF-8 without NUL, else null. */
static json_t *value_text(const uint8_t *v, size_t len)
{
	json_t *s = NULL;

	if (!memchr(v, '\0', len))
		s = json_stringn((const char *)v, len); /* NULL unless valid UTF-8 */
	return s ? s : json_null();
}

static json_t *value_json(const struct dht_value *v)
{
	char hex[2 * DHT_VALUE_MAX + 1], addr[CERT_ADDR_HEX_LEN + 1], name[CERT_NAME_MAX + 1];

	hex_of(v->value, v->len, hex);
	cert_addr_hex(&v->writer, addr);
	printable(name, sizeof(name), v->writer_name);
	return json_pack("{s:o,s:s,s:s,s:s,s:I}", "value", value_text(v->value, v->len),
	                 "value_hex", hex, "writer", name, "writer_addr", addr, "ttl",
	                 (json_int_t)v->ttl);
}

static void on_done(void *ctx, const struct dht_result *res)
{
	struct dc_pending *p = ctx;
	struct ctl_req *req = p->req;
	json_t *key = json_object_get(ctl_req_args(req), "key"), *vals;

	free(p);
	if (res->status != DHT_OK) {
		fail_code(req, dht_status_name(res->status), res->error);
		return;
	}
	if (res->op != DHT_OP_GET) {
		ctl_req_reply(req, json_pack("{s:O,s:s}", "key", key, "status", "ok"));
		return;
	}
	vals = json_array();
	for (size_t i = 0; vals && i < res->n_values; i++) {
		json_t *v = value_json(&res->values[i]);

		if (!v || json_array_append_new(vals, v) < 0) {
			json_decref(vals);
			vals = NULL;
		}
	}
	ctl_req_reply(req, vals ? json_pack("{s:O,s:o}", "key", key, "values", vals) : NULL);
}

/* The control gave up on the request: the engine forgets it too. */
static void on_cancel(void *ctx, struct ctl_req *req)
{
	struct dc_pending *p = ctx;

	(void)req;
	dht_cancel(p->dc->d, p->rid);
	free(p);
}

/* ---- arguments ----------------------------------------------------------------- */

/* "key": the application key, 1..DHT_APPKEY_MAX bytes, as a DHT key. */
static bool get_key(struct dht_control *dc, struct ctl_req *req, struct cert_addr *out)
{
	const json_t *v = json_object_get(ctl_req_args(req), "key");
	size_t len = json_string_length(v);

	if (!json_is_string(v)) {
		ctl_req_fail(req, "command '%s' needs \"key\": a string", ctl_req_cmd(req));
		return false;
	}
	if (len < 1 || len > DHT_APPKEY_MAX) {
		ctl_req_fail(req, "\"key\" must be 1..%d bytes, not %zu", DHT_APPKEY_MAX, len);
		return false;
	}
	dht_key_of(dht_namespace(dc->d), (const uint8_t *)json_string_value(v), len, out);
	return true;
}

/* Exactly one of "value" (a string) and "value_hex", at most DHT_VALUE_MAX
 * bytes, into out. */
static bool get_value(struct ctl_req *req, uint8_t *out, size_t *len)
{
	const json_t *args = ctl_req_args(req);
	const json_t *v = json_object_get(args, "value"), *h = json_object_get(args, "value_hex");
	const char *s;
	size_t n;

	if (v && h) {
		ctl_req_fail(req, "give \"value\" or \"value_hex\", not both");
		return false;
	}
	if (!v && !h) {
		ctl_req_fail(req, "command '%s' needs \"value\" (a string) or \"value_hex\" (hex)",
		             ctl_req_cmd(req));
		return false;
	}
	if (v) {
		if (!json_is_string(v)) {
			ctl_req_fail(req, "\"value\" must be a string (for bytes: \"value_hex\")");
			return false;
		}
		n = json_string_length(v);
		if (n > DHT_VALUE_MAX) {
			ctl_req_fail(req, "\"value\" is %zu bytes: at most %d", n, DHT_VALUE_MAX);
			return false;
		}
		memcpy(out, json_string_value(v), n);
		*len = n;
		return true;
	}
	s = json_string_value(h);
	n = json_string_length(h);
	if (!s || n % 2) {
		ctl_req_fail(req, "\"value_hex\" must be a string of hex digits, two per byte");
		return false;
	}
	if (n / 2 > DHT_VALUE_MAX) {
		ctl_req_fail(req, "\"value_hex\" is %zu bytes: at most %d", n / 2, DHT_VALUE_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = OPENSSL_hexchar2int((unsigned char)s[i]),
		    lo = OPENSSL_hexchar2int((unsigned char)s[i + 1]);

		if (hi < 0 || lo < 0) {
			ctl_req_fail(req, "\"value_hex\" has a non-hex character at offset %zu",
			             hi < 0 ? i : i + 1);
			return false;
		}
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return true;
}

/* Optional "ttl": seconds, 1..ttl_max. */
static bool get_ttl(struct dht_control *dc, struct ctl_req *req, uint32_t *out)
{
	const json_t *v = json_object_get(ctl_req_args(req), "ttl");
	uint32_t max = dht_config(dc->d)->ttl_max;
	json_int_t t;

	if (!v) {
		*out = DHT_CTL_TTL_DEFAULT < max ? DHT_CTL_TTL_DEFAULT : max;
		return true;
	}
	t = json_integer_value(v);
	if (!json_is_integer(v) || t < 1 || t > (json_int_t)max) {
		ctl_req_fail(req, "\"ttl\" must be an integer number of seconds, 1..%u", max);
		return false;
	}
	*out = (uint32_t)t;
	return true;
}

/* Optional "refresh": true (the default) or false. */
static bool get_refresh(struct ctl_req *req, bool *out)
{
	const json_t *v = json_object_get(ctl_req_args(req), "refresh");

	if (!v) {
		*out = true;
		return true;
	}
	if (!json_is_boolean(v)) {
		ctl_req_fail(req, "\"refresh\" must be true or false");
		return false;
	}
	*out = json_is_true(v);
	return true;
}

/* ---- requests ------------------------------------------------------------------ */

static bool node_running(struct dht_control *dc, struct ctl_req *req)
{
	enum ovl_node_state s;

	if (!dc->rt)
		return true;
	s = ovl_node_state(ovl_runtime_node(dc->rt));
	if (s == OVL_NODE_IDLE || s == OVL_NODE_LEAVING) {
		ctl_req_fail(req, "the node is not running");
		return false;
	}
	return true;
}

static struct dc_pending *pending_new(struct dht_control *dc, struct ctl_req *req)
{
	struct dc_pending *p = calloc(1, sizeof(*p));

	if (!p) {
		ctl_req_fail(req, "out of memory");
		return NULL;
	}
	p->dc = dc;
	p->req = req;
	return p;
}

/* The engine took the request (rc 0) or refused it at once. */
static void started(struct dc_pending *p, int rc)
{
	struct ovl_runtime *rt = p->dc->rt;
	struct ctl_req *req = p->req;
	char msg[CTL_ERR_MAX];

	if (rc < 0) {
		free(p);
		if (rc == -ENOBUFS)
			ctl_req_fail(
			        req,
			        "%s: too many DHT requests or own values at once; try again later",
			        ctl_req_cmd(req));
		else
			ctl_req_fail(req, "%s: %s", ctl_req_cmd(req), strerror(-rc));
		return;
	}
	snprintf(msg, sizeof(msg), "%s timed out", ctl_req_cmd(req));
	ctl_req_defer(req, dht_control_timeout_ms(dht_config(p->dc->d)), msg, on_cancel, p);
	/* done never runs inside the request call, but it may inside the kick
	 * (the request is deferred by then); p may be gone after it. */
	if (rt)
		ovl_runtime_kick(rt);
}

/* {"cmd":"dht_put"|"dht_create","key":S,"value":S|"value_hex":HEX,"ttl":N,"refresh":B} */
static void cmd_write(struct dht_control *dc, struct ctl_req *req, bool create)
{
	uint8_t value[DHT_VALUE_MAX];
	struct dc_pending *p;
	struct cert_addr key;
	size_t len = 0;
	uint32_t ttl;
	bool refresh;
	int rc;

	if (!ctl_req_only_keys(req, "key", "value", "value_hex", "ttl", "refresh", NULL) ||
	    !get_key(dc, req, &key) || !get_value(req, value, &len) || !get_ttl(dc, req, &ttl) ||
	    !get_refresh(req, &refresh) || !node_running(dc, req) || !(p = pending_new(dc, req)))
		return;
	if (create)
		rc = dht_create(dc->d, ovl_runtime_now(), &key, value, len, ttl, refresh, on_done,
		                p, &p->rid);
	else
		rc = dht_put(dc->d, ovl_runtime_now(), &key, value, len, ttl, refresh, on_done, p,
		             &p->rid);
	started(p, rc);
}

static void cmd_put(void *ctx, struct ctl_req *req)
{
	cmd_write(ctx, req, false);
}

static void cmd_create(void *ctx, struct ctl_req *req)
{
	cmd_write(ctx, req, true);
}

/* {"cmd":"dht_get"|"dht_remove","key":S} */
static void cmd_read(struct dht_control *dc, struct ctl_req *req, bool remove)
{
	struct dc_pending *p;
	struct cert_addr key;
	int rc;

	if (!ctl_req_only_keys(req, "key", NULL) || !get_key(dc, req, &key) ||
	    !node_running(dc, req) || !(p = pending_new(dc, req)))
		return;
	if (remove)
		rc = dht_remove(dc->d, ovl_runtime_now(), &key, on_done, p, &p->rid);
	else
		rc = dht_get(dc->d, ovl_runtime_now(), &key, on_done, p, &p->rid);
	started(p, rc);
}

static void cmd_get(void *ctx, struct ctl_req *req)
{
	cmd_read(ctx, req, false);
}

static void cmd_remove(void *ctx, struct ctl_req *req)
{
	cmd_read(ctx, req, true);
}

/* {"cmd":"dht_status"} */
static void cmd_status(void *ctx, struct ctl_req *req)
{
	struct dht_control *dc = ctx;
	const struct dht_config *cfg = dht_config(dc->d);
	struct dht_stats st;
	json_t *o;

	if (!ctl_req_only_keys(req, NULL))
		return;
	dht_stats(dc->d, &st);
	o = json_pack("{s:s,s:I,s:I}", "namespace", dht_namespace(dc->d), "replicas",
	              (json_int_t)cfg->replicas, "ttl_max", (json_int_t)cfg->ttl_max);
#define STAT(field)                                                                                \
	if (o && json_object_set_new(o, #field, json_integer((json_int_t)st.field)) < 0) {         \
		json_decref(o);                                                                    \
		o = NULL;                                                                          \
	}
	STAT(records)
	STAT(tombstones)
	STAT(own_values)
	STAT(pending)
	STAT(stored)
	STAT(refused)
	STAT(verify_failed)
	STAT(rate_limited)
	STAT(handed_off)
	STAT(repaired)
	STAT(synced_out)
	STAT(expired)
	STAT(msgs_in)
	STAT(msgs_out)
	STAT(frags_in)
	STAT(frags_out)
	STAT(reassembly_dropped)
#undef STAT
	ctl_req_reply(req, o); /* NULL: answers "out of memory" */
}

int dht_control_register(struct dht *d, struct ovl_runtime *rt, struct control *ctl,
                         struct dht_control **out)
{
	static const struct {
		const char *name;
		ctl_cmd_fn fn;
	} cmds[] = {
	        {"dht_put", cmd_put},       {"dht_create", cmd_create}, {"dht_get", cmd_get},
	        {"dht_remove", cmd_remove}, {"dht_status", cmd_status},
	};
	struct dht_control *dc = calloc(1, sizeof(*dc));
	int rc = 0;

	*out = NULL;
	if (!dc)
		return -ENOMEM;
	dc->d = d;
	dc->rt = rt;
	for (size_t i = 0; rc == 0 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		rc = control_register(ctl, cmds[i].name, cmds[i].fn, dc);
	if (rc < 0) {
		/* Commands registered so far stay, pointing at dc: keep it for the
		 * caller to free after ctl. */
		LOG(LOG_LVL_ERROR, "cannot register the DHT commands: %s", strerror(-rc));
	}
	*out = dc;
	return rc;
}

void dht_control_free(struct dht_control *dc)
{
	free(dc);
}

/* ---- daemon set-up ------------------------------------------------------------ */

static time_t dht_wall(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static void dht_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
		/* Predictable request ids and sequence numbers are worse than stopping. */
		LOG(LOG_LVL_ERROR, "RAND_bytes failed: no randomness, stopping");
		abort();
	}
}

int dht_runtime_start(struct ovl_runtime *rt, const struct cert_bundle *bundle, struct dht **out,
                      char *err, size_t errlen)
{
	const struct dht_cb cb = {.wall = dht_wall, .random = dht_random};
	struct dht_config cfg;
	long long r;
	int rc;

	dht_config_default(&cfg);
	rc = cert_bundle_setting_int(bundle, "dht_replicas", &r);
	if (rc == 0) {
		if (r < DHT_REPLICAS_MIN || r > DHT_REPLICAS_MAX) {
			snprintf(err, errlen,
			         "dht_replicas %lld is not supported: this version keeps %d..%d "
			         "copies of each record",
			         r, DHT_REPLICAS_MIN, DHT_REPLICAS_MAX);
			return -EINVAL;
		}
		cfg.replicas = (unsigned)r;
	} else if (rc != -ENOENT) {
		snprintf(err, errlen, "dht_replicas: %s", strerror(-rc));
		return rc;
	}
	rc = dht_new(ovl_runtime_node(rt), &cfg, &cb, out);
	if (rc < 0)
		snprintf(err, errlen, "DHT: %s", strerror(-rc));
	return rc;
}

void dht_runtime_prepare(const struct cert_bundle *bundle, struct ovl_node_config *node)
{
	long long r;

	if (cert_bundle_setting_int(bundle, "dht_replicas", &r) == 0 && r > 0 &&
	    r <= DHT_REPLICAS_MAX && node->leaf_per_side + 1 < (unsigned)r)
		node->leaf_per_side = (unsigned)r - 1;
}
