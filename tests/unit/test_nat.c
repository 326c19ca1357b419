// SPDX-License-Identifier: MIT
/*
 * Unit tests: overlay/nat.c — judging our NAT from where peers see us,
 * port prediction, the candidates a connect-to-me offers, and the choice of
 * a relay. Pure functions on values: every case is a table of observations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "nat.h"

static struct ovl_endpoint ep(const char *s)
{
	struct ovl_endpoint e;

	assert_int_equal(ovl_ep_parse(s, false, &e), 0);
	return e;
}

static struct ovl_nat_obs ob(const char *s, uint64_t since)
{
	return (struct ovl_nat_obs){.ep = ep(s), .since = since};
}

static void assert_ep(const struct ovl_endpoint *got, const char *want)
{
	char g[OVL_EP_STR_MAX];

	ovl_ep_format(got, g);
	if (strcmp(g, want))
		fail_msg("endpoint %s, want %s", g, want);
}

static const struct ovl_endpoint LOCAL[] = {{.family = 4, .addr = {192, 168, 1, 5}, .port = 7000}};

static void no_observation_is_unknown_and_offers_only_local(void **state)
{
	struct ovl_nat_view v;
	struct ovl_endpoint c[8];

	(void)state;
	ovl_nat_assess(LOCAL, 1, NULL, 0, &v);
	assert_int_equal(v.type, OVL_NAT_UNKNOWN);
	assert_string_equal(ovl_nat_type_name(v.type), "unknown");
	assert_int_equal(ovl_nat_candidates(LOCAL, 1, &v, c, 8), 1);
	assert_ep(&c[0], "192.168.1.5:7000");
}

static void peers_seeing_our_own_address_means_public(void **state)
{
	struct ovl_nat_obs o[] = {ob("192.168.1.5:7000", 1), ob("192.168.1.5:7000", 2)};
	struct ovl_nat_view v;

	(void)state;
	ovl_nat_assess(LOCAL, 1, o, 2, &v);
	assert_int_equal(v.type, OVL_NAT_NONE);
	assert_int_equal(v.n_reflexive, 0);
}

static void one_mapping_for_every_peer_is_cone_and_the_lan_view_does_not_count(void **state)
{
	/* Two public peers see the NAT's mapping; a LAN neighbour sees our own address. */
	struct ovl_nat_obs o[] = {ob("198.18.1.1:7000", 1), ob("192.168.1.5:7000", 2),
	                          ob("198.18.1.1:7000", 3)};
	struct ovl_nat_view v;
	struct ovl_endpoint c[8];

	(void)state;
	ovl_nat_assess(LOCAL, 1, o, 3, &v);
	assert_int_equal(v.type, OVL_NAT_CONE);
	assert_int_equal(v.n_reflexive, 1);
	assert_int_equal(v.n_predicted, 0);
	assert_int_equal(ovl_nat_candidates(LOCAL, 1, &v, c, 8), 2);
	assert_ep(&c[0], "192.168.1.5:7000"); /* local first: a LAN peer reaches it */
	assert_ep(&c[1], "198.18.1.1:7000");
}

static void the_most_reported_mapping_leads_after_a_nat_rebinding(void **state)
{
	/* Two peers already see the new mapping, one still the old. */
	struct ovl_nat_obs o[] = {ob("198.18.1.1:7000", 1), ob("198.18.1.9:7000", 5),
	                          ob("198.18.1.9:7000", 6)};
	struct ovl_nat_view v;

	(void)state;
	ovl_nat_assess(LOCAL, 1, o, 3, &v);
	assert_int_equal(v.type, OVL_NAT_CONE); /* two hosts, one port each */
	assert_ep(&v.reflexive[0], "198.18.1.9:7000");
	assert_ep(&v.reflexive[1], "198.18.1.1:7000");
}

static void random_ports_per_peer_are_symmetric_without_prediction(void **state)
{
	struct ovl_nat_obs o[] = {ob("198.18.1.3:41000", 1), ob("198.18.1.3:2311", 2),
	                          ob("198.18.1.3:60999", 3)};
	struct ovl_nat_view v;
	struct ovl_endpoint c[8];

	(void)state;
	ovl_nat_assess(LOCAL, 1, o, 3, &v);
	assert_int_equal(v.type, OVL_NAT_SYMMETRIC);
	assert_string_equal(ovl_nat_type_name(v.type), "symmetric");
	assert_int_equal(v.n_predicted, 0);
	/* Only the newest mapping besides our own: the others belong to other peers. */
	assert_int_equal(ovl_nat_candidates(LOCAL, 1, &v, c, 8), 2);
	assert_ep(&c[1], "198.18.1.3:60999");
}

