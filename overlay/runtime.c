// SPDX-License-Identifier: MIT
/* runtime — libevent + UDP + clock around the sans-I/O node engine. */
#define LOG_SUBSYS "runtime"
#include "runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "control.h"
#include "log.h"
#include "nat.h"

#define RT_LEAVE_FLUSH_MS 500        /* ovl_runtime_leave waits at most this for socket space */
#define RT_TIMER_MAX_MS   3600000ULL /* re-check at least hourly, whatever the engine says */
#define RT_HOST_MAX       256
#define RT_LOCAL6_MAX     4 /* IPv6 interface addresses offered, at most (privacy ones add up) */

/* A trace waiting for its answer from the network. */
struct rt_trace {
	struct rt_trace *next;
	struct ctl_req *req;
	uint32_t id;
};

struct ovl_runtime {
	struct event_base *base;
	int fd;
	int af;      /* AF_INET, or AF_INET6 ... */
	bool v6only; /* ... that cannot reach IPv4 (else dual stack: IPv4 as ::ffff:a.b.c.d) */
	struct ovl_endpoint bound;
	struct ovl_crypto *crypto;
	struct ovl_node *node;
	struct event *read_ev;
	struct event *timer;
	int nl_fd; /* netlink: our interface addresses changed (-1: not watched) */
	/* The group's virtual network: addresses in it are the VPN's own (our
	 * TUN device), never an underlay candidate. */
	struct cert_network vnet;
	struct event *nl_ev;
	bool started, leaving, left;
	uint64_t flush_deadline; /* while leaving */
	struct ovl_runtime_stats st;
	struct rt_trace *traces;
	/* A trace being started: its answer may come before ovl_node_trace
	 * returns its id (a trace to ourselves). */
	struct ctl_req *tracing;
	ovl_runtime_status_fn status_fn;
	void *status_ctx;
	/* receive batch */
	struct mmsghdr msgs[OVL_RT_BATCH];
	struct iovec iov[OVL_RT_BATCH];
	struct sockaddr_storage from[OVL_RT_BATCH];
	uint8_t bufs[OVL_RT_BATCH][OVL_DATAGRAM_MAX + 1]; /* +1: to see oversized ones */
	/* send batch: while batching, datagrams gather here for one sendmmsg */
	int batching;
	unsigned n_tx;
	struct mmsghdr txmsgs[OVL_RT_BATCH];
	struct iovec txiov[OVL_RT_BATCH];
	struct sockaddr_storage txaddr[OVL_RT_BATCH];
	uint8_t txbufs[OVL_RT_BATCH][OVL_DATAGRAM_MAX];
};

void ovl_runtime_config_default(struct ovl_runtime_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	ovl_node_config_default(&cfg->node);
}

uint64_t ovl_runtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool rt_can4(const struct ovl_runtime *rt)
{
	return rt->af == AF_INET || !rt->v6only;
}

static bool rt_can6(const struct ovl_runtime *rt)
{
	return rt->af == AF_INET6;
}

static const char *rt_families(const struct ovl_runtime *rt)
{
	if (rt->af == AF_INET)
		return "IPv4";
	return rt->v6only ? "IPv6" : "IPv6 and IPv4";
}

/* ---- engine callbacks --------------------------------------------------------- */

/* Waits up to the flush deadline for room in the socket buffer. */
static bool wait_writable(struct ovl_runtime *rt)
{
	uint64_t now = ovl_runtime_now();
	struct pollfd p = {.fd = rt->fd, .events = POLLOUT};

	if (!rt->leaving || now >= rt->flush_deadline)
		return false;
	return poll(&p, 1, (int)(rt->flush_deadline - now)) == 1;
}

/* Sends the gathered datagrams: one sendmmsg for the lot. A full socket
 * buffer drops the rest, as a router's queue would; another error skips
 * the one datagram it is about. */
static void flush_tx(struct ovl_runtime *rt)
{
	unsigned i = 0;

	while (i < rt->n_tx) {
		int r = sendmmsg(rt->fd, rt->txmsgs + i, rt->n_tx - i, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r > 0) {
			rt->st.tx_datagrams += (unsigned)r;
			i += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			rt->st.tx_dropped += rt->n_tx - i;
			LOG_RL(LOG_LVL_DEBUG, "socket buffer full: %u datagram(s) dropped",
			       rt->n_tx - i);
			break;
		}
		rt->st.tx_errors++;
		LOG_RL(LOG_LVL_DEBUG, "sendmmsg: %s", strerror(errno));
		i++;
	}
	rt->n_tx = 0;
}

void ovl_runtime_batch_begin(struct ovl_runtime *rt)
{
	rt->batching++;
}

