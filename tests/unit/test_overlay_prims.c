// SPDX-License-Identifier: MIT
/* Unit tests: overlay primitives — wire codec, ring arithmetic, replay window, AEAD, log. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define LOG_SUBSYS "test"
#include "addr.h"
#include "aead.h"
#include "endpoint.h"
#include "log.h"
#include "replay.h"
#include "wire.h"

/* ---- wire ---------------------------------------------------------------- */

static void wire_round_trip_is_big_endian_and_exact(void **state)
{
	uint8_t buf[32], blob[3] = {7, 8, 9}, got[3];
	struct wire_writer w = wire_writer(buf, sizeof(buf));
	struct wire_reader r;

	(void)state;
	wire_put_u8(&w, 0xab);
	wire_put_u16(&w, 0x1234);
	wire_put_u32(&w, 0xdeadbeef);
	wire_put_u64(&w, 0x0102030405060708ull);
	wire_put_bytes(&w, blob, sizeof(blob));
	assert_true(wire_wok(&w));
	assert_int_equal(wire_len(&w), 1 + 2 + 4 + 8 + 3);
	assert_int_equal(buf[1], 0x12);
	assert_int_equal(buf[3], 0xde);
	assert_int_equal(buf[7], 0x01);

	r = wire_reader(buf, wire_len(&w));
	assert_int_equal(wire_get_u8(&r), 0xab);
	assert_int_equal(wire_get_u16(&r), 0x1234);
	assert_int_equal(wire_get_u32(&r), 0xdeadbeef);
	assert_true(wire_get_u64(&r) == 0x0102030405060708ull);
	wire_get_bytes(&r, got, sizeof(got));
	assert_memory_equal(got, blob, sizeof(blob));
	assert_true(wire_done(&r));
}

static void wire_reader_error_is_sticky_and_reads_zero(void **state)
{
	uint8_t buf[3] = {1, 2, 3}, out[4] = {9, 9, 9, 9};
	struct wire_reader r = wire_reader(buf, sizeof(buf));

	(void)state;
	assert_int_equal(wire_get_u16(&r), 0x0102);
	assert_int_equal(wire_get_u32(&r), 0); /* only 1 byte left */
	assert_false(wire_ok(&r));
	assert_int_equal(wire_get_u8(&r), 0); /* sticky, even though 1 byte remains */
	assert_int_equal(wire_remaining(&r), 0);
	wire_get_bytes(&r, out, sizeof(out));
	assert_int_equal(out[0], 0);
	assert_null(wire_get_ptr(&r, 0));
	assert_false(wire_done(&r));
}

static void wire_done_rejects_trailing_bytes(void **state)
{
	uint8_t buf[3] = {0};
	struct wire_reader r = wire_reader(buf, sizeof(buf));

	(void)state;
	wire_get_u16(&r);
	assert_true(wire_ok(&r));
	assert_false(wire_done(&r));
}

static void wire_writer_refuses_overflow_and_huge_lengths(void **state)
{
	uint8_t buf[5];
	struct wire_writer w = wire_writer(buf, sizeof(buf));

	(void)state;
	wire_put_u32(&w, 1);
	wire_put_u16(&w, 2); /* does not fit */
	assert_false(wire_wok(&w));
	assert_int_equal(wire_len(&w), 4);
	wire_put_u8(&w, 3); /* would fit, but the error is sticky */
	assert_int_equal(wire_len(&w), 4);

	w = wire_writer(buf, sizeof(buf));
	assert_null(wire_put_space(&w, SIZE_MAX)); /* no wrap-around */
	assert_false(wire_wok(&w));
	struct wire_reader r = wire_reader(buf, sizeof(buf));
	assert_null(wire_get_ptr(&r, SIZE_MAX));
}

/* ---- ring arithmetic ----------------------------------------------------- */

/* An address whose low 8 bytes are v and whose high bytes are hi. */
static struct cert_addr mk(uint8_t hi, uint64_t v)
{
	struct cert_addr a;

