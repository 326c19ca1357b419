#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop with the stock openssl command line, for an Ed25519 and a P-256
# group CA:
#  - our ca.key is PKCS#8 that `openssl pkey` reads, and matches ca.crt;
#  - our node certificates pass `openssl verify -CAfile ca.crt` (also for
#    TLS client and server use) and carry the documented SAN;
#  - a node certificate made by `openssl req` + `openssl x509 -req` (Ed25519
#    key, CN = name, SAN URI urn:groupvpn:<namespace>), signed by our CA key,
#    is accepted by `groupvpn-cert verify`; one signed by another CA is
#    refused ("wrong CA"), and one for another namespace is refused ("wrong
#    namespace");
#  - `openssl verify -crl_check -CRLfile crl.pem` passes before
#    `groupvpn-cert revoke` and fails after it, and openssl checks the CRL's
#    signature and reads its entries and number.
#
#   bash openssl_interop.sh BIN_DIR
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need openssl python3
lib_init "${1:-}"

# onode CA_DIR NAME SAN OUT: an openssl-made node certificate signed by the
# key in CA_DIR (ca.crt + ca.key, ours or another CA's).
onode() {
	local ca=$1 name=$2 san=$3 crt=$4
	openssl genpkey -algorithm ed25519 -out "$crt.key" 2>/dev/null
	openssl req -new -key "$crt.key" -subj "/CN=$name" -out "$crt.csr" 2>/dev/null
	printf 'subjectAltName = %s\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth,clientAuth\n' \
		"$san" >"$crt.ext"
	openssl x509 -req -in "$crt.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$crt.ext" -out "$crt" 2>/dev/null ||
		fail "openssl x509 -req could not sign $crt with $ca/ca.key"
}

# ossl_verify CRT [ARGS...]: `openssl verify -CAfile ca.crt ARGS CRT` in $d.
ossl_verify() {
	local crt=$1
	shift
	run openssl verify -CAfile "$d/ca/ca.crt" "$@" "$crt"
}

