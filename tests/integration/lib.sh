# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for the integration scripts (sourced, not run). Each check prints
# what it checks; any mismatch prints the command's output and exits 1.
#
# After `lib_init BIN_DIR`: $GVPN_CERT is the CLI, $WORK a fresh directory
# (the current one) that is removed on exit.

lib_init() {
	local bindir=${1:-}

	if [ -z "$bindir" ]; then
		echo "usage: $0 BIN_DIR (the directory holding groupvpn-cert)" >&2
		exit 2
	fi
	GVPN_CERT=$(cd "$bindir" && pwd)/groupvpn-cert
	[ -x "$GVPN_CERT" ] || fail "no groupvpn-cert in $bindir"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/groupvpn-integ.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
	cd "$WORK"
}

need() {
	local tool
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "SKIP: $tool is not installed"
			exit 77
		fi
	done
}

section() { printf '\n== %s\n' "$*"; }
pass() { printf '   ok: %s\n' "$*"; }

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# run CMD...: runs CMD without tripping set -e; stdout+stderr in $OUT, status in $RC.
run() {
	set +e
	OUT=$("$@" 2>&1)
	RC=$?
	set -e
}

show_out() {
	printf '%s\n' "$OUT" | sed 's/^/   | /' >&2
}

# expect RC WHAT CMD...: CMD must exit with status RC.
expect() {
	local want=$1 what=$2
	shift 2
	run "$@"
	if [ "$RC" -ne "$want" ]; then
		show_out
		fail "$what: want exit $want, got $RC from: $*"
	fi
	pass "$what (exit $RC)"
}

# expect_out TEXT WHAT: the last command's output contains TEXT (fixed string).
expect_out() {
	if ! grep -qF -- "$1" <<<"$OUT"; then
		show_out
		fail "$2: output lacks '$1'"
	fi
	pass "$2: says '$1'"
}

expect_no_out() {
	if grep -qF -- "$1" <<<"$OUT"; then
		show_out
		fail "$2: output has '$1'"
	fi
	pass "$2: does not say '$1'"
}

# expect_mode MODE FILE: exact permission bits, e.g. 600.
expect_mode() {
	local got
	got=$(stat -c %a "$2")
	[ "$got" = "$1" ] || fail "$2: mode $got, want $1"
	pass "$2 has mode $1"
}

# json_get FILE KEY: a top-level string of a JSON file, to stdout.
json_get() {
	python3 -c 'import json, sys; sys.stdout.write(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# The clean-up steps the node-running scripts share (overlay_lib.sh,
# vnet_lib.sh). They act on NODE_PID, an associative array name -> PID
# that the caller declares: only processes the test started.

# tail_logs RC LINES: after a failure (RC not 0 or 77), the end of every
# $WORK/*.log.
tail_logs() {
	local rc=$1 lines=$2 log
	[ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "${WORK:-}" ] || return 0
	for log in "$WORK"/*.log; do
		[ -f "$log" ] || continue
		echo "---- last lines of $(basename "$log")" >&2
		tail -n "$lines" "$log" >&2
	done
}

# stop_nodes: SIGTERM to every NODE_PID, a bounded wait (5 s), then SIGKILL
# for what is left; NODE_PID is empty after.
stop_nodes() {
	local name pid alive
	for name in "${!NODE_PID[@]}"; do
		kill -TERM "${NODE_PID[$name]}" 2>/dev/null || true
	done
	for _ in $(seq 1 50); do
		alive=0
		for pid in "${NODE_PID[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${NODE_PID[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	NODE_PID=()
}