	memset(a.b, hi, sizeof(a.b));
	for (int i = 0; i < 8; i++)
		a.b[CERT_ADDR_LEN - 1 - i] = (uint8_t)(v >> (8 * i));
	return a;
}

static uint64_t low64(const struct cert_addr *a)
{
	uint64_t v = 0;

	for (int i = 12; i < CERT_ADDR_LEN; i++)
		v = v << 8 | a->b[i];
	return v;
}

static bool high_all(const struct cert_addr *a, uint8_t hi)
{
	for (int i = 0; i < 12; i++)
		if (a->b[i] != hi)
			return false;
	return true;
}

static void addr_cw_matches_integer_subtraction_with_wraparound(void **state)
{
	struct cert_addr a = mk(0, 1000), b = mk(0, 250), d;

	(void)state;
	ovl_addr_cw(&b, &a, &d); /* 1000 - 250 */
	assert_true(high_all(&d, 0));
	assert_true(low64(&d) == 750);
	ovl_addr_cw(&a, &b, &d); /* 250 - 1000 mod 2^160 = 2^160 - 750 */
	assert_true(high_all(&d, 0xff));
	assert_true(low64(&d) == (uint64_t)0 - 750);
	for (int i = 0; i < 1000; i++) {
		uint64_t x, y;
		struct cert_addr ax, ay;

		RAND_bytes((unsigned char *)&x, sizeof(x));
		RAND_bytes((unsigned char *)&y, sizeof(y));
		x >>= 1;
		y >>= 1;
		ax = mk(0, x);
		ay = mk(0, y);
		ovl_addr_cw(&ax, &ay, &d);
		if (y >= x) {
			assert_true(high_all(&d, 0));
			assert_true(low64(&d) == y - x);
		} else {
			assert_true(high_all(&d, 0xff));
			assert_true(low64(&d) == y - x); /* two's complement */
		}
	}
}

static void addr_dist_is_symmetric_and_takes_short_way(void **state)
{
	struct cert_addr a = mk(0, 10), b = mk(0xff, (uint64_t)0 - 10), d1, d2;

	(void)state;
	/* b is 10 counter-clockwise of zero, a 10 clockwise: distance 20 */
	ovl_addr_dist(&a, &b, &d1);
	ovl_addr_dist(&b, &a, &d2);
	assert_memory_equal(d1.b, d2.b, CERT_ADDR_LEN);
	assert_true(high_all(&d1, 0));
	assert_true(low64(&d1) == 20);
	/* Against the definition, min(cw(a, b), cw(b, a)), on spread pairs,
	 * and at exactly half the ring. */
	for (int i = 0; i < 256; i++) {
		struct cert_addr x, y, c1, c2;

		for (int j = 0; j < CERT_ADDR_LEN; j++) {
			x.b[j] = (uint8_t)(i * 13 + j * 5);
			y.b[j] = (uint8_t)(i * 29 + j * 17 + 1);
		}
		if (i == 255) {
			y = x;
			y.b[0] ^= 0x80;
		}
		ovl_addr_cw(&x, &y, &c1);
		ovl_addr_cw(&y, &x, &c2);
		ovl_addr_dist(&x, &y, &d1);
		assert_memory_equal(d1.b, (ovl_addr_cmp(&c1, &c2) <= 0 ? &c1 : &c2)->b,
		                    CERT_ADDR_LEN);
	}
}

static void addr_closer_orders_by_ring_distance_and_breaks_ties(void **state)
{
	struct cert_addr t = mk(0, 100), x = mk(0, 90), y = mk(0, 115), z = mk(0, 110);

	(void)state;
	assert_true(ovl_addr_closer(&t, &x, &y) < 0); /* 10 < 15 */
	assert_true(ovl_addr_closer(&t, &y, &x) > 0);
	assert_int_equal(ovl_addr_closer(&t, &x, &x), 0);
	/* x at -10, z at +10: the clockwise one wins, from either argument order */
	assert_true(ovl_addr_closer(&t, &z, &x) < 0);
	assert_true(ovl_addr_closer(&t, &x, &z) > 0);
}