static void steady_port_steps_predict_the_next_ports(void **state)
{
	/* Mappings made in the order of their links: 30010, 30014, 30018 (given out of order). */
	struct ovl_nat_obs o[] = {ob("198.18.1.3:30014", 20), ob("198.18.1.3:30018", 30),
	                          ob("198.18.1.3:30010", 10)};
	struct ovl_nat_view v;
	struct ovl_endpoint c[8];

	(void)state;
	ovl_nat_assess(LOCAL, 1, o, 3, &v);
	assert_int_equal(v.type, OVL_NAT_SYMMETRIC);
	assert_int_equal(v.n_predicted, 3);
	assert_ep(&v.predicted[0], "198.18.1.3:30022");
	assert_ep(&v.predicted[1], "198.18.1.3:30026");
	assert_ep(&v.predicted[2], "198.18.1.3:30030");
	assert_int_equal(ovl_nat_candidates(LOCAL, 1, &v, c, 8), 5);
	assert_ep(&c[1], "198.18.1.3:30018");
	assert_ep(&c[2], "198.18.1.3:30022");
}

static void two_nearby_increasing_ports_predict_the_ones_after(void **state)
{
	struct ovl_nat_obs o[] = {ob("198.18.1.3:20968", 1), ob("198.18.1.3:20974", 2)};
	struct ovl_nat_view v;

	(void)state;
	ovl_nat_assess(LOCAL, 1, o, 2, &v);
	assert_int_equal(v.n_predicted, 3);
	assert_ep(&v.predicted[0], "198.18.1.3:20975");
	assert_ep(&v.predicted[2], "198.18.1.3:20977");
}

static void far_apart_or_wrapping_ports_predict_nothing_out_of_range(void **state)
{
	struct ovl_nat_obs far[] = {ob("198.18.1.3:1000", 1), ob("198.18.1.3:9000", 2)};
	struct ovl_nat_obs edge[] = {ob("198.18.1.3:65529", 1), ob("198.18.1.3:65532", 2),
	                             ob("198.18.1.3:65535", 3)};
	struct ovl_nat_view v;

	(void)state;
	ovl_nat_assess(LOCAL, 1, far, 2, &v);
	assert_int_equal(v.n_predicted, 0);
	ovl_nat_assess(LOCAL, 1, edge, 3, &v);
	assert_int_equal(v.n_predicted, 0); /* 65538 and beyond are no ports */
}

static struct ovl_relay_offer offer(uint8_t id, uint16_t rtt)
{
	struct ovl_relay_offer o = {.rtt_ms = rtt};

	o.addr.b[0] = id;
	o.ep = ep("198.18.0.1:7000");
	o.ep.addr[3] = id;
	return o;
}

static void the_common_relay_with_the_smallest_rtt_sum_wins(void **state)
{
	struct cert_addr self = {{0xee}}, peer = {{0xdd}};
	/* Ours: 1 (5 ms), 2 (40 ms), 3 (unmeasured). Theirs: 2 (5 ms), 1 (50 ms), 3 (1 ms), 4 (1
	 * ms). */
	struct ovl_relay_offer mine[] = {offer(1, 5), offer(2, 40), offer(3, 0)};
	struct ovl_relay_offer theirs[] = {offer(2, 5), offer(1, 50), offer(3, 1), offer(4, 1)};
	bool linked;

	(void)state;
	/* 1: 55, 2: 45, 3: 1000 + 1 (unmeasured on our side), 4: not ours. */
	assert_int_equal(ovl_relay_choose(mine, 3, theirs, 4, &self, &peer, 0, 0, &linked), 0);
	assert_true(linked);
	/* Relay 2 failed: the next best common one, 1. */
	assert_int_equal(ovl_relay_choose(mine, 3, theirs, 4, &self, &peer, 1u << 0, 0, &linked),
	                 1);
	assert_true(linked);
}

