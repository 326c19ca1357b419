// SPDX-License-Identifier: MIT
/*
 * replay — sliding window against replayed datagrams (RFC 6479 style: a ring
 * of 64-bit blocks, O(1) per packet). A counter is accepted once; counters
 * more than OVL_REPLAY_WINDOW behind the highest seen are refused.
 * check() is side-effect free: call update() only after the datagram's
 * authentication tag verified, or a forger could advance the window.
 */
#ifndef GVPN_OVERLAY_REPLAY_H
#define GVPN_OVERLAY_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define OVL_REPLAY_BITS   2048
#define OVL_REPLAY_BLOCKS (OVL_REPLAY_BITS / 64)
/* How far behind the highest counter a datagram may still arrive. */
#define OVL_REPLAY_WINDOW (OVL_REPLAY_BITS - 64)

struct ovl_replay {
	uint64_t next; /* highest accepted counter + 1; 0 = none yet */
	uint64_t blocks[OVL_REPLAY_BLOCKS];
};

void ovl_replay_init(struct ovl_replay *r);
/* Would counter c be accepted? */
bool ovl_replay_check(const struct ovl_replay *r, uint64_t c);
/* Marks c as seen. Returns false (and changes nothing) if check() would. */
bool ovl_replay_update(struct ovl_replay *r, uint64_t c);

#endif
