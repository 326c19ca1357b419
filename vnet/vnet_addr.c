// SPDX-License-Identifier: MIT
/*
 * vnet_addr — our virtual address: the certificate's fixed one, or a lease
 * through the DHT (create on ip/<addr>, candidates from alloc.h's sequence,
 * the last run's address first), kept alive by the DHT's own re-puts and
 * checked now and then against other claims (a healed partition): the rule
 * in alloc.h decides and the loser moves. See docs/vnet.md "Addresses".
 */
#define LOG_SUBSYS "vnet"
#include "vnet_internal.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"

void vn_ip_str(uint32_t ip, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

bool vn_pick_holder(uint32_t ip, const struct dht_result *res, size_t *winner)
{
	struct vnet_claim claims[CLAIMS_MAX];
	size_t idx[CLAIMS_MAX], n = 0;
	char s[16];

	vn_ip_str(ip, s);
	for (size_t i = 0; i < res->n_values && n < CLAIMS_MAX; i++) {
		struct vnet_lease l;

		if (vnet_lease_parse(res->values[i].value, res->values[i].len, &l) < 0)
			continue;
		claims[n] = (struct vnet_claim){
		        .writer = res->values[i].writer,
		        .fixed = (l.flags & VNET_LEASE_FIXED) &&
		                 !strcmp(res->values[i].writer_ip, s),
		        .since = l.since,
		};
		idx[n++] = i;
	}
	if (n == 0)
		return false;
	*winner = idx[vnet_claim_winner(claims, n)];
	return true;
}

/* ---- our address ------------------------------------------------------------------- */

static void try_next(struct vnet *v);
static void on_create(void *ctx, const struct dht_result *res);

static void lease_key(const struct vnet *v, uint32_t ip, struct cert_addr *k)
{
	char key[VNET_IP_APPKEY_MAX];
	size_t kl = vnet_ip_appkey(ip, key);

	dht_key_of(v->ns, (const uint8_t *)key, kl, k);
}

static void set_address(struct vnet *v, uint32_t ip)
{
	char s[16];

	v->ip = ip;
	vn_ip_str(ip, s);
	if (ip)
		LOG(LOG_LVL_INFO, "virtual address %s/%u (%s)", s, v->cfg.net.prefix,
		    v->fixed ? "fixed by our certificate" : "leased through the DHT");
	v->cb.address(v->cb.ctx, ip, v->cfg.net.prefix, v->since);
}

static void claim(struct vnet *v, uint32_t ip)
{
	struct vnet_lease l = {.flags = v->fixed ? VNET_LEASE_FIXED : 0, .since = v->since};
	uint8_t val[VNET_LEASE_LEN];
	struct cert_addr k;
	int rc;

	vnet_lease_encode(&l, val);
	lease_key(v, ip, &k);
	v->cand = ip;
	/* A fixed address is ours by certificate: put, not create. */
	if (v->fixed)
		rc = dht_put(v->dht, v->now, &k, val, sizeof(val), v->cfg.lease_ttl_s, true,
		             on_create, v, &v->areq);
	else
		rc = dht_create(v->dht, v->now, &k, val, sizeof(val), v->cfg.lease_ttl_s, true,
		                on_create, v, &v->areq);
	if (rc < 0) {
		v->astate = A_RETRY;
		v->alloc_at = v->now + RETRY_MIN_MS;
		return;
	}
	v->areq_busy = true;
	v->astate = A_TRYING;
}

static void try_next(struct vnet *v)
{
	uint32_t ip;

	if (v->fixed) {
		claim(v, v->cfg.fixed_ip);
		return;
	}
	if (!v->tried_last) {
		v->tried_last = true;
		if (v->cfg.last_ip && cert_network_has_host(&v->cfg.net, v->cfg.last_ip)) {
			v->since = v->cfg.last_since ? v->cfg.last_since
			                             : (uint64_t)v->cb.wall(v->cb.ctx);
			claim(v, v->cfg.last_ip);
			return;
		}
	}
	v->since = (uint64_t)v->cb.wall(v->cb.ctx);
	if (!vnet_alloc_seq_next(&v->seq, &ip)) {
		LOG(LOG_LVL_WARN,
		    "every address of the group network is taken; trying again in %u s",
		    RETRY_MAX_MS / 1000);
		vnet_alloc_seq_init(&v->seq, &v->cfg.net, &ovl_node_self(v->node)->addr);
		v->astate = A_RETRY;
		v->alloc_at = v->now + RETRY_MAX_MS;
		return;
	}
	claim(v, ip);
}

static void on_create(void *ctx, const struct dht_result *res)
{
	struct vnet *v = ctx;
	char s[16];

	if (!v->areq_busy || res->req != v->areq)
		return;
	v->areq_busy = false;
	vn_ip_str(v->cand, s);
	switch (res->status) {
	case DHT_OK:
		v->retry_ms = RETRY_MIN_MS;
		v->astate = A_HELD;
		v->check_at = v->now + v->cfg.conflict_check_ms;
		if (v->ip != v->cand)
			set_address(v, v->cand);
		break;
	case DHT_EXISTS:
		LOG(LOG_LVL_INFO, "address %s is taken (%s); trying the next one", s, res->error);
		try_next(v);
		break;
	default:
		LOG(LOG_LVL_WARN, "claiming address %s: %s%s%s; again in %u ms", s,
		    dht_status_name(res->status), res->error[0] ? ": " : "", res->error,
		    v->retry_ms);
		v->astate = A_RETRY;
		v->alloc_at = v->now + v->retry_ms;
		v->retry_ms = v->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : v->retry_ms * 2;
		break;
	}
}

/* Our periodic look at our own lease: after a partition heals, two members
 * may hold one address; the rule in alloc.h says who keeps it. */
static void on_check(void *ctx, const struct dht_result *res)
{
	struct vnet *v = ctx;
	const struct cert_addr *self = &ovl_node_self(v->node)->addr;
	struct cert_addr k;
	size_t w;
	char s[16];

	if (!v->creq_busy || res->req != v->creq)
		return;
	v->creq_busy = false;
	if (v->astate != A_HELD || res->status != DHT_OK || !vn_pick_holder(v->ip, res, &w) ||
	    ovl_addr_eq(&res->values[w].writer, self))
		return;
	vn_ip_str(v->ip, s);
	LOG(LOG_LVL_WARN,
	    "address %s is also claimed by %s, whose claim wins (%s); moving to another address", s,
	    res->values[w].writer_name,
	    res->values[w].writer_ip[0] ? "its certificate fixes it"
	                                : "earlier lease, or smaller address");
	v->st.conflicts_lost++;
	lease_key(v, v->ip, &k);
	dht_remove(v->dht, v->now, &k, NULL, NULL, NULL);
	v->since = 0;
	set_address(v, 0);
	if (v->fixed) { /* two certificates fix one address: an admin's mistake */
		LOG(LOG_LVL_ERROR, "our certificate's fixed address is held by a fixed claim too");
		v->astate = A_RETRY;
		v->alloc_at = v->now + RETRY_MAX_MS;
		return;
	}
	try_next(v);
}

static void check_lease(struct vnet *v)
{
	struct cert_addr k;

	v->check_at = v->now + v->cfg.conflict_check_ms;
	lease_key(v, v->ip, &k);
	if (dht_get(v->dht, v->now, &k, on_check, v, &v->creq) == 0)
		v->creq_busy = true;
}

void vn_alloc_tick(struct vnet *v)
{
	switch (v->astate) {
	case A_WAIT:
		if (ovl_node_state(v->node) != OVL_NODE_RUNNING) {
			v->running_since = 0;
			return;
		}
		if (!v->running_since)
			v->running_since = v->now;
		if (v->now < v->running_since + v->cfg.alloc_delay_ms)
			return;
		try_next(v);
		break;
	case A_RETRY:
		if (v->now >= v->alloc_at) {
			if (v->cand)
				claim(v, v->cand);
			else
				try_next(v);
		}
		break;
	case A_HELD:
		if (v->now >= v->check_at && !v->creq_busy)
			check_lease(v);
		break;
	case A_TRYING:
		break;
	}
}

void vnet_release(struct vnet *v, uint64_t now)
{
	struct cert_addr k;

	v->now = now;
	if (!v->ip)
		return;
	lease_key(v, v->ip, &k);
	dht_remove(v->dht, now, &k, NULL, NULL, NULL);
}