static void addr_log2_and_add_pow2_agree(void **state)
{
	struct cert_addr zero = mk(0, 0), a, d;

	(void)state;
	assert_int_equal(ovl_addr_log2(&zero), -1);
	for (int k = 0; k < OVL_ADDR_BITS; k++) {
		ovl_addr_add_pow2(&zero, k, &a);
		assert_int_equal(ovl_addr_log2(&a), k);
		ovl_addr_cw(&zero, &a, &d);
		assert_memory_equal(d.b, a.b, CERT_ADDR_LEN);
	}
	/* carry across bytes and wrap at 2^160 */
	a = mk(0xff, UINT64_MAX);
	ovl_addr_add_pow2(&a, 0, &d);
	assert_memory_equal(d.b, zero.b, CERT_ADDR_LEN);
}

/* add is the inverse of cw: from + cw(from, to) == to, with carries and wrap. */
static void addr_add_inverts_cw(void **state)
{
	struct cert_addr a = mk(0xff, UINT64_MAX - 5), b = mk(0, 5), d, sum;
	struct cert_addr top = mk(0xff, UINT64_MAX), one = mk(0, 1), zero = mk(0, 0);

	(void)state;
	ovl_addr_cw(&a, &b, &d);
	ovl_addr_add(&a, &d, &sum);
	assert_memory_equal(sum.b, b.b, CERT_ADDR_LEN);
	ovl_addr_cw(&b, &a, &d);
	ovl_addr_add(&b, &d, &sum);
	assert_memory_equal(sum.b, a.b, CERT_ADDR_LEN);
	ovl_addr_add(&top, &one, &sum); /* 2^160 - 1 + 1 wraps to 0 */
	assert_memory_equal(sum.b, zero.b, CERT_ADDR_LEN);
	for (int i = 0; i < 64; i++) {
		struct cert_addr x, y;

		for (int j = 0; j < CERT_ADDR_LEN; j++) {
			x.b[j] = (uint8_t)(i * 37 + j * 11);
			y.b[j] = (uint8_t)(i * 91 + j * 7 + 3);
		}
		ovl_addr_cw(&x, &y, &d);
		ovl_addr_add(&x, &d, &sum);
		assert_memory_equal(sum.b, y.b, CERT_ADDR_LEN);
	}
}

static void addr_in_cw_arc_handles_wrap(void **state)
{
	struct cert_addr a = mk(0xff, UINT64_MAX - 5), b = mk(0, 5), in = mk(0, 1),
	                 out = mk(0, 100);

	(void)state;
	assert_true(ovl_addr_in_cw_arc(&a, &in, &b));
	assert_false(ovl_addr_in_cw_arc(&a, &out, &b));
	assert_false(ovl_addr_in_cw_arc(&a, &a, &b)); /* endpoints excluded */
	assert_false(ovl_addr_in_cw_arc(&a, &b, &b));
	assert_true(ovl_addr_in_cw_arc(&b, &out, &a));
}

/* ---- replay window ------------------------------------------------------- */

static void replay_accepts_each_counter_once(void **state)
{
	struct ovl_replay r;

	(void)state;
	ovl_replay_init(&r);
	assert_true(ovl_replay_update(&r, 0));
	assert_false(ovl_replay_update(&r, 0));
	assert_true(ovl_replay_update(&r, 5));
	assert_true(ovl_replay_update(&r, 3)); /* late but new */
	assert_false(ovl_replay_check(&r, 3));
	assert_false(ovl_replay_check(&r, 5));
	assert_true(ovl_replay_check(&r, 4));
	assert_false(ovl_replay_update(&r, UINT64_MAX));
}

static void replay_window_is_at_least_1024_and_refuses_older(void **state)
{
	struct ovl_replay r;
	uint64_t top = 100000;

	(void)state;
	assert_true(OVL_REPLAY_WINDOW >= 1024);
	ovl_replay_init(&r);
	assert_true(ovl_replay_update(&r, top));
	assert_true(ovl_replay_check(&r, top - (OVL_REPLAY_WINDOW - 1)));
	assert_false(ovl_replay_check(&r, top - OVL_REPLAY_WINDOW));
	/* every counter inside the window, in reverse order, exactly once */
	for (uint64_t c = top - 1; c > top - OVL_REPLAY_WINDOW; c--)
		assert_true(ovl_replay_update(&r, c));
	for (uint64_t c = top - 1; c > top - OVL_REPLAY_WINDOW; c--)
		assert_false(ovl_replay_check(&r, c));
}

