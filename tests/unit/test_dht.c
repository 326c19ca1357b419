// SPDX-License-Identifier: MIT
/*
 * Unit tests: the DHT engine (dht/dht.c, dht/dht_serve.c) on a handful of
 * overlay nodes with real TLS members, on a virtual clock.
 *
 * netsim drives link engines only (struct ovl_links), so this file has its
 * own tiny network of whole ovl_node's, as tests/fuzz/fuzz_node_msg.c does:
 * a FIFO of datagrams with a fixed one-way delay, a virtual millisecond
 * clock that jumps to the next due event, every node ticked when its
 * deadline comes or right after something was fed to it. The wall clock the
 * engines see is H_NOW + virtual seconds, so the members' certificates are
 * valid. A run is a function of DHT_TEST_SEED (default 1): it picks the
 * members' keys, hence their overlay addresses and the ring's order, and
 * seeds each node's PRNG.
 *
 * Stores are inspected (and, for the lying-node test, corrupted) through
 * dht_internal.h.
 */
#include "helpers.h"
#include "members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "addr.h"
#include "dht.h"
#include "dht_internal.h"
#include "log.h"
#include "node.h"
#include "record.h"
#include "store.h"
#include "wire.h"

#define NODES_MAX   6
#define DELAY_MS    5
#define NAMESPACE   "dhtgrp"
#define NETWORK     "10.77.0.0/16"
#define REQ_WAIT_MS 20000 /* every request ends (ok or timeout) well within this */
#define GOT_MAX     32
/* Offsets into a record's wire form (record.h). */
#define OFF_WRITER 22
#define OFF_SEQ    42

/* ---- the network ------------------------------------------------------------------ */

struct tnode {
	int idx;
	bool live;
	struct member m;
	struct ovl_node *node; /* owns dht */
	struct dht *dht;
	struct ovl_endpoint ep;
	uint64_t next; /* when to tick the node next */
	uint64_t rng;
};

struct pkt {
	uint64_t at;
	int to;
	struct ovl_endpoint from;
	size_t len;
	uint8_t b[OVL_DATAGRAM_MAX];
};

static struct net {
	struct cert_ca *ca;
	struct tnode n[NODES_MAX];
	size_t count;
	struct pkt *q;
	size_t q_head, q_len, q_cap;
	uint64_t now;
} N;

/* DHT_TEST_SEED: node keys (hence the ring's order) and every PRNG. A test
 * may pick another for itself; setup restores it. */
static uint64_t seed_base = 1, seed = 1;

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static time_t wall_now(void)
{
	return H_NOW + (time_t)(N.now / 1000);
}

static time_t cb_wall(void *ctx)
{
	(void)ctx;
	return wall_now();
}

static void cb_random(void *ctx, void *buf, size_t len)
{
	struct tnode *t = ctx;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(splitmix(&t->rng) >> 56);
}

static void cb_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct tnode *t = ctx;
	struct pkt *p;
	int dst = -1;

	if (len == 0 || len > OVL_DATAGRAM_MAX)
		fail_msg("node %d sent a datagram of %zu bytes", t->idx, len);
	for (size_t i = 0; i < N.count; i++)
		if (ovl_ep_eq(&N.n[i].ep, to))
			dst = (int)i;
	if (dst < 0)
		return; /* nobody there */
	if (N.q_len == N.q_cap && N.q_head > 0) {
		/* Delivered ones are dead: slide the rest to the front. */
		memmove(N.q, N.q + N.q_head, (N.q_len - N.q_head) * sizeof(*N.q));
		N.q_len -= N.q_head;
		N.q_head = 0;
	}
	if (N.q_len == N.q_cap) {
		size_t cap = N.q_cap ? 2 * N.q_cap : 256;
		struct pkt *q = realloc(N.q, cap * sizeof(*q));

		assert_non_null(q);
		N.q = q;
		N.q_cap = cap;
	}
	p = &N.q[N.q_len++];
	p->at = N.now + DELAY_MS;
	p->to = dst;
	p->from = t->ep;
	p->len = len;
	memcpy(p->b, buf, len);
}

static void log_sink(void *ctx, enum log_level level, const char *subsys, const char *func,
                     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%6llu.%03llu %-5s %s: %s: %s\n", (unsigned long long)(N.now / 1000),
	        (unsigned long long)(N.now % 1000), log_level_name(level), subsys, func, msg);
}

static uint64_t log_clock(void *ctx)
{
	(void)ctx;
	return N.now;
}

/* Tick node i at the current time (after calling into its engine). */
static void poke(int i)
{
	N.n[i].next = N.now;
}

/* One step: to the next due instant, deliver what is due, tick who is due.
 * false if nothing is due before deadline (the clock then stops there). */
static bool step(uint64_t deadline)
{
	uint64_t t = UINT64_MAX;

	if (N.q_head < N.q_len)
		t = N.q[N.q_head].at;
	for (size_t i = 0; i < N.count; i++)
		if (N.n[i].live && N.n[i].next < t)
			t = N.n[i].next;
	if (t > deadline) {
		if (deadline > N.now)
			N.now = deadline;
		return false;
	}
	if (t > N.now)
		N.now = t;
	/* The delay is fixed, so the queue is in delivery order. */
	while (N.q_head < N.q_len && N.q[N.q_head].at <= N.now) {
		struct pkt p = N.q[N.q_head++]; /* a copy: input may grow the queue */
		struct tnode *d = &N.n[p.to];

		if (!d->live)
			continue; /* a killed node: lost */
		ovl_node_input(d->node, N.now, &p.from, p.b, p.len);
		d->next = N.now;
	}
	for (size_t i = 0; i < N.count; i++) {
		struct tnode *n = &N.n[i];

		if (n->live && n->next <= N.now) {
			n->next = ovl_node_tick(n->node, N.now);
			if (n->next <= N.now)
				fail_msg("node %zu: tick returned %llu at %llu", i,
				         (unsigned long long)n->next, (unsigned long long)N.now);
		}
	}
	return true;
}

typedef bool (*cond_fn)(void *ctx);

/* Runs until cond holds (checked at every instant) or the clock reaches
 * deadline (absolute virtual ms). cond may be NULL: run to the deadline. */
static bool run_until(cond_fn cond, void *ctx, uint64_t deadline)
{
	for (;;) {
		if (cond && cond(ctx))
			return true;
		if (!step(deadline))
			return cond ? cond(ctx) : true;
	}
}

static void run_for(uint64_t ms)
{
	run_until(NULL, NULL, N.now + ms);
}

static bool mesh_complete(void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < N.count; i++) {
		size_t want = 0;

		if (!N.n[i].live)
			continue;
		for (size_t j = 0; j < N.count; j++)
			want += N.n[j].live && j != i;
		if (ovl_node_links(N.n[i].node, NULL, 0) != want)
			return false;
	}
	return true;
}

static void net_free(void)
{
	for (size_t i = 0; i < N.count; i++) {
		if (N.n[i].node)
			ovl_node_free(N.n[i].node);
		member_free(&N.n[i].m);
	}
	free(N.q);
	if (N.ca)
		cert_ca_free(N.ca);
	memset(&N, 0, sizeof(N));
}

/* Like member_of, with an Ed25519 key drawn from *state: the same seed gives
 * the same overlay addresses, so a run is a function of the seed. */
static EVP_PKEY *seeded_key(uint64_t *state)
{
	uint8_t raw[32];
	EVP_PKEY *k;

	for (size_t i = 0; i < sizeof(raw); i += 8) {
		uint64_t r = splitmix(state);

		memcpy(raw + i, &r, 8);
	}
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
	assert_non_null(k);
	return k;
}