void ovl_runtime_batch_end(struct ovl_runtime *rt)
{
	if (rt->batching > 0 && --rt->batching == 0 && rt->n_tx)
		flush_tx(rt);
}

static void rt_send(void *ctx, const struct ovl_endpoint *to, const uint8_t *buf, size_t len)
{
	struct ovl_runtime *rt = ctx;
	struct sockaddr_storage ss;
	unsigned sl = 0;
	char ep[OVL_EP_STR_MAX];

	/* Peers offer candidates of both families; ours may reach only one. */
	if (ovl_ep_to_sockaddr_for(to, rt->af, rt->v6only, &ss, &sl) < 0) {
		rt->st.tx_wrong_family++;
		ovl_ep_format(to, ep);
		LOG_RL(LOG_LVL_DEBUG, "cannot send to %s: the socket reaches %s only", ep,
		       rt_families(rt));
		return;
	}
	if (rt->batching && len <= OVL_DATAGRAM_MAX && !rt->leaving) {
		unsigned i = rt->n_tx++;

		memcpy(rt->txbufs[i], buf, len);
		memcpy(&rt->txaddr[i], &ss, sl);
		rt->txiov[i] = (struct iovec){.iov_base = rt->txbufs[i], .iov_len = len};
		memset(&rt->txmsgs[i], 0, sizeof(rt->txmsgs[i]));
		rt->txmsgs[i].msg_hdr.msg_name = &rt->txaddr[i];
		rt->txmsgs[i].msg_hdr.msg_namelen = sl;
		rt->txmsgs[i].msg_hdr.msg_iov = &rt->txiov[i];
		rt->txmsgs[i].msg_hdr.msg_iovlen = 1;
		if (rt->n_tx == OVL_RT_BATCH)
			flush_tx(rt);
		return;
	}
	for (int tries = 0; tries < 4; tries++) {
		if (sendto(rt->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ss,
		           sl) >= 0) {
			rt->st.tx_datagrams++;
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			if (wait_writable(rt))
				continue;
			rt->st.tx_dropped++;
			LOG_RL(LOG_LVL_DEBUG, "socket buffer full: datagram dropped");
			return;
		}
		break;
	}
	rt->st.tx_errors++;
	ovl_ep_format(to, ep);
	LOG_RL(LOG_LVL_DEBUG, "sendto %s: %s", ep, strerror(errno));
}

static void rt_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
		/* Predictable session indices and nonces are worse than stopping. */
		LOG(LOG_LVL_ERROR, "RAND_bytes failed: no randomness, stopping");
		abort();
	}
}

