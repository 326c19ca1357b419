#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vnet_ping.sh BIN_DIR: groupvpnd in a namespace lab (vnet_lib.sh): a
# bootstrap node and three members get distinct virtual addresses in the
# group's network; every member pings every other; dhtctl resolve names the
# holder; traffic moves to direct links; iperf3 runs through the tunnel; a
# member stopped with SIGTERM and started again with its state directory
# gets its address back. Needs root (exit 77 otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/vnet_lib.sh
. "$HERE/vnet_lib.sh"

lab_init "${1:-}" 3

section "the underlay: one segment, no route out"
for m in "${MEMBERS[@]}"; do
	nsx "$m" ping -n -c 1 -W 2 "${UNDER[boot]}" >/dev/null || fail "$m cannot reach the bootstrap node"
	[ -z "$(nsx "$m" ip route show default)" ] || fail "$m has a default route"
done
pass "every member reaches ${UNDER[boot]}; no default route"

section "group, bootstrap node, members"
lab_issue vping 100.64.0.0/16 3
lab_start_boot
for i in 1 2 3; do lab_start_member "$i"; done
pass "groupvpn-bootstrap and 3 groupvpnd running"

section "virtual addresses: allocated, distinct, in 100.64.0.0/16, on gvpn0"
declare -A VIP=()
for m in "${MEMBERS[@]}"; do
	VIP[$m]=$(lab_vip "$m")
	"$PY" -c 'import ipaddress, sys
a = ipaddress.ip_address(sys.argv[1])
n = ipaddress.ip_network("100.64.0.0/16")
sys.exit(0 if a in n and a not in (n.network_address, n.broadcast_address) else 1)' "${VIP[$m]}" ||
		fail "$m: ${VIP[$m]} is not a host of 100.64.0.0/16"
	nsx "$m" ip -j addr show dev gvpn0 >"$WORK/$m.addr"
	"$PY" -c 'import json, sys
l = json.load(open(sys.argv[1]))[0]
ok = "UP" in l["flags"] and any(a["family"] == "inet" and a["local"] == sys.argv[2] and a["prefixlen"] == 16
                               for a in l.get("addr_info", []))
sys.exit(0 if ok else 1)' "$WORK/$m.addr" "${VIP[$m]}" || { cat "$WORK/$m.addr" >&2; fail "$m: gvpn0 lacks ${VIP[$m]}/16 or is down"; }
	pass "$m: ${VIP[$m]}/16 on gvpn0 (up, MTU $(sfield "$m" '["mtu"]'))"
done
[ "$(printf '%s\n' "${VIP[@]}" | sort -u | wc -l)" = 3 ] || fail "addresses not distinct: ${VIP[*]}"
pass "3 distinct addresses: ${VIP[*]}"

section "every ordered pair pings"
for a in "${MEMBERS[@]}"; do
	for b in "${MEMBERS[@]}"; do
		[ "$a" = "$b" ] && continue
		lab_ping "$a" "${VIP[$b]}" 20
	done
done

section "dhtctl resolve: the holder of each address"
declare -A ADDR=()
for m in "${MEMBERS[@]}"; do
	ADDR[$m]=$(sfield "$m" '["address"]')
done
for a in "${MEMBERS[@]}"; do
	for b in "${MEMBERS[@]}"; do
		run ctl "$a" resolve "${VIP[$b]}" --json
		[ "$RC" = 0 ] || { show_out; fail "$a: resolve ${VIP[$b]}"; }
		got=$("$PY" -c 'import json, sys; r = json.loads(sys.argv[1]); print(r["ip"], r["address"], r["name"])' "$OUT")
		[ "$got" = "${VIP[$b]} ${ADDR[$b]} $b" ] || fail "$a: resolve ${VIP[$b]} gave '$got', want ${ADDR[$b]} $b"
	done
done
pass "each member resolves each address to its holder's overlay address and name"
run ctl m1 resolve 100.64.255.254
[ "$RC" != 0 ] || { show_out; fail "resolve of an address nobody holds succeeded"; }
pass "an address nobody holds: exit $RC, '$OUT'"

section "the peers' paths become direct"
# all_direct NODE: NODE pings every other member once, then its status
# must show each of them as a peer on a direct path.
all_direct() {
	local m others=()
	for m in "${MEMBERS[@]}"; do
		[ "$m" = "$1" ] && continue
		others+=("${VIP[$m]}")
		ping_once "$1" "${VIP[$m]}" >/dev/null 2>&1 || true
	done
	lab_status "$1" || return 1
	"$PY" -c 'import json, sys
s = json.load(open(sys.argv[1]))
peers = {p["ip"]: p["path"] for p in s["peers"]}
want = sys.argv[2:]
print(peers)
sys.exit(0 if all(peers.get(ip) == "direct" for ip in want) else 1)' "$WORK/$1.status" "${others[@]}"
}
for m in "${MEMBERS[@]}"; do
	until_ok 30 "$m: every peer direct" all_direct "$m"
done

section "iperf3 through the tunnel: m2 -> m1"
lab_bg iperf_srv m1 iperf3 -s -B "${VIP[m1]}" -1
# iperf3 -c fails until the server listens: retry (bounded) rather than wait blindly.
iperf_ok() {
	nsx m2 iperf3 -c "${VIP[m1]}" -t 2 -J >"$WORK/iperf.json" 2>&1
}
until_ok 15 "iperf3 client ran" iperf_ok
bps=$("$PY" -c 'import json, sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$WORK/iperf.json")
[ "$bps" -gt 0 ] || fail "iperf3: $bps bits/s"
pass "iperf3: $((bps / 1000000)) Mbit/s received"
wait "${NODE_PID[iperf_srv]}" 2>/dev/null || true
unset "NODE_PID[iperf_srv]"

section "SIGTERM m1, start it again with the same state directory: same address"
lab_stop m1
pass "m1 left and exited 0"
[ -s "$WORK/m1.state/address" ] || fail "m1 left no state/address"
lab_start_member 1
vip=$(lab_vip m1)
[ "$vip" = "${VIP[m1]}" ] || fail "m1 came back with $vip, had ${VIP[m1]}"
pass "m1 came back with ${VIP[m1]}"
for m in m2 m3; do
	lab_ping "$m" "${VIP[m1]}" 30
	lab_ping m1 "${VIP[$m]}" 30
done

section "the end"
lab_finish
echo
echo "vnet_ping: all checks passed"
