#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The IPv6 underlay on one host, loopback only (::1 and 127.0.0.1; never any
# other address is named):
#   1. 4 groupvpn-bootstrap processes on [::1]:PORT, bootstrap list in
#      "[::1]:PORT" form, form a consistent ring whose every link endpoint is
#      an IPv6 "[::1]:port" of one of them;
#   2. a node on the dual-stack wildcard "[::]:PORT" links with an IPv4-only
#      node on 127.0.0.1: both see the other as IPv4 "127.0.0.1:port" (the
#      dual-stack socket's ::ffff:127.0.0.1 is never shown), then, that node
#      gone, with an IPv6-only node on [::1] over IPv6;
#   3. "0.0.0.0:PORT" opens the same dual-stack socket: it says [::]:PORT.
# Only the two wildcard nodes have non-loopback candidate endpoints, and each
# only ever links through its bootstrap list, so no datagram needs them.
# Skipped (77) when the host has no IPv6 loopback. No root needed.
#
#   bash ring_ipv6.sh BIN_DIR
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/overlay_lib.sh
. "$here/overlay_lib.sh"
need python3
ovl_init "${1:-}"
G=$GVPN_CERT
N=4
FORM_MS=5000

"$PY" -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' \
	2>/dev/null || { echo "SKIP: no IPv6 loopback (::1) on this host"; exit 77; }

# Free for a dual-stack [::] socket, so free on ::1 and 127.0.0.1 too.
pick_ports $((N + 4)) dual

# check_links NAME REGEX PEER=ENDPOINT...: in NAME's last status (from the
# wait_ring round that saw the ring, so its ring links are there) every link
# is to one of the PEERs, at its ENDPOINT, and its own endpoints all match
# REGEX; no v4-mapped address (::ffff:a.b.c.d) anywhere.
check_links() {
	local name=$1 re=$2
	shift 2
	"$PY" - "$WORK/$name.status" "$re" "$@" <<'EOF' || fail "$name: links or endpoints not as expected"
import json, re, sys
st = json.load(open(sys.argv[1]))
want = dict(a.split("=", 1) for a in sys.argv[3:])
got = {l["name"]: l["endpoint"] for l in st["links"]}
ok = bool(got) and all(want.get(n) == ep for n, ep in got.items())
if not ok:
    print("   | %s: links %s, want some of %s" % (st["name"], got, want))
for ep in st["endpoints"]:
    if not re.fullmatch(sys.argv[2], ep):
        print("   | %s: own endpoint %s does not match %s" % (st["name"], ep, sys.argv[2]))
        ok = False
if re.search(r"::ffff:[0-9]+\.", json.dumps(st)):
    print("   | %s: a v4-mapped address in %s" % (st["name"], json.dumps(st)))
    ok = False
sys.exit(0 if ok else 1)
EOF
}

section "a CA; $N bundles bootstrapping to [::1] (the first 2 nodes)"
expect 0 "ca" "$G" ca --namespace ring6 --network 10.89.0.0/16 --out ca
issue_bundles six%02d $N "[::1]" 2

section "$N nodes on [::1] form a ring over IPv6"
for i in $(seq 1 $N); do
	start_at "${names[i - 1]}" "${names[i - 1]}.json" "[::1]:$((BASE + i))"
done
t_last=$(now_ms)
wait_ring $FORM_MS "$t_last" "${names[@]}"
pass "ring of $N consistent ${RING_MS} ms after the last start (limit $((FORM_MS * TIME_SCALE)) ms)"
wait_started "${names[@]}"
for i in $(seq 1 $N); do
	grep -qF "listening on [::1]:$((BASE + i))," "$WORK/${names[i - 1]}.out" ||
		{ cat "$WORK/${names[i - 1]}.out" >&2; fail "${names[i - 1]} is not on [::1]:$((BASE + i))"; }
done
pass "each says it listens on [::1]:PORT"
for i in $(seq 1 $N); do
	peers=()
	for j in $(seq 1 $N); do
		[ "$j" = "$i" ] || peers+=("${names[j - 1]}=[::1]:$((BASE + j))")
	done
	check_links "${names[i - 1]}" "\[::1\]:$((BASE + i))" "${peers[@]}"
