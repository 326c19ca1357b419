#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real ring on 127.0.0.1: 16 groupvpn-bootstrap processes (the first 3 are
# everybody's bootstrap list) must form a consistent ring — every node's
# closest linked peers on both sides are its true successor and predecessor —
# within 5 s of the last start; after 4 of them are killed with SIGKILL the
# remaining 12 must be consistent again within 15 s. dhtctl trace from one
# node to another must reach it; SIGTERM must make a node leave and exit 0.
# No root, no namespaces: loopback only.
#
#   bash ring_loopback.sh BIN_DIR
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/overlay_lib.sh
. "$here/overlay_lib.sh"
need python3
ovl_init "${1:-}"
G=$GVPN_CERT
N=16
FORM_MS=5000
HEAL_MS=15000

section "a CA and $N bundles; bootstrap = the first 3 nodes"
pick_ports $N
expect 0 "ca" "$G" ca --namespace ring --network 10.88.0.0/16 --out ca
issue_bundles node%02d $N "127.0.0.1" 3

section "start $N nodes"
start_ring $N

section "the ring forms"
# Polling starts at once: a node still starting up just fails its status.
wait_ring $FORM_MS "$t_last" "${names[@]}"
pass "ring of $N consistent ${RING_MS} ms after the last start (limit $((FORM_MS * TIME_SCALE)) ms)"
wait_started "${names[@]}"
pass "all $N printed their start line"
echo "MEASURED ring formation: ${RING_MS} ms"

section "dhtctl status (text) and trace"
expect 0 "dhtctl status" "$DHTCTL" -s "$WORK/node01.sock" status
expect_out "state      running" "status text"
expect_out "near" "status text lists near links"
# A destination node01 has no direct link to, if there is one: a real route.
src=node01
dst=$("$PY" - "$WORK/$src.status" "${names[@]}" <<'EOF'
import json, sys
links = {l["name"] for l in json.load(open(sys.argv[1]))["links"]}
others = [n for n in sys.argv[2:] if n != "node01"]
print(([n for n in others if n not in links] or others)[-1])
EOF
)
dst_addr=$(node_addr "$dst")
expect 0 "dhtctl trace $src -> $dst --json" "$DHTCTL" -s "$WORK/$src.sock" trace "$dst_addr" --json
TRACE_JSON=$OUT "$PY" - "$dst_addr" <<'EOF' 2>&1 || { show_out; fail "trace did not reach $dst"; }
import json, os, sys
o = json.loads(os.environ["TRACE_JSON"])
assert set(o) == {"hops", "reached"}, o
assert o["reached"] == sys.argv[1], o
assert o["hops"] and o["hops"][-1] == sys.argv[1], o
EOF
pass "trace $src -> $dst reached $dst_addr in $("$PY" -c 'import json,sys; print(len(json.loads(sys.stdin.read())["hops"]))' <<<"$OUT") hop(s)"
expect 0 "dhtctl trace (text)" "$DHTCTL" -s "$WORK/$src.sock" trace "$dst_addr"
expect_out "reached $dst_addr" "trace text"

section "control socket: many clients, pipelining, hang-ups, bad input"
"$PY" - "$WORK/node04.sock" "$dst_addr" <<'EOF' || fail "control socket robustness"
import json, socket, sys
path, addr = sys.argv[1], sys.argv[2]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)  # blocking: waits while the listen backlog is full
    s.settimeout(10)
    return s

def answer(f):
    line = f.readline()
    assert line.endswith(b"\n"), line
    return json.loads(line)

# 70 clients at once: 64 are served, the rest told why and closed.
socks = [conn() for _ in range(70)]
served = refused = 0
for s in socks:
    try:
        s.sendall(b'{"cmd":"status"}\n')
    except OSError:
        pass
    f = s.makefile("rb")
    a = answer(f)
    if "address" in a:
        served += 1
    else:
        assert a == {"error": "too many control clients"}, a
        refused += 1
for s in socks:
    s.close()
