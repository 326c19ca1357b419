#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Makes the fuzz targets' seed corpora with groupvpn-cert and the stock
# openssl command line: real bundles, certificates (PEM and DER) and CRLs,
# some made by openssl with unusual fields, and hand-broken ones (truncated,
# wrong types, unknown keys, trailing data).
#
#   tests/fuzz/make-seeds.sh [GROUPVPN_CERT [OUT_DIR]]
#
# Defaults: build/bin/groupvpn-cert and tests/fuzz/corpus. Files are written
# under fixed names, so running it again replaces them (with fresh keys) and
# leaves any other file in the corpus alone. The main CA is for namespace
# "fuzz", like the targets' fixed trust, so seeds reach the signature check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gvpn=${1:-$here/../../build/bin/groupvpn-cert}
out=${2:-$here/corpus}
SEED_MAX=8192
TOTAL_MAX=$((200 * 1024))

die() {
	echo "make-seeds: $*" >&2
	exit 1
}
[ -x "$gvpn" ] || die "no groupvpn-cert at $gvpn (build first, or pass its path)"
command -v openssl >/dev/null || die "needs the openssl command line"
command -v python3 >/dev/null || die "needs python3"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
B=$out/bundle C=$out/cert_verify R=$out/crl
mkdir -p "$B" "$C" "$R"

quiet() { "$@" >/dev/null; }

# field BUNDLE KEY: one string of a bundle, to stdout.
field() {
	python3 -c 'import json, sys; sys.stdout.write(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# edit IN OUT 'python statements on b': a changed copy of a bundle.
edit() {
	python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
def pem(path):
    return open(path).read()
exec(sys.argv[3])
json.dump(b, open(sys.argv[2], "w"), indent=2)
' "$1" "$2" "$3"
}

# ossl_node CA_DIR NAME KEY_ALGO SAN_LINE OUT [SUBJ [EXT_LINE]]: an
# openssl-made node certificate signed by CA_DIR's key; its key goes to OUT.key.
ossl_node() {
	local ca=$1 name=$2 algo=$3 san=$4 crt=$5 subj=${6:-/CN=$2} extra=${7:-}
	case $algo in
	ed25519) openssl genpkey -algorithm ed25519 -out "$crt.key" ;;
	p256) openssl ecparam -name prime256v1 -genkey -noout -out "$crt.key" ;;
	esac
	openssl req -new -key "$crt.key" -subj "$subj" -out "$tmp/$name.csr"
	{
		[ -n "$san" ] && echo "subjectAltName = $san"
		echo "basicConstraints = critical,CA:FALSE"
		echo "keyUsage = critical,digitalSignature"
		[ -z "$extra" ] || echo "$extra"
	} >"$tmp/$name.ext"
	openssl x509 -req -in "$tmp/$name.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 15)" -days 400 -extfile "$tmp/$name.ext" \
		-out "$crt" 2>/dev/null
}

der() { openssl x509 -in "$1" -outform DER -out "$2"; }

# ---- groups -------------------------------------------------------------
ca=$tmp/ca p256=$tmp/p256 twin=$tmp/twin
quiet "$gvpn" ca --namespace fuzz --network 10.99.0.0/16 --out "$ca"
quiet "$gvpn" ca --namespace other --network 10.100.0.0/24 --algo p256 --out "$p256"
# Same namespace and CA name as $ca, different key: a convincing stranger.
quiet "$gvpn" ca --namespace fuzz --network 10.99.0.0/16 --out "$twin"
cp "$ca/crl.pem" "$tmp/crl-empty.pem"
cp "$p256/crl.pem" "$tmp/crl-p256-empty.pem"

quiet "$gvpn" issue --ca "$ca" --name node-1 --out "$tmp/n1.json"
quiet "$gvpn" issue --ca "$ca" --name node-2 --ip 10.99.0.7 \
	--bootstrap 192.0.2.1:7000 --bootstrap '[2001:db8::1]:7000' --bootstrap seed.example.org:7000 \
	--set listen=0.0.0.0:0 --set control_socket=/run/groupvpn.sock --set state_dir=/var/lib/gvpn \
	--set interface=gvpn0 --set shortcuts=threshold:100 --set dht_replicas=5 --out "$tmp/n2.json"
