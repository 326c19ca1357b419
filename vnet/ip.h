// SPDX-License-Identifier: MIT
/*
 * ip — the IP packets vnet carries, as bytes: header checks for packets
 * read from the TUN device or received from a member, and the ICMP errors
 * vnet answers with (host unreachable, fragmentation needed).
 *
 * Must not: allocate, log, or trust a length field it has not checked
 * against the buffer. Never casts packet bytes to a struct.
 */
#ifndef GVPN_VNET_IP_H
#define GVPN_VNET_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_IP4_HDR_MIN     20
#define VNET_IP6_HDR         40
#define VNET_ICMP4_MAX       576 /* RFC 1812 4.3.2.3: an ICMP error fits 576 bytes */
#define VNET_IP_PROTO_ICMP   1
#define VNET_IP_PROTO_TCP    6
#define VNET_IP_PROTO_UDP    17
#define VNET_IP_PROTO_ICMPV6 58

/* What the header of one packet says. Addresses in host byte order (IPv4). */
struct vnet_pkt {
	uint8_t version; /* 4 or 6 */
	uint8_t proto;   /* IPv4 protocol; IPv6 next header of the fixed header */
	uint32_t src4, dst4;
	uint8_t src6[16], dst6[16];
	uint16_t hdr_len;    /* IPv4 IHL * 4; 40 for IPv6 */
	uint16_t total_len;  /* from the header; == the buffer's length after parse */
	bool fragment;       /* IPv4: MF set or a fragment offset */
	bool first_fragment; /* IPv4: offset 0 (a whole packet counts as first) */
};

/*
 * Checks one packet and fills out: version 4 or 6, IPv4 IHL >= 5 and the
 * header inside the buffer, header checksum right, total length within the
 * buffer (trailing bytes past it are padding: *out->total_len says where the
 * packet ends); IPv6 payload length likewise. 0, or -EINVAL with *why set to
 * a short constant reason ("truncated", "bad version", "bad header length",
 * "bad checksum", "bad total length").
 */
int vnet_ip_parse(const uint8_t *p, size_t len, struct vnet_pkt *out, const char **why);

/* The Internet checksum (RFC 1071) of len bytes, folded, not inverted away:
 * returns the value to store in a checksum field that was zero. */
uint16_t vnet_ip_checksum(const void *p, size_t len);

/* True for addresses an ICMP error must never be sent to (RFC 1812
 * 4.3.2.7): 0.0.0.0/8, 127/8, multicast 224/4, limited broadcast. */
bool vnet_ip4_no_icmp_to(uint32_t ip);

/*
 * Builds an IPv4 ICMP destination-unreachable (type 3, code `code`: 1 host
 * unreachable, 4 fragmentation needed with next-hop `mtu`, 13
 * administratively prohibited) about the packet p (len bytes), from `from`
 * to p's source: new IP header (TTL 64, DF clear), ICMP header, then as much
 * of the offending packet as fits in VNET_ICMP4_MAX bytes in all. Returns the
 * length written to out (cap >= VNET_ICMP4_MAX is always enough), or 0 when
 * no error may be sent: p is not a parseable IPv4 packet, p is itself an
 * ICMP error (types 3, 4, 5, 11, 12; or an ICMP packet too short to tell),
 * p is a non-first fragment, or p's source is one vnet_ip4_no_icmp_to refuses.
 */
size_t vnet_icmp4_unreach(const uint8_t *p, size_t len, uint32_t from, uint8_t code, uint16_t mtu,
                          uint8_t *out, size_t cap);

#endif
