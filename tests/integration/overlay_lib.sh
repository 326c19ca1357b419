# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the overlay integration scripts (sourced after lib.sh): start
# groupvpn-bootstrap processes on 127.0.0.1, ask them for their status with
# dhtctl, judge the ring. Every process started here is remembered by PID and
# stopped on exit; nothing else is ever signalled.
#
# GVPN_KEEP_WORK=1 keeps the directory (logs, statuses) for a post-mortem.
#
# After `ovl_init BIN_DIR`: $BOOT and $DHTCTL are the binaries, $WORK the
# scratch directory (removed on exit, after the processes are gone), $PY
# the python3 interpreter.

# Sanitizer builds run several times slower (CMake sets GVPN_TIME_SCALE for
# them); every time limit is multiplied by it. 1 for a normal build.
TIME_SCALE=${GVPN_TIME_SCALE:-1}
[[ "$TIME_SCALE" =~ ^[1-9]$ ]] || { echo "GVPN_TIME_SCALE must be 1..9" >&2; exit 2; }

declare -A NODE_PID=()  # name -> pid of a running node
# Fast timers so a test takes seconds; see docs/bootstrap.md (--tuning).
TUNING=(--tuning keepalive_ms=500 --tuning dead_ms=2000 --tuning maintain_ms=500
	--tuning retry_min_ms=200 --tuning retry_max_ms=1000 --tuning hs_timeout_ms=3000)

ovl_cleanup() {
	local rc=$?
	# A failure: the end of every node's log, before the directory goes.
	tail_logs "$rc" 15
	stop_nodes
	if [ -n "${GVPN_KEEP_WORK:-}" ]; then
		echo "kept $WORK (GVPN_KEEP_WORK is set)" >&2
	elif [ -n "${WORK:-}" ]; then
		rm -rf "$WORK"
	fi
}

ovl_init() {
	local bindir=${1:-}
	[ -d "$bindir" ] && bindir=$(cd "$bindir" && pwd) # lib_init changes directory
	lib_init "$bindir"
	# The interpreter itself: a version-manager shim costs ~0.4 s a call.
	PY=$(python3 -c 'import sys; print(sys.executable)')
	trap ovl_cleanup EXIT
	trap 'exit 130' INT TERM
	BOOT=$(cd "$bindir" && pwd)/groupvpn-bootstrap
	DHTCTL=$(cd "$bindir" && pwd)/dhtctl
	[ -x "$BOOT" ] || fail "no groupvpn-bootstrap in $bindir"
	[ -x "$DHTCTL" ] || fail "no dhtctl in $bindir"
	write_ring_check
}

now_ms() { date +%s%3N; }

# pick_ports N [dual]: sets BASE so that BASE+1 .. BASE+N are free UDP ports on
# 127.0.0.1, or with "dual" on a dual-stack [::] socket (so on ::1 and
# 127.0.0.1 too); random start in 20000-60000, checked by binding each.
pick_ports() {
	# shellcheck disable=SC2034 # BASE is for the scripts that source this
	BASE=$(
		"$PY" - "$1" "${2:-}" <<'EOF'
import random, socket, sys
n, dual = int(sys.argv[1]), sys.argv[2] == "dual"
for _ in range(100):
    base = random.randrange(20000, 60000 - n - 1)
    socks = []
    try:
        for p in range(base + 1, base + n + 1):
            s = socket.socket(socket.AF_INET6 if dual else socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            if dual:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", p) if dual else ("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit(1)
EOF
	) || fail "no free range of $1 UDP ports found"
}

# issue_bundles FMT N HOST NBOOT: N bundles from ca/ named printf FMT 1..N,
# each listing the first NBOOT nodes (HOST:BASE+i) as bootstrap; fills names[].
issue_bundles() {
	local fmt=$1 n=$2 host=$3 nboot=$4 i name boot=()
	for i in $(seq 1 "$nboot"); do
		boot+=(--bootstrap "$host:$((BASE + i))")
	done
	names=()
	for i in $(seq 1 "$n"); do
		# shellcheck disable=SC2059 # the format is the caller's
		name=$(printf "$fmt" "$i")
		names+=("$name")
		run "$G" issue --ca ca --name "$name" "${boot[@]}" --out "$name.json"
		[ "$RC" = 0 ] || { show_out; fail "issue $name"; }
	done
	pass "$n bundles, UDP ports $((BASE + 1))-$((BASE + n)) on $host"
}

# start_ring N: starts names[0..N) on 127.0.0.1:BASE+1.., the first three
# (the bootstrap nodes) before the rest; t_last is when the last started.
start_ring() {
	local i
	for i in 1 2 3; do
		start_node "${names[i - 1]}" "${names[i - 1]}.json" $((BASE + i))
	done
	wait_started "${names[@]:0:3}"
	for i in $(seq 4 "$1"); do
		start_node "${names[i - 1]}" "${names[i - 1]}.json" $((BASE + i))
	done
	# shellcheck disable=SC2034 # read by the scripts that source this
	t_last=$(now_ms)
}

# start_node NAME BUNDLE PORT [ARGS...]: starts a node in the background;
# its stdout goes to NAME.out, its log to NAME.log, its socket is NAME.sock.
start_node() {
	local name=$1 bundle=$2 port=$3
	shift 3
	start_at "$name" "$bundle" "127.0.0.1:$port" "$@"
}

# start_at NAME BUNDLE LISTEN [ARGS...]: start_node with any listen address.
start_at() {
	local name=$1 bundle=$2 listen=$3
	shift 3
	"$BOOT" -c "$bundle" --listen "$listen" --control "$WORK/$name.sock" \
		"${TUNING[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
	NODE_PID[$name]=$!
}

# wait_started NAME...: until each prints its start line (bounded: 10 s).
wait_started() {
	local name deadline=$(($(now_ms) + 10000 * TIME_SCALE))
	for name in "$@"; do
		until grep -q "listening on" "$WORK/$name.out" 2>/dev/null; do
			kill -0 "${NODE_PID[$name]}" 2>/dev/null ||
				{ cat "$WORK/$name.log" >&2; fail "$name exited at start"; }
			[ "$(now_ms)" -lt "$deadline" ] || fail "$name did not start within 10 s"
			sleep 0.05
		done
	done
}

# kill_node NAME: SIGKILL (a crash), by the PID we started.
kill_node() {
	kill -KILL "${NODE_PID[$1]}"
	wait "${NODE_PID[$1]}" 2>/dev/null || true
	unset "NODE_PID[$1]"
}

# stop_node NAME: SIGTERM; the node must leave and exit 0 within 5 s.
stop_node() {
	local pid=${NODE_PID[$1]} deadline=$(($(now_ms) + 5000 * TIME_SCALE)) rc=0
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
		[ "$(now_ms)" -lt "$deadline" ] || fail "$1 did not exit within 5 s of SIGTERM"
		sleep 0.05
	done
	wait "$pid" || rc=$?
	unset "NODE_PID[$1]"
	[ "$rc" = 0 ] || fail "$1 exited $rc after SIGTERM, want 0"
	[ ! -e "$WORK/$1.sock" ] || fail "$1 left its control socket behind"
}

# status NAME: its `dhtctl status --json` into NAME.status; fails quietly.
# These calls are the test's stopwatch: in a sanitizer build, LeakSanitizer's
# exit-time scan would make each ~0.1 s slower and the measured times late,
# so it is off for them (the test's other dhtctl calls keep it).
status() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		"$DHTCTL" -s "$WORK/$1.sock" status --json >"$WORK/$1.status.tmp" 2>/dev/null &&
		mv "$WORK/$1.status.tmp" "$WORK/$1.status"
}

