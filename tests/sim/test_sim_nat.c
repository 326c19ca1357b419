// SPDX-License-Identifier: MIT
/*
 * Simulator tests of NAT traversal (overlay/node_punch.c, node_relay.c,
 * nat.c): the overlay engines in virtual time behind simulated NAT routers
 * (tools/sim: cone, symmetric with random ports, sequential symmetric), with
 * the crypto stand-in. One test per CTest entry: `test_sim_nat NAME`.
 *
 *   ring_200     200 nodes, most behind NATs, form a consistent ring and
 *                route lookups to their owners; members behind symmetric
 *                NATs get relayed links.
 *   pairs        shortcut links between chosen pairs: direct through cone
 *                NATs and through a sequential NAT (port prediction),
 *                relayed between symmetric ones, through the common member
 *                with the smallest RTT sum.
 *   upgrade      a relayed link between two public members (a firewall
 *                between them) moves to a direct path once the firewall
 *                opens, without a new handshake; when its relay dies it is
 *                rebuilt through another.
 *   roam         a member's NAT rebinds (a new public port for everything):
 *                its direct link to a member behind another NAT follows it
 *                (RP_PUNCH and probes), with no new link.
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
#include "link.h"
#include "nat.h"
#include "measure.h"
#include "node.h"
#include "scenario.h"

static void test_ring_200(void **state)
{
	struct sim_params p;
	struct sim_report r;

	(void)state;
	sim_params_default(&p);
	p.nodes = 200;
	p.seed = 300;
	p.lookups = 1000;
	p.nat_cone = 0.4;
	p.nat_symmetric = 0.2;
	p.nat_sequential = 0.1;
	p.settle_ms = 90000; /* a few probe rounds: relayed links leave the bootstrap nodes */
	assert_int_equal(sim_scenario_run(&p, &r), 0);
	print_message("build: consistent %d (wrong %zu) after %.1f s, lookups %zu ok %zu (wrong "
	              "node %zu, error %zu, lost %zu), hops %.2f, links mean %.1f max %zu, "
	              "relayed %zu of %zu, lost at NATs %llu\n",
	              r.build.consistent, r.build.wrong, (double)r.build.converge_ms / 1000.0,
	              r.build.lookups.count, r.build.lookups.ok, r.build.lookups.wrong_node,
	              r.build.lookups.errors, r.build.lookups.lost, r.build.lookups.hops_mean,
	              r.build.links_mean, r.build.links_max, r.build.links_relayed,
	              r.build.links_total, (unsigned long long)r.stats.lost_nat);
	assert_true(r.build.consistent);
	assert_true(sim_success_rate(&r.build.lookups) >= 0.99);
	assert_int_equal(r.build.lookups.wrong_node, 0);
	assert_true(r.build.links_relayed > 0);
	{
		const struct sim_nat_paths *np = &r.build.nat;
		enum {
			P = SIM_NAT_NONE,
			C = SIM_NAT_CONE,
			S = SIM_NAT_SYMMETRIC,
			Q = SIM_NAT_SEQUENTIAL
		};

		print_message(
		        "cone-cone %zu/%zu, public-symmetric %zu/%zu, cone-symmetric %zu/%zu, "
		        "cone-sequential %zu/%zu link ends direct/relayed\n",
		        np->direct[C][C], np->relayed[C][C], np->direct[P][S], np->relayed[P][S],
		        np->direct[C][S], np->relayed[C][S], np->direct[C][Q], np->relayed[C][Q]);
		/* Where a direct path exists, the link took it (after any relayed start)... */
		for (int t = 0; t < SIM_NAT_TYPE_MAX; t++)
			assert_int_equal(np->relayed[P][t] + np->relayed[t][P], 0);
		assert_int_equal(np->relayed[C][C], 0);
		assert_true(np->direct[C][C] > 0);
		/* ... where none can, it is relayed (the NAT model and our links agree)... */
		assert_int_equal(np->direct[C][S] + np->direct[S][C] + np->direct[S][S], 0);
		assert_true(np->relayed[C][S] > 0 && np->relayed[S][S] > 0);
		/* ... port prediction opens some through a NAT that counts up... */
		assert_true(np->direct[C][Q] + np->direct[Q][C] > 0);
		/* ... and bootstrap nodes, where every member joins, relay next to nothing. */
		print_message("%zu of %zu relayed link ends through a bootstrap node\n",
		              np->via_bootstrap, r.build.links_relayed);
		assert_true(np->via_bootstrap * 20 < r.build.links_relayed);
	}
	assert_true(r.stats.lost_nat > 0); /* the routers did refuse something */
	assert_int_equal(r.stats.tick_past, 0);
}

