// SPDX-License-Identifier: MIT
/*
 * scenario — groupvpn-sim's experiment: build a ring by starting nodes at a
 * join rate, let maintenance run until the ring is consistent, measure;
 * optionally kill a fraction of the nodes at once, let the ring heal,
 * measure again. Also the report's JSON and text forms. The tests under
 * tests/sim run the same function the tool runs.
 */
#ifndef GVPN_TOOLS_SIM_SCENARIO_H
#define GVPN_TOOLS_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "measure.h"
#include "sim.h"

struct sim_params {
	size_t nodes;
	uint64_t seed;
	size_t lookups;
	double churn;            /* fraction killed at once; < 0: no churn phase */
	double join_rate;        /* nodes started per virtual second */
	uint32_t build_bound_ms; /* after the last start, give up waiting for consistency */
	uint32_t check_ms;       /* consistency checked this often while waiting */
	uint32_t settle_ms;      /* extra maintenance after consistency, before measuring (30 s) */
	unsigned lookup_retries; /* see struct sim_lookup_opts */
	/* The simulation's configuration (node template, loss, bootstrap); the
	 * seed and node count above override its own. */
	struct sim_config sim;
};
void sim_params_default(struct sim_params *p);

struct sim_measure {
	size_t nodes; /* live */
	bool consistent;
	size_t wrong;         /* nodes whose neighbours were wrong */
	bool converged;       /* consistency was reached while waiting */
	uint64_t converge_ms; /* from the last start (or the kill) to consistency */
	struct sim_lookup_stats lookups;
	double links_mean;
	size_t links_max;
	/* Since the start of the run, at the end of this measurement. */
	double virtual_seconds, wall_seconds, cpu_seconds, peak_rss_mb;
};

struct sim_report {
	struct sim_params params;
	struct sim_measure build;
	bool churned;
	size_t killed;
	struct sim_measure churn;
	struct sim_stats stats;
};

/* Runs the whole experiment. 0, or -EINVAL / -ENOMEM / an engine's error. */
int sim_scenario_run(const struct sim_params *p, struct sim_report *out);

/* One JSON object on one line (newline-terminated). */
void sim_report_json(FILE *f, const struct sim_report *r);
/* The readable summary. */
void sim_report_text(FILE *f, const struct sim_report *r);

double sim_success_rate(const struct sim_lookup_stats *l);

#endif
