// SPDX-License-Identifier: MIT
/*
 * Unit tests: vnet's pure parts (gvpn_vnet_pkt) — IP header checks and the
 * ICMP errors vnet writes (vnet/ip.c), and the allocator's candidate
 * sequence, lease value and claim rule (vnet/alloc.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "ip.h"

/* ---- packets ------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IPv4 packet: 20-byte header (checksum right), then payload bytes. */
static size_t ip4(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *payload,
                  size_t plen)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(20 + plen));
	p[8] = 64;
	p[9] = proto;
	for (int i = 0; i < 4; i++) {
		p[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		p[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	put16(p + 10, vnet_ip_checksum(p, 20));
	memcpy(p + 20, payload, plen);
	return 20 + plen;
}

/* An ICMP echo request of n payload bytes. */
static size_t echo(uint8_t *p, uint32_t src, uint32_t dst, size_t n)
{
	uint8_t icmp[1500] = {8, 0, 0, 0, 0, 1, 0, 1};

	for (size_t i = 0; i < n; i++)
		icmp[8 + i] = (uint8_t)i;
	put16(icmp + 2, vnet_ip_checksum(icmp, 8 + n));
	return ip4(p, src, dst, VNET_IP_PROTO_ICMP, icmp, 8 + n);
}

#define A 0x64400001u /* 100.64.0.1 */
#define B 0x64400002u

static void test_checksum_known_vector(void **state)
{
	/* A captured header (Wikipedia's IPv4 checksum example): 0xb861. */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	(void)state;
	assert_int_equal(vnet_ip_checksum(h, 20), 0xb861);
	h[10] = 0xb8;
	h[11] = 0x61;
	assert_int_equal(vnet_ip_checksum(h, 20), 0); /* a right header sums to zero */
}

static void test_parse_valid_ipv4_with_padding(void **state)
{
	uint8_t p[128];
	size_t n = echo(p, A, B, 16);
	struct vnet_pkt pk;
	const char *why = NULL;

	(void)state;
	memset(p + n, 0xee, 10); /* trailing padding (an Ethernet minimum, say) */
	assert_int_equal(vnet_ip_parse(p, n + 10, &pk, &why), 0);
	assert_int_equal(pk.version, 4);
	assert_int_equal(pk.proto, VNET_IP_PROTO_ICMP);
	assert_int_equal(pk.src4, A);
	assert_int_equal(pk.dst4, B);
	assert_int_equal(pk.hdr_len, 20);
	assert_int_equal(pk.total_len, n);
	assert_false(pk.fragment);
}

static void test_parse_valid_ipv6(void **state)
{
	uint8_t p[60] = {0x60, 0, 0, 0, 0, 20, VNET_IP_PROTO_TCP, 64};
	struct vnet_pkt pk;
	const char *why;

	(void)state;
	p[8] = 0xfd;
	p[24] = 0xfd;
	p[39] = 2;
	assert_int_equal(vnet_ip_parse(p, sizeof(p), &pk, &why), 0);
	assert_int_equal(pk.version, 6);
	assert_int_equal(pk.total_len, 60);
	assert_int_equal(pk.dst6[15], 2);
	assert_int_equal(vnet_ip_parse(p, 59, &pk, &why),
	                 -EINVAL); /* payload length past the end */
	assert_string_equal(why, "bad total length");
}

static void expect_bad(const uint8_t *p, size_t len, const char *reason)
{
	struct vnet_pkt pk;
	const char *why = NULL;

	assert_int_equal(vnet_ip_parse(p, len, &pk, &why), -EINVAL);
	assert_non_null(why);
	assert_string_equal(why, reason);
}

static void test_parse_rejects_each_defect(void **state)
{
	uint8_t p[128], q[128];
	size_t n = echo(p, A, B, 8);

	(void)state;
	expect_bad(p, 0, "truncated");
	expect_bad(p, 19, "truncated");
	memcpy(q, p, n);
	q[0] = 0x55; /* version 5 */
	expect_bad(q, n, "bad version");
	memcpy(q, p, n);
	q[0] = 0x44; /* IHL 4: 16 bytes */
	expect_bad(q, n, "bad header length");
	memcpy(q, p, n);
	q[0] = 0x4f; /* IHL 15: 60 bytes, past the end */
	expect_bad(q, 40, "bad header length");
	memcpy(q, p, n);
	q[12] ^= 1; /* a flipped bit */
	expect_bad(q, n, "bad checksum");
	memcpy(q, p, n);
	put16(q + 2, (uint16_t)(n + 1)); /* longer than the buffer */
	put16(q + 10, 0);
	put16(q + 10, vnet_ip_checksum(q, 20));
	expect_bad(q, n, "bad total length");
	put16(q + 2, 19); /* shorter than the header */
	put16(q + 10, 0);
	put16(q + 10, vnet_ip_checksum(q, 20));
	expect_bad(q, n, "bad total length");
}

static void test_icmp_unreach_well_formed(void **state)
{
	uint8_t p[1500], out[VNET_ICMP4_MAX];
	size_t n = echo(p, A, B, 1372), m;
	struct vnet_pkt pk;
	const char *why;

	(void)state;
	m = vnet_icmp4_unreach(p, n, B, 1, 0, out, sizeof(out));
	assert_true(m > 28);
	assert_true(m <= VNET_ICMP4_MAX); /* RFC 1812: at most 576 bytes */
	assert_int_equal(vnet_ip_parse(out, m, &pk, &why), 0);
	assert_int_equal(pk.src4, B);
	assert_int_equal(pk.dst4, A); /* back to the sender */
	assert_int_equal(pk.proto, VNET_IP_PROTO_ICMP);
	assert_int_equal(out[20], 3);
	assert_int_equal(out[21], 1);
	assert_int_equal(vnet_ip_checksum(out + 20, m - 20), 0);
	assert_memory_equal(out + 28, p, 28); /* quotes the header and what follows */
}

static void test_icmp_frag_needed_carries_mtu(void **state)
{
	uint8_t p[200], out[VNET_ICMP4_MAX];
	size_t n = echo(p, A, B, 100), m;

	(void)state;
	m = vnet_icmp4_unreach(p, n, B, 4, 1334, out, sizeof(out));
	assert_true(m > 0);
	assert_int_equal(out[21], 4);
	assert_int_equal(out[26] << 8 | out[27], 1334);
	assert_int_equal(vnet_ip_checksum(out + 20, m - 20), 0);
}

static void test_icmp_never_about_errors_fragments_or_odd_sources(void **state)
{
	uint8_t p[200], e[200], out[VNET_ICMP4_MAX];
	size_t n = echo(p, A, B, 8), m;

	(void)state;
	/* About an ICMP error: never. */
	m = vnet_icmp4_unreach(p, n, B, 1, 0, e, sizeof(e));
	assert_true(m > 0);
	assert_int_equal(vnet_icmp4_unreach(e, m, A, 1, 0, out, sizeof(out)), 0);
	/* About a non-first fragment: never. */
	memcpy(e, p, n);
	put16(e + 6, 0x0010);
	put16(e + 10, 0);
	put16(e + 10, vnet_ip_checksum(e, 20));
	assert_int_equal(vnet_icmp4_unreach(e, n, B, 1, 0, out, sizeof(out)), 0);
	/* To sources an error must not go to. */
	const uint32_t bad[] = {0x00000001u, 0x7f000001u, 0xe0000001u, 0xffffffffu};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = echo(e, bad[i], B, 8);
		assert_int_equal(vnet_icmp4_unreach(e, n, B, 1, 0, out, sizeof(out)), 0);
	}
	/* Garbage: never. */
	assert_int_equal(vnet_icmp4_unreach(p, 10, B, 1, 0, out, sizeof(out)), 0);
}

/* ---- the allocator ---------------------------------------------------------------- */

static struct cert_addr seed(uint8_t b)
{
	struct cert_addr a;

	memset(a.b, b, sizeof(a.b));
	return a;
}

/* Every host of net exactly once, never the network or broadcast address. */
static void check_full_cycle(uint32_t net_addr, uint8_t prefix, uint8_t s)
{
	struct cert_network net = {.addr = net_addr, .prefix = prefix};
	struct cert_addr sd = seed(s);
	struct vnet_alloc_seq q;
	uint32_t size = 1u << (32 - prefix), hosts = size - 2, ip, count = 0;
	uint8_t *seen = calloc(size, 1);

	assert_non_null(seen);
	vnet_alloc_seq_init(&q, &net, &sd);
	while (vnet_alloc_seq_next(&q, &ip)) {
		assert_true(cert_network_has_host(&net, ip));
		assert_int_equal(seen[ip - net_addr], 0);
		seen[ip - net_addr] = 1;
		count++;
		assert_true(count <= hosts);
	}
	assert_int_equal(count, hosts);
	free(seen);
}

static void test_sequence_visits_every_host_once(void **state)
{
	(void)state;
	check_full_cycle(0x64400000u, 30, 1);
	check_full_cycle(0x64400000u, 28, 2);
	check_full_cycle(0x64400000u, 24, 3);
	check_full_cycle(0x64400000u, 16, 4); /* 65534 hosts */
	check_full_cycle(0x0a000000u, 20, 0x5a);
}

static void test_sequence_deterministic_and_seeded(void **state)
{
	struct cert_network net = {.addr = 0x64400000u, .prefix = 16};
	struct cert_addr s1 = seed(1), s2 = seed(2);
	struct vnet_alloc_seq a, b, c;
	uint32_t x, y, z, differ = 0;

	(void)state;
	vnet_alloc_seq_init(&a, &net, &s1);
	vnet_alloc_seq_init(&b, &net, &s1);
	vnet_alloc_seq_init(&c, &net, &s2);
	for (int i = 0; i < 100; i++) {
		assert_true(vnet_alloc_seq_next(&a, &x));
		assert_true(vnet_alloc_seq_next(&b, &y));
		assert_true(vnet_alloc_seq_next(&c, &z));
		assert_int_equal(x, y);
		differ += x != z;
	}
	assert_true(differ > 90); /* two members walk different ways */
}

static void test_sequence_bad_network_is_empty(void **state)
{
	struct cert_network net = {.addr = 0x64400000u, .prefix = 31};
	struct cert_addr s = seed(1);
	struct vnet_alloc_seq q;
	uint32_t ip;

	(void)state;
	vnet_alloc_seq_init(&q, &net, &s);
	assert_false(vnet_alloc_seq_next(&q, &ip));
}

static void test_appkey(void **state)
{
	char k[VNET_IP_APPKEY_MAX];

	(void)state;
	assert_int_equal(vnet_ip_appkey(0x64400a0bu, k), strlen("ip/100.64.10.11"));
	assert_string_equal(k, "ip/100.64.10.11");
	vnet_ip_appkey(0xffffffffu, k);
	assert_string_equal(k, "ip/255.255.255.255");
}

static void test_lease_round_trip_and_rejections(void **state)
{
	struct vnet_lease l = {.flags = VNET_LEASE_FIXED, .since = 0x0102030405060708ull}, r;
	uint8_t b[VNET_LEASE_LEN + 1];

	(void)state;
	vnet_lease_encode(&l, b);
	assert_int_equal(b[0], VNET_LEASE_VERSION);
	assert_int_equal(vnet_lease_parse(b, VNET_LEASE_LEN, &r), 0);
	assert_int_equal(r.flags, l.flags);
	assert_true(r.since == l.since);
	assert_int_equal(vnet_lease_parse(b, VNET_LEASE_LEN - 1, &r), -EINVAL);
	assert_int_equal(vnet_lease_parse(b, VNET_LEASE_LEN + 1, &r), -EINVAL);
	b[0] = 2;
	assert_int_equal(vnet_lease_parse(b, VNET_LEASE_LEN, &r), -EINVAL);
	b[0] = VNET_LEASE_VERSION;
	b[1] = 0x02; /* an unknown flag */
	assert_int_equal(vnet_lease_parse(b, VNET_LEASE_LEN, &r), -EINVAL);
}

static void test_claim_rule(void **state)
{
	struct vnet_claim lo = {.writer = seed(1), .since = 200};
	struct vnet_claim hi = {.writer = seed(2), .since = 200};
	struct vnet_claim early = {.writer = seed(9), .since = 100};
	struct vnet_claim fixed = {.writer = seed(8), .fixed = true, .since = 900};
	struct vnet_claim all[] = {hi, early, fixed, lo};

	(void)state;
	assert_true(vnet_claim_cmp(&fixed, &early) < 0); /* the certificate wins */
	assert_true(vnet_claim_cmp(&early, &fixed) > 0);
	assert_true(vnet_claim_cmp(&early, &lo) < 0); /* then the earlier lease */
	assert_true(vnet_claim_cmp(&lo, &hi) < 0);    /* then the smaller address */
	assert_int_equal(vnet_claim_cmp(&lo, &lo), 0);
	assert_int_equal(vnet_claim_winner(all, 4), 2);
	assert_int_equal(vnet_claim_winner(all, 2), 1);
	assert_int_equal(vnet_claim_winner(&hi, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_checksum_known_vector),
	        cmocka_unit_test(test_parse_valid_ipv4_with_padding),
	        cmocka_unit_test(test_parse_valid_ipv6),
	        cmocka_unit_test(test_parse_rejects_each_defect),
	        cmocka_unit_test(test_icmp_unreach_well_formed),
	        cmocka_unit_test(test_icmp_frag_needed_carries_mtu),
	        cmocka_unit_test(test_icmp_never_about_errors_fragments_or_odd_sources),
	        cmocka_unit_test(test_sequence_visits_every_host_once),
	        cmocka_unit_test(test_sequence_deterministic_and_seeded),
	        cmocka_unit_test(test_sequence_bad_network_is_empty),
	        cmocka_unit_test(test_appkey),
	        cmocka_unit_test(test_lease_round_trip_and_rejections),
	        cmocka_unit_test(test_claim_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
