#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Static model of two far-link tables for a ring with greedy routing.

Random 160-bit ids; every node links to its 3 nearest on each side, then asks,
for each far slot it has no link in yet, for the node nearest a random point of
that slot (links are two-way). Greedy routing by ring distance from a random
node to the owner of a random key. Compares:

  xor   Kademlia buckets: slot i = peers whose XOR distance has its top bit at i
  cw    clockwise classes: slot i = peers at clockwise distance [2^i, 2^(i+1))

It is a model (no join order, no loss, no trimming), used in docs/overlay.md to
check what groupvpn-sim measured. usage: tools/sim/table-model.py [N ...]
"""
import bisect
import random
import sys

B = 160
M = 1 << B


def run(n, scheme, seed=1, k=3, lookups=2000):
    rnd = random.Random(seed)
    ids = sorted(rnd.getrandbits(B) for _ in range(n))
    links = [set() for _ in range(n)]

    def add(i, j):
        if i != j:
            links[i].add(j)
            links[j].add(i)

    def nearest(t):
        j = bisect.bisect_left(ids, t) % n
        a, b = ids[j], ids[j - 1]
        da = min((a - t) % M, (t - a) % M)
        db = min((b - t) % M, (t - b) % M)
        return j if da <= db else (j - 1) % n

    def slot(i, j):
        a, b = ids[i], ids[j]
        if scheme == "xor":
            return (a ^ b).bit_length() - 1
        d = (b - a) % M
        if d < M // 2:
            return d.bit_length() - 1
        return B + ((a - b) % M).bit_length() - 1  # counter-clockwise: not asked for

    for i in range(n):
        for d in range(1, k + 1):
            add(i, (i + d) % n)
            add(i, (i - d) % n)
    order = list(range(n))
    rnd.shuffle(order)
    for i in order:
        a = ids[i]
        have = {slot(i, j) for j in links[i]}
        floor = ((ids[(i + k) % n] - a) % M).bit_length() - 1
        top = B - 1 if scheme == "xor" else B - 2
        for c in range(top, floor, -1):
            if c in have:
                continue
            r = rnd.getrandbits(c) if c > 0 else 0
            if scheme == "xor":
                t = ((a >> (c + 1)) << (c + 1)) | ((((a >> c) & 1) ^ 1) << c) | r
            else:
                t = (a + (1 << c) + r) % M
            add(i, nearest(t))

    def dist(x, y):
        d = (x - y) % M
        return min(d, M - d)

    hops = 0
    for _ in range(lookups):
        cur, t = rnd.randrange(n), rnd.getrandbits(B)
        while True:
            best, bd = cur, dist(ids[cur], t)
            for j in links[cur]:
                dj = dist(ids[j], t)
                if dj < bd:
                    best, bd = j, dj
            if best == cur:
                break
            cur = best
            hops += 1
    deg = [len(x) for x in links]
    return hops / lookups, sum(deg) / n, max(deg)


if __name__ == "__main__":
    sizes = [int(x) for x in sys.argv[1:]] or [2000, 10000]
    print("nodes  table  hops_mean  links_mean  links_max")
    for n in sizes:
        for scheme in ("xor", "cw"):
            h, lm, lx = run(n, scheme)
            print(f"{n:5d}  {scheme:5s}  {h:9.2f}  {lm:10.1f}  {lx:9d}")
