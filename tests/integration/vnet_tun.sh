#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vnet_tun.sh BIN_DIR: vnet/tun.c on a real TUN device, in a network namespace
# of its own. tun_probe (this folder) opens and configures the device on
# command; this script checks the result from outside with ip -j, pings
# through the device and sees the probe read the echo request and write the
# reply it built; then the error lines, closing, and vnet_priv_drop.
# Needs root (exit 77 otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces, TUN)"; exit 77; }
need ip python3 ping
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
BIN=${1:-}
if [ -z "$BIN" ] || [ ! -x "$BIN/tun_probe" ]; then
	echo "usage: $0 BIN_DIR (the directory holding tun_probe)" >&2
	exit 2
fi
PROBE_BIN=$(cd "$BIN" && pwd)/tun_probe
PY=$(python3 -c 'import sys; print(sys.executable)')

NS=gvt$$
PING_PID=
WORK_J=$(mktemp "${TMPDIR:-/tmp}/gvt-j.XXXXXX")
WORK_R=$WORK_J.route
cleanup() {
	local rc=$?
	rm -f "$WORK_J" "$WORK_J".*
	# Only what this script started, by PID: the probe and a ping.
	if [ -n "${PROBE_PID:-}" ]; then kill -KILL "$PROBE_PID" 2>/dev/null || true; fi
	if [ -n "$PING_PID" ]; then kill -KILL "$PING_PID" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

# probe CMD: sends CMD, reads the answer lines (bounded: 20 s) into $OUT; the
# last line, "ok ..." or "err ...", is in $LAST.
probe() {
	local line
	OUT=
	printf '%s\n' "$1" >&"${PROBE[1]}"
	while :; do
		IFS= read -r -t 20 -u "${PROBE[0]}" line || fail "probe: no answer to '$1' within 20 s"
		OUT+="$line"$'\n'
		case $line in ok* | err*) break ;; esac
	done
	LAST=$line
}
probe_ok() {
	probe "$1"
	[[ $LAST == ok* ]] || { show_out; fail "${2:-$1}: $LAST"; }
	pass "${2:-$1}"
}
# probe_err CMD TEXT WHAT: CMD must fail with TEXT in its message.
probe_err() {
	probe "$1"
	[[ $LAST == err* ]] || { show_out; fail "$3: succeeded"; }
	grep -qF -- "$2" <<<"$LAST" || { show_out; fail "$3: message lacks '$2'"; }
	pass "$3: ${LAST#err }"
}

# link_check NAME KEY=VALUE...: the device as `ip -j` shows it: mtu, up,
# addr (CIDR, the only IPv4 address), route (a prefix route via the device).
link_check() {
	local name=$1
	shift
	ip -n "$NS" -j addr show dev "$name" >"$WORK_J" 2>&1 || { cat "$WORK_J" >&2; fail "ip addr show $name"; }
	ip -n "$NS" -j route show dev "$name" >"$WORK_R" 2>&1 || true
	"$PY" - "$WORK_J" "$WORK_R" "$@" <<'EOF' || fail "$name is not as set"
import json, sys
link = json.load(open(sys.argv[1]))[0]
try:
    routes = json.load(open(sys.argv[2]))
except ValueError:
    routes = []
bad = []
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    if k == "mtu" and link["mtu"] != int(v):
        bad.append("mtu %s, want %s" % (link["mtu"], v))
    if k == "up" and ("UP" in link["flags"]) != (v == "1"):
        bad.append("flags %s, want UP %s" % (link["flags"], "set" if v == "1" else "clear"))
    if k == "addr":
        got = ["%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info", []) if a["family"] == "inet"]
        if got != ([v] if v else []):
            bad.append("IPv4 addresses %s, want %s" % (got, v or "none"))
    if k == "route" and v not in [r["dst"] for r in routes]:
        bad.append("routes %s, want %s" % ([r["dst"] for r in routes], v))
if bad:
    print("   | " + "\n   | ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
	pass "$name: $*"
}

section "a namespace of its own ($NS), IPv6 off (no router solicitations on the device)"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
coproc PROBE { exec ip netns exec "$NS" "$PROBE_BIN"; }
pass "tun_probe running (pid $PROBE_PID)"

section "open, MTU, address, up"
probe_ok "open gvt0"
[ "$LAST" = "ok gvt0" ] || fail "the kernel named it '${LAST#ok }', want gvt0"
probe_ok "mtu 1300"
probe_ok "addr 100.64.9.1/24"
link_check gvt0 mtu=1300 addr=100.64.9.1/24 up=0
probe_ok "up"
link_check gvt0 mtu=1300 addr=100.64.9.1/24 up=1 route=100.64.9.0/24
probe_ok "addr 100.64.9.7/25" "a new address replaces the old"
link_check gvt0 addr=100.64.9.7/25 route=100.64.9.0/25
probe_ok "addr 100.64.9.1/24" "and back"
link_check gvt0 addr=100.64.9.1/24 route=100.64.9.0/24
probe_err "mtu 40" "must be 68..65535" "MTU 40 refused"