done
pass "every link endpoint is the peer's [::1]:PORT; own endpoints are [::1] only"
expect 0 "dhtctl trace six01 -> six04" "$DHTCTL" -s "$WORK/six01.sock" trace "$(node_addr six04)"
expect_out "reached $(node_addr six04)" "trace over IPv6"
for n in "${names[@]}"; do
	stop_node "$n"
done
pass "$N nodes left and exited 0"

D=$((BASE + N + 1)) V=$((BASE + N + 2)) W=$((BASE + N + 3)) X=$((BASE + N + 4))
section "dual stack: [::]:$D links with an IPv4-only node on 127.0.0.1:$V"
run "$G" issue --ca ca --name dual --bootstrap "127.0.0.1:$V" --out dual.json
[ "$RC" = 0 ] || { show_out; fail "issue dual"; }
# Each also lists dual at an address of the family its socket cannot reach.
run "$G" issue --ca ca --name four --bootstrap "[::1]:$D" --bootstrap "127.0.0.1:$D" \
	--out four.json
[ "$RC" = 0 ] || { show_out; fail "issue four"; }
run "$G" issue --ca ca --name six --bootstrap "127.0.0.1:$D" --bootstrap "[::1]:$D" \
	--out six.json
[ "$RC" = 0 ] || { show_out; fail "issue six"; }
run "$G" issue --ca ca --name any4 --bootstrap "127.0.0.1:$X" --out any4.json
[ "$RC" = 0 ] || { show_out; fail "issue any4"; }
start_at dual dual.json "[::]:$D"
start_at four four.json "127.0.0.1:$V"
t_last=$(now_ms)
wait_ring $FORM_MS "$t_last" dual four
pass "ring of dual and four consistent ${RING_MS} ms after the start"
wait_started dual four
grep -qF "listening on [::]:$D," "$WORK/dual.out" ||
	{ cat "$WORK/dual.out" >&2; fail "dual is not on [::]:$D"; }
pass "dual says it listens on [::]:$D"
check_links dual '.*' "four=127.0.0.1:$V"
pass "dual's link to four: 127.0.0.1:$V (IPv4, not ::ffff:127.0.0.1)"
check_links four "127\.0\.0\.1:$V" "dual=127.0.0.1:$D"
pass "four's link to dual: 127.0.0.1:$D"
grep -qF "bootstrap [::1]:$D skipped: this node's socket is IPv4 only" "$WORK/four.log" ||
	{ cat "$WORK/four.log" >&2; fail "four did not skip [::1]:$D"; }
pass "four (IPv4 only) skipped its [::1]:$D bootstrap entry, saying why"
stop_node four
pass "four left and exited 0"

section "the same dual-stack socket links over IPv6 with a node on [::1]:$W"
start_at six six.json "[::1]:$W"
t_last=$(now_ms)
wait_ring $FORM_MS "$t_last" dual six
pass "ring of dual and six consistent ${RING_MS} ms after the start"
check_links dual '.*' "six=[::1]:$W"
check_links six "\[::1\]:$W" "dual=[::1]:$D"
pass "dual and six see each other at [::1]:$W and [::1]:$D"
grep -qF "bootstrap 127.0.0.1:$D skipped: no address for a socket that reaches IPv6 only" \
	"$WORK/six.log" || { cat "$WORK/six.log" >&2; fail "six did not skip 127.0.0.1:$D"; }
pass "six (IPv6 only) skipped its 127.0.0.1:$D bootstrap entry, saying why"
stop_node six
stop_node dual
pass "six and dual left and exited 0"

section "0.0.0.0:$X is the dual-stack wildcard too"
start_at any4 any4.json "0.0.0.0:$X"
wait_started any4
grep -qF "listening on [::]:$X," "$WORK/any4.out" ||
	{ cat "$WORK/any4.out" >&2; fail "any4 is not on [::]:$X"; }
# Its bootstrap list is itself (127.0.0.1:X): left out, so a ring of one.
grep -qF "no bootstrap endpoint to try" "$WORK/any4.log" ||
	{ cat "$WORK/any4.log" >&2; fail "any4 did not leave out 127.0.0.1:$X as itself"; }
stop_node any4
pass "0.0.0.0:$X listened on [::]:$X, knew 127.0.0.1:$X for itself, exited 0"
