// SPDX-License-Identifier: MIT
/*
 * Simulator tests: the overlay engines (overlay/node.c with the crypto
 * stand-in) in virtual time, through tools/sim. One test per CTest entry:
 * `test_sim NAME`.
 *
 *   ring_200         200 nodes form a consistent ring; >= 99 % of lookups
 *                    end at the true owner of their key.
 *   churn_200        after 20 % of them die at once, the ring heals and
 *                    lookups succeed again.
 *   partition_merge  two halves that cannot reach each other build two
 *                    rings; once the network heals they merge into one.
 *   scheduler        the event loop itself: deadlines, dark endpoints,
 *                    drop rules, seeded determinism on a tiny ring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"
#include "scenario.h"

static void print_measure(const char *what, const struct sim_measure *m)
{
	print_message("%s: %zu live, consistent %d (wrong %zu), lookups %zu ok %zu "
	              "(wrong node %zu, error %zu, lost %zu), hops mean %.2f p99 %u, links mean "
	              "%.1f max %zu, %.1f virtual s\n",
	              what, m->nodes, m->consistent, m->wrong, m->lookups.count, m->lookups.ok,
	              m->lookups.wrong_node, m->lookups.errors, m->lookups.lost,
	              m->lookups.hops_mean, m->lookups.hops_p99, m->links_mean, m->links_max,
	              m->virtual_seconds);
}

static void test_ring_200(void **state)
{
	struct sim_params p;
	struct sim_report r;

	(void)state;
	sim_params_default(&p);
	p.nodes = 200;
	p.seed = 200;
	p.lookups = 1000;
	assert_int_equal(sim_scenario_run(&p, &r), 0);
	print_measure("build", &r.build);
	assert_int_equal(r.build.nodes, 200);
	assert_true(r.build.consistent);
	assert_true(r.build.converged);
	assert_int_equal(r.build.lookups.count, 1000);
	assert_true(sim_success_rate(&r.build.lookups) >= 0.99);
	assert_int_equal(r.build.lookups.wrong_node, 0);
	assert_true(r.build.lookups.hops_mean > 0);
	assert_true(r.build.links_max > 0);
	assert_int_equal(r.stats.tick_past, 0);
}

static void test_churn_200(void **state)
{
	struct sim_params p;
	struct sim_report r;

	(void)state;
	sim_params_default(&p);
	p.nodes = 200;
	p.seed = 201;
	p.lookups = 1000;
	p.churn = 0.2;
	assert_int_equal(sim_scenario_run(&p, &r), 0);
	print_measure("build", &r.build);
	print_measure("after churn", &r.churn);
	assert_true(r.build.consistent);
	assert_true(r.churned);
	assert_int_equal(r.killed, 40);
	assert_int_equal(r.churn.nodes, 160);
	assert_true(r.churn.consistent);
	assert_true(sim_success_rate(&r.churn.lookups) >= 0.99);
	assert_int_equal(r.churn.lookups.wrong_node, 0);
}

/* ---- partition merge ---------------------------------------------------------- */

#define PM_NODES     100
#define PM_REJOIN_MS 5000

struct partition {
	bool split;
};

/* Even nodes are one half, odd nodes the other. */
static bool pm_drop(void *ctx, const struct sim *s, size_t src, size_t dst, const uint8_t *buf,
                    size_t len)
{
	const struct partition *pm = ctx;

	(void)s;
	(void)buf;
	(void)len;
	return pm->split && (src & 1) != (dst & 1);
}

struct half {
	int parity; /* 0, 1, or -1 for everyone */
	size_t wrong;
};

static int ent_cmp(const void *a, const void *b)
{
	return ovl_addr_cmp(&((const struct sim_ring_ent *)a)->addr,
	                    &((const struct sim_ring_ent *)b)->addr);
}

