#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Makes fuzz_dht_record's seed corpus: DHT records (dht/record.h) signed the
way the simulator crypto signs (overlay/crypto_sim.c), for the target's reader
in namespace "fuzz" at its fixed now, and hand-broken ones.

    tests/fuzz/make-dht-record-seeds.py [OUT_DIR]

Default: tests/fuzz/corpus/dht_record. No keys and no clock: the output is the
same every run, so running it again changes nothing unless the format did.
Written independently of the C code, so the seeds also cross-check it.
"""
import hashlib
import os
import struct
import sys

NOW = 1700000000  # fuzz_dht_record.c FUZZ_NOW
TTL = 86400  # FUZZ_TTL
SKEW = 120  # DHT_SKEW_S
VALUE_MAX = 1024
CERT_MAX = 1024
SIG_CONTEXT = b"groupvpn dht record v1"
SIM_CONTEXT = b"groupvpn sim sig"
TOMBSTONE = 0x01
SEED_MAX = 4096  # the target's max_len


def identity(addr_fill, name, ns):
    """The sim's certificate blob: addr[20], u8 len + name, u8 len + namespace."""
    n, s = name.encode(), ns.encode()
    return bytes([addr_fill]) * 20 + bytes([len(n)]) + n + bytes([len(s)]) + s


def dht_key(ns, appkey):
    return hashlib.sha256(ns.encode() + appkey).digest()[:20]


def record(blob, value=b"", seq=1, expires=NOW + 3600, flags=0, version=1, writer=None,
           key=None, sign_blob=None):
    """One record; writer defaults to the blob's address, the signature to the blob's."""
    writer = blob[:20] if writer is None else writer
    key = dht_key("fuzz", b"service/web") if key is None else key
    signed = struct.pack(">BB20s20sQQH", version, flags, key, writer, seq, expires, len(value))
    signed += value
    signer = blob if sign_blob is None else sign_blob
    sig = hashlib.sha512(SIM_CONTEXT + signer + SIG_CONTEXT + signed).digest()
    return signed + struct.pack(">H", len(blob)) + blob + sig


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "dht_record")
    os.makedirs(out, exist_ok=True)
    w1 = identity(0x41, "writer-1", "fuzz")
    w2 = identity(0x42, "writer-2", "fuzz")
    stranger = identity(0x43, "stranger", "other")
    ok = record(w1, b"10.99.0.7:7000", seq=5)
    seeds = {
        "ok-value": ok,
        "ok-tombstone": record(w1, seq=6, flags=TOMBSTONE),
        "ok-empty-value": record(w2, seq=1),
        "ok-max-value": record(w2, bytes(range(256)) * (VALUE_MAX // 256)),
        "ok-expiry-limit": record(w1, b"x", expires=NOW + TTL + SKEW),
        "ok-three-records": ok + record(w2, b"two", seq=2) + record(w1, seq=7, flags=TOMBSTONE),
        "ok-then-garbage": ok + b"\x01\x00\x07garbage",
        "bad-signature": ok[:-1] + bytes([ok[-1] ^ 1]),
        "bad-value-changed": ok[:60] + b"2" + ok[61:],
        "bad-writer-not-owner": record(w1, b"v", writer=w2[:20]),
        "bad-signed-by-other": record(w1, b"v", sign_blob=w2),
        "bad-other-namespace": record(stranger, b"v"),
        "bad-expired": record(w1, b"v", expires=NOW),
        "bad-too-late": record(w1, b"v", expires=NOW + TTL + SKEW + 1),
        "bad-version": record(w1, b"v", version=2),
        "bad-flags": record(w1, b"v", flags=0x80),
        "bad-tombstone-value": record(w1, b"v", flags=TOMBSTONE),
        "bad-value-too-long": record(w1, bytes(VALUE_MAX + 1)),
        "bad-no-cert": record(b"", b"v"),
        "bad-cert-too-long": record(w1 + bytes(CERT_MAX + 1 - len(w1)), b"v"),
        "bad-cert-blob": record(w1 + b"\x00", b"v"),
        "bad-name-length": record(bytes(20) + b"\xff" + bytes(80), b"v"),
        "bad-truncated": ok[:len(ok) // 2],
        "bad-truncated-sig": ok[:-1],
        "bad-empty": b"",
    }
    for name, data in sorted(seeds.items()):
        if len(data) > SEED_MAX:
            sys.exit(f"make-dht-record-seeds: {name} is {len(data)} bytes, over {SEED_MAX}")
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"make-dht-record-seeds: {len(seeds)} seeds in {out}")


def dht_msg_seeds(out):
    """fuzz_dht_msg's seeds: [u8 flags][u16 len][message] records, flags 2 =
    wrapped in a one-fragment header by the target (B = fill 0xb0, "n1")."""
    os.makedirs(out, exist_ok=True)
    b = identity(0xb0, "n1", "fuzz")
    key = dht_key("fuzz", b"k0")
    rec = record(b, b"fuzz value", seq=10**12, key=key)
    tomb = record(b, seq=10**12 + 1, flags=TOMBSTONE, key=key)

    def rec_in(flags, msg):
        return bytes([flags]) + struct.pack(">H", len(msg)) + msg

    def req(op, rec_bytes=b""):
        return bytes([1]) + struct.pack(">IB", 7, op) + key + b"\x00" + rec_bytes

    frag_hdr = struct.pack(">IBB", 99, 0, 2)
    seeds = {
        "req-get": rec_in(2, req(3)),
        "req-put": rec_in(2, req(1, rec)),
        "req-create": rec_in(2, req(2, rec)),
        "req-remove": rec_in(2, req(4, tomb)),
        "store": rec_in(2, bytes([5, 2]) + rec + tomb),
        "check": rec_in(2, bytes([3]) + struct.pack(">I", 1) + key + b[:20]),
        "fetch": rec_in(2, bytes([6]) + struct.pack(">I", 1) + key),
        "offer": rec_in(2, bytes([8]) + struct.pack(">IH", 5, 1) + key + b[:20] +
                        struct.pack(">Q", 1)),
        "want": rec_in(2, bytes([9]) + struct.pack(">IHH", 1, 1, 0)),
        "rep": rec_in(2, bytes([2]) + struct.pack(">IBBB", 7, 0, 1, 0) + b"\x01" + rec),
        "two-fragments": rec_in(0, frag_hdr + bytes([5, 1]) + rec[:200]) +
                         rec_in(0, struct.pack(">IBB", 99, 1, 2) + rec[200:]),
        "nearest-get": rec_in(3, req(3)),
    }
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"make-dht-record-seeds: {len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
    if len(sys.argv) <= 1:
        here = os.path.dirname(os.path.abspath(__file__))
        dht_msg_seeds(os.path.join(here, "corpus", "dht_msg"))
