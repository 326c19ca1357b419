// SPDX-License-Identifier: MIT
/* endpoint — UDP endpoints: text, wire and sockaddr forms. */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse_port(const char *s, bool allow0, uint16_t *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535 || (v == 0 && !allow0))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int ovl_ep_parse(const char *s, bool allow_port0, struct ovl_endpoint *out)
{
	struct ovl_endpoint ep = {0};
	char host[64];
	const char *colon;
	size_t hl;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		if (inet_pton(AF_INET6, host, ep.addr) != 1)
			return -EINVAL;
		ep.family = 6;
		colon = rb + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET, host, ep.addr) != 1)
			return -EINVAL;
		ep.family = 4;
	}
	if (parse_port(colon + 1, allow_port0, &ep.port) < 0)
		return -EINVAL;
	*out = ep;
	return 0;
}

void ovl_ep_format(const struct ovl_endpoint *ep, char out[OVL_EP_STR_MAX])
{
	char a[INET6_ADDRSTRLEN];

	if (ep->family == 4 && inet_ntop(AF_INET, ep->addr, a, sizeof(a)))
		snprintf(out, OVL_EP_STR_MAX, "%s:%u", a, ep->port);
	else if (ep->family == 6 && inet_ntop(AF_INET6, ep->addr, a, sizeof(a)))
		snprintf(out, OVL_EP_STR_MAX, "[%s]:%u", a, ep->port);
	else if (ep->family == OVL_EP_RELAY)
		snprintf(out, OVL_EP_STR_MAX, "relay#%u", ep->port);
	else
		snprintf(out, OVL_EP_STR_MAX, "-");
}

bool ovl_ep_eq(const struct ovl_endpoint *a, const struct ovl_endpoint *b)
{
	size_t n = a->family == 4 ? 4 : 16;

	return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, n) == 0;
}

void ovl_ep_put(struct wire_writer *w, const struct ovl_endpoint *ep)
{
	if (!ovl_ep_is_ip(ep)) {
		wire_put_u8(w, 0);
		return;
	}
	wire_put_u8(w, ep->family);
	wire_put_bytes(w, ep->addr, ep->family == 4 ? 4 : 16);
	wire_put_u16(w, ep->port);
}

void ovl_ep_get(struct wire_reader *r, struct ovl_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = wire_get_u8(r);
	if (ep->family != 4 && ep->family != 6) {
		r->err = true;
		ep->family = 0;
		return;
	}
	wire_get_bytes(r, ep->addr, ep->family == 4 ? 4 : 16);
	ep->port = wire_get_u16(r);
	if (!wire_ok(r))
		memset(ep, 0, sizeof(*ep));
}

void ovl_ep_get_opt(struct wire_reader *r, struct ovl_endpoint *ep)
{
	if (wire_remaining(r) >= 1 && r->p[r->off] == 0) {
		memset(ep, 0, sizeof(*ep));
		wire_get_u8(r);
		return;
	}
	ovl_ep_get(r, ep);
}

int ovl_ep_to_sockaddr(const struct ovl_endpoint *ep, void *ss, unsigned *len)
{
	if (ep->family == 4) {
		struct sockaddr_in *sin = ss;

		memset(sin, 0, sizeof(*sin));
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ep->addr, 4);
		sin->sin_port = htons(ep->port);
		*len = sizeof(*sin);
		return 0;
	}
	if (ep->family == 6) {
		struct sockaddr_in6 *sin6 = ss;

		memset(sin6, 0, sizeof(*sin6));
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ep->addr, 16);
		sin6->sin6_port = htons(ep->port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int ovl_ep_from_sockaddr(const struct sockaddr *sa, struct ovl_endpoint *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		out->family = 4;
		memcpy(out->addr, &sin->sin_addr, 4);
		out->port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		/* v4-mapped addresses are v4: one peer, one endpoint */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			out->family = 4;
			memcpy(out->addr, (const uint8_t *)&sin6->sin6_addr + 12, 4);
		} else {
			out->family = 6;
			memcpy(out->addr, &sin6->sin6_addr, 16);
		}
		out->port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void ovl_ep_unmap(struct ovl_endpoint *ep)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (ep->family != 6 || memcmp(ep->addr, mapped, sizeof(mapped)) != 0)
		return;
	memmove(ep->addr, ep->addr + 12, 4);
	memset(ep->addr + 4, 0, 12);
	ep->family = 4;
}

int ovl_ep_to_sockaddr_for(const struct ovl_endpoint *ep, int af, bool v6only, void *ss,
                           unsigned *len)
{
	struct ovl_endpoint e = *ep;

	ovl_ep_unmap(&e);
	if (e.family == 4 && af == AF_INET6 && !v6only) {
		e.family = 6;
		memmove(e.addr + 12, e.addr, 4);
		memset(e.addr, 0, 10);
		e.addr[10] = e.addr[11] = 0xff;
		return ovl_ep_to_sockaddr(&e, ss, len);
	}
	if ((e.family == 4 && af == AF_INET) || (e.family == 6 && af == AF_INET6))
		return ovl_ep_to_sockaddr(&e, ss, len);
	return -EAFNOSUPPORT;
}
