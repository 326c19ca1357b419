#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# groupvpn-sim is a function of its seed: the same seed twice gives the same
# JSON except wall_seconds, cpu_seconds and peak_rss_mb; another seed gives another run.
# Also: bad arguments exit 2 with a message. $1: the directory holding groupvpn-sim.
set -euo pipefail

bin=${1:?usage: determinism.sh BIN_DIR}/groupvpn-sim
[ -x "$bin" ] || { echo "no $bin" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # SEED OUT
	"$bin" --nodes 120 --seed "$1" --lookups 300 --churn 0.2 --json >"$2"
}
# What may differ between two runs of one seed: the wall clock and the memory peak.
strip() {
	sed -E 's/"(wall_seconds|cpu_seconds|peak_rss_mb)":[0-9.]+/"\1":X/g' "$1"
}

run 42 "$tmp/a"
run 42 "$tmp/b"
run 43 "$tmp/c"

[ "$(wc -l <"$tmp/a")" -eq 1 ] || { echo "FAIL: not one line of JSON"; cat "$tmp/a"; exit 1; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "after_churn" in d' "$tmp/a" ||
	{ echo "FAIL: not a JSON object with after_churn"; cat "$tmp/a"; exit 1; }
if ! diff <(strip "$tmp/a") <(strip "$tmp/b"); then
	echo "FAIL: seed 42 twice gave different results"
	exit 1
fi
if [ "$(strip "$tmp/a")" = "$(strip "$tmp/c")" ]; then
	echo "FAIL: seeds 42 and 43 gave the same result"
	exit 1
fi
echo "ok: seed 42 twice identical; seed 43 differs"

# Bad arguments: exit 2 and say what is wrong.
bad() { # EXPECTED-TEXT ARGS...
	local want=$1 rc=0
	shift
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [ "$rc" -ne 2 ] || ! grep -q -- "$want" "$tmp/err"; then
		echo "FAIL: groupvpn-sim $* -> exit $rc, stderr:"
		cat "$tmp/err"
		exit 1
	fi
}
bad "--nodes is required" --lookups 5
bad "--nodes '0'" --nodes 0
bad "--nodes 'x'" --nodes x
bad "--churn '1.5'" --nodes 10 --churn 1.5
bad "--join-rate '0'" --nodes 10 --join-rate 0
bad "--seed '-1'" --nodes 10 --seed -1
bad "unknown option" --nodes 10 --frobnicate
bad "needs a value" --nodes
bad "unexpected argument" --nodes 10 extra
echo "ok: bad arguments exit 2"