/* The ring among the live nodes of one half is consistent. */
static bool half_ok(struct sim *s, void *ctx)
{
	struct half *h = ctx;
	struct sim_ring_ent *e = calloc(sim_nodes(s), sizeof(*e));
	size_t n = 0;

	assert_non_null(e);
	for (size_t i = 0; i < sim_nodes(s); i++) {
		if (!sim_is_live(s, i) || (h->parity >= 0 && (int)(i & 1) != h->parity))
			continue;
		e[n].addr = *sim_addr(s, i);
		e[n].node = (uint32_t)i;
		n++;
	}
	qsort(e, n, sizeof(*e), ent_cmp);
	h->wrong = 0;
	for (size_t j = 0; j < n && n > 1; j++) {
		struct cert_addr p, q;

		if (!ovl_node_neighbours(sim_node_c(s, e[j].node), &p, &q) ||
		    !ovl_addr_eq(&p, &e[(j + n - 1) % n].addr) ||
		    !ovl_addr_eq(&q, &e[(j + 1) % n].addr))
			h->wrong++;
	}
	free(e);
	return h->wrong == 0;
}

static bool halves_ok(struct sim *s, void *ctx)
{
	struct half *h = ctx;

	return half_ok(s, &h[0]) && half_ok(s, &h[1]);
}

static void test_partition_merge(void **state)
{
	struct partition pm = {.split = true};
	struct half halves[2] = {{.parity = 0}, {.parity = 1}}, all = {.parity = -1};
	struct sim_lookup_opts lo;
	struct sim_lookup_stats ls;
	struct sim_config cfg;
	struct sim_ring ring;
	struct sim *s;
	uint64_t healed;

	(void)state;
	sim_config_default(&cfg);
	cfg.seed = 77;
	cfg.nodes = PM_NODES;
	/* One bootstrap in each half: each half can only ever reach its own. */
	cfg.bootstrap[0] = 0;
	cfg.bootstrap[1] = 1;
	cfg.n_bootstrap = 2;
	cfg.node.rejoin_ms = PM_REJOIN_MS;
	assert_int_equal(sim_new(&cfg, &s), 0);
	sim_set_drop(s, pm_drop, &pm);
	sim_ring_init(&ring);
	for (size_t i = 0; i < PM_NODES; i++) {
		sim_run_until(s, i * 20); /* 50 per second */
		assert_int_equal(sim_start(s, i), 0);
	}
	/* Two separate rings, each consistent on its own. */
	assert_true(sim_run_until_cond(s, sim_now(s) + 180000, 1000, halves_ok, halves));
	print_message("two rings after %.1f virtual s\n", (double)sim_now(s) / 1000.0);
	/* They stay two, every node running in its own, through several rejoin
	 * rounds that cannot cross. */
	sim_run_until(s, sim_now(s) + 6 * PM_REJOIN_MS);
	assert_true(halves_ok(s, halves));
	assert_false(half_ok(s, &all));
	print_message("still two at %.1f virtual s; as one ring %zu nodes are wrong\n",
	              (double)sim_now(s) / 1000.0, all.wrong);
	for (size_t i = 0; i < PM_NODES; i++) {
		assert_int_equal(ovl_node_state(sim_node_c(s, i)), OVL_NODE_RUNNING);
	}
	for (size_t i = 0; i < PM_NODES; i++) {
		struct ovl_node_link links[64];
		size_t k = ovl_node_links(sim_node_c(s, i), links, 64);

		for (size_t j = 0; j < k && j < 64; j++)
			assert_int_equal(sim_node_of(s, &links[j].endpoint) & 1, i & 1);
	}
	/* Heal: one ring within a bound of rejoin rounds. */
	pm.split = false;
	healed = sim_now(s);
	assert_true(sim_run_until_cond(s, healed + 24 * PM_REJOIN_MS, 1000, half_ok, &all));
	print_message("one ring %.1f virtual s after healing\n",
	              (double)(sim_now(s) - healed) / 1000.0);
	sim_lookup_opts_default(&lo);
	lo.count = 500;
	lo.retries = 2;
	assert_int_equal(sim_lookups(s, &ring, &lo, &ls), 0);
	print_message("lookups %zu ok %zu, hops mean %.2f\n", ls.count, ls.ok, ls.hops_mean);
	assert_true(ls.ok >= 495);
	assert_int_equal(ls.wrong_node, 0);
	sim_ring_release(&ring);
	sim_free(s);
}

/* ---- the scheduler itself --------------------------------------------------------- */

static bool drop_all(void *ctx, const struct sim *s, size_t src, size_t dst, const uint8_t *buf,
                     size_t len)
{
	(void)buf;
	(void)len;
	(void)ctx;
	(void)s;
	(void)src;
	(void)dst;
	return true;
}