static struct member member_seeded(const char *name, uint64_t *state)
{
	struct cert_err err = {""};
	struct member m;
	char e[256] = "";

	m.key = seeded_key(state);
	m.cert = h_issue(N.ca, m.key, name, NULL);
	if (cert_bundle_build(N.ca, m.cert, m.key, NULL, 0, &m.bundle, &err) < 0)
		fail_msg("bundle: %s", err.msg);
	if (ovl_crypto_tls_new(m.bundle, &m.crypto, e, sizeof(e)) < 0)
		fail_msg("crypto: %s", e);
	return m;
}

/*
 * A new network of count members "n0".."n<count-1>" of one group, every one
 * with a DHT configured by cfg (NULL: defaults), all bootstrapping through
 * n0; returns once every node is linked to every other (with 6 nodes and
 * three leaves a side, the leaf sets cover the whole ring).
 */
static void net_new(size_t count, const struct dht_config *cfg)
{
	struct dht_config def;

	assert_true(count <= NODES_MAX);
	net_free();
	if (!cfg) {
		dht_config_default(&def);
		cfg = &def;
	}
	N.ca = h_ca(NAMESPACE, NETWORK, CERT_ALGO_ED25519);
	N.count = count;
	for (size_t i = 0; i < count; i++) {
		struct tnode *t = &N.n[i];
		char name[16];

		t->idx = (int)i;
		t->rng = seed * 1000 + i;
		snprintf(name, sizeof(name), "n%zu", i);
		t->m = member_seeded(name, &t->rng);
		t->ep.family = 4;
		t->ep.addr[0] = 198;
		t->ep.addr[1] = 18;
		t->ep.addr[3] = (uint8_t)(i + 1);
		t->ep.port = 7000;
	}
	for (size_t i = 0; i < count; i++) {
		struct tnode *t = &N.n[i];
		struct ovl_node_config nc;
		struct ovl_node_cb cb = {
		        .ctx = t, .send = cb_send, .random = cb_random, .wall = cb_wall};
		struct dht_cb dcb = {.ctx = t, .wall = cb_wall, .random = cb_random};

		memset(&nc, 0, sizeof(nc));
		nc.crypto = t->m.crypto;
		ovl_node_config_default(&nc);
		nc.local[0] = t->ep;
		nc.n_local = 1;
		if (i > 0) {
			nc.bootstrap[0] = N.n[0].ep;
			nc.n_bootstrap = 1;
		}
		assert_int_equal(ovl_node_new(&nc, &cb, &t->node), 0);
		assert_int_equal(dht_new(t->node, cfg, &dcb, &t->dht), 0);
		t->live = true;
		ovl_node_start(t->node, N.now);
		poke((int)i);
	}
	if (count > 1 && !run_until(mesh_complete, NULL, N.now + 60000))
		fail_msg("the %zu nodes did not all link to each other within 60 s", count);
}

/* A crash: the node and its DHT are freed; datagrams to it are lost. */
static void kill_node(int i)
{
	ovl_node_free(N.n[i].node);
	N.n[i].node = NULL;
	N.n[i].dht = NULL;
	N.n[i].live = false;
}

static int setup(void **state)
{
	(void)state;
	seed = seed_base;
	memset(&N, 0, sizeof(N));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	net_free();
	return 0;
}

/* ---- keys, replica sets, stores ------------------------------------------------------ */

static const struct cert_addr *addr_of(int i)
{
	return &ovl_crypto_self(N.n[i].m.crypto)->addr;
}

static struct cert_addr key_of(const char *appkey)
{
	struct cert_addr k;

	dht_key_of(NAMESPACE, (const uint8_t *)appkey, strlen(appkey), &k);
	return k;
}

/* Live node indices, nearest to key first (the ring's own order). */
static size_t nearest(const struct cert_addr *key, int *out)
{
	size_t n = 0;

	for (size_t i = 0; i < N.count; i++) {
		size_t j;

		if (!N.n[i].live)
			continue;
		for (j = n; j > 0 && ovl_addr_closer(key, addr_of((int)i), addr_of(out[j - 1])) < 0;
		     j--)
			out[j] = out[j - 1];
		out[j] = (int)i;
		n++;
	}
	return n;
}

/* The k-th nearest live node to key (0: the primary). */
static int nearest_at(const struct cert_addr *key, size_t k)
{
	int order[NODES_MAX];

	assert_true(nearest(key, order) > k);
	return order[k];
}

static int primary_of(const struct cert_addr *key)
{
	return nearest_at(key, 0);
}

static bool in_replica_set(const struct cert_addr *key, int i)
{
	int order[NODES_MAX];
	size_t n = nearest(key, order), r = dht_config(N.n[order[0]].dht)->replicas;

	for (size_t k = 0; k < n && k < r; k++)
		if (order[k] == i)
			return true;
	return false;
}

/* An application key "<prefix><k>" whose key satisfies ok(key, ctx). */
static struct cert_addr find_key(const char *prefix, bool (*ok)(const struct cert_addr *, void *),
                                 void *ctx)
{
	char name[64];

	for (unsigned k = 0; k < 10000; k++) {
		struct cert_addr key;

		snprintf(name, sizeof(name), "%s%u", prefix, k);
		key = key_of(name);
		if (ok(&key, ctx))
			return key;
	}
	fail_msg("no key with prefix %s fits", prefix);
	return (struct cert_addr){{0}};
}

static bool primary_is(const struct cert_addr *key, void *ctx)
{
	return primary_of(key) == *(const int *)ctx;
}

/* Node i's record of (key, writer), or NULL; expired or not. */
static const struct dht_stored *held(int i, const struct cert_addr *key,
                                     const struct cert_addr *writer)
{
	return dht_store_find(N.n[i].dht->store, key, writer);
}

static size_t holders(const struct cert_addr *key, const struct cert_addr *writer)
{
	size_t n = 0;

	for (size_t i = 0; i < N.count; i++)
		if (N.n[i].live && held((int)i, key, writer))
			n++;
	return n;
}

static struct dht_stats stats(int i)
{
	struct dht_stats st;

	dht_stats(N.n[i].dht, &st);
	return st;
}

/* ---- requests -------------------------------------------------------------------------- */

/* What a request's done callback saw (copied: the result is borrowed). */
struct got {
	int calls;
	bool inside_call; /* done ran inside the dht_* call that made the request */
	enum dht_status status;
	char error[DHT_ERR_MAX];
	unsigned tries;
	size_t n;
	struct got_value {
		struct cert_addr writer;
		char name[CERT_NAME_MAX + 1];
		uint8_t v[DHT_VALUE_MAX];
		uint16_t len;
		uint32_t ttl;
	} vals[DHT_PER_KEY_MAX];
};

/* Static: a request still pending when a test ends must not write into a dead frame. */
static struct got got_pool[GOT_MAX];
static size_t got_used;
static bool in_call;

static struct got *new_got(void)
{
	struct got *g = &got_pool[got_used++ % GOT_MAX];

	memset(g, 0, sizeof(*g));
	return g;
}

static void on_done(void *ctx, const struct dht_result *res)
{
	struct got *g = ctx;

	g->calls++;
	if (in_call)
		g->inside_call = true;
	g->status = res->status;
	snprintf(g->error, sizeof(g->error), "%s", res->error);
	g->tries = res->tries;
	g->n = res->n_values;
	for (size_t i = 0; i < res->n_values && i < DHT_PER_KEY_MAX; i++) {
		const struct dht_value *v = &res->values[i];

		g->vals[i].writer = v->writer;
		snprintf(g->vals[i].name, sizeof(g->vals[i].name), "%s", v->writer_name);
		/* len as reported; the bytes only if it is a value's length */
		if (v->len <= DHT_VALUE_MAX && (v->len == 0 || v->value))
			memcpy(g->vals[i].v, v->value, v->len);
		g->vals[i].len = v->len;
		g->vals[i].ttl = v->ttl;
	}
}