static time_t rt_wall(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static struct rt_trace **trace_find(struct ovl_runtime *rt, uint32_t id)
{
	struct rt_trace **pp;

	for (pp = &rt->traces; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id)
			return pp;
	return NULL;
}

/* The request a trace answer is for, taken off the list; NULL if none. */
static struct ctl_req *trace_take(struct ovl_runtime *rt, uint32_t id)
{
	struct rt_trace **pp = trace_find(rt, id), *t;
	struct ctl_req *req;

	if (!pp) {
		req = rt->tracing; /* answered before ovl_node_trace returned */
		rt->tracing = NULL;
		return req;
	}
	t = *pp;
	*pp = t->next;
	req = t->req;
	free(t);
	return req;
}

static void rt_trace_done(void *ctx, uint32_t id, const struct cert_addr *hops, size_t n_hops,
                          const struct cert_addr *reached)
{
	struct ovl_runtime *rt = ctx;
	struct ctl_req *req = trace_take(rt, id);
	char hex[CERT_ADDR_HEX_LEN + 1];
	json_t *arr, *res;

	if (!req)
		return; /* timed out, or the client left */
	arr = json_array();
	for (size_t i = 0; arr && i < n_hops; i++) {
		cert_addr_hex(&hops[i], hex);
		json_array_append_new(arr, json_string(hex));
	}
	cert_addr_hex(reached, hex);
	res = arr ? json_pack("{s:o,s:s}", "hops", arr, "reached", hex) : NULL;
	ctl_req_reply(req, res);
}

static void rt_route_error(void *ctx, uint32_t id, const struct cert_addr *dst, const char *reason)
{
	struct ovl_runtime *rt = ctx;
	struct ctl_req *req;

	(void)dst;
	/* Only ours: route errors for other senders' ids are not traces. */
	if (!trace_find(rt, id) && !rt->tracing)
		return;
	req = trace_take(rt, id);
	if (req)
		ctl_req_fail(req, "trace failed: %s", reason);
}

/* ---- the loop ------------------------------------------------------------------- */

static void rt_arm(struct ovl_runtime *rt, uint64_t deadline, uint64_t now)
{
	uint64_t d;
	struct timeval tv;

	if (rt->left || deadline == UINT64_MAX) {
		evtimer_del(rt->timer);
		return;
	}
	d = deadline > now ? deadline - now : 0;
	if (d > RT_TIMER_MAX_MS)
		d = RT_TIMER_MAX_MS;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(rt->timer, &tv);
}

void ovl_runtime_kick(struct ovl_runtime *rt)
{
	uint64_t now = ovl_runtime_now();

	if (!rt->started || rt->left)
		return;
	rt_arm(rt, ovl_node_tick(rt->node, now), now);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ovl_runtime_kick(arg);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ovl_runtime *rt = arg;
	struct ovl_endpoint from;

	(void)what;
	ovl_runtime_batch_begin(rt);
	for (int b = 0; b < OVL_RT_BATCHES && !rt->left; b++) {
		uint64_t now;
		int n;

		for (int i = 0; i < OVL_RT_BATCH; i++) {
			rt->iov[i].iov_base = rt->bufs[i];
			rt->iov[i].iov_len = sizeof(rt->bufs[i]);
			memset(&rt->msgs[i], 0, sizeof(rt->msgs[i]));
			rt->msgs[i].msg_hdr.msg_name = &rt->from[i];
			rt->msgs[i].msg_hdr.msg_namelen = sizeof(rt->from[i]);
			rt->msgs[i].msg_hdr.msg_iov = &rt->iov[i];
			rt->msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, rt->msgs, OVL_RT_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				LOG_RL(LOG_LVL_DEBUG, "recvmmsg: %s", strerror(errno));
			break;
		}
		now = ovl_runtime_now();
		for (int i = 0; i < n && !rt->left; i++) {
			size_t len = rt->msgs[i].msg_len;

			if ((rt->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > OVL_DATAGRAM_MAX) {
				rt->st.rx_truncated++;
				continue;
			}
			if (ovl_ep_from_sockaddr((struct sockaddr *)&rt->from[i], &from) < 0)
				continue;
			rt->st.rx_datagrams++;
			ovl_node_input(rt->node, now, &from, rt->bufs[i], len);
		}
		if (n < OVL_RT_BATCH)
			break;
	}
	ovl_runtime_kick(rt);
	ovl_runtime_batch_end(rt);
}

/* ---- set-up --------------------------------------------------------------------- */

static bool is_any(const struct ovl_endpoint *ep)
{
	static const uint8_t zero[16];

	return (ep->family == 4 || ep->family == 6) &&
	       !memcmp(ep->addr, zero, ep->family == 4 ? 4 : 16);
}

/* Tunnelled traffic comes in bursts faster than one wake-up drains the
 * default buffer (~200 KiB), and every datagram lost there is a TCP
 * retransmission inside the tunnel. The FORCE variants pass the system's
 * rmem_max/wmem_max when we have CAP_NET_ADMIN; else we get what the limit
 * allows. Best effort: a small buffer costs throughput, not correctness. */
static void set_buffers(int fd)
{
	int sz = OVL_RT_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* One UDP socket bound to ep; an IPv6 one dual stack if dual, else v6only.
 * 0 or -errno. */
static int bind_one(struct ovl_runtime *rt, const struct ovl_endpoint *ep, bool dual)
{
	struct sockaddr_storage ss;
	unsigned len = 0;
	int af = ep->family == 4 ? AF_INET : AF_INET6, v6only = !dual, fd, e;

	ovl_ep_to_sockaddr(ep, &ss, &len);
	fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Set either way: the system default (net.ipv6.bindv6only) is not ours. */
	if ((af == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	set_buffers(fd);
	rt->fd = fd;
	rt->af = af;
	rt->v6only = af == AF_INET6 && !dual;
	return 0;
}

/*
 * "a.b.c.d:port" binds an IPv4 socket there, "[v6]:port" an IPv6-only one;
 * the wildcards 0.0.0.0 and [::] both bind one dual-stack socket to [::],
 * or IPv4 0.0.0.0 where the host has no IPv6.
 */
static int open_socket(struct ovl_runtime *rt, const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ovl_endpoint ep;
	int rc;

	if (ovl_ep_parse(listen, true, &ep) < 0) {
		snprintf(err, errlen, "listen address '%s': want a.b.c.d:port or [IPv6]:port",
		         listen);
		return -EINVAL;
	}
	ovl_ep_unmap(&ep); /* [::ffff:a.b.c.d]:port is IPv4 */
	if (is_any(&ep)) {
		struct ovl_endpoint any = {.family = 6, .port = ep.port};

		rc = bind_one(rt, &any, true);
		if (rc == -EAFNOSUPPORT || rc == -EPROTONOSUPPORT || rc == -EADDRNOTAVAIL) {
			LOG(LOG_LVL_INFO, "no IPv6 here (%s): listening on IPv4 only",
			    strerror(-rc));
			any.family = 4;
			rc = bind_one(rt, &any, false);
		}
	} else {
		rc = bind_one(rt, &ep, false);
	}
	if (rc == 0 && getsockname(rt->fd, (struct sockaddr *)&ss, &sl) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "UDP socket on %s: %s%s", listen, strerror(-rc),
		         rc == -EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : "");
		return rc;
	}
	LOG(LOG_LVL_DEBUG, "UDP socket on %s: %s", listen, rt_families(rt));
	return ovl_ep_from_sockaddr((struct sockaddr *)&ss, &rt->bound);
}

static bool ep_in(const struct ovl_endpoint *ep, const struct ovl_endpoint *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ovl_ep_eq(ep, &set[i]))
			return true;
	return false;
}

/* An IPv6 interface address worth offering to peers: global or ULA. */
static bool ip6_offered(const struct ovl_endpoint *ep)
{
	struct in6_addr a;

	memcpy(&a, ep->addr, sizeof(a));
	return ep->family == 6 && !IN6_IS_ADDR_UNSPECIFIED(&a) && !IN6_IS_ADDR_LOOPBACK(&a) &&
	       !IN6_IS_ADDR_LINKLOCAL(&a) && !IN6_IS_ADDR_SITELOCAL(&a) &&
	       !IN6_IS_ADDR_MULTICAST(&a) && !IN6_IS_ADDR_V4MAPPED(&a);
}

static bool in_vnet(const struct ovl_runtime *rt, const struct ovl_endpoint *ep)
{
	uint32_t a, mask;

	if (ep->family != 4 || rt->vnet.prefix == 0)
		return false;
	a = (uint32_t)ep->addr[0] << 24 | (uint32_t)ep->addr[1] << 16 | (uint32_t)ep->addr[2] << 8 |
	    ep->addr[3];
	mask = rt->vnet.prefix >= 32 ? UINT32_MAX : ~(UINT32_MAX >> rt->vnet.prefix);
	return (a & mask) == (rt->vnet.addr & mask);
}

/* Up, non-loopback interface addresses of family af (AF_INET or AF_INET6)
 * with the bound port, added to out[*n..max); none inside the group's own
 * virtual network (a peer would send to it through its own tunnel). */
static void if_endpoints(const struct ovl_runtime *rt, const struct ifaddrs *ifs, int af,
                         uint16_t port, struct ovl_endpoint *out, size_t *n, size_t max)
{
	for (const struct ifaddrs *i = ifs; i && *n < max; i = i->ifa_next) {
		struct ovl_endpoint ep;

		if (!i->ifa_addr || i->ifa_addr->sa_family != af || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK) || ovl_ep_from_sockaddr(i->ifa_addr, &ep) < 0)
			continue;
		if (af == AF_INET6 && !ip6_offered(&ep))
			continue; /* link-local would need a scope; ::1 is nobody else's */
		if (in_vnet(rt, &ep))
			continue;
		ep.port = port;
		if (!ep_in(&ep, out, *n))
			out[(*n)++] = ep;
	}
}

/* The bound address, or for a wildcard every up, non-loopback interface
 * address the socket can use: IPv4 ones, then up to RT_LOCAL6_MAX global or
 * ULA IPv6 ones (127.0.0.1, or ::1, only if there is none). */
static size_t local_endpoints(const struct ovl_runtime *rt, struct ovl_endpoint *out, size_t max)
{
	struct ifaddrs *ifs = NULL;
	size_t n = 0;

	if (!is_any(&rt->bound)) {
		out[0] = rt->bound;
		return 1;
	}
	if (getifaddrs(&ifs) == 0) {
		if (rt_can4(rt))
			if_endpoints(rt, ifs, AF_INET, rt->bound.port, out, &n, max);
		if (rt_can6(rt))
			if_endpoints(rt, ifs, AF_INET6, rt->bound.port, out, &n,
			             n + RT_LOCAL6_MAX < max ? n + RT_LOCAL6_MAX : max);
		freeifaddrs(ifs);
	} else {
		LOG(LOG_LVL_WARN, "getifaddrs: %s", strerror(errno));
	}
	if (n == 0) {
		ovl_ep_parse(rt_can4(rt) ? "127.0.0.1:1" : "[::1]:1", false, &out[0]);
		out[0].port = rt->bound.port;
		n = 1;
	}
	return n;
}

/* Would a datagram to ep come to our own socket? */
static bool is_self(const struct ovl_runtime *rt, const struct ovl_endpoint *ep,
                    const struct ovl_node_config *cfg)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (ep->port != rt->bound.port)
		return false;
	if (ovl_ep_eq(ep, &rt->bound) || ep_in(ep, cfg->local, cfg->n_local))
		return true;
	if (!is_any(&rt->bound))
		return false;
	if (ep->family == 4)
		return rt_can4(rt) && ep->addr[0] == 127;
	return rt_can6(rt) && !memcmp(ep->addr, v6_loopback, 16);
}

/* "host:port" or "[v6]:port" → the endpoints our socket can reach, into
 * cfg->bootstrap; failures are logged. */
static void resolve_one(const struct ovl_runtime *rt, const char *entry,
                        struct ovl_node_config *cfg)
{
	/* AF_UNSPEC with a v6only socket too: a name with only IPv4 addresses
	 * is then said so, not "no address". */
	struct addrinfo hints = {.ai_family = rt_can6(rt) ? AF_UNSPEC : AF_INET,
	                         .ai_socktype = SOCK_DGRAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char host[RT_HOST_MAX];
	const char *h = entry, *port = NULL, *colon;
	size_t hl = 0, usable = 0;
	int rc;

	if (entry[0] == '[') {
		const char *rb = strchr(entry, ']');

		if (rb && rb[1] == ':') {
			h = entry + 1;
			hl = (size_t)(rb - h);
			port = rb + 2;
		}
		hints.ai_flags |= AI_NUMERICHOST;
	} else if ((colon = strrchr(entry, ':'))) {
		hl = (size_t)(colon - entry);
		port = colon + 1;
	}
	if (!port || hl == 0 || hl >= sizeof(host)) {
		LOG(LOG_LVL_WARN, "bootstrap %s skipped: not host:port", entry);
		return;
	}
	if (entry[0] == '[' && !rt_can6(rt)) {
		LOG(LOG_LVL_WARN, "bootstrap %s skipped: this node's socket is IPv4 only", entry);
		return;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		LOG(LOG_LVL_WARN, "bootstrap %s skipped: %s", entry,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		struct ovl_endpoint ep;
		char s[OVL_EP_STR_MAX];
		unsigned sl;

		if (ovl_ep_from_sockaddr(ai->ai_addr, &ep) < 0 ||
		    ovl_ep_to_sockaddr_for(&ep, rt->af, rt->v6only, &ss, &sl) < 0)
			continue;
		usable++;
		ovl_ep_format(&ep, s);
		if (is_self(rt, &ep, cfg)) {
			LOG(LOG_LVL_DEBUG, "bootstrap %s (%s) is this node: left out", entry, s);
			continue;
		}
		if (ep_in(&ep, cfg->bootstrap, cfg->n_bootstrap))
			continue;
		if (cfg->n_bootstrap == OVL_BOOTSTRAP_MAX) {
			LOG(LOG_LVL_WARN, "bootstrap %s (%s) skipped: at most %d endpoints", entry,
			    s, OVL_BOOTSTRAP_MAX);
			break;
		}
		cfg->bootstrap[cfg->n_bootstrap++] = ep;
		LOG(LOG_LVL_DEBUG, "bootstrap %s: %s", entry, s);
	}
	if (usable == 0)
		LOG(LOG_LVL_WARN,
		    "bootstrap %s skipped: no address for a socket that reaches %s only", entry,
		    rt_families(rt));
	freeaddrinfo(res);
}

/* ---- roaming: our addresses change --------------------------------------------- */

/* An address came or went: our candidates follow, and every link pings from
 * the new address at once, so peers move there (links.md, roaming). The
 * messages themselves are not parsed: any of them means "look again". */
static void netlink_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ovl_runtime *rt = arg;
	struct ovl_endpoint eps[OVL_CANDIDATES_MAX];
	uint8_t buf[8192];
	size_t n;
	int drained = 0;

	(void)what;
	while (drained < 64 && (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0 || errno == ENOBUFS))
		drained++;
	if (!rt->started || rt->left)
		return;
	n = local_endpoints(rt, eps, OVL_CANDIDATES_MAX);
	ovl_node_set_local(rt->node, ovl_runtime_now(), eps, n);
	ovl_runtime_kick(rt);
}

/* Watches interface addresses when the socket listens on a wildcard (a
 * socket bound to one address has nothing to follow). Best effort. */
static void netlink_open(struct ovl_runtime *rt)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
	                         .nl_groups =
	                                 RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_LINK};
	int fd;

	rt->nl_fd = -1;
	if (!is_any(&rt->bound))
		return;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		LOG(LOG_LVL_INFO, "not watching interface addresses (netlink: %s)",
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	rt->nl_fd = fd;
}

int ovl_runtime_new(struct event_base *base, const struct ovl_runtime_config *cfg,
                    struct ovl_runtime **out, char *err, size_t errlen)
{
	struct ovl_node_config ncfg = cfg->node;
	const struct ovl_node_cb cb = {
	        .send = rt_send,
	        .random = rt_random,
	        .wall = rt_wall,
	        .trace_done = rt_trace_done,
	        .route_error = rt_route_error,
	};
	struct ovl_node_cb ncb = cb;
	struct ovl_runtime *rt;
	const char *listen = cfg->listen;
	int rc;

	*out = NULL;
	if (!base || !cfg->bundle)
		return snprintf(err, errlen, "no event base or bundle"), -EINVAL;
	if (!listen)
		listen = cert_bundle_setting(cfg->bundle, "listen");
	if (!listen)
		listen = OVL_RT_DEFAULT_LISTEN;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	rt->base = base;
	rt->fd = -1;
	rt->nl_fd = -1;
	if (cert_bundle_network(cfg->bundle))
		rt->vnet = *cert_bundle_network(cfg->bundle);
	if ((rc = open_socket(rt, listen, err, errlen)) < 0)
		goto fail;
	if ((rc = ovl_crypto_tls_new(cfg->bundle, &rt->crypto, err, errlen)) < 0)
		goto fail;

	ncfg.crypto = rt->crypto;
	ncfg.links.crypto = rt->crypto;
	ncfg.n_local = local_endpoints(rt, ncfg.local, OVL_CANDIDATES_MAX);
	ncfg.n_bootstrap = 0;
	for (size_t i = 0; i < cert_bundle_bootstrap_count(cfg->bundle); i++)
		resolve_one(rt, cert_bundle_bootstrap(cfg->bundle, i), &ncfg);
	if (ncfg.n_bootstrap == 0)
		LOG(LOG_LVL_INFO, "no bootstrap endpoint to try: starting a ring of one");

	ncb.ctx = rt;
	if ((rc = ovl_node_new(&ncfg, &ncb, &rt->node)) < 0) {
		snprintf(err, errlen, "overlay node: %s", strerror(-rc));
		goto fail;
	}
	rt->read_ev = event_new(base, rt->fd, EV_READ | EV_PERSIST, read_cb, rt);
	rt->timer = evtimer_new(base, timer_cb, rt);
	netlink_open(rt);
	if (rt->nl_fd >= 0)
		rt->nl_ev = event_new(base, rt->nl_fd, EV_READ | EV_PERSIST, netlink_cb, rt);
	if (!rt->read_ev || !rt->timer) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	*out = rt;
	return 0;
fail:
	ovl_runtime_free(rt);
	return rc;
}

int ovl_runtime_start(struct ovl_runtime *rt)
{
	uint64_t now = ovl_runtime_now();

	if (rt->started)
		return -EALREADY;
	if (event_add(rt->read_ev, NULL) < 0)
		return -ENOMEM;
	rt->started = true;
	if (rt->nl_ev)
		event_add(rt->nl_ev, NULL);
	ovl_node_start(rt->node, now);
	rt_arm(rt, ovl_node_tick(rt->node, now), now);
	return 0;
}

/* Every trace still waiting gets an answer now. */
static void fail_traces(struct ovl_runtime *rt, const char *why)
{
	while (rt->traces) {
		struct rt_trace *t = rt->traces;

		rt->traces = t->next;
		ctl_req_fail(t->req, "%s", why);
		free(t);
	}
}

void ovl_runtime_leave(struct ovl_runtime *rt)
{
	uint64_t now = ovl_runtime_now();

	if (!rt->started || rt->left)
		return;
	fail_traces(rt, "the node is leaving");
	rt->leaving = true;
	rt->flush_deadline = now + RT_LEAVE_FLUSH_MS;
	ovl_node_leave(rt->node, now);
	rt->leaving = false;
	rt->left = true;
	event_del(rt->read_ev);
	evtimer_del(rt->timer);
	if (rt->nl_ev)
		event_del(rt->nl_ev);
}

void ovl_runtime_free(struct ovl_runtime *rt)
{
	if (!rt)
		return;
	fail_traces(rt, "the node is shutting down");
	if (rt->read_ev)
		event_free(rt->read_ev);
	if (rt->timer)
		event_free(rt->timer);
	if (rt->nl_ev)
		event_free(rt->nl_ev);
	if (rt->nl_fd >= 0)
		close(rt->nl_fd);
	ovl_node_free(rt->node);
	ovl_crypto_free(rt->crypto);
	if (rt->fd >= 0)
		close(rt->fd);
	free(rt);
}

struct ovl_node *ovl_runtime_node(struct ovl_runtime *rt)
{
	return rt->node;
}

const struct ovl_endpoint *ovl_runtime_bound(const struct ovl_runtime *rt)
{
	return &rt->bound;
}

void ovl_runtime_stats(const struct ovl_runtime *rt, struct ovl_runtime_stats *out)
{
	*out = rt->st;
}

/* ---- control commands -------------------------------------------------------- */

static json_t *ep_json(const struct ovl_endpoint *ep)
{
	char s[OVL_EP_STR_MAX];

	ovl_ep_format(ep, s);
	return json_string(s);
}

/* The node's NAT observation and its relaying: {"type", "reflexive": [...],
 * "predicted": [...], "relayed", ...}. */
static json_t *nat_json(struct ovl_runtime *rt)
{
	struct ovl_nat_view v;
	struct ovl_node_stats st;
	json_t *refl = json_array(), *pred = json_array();

	ovl_node_nat(rt->node, &v);
	ovl_node_stats(rt->node, &st);
	for (size_t i = 0; refl && i < v.n_reflexive; i++)
		json_array_append_new(refl, ep_json(&v.reflexive[i]));
	for (size_t i = 0; pred && i < v.n_predicted; i++)
		json_array_append_new(pred, ep_json(&v.predicted[i]));
	if (!refl || !pred) {
		json_decref(refl);
		json_decref(pred);
		return NULL;
	}
	return json_pack("{s:s,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "type", ovl_nat_type_name(v.type),
	                 "reflexive", refl, "predicted", pred, "relayed", (json_int_t)st.relayed,
	                 "relay_drops", (json_int_t)st.relay_drops, "punches",
	                 (json_int_t)st.punches, "punch_direct", (json_int_t)st.punch_direct,
	                 "punch_relayed", (json_int_t)st.punch_relayed, "probe_rounds",
	                 (json_int_t)st.probe_rounds);
}

/* {"cmd":"status"} */
static void cmd_status(void *ctx, struct ctl_req *req)
{
	struct ovl_runtime *rt = ctx;
	const struct cert_info *self = ovl_node_self(rt->node);
	struct ovl_endpoint eps[2 * OVL_CANDIDATES_MAX];
	struct ovl_node_link *links = NULL;
	char hex[CERT_ADDR_HEX_LEN + 1];
	json_t *res = NULL, *jeps, *jlinks, *jnat;
	size_t n_eps, n_links;

	if (!ctl_req_only_keys(req, NULL))
		return;
	n_eps = ovl_node_endpoints(rt->node, eps, sizeof(eps) / sizeof(eps[0]));
	if (n_eps > sizeof(eps) / sizeof(eps[0]))
		n_eps = sizeof(eps) / sizeof(eps[0]);
	n_links = ovl_node_links(rt->node, NULL, 0);
	if (n_links && !(links = calloc(n_links, sizeof(*links))))
		goto out;
	if (n_links) {
		size_t got = ovl_node_links(rt->node, links, n_links);

		n_links = got < n_links ? got : n_links;
	}
	jeps = json_array();
	jlinks = json_array();
	for (size_t i = 0; jeps && i < n_eps; i++)
		json_array_append_new(jeps, ep_json(&eps[i]));
	for (size_t i = 0; jlinks && i < n_links; i++) {
		json_t *e;

		cert_addr_hex(&links[i].addr, hex);
		e = json_pack("{s:s,s:s,s:s,s:o,s:I,s:s}", "address", hex, "name", links[i].name,
		              "kind", ovl_link_kind_name(links[i].kind), "endpoint",
		              ep_json(&links[i].endpoint), "rtt_ms", (json_int_t)links[i].rtt_ms,
		              "path", links[i].relayed ? "relayed" : "direct");
		if (e && links[i].relayed)
			json_object_set_new(e, "relay", json_string(links[i].relay_name));
		json_array_append_new(jlinks, e);
	}
	cert_addr_hex(&self->addr, hex);
	jnat = nat_json(rt);
	if (jeps && jlinks && jnat)
		res = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "address", hex, "name", self->name,
		                "namespace", self->namespace, "state",
		                ovl_node_state_name(ovl_node_state(rt->node)), "endpoints", jeps,
		                "links", jlinks, "nat", jnat);
	else {
		json_decref(jeps);
		json_decref(jlinks);
		json_decref(jnat);
	}
	if (res && rt->status_fn)
		rt->status_fn(rt->status_ctx, res);
out:
	free(links);
	ctl_req_reply(req, res); /* NULL: answers "out of memory" */
}

