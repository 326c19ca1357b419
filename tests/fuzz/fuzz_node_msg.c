// SPDX-License-Identifier: MIT
/*
 * Fuzz target: node messages (ROUTE, LEAFSET, LEAVE, DIRECT, the relay
 * messages RELAY, RELAYED, RELAY_ERR, PUNCH, and the routed protocols inside
 * ROUTE: CTM and CTM_REP with their relay offers and anchor, TRACE,
 * TRACE_REP, ERROR, PUNCH, VIA) as a member peer can send them. Two nodes (simulator crypto,
 * fuzz_nodes.h) are linked through an in-memory pipe on a virtual clock; the input, split into
 * records [u16 len][bytes], is sent by node B over its link to node A as link messages, and A
 * processes each one. A must never crash, leak or trip a sanitizer, and must keep its link to B (a
 * malformed message is dropped, not a reason to fail).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_nodes.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovl_links *lb;
	size_t off = 0;

	fn_setup(0);
	lb = ovl_node_links_engine(fn_nodes[1].node);
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		struct ovl_link *l = ovl_links_at(lb, 0);

		off += 2;
		if (len > size - off)
			len = size - off;
		if (!l)
			break;
		if (len > 0 && len <= OVL_LINK_MTU)
			ovl_link_send(lb, l, fn_now, data + off, len);
		off += len;
		fn_run(5);
	}
	fn_run(50);
	/* Garbage from a member is dropped, never a reason to drop the member. */
	if (ovl_links_count(ovl_node_links_engine(fn_nodes[0].node)) != 1)
		abort();
	fn_teardown();
	return 0;
}
