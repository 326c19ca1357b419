// SPDX-License-Identifier: MIT
/* alloc — see alloc.h. */
#include "alloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

size_t vnet_ip_appkey(uint32_t ip, char out[VNET_IP_APPKEY_MAX])
{
	int n = snprintf(out, VNET_IP_APPKEY_MAX, "ip/%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
	                 (ip >> 8) & 255, ip & 255);

	return n > 0 ? (size_t)n : 0;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

void vnet_alloc_seq_init(struct vnet_alloc_seq *s, const struct cert_network *net,
                         const struct cert_addr *seed)
{
	uint8_t h[32];
	unsigned int hl = 0;
	uint64_t size;
	uint32_t a, b;

	memset(s, 0, sizeof(*s));
	if (net->prefix < 1 || net->prefix > 30)
		return;
	size = (uint64_t)1 << (32 - net->prefix);
	s->base = net->addr + 1;
	s->hosts = (uint32_t)(size - 2);
	if (EVP_Digest(seed->b, CERT_ADDR_LEN, h, &hl, EVP_sha256(), NULL) != 1)
		memset(h, 0, sizeof(h));
	a = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	b = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	s->start = a % s->hosts;
	s->step = 1 + b % s->hosts;
	if (s->step >= s->hosts)
		s->step = 1;
	while (gcd32(s->step, s->hosts) != 1)
		s->step++;
}

bool vnet_alloc_seq_next(struct vnet_alloc_seq *s, uint32_t *ip)
{
	uint64_t off;

	if (s->hosts == 0 || s->i >= s->hosts)
		return false;
	off = ((uint64_t)s->start + (uint64_t)s->i * s->step) % s->hosts;
	s->i++;
	*ip = s->base + (uint32_t)off;
	return true;
}

void vnet_lease_encode(const struct vnet_lease *l, uint8_t out[VNET_LEASE_LEN])
{
	out[0] = VNET_LEASE_VERSION;
	out[1] = l->flags;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(l->since >> (56 - 8 * i));
}

int vnet_lease_parse(const uint8_t *p, size_t len, struct vnet_lease *out)
{
	if (!p || len != VNET_LEASE_LEN || p[0] != VNET_LEASE_VERSION || (p[1] & ~VNET_LEASE_FIXED))
		return -EINVAL;
	out->flags = p[1];
	out->since = 0;
	for (int i = 0; i < 8; i++)
		out->since = out->since << 8 | p[2 + i];
	return 0;
}

int vnet_claim_cmp(const struct vnet_claim *a, const struct vnet_claim *b)
{
	if (a->fixed != b->fixed)
		return a->fixed ? -1 : 1;
	if (a->since != b->since)
		return a->since < b->since ? -1 : 1;
	return memcmp(a->writer.b, b->writer.b, CERT_ADDR_LEN);
}

size_t vnet_claim_winner(const struct vnet_claim *c, size_t n)
{
	size_t w = 0;

	for (size_t i = 1; i < n; i++)
		if (vnet_claim_cmp(&c[i], &c[w]) < 0)
			w = i;
	return w;
}
