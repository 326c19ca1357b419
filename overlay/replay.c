// SPDX-License-Identifier: MIT
/* replay — RFC 6479 sliding window. */
#include "replay.h"

#include <string.h>

_Static_assert((OVL_REPLAY_BLOCKS & (OVL_REPLAY_BLOCKS - 1)) == 0,
               "block count must be a power of two");

void ovl_replay_init(struct ovl_replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool ovl_replay_check(const struct ovl_replay *r, uint64_t c)
{
	uint64_t block;

	if (c == UINT64_MAX) /* reserved: next would overflow */
		return false;
	if (c >= r->next)
		return true;
	if (r->next - 1 - c >= OVL_REPLAY_WINDOW)
		return false;
	block = (c / 64) & (OVL_REPLAY_BLOCKS - 1);
	return !(r->blocks[block] & (1ull << (c % 64)));
}

bool ovl_replay_update(struct ovl_replay *r, uint64_t c)
{
	if (!ovl_replay_check(r, c))
		return false;
	if (c >= r->next) {
		/* Slide: clear every block between the old top block and c's. */
		uint64_t cur = r->next ? (r->next - 1) / 64 : 0, target = c / 64;

		if (r->next == 0 || target - cur >= OVL_REPLAY_BLOCKS)
			memset(r->blocks, 0, sizeof(r->blocks));
		else
			for (uint64_t b = cur + 1; b <= target; b++)
				r->blocks[b & (OVL_REPLAY_BLOCKS - 1)] = 0;
		r->next = c + 1;
	}
	r->blocks[(c / 64) & (OVL_REPLAY_BLOCKS - 1)] |= 1ull << (c % 64);
	return true;
}