static bool got_done(void *ctx)
{
	return ((struct got *)ctx)->calls > 0;
}

/* Waits for g's answer; checks done ran once and never inside the call. */
static void wait_got(struct got *g, const char *what)
{
	if (!run_until(got_done, g, N.now + REQ_WAIT_MS))
		fail_msg("%s: no answer within %d ms", what, REQ_WAIT_MS);
	run_for(1); /* a second call would show now */
	assert_int_equal(g->calls, 1);
	assert_false(g->inside_call);
}

enum { PUT, CREATE, GET, REMOVE };

/* Starts a request from node i; done must not have run yet. */
static struct got *start(int i, int op, const struct cert_addr *key, const void *v, size_t len,
                         uint32_t ttl, bool refresh)
{
	struct got *g = new_got();
	struct dht *d = N.n[i].dht;
	int rc = -1;

	in_call = true;
	switch (op) {
	case PUT:
		rc = dht_put(d, N.now, key, v, len, ttl, refresh, on_done, g, NULL);
		break;
	case CREATE:
		rc = dht_create(d, N.now, key, v, len, ttl, refresh, on_done, g, NULL);
		break;
	case GET:
		rc = dht_get(d, N.now, key, on_done, g, NULL);
		break;
	case REMOVE:
		rc = dht_remove(d, N.now, key, on_done, g, NULL);
		break;
	}
	in_call = false;
	if (rc != 0)
		fail_msg("request %d from n%d: %d", op, i, rc);
	assert_int_equal(g->calls, 0);
	poke(i);
	return g;
}

static struct got *request(int i, int op, const struct cert_addr *key, const void *v, size_t len,
                           uint32_t ttl, bool refresh)
{
	struct got *g = start(i, op, key, v, len, ttl, refresh);

	wait_got(g, "request");
	return g;
}

static struct got *put(int i, const struct cert_addr *key, const char *v, uint32_t ttl,
                       bool refresh)
{
	return request(i, PUT, key, v, strlen(v), ttl, refresh);
}

static struct got *create(int i, const struct cert_addr *key, const char *v, uint32_t ttl)
{
	return request(i, CREATE, key, v, strlen(v), ttl, true);
}

static struct got *get(int i, const struct cert_addr *key)
{
	return request(i, GET, key, NULL, 0, 0, false);
}

static struct got *del(int i, const struct cert_addr *key)
{
	return request(i, REMOVE, key, NULL, 0, 0, false);
}

static struct got *put_raw(int i, const uint8_t *rec, size_t len)
{
	struct got *g = new_got();
	int rc;

	in_call = true;
	rc = dht_put_raw(N.n[i].dht, N.now, rec, len, on_done, g, NULL);
	in_call = false;
	assert_int_equal(rc, 0);
	assert_int_equal(g->calls, 0);
	poke(i);
	wait_got(g, "put_raw");
	return g;
}

static void assert_status(const struct got *g, enum dht_status want)
{
	if (g->status != want)
		fail_msg("status %s (error '%s'), want %s", dht_status_name(g->status), g->error,
		         dht_status_name(want));
}

/* g's value by writer node i, or NULL. */
static const struct got_value *value_by(const struct got *g, int i)
{
	for (size_t k = 0; k < g->n; k++)
		if (ovl_addr_eq(&g->vals[k].writer, addr_of(i)))
			return &g->vals[k];
	return NULL;
}

/* g holds writer i's value v (as a string, without NUL). */
static void assert_value(const struct got *g, int i, const char *v)
{
	const struct got_value *gv = value_by(g, i);
	char name[16];

	if (!gv) {
		fail_msg("no value by n%d among %zu", i, g->n);
		return;
	}
	if (gv->len != strlen(v) || memcmp(gv->v, v, gv->len) != 0)
		fail_msg("n%d's value is '%.*s', want '%s'", i, (int)gv->len, (const char *)gv->v,
		         v);
	snprintf(name, sizeof(name), "n%d", i);
	assert_string_equal(gv->name, name);
}

/* ---- records built by hand ---------------------------------------------------------------- */

/*
 * A record with every field chosen: writer, the certificate that travels,
 * and who signs (over DHT_SIG_CONTEXT || version..value, as record.c does).
 */
static size_t forge(struct ovl_crypto *signer, const uint8_t *cert, size_t clen,
                    const struct cert_addr *writer, const struct cert_addr *key, uint64_t seq,
                    uint64_t expires, const char *value, uint8_t *out, size_t cap)
{
	struct wire_writer w = wire_writer(out, cap);
	uint8_t msg[sizeof(DHT_SIG_CONTEXT) + DHT_RECORD_MAX];
	size_t vlen = strlen(value), signed_len, ctx_len = sizeof(DHT_SIG_CONTEXT) - 1;
	uint8_t *sig;

	wire_put_u8(&w, DHT_REC_VERSION);
	wire_put_u8(&w, 0);
	wire_put_bytes(&w, key->b, CERT_ADDR_LEN);
	wire_put_bytes(&w, writer->b, CERT_ADDR_LEN);
	wire_put_u64(&w, seq);
	wire_put_u64(&w, expires);
	wire_put_u16(&w, (uint16_t)vlen);
	wire_put_bytes(&w, value, vlen);
	signed_len = wire_len(&w);
	wire_put_u16(&w, (uint16_t)clen);
	wire_put_bytes(&w, cert, clen);
	sig = wire_put_space(&w, OVL_SIG_LEN);
	assert_true(wire_wok(&w));
	assert_non_null(sig);
	memcpy(msg, DHT_SIG_CONTEXT, ctx_len);
	memcpy(msg + ctx_len, out, signed_len);
	assert_int_equal(ovl_crypto_sign(signer, msg, ctx_len + signed_len, sig), 0);
	return wire_len(&w);
}

static struct dht_record parse_one(const uint8_t *buf, size_t len)
{
	struct wire_reader r = wire_reader(buf, len);
	struct dht_record rec;

	assert_int_equal(dht_record_parse(&r, &rec), 0);
	assert_true(wire_done(&r));
	return rec;
}

