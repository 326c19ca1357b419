# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The namespace lab for the groupvpnd scripts (sourced after lib.sh). Needs
# root; exits 77 otherwise.
#
#   switch namespace PREFIX-sw: bridge br0, no address
#     ├─ veth ─ PREFIX-boot  eth0 198.18.0.1/16   groupvpn-bootstrap
#     ├─ veth ─ PREFIX-m1    eth0 198.18.0.11/16  groupvpnd (TUN gvpn0)
#     ├─ veth ─ PREFIX-m2    eth0 198.18.0.12/16  ...
#
# No default route anywhere: the lab reaches nothing outside itself. Every
# process started here is remembered by PID and stopped on exit, then every
# namespace made here is deleted; nothing else is ever touched. The control
# sockets are files in $WORK, so dhtctl runs from the root namespace.
#
# GVPN_KEEP_WORK=1 keeps $WORK (logs, statuses, captures) for a post-mortem.
# GVPN_TIME_SCALE (1..9) multiplies every time limit (sanitizer builds).
#
# After `lab_init BIN_DIR [N]`: $GVPND, $BOOT, $DHTCTL, $GVPN_CERT the
# binaries; $WORK the scratch directory (the current one); $LAB the prefix;
# $PY python3; MEMBERS=(m1 .. mN); NS[name] and UNDER[name] each node's
# namespace and underlay address; $SW the switch namespace.

TIME_SCALE=${GVPN_TIME_SCALE:-1}
[[ "$TIME_SCALE" =~ ^[1-9]$ ]] || { echo "GVPN_TIME_SCALE must be 1..9" >&2; exit 2; }

declare -A NODE_PID=() # name -> pid of a process we started (daemons, tcpdump, iperf3)
declare -A NS=() UNDER=()
LAB_NS=()        # every namespace made, deleted on exit
MEMBERS=()
LAB_WATCHDOG=    # pid of the process that ends a run that overstays
PORT=7000
# Fast timers so a run takes seconds (docs/bootstrap.md, --tuning).
TUNING=(--tuning keepalive_ms=500 --tuning dead_ms=2000 --tuning maintain_ms=500
	--tuning retry_min_ms=200 --tuning retry_max_ms=1000 --tuning hs_timeout_ms=3000)

now_ms() { date +%s%3N; }

lab_cleanup() {
	local rc=$? ns
	trap - EXIT INT TERM
	tail_logs "$rc" 25
	stop_nodes
	if [ -n "$LAB_WATCHDOG" ]; then
		kill -KILL "$LAB_WATCHDOG" 2>/dev/null || true
		wait "$LAB_WATCHDOG" 2>/dev/null || true
	fi
	for ns in "${LAB_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null || echo "could not delete namespace $ns" >&2
	done
	if [ -n "${GVPN_KEEP_WORK:-}" ] && [ -n "${WORK:-}" ]; then
		echo "kept $WORK (GVPN_KEEP_WORK is set)" >&2
	elif [ -n "${WORK:-}" ]; then
		cd / && rm -rf "$WORK"
	fi
	exit "$rc"
}

