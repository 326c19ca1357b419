#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The DHT from the command line (docs/control.md "dht_put" ... and "dhtctl"):
# a 3-node ring of groupvpn-bootstrap processes on 127.0.0.1. dhtctl put,
# create, get and remove work across nodes with their documented output and
# exit codes (0 ok, 1 failure, 2 usage, 3 exists); every bad argument, to
# dhtctl or straight to the control socket, is refused with an error that
# names it, and the daemon keeps serving; a bundle asking for more replicas
# than this version keeps is refused when it is issued. No root: loopback only.
#
#   bash dht_cli.sh BIN_DIR
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/overlay_lib.sh
. "$here/overlay_lib.sh"
need python3
ovl_init "${1:-}"
G=$GVPN_CERT

# d NAME ARGS...: dhtctl on NAME's socket.
d() {
	local name=$1
	shift
	"$DHTCTL" -s "$WORK/$name.sock" "$@"
}

# raw NAME JSON: one request line straight to NAME's control socket; the
# answer line into $OUT.
raw() {
	OUT=$("$PY" - "$WORK/$1.sock" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
line = s.makefile("rb").readline()
assert line.endswith(b"\n"), line
sys.stdout.write(line.decode())
EOF
	) || fail "no answer from $1 to $2"
}

# raw_error NAME JSON TEXT: the answer is {"error": ...} containing TEXT.
raw_error() {
	raw "$1" "$2"
	ANSWER=$OUT "$PY" - "$3" <<'EOF' || { show_out; fail "$2: want an error saying '$3'"; }
import json, os, sys
a = json.loads(os.environ["ANSWER"])
assert set(a) == {"error"} and sys.argv[1] in a["error"], a
EOF
	pass "$(cut -c1-70 <<<"$2"): error says '$3'"
}

