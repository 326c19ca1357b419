// SPDX-License-Identifier: MIT
/*
 * Fuzz target: DHT messages (dht/dht_internal.h: fragments, REQ, REP,
 * CHECK, STORE, FETCH, OFFER, WANT and the records inside) as a member can
 * send them. Two linked nodes (simulator crypto), each with a DHT engine; A
 * first stores a few real values put by B. The input, split into records
 * [u8 flags][u16 len][bytes], is routed by B to A (flags bit 0: nearest mode
 * to A's address, else exact; bit 1: wrapped in a one-fragment header, so
 * the fuzzer reaches the messages at once). A must never crash, leak or trip
 * a sanitizer; everything A then holds must verify (nothing unverified is
 * ever stored); and A must still answer a get from B.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dht_internal.h"
#include "fuzz_nodes.h"
#include "log.h"
#include "node.h"

/* An answer came (a fuzzed flood may leave B rate-limited: still an answer). */
static void answered(void *ctx, const struct dht_result *res)
{
	int *ok = ctx;

	*ok = res->status == DHT_OK || res->status == DHT_REFUSED ? 1 : -100;
}

static void count_ok(void *ctx, const struct dht_result *res)
{
	int *ok = ctx;

	if (res->status == DHT_OK)
		(*ok)++;
	else
		*ok = -100;
}

static void setup(void)
{
	fn_setup(FN_DHT);
	for (int k = 0; k < 4; k++) {
		struct cert_addr key;
		char app[8];
		int ok = 0;

		snprintf(app, sizeof(app), "k%d", k);
		dht_key_of("fuzz", (const uint8_t *)app, strlen(app), &key);
		if (dht_put(fn_nodes[1].dht, fn_now, &key, (const uint8_t *)app, strlen(app), 600,
		            true, count_ok, &ok, NULL) < 0)
			abort();
		fn_run(100);
		if (ok != 1)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cert_addr *a;
	size_t off = 0;
	struct cert_addr key;
	int ok = 0;

	setup();
	a = &ovl_crypto_self(fn_nodes[0].crypto)->addr;
	while (off + 3 <= size) {
		uint8_t flags = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		uint8_t buf[OVL_ROUTE_MTU];
		size_t n = 0;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (flags & 2) {
			/* u32 msg_id, u8 index 0, u8 count 1 */
			memset(buf, 0, 4);
			buf[3] = (uint8_t)off;
			buf[4] = 0;
			buf[5] = 1;
			n = 6;
		}
		if (len > sizeof(buf) - n)
			len = sizeof(buf) - n;
		memcpy(buf + n, data + off, len);
		n += len;
		off += len;
		if (n > 0)
			ovl_node_route(fn_nodes[1].node, fn_now, a,
			               (flags & 1) ? OVL_ROUTE_NEAREST : OVL_ROUTE_EXACT, DHT_PROTO,
			               buf, n, NULL);
		fn_run(5);
	}
	fn_run(1500);
	/* Nothing A holds escaped verification. */
	for (size_t i = 0; i < dht_store_count(fn_nodes[0].dht->store); i++) {
		const struct dht_stored *s = dht_store_at(fn_nodes[0].dht->store, i);
		struct wire_reader r = wire_reader(s->raw, s->raw_len);
		struct dht_record rec;
		char why[DHT_ERR_MAX];

		if (dht_record_parse(&r, &rec) < 0 || !wire_done(&r) ||
		    dht_record_verify(fn_nodes[0].crypto, fn_wall(NULL), 86400, &rec, NULL, why,
		                      sizeof(why)) < 0)
			abort();
	}
	/* And A still serves. */
	dht_key_of("fuzz", (const uint8_t *)"k0", 2, &key);
	if (dht_get(fn_nodes[1].dht, fn_now, &key, answered, &ok, NULL) < 0)
		abort();
	fn_run(8000);
	if (ok != 1)
		abort();
	fn_teardown();
	return 0;
}