/* {"cmd": "crl_update", "crl": "<PEM>"}: a newer CRL signed by the group CA
 * replaces ours; links (and upper layers' sessions) of revoked members close. */
static void cmd_crl_update(void *ctx, struct ctl_req *req)
{
	struct ovl_runtime *rt = ctx;
	const char *pem;
	size_t closed;
	int rc;

	if (!ctl_req_only_keys(req, "crl", NULL) || !ctl_req_get_string(req, "crl", &pem))
		return;
	rc = ovl_crypto_update_crl(rt->crypto, pem, strlen(pem));
	if (rc == -EALREADY) {
		ctl_req_fail(req, "this CRL is not newer than the one in use");
		return;
	}
	if (rc < 0) {
		ctl_req_fail(req,
		             "not a CRL of this group (bad PEM, or not signed by the group CA)");
		return;
	}
	closed = ovl_node_crl_updated(rt->node, ovl_runtime_now());
	LOG(LOG_LVL_INFO, "CRL updated: %zu link(s) to revoked members closed", closed);
	ovl_runtime_kick(rt);
	ctl_req_reply(req,
	              json_pack("{s:s,s:I}", "status", "ok", "closed_links", (json_int_t)closed));
}

void ovl_runtime_set_status_hook(struct ovl_runtime *rt, ovl_runtime_status_fn fn, void *ctx)
{
	rt->status_fn = fn;
	rt->status_ctx = ctx;
}

