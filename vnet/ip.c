// SPDX-License-Identifier: MIT
/* ip — see ip.h. */
#include "ip.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint16_t vnet_ip_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int vnet_ip_parse(const uint8_t *p, size_t len, struct vnet_pkt *out, const char **why)
{
	const char *w = NULL;

	memset(out, 0, sizeof(*out));
	if (len < 1) {
		w = "truncated";
		goto bad;
	}
	out->version = p[0] >> 4;
	if (out->version == 4) {
		size_t ihl = (size_t)(p[0] & 15) * 4, total;
		uint16_t frag;

		if (len < VNET_IP4_HDR_MIN) {
			w = "truncated";
			goto bad;
		}
		if (ihl < VNET_IP4_HDR_MIN || ihl > len) {
			w = "bad header length";
			goto bad;
		}
		if (vnet_ip_checksum(p, ihl) != 0) {
			w = "bad checksum";
			goto bad;
		}
		total = rd16(p + 2);
		if (total < ihl || total > len) {
			w = "bad total length";
			goto bad;
		}
		frag = rd16(p + 6);
		out->hdr_len = (uint16_t)ihl;
		out->total_len = (uint16_t)total;
		out->proto = p[9];
		out->src4 = rd32(p + 12);
		out->dst4 = rd32(p + 16);
		out->fragment = (frag & 0x2000) || (frag & 0x1fff);
		out->first_fragment = (frag & 0x1fff) == 0;
		return 0;
	}
	if (out->version == 6) {
		size_t total;

		if (len < VNET_IP6_HDR) {
			w = "truncated";
			goto bad;
		}
		total = VNET_IP6_HDR + (size_t)rd16(p + 4);
		if (total > len || total > UINT16_MAX) {
			w = "bad total length";
			goto bad;
		}
		out->hdr_len = VNET_IP6_HDR;
		out->total_len = (uint16_t)total;
		out->proto = p[6];
		memcpy(out->src6, p + 8, 16);
		memcpy(out->dst6, p + 24, 16);
		out->first_fragment = true;
		return 0;
	}
	w = "bad version";
bad:
	if (why)
		*why = w;
	return -EINVAL;
}

bool vnet_ip4_no_icmp_to(uint32_t ip)
{
	uint8_t a = (uint8_t)(ip >> 24);

	return a == 0 || a == 127 || (a & 0xf0) == 0xe0 || ip == 0xffffffffu;
}

size_t vnet_icmp4_unreach(const uint8_t *p, size_t len, uint32_t from, uint8_t code, uint16_t mtu,
                          uint8_t *out, size_t cap)
{
	struct vnet_pkt pk;
	size_t quote, n;
	const char *why;

	if (vnet_ip_parse(p, len, &pk, &why) < 0 || pk.version != 4)
		return 0;
	if (pk.fragment && !pk.first_fragment)
		return 0;
	if (vnet_ip4_no_icmp_to(pk.src4))
		return 0;
	if (pk.proto == VNET_IP_PROTO_ICMP) {
		uint8_t type;

		if (pk.total_len < pk.hdr_len + 1u)
			return 0; /* too short to tell: never risk answering an error */
		type = p[pk.hdr_len];
		if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
			return 0;
	}
	quote = pk.total_len;
	if (quote > VNET_ICMP4_MAX - 28)
		quote = VNET_ICMP4_MAX - 28;
	n = 28 + quote;
	if (cap < n)
		return 0;
	memset(out, 0, 28);
	out[0] = 0x45;
	wr16(out + 2, (uint16_t)n);
	out[8] = 64;
	out[9] = VNET_IP_PROTO_ICMP;
	wr32(out + 12, from);
	wr32(out + 16, pk.src4);
	wr16(out + 10, vnet_ip_checksum(out, 20));
	out[20] = 3;
	out[21] = code;
	if (code == 4)
		wr16(out + 26, mtu);
	memcpy(out + 28, p, quote);
	wr16(out + 22, vnet_ip_checksum(out + 20, n - 20));
	return n;
}