/* A seq newer than anything written so far (writers use wall ms). */
static uint64_t future_seq(void)
{
	return ((uint64_t)wall_now() + 3600) * 1000;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void put_then_get_from_every_node_returns_value_writer_and_ttl(void **state)
{
	struct cert_addr key = key_of("host/alpha");
	struct got *g;

	(void)state;
	net_new(6, NULL);
	g = put(1, &key, "10.77.0.5", 300, false);
	assert_status(g, DHT_OK);
	assert_string_equal(g->error, "");
	for (int i = 0; i < 6; i++) {
		g = get(i, &key);
		assert_status(g, DHT_OK);
		assert_int_equal(g->n, 1);
		assert_value(g, 1, "10.77.0.5");
		/* Whole seconds left of 300, a fraction of a second after the put. */
		if (g->vals[0].ttl < 299 || g->vals[0].ttl > 300)
			fail_msg("get from n%d: ttl %u, want 299..300", i, g->vals[0].ttl);
	}
	/* The key sits on its replica set, and nowhere else. */
	for (int i = 0; i < 6; i++)
		assert_int_equal(held(i, &key, addr_of(1)) != NULL, in_replica_set(&key, i));
	/* A key nobody wrote: ok, no values. */
	key = key_of("host/nobody");
	g = get(3, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 0);
}

static void get_through_a_primary_that_lost_its_copy_fetches_from_replicas(void **state)
{
	struct cert_addr key = key_of("host/beta");
	uint64_t repaired;
	struct got *g;
	int p;

	(void)state;
	net_new(6, NULL);
	assert_status(put(2, &key, "10.77.0.6", 600, false), DHT_OK);
	p = primary_of(&key);
	assert_true(dht_store_remove(N.n[p].dht->store, &key, addr_of(2)));
	repaired = stats(p).repaired;
	for (int reader = 0; reader < 6; reader++) {
		g = get(reader, &key);
		assert_status(g, DHT_OK);
		assert_int_equal(g->n, 1);
		assert_value(g, 2, "10.77.0.6");
	}
	/* The primary keeps what its replicas gave it (local read repair). */
	assert_non_null(held(p, &key, addr_of(2)));
	assert_int_equal(stats(p).repaired, repaired + 1);
}

static void put_replaces_own_value_and_two_writers_coexist(void **state)
{
	struct cert_addr key = key_of("svc/web");
	struct got *g;

	(void)state;
	net_new(6, NULL);
	assert_status(put(0, &key, "first", 600, true), DHT_OK);
	run_for(10);
	assert_status(put(0, &key, "second", 600, true), DHT_OK);
	g = get(4, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 1);
	assert_value(g, 0, "second");

	assert_status(put(2, &key, "other", 600, true), DHT_OK);
	for (int reader = 0; reader < 6; reader++) {
		g = get(reader, &key);
		assert_status(g, DHT_OK);
		assert_int_equal(g->n, 2);
		assert_value(g, 0, "second");
		assert_value(g, 2, "other");
	}
	/* The writer keeps one value to re-put, the newest. */
	assert_int_equal(stats(0).own_values, 1);
}

static void create_refuses_another_writers_key_and_allows_own_refresh(void **state)
{
	struct cert_addr key = key_of("ip/10.77.0.9");
	struct got *g;

	(void)state;
	net_new(6, NULL);
	g = create(1, &key, "n1 was here", 600);
	assert_status(g, DHT_OK);

	g = create(4, &key, "n4 wants it", 600);
	assert_status(g, DHT_EXISTS);
	assert_msg_has(g->error, "held by n1");
	/* The loser does not keep re-putting a key it did not get. */
	assert_int_equal(stats(4).own_values, 0);

	/* The holder may create again (a refresh, with a new value). */
	run_for(10);
	g = create(1, &key, "n1 again", 600);
	assert_status(g, DHT_OK);

	g = get(4, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 1);
	assert_value(g, 1, "n1 again");

	/* A primary that lost its copy (it just took over the key, say) still
	 * refuses: the replicas that hold the value say no, send it along, and
	 * the primary keeps it. */
	{
		int p = primary_of(&key);

		assert_true(dht_store_remove(N.n[p].dht->store, &key, addr_of(1)));
		g = create(5, &key, "n5 tries the gap", 600);
		assert_status(g, DHT_EXISTS);
		assert_msg_has(g->error, "held by n1");
		assert_non_null(held(p, &key, addr_of(1)));
		g = get(0, &key);
		assert_int_equal(g->n, 1);
		assert_value(g, 1, "n1 again");
	}

	/* A plain put by another writer still coexists: create is what checks. */
	assert_status(put(4, &key, "n4 put", 600, false), DHT_OK);
	g = create(5, &key, "n5 wants it", 600);
	assert_status(g, DHT_EXISTS);
	assert_msg_has(g->error, "held by n");
}

static void concurrent_creates_of_one_key_let_exactly_one_writer_win(void **state)
{
	struct cert_addr key = key_of("ip/10.77.0.42");
	struct got *g[6];
	int winner = -1, exists = 0;

	(void)state;
	net_new(6, NULL);
	/* Every node at the same instant, the primary included. */
	for (int i = 0; i < 6; i++)
		g[i] = start(i, CREATE, &key, "mine", 4, 600, true);
	for (int i = 0; i < 6; i++) {
		wait_got(g[i], "concurrent create");
		if (g[i]->status == DHT_OK) {
			if (winner >= 0)
				fail_msg("n%d and n%d both created the key", winner, i);
			winner = i;
		} else if (g[i]->status == DHT_EXISTS) {
			exists++;
		} else {
			fail_msg("n%d: %s (%s)", i, dht_status_name(g[i]->status), g[i]->error);
		}
	}
	if (winner < 0)
		fail_msg("no create succeeded (%d exists)", exists);
	g[0] = get(0, &key);
	assert_int_equal(g[0]->n, 1);
	assert_value(g[0], winner, "mine");
	for (int i = 0; i < 6; i++)
		assert_int_equal(stats(i).own_values, i == winner ? 1 : 0);
}

static void remove_hides_the_value_and_only_touches_own_writer(void **state)
{
	struct cert_addr key = key_of("svc/shared");
	struct got *g;

	(void)state;
	net_new(6, NULL);
	assert_status(put(0, &key, "from n0", 600, true), DHT_OK);
	assert_status(put(3, &key, "from n3", 600, true), DHT_OK);
	g = get(5, &key);
	assert_int_equal(g->n, 2);

	/* n3 removes its own: n0's stays. */
	assert_status(del(3, &key), DHT_OK);
	for (int reader = 0; reader < 6; reader++) {
		g = get(reader, &key);
		assert_status(g, DHT_OK);
		assert_int_equal(g->n, 1);
		assert_value(g, 0, "from n0");
	}
	/* n3 no longer re-puts it: after refreshes would have run, still gone. */
	assert_int_equal(stats(3).own_values, 0);
	run_for(700 * 1000);
	g = get(1, &key);
	assert_int_equal(g->n, 1);
	assert_value(g, 0, "from n0");

	/* Removing where we hold nothing touches nobody else's value. */
	assert_status(del(4, &key), DHT_OK);
	g = get(2, &key);
	assert_int_equal(g->n, 1);
	assert_value(g, 0, "from n0");

	/* And the last writer's remove leaves the key empty. */
	assert_status(del(0, &key), DHT_OK);
	g = get(2, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 0);

	/* A writer's tombstone does not keep its own later value out. */
	run_for(10);
	assert_status(put(0, &key, "back", 600, false), DHT_OK);
	g = get(5, &key);
	assert_int_equal(g->n, 1);
	assert_value(g, 0, "back");
}

struct expiry {
	time_t at;
};

static bool wall_reached(void *ctx)
{
	return wall_now() >= ((struct expiry *)ctx)->at;
}

struct held_by {
	const struct cert_addr *key, *writer;
	size_t n;
};

static bool holders_are(void *ctx)
{
	struct held_by *h = ctx;

	return holders(h->key, h->writer) == h->n;
}

static void value_expires_after_ttl_when_not_refreshed(void **state)
{
	struct cert_addr key = key_of("tmp/short");
	struct expiry ex;
	struct held_by h = {&key, NULL, 0};
	uint64_t expired_before = 0, expired_after = 0, vf;
	struct dht_config cfg;
	struct got *g;

	(void)state;
	/* Digest rounds every 60..120 s, so none falls between the put and the
	 * expiry by chance: the expired record is then still held, and only the
	 * get path can be what hides it. */
	dht_config_default(&cfg);
	cfg.sync_ms = 120 * 1000;
	net_new(6, &cfg);
	run_for(6000); /* the round the joins' link changes scheduled */
	h.writer = addr_of(2);
	ex.at = wall_now() + 5;
	assert_status(put(2, &key, "soon gone", 5, false), DHT_OK);
	g = get(0, &key);
	assert_int_equal(g->n, 1);
	assert_true(g->vals[0].ttl <= 5);
	assert_int_equal(holders(&key, h.writer), 3);
	for (int i = 0; i < 6; i++)
		expired_before += stats(i).expired;

	/* Past its expiry nobody answers it, though the stores still hold it:
	 * the primary leaves it out (the reader had nothing to refuse). */
	assert_true(run_until(wall_reached, &ex, N.now + 10000));
	vf = stats(0).verify_failed;
	g = get(0, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 0);
	assert_int_equal(stats(0).verify_failed, vf);
	g = get(5, &key);
	assert_int_equal(g->n, 0);
	assert_int_equal(holders(&key, h.writer), 3);

	/* The next digest round (at most sync_ms away) drops it everywhere. */
	if (!run_until(holders_are, &h, N.now + dht_config(N.n[0].dht)->sync_ms + 1000))
		fail_msg("%zu nodes still hold the expired record after a digest period",
		         holders(&key, h.writer));
	for (int i = 0; i < 6; i++)
		expired_after += stats(i).expired;
	assert_int_equal(expired_after - expired_before, 3);
}

static void refreshed_value_outlives_its_ttl(void **state)
{
	struct cert_addr kept = key_of("tmp/kept"), once = key_of("tmp/once");
	struct got *g;

	(void)state;
	net_new(6, NULL);
	assert_status(put(3, &kept, "still here", 10, true), DHT_OK);
	assert_status(put(3, &once, "written once", 10, false), DHT_OK);
	assert_int_equal(stats(3).own_values, 1);
	run_for(60 * 1000);

	g = get(0, &kept);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 1);
	assert_value(g, 3, "still here");
	if (g->vals[0].ttl == 0 || g->vals[0].ttl > 10)
		fail_msg("refreshed value has ttl %u, want 1..10", g->vals[0].ttl);
	/* The control: the same ttl without refresh is gone. */
	g = get(0, &once);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 0);
}