static void without_a_common_member_the_peers_nearest_relay_is_linked_first(void **state)
{
	struct cert_addr self = {{0xee}}, peer = {{0xdd}};
	struct ovl_relay_offer mine[] = {offer(1, 5)};
	struct ovl_relay_offer theirs[] = {offer(7, 30), offer(8, 9), offer(9, 0)};
	bool linked = true;

	(void)state;
	assert_int_equal(ovl_relay_choose(mine, 1, theirs, 3, &self, &peer, 0, 0, &linked), 1);
	assert_false(linked);
}

static void ourselves_the_peer_and_failed_offers_never_relay(void **state)
{
	struct cert_addr self = {{0xee}}, peer = {{0xdd}};
	struct ovl_relay_offer mine[] = {offer(0xdd, 1), offer(0xee, 1)};
	struct ovl_relay_offer theirs[] = {offer(0xee, 1), offer(0xdd, 1), offer(5, 2)};
	bool linked;

	(void)state;
	assert_int_equal(ovl_relay_choose(mine, 2, theirs, 3, &self, &peer, 0, 0, &linked), 2);
	assert_false(linked);
	assert_int_equal(ovl_relay_choose(mine, 2, theirs, 3, &self, &peer, 1u << 2, 0, &linked),
	                 -1);
	assert_int_equal(ovl_relay_choose(mine, 0, NULL, 0, &self, &peer, 0, 0, &linked), -1);
}

static void a_bootstrap_node_relays_only_as_a_last_resort(void **state)
{
	struct cert_addr self = {{0xee}}, peer = {{0xdd}};
	/* Relay 1 is a bootstrap node, nearer than member 2. */
	struct ovl_relay_offer mine[] = {offer(1, 2), offer(2, 30)};
	struct ovl_relay_offer theirs[] = {offer(1, 2), offer(2, 30)};
	bool linked;

	(void)state;
	assert_int_equal(ovl_relay_choose(mine, 2, theirs, 2, &self, &peer, 0, 0, &linked), 0);
	assert_int_equal(ovl_relay_choose(mine, 2, theirs, 2, &self, &peer, 0, 1u << 0, &linked),
	                 1);
	/* ... but it still relays when it is the only one. */
	assert_int_equal(ovl_relay_choose(mine, 1, theirs, 1, &self, &peer, 0, 1u << 0, &linked),
	                 0);
	assert_true(linked);
}

static void ties_go_to_the_lower_address_on_both_sides(void **state)
{
	struct cert_addr a = {{0xaa}}, b = {{0xbb}};
	struct ovl_relay_offer x[] = {offer(9, 10), offer(3, 10)};
	bool linked;

	(void)state;
	/* Both ends see the same sums: both pick relay 3, whichever side asks. */
	assert_int_equal(ovl_relay_choose(x, 2, x, 2, &a, &b, 0, 0, &linked), 1);
	assert_int_equal(ovl_relay_choose(x, 2, x, 2, &b, &a, 0, 0, &linked), 1);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	        cmocka_unit_test(no_observation_is_unknown_and_offers_only_local),
	        cmocka_unit_test(peers_seeing_our_own_address_means_public),
	        cmocka_unit_test(
	                one_mapping_for_every_peer_is_cone_and_the_lan_view_does_not_count),
	        cmocka_unit_test(the_most_reported_mapping_leads_after_a_nat_rebinding),
	        cmocka_unit_test(random_ports_per_peer_are_symmetric_without_prediction),
	        cmocka_unit_test(steady_port_steps_predict_the_next_ports),
	        cmocka_unit_test(two_nearby_increasing_ports_predict_the_ones_after),
	        cmocka_unit_test(far_apart_or_wrapping_ports_predict_nothing_out_of_range),
	        cmocka_unit_test(the_common_relay_with_the_smallest_rtt_sum_wins),
	        cmocka_unit_test(without_a_common_member_the_peers_nearest_relay_is_linked_first),
	        cmocka_unit_test(ourselves_the_peer_and_failed_offers_never_relay),
	        cmocka_unit_test(a_bootstrap_node_relays_only_as_a_last_resort),
	        cmocka_unit_test(ties_go_to_the_lower_address_on_both_sides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
