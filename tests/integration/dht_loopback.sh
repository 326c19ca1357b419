#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The DHT on real processes (docs/dht.md): a ring of 10 groupvpn-bootstrap
# processes on 127.0.0.1. One node (the writer) puts 20 keys; the puts alone
# leave exactly r = 3 copies of each, on the key's 3 nearest nodes (each
# node's dht_status record count against the replica sets computed here), and
# every node reads every key back with its value and writer. Then the worst
# pair for some key — its primary and second replica, neither the writer —
# are killed at once with SIGKILL: every key must be readable again from all
# 8 survivors within 30 s, and re-replication must bring every key back to 3
# copies on its new replica set (the digest round 1 s after the links change,
# at most every 5 s). Last, a remove from the writer hides the key from every
# survivor's get, and a create of one of the writer's keys from another node
# exits 3 with "exists". Prints the times it measured (MEASURED lines).
# No root, no namespaces: loopback only.
#
#   bash dht_loopback.sh BIN_DIR
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/overlay_lib.sh
. "$here/overlay_lib.sh"
need python3
ovl_init "${1:-}"
# overlay_lib's cleanup, after stopping our background poller (if running).
counts_pid=
on_exit() {
	local rc=$?
	if [ -n "$counts_pid" ]; then
		kill "$counts_pid" 2>/dev/null || true
		wait "$counts_pid" 2>/dev/null || true
	fi
	# ovl_cleanup tells a failure by $? (and set -e is on: hence the ||).
	if [ "$rc" = 0 ]; then
		ovl_cleanup
	else
		(exit "$rc") || ovl_cleanup
	fi
}
trap on_exit EXIT
G=$GVPN_CERT
N=10
NKEYS=20
R=3          # the bundle's dht_replicas (the default)
NS=dhtloop   # the namespace: part of every DHT key
FORM_MS=5000 # ring formation (as ring_loopback)
COPY_MS=10000  # after the puts: 3 copies of every key where they belong
READ_MS=30000  # after the kill: every key readable from every survivor
REREP_MS=40000 # after the kill: 3 copies again (covers one whole 15-30 s round)
WRITER=node01

# d NAME ARGS...: dhtctl on NAME's socket.
d() {
	local name=$1
	shift
	"$DHTCTL" -s "$WORK/$name.sock" "$@"
}

key() { printf 'loop-key-%02d' "$1"; }
value() { printf 'value-%02d-%s' "$1" "$BASE"; }

cat >"$WORK/dht_check.py" <<'EOF'
# dht_check.py MODE ...: the test's judgements (one interpreter start each).
#
# Ring geometry as docs/dht.md has it: a key is the first 160 bits of
# SHA-256(namespace || application key); its replica set is the R nodes
# nearest to it by ring distance min(cw, ccw), ties towards the one
# clockwise of the key (ovl_addr_closer).
import hashlib, json, os, sys
M = 1 << 160

def dht_key(ns, appkey):
    return int.from_bytes(hashlib.sha256(ns.encode() + appkey.encode()).digest()[:20], "big")

def replica_set(k, nodes, r):
    """nodes: {name: address int}; the r names nearest to k, nearest first."""
    return sorted(nodes, key=lambda n: (min((nodes[n] - k) % M, (k - nodes[n]) % M),
                                        (nodes[n] - k) % M))[:r]

def load_nodes(work, names):
    return {n: int(json.load(open(os.path.join(work, n + ".status")))["address"], 16)
            for n in names}

def keys(nkeys):
    return ["loop-key-%02d" % i for i in range(1, nkeys + 1)]

mode, args = sys.argv[1], sys.argv[2:]

if mode == "victims":
    # victims WORK NS R NKEYS WRITER NAME...: prints "VICTIM1 VICTIM2 KEY",
    # the primary and second replica of a key, neither the writer; of all
    # such pairs the one that shares the most replica sets (the worst case).
    work, ns, r, nkeys, writer, names = args[0], args[1], int(args[2]), int(args[3]), args[4], args[5:]
    nodes = load_nodes(work, names)
    sets = {k: replica_set(dht_key(ns, k), nodes, r) for k in keys(nkeys)}
    best = None
    for k, rs in sets.items():
        pair = rs[:2]
        if writer in pair:
            continue
        hit = sum(1 for s in sets.values() if pair[0] in s and pair[1] in s)
        if best is None or hit > best[0]:
            best = (hit, pair, k)
    if best is None:
        sys.exit("every key has the writer as its primary or second replica")
    hit, pair, k = best
    print(pair[0], pair[1], k, hit)