static void forged_record_is_refused_by_storing_nodes(void **state)
{
	enum { A = 1, M = 4 };
	struct cert_addr key = key_of("ip/10.77.0.1");
	struct cert_ca *other = NULL;
	static struct member mallory;
	uint8_t rec[DHT_RECORD_MAX];
	size_t len, clen;
	const uint8_t *cert_a;
	uint64_t exp;
	struct got *g;

	(void)state;
	net_new(6, NULL);
	exp = (uint64_t)wall_now() + 600;
	assert_status(put(A, &key, "A's", 600, true), DHT_OK);

	/* 1. M's own record with the writer field patched to A: the signature
	 *    covers the writer, so it no longer holds. */
	assert_int_equal(dht_record_build(N.n[M].m.crypto, &key, future_seq(), exp, 0,
	                                  (const uint8_t *)"M's", 3, rec, sizeof(rec), &len),
	                 0);
	memcpy(rec + OFF_WRITER, addr_of(A)->b, CERT_ADDR_LEN);
	g = put_raw(M, rec, len);
	assert_status(g, DHT_REFUSED);
	assert_msg_has(g->error, "signature");

	/* 2. Writer A, A's certificate, M's signature. */
	cert_a = ovl_crypto_cert(N.n[A].m.crypto, &clen);
	len = forge(N.n[M].m.crypto, cert_a, clen, addr_of(A), &key, future_seq(), exp, "M's", rec,
	            sizeof(rec));
	g = put_raw(M, rec, len);
	assert_status(g, DHT_REFUSED);
	assert_msg_has(g->error, "bad signature");

	/* 3. Writer A, M's certificate, M's (valid) signature over it all. */
	{
		size_t mclen;
		const uint8_t *cert_m = ovl_crypto_cert(N.n[M].m.crypto, &mclen);

		len = forge(N.n[M].m.crypto, cert_m, mclen, addr_of(A), &key, future_seq(), exp,
		            "M's", rec, sizeof(rec));
	}
	g = put_raw(M, rec, len);
	assert_status(g, DHT_REFUSED);
	assert_msg_has(g->error, "writer is not the certificate's owner");

	/* A's value is untouched, everywhere. */
	for (int reader = 0; reader < 6; reader++) {
		g = get(reader, &key);
		assert_status(g, DHT_OK);
		assert_int_equal(g->n, 1);
		assert_value(g, A, "A's");
	}

	/* 4. A record from a member of another group (another CA, same
	 *    namespace), handed in by M. */
	other = h_ca(NAMESPACE, NETWORK, CERT_ALGO_ED25519);
	mallory = member_of(other, "mallory");
	assert_int_equal(dht_record_build(mallory.crypto, &key, future_seq(), exp, 0,
	                                  (const uint8_t *)"evil", 4, rec, sizeof(rec), &len),
	                 0);
	member_free(&mallory);
	cert_ca_free(other);
	g = put_raw(M, rec, len);
	assert_status(g, DHT_REFUSED);
	assert_msg_has(g->error, "certificate: wrong CA");
	g = get(0, &key);
	assert_int_equal(g->n, 1);
	assert_value(g, A, "A's");
	/* Nothing but A's record was stored anywhere. */
	for (int i = 0; i < 6; i++) {
		size_t cnt;

		dht_store_key_range(N.n[i].dht->store, &key, &cnt);
		assert_int_equal(cnt, in_replica_set(&key, i) ? 1 : 0);
	}
}

/*
 * A create that did not succeed for any reason, not only EXISTS (here
 * refused: rate limited), must not stay among the writer's values to re-put:
 * a re-put is a plain PUT, so the failed create would come back at the next
 * refresh next to the value of the writer who did get the key. (Found by this
 * test; fixed in 9bf8f28.)
 */
static void failed_create_is_never_re_put(void **state)
{
	struct dht_config cfg;
	struct cert_addr key = key_of("ip/10.77.0.77");
	int c, x;
	struct got *g, *gets[2];

	(void)state;
	dht_config_default(&cfg);
	cfg.rate_per_s = 1;
	cfg.rate_burst = 2;
	net_new(6, &cfg);
	c = nearest_at(&key, 4);
	x = nearest_at(&key, 5);
	/* c spends its burst, so its create is refused ("rate limited"). All at
	 * one instant: nothing else reaches the primary in between (see
	 * rate_limit_holds_for_origins_that_share_a_bucket_slot). */
	gets[0] = start(c, GET, &key, NULL, 0, 0, false);
	gets[1] = start(c, GET, &key, NULL, 0, 0, false);
	g = start(c, CREATE, &key, "c's claim", 9, 20, true);
	wait_got(g, "create over the rate");
	wait_got(gets[0], "get");
	wait_got(gets[1], "get");
	assert_status(gets[0], DHT_OK);
	assert_status(gets[1], DHT_OK);
	assert_status(g, DHT_REFUSED);
	assert_string_equal(g->error, "rate limited");
	/* x gets the key. */
	g = request(x, CREATE, &key, "x's claim", 9, 600, true);
	assert_status(g, DHT_OK);
	/* c must not keep re-putting what it never got. */
	assert_int_equal(stats(c).own_values, 0);
	run_for(30 * 1000);
	g = get(0, &key);
	assert_int_equal(g->n, 1);
	assert_value(g, x, "x's claim");
}

/*
 * A forged put whose seq is not newer than the one held for (key, writer)
 * changes nothing in the store, but must still be refused, not told "ok":
 * the primary verifies a client's record before any answer. (Found by this
 * test; fixed in 9bf8f28.)
 */