interop() {
	local algo=$1 ns=interop-$1 d=$WORK/$1 n purpose serial
	mkdir -p "$d"
	section "$algo CA: groupvpn-cert ca --algo $algo"
	expect 0 "create the CA" "$GVPN_CERT" ca --namespace "$ns" --network 10.42.0.0/16 \
		--algo "$algo" --out "$d/ca"

	section "$algo: ca.key is PKCS#8 that openssl reads"
	[ "$(head -n 1 "$d/ca/ca.key")" = "-----BEGIN PRIVATE KEY-----" ] ||
		fail "ca.key is not unencrypted PKCS#8 PEM: $(head -n 1 "$d/ca/ca.key")"
	pass "ca.key starts with BEGIN PRIVATE KEY"
	expect 0 "openssl pkey reads ca.key" openssl pkey -in "$d/ca/ca.key" -noout
	local want_type="ED25519 Public-Key"
	[ "$algo" = p256 ] && want_type="NIST CURVE: P-256"
	expect 0 "openssl pkey -text_pub" openssl pkey -in "$d/ca/ca.key" -text_pub -noout
	expect_out "$want_type" "ca.key type"
	[ "$(openssl pkey -in "$d/ca/ca.key" -pubout)" = "$(openssl x509 -in "$d/ca/ca.crt" -pubkey -noout)" ] ||
		fail "ca.key's public key is not the one in ca.crt"
	pass "ca.key matches ca.crt"
	expect 0 "openssl verifies the self-signed ca.crt" \
		openssl verify -CAfile "$d/ca/ca.crt" "$d/ca/ca.crt"

	section "$algo: our node certificate passes openssl verify"
	expect 0 "issue alpha" "$GVPN_CERT" issue --ca "$d/ca" --name alpha --ip 10.42.0.10 \
		--out "$d/alpha.json"
	json_get "$d/alpha.json" cert >"$d/alpha.crt"
	ossl_verify "$d/alpha.crt"
	if [ "$RC" -ne 0 ] || ! grep -qF "alpha.crt: OK" <<<"$OUT"; then
		show_out
		fail "openssl verify -CAfile ca.crt refuses our node certificate"
	fi
	pass "openssl verify -CAfile ca.crt alpha.crt: OK"
	for purpose in sslclient sslserver; do
		ossl_verify "$d/alpha.crt" -purpose "$purpose"
		[ "$RC" -eq 0 ] || {
			show_out
			fail "openssl verify -purpose $purpose refuses our node certificate"
		}
		pass "openssl verify -purpose $purpose: OK"
	done
	run openssl x509 -in "$d/alpha.crt" -noout -subject -ext subjectAltName,basicConstraints,keyUsage
	expect_out "CN = alpha" "openssl reads the subject"
	expect_out "URI:urn:groupvpn:$ns" "openssl reads the namespace URI"
	expect_out "IP Address:10.42.0.10" "openssl reads the fixed IP"
	expect_out "CA:FALSE" "openssl reads basicConstraints"
	expect_out "Digital Signature" "openssl reads keyUsage"

	section "$algo: a node certificate made by openssl req + x509, signed by our CA key"
	onode "$d/ca" oscar "URI:urn:groupvpn:$ns" "$d/oscar.crt"
	expect 0 "groupvpn-cert verify accepts it" "$GVPN_CERT" verify --ca "$d/ca" --cert "$d/oscar.crt"
	expect_out "valid: oscar, namespace $ns" "verify"
	expect 0 "groupvpn-cert show reads it" "$GVPN_CERT" show "$d/oscar.crt"
	expect_out "oscar" "show"
	ossl_verify "$d/oscar.crt"
	[ "$RC" -eq 0 ] || fail "openssl itself refuses the openssl-made certificate"
	pass "openssl verify agrees"

	section "$algo: the same, for another namespace"
	onode "$d/ca" olga "URI:urn:groupvpn:not-$ns" "$d/olga.crt"
	expect 1 "groupvpn-cert verify refuses it" "$GVPN_CERT" verify --ca "$d/ca" --cert "$d/olga.crt"
	expect_out "wrong namespace" "verify"
	expect_no_out "valid: olga" "verify"

	section "$algo: the same, signed by another CA (openssl req -x509, same CA name)"
	mkdir -p "$d/other"
	if [ "$algo" = p256 ]; then
		openssl ecparam -name prime256v1 -genkey -noout -out "$d/other/ca.key"
	else
		openssl genpkey -algorithm ed25519 -out "$d/other/ca.key" 2>/dev/null
	fi
	openssl req -x509 -new -key "$d/other/ca.key" -subj "/O=$ns/CN=groupvpn CA" -days 30 \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectAltName=URI:urn:groupvpn:$ns" -out "$d/other/ca.crt" 2>/dev/null ||
		fail "openssl req -x509 could not make the other CA"
	onode "$d/other" mallory "URI:urn:groupvpn:$ns" "$d/mallory.crt"
	expect 1 "groupvpn-cert verify refuses it" "$GVPN_CERT" verify --ca "$d/ca" --cert "$d/mallory.crt"
	expect_out "wrong CA" "verify"
	expect_no_out "valid: mallory" "verify"
	ossl_verify "$d/mallory.crt"
	[ "$RC" -ne 0 ] || fail "openssl verify accepts a certificate of another CA"
	pass "openssl verify -CAfile ca.crt refuses it too"

	section "$algo: revocation seen by openssl verify -crl_check"
	expect 0 "openssl crl checks crl.pem's signature" \
		openssl crl -in "$d/ca/crl.pem" -CAfile "$d/ca/ca.crt" -noout
	expect_out "verify OK" "openssl crl"
	for n in alpha oscar; do
		ossl_verify "$d/$n.crt" -crl_check -CRLfile "$d/ca/crl.pem"
		[ "$RC" -eq 0 ] || {
			show_out
			fail "openssl verify -crl_check refuses $n before any revocation"
		}
		pass "before revoke: openssl verify -crl_check $n.crt: OK"
	done
	expect 0 "groupvpn-cert revoke --name alpha" "$GVPN_CERT" revoke --ca "$d/ca" --name alpha
	expect 0 "groupvpn-cert revoke --cert oscar.crt (made by openssl)" \
		"$GVPN_CERT" revoke --ca "$d/ca" --cert "$d/oscar.crt"
	expect 0 "openssl crl checks the new crl.pem's signature" \
		openssl crl -in "$d/ca/crl.pem" -CAfile "$d/ca/ca.crt" -noout -text
	expect_out "verify OK" "openssl crl"
	for n in alpha oscar; do
		serial=$(openssl x509 -in "$d/$n.crt" -noout -serial | cut -d= -f2)
		expect_out "Serial Number: $serial" "the CRL lists $n's serial"
	done
	run openssl crl -in "$d/ca/crl.pem" -noout -crlnumber
	[ "$OUT" = "crlNumber=0x03" ] || fail "CRL number after two revocations: '$OUT', want 0x03"
	pass "CRL number is 3 after two revocations"
	for n in alpha oscar; do
		ossl_verify "$d/$n.crt" -crl_check -CRLfile "$d/ca/crl.pem"
		[ "$RC" -ne 0 ] || fail "openssl verify -crl_check still accepts $n after revoke"
		expect_out "certificate revoked" "after revoke: openssl verify -crl_check $n.crt"
	done
	ossl_verify "$d/alpha.crt"
	[ "$RC" -eq 0 ] || fail "without -crl_check openssl should still accept alpha"
	pass "without -crl_check, openssl still accepts alpha (the CRL made the difference)"
	expect 1 "groupvpn-cert verify agrees: alpha" "$GVPN_CERT" verify --ca "$d/ca" --bundle "$d/alpha.json"
	expect_out "revoked" "verify"
	expect 1 "groupvpn-cert verify agrees: oscar" "$GVPN_CERT" verify --ca "$d/ca" --cert "$d/oscar.crt"
	expect_out "revoked" "verify"
}

interop ed25519
interop p256
printf '\nopenssl_interop: all checks passed\n'
