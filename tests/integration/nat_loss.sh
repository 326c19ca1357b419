#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# nat_loss.sh BIN_DIR: 5 % loss on every link of the NAT lab (nftables
# `numgen random mod 100 < 5 drop` on every frame entering the switch and
# both NAT routers' LAN bridges: a packet from a NATed host to another one
# meets three such drops, its answer one), from before the first member
# starts. Proves: the members still join and
# lease addresses, the shortcut between two members behind port-preserving
# NATs still forms (direct path), and TCP runs across it.
# Needs root (exit 77 otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/vnet_lib.sh
. "$HERE/vnet_lib.sh"

lab_init "${1:-}" 1 300

section "the lab: boot and m1 public; c1 and c2 behind port-preserving NATs; 5 % loss everywhere"
lab_nat_router 1 cone
lab_nat_router 2 cone
lab_nat_node c1 1 2
lab_nat_node c2 2 2
NATTED=(c1 c2)
MEMBERS+=("${NATTED[@]}")
# lossy NS: 5 % of the frames entering its bridge are dropped (and counted).
lossy() {
	ip netns exec "$1" nft -f - <<EOF
table bridge gvloss {
	chain drop5 { type filter hook prerouting priority 0; numgen random mod 100 < 5 counter drop; }
}
EOF
}
lossy "$SW"
lossy "${NS[r1]}"
lossy "${NS[r2]}"
drops() { # NS: frames the loss rule dropped there
	ip netns exec "$1" nft -j list table bridge gvloss | "$PY" -c 'import json, sys
print(sum(e["counter"]["packets"] for x in json.load(sys.stdin)["nftables"] if "rule" in x
          for e in x["rule"]["expr"] if "counter" in e))'
}
answered=0
for _ in $(seq 1 200); do
	nsx c1 ping -n -c 1 -W 0.2 "${UNDER[boot]}" >/dev/null 2>&1 && answered=$((answered + 1))
done
# Two lossy bridges on the way there, one back: about 0.95^3 = 86 % answered.
if [ "$answered" -ge 198 ] || [ "$answered" -le 130 ]; then
	fail "$answered of 200 underlay pings c1 -> boot answered, want about 171: the loss is wrong"
fi
pass "$answered of 200 underlay pings c1 -> boot answered (3 lossy bridges there and back)"

lab_nat_group vloss "${NATTED[@]}"
pass "3 members joined and leased addresses through the loss"


section "the shortcut c1 <-> c2 forms"
t0=$(now_ms)
lab_ping c1 "${VIP[c2]}" 20
until_ok 20 "c1 -> c2 direct" vpath_now c1 c2 direct
pass "c1 -> c2 direct $(($(now_ms) - t0)) ms after the first packet, through two NATs and lossy bridges"
[ "$(link_field c2 c1 path)" = direct ] ||
	fail "c2's link to c1 is not direct"

section "TCP across"
lab_tcp c1 c2 3
bps=$TCP_BPS
pass "c1 -> c2: TCP at $((bps / 1000)) kbit/s with 5 % loss at each bridge ($(vpath c1 c2))"
d=$(($(drops "$SW") + $(drops "${NS[r1]}") + $(drops "${NS[r2]}")))
[ "$d" -gt 0 ] || fail "the loss rules dropped nothing"
pass "the loss rules dropped $d frames in all"

lab_finish
pass "all nodes stopped cleanly"