elif mode == "leafsets":
    # leafsets WORK SIDE NAME...: every NAME is linked (NAME.status) to its
    # SIDE nearest NAMEs on each side of the ring, so the nearest nodes it
    # sees to any key it is near are the true ones. Exit 1, saying who lacks
    # whom, if not.
    work, side, names = args[0], int(args[1]), args[2:]
    nodes = load_nodes(work, names)
    bad = []
    for n in names:
        links = {l["name"] for l in json.load(open(os.path.join(work, n + ".status")))["links"]}
        others = [o for o in names if o != n]
        cw = sorted(others, key=lambda o: (nodes[o] - nodes[n]) % M)[:side]
        ccw = sorted(others, key=lambda o: (nodes[n] - nodes[o]) % M)[:side]
        missing = sorted(set(cw + ccw) - links)
        if missing:
            bad.append("%s lacks links to %s" % (n, " ".join(missing)))
    if bad:
        print("; ".join(bad))
        sys.exit(1)
    print("every node linked to its %d nearest on each side" % side)

elif mode == "sets":
    # sets WORK NS R KEY NAME...: the replica set of KEY among NAMEs.
    work, ns, r, k, names = args[0], args[1], int(args[2]), args[3], args[4:]
    print(" ".join(replica_set(dht_key(ns, k), load_nodes(work, names), r)))

