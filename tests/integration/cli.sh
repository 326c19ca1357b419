#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The groupvpn-cert contract, end to end (docs/certs.md "groupvpn-cert"):
# exit codes 0 / 1 (failure or refusal) / 2 (usage); ca, issue, show, verify
# and revoke, their files and modes, their refusals and what those say.
#
#   bash cli.sh BIN_DIR
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need python3 sha256sum stat
lib_init "${1:-}"
G=$GVPN_CERT
NS=cli-test
NET=10.77.0.0/16

umask000() { (umask 000 && exec "$@"); }
ca_sums() { (cd ca && sha256sum ca.crt ca.key crl.pem group.json); }

# The JSON checker, fed `show --json` on stdin.
cat >show_check.py <<'EOF'
import datetime, json, re, sys
ns, name, ip, net = sys.argv[1:5]
o = json.load(sys.stdin)
def bad(msg):
    sys.exit("show --json: " + msg + ": " + json.dumps(o))
for k in ("namespace", "name", "address", "ip", "serial", "not_before", "not_after"):
    if k not in o:
        bad("missing " + k)
if o["namespace"] != ns: bad("namespace")
if o["name"] != name: bad("name")
if not re.fullmatch(r"[0-9a-f]{40}", o["address"]): bad("address is not 40 lowercase hex digits")
if o["ip"] != (ip or None): bad("ip")
if not re.fullmatch(r"[0-9a-f]{1,40}", o["serial"]): bad("serial is not lowercase hex")
now = datetime.datetime.now(datetime.timezone.utc)
fmt = "%Y-%m-%dT%H:%M:%SZ"
nb = datetime.datetime.strptime(o["not_before"], fmt).replace(tzinfo=datetime.timezone.utc)
na = datetime.datetime.strptime(o["not_after"], fmt).replace(tzinfo=datetime.timezone.utc)
# notBefore is an hour in the past; --days defaults to 365.
if not datetime.timedelta(minutes=55) <= now - nb <= datetime.timedelta(minutes=70): bad("not_before")
if not datetime.timedelta(days=364, hours=23) <= na - now <= datetime.timedelta(days=365, hours=1): bad("not_after")
if "network" in o and o["network"] != net: bad("network")
EOF
# check_show_json FILE NAME IP: `show --json` of FILE, checked field by field.
check_show_json() {
	expect 0 "show --json $1" "$G" show "$1" --json
	if ! python3 show_check.py "$NS" "$2" "$3" "$NET" <<<"$OUT"; then
		show_out
		fail "show --json $1: fields are not as documented"
	fi
	pass "show --json $1: namespace, name, address, ip, serial, dates as documented"
}

section "ca: creates ca.crt, ca.key (0600), crl.pem, group.json"
# A permissive umask must not loosen the key's mode.
expect 0 "ca, under umask 000" umask000 "$G" ca --namespace "$NS" --network "$NET" --out ca
expect_out "created group CA for namespace $NS" "ca"
for f in ca.crt ca.key crl.pem group.json; do
	[ -f "ca/$f" ] || fail "ca did not create $f"
done
pass "ca/ holds ca.crt ca.key crl.pem group.json"
expect_mode 600 ca/ca.key
expect_mode 700 ca
python3 - "$NS" "$NET" <<'EOF' || fail "group.json is not {namespace, network, algo}"
import json, sys
g = json.load(open("ca/group.json"))
assert g == {"namespace": sys.argv[1], "network": sys.argv[2], "algo": "ed25519"}, g
EOF
pass "group.json is {namespace, network, algo: ed25519}"

section "ca: a second ca into the same directory fails and changes nothing"
before=$(ca_sums)
expect 1 "second ca, same namespace" "$G" ca --namespace "$NS" --network "$NET" --out ca
expect_out "already exists" "second ca"
expect 1 "second ca, other namespace and algo" "$G" ca --namespace other --network 10.1.0.0/16 \
	--algo p256 --out ca
[ "$(ca_sums)" = "$before" ] || fail "a refused ca changed the CA files"
pass "ca.crt ca.key crl.pem group.json unchanged (sha256)"
expect_mode 600 ca/ca.key

section "issue: writes a 0600 bundle"
expect 0 "issue alice, under umask 000" umask000 "$G" issue --ca ca --name alice --ip 10.77.0.5 \
	--bootstrap 192.0.2.1:7000 --bootstrap boot.example.org:7000 --set listen=0.0.0.0:7000 \
	--out alice.json