section "ping 100.64.9.2 through the device: the probe reads the requests and writes replies"
ip netns exec "$NS" ping -n -c 3 -i 0.2 -W 5 100.64.9.2 >"$WORK_J.ping" 2>&1 &
PING_PID=$!
probe "echo 3 15000"
printf '%s' "$OUT" | sed 's/^/   | /'
[[ $LAST == ok* ]] || fail "probe: $LAST"
n=$(grep -c '^request 100\.64\.9\.1 100\.64\.9\.2 ' <<<"$OUT" || true)
[ "$n" = 3 ] || fail "want 3 echo requests 100.64.9.1 -> 100.64.9.2, saw $n"
pass "3 ICMP echo requests read (IPv4, protocol 1, type 8, checksums right)"
rc=0
wait "$PING_PID" || rc=$?
PING_PID=
sed 's/^/   | /' "$WORK_J.ping"
if [ "$rc" != 0 ] || ! grep -q '3 received' "$WORK_J.ping"; then
	fail "ping did not get the 3 replies (exit $rc)"
fi
pass "ping got the 3 replies built by the probe"

section "a packet longer than the read buffer is reported, not passed on cut"
ip netns exec "$NS" ping -n -c 1 -s 300 -W 3 100.64.9.2 >/dev/null 2>&1 &
PING_PID=$!
probe_ok "short 100 10000" "a 328-byte packet read into 100 bytes gives -EMSGSIZE"
wait "$PING_PID" || true # no reply: nobody answers that one
PING_PID=

section "error lines"
probe_err "open gvt0" "interface gvt0 exists and is not ours" "a second open of gvt0"
probe_err "open lo" "interface lo exists and is not ours" "open lo (not a TUN device)"
probe_err "open bad/name" "is not allowed" "open 'bad/name'"
probe_err "open this-name-is-too-long" "is not allowed" "open a name of 21 characters"
probe_err "open-nocap gvt5" "needs root (CAP_NET_ADMIN)" "open as nobody without capabilities"
probe_err "open-notun gvt5" "/dev/net/tun is missing (load the tun module" "open with /dev/net/tun absent"

section "close: the device goes"
probe_ok "close"
deadline=$(($(now_ms) + 5000))
while ip -n "$NS" link show gvt0 >/dev/null 2>&1; do
	[ "$(now_ms)" -lt "$deadline" ] || fail "gvt0 still there 5 s after vnet_tun_close"
	sleep 0.05
done
pass "gvt0 is gone while the probe still runs"

section "vnet_priv_drop nobody: CAP_NET_ADMIN alone"
probe_ok "open gvt1"
probe_ok "up"
probe_ok "raw" "as root: a raw socket opens (CAP_NET_RAW)"
probe_ok "drop nobody"
probe_ok whoami
read -r _ _ uid _ gid _ eff _ prm _ bnd <<<"$LAST"
nobody_uid=$(id -u nobody)
[ "$uid" = "$nobody_uid" ] || fail "uid $uid after the drop, want $nobody_uid"
[ "$gid" = "$(id -g nobody)" ] || fail "gid $gid after the drop, want $(id -g nobody)"
want=0000000000001000 # 1 << CAP_NET_ADMIN (12)
if [ "$eff" != $want ] || [ "$prm" != $want ] || [ "$bnd" != $want ]; then
	fail "capabilities effective $eff permitted $prm bounding $bnd, want $want for each"
fi
pass "uid $uid, effective = permitted = bounding = CAP_NET_ADMIN"
probe_ok "mtu 1280" "MTU still settable"
probe_ok "addr 100.64.9.5/24" "address still settable"
link_check gvt1 mtu=1280 addr=100.64.9.5/24 up=1
probe_err "raw" "Operation not permitted" "CAP_NET_RAW is gone: a raw socket"
probe_ok "close"
mode=$(stat -c %a /dev/net/tun)
if (((8#$mode & 6) == 6)); then
	# Anyone may open it: CAP_NET_ADMIN is then all that creating a device takes.
	probe_ok "open gvt2" "/dev/net/tun is mode $mode: a new device with CAP_NET_ADMIN alone"
else
	probe_err "open gvt2" "needs root (CAP_NET_ADMIN)" \
		"/dev/net/tun (mode $mode) cannot be opened without CAP_DAC_OVERRIDE"
fi
printf 'quit\n' >&"${PROBE[1]}"
rc=0
wait "$PROBE_PID" || rc=$?
PROBE_PID=
[ "$rc" = 0 ] || fail "tun_probe exited $rc"
pass "tun_probe exited 0"
echo
echo "vnet_tun: all checks passed"