quiet "$gvpn" issue --ca "$ca" --name node-3 --out "$tmp/n3.json"
quiet "$gvpn" revoke --ca "$ca" --name node-1
quiet "$gvpn" revoke --ca "$ca" --name node-3
cp "$ca/crl.pem" "$tmp/crl-two.pem"
quiet "$gvpn" issue --ca "$ca" --name node-4 --bootstrap 198.51.100.9:7000 --out "$tmp/n4.json"
quiet "$gvpn" issue --ca "$p256" --name p-node --ip 10.100.0.9 --out "$tmp/p1.json"
quiet "$gvpn" revoke --ca "$p256" --name p-node
quiet "$gvpn" issue --ca "$twin" --name node-1 --out "$tmp/t1.json"

for n in n1 n2 n3 n4 p1 t1; do
	field "$tmp/$n.json" cert >"$tmp/$n.crt"
done

# openssl-made node certificates, all signed by the "fuzz" CA's key.
urn=URI:urn:groupvpn
ossl_node "$ca" o-ok ed25519 "$urn:fuzz" "$tmp/o-ok.crt"
# Without key identifiers OpenSSL picks the issuer by name alone, so under the
# targets' trust (same CA name, other key) this one fails at the signature.
ossl_node "$ca" o-no-akid ed25519 "$urn:fuzz" "$tmp/o-no-akid.crt" /CN=o-no-akid \
	"authorityKeyIdentifier = none"
ossl_node "$ca" o-wrong-ns ed25519 "$urn:elsewhere" "$tmp/o-wrong-ns.crt"
ossl_node "$ca" o-no-san ed25519 "" "$tmp/o-no-san.crt"
ossl_node "$ca" o-two-ns ed25519 "$urn:fuzz,$urn:fuzz2" "$tmp/o-two-ns.crt"
ossl_node "$ca" o-other-uris ed25519 "URI:https://example.org/x,URI:urn:groupvpn:,$urn:fuzz,DNS:n.example" \
	"$tmp/o-other-uris.crt"
ossl_node "$ca" o-ipv6 ed25519 "$urn:fuzz,IP:2001:db8::7" "$tmp/o-ipv6.crt"
ossl_node "$ca" o-ip-outside ed25519 "$urn:fuzz,IP:10.200.0.1" "$tmp/o-ip-outside.crt"
ossl_node "$ca" o-two-ips ed25519 "$urn:fuzz,IP:10.99.0.8,IP:10.99.0.9" "$tmp/o-two-ips.crt"
ossl_node "$ca" o-two-cn ed25519 "$urn:fuzz" "$tmp/o-two-cn.crt" "/CN=a/CN=b"
ossl_node "$ca" o-bad-cn ed25519 "$urn:fuzz" "$tmp/o-bad-cn.crt" "/CN=not a name!"
ossl_node "$ca" o-no-cn ed25519 "$urn:fuzz" "$tmp/o-no-cn.crt" "/O=groupvpn"
ossl_node "$ca" o-long-ns ed25519 "$urn:$(printf 'n%.0s' {1..70})" "$tmp/o-long-ns.crt"
ossl_node "$ca" o-bad-ns ed25519 "$urn:-bad/ns" "$tmp/o-bad-ns.crt"
ossl_node "$ca" o-ec-key p256 "$urn:fuzz" "$tmp/o-ec-key.crt"

# ---- bundle ---------------------------------------------------------------
cp "$tmp/n1.json" "$B/ok-plain.json"
cp "$tmp/n2.json" "$B/ok-full.json"
cp "$tmp/n4.json" "$B/ok-crl-two.json"
cp "$tmp/p1.json" "$B/ok-p256.json"
edit "$tmp/n1.json" "$B/revoked.json" "b['crl'] = pem('$tmp/crl-two.pem')"
# Certificates the parser takes and the verifier refuses.
edit "$tmp/n1.json" "$B/ok-foreign-cert.json" \
	"b['cert'] = pem('$tmp/t1.crt'); b['key'] = json.load(open('$tmp/t1.json'))['key']"
edit "$tmp/n1.json" "$B/ok-ip-outside.json" \
	"b['cert'] = pem('$tmp/o-ip-outside.crt'); b['key'] = pem('$tmp/o-ip-outside.crt.key')"