static void forged_record_with_an_old_seq_is_refused_too(void **state)
{
	enum { A = 1, M = 4 };
	struct cert_addr key = key_of("ip/10.77.0.1");
	uint8_t rec[DHT_RECORD_MAX];
	size_t len, clen;
	const uint8_t *cert_a;
	uint64_t seqs[2];
	struct got *g;

	(void)state;
	net_new(6, NULL);
	assert_status(put(A, &key, "A's", 600, true), DHT_OK);
	cert_a = ovl_crypto_cert(N.n[A].m.crypto, &clen);
	/* Older than A's (the store would say "stale") and the very seq A's
	 * record has ("already held"). */
	seqs[0] = 1;
	seqs[1] = held(primary_of(&key), &key, addr_of(A))->seq;
	for (int k = 0; k < 2; k++) {
		len = forge(N.n[M].m.crypto, cert_a, clen, addr_of(A), &key, seqs[k],
		            (uint64_t)wall_now() + 600, "M's", rec, sizeof(rec));
		g = put_raw(M, rec, len);
		assert_status(g, DHT_REFUSED);
		assert_msg_has(g->error, "bad signature");
	}
	g = get(0, &key);
	assert_int_equal(g->n, 1);
	assert_value(g, A, "A's");
}

/* ---- rate limits for origins that hash alike ------------------------------------------------ */
/* The bucket slot dht_serve.c's rate_ok() hashed an origin to when its table
 * was direct-mapped: ((b[0] << 8 | b[1]) ^ b[19]) % RATE_SLOTS. Two origins
 * with the same slot also share a set of the 4-way table that replaced it. */
static unsigned rate_slot(const struct cert_addr *a)
{
	return ((((unsigned)a->b[0] << 8) | a->b[1]) ^ a->b[19]) % RATE_SLOTS;
}

/* Two member indices of a network made with seed s whose origins share a
 * rate bucket slot; false if none do. */
static bool colliding_pair(uint64_t s, int *x, int *y)
{
	unsigned slot[NODES_MAX];

	for (int i = 0; i < NODES_MAX; i++) {
		uint64_t st = s * 1000 + (uint64_t)i; /* as net_new seeds node i */
		struct cert_err err = {""};
		struct cert_addr a;
		EVP_PKEY *k = seeded_key(&st);

		assert_int_equal(cert_addr_of_key(NAMESPACE, k, &a, &err), 0);
		EVP_PKEY_free(k);
		slot[i] = rate_slot(&a);
		for (int j = 0; j < i; j++)
			if (slot[j] == slot[i]) {
				*x = j;
				*y = i;
				return true;
			}
	}
	return false;
}

struct not_these {
	int x, y;
};

static bool primary_is_neither(const struct cert_addr *key, void *ctx)
{
	const struct not_these *n = ctx;
	int p = primary_of(key);

	return p != n->x && p != n->y;
}

/*
 * Regression: the per-origin rate limit did not hold for two origins whose
 * addresses fell into the same of the RATE_SLOTS direct-mapped buckets: each
 * request of one restarted the bucket, full, for itself. Two members in one
 * slot (about 6 % of 6-node groups, most origins of a large one) are never
 * limited when their requests interleave; a single origin is reset by any
 * colliding neighbour's replica traffic (seen with DHT_TEST_SEED=88 and 158
 * before failed_create_is_never_re_put sent its requests at one instant).
 */
static void rate_limit_holds_for_origins_that_share_a_bucket_slot(void **state)
{
	struct dht_config cfg;
	struct cert_addr key;
	struct not_these nt;
	struct got *g[12];
	size_t ok = 0, limited = 0;

	(void)state;
	for (seed = 1; !colliding_pair(seed, &nt.x, &nt.y); seed++)
		assert_true(seed < 10000);
	dht_config_default(&cfg);
	cfg.rate_per_s = 1;
	cfg.rate_burst = 2;
	net_new(6, &cfg);
	key = find_key("slot/", primary_is_neither, &nt);
	/* Twelve gets at one instant, the two origins taking turns: a burst of
	 * two each, so eight must be refused. */
	for (int k = 0; k < 12; k++)
		g[k] = start(k % 2 ? nt.y : nt.x, GET, &key, NULL, 0, 0, false);
	for (int k = 0; k < 12; k++) {
		wait_got(g[k], "interleaved get");
		if (g[k]->status == DHT_OK)
			ok++;
		else if (g[k]->status == DHT_REFUSED && strcmp(g[k]->error, "rate limited") == 0)
			limited++;
	}
	if (ok != 4 || limited != 8)
		fail_msg("n%d and n%d (one bucket slot, seed %llu): %zu ok, %zu rate limited; "
		         "want 4 and 8",
		         nt.x, nt.y, (unsigned long long)seed, ok, limited);
}

static void forged_value_held_by_a_lying_node_is_invisible_to_readers(void **state)
{
	struct cert_addr key = key_of("lie/1");
	uint8_t rec[DHT_RECORD_MAX], altered[DHT_RECORD_MAX];
	const struct dht_stored *real;
	struct dht_record r;
	struct got *g;
	size_t len, clen;
	const uint8_t *cert_b;
	uint64_t vf;
	int order[NODES_MAX], p, A, B, M, reader;

	(void)state;
	net_new(6, NULL);
	/* Writer, reader and the framed member B are none of the key's replicas:
	 * what the reader sees is what the primary answers. */
	nearest(&key, order);
	p = order[0];
	M = order[1];
	A = order[3];
	reader = order[4];
	B = order[5];
	assert_status(put(A, &key, "genuine", 600, false), DHT_OK);

	/* The primary holds, besides A's genuine value, a value "by B" that B
	 * never wrote: B's certificate, M's signature. Straight into its store. */
	cert_b = ovl_crypto_cert(N.n[B].m.crypto, &clen);
	len = forge(N.n[M].m.crypto, cert_b, clen, addr_of(B), &key, future_seq(),
	            (uint64_t)wall_now() + 600, "forged by M", rec, sizeof(rec));
	r = parse_one(rec, len);
	assert_int_equal(dht_store_put(N.n[p].dht->store, &r, (uint64_t)wall_now()), DHT_ST_ADDED);

	vf = stats(reader).verify_failed;
	g = get(reader, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 1);
	assert_value(g, A, "genuine");
	assert_null(value_by(g, B));
	assert_true(stats(reader).verify_failed > vf);

	/* A lying node that alters A's own value (same writer, a newer seq, the
	 * signature no longer matching) makes it disappear, never changes it. */
	real = held(p, &key, addr_of(A));
	assert_non_null(real);
	memcpy(altered, real->raw, real->raw_len);
	len = real->raw_len;
	r = parse_one(altered, len);
	altered[OFF_SEQ] ^= 0x01; /* seq's top byte: now newer than the genuine one */
	altered[r.value - altered] ^= 0x20;
	r = parse_one(altered, len);
	assert_int_equal(dht_store_put(N.n[p].dht->store, &r, (uint64_t)wall_now()),
	                 DHT_ST_REPLACED);
	vf = stats(reader).verify_failed;
	g = get(reader, &key);
	assert_status(g, DHT_OK);
	for (size_t k = 0; k < g->n; k++)
		if (g->vals[k].len == 7 && memcmp(g->vals[k].v, "Genuine", 7) == 0)
			fail_msg("the reader believed an altered value");
	assert_int_equal(g->n, 0);
	assert_true(stats(reader).verify_failed > vf);
}