elif mode == "reads":
    # reads DHTCTL WORK NKEYS WRITER WRITER_ADDR BASE NAME...: `dhtctl get
    # KEY --json` of every key on every NAME, all at once (a bash loop of
    # 200 background jobs costs seconds of forks on a small machine); each
    # answer must hold exactly the writer's value. Prints a summary (what is
    # wrong, the slowest gets), exit 1 if anything is wrong.
    import subprocess, threading, time
    dhtctl, work, nkeys, writer, waddr, base = args[:6]
    nkeys, names = int(nkeys), args[6:]
    res = {}

    def get(n, i):
        k = "loop-key-%02d" % i
        t = time.monotonic()
        p = subprocess.run([dhtctl, "-s", os.path.join(work, n + ".sock"), "get", k, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        res[n, i] = (p, int((time.monotonic() - t) * 1000))

    threads = [threading.Thread(target=get, args=(n, i))
               for n in names for i in range(1, nkeys + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = []
    for (n, i), (p, ms) in sorted(res.items()):
        k = "loop-key-%02d" % i
        if p.returncode != 0:
            err = p.stderr.decode(errors="replace").strip().replace("\n", " ")
            bad.append("%s get %s: exit %d after %d ms: %s" % (n, k, p.returncode, ms, err[:120]))
            continue
        try:
            a = json.loads(p.stdout)
            vals = a["values"]
        except (ValueError, KeyError) as e:
            bad.append("%s get %s: bad answer (%s)" % (n, k, e))
            continue
        want = "value-%02d-%s" % (i, base)
        if (a["key"] != k or len(vals) != 1 or vals[0]["value"] != want or
                vals[0]["writer"] != writer or vals[0]["writer_addr"] != waddr or
                not 3000 < vals[0]["ttl"] <= 3600):
            bad.append("%s get %s: %s after %d ms" % (n, k, json.dumps(vals) if vals else "no value", ms))
    slow = sorted(((ms, n, i) for (n, i), (p, ms) in res.items()), reverse=True)
    slowest = "slowest %s" % ", ".join("%s/%02d %d ms" % (n[-2:], i, ms) for ms, n, i in slow[:3])
    over = sum(1 for ms, _, _ in slow if ms >= 1000)
    if bad:
        print("%d of %d gets wrong: %s; %s" % (len(bad), len(res), "; ".join(bad[:3]), slowest))
        sys.exit(1)
    print("%d gets right, %d took 1 s or more; %s" % (len(res), over, slowest))

elif mode == "counts":
    # counts WORK NS R NKEYS BY_PUT NAME...: each NAME's dht_status
    # (NAME.dht) holds exactly as many records as keys have it in their
    # replica set among NAMEs; so the sum is NKEYS * R. BY_PUT=1: and no
    # digest round had to send or hand off any (synced_out and handed_off 0):
    # the puts themselves put every copy in place. Prints the comparison;
    # exit 1 if off, 2 if placed but not by the puts (that cannot change).
    work, ns, r, nkeys, by_put, names = (args[0], args[1], int(args[2]), int(args[3]),
                                         args[4] == "1", args[5:])
    nodes = load_nodes(work, names)
    want = {n: 0 for n in names}
    for k in keys(nkeys):
        for n in replica_set(dht_key(ns, k), nodes, r):
            want[n] += 1
    got, tot = {}, {"repaired": 0, "synced_out": 0, "handed_off": 0}
    for n in names:
        s = json.load(open(os.path.join(work, n + ".dht")))
        assert s["namespace"] == ns and s["replicas"] == r, s
        got[n] = s["records"]
        for c in tot:
            tot[c] += s[c]
    print("records %d (want %d); per node (held/want) %s; counters %s" % (
        sum(got.values()), nkeys * r,
        " ".join("%s=%d/%d" % (n[-2:], got[n], want[n]) for n in names),
        " ".join("%s=%d" % c for c in tot.items())))
    if got == want and by_put and (tot["synced_out"] or tot["handed_off"]):
        print("placed, but by the digest rounds: the puts did not replicate")
        sys.exit(2)
    sys.exit(0 if got == want else 1)
else:
    sys.exit("unknown mode " + mode)
EOF

# get_round NAME...: every key from every NAME at once; 0 if every answer
# is right, the verdict in $WORK/reads.out. LeakSanitizer's exit scan is off
# for these gets (they are the stopwatch, as overlay_lib's status).
get_round() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		"$PY" "$WORK/dht_check.py" reads "$DHTCTL" "$WORK" $NKEYS $WRITER "$WRITER_ADDR" \
		"$BASE" "$@" >"$WORK/reads.out" 2>&1
}

# wait_reads LIMIT_MS T0_MS NAME...: get rounds until one is all right;
# READ_MS_AT = how long after T0 that round ended. Every round goes to
# reads.log. Fails, with the last verdict, after LIMIT_MS (times TIME_SCALE).
wait_reads() {
	local limit=$(($1 * TIME_SCALE)) t0=$2 r0
	shift 2
	while :; do
		r0=$(now_ms)
		if get_round "$@"; then
			READ_MS_AT=$(($(now_ms) - t0))
			echo "round $((r0 - t0))..$READ_MS_AT ms: $(cat "$WORK/reads.out")" >>"$WORK/reads.log"
			return
		fi
		echo "round $((r0 - t0))..$(($(now_ms) - t0)) ms: $(cat "$WORK/reads.out")" >>"$WORK/reads.log"
		if [ "$(now_ms)" -ge $((t0 + limit)) ]; then
			sed 's/^/   | /' "$WORK/reads.log" >&2
			fail "not every key readable from all $# nodes within $limit ms"
		fi
		sleep 0.1
	done
}

# counts_ok BY_PUT NAME...: one round of dht_status from each (in
# parallel), judged against the replica sets among NAMEs (dht_check.py
# counts); the verdict in $WORK/counts.out.
counts_ok() {
	local by_put=$1 name pids=() ok=0
	shift
	for name in "$@"; do
		rm -f "$WORK/$name.dht"
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
			"$DHTCTL" -s "$WORK/$name.sock" dht-status --json >"$WORK/$name.dht" 2>/dev/null &
		pids+=($!)
	done
	for name in "${pids[@]}"; do
		wait "$name" || ok=1
	done
	[ "$ok" = 0 ] || { echo "a node did not answer dht_status" >"$WORK/counts.out"; return 1; }
	"$PY" "$WORK/dht_check.py" counts "$WORK" $NS $R $NKEYS "$by_put" "$@" >"$WORK/counts.out" 2>&1
}

# wait_counts LIMIT_MS T0_MS BY_PUT NAME...: as wait_reads, for
# counts_ok; the time in COUNT_MS_AT, every round in counts.log.
wait_counts() {
	local limit=$(($1 * TIME_SCALE)) t0=$2 by_put=$3 r0 rc
	shift 3
	while :; do
		r0=$(now_ms)
		rc=0
		counts_ok "$by_put" "$@" || rc=$?
		if [ "$rc" = 0 ]; then
			COUNT_MS_AT=$(($(now_ms) - t0))
			echo "round $((r0 - t0))..$COUNT_MS_AT ms: $(cat "$WORK/counts.out")" >>"$WORK/counts.log"
			return
		fi
		echo "round $((r0 - t0))..$(($(now_ms) - t0)) ms: $(cat "$WORK/counts.out")" >>"$WORK/counts.log"
		if [ "$rc" = 2 ]; then
			sed 's/^/   | /' "$WORK/counts.out" >&2
			fail "the records are where they belong, but not put there by the puts"
		fi
		if [ "$(now_ms)" -ge $((t0 + limit)) ]; then
			tail -n 5 "$WORK/counts.log" | sed 's/^/   | /' >&2
			fail "the records are not on their replica sets among $# nodes within $limit ms"
		fi
		sleep 0.2
	done
}

section "a CA and $N bundles; bootstrap = the first 3 nodes"
pick_ports $N
expect 0 "ca" "$G" ca --namespace $NS --network 10.86.0.0/16 --out ca
issue_bundles node%02d $N "127.0.0.1" 3

section "start $N nodes; the ring forms"
start_ring $N
wait_ring $FORM_MS "$t_last" "${names[@]}"
wait_started "${names[@]}"
pass "ring of $N consistent ${RING_MS} ms after the last start"
# A key's R nearest nodes are R neighbours on the ring: the replica sets this
# test computes are the ones the nodes see once each is linked to its R-1
# nearest on both sides (the overlay's leaf set keeps 3 a side).
deadline=$(($(now_ms) + 5000 * TIME_SCALE))
until ring_ok "${names[@]}" &&
	"$PY" "$WORK/dht_check.py" leafsets "$WORK" $((R - 1)) "${names[@]}" >"$WORK/leafsets.out"; do
	[ "$(now_ms)" -lt "$deadline" ] ||
		{ cat "$WORK/ring_check.out" "$WORK/leafsets.out" >&2; fail "leaf sets incomplete after 5 s"; }
	sleep 0.05
done
pass "$(cat "$WORK/leafsets.out"), $(($(now_ms) - t_last)) ms after the last start"
# wait_ring left each node's `status --json` in NAME.status: the addresses.
WRITER_ADDR=$(json_get "$WORK/$WRITER.status" address)
[ "$WRITER_ADDR" = "$(node_addr $WRITER)" ] || fail "$WRITER: status address is not its start line's"

section "$NKEYS keys put from $WRITER"
t0=$(now_ms)
for i in $(seq 1 $NKEYS); do
	run d $WRITER put "$(key "$i")" "$(value "$i")"
	[ "$RC" = 0 ] || { show_out; fail "put $(key "$i") from $WRITER: exit $RC"; }
done
pass "$NKEYS puts exited 0 in $(($(now_ms) - t0)) ms"

section "each key on exactly its $R nearest nodes"
t0=$(now_ms)
wait_counts $COPY_MS "$t0" 1 "${names[@]}"
pass "$COUNT_MS_AT ms after the last put: $(cat "$WORK/counts.out")"

section "every key from every node"
t0=$(now_ms)
get_round "${names[@]}" || { sed 's/^/   | /' "$WORK/reads.out" >&2; fail "reads before the kill"; }
pass "$(cat "$WORK/reads.out")"
pass "all $NKEYS keys from all $N nodes, value and writer $WRITER, in one round of $(($(now_ms) - t0)) ms"

section "SIGKILL the primary and second replica of one key at once"
read -r v1 v2 vkey vhit < <("$PY" "$WORK/dht_check.py" victims "$WORK" $NS $R $NKEYS $WRITER "${names[@]}")
survivors=()
for n in "${names[@]}"; do
	[ "$n" = "$v1" ] || [ "$n" = "$v2" ] || survivors+=("$n")
done
echo "   $vkey: replica set $("$PY" "$WORK/dht_check.py" sets "$WORK" $NS $R "$vkey" "${names[@]}"); killing $v1 and $v2 (both in $vhit of the $NKEYS replica sets)"
echo "   new replica set of $vkey: $("$PY" "$WORK/dht_check.py" sets "$WORK" $NS $R "$vkey" "${survivors[@]}")"
# One signal call for both; the shell's "Killed" job notices are noise.
{
	kill -KILL "${NODE_PID[$v1]}" "${NODE_PID[$v2]}"
	t_kill=$(now_ms)
	for v in "$v1" "$v2"; do
		wait "${NODE_PID[$v]}" || true
		unset "NODE_PID[$v]"
	done
} 2>/dev/null
pass "killed $v1 and $v2"
# Re-replication is watched from now on, alongside the reads. (A primary's
# get repairs too, storing what its replicas hold; but with only nodes gone,
# a key's nearest surviving replica is its new primary and already holds it.)
rm -f "$WORK/counts.log"
wait_counts $REREP_MS "$t_kill" 0 "${survivors[@]}" >"$WORK/counts.result" 2>&1 &
counts_pid=$!

section "every key readable again from the ${#survivors[@]} survivors"
wait_reads $READ_MS "$t_kill" "${survivors[@]}"
sed 's/^/   | /' "$WORK/reads.log"
pass "all $NKEYS keys readable from all ${#survivors[@]} survivors $READ_MS_AT ms after the kill"
echo "MEASURED readable from all ${#survivors[@]} survivors: ${READ_MS_AT} ms after the kill"

section "re-replication: $R copies of every key on its new replica set"
rc=0
wait "$counts_pid" || rc=$?
counts_pid=
[ "$rc" = 0 ] || { cat "$WORK/counts.result" >&2; fail "re-replication"; }
# The rounds where the picture changed (the first, each change, the last).
awk -F' ms: ' '$2 != prev { print "   | " $0 } { prev = $2 }' "$WORK/counts.log"
COUNT_MS_AT=$(sed -n 's/^round [0-9]*\.\.\([0-9]*\) ms: .*/\1/p' "$WORK/counts.log" | tail -n 1)
pass "$(cat "$WORK/counts.out")"
pass "every key on its $R nearest survivors $COUNT_MS_AT ms after the kill"
echo "MEASURED re-replicated ($R copies each): ${COUNT_MS_AT} ms after the kill"
wait_ring 15000 "$t_kill" "${survivors[@]}"
pass "and the ring of ${#survivors[@]} is consistent (ring_loopback times its repair)"

section "remove from the writer; create of a held key from another node"
# The key whose primary and second replica died is removed; another created over.
rkey=$vkey
cidx=1
[ "$(key $cidx)" != "$rkey" ] || cidx=2
ckey=$(key $cidx)
expect 0 "remove $rkey from $WRITER" d $WRITER remove "$rkey"
for n in "${survivors[@]}"; do
	run d "$n" get "$rkey" --json
	[ "$RC" = 0 ] || { show_out; fail "get $rkey from $n after the remove: exit $RC"; }
	[ "$OUT" = "{\"key\": \"$rkey\", \"values\": []}" ] ||
		{ show_out; fail "$n still sees $rkey after the remove"; }
done
pass "$rkey gone from the get of all ${#survivors[@]} survivors"
other=${survivors[${#survivors[@]} - 1]}
expect 3 "create $ckey from $other" d "$other" create "$ckey" "from-$other"
expect_out "exists" "create of $WRITER's key"
expect 0 "get $ckey from $other" d "$other" get "$ckey"
tab=$'\t'
[[ "$OUT" =~ ^$(value $cidx)${tab}writer=$WRITER${tab}ttl=[0-9]+$ ]] ||
	{ show_out; fail "$ckey changed by the refused create"; }
pass "$ckey still holds only $WRITER's value"

section "SIGTERM: the survivors leave and exit 0"
for n in "${survivors[@]}"; do
	stop_node "$n"
done
pass "${#survivors[@]} nodes exited 0 (under the sanitizers: no leak, no error report)"

printf '\ndht_loopback: all checks passed\n'
