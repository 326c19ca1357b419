// SPDX-License-Identifier: MIT
/*
 * scenario — groupvpn-sim's experiment: build a ring by starting nodes at a
 * join rate, let maintenance run until the ring is consistent, measure;
 * optionally kill a fraction of the nodes at once, let the ring heal,
 * measure again. Also the report's JSON and text forms. The tests under
 * tests/sim run the same function the tool runs.
 *
 * With dht_keys > 0 every node runs a DHT engine, and after the build's
 * measure: the keys are put and read back; optionally N nodes race to
 * create one key; optionally more nodes join (hand-off) and the keys are
 * read again; after churn the DHT gets dht_settle_ms of upkeep and the keys
 * are read once more.
 */
#ifndef GVPN_TOOLS_SIM_SCENARIO_H
#define GVPN_TOOLS_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "measure.h"
#include "sim.h"
#include "simdht.h"

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
	/* DHT phase: none if dht_keys is 0. */
	size_t dht_keys;
	struct dht_config dht;     /* every engine's (replicas, refresh_max_s, ...) */
	struct sim_dht_opts dht_o; /* ttl, refresh, spacing and requests in flight */
	uint32_t dht_settle_ms;    /* upkeep after a join or churn, before reading (60 s) */
	size_t dht_race;           /* nodes racing to create one key (0: no race) */
	size_t dht_join;           /* nodes started once the keys are stored (0: none) */
	/* Fractions of the nodes, bootstraps excepted, behind a NAT router of
	 * their own: cone, symmetric (random ports), sequential symmetric. */
	double nat_cone, nat_symmetric, nat_sequential;
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
	size_t links_total, links_relayed; /* both ends counted */
	struct sim_nat_paths nat;          /* ... by the NAT types at the ends */
	/* Since the start of the run, at the end of this measurement. */
	double virtual_seconds, wall_seconds, cpu_seconds, peak_rss_mb;
};

struct sim_dht_report {
	bool enabled;
	struct sim_dht_tally puts;
	struct sim_dht_read build; /* right after the puts */
	bool raced;
	struct sim_dht_race race;
	bool joined;
	size_t join_nodes;
	bool join_consistent; /* the ring took the newcomers in within the bound */
	struct sim_dht_read join;
	bool churned;
	size_t survivors; /* keys some live node still held right after the kill */
	struct sim_dht_read churn;
	struct dht_stats totals; /* summed over the nodes live at the end */
};

struct sim_report {
	struct sim_params params;
	struct sim_measure build;
	bool churned;
	size_t killed;
	struct sim_measure churn;
	struct sim_dht_report dht;
	struct sim_stats stats;
};

/* Runs the whole experiment. 0, or -EINVAL / -ENOMEM / an engine's error. */
int sim_scenario_run(const struct sim_params *p, struct sim_report *out);

/* One JSON object on one line (newline-terminated). */
void sim_report_json(FILE *f, const struct sim_report *r);
/* The readable summary. */
void sim_report_text(FILE *f, const struct sim_report *r);

double sim_success_rate(const struct sim_lookup_stats *l);
/* readable / keys, and among keys whose writer is live (1 if there are none). */
double sim_dht_readable_rate(const struct sim_dht_read *r);
double sim_dht_readable_live_rate(const struct sim_dht_read *r);

#endif