static void replay_big_jump_clears_stale_bits(void **state)
{
	struct ovl_replay r;

	(void)state;
	ovl_replay_init(&r);
	for (uint64_t c = 0; c < 3000; c++)
		assert_true(ovl_replay_update(&r, c));
	/* jump far ahead: counters that share ring slots with old ones are new */
	assert_true(ovl_replay_update(&r, 1000000));
	assert_true(ovl_replay_check(&r, 1000000 - 64));
	assert_true(ovl_replay_check(&r, 1000000 - 1));
	/* small jumps, one block at a time */
	assert_true(ovl_replay_update(&r, 1000000 + 64));
	assert_true(ovl_replay_check(&r, 1000000 + 1));
	assert_false(ovl_replay_check(&r, 1000000));
}

/* A model check: random traffic against a plain set of seen counters. */
static void replay_matches_reference_model(void **state)
{
	static uint8_t seen[1 << 16];
	struct ovl_replay r;
	uint64_t top = 0;
	bool any = false;

	(void)state;
	memset(seen, 0, sizeof(seen));
	ovl_replay_init(&r);
	for (int i = 0; i < 200000; i++) {
		uint16_t rnd;
		uint64_t c;
		bool expect;

		RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
		c = any && top > 3000 && (rnd & 1) ? top - (rnd % 3000) : (uint64_t)(rnd % 60000);
		if (c >= sizeof(seen))
			continue;
		expect = !seen[c] && (!any || c > top || top - c < OVL_REPLAY_WINDOW);
		assert_int_equal(ovl_replay_update(&r, c), expect);
		if (expect) {
			seen[c] = 1;
			if (!any || c > top)
				top = c;
			any = true;
		}
	}
}

/* ---- AEAD ---------------------------------------------------------------- */

static void aead_round_trip_both_algorithms_in_place(void **state)
{
	uint8_t key[OVL_AEAD_KEY_LEN], aad[16], pt[1400], buf[1400 + OVL_AEAD_TAG_LEN];

	(void)state;
	RAND_bytes(key, sizeof(key));
	RAND_bytes(aad, sizeof(aad));
	RAND_bytes(pt, sizeof(pt));
	for (int alg = 0; alg < OVL_AEAD_MAX; alg++) {
		struct ovl_aead *tx, *rx;

		assert_int_equal(ovl_aead_new((enum ovl_aead_alg)alg, key, &tx), 0);
		assert_int_equal(ovl_aead_new((enum ovl_aead_alg)alg, key, &rx), 0);
		for (uint64_t ctr = 0; ctr < 50; ctr++) {
			size_t len = (size_t)(ctr * 28);

			memcpy(buf, pt, len);
			assert_int_equal(ovl_aead_seal(tx, ctr, aad, sizeof(aad), buf, len, buf),
			                 0);
			if (len)
				assert_memory_not_equal(buf, pt, len);
			assert_int_equal(ovl_aead_open(rx, ctr, aad, sizeof(aad), buf,
			                               len + OVL_AEAD_TAG_LEN, buf),
			                 0);
			assert_memory_equal(buf, pt, len);
		}
		ovl_aead_free(tx);
		ovl_aead_free(rx);
	}
}