bool ovl_runtime_parse_ms(const char *s, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > 86400000UL)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool ovl_runtime_tuning(struct ovl_node_config *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	uint32_t v;
	size_t kl;

	if (!eq || !ovl_runtime_parse_ms(eq + 1, &v))
		return false;
	kl = (size_t)(eq - arg);
#define KEY(name, field)                                                                           \
	if (kl == strlen(name) && !strncmp(arg, name, kl)) {                                       \
		field = v;                                                                         \
		return true;                                                                       \
	}
	KEY("keepalive_ms", c->links.keepalive_ms)
	KEY("dead_ms", c->links.dead_ms)
	KEY("hs_timeout_ms", c->links.hs_timeout_ms)
	KEY("maintain_ms", c->maintain_ms)
	KEY("rejoin_ms", c->rejoin_ms)
	KEY("retry_min_ms", c->retry_min_ms)
	KEY("retry_max_ms", c->retry_max_ms)
	KEY("relay_after_ms", c->relay_after_ms)
	KEY("punch_retry_min_ms", c->punch_retry_min_ms)
	KEY("punch_retry_max_ms", c->punch_retry_max_ms)
#undef KEY
	return false;
}

static void trace_cancel(void *ctx, struct ctl_req *req)
{
	struct ovl_runtime *rt = ctx;

	for (struct rt_trace **pp = &rt->traces; *pp; pp = &(*pp)->next) {
		if ((*pp)->req == req) {
			struct rt_trace *t = *pp;

			*pp = t->next;
			free(t);
			return;
		}
	}
}