/* ---- a small ring with chosen NATs -------------------------------------------- */

struct block {
	size_t a, b; /* SIZE_MAX: none */
	size_t c, d;
};

/* A firewall between the pairs (a, b) and (c, d), both ways. */
static bool block_drop(void *ctx, const struct sim *s, size_t src, size_t dst, const uint8_t *buf,
                       size_t len)
{
	const struct block *b = ctx;

	(void)s;
	(void)buf;
	(void)len;
	return (src == b->a && dst == b->b) || (src == b->b && dst == b->a) ||
	       (src == b->c && dst == b->d) || (src == b->d && dst == b->c);
}

static bool consistent(struct sim *s, void *ctx)
{
	return sim_ring_consistent(ctx, s);
}

/* n nodes, node i behind nat[i % n_nat] (the three bootstraps public),
 * started at 50 a second; returns once the ring is consistent and has had
 * 20 s more of upkeep. */
static struct sim *build_cfg(uint64_t seed, size_t n, const enum sim_nat_type *nat, size_t n_nat,
                             struct sim_ring *ring, const struct sim_config *base)
{
	struct sim_config cfg = *base;
	struct sim *s;

	cfg.seed = seed;
	cfg.nodes = n;
	assert_int_equal(sim_new(&cfg, &s), 0);
	for (size_t i = 3; i < n; i++)
		assert_int_equal(sim_set_nat(s, i, nat[i % n_nat]), 0);
	for (size_t i = 0; i < n; i++) {
		sim_run_until(s, sim_now(s) + 20);
		assert_int_equal(sim_start(s, i), 0);
	}
	sim_ring_init(ring);
	if (!sim_run_until_cond(s, sim_now(s) + 300000, 500, consistent, ring))
		fail_msg("the ring of %zu nodes did not become consistent (%zu wrong)", n,
		         sim_ring_wrong(ring, s));
	sim_run_until(s, sim_now(s) + 20000);
	return s;
}

static struct sim *build(uint64_t seed, size_t n, const enum sim_nat_type *nat, size_t n_nat,
                         struct sim_ring *ring)
{
	struct sim_config cfg;

	sim_config_default(&cfg);
	return build_cfg(seed, n, nat, n_nat, ring, &cfg);
}

static bool linked(struct sim *s, size_t a, size_t b)
{
	return ovl_node_linked(sim_node_c(s, a), sim_addr(s, b), NULL);
}

static bool relayed(struct sim *s, size_t a, size_t b)
{
	return ovl_node_link_relayed(sim_node_c(s, a), sim_addr(s, b));
}

/* The node relaying a's link to b, or SIZE_MAX. */
static size_t relay_of(struct sim *s, size_t a, size_t b)
{
	struct ovl_node_link ls[128];
	size_t k = ovl_node_links(sim_node_c(s, a), ls, 128);

	for (size_t i = 0; i < k && i < 128; i++) {
		if (!ls[i].relayed || !ovl_addr_eq(&ls[i].addr, sim_addr(s, b)))
			continue;
		for (size_t j = 0; j < sim_nodes(s); j++)
			if (ovl_addr_eq(sim_addr(s, j), &ls[i].relay))
				return j;
	}
	return SIZE_MAX;
}

struct pair {
	size_t a, b;
	bool want_relayed; /* only where reaching it is what is checked */
};

static bool pair_linked(struct sim *s, void *ctx)
{
	const struct pair *p = ctx;

	return linked(s, p->a, p->b) && linked(s, p->b, p->a);
}

static bool pair_direct(struct sim *s, void *ctx)
{
	const struct pair *p = ctx;

	return pair_linked(s, ctx) && !relayed(s, p->a, p->b) && !relayed(s, p->b, p->a);
}

/* The first pair (a, b) of the given NAT types that is not linked yet. */
static bool find_pair(struct sim *s, enum sim_nat_type ta, enum sim_nat_type tb, struct pair *out)
{
	for (size_t a = 3; a < sim_nodes(s); a++)
		for (size_t b = 3; b < sim_nodes(s); b++)
			if (a != b && sim_nat(s, a) == ta && sim_nat(s, b) == tb &&
			    !linked(s, a, b)) {
				out->a = a;
				out->b = b;
				return true;
			}
	return false;
}

