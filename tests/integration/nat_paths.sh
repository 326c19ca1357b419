#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# nat_paths.sh BIN_DIR: groupvpnd members behind NAT routers (vnet_lib.sh's
# NAT lab: nftables masquerade, replies only inwards, unsolicited packets
# dropped) reach each other directly, within 2 s of the first packet:
#   public <-> NAT, NAT <-> NAT (both port-preserving), two members behind
#   one NAT; and TCP runs between two NATed members.
# Needs root (exit 77 otherwise). Symmetric NATs and relayed links are in
# nat_relay.sh, address changes in nat_roam.sh, loss in nat_loss.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/vnet_lib.sh
. "$HERE/vnet_lib.sh"

lab_init "${1:-}" 1 300

section "the NAT lab: m1 public; c1, c2 behind their own port-preserving NATs;"
echo "   l1, l2 behind one port-preserving NAT"
lab_nat_router 1 cone
lab_nat_router 2 cone
lab_nat_router 5 cone
lab_nat_node c1 1 2
lab_nat_node c2 2 2
lab_nat_node l1 5 2
lab_nat_node l2 5 3
NATTED=(c1 c2 l1 l2)
for n in "${NATTED[@]}"; do
	nsx "$n" ping -n -c 1 -W 2 "${UNDER[boot]}" >/dev/null || fail "$n cannot reach the bootstrap node"
done
if nsx boot ping -n -c 1 -W 1 "${UNDER[c1]}" >/dev/null 2>&1 ||
	nsx boot ping -n -c 1 -W 1 198.18.1.1 >/dev/null 2>&1; then
	fail "a NATed host (or its router) answers unsolicited packets from outside"
fi
pass "every NATed host reaches out; nothing reaches in unasked"

section "group and members"
lab_nat_group vnat "${NATTED[@]}"
pass "5 members up with addresses"


section "direct where the NATs allow it (within 2 s of the first packet)"
for pair in "m1 c1" "c1 m1" "c1 c2" "c2 c1" "l1 l2"; do
	read -r a b <<<"$pair"
	t0=$(now_ms)
	lab_ping "$a" "${VIP[$b]}" 20
	until_ok 10 "a direct path $a -> $b" vpath_now "$a" "$b" direct
	took=$(($(now_ms) - t0))
	[ "$took" -le $((2000 * TIME_SCALE + 1000)) ] ||
		fail "$a -> $b took $took ms to go direct (target: 2 s from the first packet)"
	pass "$a -> $b direct, $took ms after the first packet (polling included)"
done

section "TCP between two NATed members"
lab_tcp c1 c2 2
bps=$TCP_BPS
pass "c1 -> c2 through both NATs: TCP at $((bps / 1000000)) Mbit/s ($(vpath c1 c2))"

lab_finish
pass "all nodes stopped cleanly"
