#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# nat_relay.sh BIN_DIR: members behind symmetric NAT routers (nftables
# masquerade random: a new public port for every destination; unsolicited
# packets dropped) in the NAT lab of vnet_lib.sh. Proves:
#   - the ring takes them in: every member leases an address and reaches
#     every other one;
#   - symmetric <-> public goes direct within 2 s of the first packet;
#   - symmetric <-> cone (port-preserving) and symmetric <-> symmetric: ping
#     works at once (over the overlay meanwhile), then the path is relayed
#     through a public member both link to, as `dhtctl status` says; TCP runs
#     across; the relay counts the datagrams and none of them, nor anything
#     else on its wire, holds the tunnelled bytes in the clear.
# Needs root (exit 77 otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/vnet_lib.sh
. "$HERE/vnet_lib.sh"

lab_init "${1:-}" 1 300

section "the NAT lab: boot and m1 public; c1 behind a port-preserving NAT;"
echo "   s1, s2 behind symmetric NATs of their own"
lab_nat_router 1 cone
lab_nat_router 3 symmetric
lab_nat_router 4 symmetric
lab_nat_node c1 1 2
lab_nat_node s1 3 2
lab_nat_node s2 4 2
NATTED=(c1 s1 s2)
MEMBERS+=("${NATTED[@]}")

section "group and members"
lab_nat_group vsym "${NATTED[@]}"
pass "4 members up with addresses, the two behind symmetric NATs too"
for n in s1 s2; do
	until_ok 20 "$n sees a symmetric NAT" \
		test "$(sfield "$n" '["nat"]["type"]')" = symmetric
done
until_ok 20 "c1 sees a cone NAT" test "$(sfield c1 '["nat"]["type"]')" = cone
until_ok 20 "m1 sees no NAT" test "$(sfield m1 '["nat"]["type"]')" = none

relay() { link_field "$1" "$2" relay; } # the member relaying A's link to B ('' if direct)

section "every pair reaches the other"
for a in m1 "${NATTED[@]}"; do
	for b in m1 "${NATTED[@]}"; do
		[ "$a" = "$b" ] || lab_ping "$a" "${VIP[$b]}" 20
	done
done

section "symmetric -> public: direct within 2 s of the first packet"
t0=$(now_ms)
lab_ping s1 "${VIP[m1]}" 10
until_ok 10 "s1 -> m1 direct" vpath_now s1 m1 direct
took=$(($(now_ms) - t0))
[ "$took" -le $((2000 * TIME_SCALE + 1000)) ] || fail "s1 -> m1 direct after $took ms (target 2 s)"
pass "s1 -> m1 direct $took ms after the first packet (polling included)"

section "symmetric <-> cone and symmetric <-> symmetric: relayed, through a public member"
for pair in "s1 c1" "s1 s2"; do
	read -r a b <<<"$pair"
	until_ok 20 "$a -> $b relayed" vpath_now "$a" "$b" relayed
	r=$(relay "$a" "$b")
	case $r in
	boot1 | m1) pass "$a -> $b relayed through $r (dhtctl status: path relayed, relay $r)" ;;
	*) fail "$a -> $b: relay '$r', want boot1 or m1 (a member both link to directly)" ;;
	esac
	[ "$(link_field "$b" "$a" path)" = relayed ] ||
		fail "$b's link to $a is not relayed too"
done

section "TCP across the relay, and what the relay sees"
r=$(relay s1 s2)
[ "$r" = boot1 ] && rnode=boot || rnode=m1
before=$(sfield "$rnode" '["nat"]["relayed"]')
MARK=$(printf 'gvpn-mark-%06d' $(($$ % 1000000)))
MARK_HEX=$(printf %s "$MARK" | od -An -tx1 | tr -d ' \n')
capture_start relaywire "$rnode" eth0 udp
nsx s1 ping -n -c 5 -i 0.2 -W 2 -s 64 -p "$MARK_HEX" "${VIP[s2]}" >"$WORK/marker.out" 2>&1 ||
	{ cat "$WORK/marker.out" >&2; fail "marker pings s1 -> s2 (relayed)"; }
lab_tcp s1 s2 2
bps=$TCP_BPS
capture_stop relaywire
[ "$(vpath s1 s2)" = relayed ] || fail "s1 -> s2 left the relay during the test"
pass "s1 -> s2 through $r: TCP at $((bps / 1000000)) Mbit/s"
after=$(sfield "$rnode" '["nat"]["relayed"]')
[ "$after" -gt "$before" ] || fail "$r relayed nothing ($before -> $after datagrams)"
pass "$r relayed $((after - before)) datagrams meanwhile"
# The relay forwards each echo request (92 bytes of ICMP inside two layers)
# from its own address: datagrams of at least 150 bytes.
read -r packets _ hits big <<<"$(pcap_scan "$WORK/relaywire.pcap" "$MARK" "${UNDER[$rnode]}" 150)"
[ "$big" -ge 5 ] || fail "the capture on $r saw $big big datagrams from it, want >= 5: it proves nothing"
[ "$hits" = 0 ] || fail "the marker appeared in the clear on $r's wire ($hits packets)"
pass "$packets packets on $r's wire ($big relayed datagrams from it): '$MARK' in none"

lab_finish
pass "all nodes stopped cleanly"