/* A shortcut from p->a to p->b, as vnet asks for one; how long it took to
 * link (UINT64_MAX: not within bound_ms). */
static uint64_t shortcut(struct sim *s, struct pair *p, uint64_t bound_ms)
{
	uint64_t t0 = sim_now(s);

	assert_int_equal(
	        ovl_node_connect_to(sim_node(s, p->a), t0, sim_addr(s, p->b), OVL_KIND_SHORTCUT),
	        0);
	sim_poke(s, p->a);
	if (!sim_run_until_cond(s, t0 + bound_ms, 10, pair_linked, p))
		return UINT64_MAX;
	return sim_now(s) - t0;
}

static const char *nat_name(enum sim_nat_type t)
{
	static const char *const names[] = {"public", "cone", "symmetric", "sequential"};

	return (unsigned)t < SIM_NAT_TYPE_MAX ? names[t] : "?";
}

static void test_pairs(void **state)
{
	static const enum sim_nat_type mix[] = {SIM_NAT_NONE, SIM_NAT_CONE, SIM_NAT_SYMMETRIC,
	                                        SIM_NAT_SEQUENTIAL, SIM_NAT_CONE};
	/* direct: must be direct within 2 s; else linked either way, and relayed
	 * where no direct path can exist. */
	static const struct {
		enum sim_nat_type a, b;
		bool direct;
	} cases[] = {
	        {SIM_NAT_CONE, SIM_NAT_CONE, true},
	        {SIM_NAT_NONE, SIM_NAT_SYMMETRIC, true},
	        {SIM_NAT_SYMMETRIC, SIM_NAT_NONE, true},
	        {SIM_NAT_SEQUENTIAL, SIM_NAT_CONE, false}, /* direct only if prediction hits */
	        {SIM_NAT_SYMMETRIC, SIM_NAT_CONE, false},
	        {SIM_NAT_SYMMETRIC, SIM_NAT_SYMMETRIC, false},
	};
	struct sim_ring ring;
	struct sim *s = build(400, 60, mix, sizeof(mix) / sizeof(mix[0]), &ring);

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct pair p;
		uint64_t took;
		size_t r;

		if (!find_pair(s, cases[k].a, cases[k].b, &p))
			fail_msg("no unlinked %s-%s pair in the ring", nat_name(cases[k].a),
			         nat_name(cases[k].b));
		took = shortcut(s, &p, 20000);
		print_message("%s n%zu -> %s n%zu: linked after %lld ms, %s\n",
		              nat_name(cases[k].a), p.a, nat_name(cases[k].b), p.b,
		              took == UINT64_MAX ? -1LL : (long long)took,
		              took == UINT64_MAX     ? "-"
		              : relayed(s, p.a, p.b) ? "relayed"
		                                     : "direct");
		if (took == UINT64_MAX)
			fail_msg("%s-%s: no link within 20 s", nat_name(cases[k].a),
			         nat_name(cases[k].b));
		if (cases[k].direct) {
			if (relayed(s, p.a, p.b) || relayed(s, p.b, p.a))
				fail_msg("%s-%s: relayed, want direct", nat_name(cases[k].a),
				         nat_name(cases[k].b));
			if (took > 2000)
				fail_msg("%s-%s: direct after %llu ms, want <= 2 s",
				         nat_name(cases[k].a), nat_name(cases[k].b),
				         (unsigned long long)took);
			continue;
		}
		if (!relayed(s, p.a, p.b) && cases[k].a == SIM_NAT_SEQUENTIAL)
			continue; /* the predicted port was right */
		if (!relayed(s, p.a, p.b) || !relayed(s, p.b, p.a))
			fail_msg("%s-%s: direct through NATs that cannot do it?",
			         nat_name(cases[k].a), nat_name(cases[k].b));
		/* Through a member both ends have direct links to, the same on both sides. */
		r = relay_of(s, p.a, p.b);
		assert_true(r != SIZE_MAX);
		assert_true(linked(s, p.a, r) && !relayed(s, p.a, r));
		assert_true(linked(s, p.b, r) && !relayed(s, p.b, r));
		/* Still there after a probe round or two: nothing tears it down. */
		sim_run_until(s, sim_now(s) + 30000);
		assert_true(pair_linked(s, &p));
	}
	sim_ring_release(&ring);
	sim_free(s);
}

