#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Non-members get no link (DESIGN §3): a node whose certificate comes from a
# foreign CA (same namespace, same names) and a node whose certificate was
# revoked both try to join a 3-node ring through its bootstrap list. For
# several seconds, polled the whole time, they hold 0 links and no member
# lists them; the logs say why ("wrong CA", "revoked").
#
#   bash nonmember.sh BIN_DIR
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/overlay_lib.sh
. "$here/overlay_lib.sh"
need python3
ovl_init "${1:-}"
G=$GVPN_CERT
WATCH_MS=6000

section "the group, a revoked member, a foreign CA"
pick_ports 5
boot=(--bootstrap "127.0.0.1:$((BASE + 1))" --bootstrap "127.0.0.1:$((BASE + 2))"
	--bootstrap "127.0.0.1:$((BASE + 3))")
expect 0 "ca" "$G" ca --namespace nm --network 10.66.0.0/16 --out ca
# Issued before its revocation: its own bundle's CRL does not list it, so it
# starts and tries. The members' bundles are issued after: theirs does.
expect 0 "issue revoked" "$G" issue --ca ca --name revoked "${boot[@]}" --out revoked.json
expect 0 "revoke it" "$G" revoke --ca ca --name revoked
for m in m1 m2 m3; do
	expect 0 "issue $m (CRL lists 'revoked')" "$G" issue --ca ca --name "$m" "${boot[@]}" --out "$m.json"
done
expect 0 "foreign CA, same namespace" "$G" ca --namespace nm --network 10.66.0.0/16 --out foreign-ca
expect 0 "issue foreign" "$G" issue --ca foreign-ca --name foreign "${boot[@]}" --out foreign.json
expect 1 "the group refuses the foreign certificate" "$G" verify --ca ca --bundle foreign.json
expect_out "wrong CA" "verify foreign"

section "3 members form a ring"
for i in 1 2 3; do
	start_node "m$i" "m$i.json" $((BASE + i))
done
wait_started m1 m2 m3
t0=$(now_ms)
wait_ring 5000 "$t0" m1 m2 m3
pass "ring of 3 consistent after ${RING_MS} ms"

section "the foreign and the revoked node try to join"
start_node foreign foreign.json $((BASE + 4))
start_node revoked revoked.json $((BASE + 5))
wait_started foreign revoked
foreign_addr=$(node_addr foreign)
revoked_addr=$(node_addr revoked)
t0=$(now_ms)
rounds=0
# Every round: both outsiders answer and have 0 links; no member lists either.
while [ $(($(now_ms) - t0)) -lt $WATCH_MS ]; do
	for n in foreign revoked m1 m2 m3; do
		status "$n" || fail "$n did not answer status"
	done
	"$PY" - "$WORK" "$foreign_addr" "$revoked_addr" <<'EOF' || { fail "an outsider got a link"; }
import json, sys
work, outsiders = sys.argv[1], set(sys.argv[2:])
for n in ("foreign", "revoked"):
    s = json.load(open("%s/%s.status" % (work, n)))
    if s["links"]:
        sys.exit("%s has links: %s" % (n, s["links"]))
for n in ("m1", "m2", "m3"):
    s = json.load(open("%s/%s.status" % (work, n)))
    got = outsiders & {l["address"] for l in s["links"]}
    if got:
        sys.exit("%s lists an outsider: %s" % (n, got))
    if len(s["links"]) != 2:
        sys.exit("%s has %d links, want 2" % (n, len(s["links"])))
EOF
	rounds=$((rounds + 1))
	sleep 0.1
done
pass "for $WATCH_MS ms ($rounds rounds): foreign and revoked hold 0 links; members list only each other"
for n in foreign revoked; do
	kill -0 "${NODE_PID[$n]}" || fail "$n is not running: it should keep trying"
done
pass "both outsiders are still running and retrying"

section "the refusals are logged with their reason"
# The revoked node's client certificate reaches the members, which refuse it.
grep -h "revoked" "$WORK"/m[123].log | grep -q "handshake" ||
	{ fail "no member logged a handshake refused as revoked"; }
pass "a member logged: $(grep -h revoked "$WORK"/m[123].log | grep handshake | head -n 1 | cut -d' ' -f3-)"
# TLS 1.3: the client judges the server's certificate first, so the foreign
# node sees "wrong CA" and aborts with an alert before a member ever sees its
# certificate. Both sides log the failed handshake.
grep -q "wrong CA" "$WORK/foreign.log" ||
	{ fail "the foreign node did not log 'wrong CA'"; }
pass "foreign logged: $(grep -h "wrong CA" "$WORK/foreign.log" | head -n 1 | cut -d' ' -f3-)"
grep -h "127.0.0.1:$((BASE + 4))" "$WORK"/m[123].log | grep -q "handshake.*failed" ||
	{ fail "no member logged the foreign node's failed handshake"; }
pass "a member logged: $(grep -h "127.0.0.1:$((BASE + 4))" "$WORK"/m[123].log | grep "failed" | head -n 1 | cut -d' ' -f3-)"

section "SIGTERM: every node exits 0"
for n in foreign revoked m1 m2 m3; do
	stop_node "$n"
done
pass "5 nodes exited 0"