# lab_init BIN_DIR [N] [WATCHDOG_S]: the binaries, $WORK, and the lab with a
# bootstrap node and N members (default 3). The run ends itself (SIGTERM,
# so the clean-up runs) after WATCHDOG_S seconds (default 240) times
# GVPN_TIME_SCALE: before CTest's timeout would kill it without one.
lab_init() {
	local bindir=${1:-} n=${2:-3} limit=${3:-240} i
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: needs root (network namespaces, TUN devices, nftables)"
		exit 77
	fi
	need ip nft python3 ping iperf3 tcpdump
	[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
	[ -d "$bindir" ] && bindir=$(cd "$bindir" && pwd) # lib_init changes directory
	lib_init "$bindir"
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	PY=$(python3 -c 'import sys; print(sys.executable)')
	GVPND=$bindir/groupvpnd
	BOOT=$bindir/groupvpn-bootstrap
	DHTCTL=$bindir/dhtctl
	for i in "$GVPND" "$BOOT" "$DHTCTL"; do
		[ -x "$i" ] || fail "no $(basename "$i") in $bindir"
	done
	"$PY" -c 'import os, signal, sys, time
time.sleep(float(sys.argv[1]))
print("watchdog: the run took over %s s; stopping it" % sys.argv[1], file=sys.stderr)
os.kill(int(sys.argv[2]), signal.SIGTERM)' "$((limit * TIME_SCALE))" "$$" &
	LAB_WATCHDOG=$!

	LAB=gvl$$
	SW=$LAB-sw
	lab_ns "$SW"
	ip -n "$SW" link add br0 type bridge
	ip -n "$SW" link set br0 up
	lab_node boot 198.18.0.1
	for i in $(seq 1 "$n"); do
		lab_node "m$i" "198.18.0.$((10 + i))"
		MEMBERS+=("m$i")
	done
	pass "lab $LAB: switch $SW, bootstrap ${UNDER[boot]}, members ${MEMBERS[*]} (198.18.0.11..)"
}

# lab_ns NAME: a namespace, remembered for the clean-up, with lo up.
lab_ns() {
	ip netns add "$1" || fail "ip netns add $1"
	LAB_NS+=("$1")
	ip -n "$1" link set lo up
}

# lab_node NAME ADDR: a namespace with eth0 (ADDR/16) plugged into br0.
lab_node() {
	local name=$1 addr=$2 ns=$LAB-$1
	lab_ns "$ns"
	# Made inside the switch namespace: nothing appears in the root one.
	ip -n "$SW" link add "v-$name" type veth peer name eth0 netns "$ns"
	ip -n "$SW" link set "v-$name" master br0 up
	ip -n "$ns" addr add "$addr/16" dev eth0
	ip -n "$ns" link set eth0 up
	NS[$name]=$ns
	UNDER[$name]=$addr
}

# lab_nat_router R TYPE: NAT router namespace rR (made once): WAN
# 198.18.1.R/16 on the switch, LAN 198.19.R.0/24 (router .1). TYPE cone:
# nftables masquerade (keeps the source port where it can: endpoint-
# independent mapping, like most home routers); symmetric: masquerade
# random (a new port per destination). Like a home router it forwards only
# replies inwards and drops unsolicited packets to itself.
lab_nat_router() {
	local r=$1 type=$2 rns=$LAB-r$1 masq=masquerade
	[ -n "${NS[r$r]:-}" ] && return 0
	[ "$type" = symmetric ] && masq="masquerade random"
	lab_ns "$rns"
	NS[r$r]=$rns
	ip netns exec "$rns" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$SW" link add "v-r$r" type veth peer name wan netns "$rns"
	ip -n "$SW" link set "v-r$r" master br0 up
	ip -n "$rns" addr add "198.18.1.$r/16" dev wan
	ip -n "$rns" link set wan up
	ip -n "$rns" link add lanbr type bridge
	ip -n "$rns" addr add "198.19.$r.1/24" dev lanbr
	ip -n "$rns" link set lanbr up
	ip netns exec "$rns" nft -f - <<EOF
table ip gvnat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" $masq
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		iifname "lanbr" accept
		iifname "wan" oifname "lanbr" ct state established,related accept
	}
	chain input {
		type filter hook input priority filter; policy drop;
		iifname != "wan" accept
		ct state established,related accept
	}
}
EOF
	UNDER[r$r]=198.18.1.$r
}

# lab_nat_node NAME R HOST: a namespace behind router rR (lab_nat_router
# first) with 198.19.R.HOST/24; only the lab's underlay is routed, via the
# router (no default route).
lab_nat_node() {
	local name=$1 r=$2 host=$3 ns=$LAB-$1
	lab_ns "$ns"
	ip -n "${NS[r$r]}" link add "v-$name" type veth peer name eth0 netns "$ns"
	ip -n "${NS[r$r]}" link set "v-$name" master lanbr up
	ip -n "$ns" addr add "198.19.$r.$host/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add 198.18.0.0/16 via "198.19.$r.1"
	NS[$name]=$ns
	UNDER[$name]=198.19.$r.$host
}

# nsx NAME CMD...: runs CMD in NAME's namespace.
nsx() {
	local name=$1
	shift
	ip netns exec "${NS[$name]}" "$@"
}

# lab_issue NAMESPACE NETWORK N: the group CA in ca/, boot1.json for the
# bootstrap node and m1.json .. mN.json.
lab_issue() {
	local ns=$1 net=$2 n=$3 i
	run "$GVPN_CERT" ca --namespace "$ns" --network "$net" --out ca
	[ "$RC" = 0 ] || { show_out; fail "groupvpn-cert ca"; }
	run "$GVPN_CERT" issue --ca ca --name boot1 --bootstrap "${UNDER[boot]}:$PORT" \
		--set "listen=0.0.0.0:$PORT" --out boot1.json
	[ "$RC" = 0 ] || { show_out; fail "issue boot1"; }
	for i in $(seq 1 "$n"); do
		run "$GVPN_CERT" issue --ca ca --name "m$i" --bootstrap "${UNDER[boot]}:$PORT" \
			--out "m$i.json"
		[ "$RC" = 0 ] || { show_out; fail "issue m$i"; }
	done
	pass "group $ns ($net): CA, boot1.json, m1.json..m$n.json"
}