assert (served, refused) == (64, 6), (served, refused)
print("   ok: 70 clients at once: 64 served, 6 refused with an error line")

# Pipelined requests come back in order, each with its id.
s = conn()
s.sendall(b'{"cmd":"trace","address":"%s","id":1}\n{"cmd":"status","id":"two"}\n\n{"cmd":"help","id":3}\n' % addr.encode())
f = s.makefile("rb")
a1, a2, a3 = answer(f), answer(f), answer(f)
assert a1["id"] == 1 and a1["reached"] == addr, a1
assert a2["id"] == "two" and "links" in a2, a2
assert a3["id"] == 3 and a3["commands"][:3] == ["help", "status", "trace"], a3
print("   ok: pipelined trace, status, help answered in order with their ids")

# Bad input gets an error line; the connection stays usable.
for req, want in ((b"nonsense", "bad JSON"), (b"[]", "must be a JSON object"),
                  (b'{"cmd":"nope"}', "unknown command"),
                  (b'{"cmd":"trace","address":"xyz"}', "40 hex digits"),
                  (b'{"cmd":"status","extra":1}', "unknown argument")):
    s.sendall(req + b"\n")
    a = answer(f)
    assert want in a.get("error", ""), (req, a)
print("   ok: bad JSON, non-objects, unknown commands and bad arguments answered with errors")
# A line over 64 KiB: an error that says the limit, then the daemon closes.
s.sendall(b"x" * 70000 + b"\n")
a = answer(f)
assert "65536" in a["error"], a
s.close()
print("   ok: a 70000-byte line: error naming the 65536-byte limit")

# Clients that hang up with a trace in flight: the daemon must not mind.
for _ in range(200):
    c = conn()
    c.sendall(b'{"cmd":"trace","address":"%s"}\n' % addr.encode())
    c.close()
s = conn()
s.sendall(b'{"cmd":"status"}\n')
assert "address" in answer(s.makefile("rb"))
s.close()
print("   ok: 200 clients hung up mid-trace; the daemon still answers")
EOF
kill -0 "${NODE_PID[node04]}" || fail "node04 died"

section "SIGKILL 4 nodes; the ring heals"
victims=(node02 node06 node10 node14) # node02 is one of the bootstrap nodes
for v in "${victims[@]}"; do
	kill_node "$v"
done
t_kill=$(now_ms)
live=()
for n in "${names[@]}"; do
	[[ " ${victims[*]} " == *" $n "* ]] || live+=("$n")
done
wait_ring $HEAL_MS "$t_kill" "${live[@]}"
pass "ring of ${#live[@]} consistent again ${RING_MS} ms after the kills (limit $((HEAL_MS * TIME_SCALE)) ms)"
echo "MEASURED ring recovery: ${RING_MS} ms"

section "trace again over the healed ring"
dst=node16
dst_addr=$(node_addr $dst)
expect 0 "dhtctl trace node03 -> $dst" "$DHTCTL" -s "$WORK/node03.sock" trace "$dst_addr" --json
"$PY" -c 'import json,sys; o=json.loads(sys.stdin.read()); assert o["reached"]==sys.argv[1], o' \
	"$dst_addr" <<<"$OUT" || { show_out; fail "trace did not reach $dst"; }
pass "trace node03 -> $dst reached it"

section "SIGTERM: a node leaves and exits 0"
stop_node node05
pass "node05 exited 0 and removed its control socket"
rest=()
for n in "${live[@]}"; do
	[ "$n" = node05 ] || rest+=("$n")
done
# Its neighbours heard it leave: no waiting for dead_ms.
t_leave=$(now_ms)
wait_ring $HEAL_MS "$t_leave" "${rest[@]}"
pass "ring of ${#rest[@]} consistent ${RING_MS} ms after the leave"
echo "MEASURED ring after graceful leave: ${RING_MS} ms"

section "SIGTERM to the rest: each leaves and exits 0"
for n in "${rest[@]}"; do
	stop_node "$n"
done
pass "${#rest[@]} nodes exited 0 (under the sanitizers: no leak, no error report)"
