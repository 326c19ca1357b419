// SPDX-License-Identifier: MIT
/*
 * endpoint — a UDP endpoint (IPv4 or IPv6 address + port) as a plain value,
 * its text form "a.b.c.d:port" / "[v6]:port", and its wire form. No DNS.
 */
#ifndef GVPN_OVERLAY_ENDPOINT_H
#define GVPN_OVERLAY_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

#define OVL_EP_STR_MAX 56 /* "[" + INET6_ADDRSTRLEN + "]:65535", with room */
#define OVL_EP_WIRE_V4 7  /* family + 4 + 2 */
#define OVL_EP_WIRE_V6 19 /* family + 16 + 2 */

struct ovl_endpoint {
	uint8_t family; /* 4 or 6; 0 = none; OVL_EP_RELAY */
	uint8_t addr[16];
	uint16_t port;
};

/* Not an IP endpoint: a link whose datagrams another member relays
 * (overlay/node_relay.c); port names the relay slot, addr is zero. Never sent
 * on the wire (ovl_ep_put writes it as "none"). */
#define OVL_EP_RELAY 0x52

/* An IPv4 or IPv6 endpoint (not none, not a relay slot). */
static inline bool ovl_ep_is_ip(const struct ovl_endpoint *ep)
{
	return ep->family == 4 || ep->family == 6;
}

/* "1.2.3.4:5" or "[::1]:5"; 0 or -EINVAL. Port 0 only if allow_port0. */
int ovl_ep_parse(const char *s, bool allow_port0, struct ovl_endpoint *out);
void ovl_ep_format(const struct ovl_endpoint *ep, char out[OVL_EP_STR_MAX]);
bool ovl_ep_eq(const struct ovl_endpoint *a, const struct ovl_endpoint *b);
/* wire form: u8 family (4|6), address, u16 port; anything that is not an IP
 * endpoint goes as the one byte 0 ("none") */
void ovl_ep_put(struct wire_writer *w, const struct ovl_endpoint *ep);
/* Reads one IP endpoint; sets the reader's error on a bad family or short input. */
void ovl_ep_get(struct wire_reader *r, struct ovl_endpoint *ep);
/* Reads an IP endpoint or "none" (family 0, one byte). */
void ovl_ep_get_opt(struct wire_reader *r, struct ovl_endpoint *ep);
/* Conversions to and from struct sockaddr_storage; 0 or -EAFNOSUPPORT. */
struct sockaddr;
int ovl_ep_to_sockaddr(const struct ovl_endpoint *ep, void *ss, unsigned *len);
/* Family 4 for a v4-mapped address (::ffff:a.b.c.d): one peer, one endpoint. */
int ovl_ep_from_sockaddr(const struct sockaddr *sa, struct ovl_endpoint *out);
/* A family-6 v4-mapped endpoint (::ffff:a.b.c.d) becomes family 4; any other is
 * left as it is. */
void ovl_ep_unmap(struct ovl_endpoint *ep);
/*
 * The address to sendto ep on a socket of family af (AF_INET or AF_INET6):
 * a dual-stack AF_INET6 socket (v6only false) takes family 4 as ::ffff:a.b.c.d;
 * v4-mapped family-6 endpoints count as family 4. 0, or -EAFNOSUPPORT when the
 * socket cannot reach ep (family 6 on AF_INET, family 4 on a v6only socket).
 */
int ovl_ep_to_sockaddr_for(const struct ovl_endpoint *ep, int af, bool v6only, void *ss,
                           unsigned *len);

#endif