static void revoked_writer_is_refused(void **state)
{
	enum { W = 3, R = 0 };
	struct cert_addr k1 = key_of("rev/one"), k2 = key_of("rev/two");
	struct cert_info wi;
	char *crl;
	struct got *g;

	(void)state;
	net_new(6, NULL);
	assert_status(put(W, &k1, "W's", 600, true), DHT_OK);
	assert_status(put(1, &k1, "n1's", 600, true), DHT_OK);
	g = get(R, &k1);
	assert_int_equal(g->n, 2);

	wi = h_info(N.n[W].m.cert);
	assert_int_equal(cert_ca_revoke(N.ca, wi.serial, H_NOW, NULL), 0);
	crl = h_crl_pem(N.ca);
	for (int i = 0; i < 6; i++)
		assert_int_equal(ovl_crypto_update_crl(N.n[i].m.crypto, crl, strlen(crl)), 0);
	free(crl);

	g = put(W, &k2, "W again", 600, false);
	assert_status(g, DHT_REFUSED);
	assert_msg_has(g->error, "certificate: revoked");
	g = create(W, &k2, "W again", 600);
	assert_status(g, DHT_REFUSED);
	assert_msg_has(g->error, "certificate: revoked");
	assert_int_equal(holders(&k2, addr_of(W)), 0);

	/* W's older value is still in the stores, but no reader shows it. */
	assert_int_equal(holders(&k1, addr_of(W)), 3);
	for (int reader = 0; reader < 6; reader++) {
		g = get(reader, &k1);
		assert_status(g, DHT_OK);
		assert_int_equal(g->n, 1);
		assert_value(g, 1, "n1's");
	}
}

static void limits_are_clear_errors(void **state)
{
	enum { A = 1, B = 2 };
	struct dht_config cfg;
	static uint8_t big[DHT_VALUE_MAX + 1];
	struct cert_addr key = key_of("lim/x"), keys[5];
	struct got *gs[6];
	size_t ok = 0, limited = 0;
	int p, c;

	(void)state;
	dht_config_default(&cfg);
	cfg.max_per_writer = 4;
	net_new(6, &cfg);

	/* Refused by the caller's own engine: nothing is sent, done never runs. */
	in_call = true;
	assert_int_equal(dht_put(N.n[A].dht, N.now, &key, big, DHT_VALUE_MAX + 1, 60, false,
	                         on_done, new_got(), NULL),
	                 -EINVAL);
	assert_int_equal(dht_create(N.n[A].dht, N.now, &key, big, DHT_VALUE_MAX + 1, 60, false,
	                            on_done, new_got(), NULL),
	                 -EINVAL);
	assert_int_equal(
	        dht_put(N.n[A].dht, N.now, &key, big, 4, 0, false, on_done, new_got(), NULL),
	        -EINVAL);
	assert_int_equal(dht_put(N.n[A].dht, N.now, &key, big, 4, cfg.ttl_max + 1, false, on_done,
	                         new_got(), NULL),
	                 -EINVAL);
	in_call = false;
	assert_int_equal(stats(A).pending, 0);
	assert_int_equal(stats(A).own_values, 0);
	/* The largest value and ttl are fine (written by B: A's count stays 0). */
	assert_status(request(B, PUT, &key, big, DHT_VALUE_MAX, cfg.ttl_max, false), DHT_OK);

	/* Per writer: one storing node holds at most 4 records of A. */
	p = (A + 2) % 6;
	for (int k = 0; k < 5; k++) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "lim/%d/", k);
		keys[k] = find_key(prefix, primary_is, &p);
	}
	for (int k = 0; k < 4; k++)
		assert_status(put(A, &keys[k], "mine", 600, false), DHT_OK);
	gs[0] = put(A, &keys[4], "one too many", 600, false);
	assert_status(gs[0], DHT_REFUSED);
	assert_msg_has(gs[0]->error, "writer limit reached");
	/* Another writer is not held to A's count. */
	assert_status(put(B, &keys[4], "B's", 600, false), DHT_OK);
	/* A's refresh of a key it holds is not a new record. */
	run_for(10);
	assert_status(put(A, &keys[0], "mine, newer", 600, false), DHT_OK);

	/* Rate: 1 request a second per origin, a burst of 2. */
	dht_config_default(&cfg);
	cfg.rate_per_s = 1;
	cfg.rate_burst = 2;
	net_new(6, &cfg);
	/* The origin is no replica: its requests are the primary's to limit. */
	key = key_of("rate/1");
	c = nearest_at(&key, 4);
	for (int k = 0; k < 6; k++)
		gs[k] = start(c, GET, &key, NULL, 0, 0, false);
	for (int k = 0; k < 6; k++) {
		wait_got(gs[k], "burst get");
		if (gs[k]->status == DHT_OK) {
			ok++;
		} else {
			assert_status(gs[k], DHT_REFUSED);
			assert_string_equal(gs[k]->error, "rate limited");
			assert_int_equal(gs[k]->tries, 1); /* a refusal is an answer: no retry */
			limited++;
		}
	}
	assert_int_equal(ok, 2);
	assert_int_equal(limited, 4);
	assert_true(stats(primary_of(&key)).rate_limited >= 4);
	/* Other origins are served meanwhile, and the limited one after a pause. */
	assert_status(get((c + 1) % 6, &key), DHT_OK);
	run_for(2000);
	assert_status(get(c, &key), DHT_OK);
	assert_status(put(c, &key, "after the storm", 60, false), DHT_OK);
}

static void large_value_travels_in_fragments(void **state)
{
	static uint8_t v[DHT_VALUE_MAX];
	struct cert_addr key = key_of("big/1");
	struct dht_stats a0, a1, b0, b1;
	const struct got_value *gv;
	struct got *g;
	size_t clen;
	int order[NODES_MAX], A, B;

	(void)state;
	net_new(6, NULL);
	for (size_t i = 0; i < sizeof(v); i++)
		v[i] = (uint8_t)(i * 7 + (i >> 8));
	ovl_crypto_cert(N.n[0].m.crypto, &clen);
	/* The record is more than one routed payload can carry. */
	assert_true(DHT_REC_FIXED + sizeof(v) + clen > FRAG_DATA);
	/* Writer and reader store nothing of it: it travels both ways. */
	nearest(&key, order);
	A = order[3];
	B = order[4];

	a0 = stats(A);
	assert_status(request(A, PUT, &key, v, sizeof(v), 600, false), DHT_OK);
	a1 = stats(A);
	/* One REQ, more than one fragment. */
	assert_true(a1.frags_out - a0.frags_out > a1.msgs_out - a0.msgs_out);

	b0 = stats(B);
	g = get(B, &key);
	b1 = stats(B);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 1);
	gv = value_by(g, A);
	if (!gv) {
		fail_msg("no value by the writer");
		return;
	}
	assert_int_equal(gv->len, sizeof(v));
	assert_memory_equal(gv->v, v, sizeof(v));
	assert_true(b1.frags_in - b0.frags_in > b1.msgs_in - b0.msgs_in);
	for (int i = 0; i < 6; i++)
		assert_int_equal(stats(i).reassembly_dropped, 0);
}

static void requests_to_ourselves_complete_after_the_call_returns(void **state)
{
	struct cert_addr key = key_of("solo/me");
	struct got *g;

	(void)state;
	net_new(1, NULL);
	run_for(100);

	/* Every op: done has not run when the call returns (start() checks),
	 * runs at a later tick (wait_got checks it was not inside the call). */
	g = start(0, PUT, &key, "alone", 5, 60, true);
	assert_int_equal(stats(0).pending, 1);
	wait_got(g, "put to ourselves");
	assert_status(g, DHT_OK);

	g = start(0, GET, &key, NULL, 0, 0, false);
	wait_got(g, "get from ourselves");
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 1);
	assert_value(g, 0, "alone");

	g = start(0, CREATE, &key, "alone 2", 7, 60, true);
	wait_got(g, "create at ourselves");
	assert_status(g, DHT_OK);

	g = start(0, REMOVE, &key, NULL, 0, 0, false);
	wait_got(g, "remove at ourselves");
	assert_status(g, DHT_OK);
	g = get(0, &key);
	assert_int_equal(g->n, 0);

	/* Even a request refused by ourselves is answered later, not inside. */
	{
		uint8_t rec[DHT_RECORD_MAX];
		size_t len, clen;
		const uint8_t *cert = ovl_crypto_cert(N.n[0].m.crypto, &clen);
		len = forge(N.n[0].m.crypto, cert, clen, addr_of(0), &key, future_seq(),
		            (uint64_t)wall_now() + 600, "x", rec, sizeof(rec));
		rec[len - 1] ^= 0xff; /* the signature */
		g = put_raw(0, rec, len);
		assert_status(g, DHT_REFUSED);
		assert_msg_has(g->error, "bad signature");
	}
}