/* {"cmd":"trace","address":HEX40} */
static void cmd_trace(void *ctx, struct ctl_req *req)
{
	struct ovl_runtime *rt = ctx;
	struct cert_addr dst;
	struct rt_trace *t;
	uint32_t id = 0;
	int rc;

	if (!ctl_req_only_keys(req, "address", NULL) || !ctl_req_get_addr(req, "address", &dst))
		return;
	if (!rt->started || rt->left) {
		ctl_req_fail(req, "the node is not running");
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		ctl_req_fail(req, "out of memory");
		return;
	}
	ctl_req_defer(req, OVL_RT_TRACE_MS, "trace timed out", trace_cancel, rt);
	rt->tracing = req;
	rc = ovl_node_trace(rt->node, ovl_runtime_now(), &dst, &id);
	if (!rt->tracing) { /* answered already (a trace to ourselves) */
		free(t);
	} else if (rc < 0) {
		rt->tracing = NULL;
		free(t);
		if (rc == -EHOSTUNREACH)
			ctl_req_fail(req, "no route: the node has no links yet");
		else
			ctl_req_fail(req, "trace: %s", strerror(-rc));
	} else {
		rt->tracing = NULL;
		t->req = req;
		t->id = id;
		t->next = rt->traces;
		rt->traces = t;
	}
	ovl_runtime_kick(rt);
}

int ovl_runtime_register_commands(struct ovl_runtime *rt, struct control *ctl)
{
	int rc = control_register(ctl, "status", cmd_status, rt);

	if (rc == 0)
		rc = control_register(ctl, "trace", cmd_trace, rt);
	return rc < 0 ? rc : control_register(ctl, "crl_update", cmd_crl_update, rt);
}