# expect_value VALUE WRITER TTL EXTRA WHAT: get's text output has the line
# VALUE<TAB>writer=WRITER<TAB>ttl=N[<TAB>EXTRA], N a little below TTL at most
# (seconds pass between the put and the get).
expect_value() {
	local want_v=$1 want_w=$2 ttl=$3 want_e=$4 what=$5 v w t e
	while IFS=$'\t' read -r v w t e; do
		if [ "$v" = "$want_v" ] && [ "$w" = "writer=$want_w" ] && [ "$e" = "$want_e" ] &&
			[[ "$t" =~ ^ttl=([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -le "$ttl" ] &&
			[ "${BASH_REMATCH[1]}" -ge $((ttl - 10)) ]; then
			pass "$what: '$v', writer $want_w, ttl ${BASH_REMATCH[1]}${e:+, $e}"
			return
		fi
	done <<<"$OUT"
	show_out
	fail "$what: no line '$want_v<TAB>writer=$want_w<TAB>ttl=(about $ttl)${want_e:+<TAB>$want_e}'"
}

# expect_line LINE WHAT: the last output has exactly this line.
expect_line() {
	if ! grep -qxF -- "$1" <<<"$OUT"; then
		show_out
		fail "$2: no line '$1'"
	fi
	pass "$2: line '$1'"
}

long() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }

section "a CA, 3 bundles; a 4th asking for 9 replicas is refused"
pick_ports 4
expect 0 "ca" "$G" ca --namespace dhtcli --network 10.87.0.0/16 --out ca
for n in n1 n2 n3; do
	expect 0 "issue $n" "$G" issue --ca ca --name "$n" --bootstrap "127.0.0.1:$((BASE + 1))" \
		--out "$n.json"
done
expect 1 "issue n4 --set dht_replicas=9" "$G" issue --ca ca --name n4 --set dht_replicas=9 \
	--bootstrap "127.0.0.1:$((BASE + 1))" --out n4.json
expect_out "must be 3..8" "issue with dht_replicas=9"
[ ! -e n4.json ] || fail "a refused issue left a bundle"

pass "no control socket left behind"

section "a ring of 3"
for i in 1 2 3; do
	start_node "n$i" "n$i.json" $((BASE + i))
done
wait_started n1 n2 n3
wait_ring 5000 "$(now_ms)" n1 n2 n3
pass "ring of 3 consistent after ${RING_MS} ms"
raw n1 '{"cmd":"help"}'
for c in dht_put dht_create dht_get dht_remove dht_status; do
	grep -qF "\"$c\"" <<<"$OUT" || { show_out; fail "help does not list $c"; }
done
pass "help lists dht_put dht_create dht_get dht_remove dht_status"

section "put on n1, get on n3"
expect 0 "put greeting" d n1 put greeting "hello world"
[ -z "$OUT" ] || { show_out; fail "put printed something on success"; }
pass "put prints nothing on success"
expect 0 "get greeting on n3" d n3 get greeting
expect_value "hello world" n1 3600 "" "get text"
expect 0 "get greeting --json on n2" d n2 get greeting --json
ANSWER=$OUT "$PY" - "$(node_addr n1)" <<'EOF' || { show_out; fail "get --json is not as documented"; }
import json, os, sys
a = json.loads(os.environ["ANSWER"])
assert a["key"] == "greeting" and len(a["values"]) == 1, a
v = a["values"][0]
assert 3590 <= v.pop("ttl") <= 3600, v
assert v == {"value": "hello world", "value_hex": "hello world".encode().hex(), "writer": "n1",
             "writer_addr": sys.argv[1]}, v
EOF
pass "get --json: {key, values: [{value, value_hex, writer, writer_addr, ttl}]}"
expect 0 "put greeting on n2 --ttl 60 --once" d n2 put greeting "from two" --ttl 60 --once
expect 0 "get greeting: one value per writer" d n3 get greeting
expect_value "hello world" n1 3600 "" "get, two writers"
expect_value "from two" n2 60 "" "get, two writers"

section "bytes: --hex in, hex out"
expect 0 "put --hex" d n1 put blob 00ff0a41 --hex
expect 0 "get blob (text)" d n2 get blob
expect_value 00ff0a41 n1 3600 encoding=hex "a non-text value shows in hex"
expect 0 "get blob --hex" d n3 get blob --hex
expect_value 00ff0a41 n1 3600 "" "get --hex"
expect 0 "get blob --json" d n3 get blob --json
expect_out '"value": null' "binary value is null in --json"
expect_out '"value_hex": "00ff0a41"' "and its hex"
expect 0 "a VALUE starting with '-' after --" d n1 put dash -- -x
expect 0 "get dash" d n2 get dash
expect_value -x n1 3600 "" "get dash"

section "create: exit 3 and 'exists' when another writer holds the key"
expect 0 "create lock on n1" d n1 create lock owner-n1
expect 3 "create lock on n2" d n2 create lock owner-n2
expect_out "exists" "create on a held key"
raw n2 '{"cmd":"dht_create","key":"lock","value":"owner-n2"}'
ANSWER=$OUT "$PY" <<'EOF' || { show_out; fail "dht_create's answer lacks code exists"; }
import json, os
a = json.loads(os.environ["ANSWER"])
assert a["code"] == "exists" and a["error"].startswith("exists"), a
EOF
pass "dht_create answers {error: \"exists: ...\", code: exists}"
expect 0 "create lock again on n1 (its own)" d n1 create lock owner-n1-again
expect 0 "get lock" d n3 get lock
expect_value owner-n1-again n1 3600 "" "the holder's value"

section "remove, and a missing key"
expect 0 "remove greeting on n1" d n1 remove greeting
expect 0 "get greeting" d n3 get greeting
expect_no_out "writer=n1" "removed value gone"
expect 0 "get nothing-here" d n2 get nothing-here
[ -z "$OUT" ] || { show_out; fail "get of a missing key printed something"; }
pass "get of a missing key prints nothing, exit 0"
expect 0 "get nothing-here --json" d n2 get nothing-here --json
expect_line '{"key": "nothing-here", "values": []}' "get --json of a missing key"
expect 0 "remove nothing-here" d n2 remove nothing-here

section "dhtctl usage errors: exit 2, nothing sent"
expect 2 "put without VALUE" d n1 put k
expect_out "put needs KEY and VALUE" "put without VALUE"
expect 2 "put with 3 arguments" d n1 put k v w
expect 2 "put with an empty KEY" d n1 put "" v
expect_out "KEY must be 1..255 bytes, not 0" "empty KEY"
expect 2 "get with a 256-byte KEY" d n1 get "$(long 256)"
expect_out "KEY must be 1..255 bytes, not 256" "256-byte KEY"
expect 2 "put a 1025-byte VALUE" d n1 put k "$(long 1025)"
expect_out "VALUE is 1025 bytes: at most 1024" "1025-byte VALUE"
expect 2 "put --hex 1025 bytes" d n1 put k "$(long 2050 f)" --hex
expect_out "VALUE is 1025 bytes: at most 1024" "1025-byte hex VALUE"
expect 2 "put --hex with a non-hex VALUE" d n1 put k xyz0 --hex
expect_out "non-hex character at offset 0" "non-hex VALUE"
expect 2 "put --hex with an odd number of digits" d n1 put k abc --hex
expect_out "two hex digits per byte" "odd hex VALUE"
expect 2 "put --ttl 0" d n1 put k v --ttl 0
expect_out "--ttl '0': want a whole number of seconds, 1 or more" "--ttl 0"
expect 2 "put --ttl abc" d n1 put k v --ttl abc
expect_out "--ttl 'abc'" "--ttl abc"
expect 2 "put --ttl without SECONDS" d n1 put k v --ttl
expect_out "--ttl needs SECONDS" "--ttl at the end"
expect 2 "get --ttl (not a get option)" d n1 get k --ttl 5
expect_out "get: unknown option '--ttl'" "get --ttl"
expect 2 "remove --hex (not a remove option)" d n1 remove k --hex
expect_out "remove: unknown option '--hex'" "remove --hex"
expect 2 "create with a VALUE that looks like an option" d n1 create k -x
expect_out "unknown option '-x'" "create k -x"
expect 2 "get without KEY" d n1 get
expect_out "get needs exactly one KEY" "get without KEY"
expect 2 "dht-status with an argument" d n1 dht-status x
# A usage error comes before looking for the socket.
expect 2 "usage error without a daemon" "$DHTCTL" -s "$WORK/none.sock" put k
expect_out "put needs KEY and VALUE" "usage error first"

section "the daemon's limits: exit 1 with its message"
expect 1 "put --ttl 86401 (over the daemon's ttl_max)" d n1 put k v --ttl 86401
expect_out '"ttl" must be an integer number of seconds, 1..86400' "--ttl 86401"
expect 0 "put --ttl 86400" d n1 put maxttl v --ttl 86400

section "bad arguments straight to the control socket"
raw_error n1 '{"cmd":"dht_put","key":"","value":"v"}' '"key" must be 1..255 bytes, not 0'
raw_error n1 "{\"cmd\":\"dht_put\",\"key\":\"$(long 256)\",\"value\":\"v\"}" \
	'"key" must be 1..255 bytes, not 256'
raw_error n1 '{"cmd":"dht_get","key":7}' "command 'dht_get' needs \"key\": a string"
raw_error n1 '{"cmd":"dht_remove"}' "command 'dht_remove' needs \"key\": a string"
raw_error n1 '{"cmd":"dht_put","key":"k","value":"v","value_hex":"76"}' \
	'give "value" or "value_hex", not both'
raw_error n1 '{"cmd":"dht_create","key":"k"}' \
	"command 'dht_create' needs \"value\" (a string) or \"value_hex\" (hex)"
raw_error n1 '{"cmd":"dht_put","key":"k","value":5}' '"value" must be a string'
raw_error n1 "{\"cmd\":\"dht_put\",\"key\":\"k\",\"value\":\"$(long 1025)\"}" \
	'"value" is 1025 bytes: at most 1024'
raw_error n1 "{\"cmd\":\"dht_put\",\"key\":\"k\",\"value_hex\":\"$(long 2050 0)\"}" \
	'"value_hex" is 1025 bytes: at most 1024'
raw_error n1 '{"cmd":"dht_put","key":"k","value_hex":"0g"}' \
	'"value_hex" has a non-hex character at offset 1'
raw_error n1 '{"cmd":"dht_put","key":"k","value_hex":"abc"}' '"value_hex" must be a string of hex digits'
raw_error n1 '{"cmd":"dht_put","key":"k","value_hex":12}' '"value_hex" must be a string of hex digits'
for ttl in 0 -1 86401 1.5 '"60"' null; do
	raw_error n1 "{\"cmd\":\"dht_put\",\"key\":\"k\",\"value\":\"v\",\"ttl\":$ttl}" \
		'"ttl" must be an integer number of seconds, 1..86400'
done
raw_error n1 '{"cmd":"dht_put","key":"k","value":"v","refresh":"no"}' '"refresh" must be true or false'
raw_error n1 '{"cmd":"dht_get","key":"k","value":"v"}' "unknown argument 'value' for command 'dht_get'"
raw_error n1 '{"cmd":"dht_status","key":"k"}' "unknown argument 'key' for command 'dht_status'"
expect 0 "dht-status" d n1 dht-status
expect_line "$(printf '%-19s %s' replicas 3)" "dht-status text"
expect 0 "dht-status --json" d n1 dht-status --json
ANSWER=$OUT "$PY" <<'EOF' || { show_out; fail "dht_status fields"; }
import json, os
a = json.loads(os.environ["ANSWER"])
assert a["namespace"] == "dhtcli" and a["replicas"] == 3 and a["ttl_max"] == 86400, a
for k in ("records", "tombstones", "own_values", "pending", "stored", "msgs_in", "msgs_out"):
    assert isinstance(a[k], int), (k, a)
assert a["own_values"] >= 1 and a["records"] >= 1, a
EOF
pass "dht_status: namespace, replicas, ttl_max and the counters"

section "clients that hang up with DHT requests in flight"
# Each hang-up cancels the control request and, with it, the engine's.
"$PY" - "$WORK/n1.sock" <<'EOF' || fail "hang-ups mid-request"
import json, socket, sys
for i in range(100):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sys.argv[1])
    c.sendall(b'{"cmd":"dht_get","key":"greeting"}\n{"cmd":"dht_put","key":"hang%d","value":"x"}\n' % i)
    c.close()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(20)
s.sendall(b'{"cmd":"dht_status"}\n')
a = json.loads(s.makefile("rb").readline())
assert "records" in a, a
print("   ok: 100 clients hung up mid-request; the daemon still answers")
EOF

section "still serving after all of that"
for n in n1 n2 n3; do
	kill -0 "${NODE_PID[$n]}" || fail "$n died"
done
expect 0 "put after the errors" d n1 put after ok
expect 0 "get after the errors" d n3 get after
expect_value ok n1 3600 "" "get after the errors"
wait_ring 5000 "$(now_ms)" n1 n2 n3
pass "the ring is intact"

section "SIGTERM: each leaves and exits 0"
for n in n1 n2 n3; do
	stop_node "$n"
done
pass "3 nodes exited 0 (under the sanitizers: no leak, no error report)"

printf '\ndht_cli: all checks passed\n'
