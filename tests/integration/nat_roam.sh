#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# nat_roam.sh BIN_DIR: members whose underlay address changes keep their
# links and sessions (docs/nat.md, roaming):
#   - a public member's interface is re-addressed: it notices (netlink),
#     pings every link from the new address, and traffic both ways resumes
#     within 2 s, with no new join and no new link (the same session keys);
#   - the NAT router in front of a member gets a new public address (NAT
#     rebinding: every mapping is new): traffic with public members resumes
#     within 2 s, and the direct link to a member behind another NAT is
#     punched again onto the new mapping, with its keys kept.
# Needs root (exit 77 otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/vnet_lib.sh
. "$HERE/vnet_lib.sh"

lab_init "${1:-}" 1 300

section "the lab: boot and m1 public; c1 and c2 behind port-preserving NATs"
lab_nat_router 1 cone
lab_nat_router 2 cone
lab_nat_node c1 1 2
lab_nat_node c2 2 2
NATTED=(c1 c2)
MEMBERS+=("${NATTED[@]}")
lab_nat_group vroam "${NATTED[@]}"
pass "3 members up with addresses"

link_ep() { link_field "$1" "$2" endpoint; } # the endpoint of A's link to NAME
# ups A NAME: how many times A's log says its link to NAME came up.
ups() {
	grep -c "link to $2 (.*) up" "$WORK/$1.log" || true
}
for pair in "c1 m1" "m1 c1" "c1 c2" "c2 c1"; do
	read -r a b <<<"$pair"
	lab_ping "$a" "${VIP[$b]}" 20
	until_ok 10 "$a -> $b direct" vpath_now "$a" "$b" direct
done

# resumed_within MS A B: after a move, pings A -> B until one is answered;
# fails if that took more than MS (times GVPN_TIME_SCALE).
resumed_within() {
	local limit=$(($1 * TIME_SCALE)) a=$2 b=$3 t0 took
	t0=$(now_ms)
	until nsx "$a" ping -n -c 1 -W 0.2 "${VIP[$b]}" >/dev/null 2>&1; do
		[ $(($(now_ms) - t0)) -le $((limit + 5000)) ] || fail "$a -> $b: no answer $((limit + 5000)) ms after the move"
	done
	took=$(($(now_ms) - T_MOVE))
	[ "$took" -le "$limit" ] || fail "$a -> $b resumed $took ms after the move (target $limit ms)"
	pass "$a -> $b answered $took ms after the move"
}

section "m1's interface is re-addressed: 198.18.0.11 -> 198.18.0.21"
for n in boot c1 c2; do eval "UPS_$n=\$(ups $n m1)"; done
# The new address first, then the old one goes (promoted, not taken along).
nsx m1 sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1
T_MOVE=$(now_ms)
nsx m1 ip addr add 198.18.0.21/16 dev eth0
nsx m1 ip addr del 198.18.0.11/16 dev eth0
UNDER[m1]=198.18.0.21
resumed_within 2000 c1 m1
resumed_within 2000 m1 c2
until_ok 5 "the bootstrap node's link to m1 moved to 198.18.0.21" \
	test "$(link_ep boot m1)" = 198.18.0.21:$PORT
for n in boot c1 c2; do
	[ "$(ups "$n" m1)" = "$(eval echo "\$UPS_$n")" ] || fail "$n made a new link to m1 instead of moving the old one"
done
grep -q "m1 moved from 198.18.0.11:$PORT to 198.18.0.21:$PORT" "$WORK/c1.log" ||
	fail "c1's log does not say m1 moved"
[ "$(sfield m1 '["state"]')" = running ] || fail "m1 is not running"
pass "no new link to m1 anywhere: the links moved, with their session keys"

section "c1's NAT router gets a new public address: 198.18.1.1 -> 198.18.1.101"
for n in boot m1 c2; do eval "UPS_$n=\$(ups $n c1)"; done
nsx r1 sysctl -qw net.ipv4.conf.wan.promote_secondaries=1
T_MOVE=$(now_ms)
nsx r1 ip addr add 198.18.1.101/16 dev wan
nsx r1 ip addr del 198.18.1.1/16 dev wan
resumed_within 2000 c1 m1
resumed_within 2000 m1 c1
resumed_within 2000 c2 c1
resumed_within 2000 c1 c2
until_ok 5 "c1 -> c2 direct again" vpath_now c1 c2 direct
moved_to_101() { case $(link_ep c2 c1) in 198.18.1.101:*) true ;; *) false ;; esac; }
until_ok 5 "c2's link to c1 moved to 198.18.1.101" moved_to_101
for n in boot m1 c2; do
	[ "$(ups "$n" c1)" = "$(eval echo "\$UPS_$n")" ] || fail "$n made a new link to c1 instead of moving the old one"
done
pass "no new link to c1 anywhere: the links moved, with their session keys"

lab_finish
pass "all nodes stopped cleanly"
