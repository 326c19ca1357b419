// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the virtual network engine (vnet/vnet.c) from both of its
 * untrusted sides. Two linked members (fuzz_nodes: simulator crypto), each
 * with a DHT and a vnet with a fixed address (10.9.0.1 = A, 10.9.0.2 = B)
 * and a fake TUN device. The input, split into records
 * [u8 flags][u16 len][bytes], is fed to A:
 *   flags & 3 == 0: a packet A's TUN device hands it (what local programs send);
 *   1: a vnet message from B over their link (ovl_node_send_direct);
 *   2: a routed VNET_PROTO message from B (what a session datagram would be);
 *   3: a packet B's TUN hands B, so it travels to A the real way.
 * A must never crash, leak or trip a sanitizer; everything A writes to its
 * TUN must be a well-formed IPv4 packet that is for A (or an ICMP error A
 * made for a local sender) and never carries a source B does not hold
 * unless it is an ICMP error of A's; and after the input, a real packet
 * from B still reaches A's TUN.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_nodes.h"
#include "ip.h"
#include "log.h"
#include "vnet.h"

#define IP_A 0x0a090001u
#define IP_B 0x0a090002u

static struct vnet *vn[2];
static int marker_seen;

static void tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	int who = (int)(intptr_t)ctx;
	struct vnet_pkt pk;
	const char *why;

	if (who != 0)
		return;
	if (vnet_ip_parse(pkt, len, &pk, &why) < 0 || pk.version != 4 || pk.total_len != len)
		abort(); /* A wrote something that is not a clean IPv4 packet */
	if (pk.proto == VNET_IP_PROTO_ICMP && len >= 21 && pkt[20] == 3)
		return; /* an ICMP error of A's own, to a local sender */
	if (pk.dst4 != IP_A || pk.src4 != IP_B)
		abort(); /* delivered a packet not for A, or from a source B does not hold */
	if (len >= 28 + 6 && !memcmp(pkt + 28, "MARKER", 6))
		marker_seen++;
}

static void on_address(void *ctx, uint32_t ip, uint8_t prefix, uint64_t since)
{
	(void)ctx;
	(void)ip;
	(void)prefix;
	(void)since;
}

static void setup(void)
{
	fn_setup(FN_DHT | FN_FIXED_IPS);
	for (int i = 0; i < 2; i++) {
		struct vnet_config c;
		struct vnet_cb cb = {.ctx = (void *)(intptr_t)i,
		                     .tun_write = tun_write,
		                     .address = on_address,
		                     .wall = fn_wall,
		                     .random = fn_random};

		vnet_config_default(&c);
		c.net = (struct cert_network){.addr = 0x0a090000u, .prefix = 16};
		c.fixed_ip = i ? IP_B : IP_A;
		c.alloc_delay_ms = 10;
		c.queue_total = 64;
		if (vnet_new(fn_nodes[i].node, fn_nodes[i].dht, &c, &cb, &vn[i]) < 0)
			abort();
	}
	fn_run(300);
	if (!vnet_ip(vn[0]) || !vnet_ip(vn[1]))
		abort(); /* the harness itself is broken */
}

/* A valid ICMP echo request from B to A carrying "MARKER". */
static size_t echo_b_to_a(uint8_t *p)
{
	static const uint8_t hdr[20] = {0x45, 0, 0,  34, 0, 1, 0,  0, 64, 1,
	                                0,    0, 10, 9,  0, 2, 10, 9, 0,  1};
	uint16_t c;

	memcpy(p, hdr, 20);
	c = vnet_ip_checksum(p, 20);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	memset(p + 20, 0, 8);
	p[20] = 8; /* echo request */
	memcpy(p + 28, "MARKER", 6);
	c = vnet_ip_checksum(p + 20, 14);
	p[22] = (uint8_t)(c >> 8);
	p[23] = (uint8_t)c;
	return 34;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cert_addr *a;
	uint8_t pkt[64];
	size_t off = 0;

	setup();
	marker_seen = 0;
	a = &ovl_crypto_self(fn_nodes[0].crypto)->addr;
	while (off + 3 <= size) {
		uint8_t flags = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		const uint8_t *p;

		off += 3;
		if (len > size - off)
			len = size - off;
		p = data + off;
		off += len;
		switch (flags & 3) {
		case 0:
			vnet_tun_input(vn[0], fn_now, p, len);
			break;
		case 1:
			if (len > 0 && len <= OVL_DIRECT_MTU)
				ovl_node_send_direct(fn_nodes[1].node, fn_now, a, VNET_PROTO, p,
				                     len);
			break;
		case 2:
			if (len > 0 && len <= OVL_ROUTE_MTU)
				ovl_node_route(fn_nodes[1].node, fn_now, a, OVL_ROUTE_EXACT,
				               VNET_PROTO, p, len, NULL);
			break;
		case 3:
			vnet_tun_input(vn[1], fn_now, p, len);
			break;
		}
		fn_run(2);
	}
	fn_run(200);
	/* A still takes B's real packets. */
	vnet_tun_input(vn[1], fn_now, pkt, echo_b_to_a(pkt));
	fn_run(3000);
	if (marker_seen < 1)
		abort();
	fn_teardown();
	return 0;
}