# node_addr NAME: the overlay address from its start line.
node_addr() {
	sed -n 's/.*address \([0-9a-f]\{40\}\),.*/\1/p' "$WORK/$1.out"
}

write_ring_check() {
	cat >"$WORK/ring_check.py" <<'EOF'
# ring_check.py STATUS_FILE...: exit 0 if, for every node, the closest linked
# peer clockwise and counter-clockwise are its true ring successor and
# predecessor among the nodes given; else print what is wrong and exit 1.
import json, sys
M = 1 << 160
nodes = {}
for path in sys.argv[1:]:
    s = json.load(open(path))
    nodes[int(s["address"], 16)] = (s["name"], [int(l["address"], 16) for l in s["links"]])
ring = sorted(nodes)
bad = []
for i, a in enumerate(ring):
    name, links = nodes[a]
    succ, pred = ring[(i + 1) % len(ring)], ring[i - 1]
    if not links:
        bad.append("%s: no links" % name)
        continue
    cw = min(links, key=lambda l: (l - a) % M)
    ccw = min(links, key=lambda l: (a - l) % M)
    def nm(x):
        return nodes[x][0] if x in nodes else "%040x (not live)" % x
    if cw != succ:
        bad.append("%s: closest clockwise link %s, successor is %s" % (name, nm(cw), nm(succ)))
    if ccw != pred:
        bad.append("%s: closest counter-clockwise link %s, predecessor is %s" % (name, nm(ccw), nm(pred)))
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("ring of %d consistent" % len(ring))
EOF
}

# ring_ok NAME...: one round: every node's status (asked in parallel, so a
# round is short and the measured times are close), then the check.
ring_ok() {
	local name pids=() files=() ok=0
	for name in "$@"; do
		rm -f "$WORK/$name.status"
		status "$name" &
		pids+=($!)
		files+=("$WORK/$name.status")
	done
	for name in "${pids[@]}"; do
		wait "$name" || ok=1
	done
	[ "$ok" = 0 ] || { echo "a node did not answer status" >"$WORK/ring_check.out"; return 1; }
	"$PY" "$WORK/ring_check.py" "${files[@]}" >"$WORK/ring_check.out" 2>&1
}

# wait_ring LIMIT_MS T0_MS NAME...: polls until the ring of NAMEs is
# consistent; RING_MS = how long after T0 the round that saw it ended (an
# upper bound: the state was read during that round). Fails, showing what was
# wrong, if that is over LIMIT_MS (times TIME_SCALE); polls on a little past
# the limit so the report says how late it was. Every round goes to
# rounds.log.
wait_ring() {
	local limit=$(($1 * TIME_SCALE)) t0=$2 give_up r0
	shift 2
	give_up=$((t0 + limit + 10000))
	while :; do
		r0=$(now_ms)
		if ring_ok "$@"; then
			RING_MS=$(($(now_ms) - t0))
			echo "round $((r0 - t0))..$RING_MS ms: consistent" >>"$WORK/rounds.log"
			break
		fi
		echo "round $((r0 - t0))..$(($(now_ms) - t0)) ms: $(head -n 1 "$WORK/ring_check.out")" \
			>>"$WORK/rounds.log"
		if [ "$(now_ms)" -ge "$give_up" ]; then
			sed 's/^/   | /' "$WORK/ring_check.out" >&2
			fail "ring of $# not consistent $((give_up - t0)) ms after the event"
		fi
		sleep 0.05
	done
	[ "$RING_MS" -le "$limit" ] ||
		{ sed 's/^/   | /' "$WORK/ring_check.out" >&2; fail "ring consistent only after $RING_MS ms (limit $limit ms)"; }
}