struct chain {
	struct got *first, *second;
	const struct cert_addr *key;
	int node, rc;
};

/* Records the put's answer, then asks for the key from inside the callback. */
static void on_done_then_get(void *ctx, const struct dht_result *res)
{
	struct chain *c = ctx;

	on_done(c->first, res);
	c->second = new_got();
	c->rc = dht_get(N.n[c->node].dht, N.now, c->key, on_done, c->second, NULL);
}

static bool chain_done(void *ctx)
{
	const struct chain *c = ctx;

	return c->second && c->second->calls > 0;
}

static void done_may_call_back_into_the_engine_and_cancel_silences_it(void **state)
{
	static struct chain c;
	struct cert_addr key = key_of("cb/1");
	struct got *g;
	uint32_t rid = 0;
	int rc;

	(void)state;
	net_new(6, NULL);
	c = (struct chain){.first = new_got(), .key = &key, .node = 2};
	rc = dht_put(N.n[2].dht, N.now, &key, (const uint8_t *)"chained", 7, 600, false,
	             on_done_then_get, &c, NULL);
	assert_int_equal(rc, 0);
	poke(2);
	assert_true(run_until(chain_done, &c, N.now + REQ_WAIT_MS));
	assert_int_equal(c.rc, 0);
	assert_status(c.first, DHT_OK);
	assert_status(c.second, DHT_OK);
	assert_int_equal(c.second->n, 1);
	assert_value(c.second, 2, "chained");

	/* A cancelled request never calls back, whatever comes in for it. */
	g = new_got();
	assert_int_equal(dht_get(N.n[4].dht, N.now, &key, on_done, g, &rid), 0);
	assert_int_not_equal(rid, 0);
	poke(4);
	dht_cancel(N.n[4].dht, rid);
	assert_int_equal(stats(4).pending, 0);
	run_for(15000);
	assert_int_equal(g->calls, 0);
}

static void request_to_a_dead_primary_times_out_then_succeeds_once_the_ring_repairs(void **state)
{
	struct cert_addr key = key_of("dead/1");
	struct dht_config cfg;
	int order[NODES_MAX], victim, writer, reader;
	uint64_t t0;
	struct got *g;

	(void)state;
	net_new(6, NULL);
	cfg = *dht_config(N.n[0].dht);
	nearest(&key, order);
	victim = order[0];
	writer = order[4];
	reader = order[5];
	assert_status(put(writer, &key, "still there", 3600, false), DHT_OK);

	/* Until the ring notices (dead_ms), requests go to the dead primary. */
	kill_node(victim);
	t0 = N.now;
	g = start(reader, GET, &key, NULL, 0, 0, false);
	wait_got(g, "get from a dead primary");
	assert_status(g, DHT_TIMEOUT);
	assert_int_equal(g->tries, cfg.attempts);
	assert_msg_has(g->error, "no answer after 4 tries");
	if (N.now - t0 < (uint64_t)cfg.attempts * cfg.attempt_ms ||
	    N.now - t0 > (uint64_t)cfg.attempts * cfg.attempt_ms + 100)
		fail_msg("timed out after %llu ms, want %u", (unsigned long long)(N.now - t0),
		         cfg.attempts * cfg.attempt_ms);
	assert_int_equal(stats(reader).pending, 0);

	/* Once every node has declared the link dead, the next nearest answers
	 * the first try. */
	if (!run_until(mesh_complete, NULL, N.now + 60000))
		fail_msg("the ring did not drop the dead node within 60 s");
	g = get(reader, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->tries, 1);
	assert_int_equal(g->n, 1);
	assert_value(g, writer, "still there");
}

static void killed_replica_is_replaced(void **state)
{
	struct cert_addr key;
	int order[NODES_MAX], writer, victim, fourth;
	struct held_by h;
	struct got *g;

	(void)state;
	net_new(6, NULL);
	key = key_of("kill/me");
	nearest(&key, order);
	victim = order[0]; /* the primary */
	fourth = order[3];
	writer = order[5];
	assert_false(in_replica_set(&key, writer));
	/* Written once: only the digest rounds can bring it back to three. */
	assert_status(put(writer, &key, "survivor", 3600, false), DHT_OK);
	h = (struct held_by){&key, addr_of(writer), 3};
	assert_true(run_until(holders_are, &h, N.now + 1000));
	assert_null(held(fourth, &key, addr_of(writer)));

	kill_node(victim);
	assert_int_equal(holders(&key, addr_of(writer)), 2);
	/* Dead after dead_ms (30 s), re-replicated at the following rounds. */
	if (!run_until(holders_are, &h, N.now + 120 * 1000))
		fail_msg("the key is held by %zu live nodes 120 s after a replica died, want 3",
		         holders(&key, addr_of(writer)));
	/* By the replica set of the ring that is left. */
	nearest(&key, order);
	for (int k = 0; k < 3; k++)
		assert_non_null(held(order[k], &key, addr_of(writer)));
	assert_non_null(held(fourth, &key, addr_of(writer)));
	g = get(writer, &key);
	assert_status(g, DHT_OK);
	assert_int_equal(g->n, 1);
	assert_value(g, writer, "survivor");
}

int main(void)
{
#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        TEST(put_then_get_from_every_node_returns_value_writer_and_ttl),
	        TEST(get_through_a_primary_that_lost_its_copy_fetches_from_replicas),
	        TEST(put_replaces_own_value_and_two_writers_coexist),
	        TEST(create_refuses_another_writers_key_and_allows_own_refresh),
	        TEST(failed_create_is_never_re_put),
	        TEST(concurrent_creates_of_one_key_let_exactly_one_writer_win),
	        TEST(remove_hides_the_value_and_only_touches_own_writer),
	        TEST(value_expires_after_ttl_when_not_refreshed),
	        TEST(refreshed_value_outlives_its_ttl),
	        TEST(forged_record_is_refused_by_storing_nodes),
	        TEST(forged_record_with_an_old_seq_is_refused_too),
	        TEST(forged_value_held_by_a_lying_node_is_invisible_to_readers),
	        TEST(revoked_writer_is_refused),
	        TEST(limits_are_clear_errors),
	        TEST(large_value_travels_in_fragments),
	        TEST(requests_to_ourselves_complete_after_the_call_returns),
	        TEST(done_may_call_back_into_the_engine_and_cancel_silences_it),
	        TEST(request_to_a_dead_primary_times_out_then_succeeds_once_the_ring_repairs),
	        TEST(killed_replica_is_replaced),
	        TEST(rate_limit_holds_for_origins_that_share_a_bucket_slot),
	};
	const char *lvl = getenv("DHT_TEST_LOG"), *only = getenv("DHT_TEST_ONLY");
	const char *sd = getenv("DHT_TEST_SEED");
	enum log_level level = LOG_LVL_ERROR;

	/* DHT_TEST_LOG=debug|info|warn|error (lines carry virtual time),
	 * DHT_TEST_ONLY=<test name pattern>, DHT_TEST_SEED=<n> (default 1) */
	if (sd)
		seed_base = strtoull(sd, NULL, 0);
	if (lvl && log_level_parse(lvl, &level) < 0)
		fprintf(stderr, "DHT_TEST_LOG: unknown level '%s'\n", lvl);
	log_set_level(level);
	log_set_sink(log_sink, NULL);
	log_set_clock(log_clock, NULL);
	if (only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