static void run_tiny(uint64_t seed, struct sim_stats *st, struct cert_addr *a0, size_t *wrong)
{
	struct sim_config cfg;
	struct sim_ring ring;
	struct sim *s;

	sim_config_default(&cfg);
	cfg.seed = seed;
	cfg.nodes = 8;
	assert_int_equal(sim_new(&cfg, &s), 0);
	sim_ring_init(&ring);
	for (size_t i = 0; i < cfg.nodes; i++) {
		sim_run_until(s, i * 100);
		assert_int_equal(sim_start(s, i), 0);
	}
	assert_int_equal(sim_start(s, 3), -EALREADY);
	sim_run_until(s, 60000);
	*wrong = sim_ring_wrong(&ring, s);
	*a0 = *sim_addr(s, 0);
	sim_stats(s, st);
	sim_ring_release(&ring);
	sim_free(s);
}

static void test_scheduler(void **state)
{
	struct sim_stats a, b, c;
	struct cert_addr a0, b0, c0;
	struct sim_config cfg;
	struct ovl_endpoint ep;
	size_t wrong;
	struct sim *s;

	(void)state;
	/* Endpoints: node i at 198.18.0.0 + i + 1, port 7000; nothing else maps. */
	sim_config_default(&cfg);
	cfg.nodes = 300;
	assert_int_equal(sim_new(&cfg, &s), 0);
	ep = *sim_endpoint(s, 299);
	assert_int_equal(ep.addr[1], 18);
	assert_int_equal(ep.addr[2], 1);
	assert_int_equal(ep.addr[3], 44);
	assert_int_equal(sim_node_of(s, &ep), 299);
	ep.port = 7001;
	assert_int_equal(sim_node_of(s, &ep), SIZE_MAX);
	ep = *sim_endpoint(s, 0);
	ep.addr[3] = 0;
	assert_int_equal(sim_node_of(s, &ep), SIZE_MAX);
	/* A node alone: its bootstraps (1, 2) are dark and it cannot link to
	 * itself (0); it ends solo, ticking on its own deadlines. */
	assert_int_equal(sim_start(s, 0), 0);
	sim_run_until(s, 30000);
	assert_int_equal(sim_now(s), 30000);
	assert_int_equal(ovl_node_state(sim_node(s, 0)), OVL_NODE_SOLO);
	sim_stats(s, &a);
	assert_true(a.ticks > 1);
	assert_true(a.lost_dark > 0);
	assert_int_equal(ovl_node_links(sim_node_c(s, 0), NULL, 0), 0);
	assert_int_equal(a.tick_past, 0);
	/* A drop rule sees everything; nothing then arrives. */
	sim_set_drop(s, drop_all, NULL);
	assert_int_equal(sim_start(s, 1), 0);
	sim_run_until(s, 40000);
	sim_stats(s, &b);
	assert_true(b.lost_rule > 0);
	assert_int_equal(b.delivered, a.delivered); /* node 0 only talks to itself */
	sim_kill(s, 1);
	assert_false(sim_is_live(s, 1));
	assert_int_equal(sim_live(s), 1);
	assert_int_equal(sim_start(s, 1), -EALREADY);
	sim_free(s);

	/* Same seed, same run; another seed, another. */
	run_tiny(5, &a, &a0, &wrong);
	assert_int_equal(wrong, 0);
	run_tiny(5, &b, &b0, &wrong);
	run_tiny(6, &c, &c0, &wrong);
	assert_memory_equal(&a0, &b0, sizeof(a0));
	assert_memory_equal(&a, &b, sizeof(a));
	assert_memory_not_equal(&a0, &c0, sizeof(a0));
	assert_true(a.sent != c.sent || a.events != c.events);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest all[] = {
	        cmocka_unit_test(test_ring_200),
	        cmocka_unit_test(test_churn_200),
	        cmocka_unit_test(test_partition_merge),
	        cmocka_unit_test(test_scheduler),
	};
	static const char *const names[] = {"ring_200", "churn_200", "partition_merge",
	                                    "scheduler"};

	if (argc == 2) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(argv[1], names[i]))
				return _cmocka_run_group_tests(names[i], &all[i], 1, NULL, NULL);
		fprintf(stderr, "test_sim: no test '%s'\n", argv[1]);
		return 2;
	}
	return cmocka_run_group_tests(all, NULL, NULL);
}
