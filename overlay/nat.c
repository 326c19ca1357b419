// SPDX-License-Identifier: MIT
/* nat — NAT assessment, candidate endpoints and relay choice. See nat.h and docs/nat.md. */
#include "nat.h"

#include <string.h>

#include "addr.h"

static const char *const type_names[OVL_NAT_TYPE_MAX] = {"unknown", "none", "cone", "symmetric"};

const char *ovl_nat_type_name(enum ovl_nat_type t)
{
	return (unsigned)t < OVL_NAT_TYPE_MAX ? type_names[t] : "?";
}

static bool ep_in(const struct ovl_endpoint *ep, const struct ovl_endpoint *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ovl_ep_eq(ep, &set[i]))
			return true;
	return false;
}

static bool same_host(const struct ovl_endpoint *a, const struct ovl_endpoint *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
}

struct tally {
	struct ovl_endpoint ep;
	size_t count;
	uint64_t newest;
};

/* Ports the NAT gave out on host `h`, in the order of the links' birth. */
static size_t ports_in_order(const struct ovl_nat_obs *obs, size_t n_obs,
                             const struct ovl_endpoint *h, uint16_t *out, size_t max)
{
	struct ovl_nat_obs sorted[OVL_NAT_REFLEXIVE_MAX * 4];
	size_t m = 0, k = 0;

	for (size_t i = 0; i < n_obs && m < sizeof(sorted) / sizeof(sorted[0]); i++)
		if (same_host(&obs[i].ep, h))
			sorted[m++] = obs[i];
	for (size_t i = 1; i < m; i++) /* insertion sort by since: m is small */
		for (size_t j = i; j > 0 && sorted[j].since < sorted[j - 1].since; j--) {
			struct ovl_nat_obs t = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (size_t i = 0; i < m && k < max; i++)
		if (k == 0 || out[k - 1] != sorted[i].ep.port)
			out[k++] = sorted[i].ep.port;
	return k;
}

/* Steady steps between the last three mappings: the next ones follow them. */
static void predict(const struct ovl_nat_obs *obs, size_t n_obs, struct ovl_nat_view *v)
{
	uint16_t ports[OVL_NAT_REFLEXIVE_MAX * 4];
	const struct ovl_endpoint *h = &v->reflexive[0];
	size_t k = ports_in_order(obs, n_obs, h, ports, sizeof(ports) / sizeof(ports[0]));
	int d1, d2;

	if (k < 2)
		return;
	d1 = (int)ports[k - 1] - (int)ports[k - 2];
	d2 = k >= 3 ? (int)ports[k - 2] - (int)ports[k - 3] : 0;
	if (d1 == 0 || d1 > OVL_NAT_DELTA_MAX || d1 < -OVL_NAT_DELTA_MAX)
		return;
	/* Two mappings a small step apart, in order: a NAT that counts up,
	 * with mappings we never saw in between; the next ones follow the
	 * newest closely. Three in steady steps: follow the step. */
	if (d1 != d2)
		d1 = d1 > 0 ? 1 : -1;
	for (int i = 1; i <= OVL_NAT_PREDICT_MAX; i++) {
		long p = (long)ports[k - 1] + (long)i * d1;

		if (p < 1 || p > 65535)
			break;
		v->predicted[v->n_predicted] = *h;
		v->predicted[v->n_predicted++].port = (uint16_t)p;
	}
}

void ovl_nat_assess(const struct ovl_endpoint *local, size_t n_local, const struct ovl_nat_obs *obs,
                    size_t n_obs, struct ovl_nat_view *out)
{
	struct tally t[OVL_NAT_REFLEXIVE_MAX];
	size_t nt = 0, seen_local = 0, best_host = 0, best_count = 0, ports = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_obs; i++) {
		const struct ovl_endpoint *ep = &obs[i].ep;
		size_t j;

		if (!ovl_ep_is_ip(ep))
			continue;
		if (ep_in(ep, local, n_local)) {
			seen_local++;
			continue;
		}
		for (j = 0; j < nt && !ovl_ep_eq(&t[j].ep, ep); j++)
			;
		if (j == nt) {
			if (nt == OVL_NAT_REFLEXIVE_MAX)
				continue;
			t[nt++] = (struct tally){.ep = *ep};
		}
		t[j].count++;
		if (obs[i].since >= t[j].newest)
			t[j].newest = obs[i].since;
	}
	/* Most reported first, then the newest. */
	for (size_t i = 1; i < nt; i++)
		for (size_t j = i;
		     j > 0 && (t[j].count > t[j - 1].count ||
		               (t[j].count == t[j - 1].count && t[j].newest > t[j - 1].newest));
		     j--) {
			struct tally x = t[j];

			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	for (size_t i = 0; i < nt; i++)
		out->reflexive[out->n_reflexive++] = t[i].ep;
	if (nt == 0) {
		out->type = seen_local ? OVL_NAT_NONE : OVL_NAT_UNKNOWN;
		return;
	}
	/* The public address most peers see us at: one port there, or many. */
	for (size_t i = 0; i < nt; i++) {
		size_t c = 0;

		for (size_t j = 0; j < nt; j++)
			if (same_host(&t[j].ep, &t[i].ep))
				c += t[j].count;
		if (c > best_count) {
			best_count = c;
			best_host = i;
		}
	}
	for (size_t j = 0; j < nt; j++)
		ports += same_host(&t[j].ep, &t[best_host].ep);
	out->type = ports > 1 ? OVL_NAT_SYMMETRIC : OVL_NAT_CONE;
	if (out->type == OVL_NAT_SYMMETRIC) {
		/* The newest mapping leads: the most recent hint of the NAT's state. */
		size_t newest = best_host;

		for (size_t j = 0; j < nt; j++)
			if (same_host(&t[j].ep, &t[best_host].ep) && t[j].newest > t[newest].newest)
				newest = j;
		out->reflexive[0] = t[newest].ep;
		for (size_t j = 0, k = 1; j < nt; j++)
			if (j != newest)
				out->reflexive[k++] = t[j].ep;
		predict(obs, n_obs, out);
	}
}

static void add(struct ovl_endpoint *out, size_t *m, size_t max, const struct ovl_endpoint *ep)
{
	if (*m < max && ovl_ep_is_ip(ep) && !ep_in(ep, out, *m))
		out[(*m)++] = *ep;
}

size_t ovl_nat_candidates(const struct ovl_endpoint *local, size_t n_local,
                          const struct ovl_nat_view *v, struct ovl_endpoint *out, size_t max)
{
	size_t m = 0;

	for (size_t i = 0; i < n_local; i++)
		add(out, &m, max, &local[i]);
	if (v->type == OVL_NAT_SYMMETRIC) {
		/* The other mappings belong to other peers: useless to this one. */
		if (v->n_reflexive)
			add(out, &m, max, &v->reflexive[0]);
		for (size_t i = 0; i < v->n_predicted; i++)
			add(out, &m, max, &v->predicted[i]);
		return m;
	}
	for (size_t i = 0; i < v->n_reflexive; i++)
		add(out, &m, max, &v->reflexive[i]);
	return m;
}

static unsigned rtt_of(const struct ovl_relay_offer *o)
{
	return o->rtt_ms ? o->rtt_ms : OVL_RELAY_RTT_UNKNOWN;
}

int ovl_relay_choose(const struct ovl_relay_offer *mine, size_t n_mine,
                     const struct ovl_relay_offer *theirs, size_t n_theirs,
                     const struct cert_addr *self, const struct cert_addr *peer, uint32_t skip,
                     uint32_t last, bool *linked)
{
	int best = -1, far = -1;
	unsigned best_cost = 0, far_cost = 0;

	*linked = false;
	for (size_t i = 0; i < n_theirs && i < 32; i++) {
		const struct ovl_relay_offer *o = &theirs[i];
		unsigned cost;
		size_t j;

		if ((skip >> i & 1) || ovl_addr_eq(&o->addr, self) || ovl_addr_eq(&o->addr, peer))
			continue;
		for (j = 0; j < n_mine && !ovl_addr_eq(&mine[j].addr, &o->addr); j++)
			;
		if (j == n_mine) {
			cost = rtt_of(o) + ((last >> i & 1) ? OVL_RELAY_LAST_RESORT : 0);
			if (far < 0 || cost < far_cost ||
			    (cost == far_cost && ovl_addr_cmp(&o->addr, &theirs[far].addr) < 0)) {
				far = (int)i;
				far_cost = cost;
			}
			continue;
		}
		cost = rtt_of(o) + rtt_of(&mine[j]) + ((last >> i & 1) ? OVL_RELAY_LAST_RESORT : 0);
		if (best < 0 || cost < best_cost ||
		    (cost == best_cost && ovl_addr_cmp(&o->addr, &theirs[best].addr) < 0)) {
			best = (int)i;
			best_cost = cost;
		}
	}
	/* Rather than a bootstrap node, a member of the peer's that we link to
	 * first: relaying should not pile up where every member joins. */
	if (best >= 0 && (last >> best & 1) && far >= 0 && !(last >> far & 1))
		return far;
	if (best >= 0) {
		*linked = true;
		return best;
	}
	return far;
}