# lab_bg NAME NODE CMD...: CMD in NODE's namespace in the background, its
# output in $WORK/NAME.out and $WORK/NAME.log, its PID remembered as NAME.
lab_bg() {
	local name=$1 node=$2
	shift 2
	echo "==== $(date -u +%FT%T.%3NZ) started: $*" >>"$WORK/$name.log"
	ip netns exec "${NS[$node]}" "$@" >"$WORK/$name.out" 2>>"$WORK/$name.log" &
	NODE_PID[$name]=$!
}

# lab_start_boot [ARGS...]: groupvpn-bootstrap in the boot namespace.
# shellcheck disable=SC2120 # the arguments are optional
lab_start_boot() {
	lab_bg boot boot "$BOOT" -c boot1.json --control "$WORK/boot.sock" \
		--log-level debug "${TUNING[@]}" "$@"
	lab_wait_started boot
}

# lab_start_member I [ARGS...]: groupvpnd for member I (state in mI.state).
lab_start_member() {
	local i=$1
	shift
	lab_bg "m$i" "m$i" "$GVPND" -c "m$i.json" --foreground --control "$WORK/m$i.sock" \
		--state-dir "$WORK/m$i.state" --log-level debug "${TUNING[@]}" "$@"
	lab_wait_started "m$i"
}

# lab_wait_started NAME: until it prints its start line (bounded: 10 s).
lab_wait_started() {
	local name=$1 deadline=$(($(now_ms) + 10000 * TIME_SCALE))
	until grep -q "listening on" "$WORK/$name.out" 2>/dev/null; do
		kill -0 "${NODE_PID[$name]}" 2>/dev/null ||
			{ tail -n 30 "$WORK/$name.log" >&2; fail "$name exited at start"; }
		[ "$(now_ms)" -lt "$deadline" ] || fail "$name did not start within 10 s"
		sleep 0.05
	done
}

# lab_stop NAME: SIGTERM, by its PID; it must exit 0 within 10 s (it leaves
# the ring first).
lab_stop() {
	local pid=${NODE_PID[$1]} deadline=$(($(now_ms) + 10000 * TIME_SCALE)) rc=0
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
		[ "$(now_ms)" -lt "$deadline" ] || fail "$1 did not exit within 10 s of SIGTERM"
		sleep 0.05
	done
	wait "$pid" || rc=$?
	unset "NODE_PID[$1]"
	[ "$rc" = 0 ] || fail "$1 exited $rc after SIGTERM, want 0"
}

# lab_kill NAME: SIGKILL (a crash), by its PID.
lab_kill() {
	local pid=${NODE_PID[$1]}
	kill -KILL "$pid"
	# bash would report the killed job on stderr: not a failure here.
	{ wait "$pid" 2>/dev/null || true; } 2>/dev/null
	unset "NODE_PID[$1]"
}

# lab_finish: every node still running is stopped with SIGTERM and must
# exit 0; no log may hold a sanitizer report (ASan, UBSan, LeakSanitizer).
lab_finish() {
	local name
	for name in boot "${MEMBERS[@]}"; do
		[ -n "${NODE_PID[$name]:-}" ] && lab_stop "$name"
	done
	if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK"/*.log >"$WORK/san.out"; then
		fail "sanitizer reports in: $(tr '\n' ' ' <"$WORK/san.out")"
	fi
	pass "every node stopped with exit 0; no sanitizer report in the logs"
}

# ctl NAME ARGS...: dhtctl on NAME's control socket.
ctl() {
	local name=$1
	shift
	"$DHTCTL" -s "$WORK/$name.sock" "$@"
}

# lab_status NAME: its status --json into $WORK/NAME.status; fails quietly.
lab_status() {
	ctl "$1" status --json >"$WORK/$1.status.tmp" 2>/dev/null &&
		mv "$WORK/$1.status.tmp" "$WORK/$1.status"
}

# sexpr NAME PYEXPR: from a fresh status s, the value of PYEXPR ('' for
# None or a missing key), e.g. sexpr m1 '[p["ip"] for p in s["peers"]]'.
sexpr() {
	lab_status "$1" || return 1
	"$PY" -c 'import json, sys
s = json.load(open(sys.argv[1]))
try:
    v = eval(sys.argv[2], {"s": s})
except (KeyError, IndexError, TypeError):
    v = None
print("" if v is None else v)' "$WORK/$1.status" "$2"
}