/* Two public members behind a firewall are relayed; when it opens, a probe
 * moves the same link onto the direct path. A relayed link whose relay dies
 * comes back through another. */
static void test_upgrade(void **state)
{
	static const enum sim_nat_type mix[] = {SIM_NAT_NONE};
	struct block blk = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
	struct sim_ring ring;
	struct sim *s;
	struct pair p = {0}, q = {0};
	struct ovl_links_stats before, after;
	uint64_t since, t0;
	size_t r, r2;

	(void)state;
	s = build(401, 24, mix, 1, &ring);
	/* Two pairs not linked yet, behind firewalls from now on. */
	assert_true(find_pair(s, SIM_NAT_NONE, SIM_NAT_NONE, &p));
	blk.a = p.a;
	blk.b = p.b;
	sim_set_drop(s, block_drop, &blk);
	for (q.a = 3; q.a < sim_nodes(s); q.a++) {
		for (q.b = q.a + 1; q.b < sim_nodes(s); q.b++)
			if (!linked(s, q.a, q.b) && q.a != p.a && q.a != p.b && q.b != p.a &&
			    q.b != p.b)
				break;
		if (q.b < sim_nodes(s))
			break;
	}
	assert_true(q.a < sim_nodes(s));
	blk.c = q.a;
	blk.d = q.b;

	assert_true(shortcut(s, &p, 20000) != UINT64_MAX);
	assert_true(relayed(s, p.a, p.b));
	since = ovl_node_link_since(sim_node_c(s, p.a), sim_addr(s, p.b));
	ovl_links_stats(ovl_node_links_engine(sim_node(s, p.a)), &before);
	blk.a = blk.b = SIZE_MAX; /* the firewall opens */
	t0 = sim_now(s);
	if (!sim_run_until_cond(s, t0 + 60000, 10, pair_direct, &p))
		fail_msg("the relayed link did not go direct within 60 s of the firewall opening");
	ovl_links_stats(ovl_node_links_engine(sim_node(s, p.a)), &after);
	print_message("relayed -> direct %llu ms after the firewall opened\n",
	              (unsigned long long)(sim_now(s) - t0));
	/* The same link (no new one came up) moved by an answered probe. */
	assert_int_equal(ovl_node_link_since(sim_node_c(s, p.a), sim_addr(s, p.b)), since);
	{
		struct ovl_links_stats sb;

		ovl_links_stats(ovl_node_links_engine(sim_node(s, p.b)), &sb);
		assert_true(after.probe_moves > before.probe_moves || sb.probe_moves > 0);
	}

	/* The second pair: relayed; its relay dies; it is relayed again through another. */
	assert_true(shortcut(s, &q, 20000) != UINT64_MAX);
	assert_true(relayed(s, q.a, q.b));
	r = relay_of(s, q.a, q.b);
	assert_true(r != SIZE_MAX);
	sim_kill(s, r);
	t0 = sim_now(s);
	/* Gone within the dead timeout (no datagram gets through any more)... */
	while (linked(s, q.a, q.b) && relay_of(s, q.a, q.b) == r && sim_now(s) < t0 + 45000)
		sim_run_until(s, sim_now(s) + 100);
	assert_false(linked(s, q.a, q.b) && relay_of(s, q.a, q.b) == r);
	/* ... and vnet would ask again: relayed through someone else. */
	if (!linked(s, q.a, q.b))
		assert_true(shortcut(s, &q, 20000) != UINT64_MAX);
	r2 = relay_of(s, q.a, q.b);
	print_message("relay n%zu died; relayed again through n%zu after %llu ms\n", r, r2,
	              (unsigned long long)(sim_now(s) - t0));
	assert_true(r2 != SIZE_MAX && r2 != r);
	sim_ring_release(&ring);
	sim_free(s);
}

struct moved {
	size_t at, of;
	struct ovl_endpoint from;
};