edit "$tmp/n1.json" "$B/ok-ec-node-key.json" \
	"b['cert'] = pem('$tmp/o-ec-key.crt'); b['key'] = pem('$tmp/o-ec-key.crt.key')"
edit "$tmp/n1.json" "$B/ok-openssl-node.json" \
	"b['cert'] = pem('$tmp/o-other-uris.crt'); b['key'] = pem('$tmp/o-other-uris.crt.key')"
# Broken ones.
head -c 1500 "$tmp/n2.json" >"$B/bad-truncated.json"
edit "$tmp/n1.json" "$B/bad-unknown-key.json" 'b["colour"] = "blue"'
edit "$tmp/n1.json" "$B/bad-type-bootstrap.json" 'b["bootstrap"] = "192.0.2.1:7000"'
edit "$tmp/n1.json" "$B/bad-type-ca.json" 'b["ca"] = 7'
edit "$tmp/n1.json" "$B/bad-type-replicas.json" 'b["dht_replicas"] = "5"'
edit "$tmp/n1.json" "$B/bad-range-replicas.json" 'b["dht_replicas"] = 99'
edit "$tmp/n1.json" "$B/bad-shortcuts.json" 'b["shortcuts"] = "sometimes"'
edit "$tmp/n1.json" "$B/bad-interface.json" 'b["interface"] = "a/b"'
edit "$tmp/n1.json" "$B/bad-listen.json" 'b["listen"] = "0.0.0.0"'
edit "$tmp/n1.json" "$B/bad-missing-crl.json" 'del b["crl"]'
edit "$tmp/n1.json" "$B/bad-bootstrap-entry.json" 'b["bootstrap"] = ["no-port", 5]'
edit "$tmp/n1.json" "$B/bad-bootstrap-many.json" \
	'b["bootstrap"] = ["10.0.0.%d:7000" % i for i in range(65)]'
edit "$tmp/n1.json" "$B/bad-network.json" 'b["network"] = "10.99.0.1/16"'
edit "$tmp/n1.json" "$B/bad-namespace.json" 'b["namespace"] = "other"'
edit "$tmp/n1.json" "$B/bad-key-mismatch.json" "b['key'] = json.load(open('$tmp/n3.json'))['key']"
edit "$tmp/n1.json" "$B/bad-crl-foreign.json" "b['crl'] = pem('$p256/crl.pem')"
edit "$tmp/n1.json" "$B/bad-two-certs.json" 'b["cert"] = b["cert"] + b["cert"]'
edit "$tmp/n1.json" "$B/bad-cert-is-ca.json" 'b["cert"] = b["ca"]'
edit "$tmp/n1.json" "$B/bad-wrong-ns-cert.json" \
	"b['cert'] = pem('$tmp/o-wrong-ns.crt'); b['key'] = pem('$tmp/o-wrong-ns.crt.key')"
openssl pkey -in "$tmp/o-ok.crt.key" -aes-128-cbc -passout pass:secret -out "$tmp/enc.key" 2>/dev/null
edit "$tmp/n1.json" "$B/bad-key-encrypted.json" \
	"b['cert'] = pem('$tmp/o-ok.crt'); b['key'] = pem('$tmp/enc.key')"
python3 - "$tmp/n1.json" "$B/bad-duplicate-key.json" <<'EOF'
import sys
t = open(sys.argv[1]).read().rstrip().rstrip("}")
open(sys.argv[2], "w").write(t + ',\n  "namespace": "fuzz"\n}\n')
EOF
printf '[]' >"$B/bad-array.json"
printf '{}' >"$B/bad-empty-object.json"
printf 'null' >"$B/bad-null.json"
printf '{"namespace": "fuzz", "network": ' >"$B/bad-syntax.json"

