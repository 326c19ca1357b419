#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vnet_security.sh BIN_DIR: what groupvpnd promises about the traffic it
# carries, in a namespace lab (vnet_lib.sh) of a bootstrap node and four
# members:
#  (a) a marker sent through the tunnel never shows on the underlay, neither
#      on a direct path nor when two members cannot reach each other and the
#      a member relays their packets (relays see ciphertext only);
#  (c) a packet with another member's source address is dropped by the
#      receiver (rx_spoofed) and never reaches its device;
#  (d) a revoked member, once the others have the new CRL, reaches nobody,
#      while the others still do;
#  (b) with the bootstrap node killed, the members still talk, including a
#      pair that had not talked before.
# Needs root (exit 77 otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/vnet_lib.sh
. "$HERE/vnet_lib.sh"

lab_init "${1:-}" 4
lab_issue vsec 100.64.0.0/16 4
lab_start_boot
for i in 1 2 3 4; do lab_start_member "$i"; done
declare -A VIP=()
for m in "${MEMBERS[@]}"; do
	VIP[$m]=$(lab_vip "$m")
done
pass "addresses: m1 ${VIP[m1]}, m2 ${VIP[m2]}, m3 ${VIP[m3]}, m4 ${VIP[m4]}"

# peer_path NODE IP: NODE pings IP once, then prints the path its status
# shows for that peer ('' if none).
peer_path() {
	ping_once "$1" "$2" >/dev/null 2>&1 || true
	lab_status "$1" || return 1
	"$PY" -c 'import json, sys
s = json.load(open(sys.argv[1]))
print("".join(p["path"] for p in s["peers"] if p["ip"] == sys.argv[2]))' "$WORK/$1.status" "$2"
}
path_is() { [ "$(peer_path "$1" "$2")" = "$3" ]; }

# 16 bytes, the longest pattern ping -p takes; unique to this run.
MARK=$(printf 'gvpn-mark-%06d' $(($$ % 1000000)))
MARK_HEX=$(printf %s "$MARK" | od -An -tx1 | tr -d ' \n')
CTL_MARK=gvpn-control-$$

# marker_run NAME FROM TO: pings TO's address from FROM with the marker in
# every payload, capturing UDP on the switch (every bridge port) and, as the
# proof the search works, on TO's gvpn0; the marker must be on gvpn0 and
# nowhere on the underlay, which must have carried the traffic. A capture
# that lost packets (tcpdump's "dropped by kernel") proves nothing: that run
# is done again (at most 3 in all).
marker_run() {
	local name=$1 from=$2 to=$3 sw tun lost try
	for try in 1 2 3; do
		capture_start "$name-sw" sw any udp
		capture_start "$name-tun" "$to" gvpn0
		nsx "$from" ping -n -c 5 -i 0.2 -W 2 -s 64 -p "$MARK_HEX" "${VIP[$to]}" \
			>"$WORK/$name.ping" 2>&1 ||
			{ cat "$WORK/$name.ping" >&2; fail "$name: ping with the marker failed"; }
		# The control: another marker in the clear on the underlay, which
		# the search must find (to the bootstrap node's discard port).
		nsx "$from" "$PY" -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), (sys.argv[2], 9))' \
			"$CTL_MARK" "${UNDER[boot]}"
		# tcpdump may still be writing the last packets: until the 5
		# requests are in the device's capture (bounded), then both stop.
		tun_has_5() {
			read -r -a tun <<<"$(pcap_scan "$WORK/$name-tun.pcap" "$MARK")"
			[ "${tun[2]}" -ge 5 ]
		}
		until_ok 5 "$name: the 5 requests captured on $to's gvpn0" tun_has_5
		sw_has_ctl() {
			read -r -a sw <<<"$(pcap_scan "$WORK/$name-sw.pcap" "$CTL_MARK")"
			[ "${sw[2]}" -ge 1 ]
		}
		until_ok 5 "$name: the control marker, sent in the clear, found on the underlay" sw_has_ctl
		capture_stop "$name-sw"
		capture_stop "$name-tun"
		lost=$(sed -n 's/^\([0-9]*\) packets dropped by kernel$/\1/p' "$WORK/$name-sw.log")
		[ "${lost:-unknown}" = 0 ] && break
		echo "   (the underlay capture lost $lost packets: again)"
		[ "$try" -lt 3 ] || fail "$name: the underlay capture lost packets 3 times"
	done
	# An echo request of 92 bytes (-s 64) inside a UDP datagram from FROM:
	# at least 120 bytes, more than a keepalive.
	read -r -a sw <<<"$(pcap_scan "$WORK/$name-sw.pcap" "$MARK" "${UNDER[$from]}" 120)"
	read -r -a tun <<<"$(pcap_scan "$WORK/$name-tun.pcap" "$MARK")"
	[ "${tun[2]}" -ge 5 ] || fail "$name: the marker is in ${tun[2]} packets on $to's gvpn0, want >= 5 (is the search broken?)"
	[ "${sw[3]}" -ge 5 ] ||
		fail "$name: the underlay capture saw ${sw[3]} UDP datagrams >= 120 bytes from $from, want >= 5: it proves nothing"
	[ "${sw[2]}" = 0 ] || fail "$name: the marker '$MARK' is on the underlay, in ${sw[2]} packets"
	pass "$name: '$MARK' in ${tun[2]} packets on $to's gvpn0; in none of the ${sw[1]} UDP packets on the underlay (${sw[3]} of them big enough, from $from; none lost)"
}

section "(a) the marker stays inside the tunnel: direct path m1 -> m2"
until_ok 30 "m1 -> m2 on a direct path" path_is m1 "${VIP[m2]}" direct
marker_run direct m1 m2