static void aead_rejects_any_tampering(void **state)
{
	uint8_t key[OVL_AEAD_KEY_LEN], key2[OVL_AEAD_KEY_LEN],
	        aad[16] = {1}, pt[64] = {2}, ct[64 + OVL_AEAD_TAG_LEN], tmp[sizeof(ct)], out[64];

	(void)state;
	RAND_bytes(key, sizeof(key));
	RAND_bytes(key2, sizeof(key2));
	for (int alg = 0; alg < OVL_AEAD_MAX; alg++) {
		struct ovl_aead *a, *b;

		assert_int_equal(ovl_aead_new((enum ovl_aead_alg)alg, key, &a), 0);
		assert_int_equal(ovl_aead_new((enum ovl_aead_alg)alg, key2, &b), 0);
		assert_int_equal(ovl_aead_seal(a, 7, aad, sizeof(aad), pt, sizeof(pt), ct), 0);
		/* wrong counter, wrong key, wrong AAD, each flipped bit, short input */
		assert_int_equal(ovl_aead_open(a, 8, aad, sizeof(aad), ct, sizeof(ct), out),
		                 -EBADMSG);
		assert_int_equal(ovl_aead_open(b, 7, aad, sizeof(aad), ct, sizeof(ct), out),
		                 -EBADMSG);
		aad[3] ^= 1;
		assert_int_equal(ovl_aead_open(a, 7, aad, sizeof(aad), ct, sizeof(ct), out),
		                 -EBADMSG);
		aad[3] ^= 1;
		for (size_t bit = 0; bit < sizeof(ct) * 8; bit += 13) {
			memcpy(tmp, ct, sizeof(ct));
			tmp[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(
			        ovl_aead_open(a, 7, aad, sizeof(aad), tmp, sizeof(tmp), out),
			        -EBADMSG);
		}
		assert_int_equal(
		        ovl_aead_open(a, 7, aad, sizeof(aad), ct, OVL_AEAD_TAG_LEN - 1, out),
		        -EBADMSG);
		assert_int_equal(ovl_aead_open(a, 7, aad, sizeof(aad), ct, sizeof(ct), out), 0);
		ovl_aead_free(a);
		ovl_aead_free(b);
	}
	assert_int_equal(ovl_aead_new(OVL_AEAD_MAX, key, &(struct ovl_aead *){NULL}), -EINVAL);
}

/* Our nonce layout: 4 zero bytes then the counter big-endian, pinned with EVP directly. */
static void aead_nonce_is_zero32_then_counter_be64(void **state)
{
	uint8_t key[32], pt[20] = "nonce layout check!", ours[20 + 16], ref[20 + 16];
	uint8_t nonce[12] = {0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
	const EVP_CIPHER *ciphers[OVL_AEAD_MAX] = {EVP_aes_256_gcm(), EVP_chacha20_poly1305()};

	(void)state;
	RAND_bytes(key, sizeof(key));
	for (int alg = 0; alg < OVL_AEAD_MAX; alg++) {
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
		struct ovl_aead *a;
		int n;

		assert_int_equal(ovl_aead_new((enum ovl_aead_alg)alg, key, &a), 0);
		assert_int_equal(
		        ovl_aead_seal(a, 0x0102030405060708ull, NULL, 0, pt, sizeof(pt), ours), 0);
		assert_true(EVP_EncryptInit_ex(ctx, ciphers[alg], NULL, key, nonce));
		assert_true(EVP_EncryptUpdate(ctx, ref, &n, pt, sizeof(pt)));
		assert_true(EVP_EncryptFinal_ex(ctx, ref + n, &n));
		assert_true(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, ref + sizeof(pt)));
		assert_memory_equal(ours, ref, sizeof(ours));
		EVP_CIPHER_CTX_free(ctx);
		ovl_aead_free(a);
	}
}

/* ---- log ----------------------------------------------------------------- */

struct captured {
	int lines;
	char last[LOG_LINE_MAX];
	uint64_t now;
};

static void capture_sink(void *ctx, enum log_level level, const char *subsys, const char *func,
                         const char *msg)
{
	struct captured *c = ctx;

	(void)level;
	c->lines++;
	snprintf(c->last, sizeof(c->last), "%s: %s: %s", subsys, func, msg);
}

static uint64_t fake_clock(void *ctx)
{
	return ((struct captured *)ctx)->now;
}

static int evaluated;
static int side_effect(void)
{
	return ++evaluated;
}

static void log_skips_arguments_below_threshold(void **state)
{
	struct captured c = {0};

	(void)state;
	log_set_sink(capture_sink, &c);
	log_set_level(LOG_LVL_INFO);
	evaluated = 0;
	LOG(LOG_LVL_DEBUG, "x=%d", side_effect());
	assert_int_equal(evaluated, 0);
	assert_int_equal(c.lines, 0);
	LOG(LOG_LVL_INFO, "x=%d", side_effect());
	assert_int_equal(evaluated, 1);
	assert_int_equal(c.lines, 1);
	assert_string_equal(c.last, "test: log_skips_arguments_below_threshold: x=1");
	LOG(LOG_LVL_WARN, "bad\nname\x1b");
	assert_null(strchr(c.last, '\n'));
	assert_null(strchr(c.last, '\x1b'));
	log_set_sink(NULL, NULL);
}

/* One call site, so one rate limiter, however often it is called. */
static void noisy_peer(int i)
{
	LOG_RL(LOG_LVL_WARN, "peer %d sent garbage", i);
}

static void log_rate_limit_caps_burst_and_reports_suppressed(void **state)
{
	struct captured c = {.now = 1000};

	(void)state;
	log_set_sink(capture_sink, &c);
	log_set_clock(fake_clock, &c);
	log_set_level(LOG_LVL_INFO);
	for (int i = 0; i < 100; i++)
		noisy_peer(i);
	assert_int_equal(c.lines, LOG_RL_BURST);
	c.now += LOG_RL_WINDOW_MS;
	for (int i = 0; i < 100; i++)
		noisy_peer(i);
	assert_non_null(strstr(c.last, "garbage"));
	/* a new window: one "suppressed" line, then a new burst */
	assert_int_equal(c.lines, 2 * LOG_RL_BURST + 1);
	c.now += LOG_RL_WINDOW_MS;
	c.lines = 0;
	noisy_peer(0);
	assert_int_equal(c.lines, 2); /* "(90 similar messages suppressed)" + the line */
	log_set_sink(NULL, NULL);
	log_set_clock(NULL, NULL);
}

static void log_level_names_parse_back(void **state)
{
	enum log_level l;

	(void)state;
	for (int i = 0; i < LOG_LVL_MAX; i++) {
		assert_int_equal(log_level_parse(log_level_name((enum log_level)i), &l), 0);
		assert_int_equal(l, i);
	}
	assert_int_equal(log_level_parse("loud", &l), -EINVAL);
	assert_int_equal(log_level_parse(NULL, &l), -EINVAL);
}

static struct ovl_endpoint ep_of(const char *s)
{
	struct ovl_endpoint ep;

	assert_int_equal(ovl_ep_parse(s, false, &ep), 0);
	return ep;
}

/* A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d and must send to them
 * that way; the engine must only ever see them as family 4. */
static void endpoint_v4_mapped_maps_both_ways(void **state)
{
	const struct ovl_endpoint v4 = ep_of("10.1.2.3:7000"), v6 = ep_of("[2001:db8::1]:7000");
	struct ovl_endpoint e = ep_of("[::ffff:10.1.2.3]:7000"), back;
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *sin6 = (const void *)&ss;
	const struct sockaddr_in *sin = (const void *)&ss;
	unsigned len = 0;
	char s[OVL_EP_STR_MAX];

	(void)state;
	/* unmap: only ::ffff:0:0/96 becomes family 4, with the rest zeroed */
	assert_int_equal(e.family, 6);
	ovl_ep_unmap(&e);
	assert_true(ovl_ep_eq(&e, &v4));
	assert_memory_equal(&e, &v4, sizeof(e));
	ovl_ep_format(&e, s);
	assert_string_equal(s, "10.1.2.3:7000");
	for (size_t i = 0; i < 3; i++) {
		static const char *const same[] = {"[::1]:7000", "[::ffff:0:10.1.2.3]:7000",
		                                   "[2001:db8::1]:7000"};
		struct ovl_endpoint a = ep_of(same[i]), b = a;

		ovl_ep_unmap(&b);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	e = v4;
	ovl_ep_unmap(&e);
	assert_memory_equal(&e, &v4, sizeof(e));

	/* family 4 on a dual-stack socket: ::ffff:a.b.c.d, and back to family 4 */
	assert_int_equal(ovl_ep_to_sockaddr_for(&v4, AF_INET6, false, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr));
	assert_memory_equal((const uint8_t *)&sin6->sin6_addr + 12, v4.addr, 4);
	assert_int_equal(ntohs(sin6->sin6_port), 7000);
	assert_int_equal(ovl_ep_from_sockaddr((const struct sockaddr *)&ss, &back), 0);
	assert_memory_equal(&back, &v4, sizeof(back));

	/* family 4 on an IPv4 socket, including one given as v4-mapped */
	e = ep_of("[::ffff:10.1.2.3]:7000");
	assert_int_equal(ovl_ep_to_sockaddr_for(&e, AF_INET, false, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_memory_equal(&sin->sin_addr, v4.addr, 4);
	assert_int_equal(ovl_ep_from_sockaddr((const struct sockaddr *)&ss, &back), 0);
	assert_memory_equal(&back, &v4, sizeof(back));

	/* family 6 on either IPv6 socket: as it is */
	for (int v6only = 0; v6only < 2; v6only++) {
		assert_int_equal(ovl_ep_to_sockaddr_for(&v6, AF_INET6, v6only, &ss, &len), 0);
		assert_int_equal(len, sizeof(struct sockaddr_in6));
		assert_memory_equal(&sin6->sin6_addr, v6.addr, 16);
		assert_int_equal(ovl_ep_from_sockaddr((const struct sockaddr *)&ss, &back), 0);
		assert_memory_equal(&back, &v6, sizeof(back));
	}

	/* what a socket cannot reach is refused */
	assert_int_equal(ovl_ep_to_sockaddr_for(&v6, AF_INET, false, &ss, &len), -EAFNOSUPPORT);
	assert_int_equal(ovl_ep_to_sockaddr_for(&v4, AF_INET6, true, &ss, &len), -EAFNOSUPPORT);
	assert_int_equal(ovl_ep_to_sockaddr_for(&e, AF_INET6, true, &ss, &len), -EAFNOSUPPORT);
	memset(&e, 0, sizeof(e));
	assert_int_equal(ovl_ep_to_sockaddr_for(&e, AF_INET6, false, &ss, &len), -EAFNOSUPPORT);
	assert_int_equal(ovl_ep_to_sockaddr_for(&e, AF_INET, false, &ss, &len), -EAFNOSUPPORT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(wire_round_trip_is_big_endian_and_exact),
	        cmocka_unit_test(wire_reader_error_is_sticky_and_reads_zero),
	        cmocka_unit_test(wire_done_rejects_trailing_bytes),
	        cmocka_unit_test(wire_writer_refuses_overflow_and_huge_lengths),
	        cmocka_unit_test(addr_cw_matches_integer_subtraction_with_wraparound),
	        cmocka_unit_test(addr_dist_is_symmetric_and_takes_short_way),
	        cmocka_unit_test(addr_closer_orders_by_ring_distance_and_breaks_ties),
	        cmocka_unit_test(addr_log2_and_add_pow2_agree),
	        cmocka_unit_test(addr_add_inverts_cw),
	        cmocka_unit_test(addr_in_cw_arc_handles_wrap),
	        cmocka_unit_test(replay_accepts_each_counter_once),
	        cmocka_unit_test(replay_window_is_at_least_1024_and_refuses_older),
	        cmocka_unit_test(replay_big_jump_clears_stale_bits),
	        cmocka_unit_test(replay_matches_reference_model),
	        cmocka_unit_test(aead_round_trip_both_algorithms_in_place),
	        cmocka_unit_test(aead_rejects_any_tampering),
	        cmocka_unit_test(aead_nonce_is_zero32_then_counter_be64),
	        cmocka_unit_test(log_skips_arguments_below_threshold),
	        cmocka_unit_test(log_rate_limit_caps_burst_and_reports_suppressed),
	        cmocka_unit_test(log_level_names_parse_back),
	        cmocka_unit_test(endpoint_v4_mapped_maps_both_ways),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
