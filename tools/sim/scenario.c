// SPDX-License-Identifier: MIT
/* scenario — build, measure, churn, measure again; the report (see scenario.h). */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void sim_params_default(struct sim_params *p)
{
	memset(p, 0, sizeof(*p));
	p->nodes = 100;
	p->seed = 1;
	p->lookups = 1000;
	p->churn = -1;
	p->join_rate = 50;
	p->build_bound_ms = 600000;
	p->check_ms = 1000;
	p->settle_ms = 30000;
	p->lookup_retries = 2;
	sim_config_default(&p->sim);
	dht_config_default(&p->dht);
	sim_dht_opts_default(&p->dht_o);
	p->dht_settle_ms = 60000;
}

double sim_success_rate(const struct sim_lookup_stats *l)
{
	return l->count ? (double)l->ok / (double)l->count : 1.0;
}

double sim_dht_readable_rate(const struct sim_dht_read *r)
{
	return r->keys ? (double)r->readable / (double)r->keys : 1.0;
}

double sim_dht_readable_live_rate(const struct sim_dht_read *r)
{
	return r->live_writers ? (double)r->readable_live / (double)r->live_writers : 1.0;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* User + system CPU time: unlike wall time, not inflated by other load. */
static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static bool ring_ok(struct sim *s, void *ctx)
{
	return sim_ring_consistent(ctx, s);
}

/* Waits for consistency (from `since`, bounded), settles, then measures. */
static int phase(struct sim *s, struct sim_ring *ring, const struct sim_params *p, uint64_t since,
                 uint64_t bound_ms, double wall0, struct sim_measure *m)
{
	struct sim_lookup_opts lo;
	int err;

	memset(m, 0, sizeof(*m));
	m->converged = sim_run_until_cond(s, since + bound_ms, p->check_ms, ring_ok, ring);
	if (m->converged)
		m->converge_ms = sim_now(s) - since;
	sim_run_until(s, sim_now(s) + p->settle_ms);
	m->nodes = sim_live(s);
	m->wrong = sim_ring_wrong(ring, s);
	m->consistent = m->wrong == 0;
	sim_link_counts(s, &m->links_mean, &m->links_max);
	sim_ring_update(ring, s);
	sim_link_paths(s, ring, &m->links_total, &m->links_relayed, &m->nat);
	sim_lookup_opts_default(&lo);
	lo.count = p->lookups;
	lo.retries = p->lookup_retries;
	err = sim_lookups(s, ring, &lo, &m->lookups);
	if (err < 0)
		return err;
	m->virtual_seconds = (double)sim_now(s) / 1000.0;
	m->wall_seconds = mono_seconds() - wall0;
	m->cpu_seconds = cpu_seconds();
	m->peak_rss_mb = peak_rss_mb();
	return 0;
}

/* Kills round(f * n) live nodes chosen at random; returns how many. */
static size_t churn(struct sim *s, double f)
{
	size_t n = sim_nodes(s), want = (size_t)llround(f * (double)n), live = 0, killed = 0;
	size_t *idx = malloc(n * sizeof(*idx));

	if (!idx)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (sim_is_live(s, i))
			idx[live++] = i;
	if (want > live)
		want = live;
	/* A partial Fisher-Yates shuffle picks `want` distinct victims. */
	for (size_t k = 0; k < want; k++) {
		size_t j = k + (size_t)sim_rand_below(s, live - k), t = idx[k];

		idx[k] = idx[j];
		idx[j] = t;
		sim_kill(s, idx[k]);
		killed++;
	}
	free(idx);
	return killed;
}

/* Every node but the bootstraps draws its NAT from the run's fractions. */
static void assign_nats(struct sim *s, const struct sim_params *p, const struct sim_config *cfg)
{
	for (size_t i = 0; i < sim_nodes(s); i++) {
		double u = (double)(sim_rand(s) >> 11) / 9007199254740992.0; /* [0, 1) */
		bool boot = false;

		for (size_t b = 0; b < cfg->n_bootstrap; b++)
			boot |= cfg->bootstrap[b] == i;
		if (boot)
			continue;
		if (u < p->nat_cone)
			sim_set_nat(s, i, SIM_NAT_CONE);
		else if (u < p->nat_cone + p->nat_symmetric)
			sim_set_nat(s, i, SIM_NAT_SYMMETRIC);
		else if (u < p->nat_cone + p->nat_symmetric + p->nat_sequential)
			sim_set_nat(s, i, SIM_NAT_SEQUENTIAL);
	}
}

/* Starts node i, with a DHT engine if the run has one. */
static int start_node(struct sim *s, struct sim_dht *sd, size_t i)
{
	return sd->d ? sim_dht_start(sd, i) : sim_start(s, i);
}

/* Starts nodes [from, to) at the join rate from now on; returns the last start time. */
static int start_nodes(struct sim *s, struct sim_dht *sd, const struct sim_params *p, size_t from,
                       size_t to, uint64_t *last)
{
	uint64_t t0 = sim_now(s);
	int err;

	*last = t0;
	for (size_t i = from; i < to; i++) {
		*last = t0 + (uint64_t)floor((double)(i - from) * 1000.0 / p->join_rate);
		sim_run_until(s, *last);
		err = start_node(s, sd, i);
		if (err < 0)
			return err;
	}
	return 0;
}

/* When a read check ended, in virtual and wall time since the run's start. */
static void stamp(const struct sim *s, double wall0, struct sim_dht_read *r)
{
	r->virtual_seconds = (double)sim_now(s) / 1000.0;
	r->wall_seconds = mono_seconds() - wall0;
}

/* The DHT after the build: puts, a read check, the race, the join. */
static int dht_build(struct sim *s, struct sim_dht *sd, struct sim_ring *ring,
                     const struct sim_params *p, double wall0, struct sim_dht_key *keys,
                     struct sim_dht_report *r)
{
	uint64_t last;
	int err;

	r->enabled = true;
	err = sim_dht_put_keys(sd, &p->dht_o, keys, p->dht_keys, &r->puts);
	if (err < 0)
		return err;
	err = sim_dht_read_check(sd, ring, &p->dht_o, keys, p->dht_keys, SIZE_MAX, &r->build);
	if (err < 0)
		return err;
	stamp(s, wall0, &r->build);
	if (p->dht_race > 0) {
		r->raced = true;
		err = sim_dht_create_race(sd, &p->dht_o, p->dht_race, &r->race);
		if (err < 0)
			return err;
	}
	if (p->dht_join == 0)
		return 0;
	/* Hand-off: newcomers take over records they are now nearest to. */
	r->joined = true;
	r->join_nodes = p->dht_join;
	err = start_nodes(s, sd, p, p->nodes, p->nodes + p->dht_join, &last);
	if (err < 0)
		return err;
	r->join_consistent =
	        sim_run_until_cond(s, last + p->build_bound_ms, p->check_ms, ring_ok, ring);
	sim_run_until(s, sim_now(s) + p->dht_settle_ms);
	err = sim_dht_read_check(sd, ring, &p->dht_o, keys, p->dht_keys, p->nodes, &r->join);
	stamp(s, wall0, &r->join);
	return err;
}

int sim_scenario_run(const struct sim_params *p, struct sim_report *out)
{
	struct sim_config cfg = p->sim;
	struct sim_dht sd = {0};
	struct sim_dht_key *keys = NULL;
	struct sim_ring ring;
	struct sim *s = NULL;
	double wall0 = mono_seconds();
	bool dht = p->dht_keys > 0;
	uint64_t last_start = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->params = *p;
	if (p->nodes == 0 || p->nodes > SIM_NODES_MAX || !(p->join_rate > 0) || p->churn >= 1.0 ||
	    (!dht && (p->dht_race || p->dht_join)) || p->dht_join > SIM_NODES_MAX - p->nodes ||
	    p->dht_race > p->nodes)
		return -EINVAL;
	cfg.seed = p->seed;
	cfg.nodes = p->nodes + p->dht_join;
	/* A node must see a key's whole replica set among its near neighbours. */
	if (dht && cfg.node.leaf_per_side + 1 < p->dht.replicas)
		cfg.node.leaf_per_side = p->dht.replicas - 1;
	if (p->nat_cone < 0 || p->nat_symmetric < 0 || p->nat_sequential < 0 ||
	    p->nat_cone + p->nat_symmetric + p->nat_sequential > 1.0)
		return -EINVAL;
	err = sim_new(&cfg, &s);
	if (err < 0)
		return err;
	sim_ring_init(&ring);
	assign_nats(s, p, &cfg);
	if (dht) {
		keys = calloc(p->dht_keys, sizeof(*keys));
		err = keys ? sim_dht_init(&sd, s, &p->dht) : -ENOMEM;
		if (err < 0)
			goto out;
	}
	/* Node i starts at i / join_rate virtual seconds. */
	err = start_nodes(s, &sd, p, 0, p->nodes, &last_start);
	if (err < 0)
		goto out;
	err = phase(s, &ring, p, last_start, p->build_bound_ms, wall0, &out->build);
	if (err < 0)
		goto out;
	if (dht) {
		err = dht_build(s, &sd, &ring, p, wall0, keys, &out->dht);
		if (err < 0)
			goto out;
	}
	if (p->churn < 0)
		goto out;
	out->churned = true;
	out->killed = churn(s, p->churn);
	if (dht)
		out->dht.survivors = sim_dht_held_anywhere(&sd, keys, p->dht_keys);
	{
		const struct ovl_node_config *nc = &cfg.node;
		uint64_t bound = 3 * (uint64_t)nc->links.dead_ms + 10 * (uint64_t)nc->maintain_ms;

		err = phase(s, &ring, p, sim_now(s), bound, wall0, &out->churn);
	}
	if (err < 0 || !dht)
		goto out;
	/* Replica repair and re-puts by live writers, then the same check. */
	out->dht.churned = true;
	sim_run_until(s, sim_now(s) + p->dht_settle_ms);
	err = sim_dht_read_check(&sd, &ring, &p->dht_o, keys, p->dht_keys, SIZE_MAX,
	                         &out->dht.churn);
	stamp(s, wall0, &out->dht.churn);
out:
	if (dht && sd.d)
		sim_dht_totals(&sd, &out->dht.totals);
	sim_stats(s, &out->stats);
	sim_ring_release(&ring);
	sim_free(s);
	sim_dht_release(&sd);
	free(keys);
	return err;
}

/* ---- report ------------------------------------------------------------------------ */

static void measure_json(FILE *f, const struct sim_measure *m)
{
	fprintf(f, "\"nodes\":%zu,\"ring_consistent\":%s,\"wrong_neighbours\":%zu,", m->nodes,
	        m->consistent ? "true" : "false", m->wrong);
	if (m->converged)
		fprintf(f, "\"converge_seconds\":%.3f,", (double)m->converge_ms / 1000.0);
	else
		fprintf(f, "\"converge_seconds\":null,");
	fprintf(f,
	        "\"lookups\":%zu,\"lookup_success_rate\":%.6f,\"lookup_failures\":{\"wrong_node\":%"
	        "zu,\"route_error\":%zu,\"lost\":%zu},\"lookup_first_try_rate\":%.6f,",
	        m->lookups.count, sim_success_rate(&m->lookups), m->lookups.wrong_node,
	        m->lookups.errors, m->lookups.lost,
	        m->lookups.count ? (double)m->lookups.first_try / (double)m->lookups.count : 1.0);
	fprintf(f, "\"hops_mean\":%.3f,\"hops_p99\":%u,\"hops_max\":%u,", m->lookups.hops_mean,
	        m->lookups.hops_p99, m->lookups.hops_max);
	fprintf(f, "\"links_mean\":%.3f,\"links_max\":%zu,\"links_relayed\":%zu,", m->links_mean,
	        m->links_max, m->links_relayed);
	fprintf(f,
	        "\"virtual_seconds\":%.3f,\"wall_seconds\":%.3f,\"cpu_seconds\":%.3f,"
	        "\"peak_rss_mb\":%.1f",
	        m->virtual_seconds, m->wall_seconds, m->cpu_seconds, m->peak_rss_mb);
}

static void tally_json(FILE *f, const struct sim_dht_tally *t)
{
	/* JSON names for the outcomes, in enum dht_status order, then ours. */
	static const char *const names[SIM_DHT_OUTCOMES] = {
	        "ok", "exists", "refused", "timeout", "unreachable", "lost", "call_refused"};
	_Static_assert(DHT_STATUS_MAX == 5, "one name per enum dht_status");

	fputc('{', f);
	for (unsigned i = 0; i < SIM_DHT_OUTCOMES; i++)
		fprintf(f, "%s\"%s\":%zu", i ? "," : "", names[i], t->by[i]);
	fputc('}', f);
}

static double held_rate(const struct sim_dht_read *r)
{
	return r->slots ? (double)r->held / (double)r->slots : 1.0;
}

/* One read check: the headline figures as "dht_readable" + sfx (fractions
 * of all keys) and so on, the counts in "dht_read" + sfx. After churn,
 * also "dht_readable_live_writers": among keys whose writer still lives. */
static void read_json(FILE *f, const char *sfx, const struct sim_dht_read *r, bool writers)
{
	fprintf(f, ",\"dht_readable%s\":%.6f,\"dht_get_hops_mean%s\":%.3f,", sfx,
	        sim_dht_readable_rate(r), sfx, r->hops_mean);
	if (writers)
		fprintf(f, "\"dht_readable_live_writers\":%.6f,", sim_dht_readable_live_rate(r));
	fprintf(f, "\"dht_replicas_held%s\":%.6f,", sfx, held_rate(r));
	fprintf(f,
	        "\"dht_read%s\":{\"keys\":%zu,\"readable\":%zu,\"live_writers\":%zu,"
	        "\"readable_live_writers\":%zu,\"missing\":%zu,\"missing_live_writers\":%zu,"
	        "\"wrong\":%zu,\"hops_max\":%u,"
	        "\"replica_slots\":%zu,\"replicas_held\":%zu,\"virtual_seconds\":%.3f,"
	        "\"wall_seconds\":%.3f,\"gets\":",
	        sfx, r->keys, r->readable, r->live_writers, r->readable_live, r->missing,
	        r->missing_live, r->wrong, r->hops_max, r->slots, r->held, r->virtual_seconds,
	        r->wall_seconds);
	tally_json(f, &r->gets);
	fputc('}', f);
}

static void dht_json(FILE *f, const struct sim_report *r)
{
	const struct sim_dht_report *d = &r->dht;
	const struct dht_stats *t = &d->totals;

	fprintf(f,
	        ",\"dht_keys\":%zu,\"dht_replicas\":%u,\"dht_ttl\":%u,\"dht_refresh_seconds\":%u,"
	        "\"dht_settle_seconds\":%.3f,\"dht_put_ok\":%zu,",
	        r->params.dht_keys, r->params.dht.replicas, r->params.dht_o.ttl,
	        r->params.dht.refresh_max_s, (double)r->params.dht_settle_ms / 1000.0,
	        d->puts.by[DHT_OK]);
	fprintf(f, "\"dht_puts\":");
	tally_json(f, &d->puts);
	read_json(f, "", &d->build, false);
	if (d->raced) {
		fprintf(f,
		        ",\"dht_create_race_nodes\":%zu,\"dht_create_race_ok\":%zu,"
		        "\"dht_create_race_verified\":%s,\"dht_create_race_values\":%zu,"
		        "\"dht_create_race_copies\":{\"winner\":%zu,\"losers\":%zu},"
		        "\"dht_create_race\":",
		        d->race.nodes, d->race.creates.by[DHT_OK],
		        d->race.winner_value ? "true" : "false", d->race.values,
		        d->race.winner_copies, d->race.loser_copies);
		tally_json(f, &d->race.creates);
	}
	if (d->joined) {
		fprintf(f,
		        ",\"dht_joined\":%zu,\"dht_join_ring_consistent\":%s,"
		        "\"dht_handoff_slots\":%zu,\"dht_handoff_held\":%zu",
		        d->join_nodes, d->join_consistent ? "true" : "false", d->join.new_slots,
		        d->join.new_held);
		read_json(f, "_after_join", &d->join, false);
	}
	if (d->churned) {
		fprintf(f, ",\"dht_keys_kept_a_copy\":%zu", d->survivors);
		read_json(f, "_after_churn", &d->churn, true);
	}
	fprintf(f,
	        ",\"dht_engine\":{\"records\":%zu,\"own_values\":%zu,\"stored\":%llu,"
	        "\"refused\":%llu,\"verify_failed\":%llu,\"rate_limited\":%llu,"
	        "\"handed_off\":%llu,\"repaired\":%llu,\"synced_out\":%llu,\"expired\":%llu,"
	        "\"msgs_out\":%llu,\"frags_out\":%llu,\"reassembly_dropped\":%llu}",
	        t->records, t->own_values, (unsigned long long)t->stored,
	        (unsigned long long)t->refused, (unsigned long long)t->verify_failed,
	        (unsigned long long)t->rate_limited, (unsigned long long)t->handed_off,
	        (unsigned long long)t->repaired, (unsigned long long)t->synced_out,
	        (unsigned long long)t->expired, (unsigned long long)t->msgs_out,
	        (unsigned long long)t->frags_out, (unsigned long long)t->reassembly_dropped);
}

void sim_report_json(FILE *f, const struct sim_report *r)
{
	const struct sim_stats *st = &r->stats;

	fprintf(f, "{\"seed\":%llu,\"join_rate\":%g,\"lookup_retries\":%u,",
	        (unsigned long long)r->params.seed, r->params.join_rate, r->params.lookup_retries);
	measure_json(f, &r->build);
	fprintf(f,
	        ",\"datagrams\":{\"sent\":%llu,\"delivered\":%llu,\"lost_random\":%llu,"
	        "\"lost_dark\":%llu,\"lost_rule\":%llu},\"engine_faults\":%llu,"
	        "\"log_errors\":%llu,\"log_warnings\":%llu",
	        (unsigned long long)st->sent, (unsigned long long)st->delivered,
	        (unsigned long long)st->lost_random, (unsigned long long)st->lost_dark,
	        (unsigned long long)st->lost_rule, (unsigned long long)st->tick_past,
	        (unsigned long long)st->log_lines[0], (unsigned long long)st->log_lines[1]);
	if (r->dht.enabled)
		dht_json(f, r);
	if (r->churned) {
		fprintf(f, ",\"after_churn\":{\"churn\":%g,\"killed\":%zu,", r->params.churn,
		        r->killed);
		measure_json(f, &r->churn);
		fputc('}', f);
	}
	fputs("}\n", f);
}

/* Link ends between NAT types: direct / relayed, one row per pair seen. */
static void nat_text(FILE *f, const struct sim_nat_paths *np)
{
	static const char *const names[SIM_NAT_TYPE_MAX] = {"public", "cone", "symmetric",
	                                                    "sequential"};

	for (int a = 0; a < SIM_NAT_TYPE_MAX; a++)
		for (int b = a; b < SIM_NAT_TYPE_MAX; b++) {
			size_t d = np->direct[a][b] + (a != b ? np->direct[b][a] : 0);
			size_t r = np->relayed[a][b] + (a != b ? np->relayed[b][a] : 0);

			if (d + r)
				fprintf(f,
				        "    %-10s - %-10s  %5zu direct, %5zu relayed link ends\n",
				        names[a], names[b], d, r);
		}
}

static void measure_text(FILE *f, const char *title, const struct sim_measure *m)
{
	const struct sim_lookup_stats *l = &m->lookups;

	fprintf(f, "%s\n", title);
	fprintf(f, "  live nodes        %zu\n", m->nodes);
	fprintf(f, "  ring consistent   %s", m->consistent ? "yes" : "no");
	if (!m->consistent)
		fprintf(f, " (%zu nodes with wrong neighbours)", m->wrong);
	if (m->converged)
		fprintf(f, ", reached after %.1f virtual s\n", (double)m->converge_ms / 1000.0);
	else
		fprintf(f, ", not reached within the bound\n");
	fprintf(f, "  lookups           %zu: %.2f %% delivered at the owner", l->count,
	        100.0 * sim_success_rate(l));
	fprintf(f, " (wrong node %zu, route error %zu, lost %zu)\n", l->wrong_node, l->errors,
	        l->lost);
	fprintf(f, "  hops              mean %.2f, p99 %u, max %u\n", l->hops_mean, l->hops_p99,
	        l->hops_max);
	fprintf(f, "  links per node    mean %.1f, max %zu; %zu of %zu link ends relayed",
	        m->links_mean, m->links_max, m->links_relayed, m->links_total);
	if (m->links_relayed)
		fprintf(f, " (%zu through a bootstrap node)", m->nat.via_bootstrap);
	fprintf(f, "\n");
	if (m->links_relayed)
		nat_text(f, &m->nat);
	fprintf(f,
	        "  time              %.1f virtual s, %.1f wall s (%.1f CPU s), peak RSS %.0f MiB\n",
	        m->virtual_seconds, m->wall_seconds, m->cpu_seconds, m->peak_rss_mb);
}

static void tally_text(FILE *f, const struct sim_dht_tally *t)
{
	bool first = true;

	fprintf(f, "%zu ok", t->by[DHT_OK]);
	for (unsigned i = 1; i < SIM_DHT_OUTCOMES; i++) {
		if (!t->by[i])
			continue;
		fprintf(f, "%s%zu %s", first ? " (" : ", ", t->by[i], sim_dht_outcome_name(i));
		first = false;
	}
	if (!first)
		fputc(')', f);
}

static void read_text(FILE *f, const char *title, const struct sim_dht_read *r, bool writers)
{
	fprintf(f, "  %-17s %zu of %zu keys readable (%.2f %%)", title, r->readable, r->keys,
	        100.0 * sim_dht_readable_rate(r));
	if (r->missing || r->wrong)
		fprintf(f, ", %zu answered without the value, %zu with other bytes", r->missing,
		        r->wrong);
	fputc('\n', f);
	if (writers)
		fprintf(f, "                    writer live: %zu of %zu readable (%.2f %%)\n",
		        r->readable_live, r->live_writers, 100.0 * sim_dht_readable_live_rate(r));
	fprintf(f, "                    gets ");
	tally_text(f, &r->gets);
	fprintf(f, "; hops mean %.2f, max %u\n", r->hops_mean, r->hops_max);
	fprintf(f,
	        "                    replicas in place %zu of %zu (%.2f %%); %.1f virtual s, %.1f "
	        "wall s\n",
	        r->held, r->slots, 100.0 * held_rate(r), r->virtual_seconds, r->wall_seconds);
}

static void dht_text(FILE *f, const struct sim_report *r)
{
	const struct sim_dht_report *d = &r->dht;
	const struct dht_stats *t = &d->totals;

	fprintf(f, "DHT: %zu keys, r = %u, TTL %u s%s\n", r->params.dht_keys,
	        r->params.dht.replicas, r->params.dht_o.ttl,
	        r->params.dht_o.refresh ? ", refreshed by their writers" : "");
	fprintf(f, "  puts              ");
	tally_text(f, &d->puts);
	fputc('\n', f);
	read_text(f, "after the puts", &d->build, false);
	if (d->raced) {
		fprintf(f, "  create race       %zu nodes at once: ", d->race.nodes);
		tally_text(f, &d->race.creates);
		fprintf(f,
		        "\n                    a get then saw %zu value(s): %s; stores hold the "
		        "winner's on %zu nodes, a loser's on %zu\n",
		        d->race.values,
		        d->race.winner_value ? "the winner's only" : "NOT the single winner's",
		        d->race.winner_copies, d->race.loser_copies);
	}
	if (d->joined) {
		fprintf(f,
		        "  %zu nodes joined   ring consistent %s; hand-off: %zu of %zu newcomers' "
		        "replica slots held\n",
		        d->join_nodes, d->join_consistent ? "yes" : "no", d->join.new_held,
		        d->join.new_slots);
		read_text(f, "after the join", &d->join, false);
	}
	if (d->churned) {
		char title[48];

		fprintf(f, "  the kill          %zu of %zu keys kept a copy on a live node\n",
		        d->survivors, r->params.dht_keys);
		snprintf(title, sizeof(title), "churn + %.0f s",
		         (double)r->params.dht_settle_ms / 1000.0);
		read_text(f, title, &d->churn, true);
	}
	fprintf(f,
	        "  engines (live)    %zu records, %llu stored, %llu synced out, %llu handed off, "
	        "%llu repaired, %llu refused, %llu rate-limited, %llu bad records; %llu messages "
	        "out\n",
	        t->records, (unsigned long long)t->stored, (unsigned long long)t->synced_out,
	        (unsigned long long)t->handed_off, (unsigned long long)t->repaired,
	        (unsigned long long)t->refused, (unsigned long long)t->rate_limited,
	        (unsigned long long)t->verify_failed, (unsigned long long)t->msgs_out);
}

void sim_report_text(FILE *f, const struct sim_report *r)
{
	const struct sim_stats *st = &r->stats;

	fprintf(f, "groupvpn-sim: %zu nodes, seed %llu, join rate %g/s\n", r->params.nodes,
	        (unsigned long long)r->params.seed, r->params.join_rate);
	measure_text(f, "after the build", &r->build);
	if (r->churned) {
		char title[96];

		snprintf(title, sizeof(title), "after killing %zu nodes (churn %g)", r->killed,
		         r->params.churn);
		measure_text(f, title, &r->churn);
	}
	if (r->dht.enabled)
		dht_text(f, r);
	fprintf(f,
	        "datagrams: %llu sent, %llu delivered, %llu lost at random, %llu to dark "
	        "endpoints, %llu by rule, %llu refused by NAT routers\n",
	        (unsigned long long)st->sent, (unsigned long long)st->delivered,
	        (unsigned long long)st->lost_random, (unsigned long long)st->lost_dark,
	        (unsigned long long)st->lost_rule, (unsigned long long)st->lost_nat);
	fprintf(f,
	        "engine: %llu ticks, %llu deadlines in the past; log: %llu errors, %llu warnings\n",
	        (unsigned long long)st->ticks, (unsigned long long)st->tick_past,
	        (unsigned long long)st->log_lines[0], (unsigned long long)st->log_lines[1]);
}