# sfield NAME KEYS: sexpr of s<KEYS>, e.g. sfield m1 '["vnet"]["rx_spoofed"]'.
sfield() {
	sexpr "$1" "s$2"
}

# until_ok SECONDS WHAT CMD...: polls CMD (output to $WORK/until.out) until
# it succeeds, at most SECONDS (times GVPN_TIME_SCALE), else fails the test.
until_ok() {
	local limit=$(($1 * TIME_SCALE * 1000)) what=$2 t0
	shift 2
	t0=$(now_ms)
	until "$@" >"$WORK/until.out" 2>&1; do
		if [ $(($(now_ms) - t0)) -gt "$limit" ]; then
			sed 's/^/   | /' "$WORK/until.out" | tail -n 20 >&2
			fail "$what: not within $((limit / 1000)) s"
		fi
		sleep 0.2 # the polling interval, not a synchronisation
	done
	pass "$what ($(($(now_ms) - t0)) ms)"
}

# has_vip NAME: its status shows a virtual address.
has_vip() {
	[ -n "$(sfield "$1" '["virtual_ip"]')" ]
}

# lab_vip NAME: waits (30 s) for NAME's virtual address and prints it.
lab_vip() {
	local deadline=$(($(now_ms) + 30000 * TIME_SCALE)) ip
	while :; do
		ip=$(sfield "$1" '["virtual_ip"]' 2>/dev/null || true)
		[ -n "$ip" ] && break
		[ "$(now_ms)" -lt "$deadline" ] || fail "$1 has no virtual address after 30 s"
		sleep 0.2
	done
	echo "$ip"
}

# ping_once NODE IP: one echo, a 1 s wait, from NODE's namespace.
ping_once() {
	nsx "$1" ping -n -c 1 -W 1 "$2"
}

# lab_ping NODE IP [SECONDS]: pings until one reply (default 20 s), or fails.
lab_ping() {
	until_ok "${3:-20}" "${1} -> $2" ping_once "$1" "$2"
}

# no_reply_for NODE IP SECONDS: every ping in SECONDS gets no reply.
no_reply_for() {
	local t0
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt $(($3 * 1000)) ]; do
		if ping_once "$1" "$2" >/dev/null 2>&1; then
			return 1
		fi
	done
}

# lab_block A B: A's and B's namespaces drop each other's underlay packets
# (nftables table gvlab in each, which lab_unblock removes).
lab_block() {
	local a=$1 b=$2
	lab_nft "$a" "${UNDER[$b]}"
	lab_nft "$b" "${UNDER[$a]}"
	pass "underlay blocked between $a (${UNDER[$a]}) and $b (${UNDER[$b]})"
}
lab_nft() {
	nsx "$1" nft -f - <<EOF
table inet gvlab {
	chain in { type filter hook input priority 0; ip saddr $2 counter drop; }
	chain out { type filter hook output priority 0; ip daddr $2 counter drop; }
}
EOF
}
lab_unblock() {
	nsx "$1" nft delete table inet gvlab
	nsx "$2" nft delete table inet gvlab
}

# capture_start NAME NODE IFACE [FILTER...]: tcpdump in NODE's namespace
# (or "sw") into $WORK/NAME.pcap; returns once it is listening.
capture_start() {
	local name=$1 node=$2 ifc=$3 ns deadline
	shift 3
	ns=${NS[$node]:-$SW}
	[ "$node" = sw ] && ns=$SW
	ip netns exec "$ns" tcpdump -n -U --immediate-mode -B 8192 -Z root -s 0 -i "$ifc" -w "$WORK/$name.pcap" "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.log" &
	NODE_PID[$name]=$!
	deadline=$(($(now_ms) + 10000 * TIME_SCALE))
	until grep -q "listening on" "$WORK/$name.log" 2>/dev/null; do
		kill -0 "${NODE_PID[$name]}" 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "tcpdump $name"; }
		[ "$(now_ms)" -lt "$deadline" ] || fail "tcpdump $name not listening within 10 s"
		sleep 0.05
	done
}

# capture_stop NAME: SIGTERM (tcpdump writes what it has), bounded wait.
capture_stop() {
	local pid=${NODE_PID[$1]} deadline=$(($(now_ms) + 10000))
	kill -TERM "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(now_ms)" -lt "$deadline" ] || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "NODE_PID[$1]"
}