/* at's link to `of` is up, direct, and no longer at the old endpoint. */
static bool link_moved(struct sim *s, void *ctx)
{
	const struct moved *m = ctx;
	struct ovl_node_link ls[128];
	size_t k = ovl_node_links(sim_node_c(s, m->at), ls, 128);

	for (size_t i = 0; i < k && i < 128; i++)
		if (ovl_addr_eq(&ls[i].addr, sim_addr(s, m->of)))
			return !ls[i].relayed && ls[i].endpoint.family == 4 &&
			       !ovl_ep_eq(&ls[i].endpoint, &m->from);
	return false;
}

static struct ovl_endpoint endpoint_of(struct sim *s, size_t at, size_t of)
{
	struct ovl_node_link ls[128];
	size_t k = ovl_node_links(sim_node_c(s, at), ls, 128);

	for (size_t i = 0; i < k && i < 128; i++)
		if (ovl_addr_eq(&ls[i].addr, sim_addr(s, of)))
			return ls[i].endpoint;
	fail_msg("n%zu has no link to n%zu", at, of);
	return ls[0].endpoint;
}

static void test_roam(void **state)
{
	static const enum sim_nat_type mix[] = {SIM_NAT_CONE, SIM_NAT_NONE};
	struct sim_config cfg;
	struct sim_ring ring;
	struct sim *s;
	struct pair p = {0};
	struct moved m;
	uint64_t since_a, since_b, t0;

	(void)state;
	sim_config_default(&cfg);
	cfg.node.links.keepalive_ms = 1000;
	cfg.node.links.dead_ms = 4000;
	cfg.node.maintain_ms = 1000;
	s = build_cfg(402, 16, mix, 2, &ring, &cfg);
	/* Two members behind cone NATs, linked directly. */
	for (p.a = 3; p.a < sim_nodes(s) && !p.b; p.a++)
		for (size_t b = p.a + 1; b < sim_nodes(s); b++)
			if (sim_nat(s, p.a) == SIM_NAT_CONE && sim_nat(s, b) == SIM_NAT_CONE &&
			    linked(s, p.a, b) && !relayed(s, p.a, b)) {
				p.b = b;
				break;
			}
	p.a--;
	assert_true(p.b != 0);
	since_a = ovl_node_link_since(sim_node_c(s, p.a), sim_addr(s, p.b));
	since_b = ovl_node_link_since(sim_node_c(s, p.b), sim_addr(s, p.a));
	m = (struct moved){.at = p.b, .of = p.a, .from = endpoint_of(s, p.b, p.a)};

	assert_int_equal(sim_nat_rebind(s, p.a), 0);
	assert_int_equal(sim_nat_rebind(s, 0), -EINVAL); /* a public node has no NAT */
	t0 = sim_now(s);
	/* The NATed peer follows: the same link, at the new mapping, direct. */
	if (!sim_run_until_cond(s, t0 + 3 * cfg.node.links.dead_ms, 10, link_moved, &m))
		fail_msg("n%zu's link to n%zu did not follow its NAT's new mapping", p.b, p.a);
	print_message(
	        "n%zu's NAT rebound: n%zu's link to it moved after %llu ms (keepalive %u ms)\n",
	        p.a, p.b, (unsigned long long)(sim_now(s) - t0), cfg.node.links.keepalive_ms);
	assert_int_equal(ovl_node_link_since(sim_node_c(s, p.a), sim_addr(s, p.b)), since_a);
	assert_int_equal(ovl_node_link_since(sim_node_c(s, p.b), sim_addr(s, p.a)), since_b);
	/* And it keeps working: still the same link a dead timeout later. */
	sim_run_until(s, sim_now(s) + 2 * cfg.node.links.dead_ms);
	assert_int_equal(ovl_node_link_since(sim_node_c(s, p.b), sim_addr(s, p.a)), since_b);
	assert_true(link_moved(s, &m));
	sim_ring_release(&ring);
	sim_free(s);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest all[] = {
	        cmocka_unit_test(test_ring_200),
	        cmocka_unit_test(test_pairs),
	        cmocka_unit_test(test_upgrade),
	        cmocka_unit_test(test_roam),
	};
	static const char *const names[] = {"ring_200", "pairs", "upgrade", "roam"};

	if (argc == 2) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(argv[1], names[i]))
				return _cmocka_run_group_tests(names[i], &all[i], 1, NULL, NULL);
		fprintf(stderr, "test_sim_nat: no test '%s'\n", argv[1]);
		return 2;
	}
	return cmocka_run_group_tests(all, NULL, NULL);
}
