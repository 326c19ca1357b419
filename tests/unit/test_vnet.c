// SPDX-License-Identifier: MIT
/*
 * Unit tests: the vnet engine (vnet/vnet.c, vnet_addr.c) on two linked
 * members in virtual time (the fuzz targets' two-node harness,
 * tests/fuzz/fuzz_nodes.h: simulator crypto, a DHT each) with fake TUN
 * devices. What needs more members, sessions over relays or a real kernel
 * is in tests/integration/vnet_*.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fuzz_nodes.h"
#include "ip.h"
#include "vnet.h"

#define NET     0x0a090000u /* 10.9.0.0/16 */
#define IP_A    0x0a090001u
#define IP_B    0x0a090002u
#define OUT_MAX 64

struct tun {
	size_t n;
	uint8_t pkt[OUT_MAX][1500];
	size_t len[OUT_MAX];
	uint32_t addr;
	int addr_changes;
};

static struct tun tuns[2];
static struct vnet *vn[2];

static void tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct tun *t = ctx;

	if (t->n < OUT_MAX && len <= sizeof(t->pkt[0])) {
		memcpy(t->pkt[t->n], pkt, len);
		t->len[t->n++] = len;
	}
}

static void on_address(void *ctx, uint32_t ip, uint8_t prefix, uint64_t since)
{
	struct tun *t = ctx;

	(void)prefix;
	(void)since;
	t->addr = ip;
	t->addr_changes++;
}

/* Both members with vnets; fixed: their identities fix IP_A and IP_B.
 * last[i]: the address member i held last time (0: none). */
static void start(bool fixed, const uint32_t last[2])
{
	memset(tuns, 0, sizeof(tuns));
	fn_setup(FN_DHT | (fixed ? FN_FIXED_IPS : 0));
	for (int i = 0; i < 2; i++) {
		struct vnet_config c;
		struct vnet_cb cb = {.ctx = &tuns[i],
		                     .tun_write = tun_write,
		                     .address = on_address,
		                     .wall = fn_wall,
		                     .random = fn_random};

		vnet_config_default(&c);
		c.net = (struct cert_network){.addr = NET, .prefix = 16};
		c.fixed_ip = fixed ? (i ? IP_B : IP_A) : 0;
		c.last_ip = last ? last[i] : 0;
		c.alloc_delay_ms = 10;
		c.negative_ms = 500;
		assert_int_equal(vnet_new(fn_nodes[i].node, fn_nodes[i].dht, &c, &cb, &vn[i]), 0);
	}
	fn_run(500);
}