# pcap_scan FILE MARKER [SRC MINLEN]: prints "PACKETS UDP HITS BIG": the
# packets in a pcap (any link type), how many carried UDP over IPv4, how many
# held MARKER, and how many were UDP from SRC at least MINLEN bytes long (IP
# total length).
pcap_scan() {
	"$PY" - "$@" <<'EOF'
import socket, struct, sys
data = open(sys.argv[1], "rb").read()
marker = sys.argv[2].encode()
src = socket.inet_aton(sys.argv[3]) if len(sys.argv) > 3 else None
minlen = int(sys.argv[4]) if len(sys.argv) > 4 else 0
endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
linktype = struct.unpack(endian + "I", data[20:24])[0] if len(data) >= 24 else 0
# where the IPv4 header starts: LINUX_SLL 16, LINUX_SLL2 20, Ethernet 14, raw 0
l2 = {113: 16, 276: 20, 1: 14}.get(linktype, 0)
off, packets, udp, hits, big = 24, 0, 0, 0, 0
while off + 16 <= len(data):
    caplen = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
    if off + 16 + caplen > len(data):
        break  # a record still being written
    pkt = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    packets += 1
    ip = pkt[l2:]
    if len(ip) >= 20 and ip[0] >> 4 == 4 and ip[9] == 17:
        udp += 1
        if src and ip[12:16] == src and struct.unpack("!H", ip[2:4])[0] >= minlen:
            big += 1
    if marker in pkt:
        hits += 1
# and the file as a whole, in case a record boundary was misread
if marker in data and hits == 0:
    hits = 1
print(packets, udp, hits, big)
EOF
}

# ---- the NAT scripts' common steps (VIP: the caller's NAME -> virtual address) ----

# lab_start_natted NAME...: a bundle for each (the group made by lab_issue)
# and groupvpnd in its namespace, started and listening.
lab_start_natted() {
	local n
	for n in "$@"; do
		run "$GVPN_CERT" issue --ca ca --name "$n" --bootstrap "${UNDER[boot]}:$PORT" \
			--out "$n.json"
		[ "$RC" = 0 ] || { show_out; fail "issue $n"; }
		lab_bg "$n" "$n" "$GVPND" -c "$n.json" --foreground --control "$WORK/$n.sock" \
			--state-dir "$WORK/$n.state" --log-level debug "${TUNING[@]}"
		lab_wait_started "$n"
	done
}

# lab_nat_group NAMESPACE NAME...: the group (lab_issue), the bootstrap node,
# m1 and groupvpnd on each NAME (lab_start_natted); VIP then holds the
# virtual address of m1 and of every NAME.
lab_nat_group() {
	local ns=$1 n
	shift
	lab_issue "$ns" 100.64.0.0/16 1
	lab_start_boot
	lab_start_member 1
	lab_start_natted "$@"
	declare -gA VIP=()
	for n in m1 "$@"; do VIP[$n]=$(lab_vip "$n"); done
}

# vpath A B: A's vnet path to B ("direct", "relayed", "overlay"; '' if none yet).
vpath() {
	sexpr "$1" "[p['path'] for p in s['peers'] if p['ip'] == '${VIP[$2]}'][0]" 2>/dev/null || true
}

# vpath_now A B WANT: one packet A -> B, then: is A's path to B WANT?
vpath_now() {
	ping_once "$1" "${VIP[$2]}" >/dev/null 2>&1 || true
	[ "$(vpath "$1" "$2")" = "$3" ]
}

# link_field A NAME FIELD: FIELD of A's link to member NAME ('' if none).
link_field() {
	sexpr "$1" "[l.get('$3', '') for l in s['links'] if l['name'] == '$2'][0]" 2>/dev/null || true
}

# lab_tcp A B SECONDS: iperf3 A -> B's virtual address; TCP_BPS is then the
# bits/s B received. (Not in $(...): the server's PID must reach the clean-up.)
lab_tcp() {
	local a=$1 b=$2 t=$3 bps
	nsx "$b" iperf3 -s -1 -p 5201 >"$WORK/iperf-s.out" 2>&1 &
	NODE_PID[iperf]=$!
	# shellcheck disable=SC2317 # called through until_ok
	tcp_listening() { nsx "$b" ss -Htln 'sport = :5201' | grep -q LISTEN; }
	until_ok 10 "iperf3 server on $b" tcp_listening
	nsx "$a" iperf3 -c "${VIP[$b]}" -p 5201 -t "$t" -J >"$WORK/iperf.json" || fail "iperf3 $a -> $b"
	bps=$("$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$WORK/iperf.json")
	wait "${NODE_PID[iperf]}" 2>/dev/null || true
	unset 'NODE_PID[iperf]'
	[ "$bps" -gt 0 ] || fail "no TCP throughput $a -> $b"
	TCP_BPS=$bps # for the caller
	export TCP_BPS
}