expect_out "issued alice: address " "issue"
alice_addr=$(sed -n 's/^issued alice: address \([0-9a-f]\{40\}\),.*/\1/p' <<<"$OUT")
[ -n "$alice_addr" ] || fail "issue did not print a 40-hex address: $OUT"
expect_mode 600 alice.json
python3 - <<'EOF' || fail "alice.json is not the documented bundle"
import json
b = json.load(open("alice.json"))
want = {"namespace", "network", "bootstrap", "ca", "cert", "key", "crl", "listen"}
assert set(b) == want, sorted(b)
assert b["bootstrap"] == ["192.0.2.1:7000", "boot.example.org:7000"], b["bootstrap"]
assert b["listen"] == "0.0.0.0:7000"
assert b["key"].startswith("-----BEGIN PRIVATE KEY-----")
EOF
pass "alice.json has the documented keys, bootstrap list and setting"
expect 0 "issue bob (no ip)" "$G" issue --ca ca --name bob --out bob.json
expect_mode 600 bob.json

section "issue: the same name again needs --force"
cp alice.json alice.keep
expect 1 "issue alice again" "$G" issue --ca ca --name alice --out alice2.json
expect_out "already has a live certificate" "issue alice again"
[ ! -e alice2.json ] || fail "a refused issue wrote alice2.json"
pass "no alice2.json written"
expect 1 "issue over an existing file" "$G" issue --ca ca --name carol --out alice.json
expect_out "already exists" "issue over an existing file"
cmp -s alice.json alice.keep || fail "a refused issue changed alice.json"
pass "alice.json unchanged"
expect 1 "issue carol with alice's ip" "$G" issue --ca ca --name carol --ip 10.77.0.5 --out carol.json
expect_out "already assigned" "issue with a taken ip"
expect 0 "issue alice again --force" "$G" issue --ca ca --name alice --force --out alice2.json
expect_mode 600 alice2.json

section "issue: --ip outside the group network fails"
for ip in 10.78.0.1 10.77.0.0 10.77.255.255 not-an-ip; do
	expect 1 "issue --ip $ip" "$G" issue --ca ca --name dave --ip "$ip" --out dave.json
	[ ! -e dave.json ] || fail "issue --ip $ip wrote a bundle"
done
expect_out "not an IPv4 address" "issue --ip not-an-ip"
run "$G" issue --ca ca --name dave --ip 10.78.0.1 --out dave.json
expect_out "not a host address of the group network $NET" "issue --ip 10.78.0.1"

section "issue: bad --set values fail and write nothing"
expect 1 "--set dht_replicas=99" "$G" issue --ca ca --name erin --set dht_replicas=99 --out erin.json
expect_out "dht_replicas" "--set dht_replicas=99"
expect 1 "--set colour=blue" "$G" issue --ca ca --name erin --set colour=blue --out erin.json
expect_out "colour" "--set colour=blue"
[ ! -e erin.json ] || fail "a refused --set wrote erin.json"
pass "no erin.json written"

section "show --json"
check_show_json alice.json alice 10.77.0.5
python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["network"] == sys.argv[1] and o["bootstrap"] == ["192.0.2.1:7000", "boot.example.org:7000"], o
' "$NET" <<<"$OUT" || fail "show --json of a bundle lacks network/bootstrap"
pass "show --json of a bundle has network and bootstrap"
[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])' <<<"$OUT")" = "$alice_addr" ] ||
	fail "show and issue disagree on alice's address"
pass "show and issue agree on the address"
json_get alice.json cert >alice.crt
check_show_json alice.crt alice 10.77.0.5
check_show_json bob.json bob ""
python3 - "$alice_addr" <<'EOF' || fail "issued.json does not record alice"
import json, sys
issued = json.load(open("ca/issued.json"))["issued"]
assert any(e["name"] == "alice" and e["address"] == sys.argv[1] and not e["revoked"] for e in issued), issued
EOF
pass "issued.json records alice with that address"
if command -v openssl >/dev/null; then
	# address = first 160 bits of SHA-256(namespace || DER SubjectPublicKeyInfo)
	openssl x509 -in alice.crt -noout -pubkey | openssl pkey -pubin -outform DER >alice.spki
	want=$( (printf '%s' "$NS" && cat alice.spki) | openssl dgst -sha256 -r | cut -c1-40)
	[ "$want" = "$alice_addr" ] || fail "address $alice_addr is not SHA-256(ns || SPKI)[:20] = $want"
	pass "address = SHA-256(namespace || SPKI)[:160 bits], recomputed with openssl"
fi
expect 0 "show ca/ca.crt" "$G" show ca/ca.crt
expect_out "CA certificate" "show of the CA"

section "verify --bundle"
expect 0 "verify alice" "$G" verify --ca ca --bundle alice.json
expect_out "valid: alice, namespace $NS, address $alice_addr" "verify alice"
expect 0 "verify --cert alice.crt" "$G" verify --ca ca --cert alice.crt
expect 0 "verify bob" "$G" verify --ca ca --bundle bob.json

