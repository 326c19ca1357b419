// SPDX-License-Identifier: MIT
/*
 * fuzz_nodes — the harness several fuzz targets share: two overlay nodes
 * (simulator crypto, names n0 and n1, namespace "fuzz") linked over an
 * in-memory network on a virtual millisecond clock, each with a DHT
 * engine (FN_DHT). n0 is the one fuzzed; n1 is the member sending to it.
 * With FN_FIXED_IPS, their identities fix 10.9.0.1 and 10.9.0.2 (vnet).
 */
#ifndef GVPN_TESTS_FUZZ_NODES_H
#define GVPN_TESTS_FUZZ_NODES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "dht.h"
#include "node.h"

struct fnode {
	struct ovl_node *node;
	struct dht *dht;
	struct ovl_crypto *crypto;
	struct ovl_endpoint ep;
	int id;
};

extern struct fnode fn_nodes[2];
extern uint64_t fn_now; /* virtual ms */

enum { FN_DHT = 1, FN_FIXED_IPS = 2 };
/* Makes both nodes and links them (aborts if the harness itself fails). */
void fn_setup(unsigned flags);
void fn_teardown(void);
/* Delivers queued datagrams and ticks both nodes for ms of virtual time. */
void fn_run(uint64_t ms);
/* The engines' wall clock and (deterministic) randomness. */
time_t fn_wall(void *ctx);
void fn_random(void *ctx, void *buf, size_t len);

#endif
