#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vnet_partition.sh BIN_DIR: two members that each took one address while
# the group was split in two, with no way to see each other, end up with
# exactly one holding it once the partition heals — the one alloc.h's rule
# picks (here: the earlier lease) — and the other moves to a new address,
# says so in its log, and both can talk again. Needs root (exit 77 otherwise).
#
# Lab (vnet_lib.sh): namespace boot runs bootstrap node boot1, m3 a second
# bootstrap node boot2; members p1 (in m1) and p2 (in m2) list both. Side A
# = {boot, m1}, side B = {m3, m2}: nftables drops every packet between the
# sides until the heal. Both members start with state files naming the same
# address, p1's lease from 1000 s after the epoch, p2's from 2000 s.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/vnet_lib.sh
. "$HERE/vnet_lib.sh"

lab_init "${1:-}" 3 300
ADDR=100.64.0.77
# Partitions merge through rejoins; leases are looked at every 2 s.
TUNING+=(--tuning rejoin_ms=3000)
VT=(--tuning conflict_check_ms=2000 --tuning alloc_delay_ms=300)

section "group: two bootstrap nodes, two members that list both"
lab_issue vpart 100.64.0.0/16 0
boots=(--bootstrap "${UNDER[boot]}:$PORT" --bootstrap "${UNDER[m3]}:$PORT")
for n in boot2 p1 p2; do
	run "$GVPN_CERT" issue --ca ca --name "$n" "${boots[@]}" --out "$n.json"
	[ "$RC" = 0 ] || { show_out; fail "issue $n"; }
done
mkdir -p p1.state p2.state
echo "$ADDR 1000" >p1.state/address
echo "$ADDR 2000" >p2.state/address
pass "boot2.json, p1.json, p2.json; both state files name $ADDR (p1 since 1000, p2 since 2000)"

section "split: side A {boot, m1} and side B {m3, m2} cannot reach each other"
# drop_from NODE ADDR ADDR: NODE's namespace drops all to and from both.
drop_from() {
	nsx "$1" nft -f - <<EOF
table inet gvlab {
	chain in { type filter hook input priority 0; ip saddr { $2, $3 } counter drop; }
	chain out { type filter hook output priority 0; ip daddr { $2, $3 } counter drop; }
}
EOF
}
for n in boot m1; do drop_from "$n" "${UNDER[m3]}" "${UNDER[m2]}"; done
for n in m3 m2; do drop_from "$n" "${UNDER[boot]}" "${UNDER[m1]}"; done
pass "nftables drops between the sides"

lab_start_boot
lab_bg boot2 m3 "$BOOT" -c boot2.json --listen "0.0.0.0:$PORT" --control "$WORK/boot2.sock" \
	--log-level debug "${TUNING[@]}"
lab_wait_started boot2
lab_bg p1 m1 "$GVPND" -c p1.json --foreground --control "$WORK/p1.sock" --state-dir "$WORK/p1.state" \
	--log-level debug "${TUNING[@]}" "${VT[@]}"
lab_wait_started p1
lab_bg p2 m2 "$GVPND" -c p2.json --foreground --control "$WORK/p2.sock" --state-dir "$WORK/p2.state" \
	--log-level debug "${TUNING[@]}" "${VT[@]}"
lab_wait_started p2

[ "$(lab_vip p1)" = "$ADDR" ] || fail "p1 did not take $ADDR on side A"
[ "$(lab_vip p2)" = "$ADDR" ] || fail "p2 did not take $ADDR on side B"
pass "both sides gave $ADDR away: p1 on side A, p2 on side B (each side's DHT saw one claim)"

section "heal: the rule keeps p1 (earlier lease) on $ADDR and moves p2"
for n in boot m1 m3 m2; do nsx "$n" nft delete table inet gvlab; done
t0=$(now_ms)
p2_moved() {
	local v
	v=$(sfield p2 '["virtual_ip"]')
	[ -n "$v" ] && [ "$v" != "$ADDR" ]
}
until_ok 90 "p2 moving off $ADDR" p2_moved
moved_ms=$(($(now_ms) - t0))
P2=$(sfield p2 '["virtual_ip"]')
[ "$(sfield p1 '["virtual_ip"]')" = "$ADDR" ] || fail "p1 lost $ADDR although its lease is earlier"
grep -q "address $ADDR is also claimed by p1, whose claim wins" "$WORK/p2.log" ||
	fail "p2's log does not say why it moved"
grep -q "address $ADDR is also claimed" "$WORK/p1.log" && fail "p1 thinks it lost"
[ "$(cut -d' ' -f1 p2.state/address)" = "$P2" ] || fail "p2's state file still names the old address"
pass "p1 keeps $ADDR; p2 moved to $P2 after ${moved_ms} ms and logged why; its state file follows"

section "everyone agrees, and the two talk"
resolves_to_p1() {
	ctl "$1" resolve "$ADDR" --json >"$WORK/resolve.out" 2>&1 &&
		grep -q '"name": *"p1"' "$WORK/resolve.out"
}
for n in p1 p2; do until_ok 30 "$n resolving $ADDR to p1" resolves_to_p1 "$n"; done
lab_ping m1 "$P2" 20
lab_ping m2 "$ADDR" 20
pass "p1 and p2 resolve $ADDR to p1; p1 <-> p2 ping"

lab_finish
pass "all nodes stopped cleanly"
