// SPDX-License-Identifier: MIT
/*
 * Fuzz target: node messages (ROUTE, LEAFSET, LEAVE and the routed
 * protocols inside ROUTE: CTM, CTM_REP, TRACE, TRACE_REP, ERROR) as a member
 * peer can send them. Two nodes (simulator crypto) are linked through an
 * in-memory pipe on a virtual clock; the input, split into records
 * [u16 len][bytes], is sent by node B over its link to node A as link
 * messages, and A processes each one. A must never crash, leak or trip a
 * sanitizer, and must keep its link to B (a malformed message is dropped,
 * not a reason to fail).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

#define QMAX 4096

struct pkt {
	int to;
	struct ovl_endpoint from;
	uint16_t len;
	uint8_t b[OVL_DATAGRAM_MAX];
};

static struct pkt q[QMAX];
static int qn;
static uint64_t now_ms;
static uint64_t rng_state;

struct fnode {
	struct ovl_node *node;
	struct ovl_crypto *crypto;
	struct ovl_endpoint ep;
	int id;
};

static struct fnode nodes[2];

static void on_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct fnode *me = ctx;
	int dst = to->port == nodes[0].ep.port ? 0 : to->port == nodes[1].ep.port ? 1 : -1;

	if (dst < 0 || qn >= QMAX || len > OVL_DATAGRAM_MAX)
		return; /* anywhere else (addresses in fuzzed CTMs) is a black hole */
	q[qn].to = dst;
	q[qn].from = me->ep;
	q[qn].len = (uint16_t)len;
	memcpy(q[qn].b, buf, len);
	qn++;
}

static void on_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(rng_state >> 56);
	}
}

static time_t on_wall(void *ctx)
{
	(void)ctx;
	return 1700000000 + (time_t)(now_ms / 1000);
}

/* Delivers queued datagrams and ticks both nodes for `ms` of virtual time. */
static void run(uint64_t ms)
{
	uint64_t end = now_ms + ms;

	while (now_ms < end) {
		int n = qn;

		for (int i = 0; i < n && i < qn; i++)
			ovl_node_input(nodes[q[i].to].node, now_ms, &q[i].from, q[i].b, q[i].len);
		memmove(q, q + n, (size_t)(qn - n) * sizeof(q[0]));
		qn -= n;
		for (int k = 0; k < 2; k++)
			ovl_node_tick(nodes[k].node, now_ms);
		now_ms++;
	}
}

static void drop_log(void *ctx, enum log_level level, const char *subsys, const char *func,
                     const char *msg)
{
	(void)ctx;
	(void)level;
	(void)subsys;
	(void)func;
	(void)msg;
}

static void setup(void)
{
	log_set_sink(drop_log, NULL);
	rng_state = 42;
	qn = 0;
	now_ms = 1;
	for (int i = 0; i < 2; i++) {
		struct cert_info id;
		struct ovl_node_config cfg;
		struct ovl_node_cb cb = {
		        .ctx = &nodes[i], .send = on_send, .random = on_random, .wall = on_wall};

		memset(&id, 0, sizeof(id));
		snprintf(id.name, sizeof(id.name), "n%d", i);
		snprintf(id.namespace, sizeof(id.namespace), "fuzz");
		memset(id.addr.b, i ? 0xb0 : 0x30, CERT_ADDR_LEN);
		if (ovl_crypto_sim_new(&id, &nodes[i].crypto) < 0)
			abort();
		memset(&cfg, 0, sizeof(cfg));
		cfg.crypto = nodes[i].crypto;
		ovl_node_config_default(&cfg);
		nodes[i].id = i;
		nodes[i].ep.family = 4;
		nodes[i].ep.addr[0] = 198;
		nodes[i].ep.addr[1] = 18;
		nodes[i].ep.addr[3] = (uint8_t)(i + 1);
		nodes[i].ep.port = (uint16_t)(7000 + i);
		cfg.local[0] = nodes[i].ep;
		cfg.n_local = 1;
		cfg.bootstrap[0] = nodes[0].ep;
		cfg.n_bootstrap = i ? 1 : 0;
		if (ovl_node_new(&cfg, &cb, &nodes[i].node) < 0)
			abort();
	}
	ovl_node_start(nodes[0].node, now_ms);
	ovl_node_start(nodes[1].node, now_ms);
	run(200);
	if (!ovl_links_count(ovl_node_links_engine(nodes[1].node)))
		abort(); /* the harness itself is broken */
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++) {
		ovl_node_free(nodes[i].node);
		ovl_crypto_free(nodes[i].crypto);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovl_links *lb;
	size_t off = 0;

	setup();
	lb = ovl_node_links_engine(nodes[1].node);
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		struct ovl_link *l = ovl_links_at(lb, 0);

		off += 2;
		if (len > size - off)
			len = size - off;
		if (!l)
			break;
		if (len > 0 && len <= OVL_LINK_MTU)
			ovl_link_send(lb, l, now_ms, data + off, len);
		off += len;
		run(5);
	}
	run(50);
	/* Garbage from a member is dropped, never a reason to drop the member. */
	if (ovl_links_count(ovl_node_links_engine(nodes[0].node)) != 1)
		abort();
	teardown();
	return 0;
}
