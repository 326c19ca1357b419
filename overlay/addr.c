// SPDX-License-Identifier: MIT
/* addr — ring arithmetic on 160-bit big-endian addresses. */
#include "addr.h"

#include <string.h>

int ovl_addr_cmp(const struct cert_addr *a, const struct cert_addr *b)
{
	return memcmp(a->b, b->b, CERT_ADDR_LEN);
}

bool ovl_addr_eq(const struct cert_addr *a, const struct cert_addr *b)
{
	return memcmp(a->b, b->b, CERT_ADDR_LEN) == 0;
}

void ovl_addr_cw(const struct cert_addr *from, const struct cert_addr *to, struct cert_addr *out)
{
	int borrow = 0;

	for (int i = CERT_ADDR_LEN - 1; i >= 0; i--) {
		int d = (int)to->b[i] - (int)from->b[i] - borrow;

		borrow = d < 0;
		out->b[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

void ovl_addr_dist(const struct cert_addr *a, const struct cert_addr *b, struct cert_addr *out)
{
	int borrow = 0;
	bool half = true; /* exactly 2^159: both ways are as far */

	ovl_addr_cw(a, b, out);
	if (!(out->b[0] & 0x80))
		return; /* under half the ring clockwise */
	for (int i = 0; i < CERT_ADDR_LEN && half; i++)
		half = out->b[i] == (i ? 0 : 0x80);
	if (half)
		return;
	/* The other way round is shorter: 2^160 - out. */
	for (int i = CERT_ADDR_LEN - 1; i >= 0; i--) {
		int d = -(int)out->b[i] - borrow;

		borrow = d < 0;
		out->b[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

int ovl_addr_closer(const struct cert_addr *target, const struct cert_addr *x,
                    const struct cert_addr *y)
{
	struct cert_addr dx, dy, cx, cy;
	int c;

	if (ovl_addr_eq(x, y))
		return 0;
	ovl_addr_dist(target, x, &dx);
	ovl_addr_dist(target, y, &dy);
	c = ovl_addr_cmp(&dx, &dy);
	if (c != 0)
		return c;
	/* Same distance, opposite sides: prefer the one clockwise of target. */
	ovl_addr_cw(target, x, &cx);
	ovl_addr_cw(target, y, &cy);
	return ovl_addr_cmp(&cx, &cy) < 0 ? -1 : 1;
}

int ovl_addr_log2(const struct cert_addr *d)
{
	for (int i = 0; i < CERT_ADDR_LEN; i++) {
		if (d->b[i]) {
			int bit = 7;

			while (!(d->b[i] & (1u << bit)))
				bit--;
			return (CERT_ADDR_LEN - 1 - i) * 8 + bit;
		}
	}
	return -1;
}

void ovl_addr_add(const struct cert_addr *a, const struct cert_addr *b, struct cert_addr *out)
{
	unsigned carry = 0;

	for (int i = CERT_ADDR_LEN - 1; i >= 0; i--) {
		unsigned s = (unsigned)a->b[i] + b->b[i] + carry;

		out->b[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

void ovl_addr_add_pow2(const struct cert_addr *a, int k, struct cert_addr *out)
{
	int carry;
	int i;

	*out = *a;
	if (k < 0 || k >= OVL_ADDR_BITS)
		return;
	i = CERT_ADDR_LEN - 1 - k / 8;
	carry = 1 << (k % 8);
	for (; i >= 0 && carry; i--) {
		int s = out->b[i] + carry;

		out->b[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

bool ovl_addr_in_cw_arc(const struct cert_addr *a, const struct cert_addr *x,
                        const struct cert_addr *b)
{
	struct cert_addr ax, ab;
	static const struct cert_addr zero;

	ovl_addr_cw(a, x, &ax);
	ovl_addr_cw(a, b, &ab);
	if (ovl_addr_eq(&ax, &zero))
		return false;
	if (ovl_addr_eq(&ab, &zero)) /* a == b: the arc is the whole ring but a */
		return true;
	return ovl_addr_cmp(&ax, &ab) < 0;
}

void ovl_addr_short(const struct cert_addr *a, char *out, size_t n)
{
	char hex[CERT_ADDR_HEX_LEN + 1];

	if (n == 0)
		return;
	cert_addr_hex(a, hex);
	if (n > sizeof(hex))
		n = sizeof(hex);
	memcpy(out, hex, n - 1);
	out[n - 1] = '\0';
}
