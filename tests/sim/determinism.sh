#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# groupvpn-sim is a function of its seed: the same seed twice gives the same
# JSON except wall_seconds, cpu_seconds and peak_rss_mb; another seed gives another run.
# The same with the DHT on every node (its engines take the sim's clock and PRNG).
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

run_dht() { # SEED OUT
	"$bin" --nodes 120 --seed "$1" --lookups 100 --churn 0.2 --dht-keys 300 \
		--dht-create-race 10 --dht-join 20 --json >"$2"
}
run_dht 42 "$tmp/d1"
run_dht 42 "$tmp/d2"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dht_keys"] == 300 and "dht_readable_after_churn" in d and "dht_readable_after_join" in d and d["dht_create_race_nodes"] == 10' "$tmp/d1" ||
	{ echo "FAIL: DHT figures missing"; cat "$tmp/d1"; exit 1; }
if ! diff <(strip "$tmp/d1") <(strip "$tmp/d2"); then
	echo "FAIL: seed 42 with the DHT twice gave different results"
	exit 1
fi
echo "ok: seed 42 with the DHT twice identical"

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
bad "--dht-replicas '2'" --nodes 10 --dht-keys 5 --dht-replicas 2
bad "need --dht-keys" --nodes 10 --dht-join 5
bad "more racers than nodes" --nodes 10 --dht-keys 5 --dht-create-race 20
echo "ok: bad arguments exit 2"
