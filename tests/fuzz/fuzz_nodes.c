// SPDX-License-Identifier: MIT
/* fuzz_nodes — see fuzz_nodes.h. */
#include "fuzz_nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define QMAX 4096

struct pkt {
	int to;
	struct ovl_endpoint from;
	uint16_t len;
	uint8_t b[OVL_DATAGRAM_MAX];
};

static struct pkt q[QMAX];
static int qn;
uint64_t fn_now;
static uint64_t rng_state;

struct fnode fn_nodes[2];

static void on_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct fnode *me = ctx;
	int dst = to->port == fn_nodes[0].ep.port ? 0 : to->port == fn_nodes[1].ep.port ? 1 : -1;

	if (dst < 0 || qn >= QMAX || len > OVL_DATAGRAM_MAX)
		return; /* anywhere else (addresses in fuzzed CTMs) is a black hole */
	q[qn].to = dst;
	q[qn].from = me->ep;
	q[qn].len = (uint16_t)len;
	memcpy(q[qn].b, buf, len);
	qn++;
}

void fn_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(rng_state >> 56);
	}
}

time_t fn_wall(void *ctx)
{
	(void)ctx;
	return 1700000000 + (time_t)(fn_now / 1000);
}

/* Delivers queued datagrams and ticks both nodes for `ms` of virtual time. */
void fn_run(uint64_t ms)
{
	uint64_t end = fn_now + ms;

	while (fn_now < end) {
		int n = qn;

		for (int i = 0; i < n && i < qn; i++)
			ovl_node_input(fn_nodes[q[i].to].node, fn_now, &q[i].from, q[i].b,
			               q[i].len);
		memmove(q, q + n, (size_t)(qn - n) * sizeof(q[0]));
		qn -= n;
		for (int k = 0; k < 2; k++)
			ovl_node_tick(fn_nodes[k].node, fn_now);
		fn_now++;
	}
}

void fn_setup(unsigned flags)
{
	log_set_sink(log_sink_discard, NULL);
	rng_state = 42;
	qn = 0;
	fn_now = 1;
	for (int i = 0; i < 2; i++) {
		struct cert_info id;
		struct ovl_node_config cfg;
		struct ovl_node_cb cb = {
		        .ctx = &fn_nodes[i], .send = on_send, .random = fn_random, .wall = fn_wall};

		memset(&id, 0, sizeof(id));
		snprintf(id.name, sizeof(id.name), "n%d", i);
		snprintf(id.namespace, sizeof(id.namespace), "fuzz");
		memset(id.addr.b, i ? 0xb0 : 0x30, CERT_ADDR_LEN);
		if (flags & FN_FIXED_IPS) {
			id.has_ip = true;
			snprintf(id.ip, sizeof(id.ip), "10.9.0.%d", i + 1);
		}
		if (ovl_crypto_sim_new(&id, &fn_nodes[i].crypto) < 0)
			abort();
		memset(&cfg, 0, sizeof(cfg));
		cfg.crypto = fn_nodes[i].crypto;
		ovl_node_config_default(&cfg);
		fn_nodes[i].id = i;
		fn_nodes[i].ep.family = 4;
		fn_nodes[i].ep.addr[0] = 198;
		fn_nodes[i].ep.addr[1] = 18;
		fn_nodes[i].ep.addr[3] = (uint8_t)(i + 1);
		fn_nodes[i].ep.port = (uint16_t)(7000 + i);
		cfg.local[0] = fn_nodes[i].ep;
		cfg.n_local = 1;
		cfg.bootstrap[0] = fn_nodes[0].ep;
		cfg.n_bootstrap = i ? 1 : 0;
		if (ovl_node_new(&cfg, &cb, &fn_nodes[i].node) < 0)
			abort();
		fn_nodes[i].dht = NULL;
		if (flags & FN_DHT) {
			struct dht_config dc;
			struct dht_cb dcb = {.ctx = NULL, .wall = fn_wall, .random = fn_random};

			dht_config_default(&dc);
			if (dht_new(fn_nodes[i].node, &dc, &dcb, &fn_nodes[i].dht) < 0)
				abort();
		}
	}
	ovl_node_start(fn_nodes[0].node, fn_now);
	ovl_node_start(fn_nodes[1].node, fn_now);
	fn_run(200);
	if (!ovl_links_count(ovl_node_links_engine(fn_nodes[1].node)))
		abort(); /* the harness itself is broken */
}

void fn_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		ovl_node_free(fn_nodes[i].node);
		ovl_crypto_free(fn_nodes[i].crypto);
	}
}