# ---- cert_verify -------------------------------------------------------------
cp "$tmp/n1.crt" "$C/node-plain.pem" && der "$tmp/n1.crt" "$C/node-plain.der"
cp "$tmp/n2.crt" "$C/node-ip.pem" && der "$tmp/n2.crt" "$C/node-ip.der"
cp "$tmp/p1.crt" "$C/node-p256-ca.pem" && der "$tmp/p1.crt" "$C/node-p256-ca.der"
cp "$tmp/t1.crt" "$C/node-twin-ca.pem"
cp "$ca/ca.crt" "$C/ca.pem" && der "$ca/ca.crt" "$C/ca.der"
cp "$p256/ca.crt" "$C/ca-p256.pem" && der "$p256/ca.crt" "$C/ca-p256.der"
for o in o-ok o-no-akid o-wrong-ns o-no-san o-two-ns o-other-uris o-ipv6 o-ip-outside o-two-ips o-two-cn \
	o-bad-cn o-no-cn o-long-ns o-bad-ns o-ec-key; do
	cp "$tmp/$o.crt" "$C/openssl-${o#o-}.pem"
done
der "$tmp/o-ok.crt" "$C/openssl-ok.der"
der "$tmp/o-ipv6.crt" "$C/openssl-ipv6.der"
head -c 300 "$tmp/n1.crt" >"$C/bad-truncated.pem"
head -c 200 "$C/node-plain.der" >"$C/bad-truncated.der"
{ cat "$tmp/n1.crt"; echo "trailing words"; } >"$C/bad-trailing.pem"
cat "$tmp/n1.crt" "$tmp/n2.crt" >"$C/bad-two-certs.pem"
cp "$tmp/crl-two.pem" "$C/bad-crl.pem"
openssl pkey -in "$tmp/o-ok.crt.key" -pubout -out "$C/bad-pubkey.pem"
sed 's/CERTIFICATE/X509 CERTIFICATE/' "$tmp/n1.crt" >"$C/old-label.pem" # still accepted
sed 's/CERTIFICATE/TRUSTED CERTIFICATE/' "$tmp/n1.crt" >"$C/bad-label.pem"
: >"$C/bad-empty"

# ---- crl ---------------------------------------------------------------------
cp "$tmp/crl-empty.pem" "$R/crl-empty.pem"
cp "$tmp/crl-two.pem" "$R/crl-two.pem"
cp "$tmp/crl-p256-empty.pem" "$R/crl-p256-empty.pem"
cp "$p256/crl.pem" "$R/crl-p256-one.pem"
cp "$twin/crl.pem" "$R/crl-twin-ca.pem"
# openssl ca's own CRL: AKI extension, reason codes, its own CRL number.
mkdir "$tmp/oca"
: >"$tmp/oca/index.txt"
echo 05 >"$tmp/oca/crlnumber"
cat >"$tmp/oca/ca.cnf" <<EOF
[ ca ]
default_ca = g
[ g ]
database = $tmp/oca/index.txt
crlnumber = $tmp/oca/crlnumber
default_md = default
default_crl_days = 30
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
oca() { openssl ca -config "$tmp/oca/ca.cnf" -keyfile "$ca/ca.key" -cert "$ca/ca.crt" "$@" 2>/dev/null; }
oca -revoke "$tmp/o-ok.crt" -crl_reason keyCompromise
oca -revoke "$tmp/o-ipv6.crt" -crl_reason superseded
oca -gencrl -out "$R/openssl-ca-reasons.pem"
for c in openssl-ca-reasons crl-two crl-p256-one; do
	openssl crl -in "$R/$c.pem" -outform DER -out "$R/$c.der"
done
head -c 250 "$tmp/crl-two.pem" >"$R/bad-truncated.pem"
{ cat "$tmp/crl-two.pem"; echo "trailing words"; } >"$R/bad-trailing.pem"
cat "$tmp/crl-empty.pem" "$tmp/crl-two.pem" >"$R/bad-two-crls.pem"
cp "$tmp/n1.crt" "$R/bad-cert.pem"
sed 's/X509 CRL/CRL/' "$tmp/crl-two.pem" >"$R/bad-label.pem"
: >"$R/bad-empty"

# ---- sizes -----------------------------------------------------------------
big=$(find "$B" "$C" "$R" -type f -size +$((SEED_MAX / 1024))k)
[ -z "$big" ] || die "seeds over $SEED_MAX bytes: $big"
total=$(cat "$B"/* "$C"/* "$R"/* | wc -c)
[ "$total" -le "$TOTAL_MAX" ] || die "corpus is $total bytes, over $TOTAL_MAX"
for d in "$B" "$C" "$R"; do
	echo "make-seeds: $(find "$d" -type f | wc -l) seeds in $d"
done
echo "make-seeds: $total bytes in all"
