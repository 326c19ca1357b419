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
}

double sim_success_rate(const struct sim_lookup_stats *l)
{
	return l->count ? (double)l->ok / (double)l->count : 1.0;
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

int sim_scenario_run(const struct sim_params *p, struct sim_report *out)
{
	struct sim_config cfg = p->sim;
	struct sim_ring ring;
	struct sim *s = NULL;
	double wall0 = mono_seconds();
	uint64_t last_start = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->params = *p;
	if (p->nodes == 0 || p->nodes > SIM_NODES_MAX || !(p->join_rate > 0) || p->churn >= 1.0)
		return -EINVAL;
	cfg.seed = p->seed;
	cfg.nodes = p->nodes;
	err = sim_new(&cfg, &s);
	if (err < 0)
		return err;
	sim_ring_init(&ring);
	/* Node i starts at i / join_rate virtual seconds. */
	for (size_t i = 0; i < p->nodes; i++) {
		last_start = (uint64_t)floor((double)i * 1000.0 / p->join_rate);
		sim_run_until(s, last_start);
		err = sim_start(s, i);
		if (err < 0)
			goto out;
	}
	err = phase(s, &ring, p, last_start, p->build_bound_ms, wall0, &out->build);
	if (err < 0 || p->churn < 0)
		goto out;
	out->churned = true;
	out->killed = churn(s, p->churn);
	{
		const struct ovl_node_config *nc = &cfg.node;
		uint64_t bound = 3 * (uint64_t)nc->links.dead_ms + 10 * (uint64_t)nc->maintain_ms;

		err = phase(s, &ring, p, sim_now(s), bound, wall0, &out->churn);
	}
out:
	sim_stats(s, &out->stats);
	sim_ring_release(&ring);
	sim_free(s);
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
	fprintf(f, "\"links_mean\":%.3f,\"links_max\":%zu,", m->links_mean, m->links_max);
	fprintf(f,
	        "\"virtual_seconds\":%.3f,\"wall_seconds\":%.3f,\"cpu_seconds\":%.3f,"
	        "\"peak_rss_mb\":%.1f",
	        m->virtual_seconds, m->wall_seconds, m->cpu_seconds, m->peak_rss_mb);
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
	if (r->churned) {
		fprintf(f, ",\"after_churn\":{\"churn\":%g,\"killed\":%zu,", r->params.churn,
		        r->killed);
		measure_json(f, &r->churn);
		fputc('}', f);
	}
	fputs("}\n", f);
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
	fprintf(f, "  links per node    mean %.1f, max %zu\n", m->links_mean, m->links_max);
	fprintf(f,
	        "  time              %.1f virtual s, %.1f wall s (%.1f CPU s), peak RSS %.0f MiB\n",
	        m->virtual_seconds, m->wall_seconds, m->cpu_seconds, m->peak_rss_mb);
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
	fprintf(f,
	        "datagrams: %llu sent, %llu delivered, %llu lost at random, %llu to dark "
	        "endpoints, %llu by rule\n",
	        (unsigned long long)st->sent, (unsigned long long)st->delivered,
	        (unsigned long long)st->lost_random, (unsigned long long)st->lost_dark,
	        (unsigned long long)st->lost_rule);
	fprintf(f,
	        "engine: %llu ticks, %llu deadlines in the past; log: %llu errors, %llu warnings\n",
	        (unsigned long long)st->ticks, (unsigned long long)st->tick_past,
	        (unsigned long long)st->log_lines[0], (unsigned long long)st->log_lines[1]);
}