static int teardown(void **state)
{
	(void)state;
	fn_teardown(); /* frees the vnets with their nodes */
	return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An ICMP echo request src -> dst with sequence number seq. */
static size_t echo(uint8_t *p, uint32_t src, uint32_t dst, uint16_t seq)
{
	memset(p, 0, 40);
	p[0] = 0x45;
	put16(p + 2, 40);
	p[8] = 64;
	p[9] = VNET_IP_PROTO_ICMP;
	for (int i = 0; i < 4; i++) {
		p[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		p[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	put16(p + 10, vnet_ip_checksum(p, 20));
	p[20] = 8;
	put16(p + 26, seq);
	memcpy(p + 28, "vnet-unit-ok", 12);
	put16(p + 22, vnet_ip_checksum(p + 20, 20));
	return 40;
}

static struct vnet_stats stats(int i)
{
	struct vnet_stats s;

	vnet_stats(vn[i], &s);
	return s;
}

static void test_fixed_addresses_are_used_at_once(void **state)
{
	(void)state;
	start(true, NULL);
	assert_int_equal(vnet_ip(vn[0]), IP_A);
	assert_int_equal(vnet_ip(vn[1]), IP_B);
}

static void test_leased_addresses_distinct_and_in_network(void **state)
{
	struct cert_network net = {.addr = NET, .prefix = 16};

	(void)state;
	start(false, NULL);
	fn_run(3000);
	assert_true(cert_network_has_host(&net, vnet_ip(vn[0])));
	assert_true(cert_network_has_host(&net, vnet_ip(vn[1])));
	assert_int_not_equal(vnet_ip(vn[0]), vnet_ip(vn[1]));
	assert_int_equal(tuns[0].addr, vnet_ip(vn[0])); /* the device was told */
}

static void test_last_address_back_and_never_shared(void **state)
{
	const uint32_t want = 0x0a090a0au, last[2] = {want, want};

	(void)state;
	/* Both held 10.9.10.10 "last time": the DHT's create lets one have it. */
	start(false, last);
	fn_run(5000);
	assert_true(vnet_ip(vn[0]) == want || vnet_ip(vn[1]) == want);
	assert_int_not_equal(vnet_ip(vn[0]), vnet_ip(vn[1]));
	assert_true(vnet_ip(vn[0]) != 0 && vnet_ip(vn[1]) != 0);
}

static void test_queued_during_lookup_all_delivered_in_order(void **state)
{
	uint8_t p[64];

	(void)state;
	start(true, NULL);
	/* Ten packets before anything about IP_B is known: all wait for the lookup. */
	for (uint16_t s = 0; s < 10; s++)
		vnet_tun_input(vn[0], fn_now, p, echo(p, IP_A, IP_B, s));
	fn_run(1000);
	assert_int_equal(tuns[1].n, 10);
	for (uint16_t s = 0; s < 10; s++) {
		assert_int_equal(tuns[1].len[s], 40);
		assert_int_equal(tuns[1].pkt[s][26] << 8 | tuns[1].pkt[s][27], s);
	}
	assert_int_equal(stats(0).queue_drops, 0);
	assert_int_equal(stats(0).lookups, 1);
}

static void test_unknown_destination_gets_icmp_host_unreachable(void **state)
{
	uint8_t p[64];
	struct vnet_pkt pk;
	const char *why;

	(void)state;
	start(true, NULL);
	vnet_tun_input(vn[0], fn_now, p, echo(p, IP_A, 0x0a090063u, 1));
	fn_run(1000);
	assert_int_equal(tuns[0].n, 1);
	assert_int_equal(vnet_ip_parse(tuns[0].pkt[0], tuns[0].len[0], &pk, &why), 0);
	assert_int_equal(pk.proto, VNET_IP_PROTO_ICMP);
	assert_int_equal(pk.dst4, IP_A);
	assert_int_equal(tuns[0].pkt[0][20], 3); /* destination unreachable */
	assert_int_equal(tuns[0].pkt[0][21], 1); /* host */
	assert_int_equal(stats(0).icmp_sent, 1);
	assert_int_equal(tuns[1].n, 0);
}

static void test_spoofed_source_dropped(void **state)
{
	uint8_t p[64];

	(void)state;
	start(true, NULL);
	/* B's device hands B a packet claiming 10.9.0.3 (nobody's) as source. */
	vnet_tun_input(vn[1], fn_now, p, echo(p, 0x0a090003u, IP_A, 1));
	/* and one claiming A's own address. */
	vnet_tun_input(vn[1], fn_now, p, echo(p, IP_A, IP_A, 2));
	fn_run(1000);
	assert_int_equal(tuns[0].n, 0);
	assert_int_equal(stats(0).rx_spoofed, 2);
	/* B's own packets still go through. */
	vnet_tun_input(vn[1], fn_now, p, echo(p, IP_B, IP_A, 3));
	fn_run(500);
	assert_int_equal(tuns[0].n, 1);
}

static void test_packet_for_another_address_not_delivered(void **state)
{
	uint8_t msg[1 + 64];
	const struct cert_addr *a;

	(void)state;
	start(true, NULL);
	a = &ovl_crypto_self(fn_nodes[0].crypto)->addr;
	msg[0] = 1; /* VM_IP */
	echo(msg + 1, IP_B, 0x0a090009u, 1);
	assert_int_equal(ovl_node_send_direct(fn_nodes[1].node, fn_now, a, VNET_PROTO, msg, 41), 0);
	fn_run(200);
	assert_int_equal(tuns[0].n, 0);
	assert_int_equal(stats(0).rx_not_mine, 1);
}

static void test_oversized_and_malformed_from_member_dropped(void **state)
{
	uint8_t msg[1 + 1400];
	const struct cert_addr *a;

	(void)state;
	start(true, NULL);
	a = &ovl_crypto_self(fn_nodes[0].crypto)->addr;
	memset(msg, 0, sizeof(msg));
	msg[0] = 1;
	echo(msg + 1, IP_B, IP_A, 1);
	msg[1 + 12] ^= 1; /* header checksum now wrong */
	assert_int_equal(ovl_node_send_direct(fn_nodes[1].node, fn_now, a, VNET_PROTO, msg, 41), 0);
	assert_int_equal(ovl_node_send_direct(fn_nodes[1].node, fn_now, a, VNET_PROTO, msg,
	                                      sizeof(msg)), /* over the MTU */
	                 0);
	fn_run(200);
	assert_int_equal(tuns[0].n, 0);
	assert_int_equal(stats(0).rx_bad, 2);
}

struct got_resolve {
	int calls;
	bool found;
	char err[64];
};

static void resolved(void *ctx, uint32_t ip, const struct cert_addr *addr, const char *name,
                     const char *err)
{
	struct got_resolve *g = ctx;

	(void)ip;
	g->calls++;
	g->found = addr && name && !strcmp(name, "n1");
	snprintf(g->err, sizeof(g->err), "%s", err ? err : "");
}

static void test_resolve_answers_holder_and_nobody(void **state)
{
	struct got_resolve g = {0};

	(void)state;
	start(true, NULL);
	assert_int_equal(vnet_resolve(vn[0], fn_now, IP_B, resolved, &g), 0);
	fn_run(500);
	assert_int_equal(g.calls, 1);
	assert_true(g.found);
	memset(&g, 0, sizeof(g));
	assert_int_equal(vnet_resolve(vn[0], fn_now, 0x0a090063u, resolved, &g), 0);
	fn_run(500);
	assert_int_equal(g.calls, 1);
	assert_false(g.found);
	assert_string_equal(g.err, "nobody holds this address");
	assert_int_equal(vnet_resolve(vn[0], fn_now, 0x0b000001u, resolved, &g), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_fixed_addresses_are_used_at_once, teardown),
	        cmocka_unit_test_teardown(test_leased_addresses_distinct_and_in_network, teardown),
	        cmocka_unit_test_teardown(test_last_address_back_and_never_shared, teardown),
	        cmocka_unit_test_teardown(test_queued_during_lookup_all_delivered_in_order,
	                                  teardown),
	        cmocka_unit_test_teardown(test_unknown_destination_gets_icmp_host_unreachable,
	                                  teardown),
	        cmocka_unit_test_teardown(test_spoofed_source_dropped, teardown),
	        cmocka_unit_test_teardown(test_packet_for_another_address_not_delivered, teardown),
	        cmocka_unit_test_teardown(test_oversized_and_malformed_from_member_dropped,
	                                  teardown),
	        cmocka_unit_test_teardown(test_resolve_answers_holder_and_nobody, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