section "(a) and when m1 and m2 cannot reach each other: relayed by a member"
lab_block m1 m2
# First inside an end-to-end session routed over the ring, then over a
# link relayed by a member both reach (docs/nat.md): ciphertext either way.
until_ok 40 "m1 -> m2 relayed by a member" path_is m1 "${VIP[m2]}" relayed
lab_ping m1 "${VIP[m2]}" 30
lab_ping m2 "${VIP[m1]}" 30
marker_run relayed m1 m2
for m in m1 m2; do
	drops=$(nsx "$m" nft -j list table inet gvlab | "$PY" -c 'import json, sys
print(sum(e["counter"]["packets"] for x in json.load(sys.stdin)["nftables"] if "rule" in x
          for e in x["rule"]["expr"] if "counter" in e))')
	[ "$drops" -gt 0 ] || fail "$m's firewall dropped nothing: were m1 and m2 really cut apart?"
	pass "$m's firewall dropped $drops packets of the other's"
done
path_is m1 "${VIP[m2]}" relayed || fail "m1 -> m2 left its relay while blocked"
lab_unblock m1 m2
pass "underlay between m1 and m2 open again"
until_ok 60 "m1 -> m2 back on a direct path" path_is m1 "${VIP[m2]}" direct

section "(c) a spoofed source: m1 sends as m3 to m2"
# m2 counts, before anything is delivered, what enters from gvpn0 with m3's
# address to the test port.
nsx m2 nft -f - <<EOF
table ip gvspoof {
	chain pre { type filter hook prerouting priority -300; iifname "gvpn0" ip saddr ${VIP[m3]} udp dport 9999 counter; }
}
EOF
counted() {
	nsx m2 nft -j list table ip gvspoof | "$PY" -c 'import json, sys
print(sum(e["counter"]["packets"] for x in json.load(sys.stdin)["nftables"] if "rule" in x
          for e in x["rule"]["expr"] if "counter" in e))'
}
spoofed0=$(sfield m2 '["vnet"]["rx_spoofed"]')
[ -n "$spoofed0" ] || fail "m2's status has no vnet.rx_spoofed"
lab_ping m1 "${VIP[m2]}" 20 # m1 <-> m2 is up, so a drop below is the check's doing
cat >"$WORK/spoof.py" <<'EOF'
# spoof.py SRC DST COUNT: COUNT UDP datagrams SRC:40000 -> DST:9999 with a
# header we write ourselves (IP_HDRINCL), so the source is whatever we say.
import socket, struct, sys
src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = b"gvpn-spoofed-datagram"
udp = struct.pack("!HHHH", 40000, 9999, 8 + len(body), 0) + body
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x4242, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for _ in range(count):
    s.sendto(ip + udp, (dst, 0))
print("sent", count)
EOF
spoof_counted() {
	nsx m1 "$PY" "$WORK/spoof.py" "${VIP[m3]}" "${VIP[m2]}" 3 >/dev/null
	[ "$(sfield m2 '["vnet"]["rx_spoofed"]')" -gt "$spoofed0" ]
}
until_ok 20 "m2's rx_spoofed goes up (was $spoofed0)" spoof_counted
n=$(counted)
[ "$n" = 0 ] || fail "$n spoofed packets reached m2's gvpn0"
pass "none of them reached m2's gvpn0 (nft counter 0)"
# The counter works: the same datagram from m3 itself does get there.
legit_counted() {
	nsx m3 "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"gvpn-legit-datagram", (sys.argv[1], 9999))' "${VIP[m2]}"
	[ "$(counted)" -gt 0 ]
}
until_ok 20 "the same datagram from m3 itself reaches m2's gvpn0 (the counter works)" legit_counted
nsx m2 nft delete table ip gvspoof

section "(d) revocation: m3 is revoked; the others take the new CRL"
lab_ping m3 "${VIP[m1]}" 20
lab_ping m3 "${VIP[m2]}" 20
run "$GVPN_CERT" revoke --ca ca --name m3
[ "$RC" = 0 ] || { show_out; fail "groupvpn-cert revoke m3"; }
pass "groupvpn-cert revoke --name m3"
for n in boot m1 m2 m4; do
	run ctl "$n" crl-update ca/crl.pem
	[ "$RC" = 0 ] || { show_out; fail "$n: crl-update"; }
	pass "$n: crl-update: $(head -n 1 <<<"$OUT")"
done
cut_off() { ! ping_once m3 "$1"; }
until_ok 20 "m3 cut off from m1" cut_off "${VIP[m1]}"
until_ok 20 "m3 cut off from m2" cut_off "${VIP[m2]}"
for m in m1 m2; do
	no_reply_for m3 "${VIP[$m]}" 5 || fail "m3 reached $m again after the revocation"
	pass "m3 -> $m: no reply for 5 s"
done
lab_ping m1 "${VIP[m2]}" 20
lab_ping m2 "${VIP[m1]}" 20
lab_kill m3
pass "m3 stopped (SIGKILL)"

section "(b) the bootstrap node is killed: the members keep talking"
peers4=$(sexpr m4 '[p["ip"] for p in s["peers"]]')
[ "$peers4" = "[]" ] || fail "m4 has talked before: peers $peers4"
lab_kill boot
pass "boot killed (SIGKILL)"
lab_ping m1 "${VIP[m2]}" 30
lab_ping m2 "${VIP[m1]}" 30
lab_ping m4 "${VIP[m1]}" 30
lab_ping m2 "${VIP[m4]}" 30
pass "m4 <-> m1 and m4 <-> m2 had not talked before"

section "the end"
lab_finish
echo
echo "vnet_security: all checks passed"
