// SPDX-License-Identifier: MIT
/* vnet_control — see vnet_control.h. */
#define LOG_SUBSYS "vnet"
#include "vnet_control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "log.h"
#include "runtime.h"
#include "tun.h"

struct vnet_control {
	struct vnet *v;
	struct ovl_runtime *rt;
	char ifname[VNET_TUN_NAME_MAX];
};

struct vc_pending {
	struct vnet_control *vc;
	struct ctl_req *req;
	bool deferred;
	json_t *answer; /* an answer that came before the request was deferred */
	char err[128];
};

static json_t *ip_json(uint32_t ip)
{
	char s[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = htonl(ip)};

	if (!ip)
		return json_null();
	inet_ntop(AF_INET, &a, s, sizeof(s));
	return json_string(s);
}

static void on_resolved(void *ctx, uint32_t ip, const struct cert_addr *addr, const char *name,
                        const char *err)
{
	struct vc_pending *p = ctx;
	char hex[CERT_ADDR_HEX_LEN + 1];
	json_t *res = NULL;

	if (addr) {
		cert_addr_hex(addr, hex);
		res = json_pack("{s:o,s:s,s:s}", "ip", ip_json(ip), "address", hex, "name",
		                name ? name : "");
	} else {
		snprintf(p->err, sizeof(p->err), "%s", err ? err : "lookup failed");
	}
	if (!p->deferred) {
		p->answer = res ? res : json_null();
		return;
	}
	if (res)
		ctl_req_reply(p->req, res);
	else
		ctl_req_fail(p->req, "%s", p->err);
	free(p);
}

static void on_cancel(void *ctx, struct ctl_req *req)
{
	struct vc_pending *p = ctx;

	(void)req;
	vnet_resolve_cancel(p->vc->v, p);
	free(p);
}

/* {"cmd": "resolve", "ip": "a.b.c.d"} -> {"ip", "address", "name"} */
static void cmd_resolve(void *ctx, struct ctl_req *req)
{
	struct vnet_control *vc = ctx;
	struct vc_pending *p;
	struct in_addr a;
	const char *s;
	int rc;

	if (!ctl_req_only_keys(req, "ip", NULL) || !ctl_req_get_string(req, "ip", &s))
		return;
	if (inet_pton(AF_INET, s, &a) != 1) {
		ctl_req_fail(req, "\"ip\" must be an IPv4 address (a.b.c.d), not '%.64s'", s);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		ctl_req_fail(req, "out of memory");
		return;
	}
	p->vc = vc;
	p->req = req;
	rc = vnet_resolve(vc->v, ovl_runtime_now(), ntohl(a.s_addr), on_resolved, p);
	if (rc < 0) {
		free(p);
		ctl_req_fail(req, "%s",
		             rc == -EINVAL ? "not a host address of the group's network"
		                           : "too many lookups in progress; try again");
		return;
	}
	if (p->answer) {
		if (json_is_null(p->answer))
			ctl_req_fail(req, "%s", p->err);
		else
			ctl_req_reply(req, p->answer);
		free(p);
		return;
	}
	p->deferred = true;
	ctl_req_defer(req, VNET_CTL_RESOLVE_MS, "resolve timed out", on_cancel, p);
	ovl_runtime_kick(vc->rt);
}

static void status_hook(void *ctx, json_t *st)
{
	struct vnet_control *vc = ctx;
	struct vnet_peer_info peers[256];
	struct vnet_stats s;
	size_t n = vnet_peers(vc->v, peers, sizeof(peers) / sizeof(peers[0]));
	json_t *jp = json_array(), *links = json_object_get(st, "links"), *l;
	char hex[CERT_ADDR_HEX_LEN + 1];
	size_t i;

	if (n > sizeof(peers) / sizeof(peers[0]))
		n = sizeof(peers) / sizeof(peers[0]);
	vnet_stats(vc->v, &s);
	json_object_set_new(st, "virtual_ip", ip_json(vnet_ip(vc->v)));
	json_object_set_new(st, "interface", json_string(vc->ifname));
	json_object_set_new(st, "mtu", json_integer(vnet_config(vc->v)->mtu));
	json_object_set_new(
	        st, "vnet",
	        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "tun_in",
	                  (json_int_t)s.tun_in, "tun_out", (json_int_t)s.tun_out, "tx_direct",
	                  (json_int_t)s.tx_direct, "tx_session", (json_int_t)s.tx_session,
	                  "rx_direct", (json_int_t)s.rx_direct, "rx_session",
	                  (json_int_t)s.rx_session, "rx_spoofed", (json_int_t)s.rx_spoofed,
	                  "rx_not_mine", (json_int_t)s.rx_not_mine, "rx_bad", (json_int_t)s.rx_bad,
	                  "icmp_sent", (json_int_t)s.icmp_sent, "queue_drops",
	                  (json_int_t)s.queue_drops, "dropped", (json_int_t)s.dropped, "lookups",
	                  (json_int_t)s.lookups, "shortcuts_asked", (json_int_t)s.shortcuts_asked));
	for (i = 0; jp && i < n; i++) {
		cert_addr_hex(&peers[i].addr, hex);
		json_t *e = json_pack("{s:o,s:s,s:s,s:s,s:b,s:I,s:I}", "ip", ip_json(peers[i].ip),
		                      "address", hex, "name", peers[i].name, "path",
		                      peers[i].relayed  ? "relayed"
		                      : peers[i].direct ? "direct"
		                                        : "overlay",
		                      "session", peers[i].session, "tx_packets",
		                      (json_int_t)peers[i].tx_packets, "rx_packets",
		                      (json_int_t)peers[i].rx_packets);

		if (e && peers[i].direct_after_ms >= 0)
			json_object_set_new(e, "direct_after_ms",
			                    json_integer((json_int_t)peers[i].direct_after_ms));
		json_array_append_new(jp, e);
	}
	if (jp)
		json_object_set_new(st, "peers", jp);
	json_array_foreach (links, i, l) {
		const char *h = json_string_value(json_object_get(l, "address"));
		struct cert_addr a;
		uint32_t ip;

		if (h && cert_addr_from_hex(h, &a) == 0 && (ip = vnet_ip_of(vc->v, &a)) != 0)
			json_object_set_new(l, "virtual_ip", ip_json(ip));
	}
}

int vnet_control_register(struct vnet *v, struct ovl_runtime *rt, struct control *ctl,
                          const char *ifname, struct vnet_control **out)
{
	struct vnet_control *vc = calloc(1, sizeof(*vc));
	int rc;

	*out = vc;
	if (!vc)
		return -ENOMEM;
	vc->v = v;
	vc->rt = rt;
	snprintf(vc->ifname, sizeof(vc->ifname), "%s", ifname ? ifname : "");
	ovl_runtime_set_status_hook(rt, status_hook, vc);
	rc = control_register(ctl, "resolve", cmd_resolve, vc);
	return rc;
}

void vnet_control_free(struct vnet_control *vc)
{
	free(vc);
}