section "revoke --name, then verify refuses"
expect 0 "revoke --name alice" "$G" revoke --ca ca --name alice
expect_out "revoked alice" "revoke"
[ "$(grep -c '^revoked alice' <<<"$OUT")" -eq 2 ] || { show_out; fail "revoke --name alice should revoke both of alice's certificates"; }
pass "both of alice's certificates revoked"
expect_out "CRL number 3, 2 revoked" "revoke"
for b in alice.json alice2.json; do
	expect 1 "verify $b after revoke" "$G" verify --ca ca --bundle "$b"
	expect_out "revoked" "verify $b"
	expect_no_out "valid: alice" "verify $b"
done
expect 0 "bob is still valid" "$G" verify --ca ca --bundle bob.json
expect 0 "revoke --name alice again (nothing new)" "$G" revoke --ca ca --name alice
expect_out "already revoked" "revoke again"
expect 1 "revoke --name nobody" "$G" revoke --ca ca --name nobody
expect_out "no certificate issued to 'nobody'" "revoke --name nobody"
expect 0 "issue alice after revoke, without --force" "$G" issue --ca ca --name alice --out alice3.json
expect 0 "the new alice is valid" "$G" verify --ca ca --bundle alice3.json

section "a bundle with an unknown key fails, naming the key"
python3 - <<'EOF'
import json, os
b = json.load(open("bob.json"))
b["frobnicate"] = True
with open("unknown.json", "w") as f:
    json.dump(b, f, indent=2)
os.chmod("unknown.json", 0o600)
EOF
expect 1 "verify --bundle unknown.json" "$G" verify --ca ca --bundle unknown.json
expect_out "frobnicate" "verify --bundle unknown.json"
expect 1 "show unknown.json" "$G" show unknown.json
expect_out "unknown key 'frobnicate'" "show unknown.json"

section "a member of another group"
expect 0 "ca for another group" "$G" ca --namespace elsewhere --network "$NET" --out other
expect 0 "issue there" "$G" issue --ca other --name mallory --out mallory.json
expect 1 "verify mallory against our CA" "$G" verify --ca ca --bundle mallory.json
expect_out "wrong CA" "verify mallory"
expect 1 "revoke --cert of a foreign certificate" "$G" revoke --ca ca --cert mallory.json
expect_out "was not issued by the CA" "revoke a foreign certificate"

section "ca.key that others can read is refused"
chmod 644 ca/ca.key
expect 1 "issue with ca.key 0644" "$G" issue --ca ca --name frank --out frank.json
expect_out "too open" "issue with ca.key 0644"
chmod 600 ca/ca.key

section "bad usage exits 2"
expect 2 "no arguments" "$G"
expect 2 "unknown command" "$G" frobnicate
expect 2 "unknown option" "$G" show --frob alice.json
expect 2 "ca without --out" "$G" ca --namespace x --network "$NET"
expect 2 "ca --algo rsa" "$G" ca --namespace x --network "$NET" --algo rsa --out x
expect 2 "issue --days 0" "$G" issue --ca ca --name x --days 0 --out x.json
expect 2 "issue --bootstrap without a port" "$G" issue --ca ca --name x --bootstrap host --out x.json
expect 2 "issue --set without =" "$G" issue --ca ca --name x --set listen --out x.json
expect 2 "revoke with --name and --cert" "$G" revoke --ca ca --name a --cert b
expect 2 "verify with --cert and --bundle" "$G" verify --ca ca --cert a --bundle b
expect 2 "show with two files" "$G" show a b
expect 2 "show with no file" "$G" show
expect 0 "--help" "$G" --help
expect_out "usage:" "--help"
if [ -e x ] || [ -e x.json ]; then fail "a usage error wrote a file"; fi
pass "no usage error wrote a file"

section "a 10 MB file fails cleanly"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'A' >big
{ printf '{"namespace": "'; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'a'; printf '"}'; } >big.json
for f in big big.json; do
	expect 1 "show $f" "$G" show "$f"
	expect_out "too large" "show $f"
done
expect 1 "verify --cert big" "$G" verify --ca ca --cert big
expect_out "too large" "verify --cert big"
expect 1 "verify --bundle big.json" "$G" verify --ca ca --bundle big.json
expect_out "too large" "verify --bundle big.json"
expect 1 "show a directory" "$G" show ca
expect_out "not a regular file" "show a directory"
expect 1 "show a missing file" "$G" show nothing-here
expect_out "No such file" "show a missing file"

printf '\ncli: all checks passed\n'
