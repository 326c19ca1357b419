// SPDX-License-Identifier: MIT
/*
 * netsim — an in-memory network for link engines (overlay/link.h), on a
 * virtual clock.
 *
 * Each node is one struct ovl_links with its own endpoint 198.18.0.<n+1>:7000.
 * Datagrams an engine sends are queued with a delivery time (one-way delay
 * per ordered pair of nodes, 5 ms unless set) and delivered, in time order,
 * to whichever node owns the destination endpoint at delivery time (none:
 * lost). A node's engine is ticked when its deadline is due, and right after
 * anything was fed to it (input, connect, send, close), since only
 * ovl_links_tick tells when it wants to run next.
 *
 * Loss is decided by one PRNG seeded at ns_new, and engines draw their
 * `random` bytes from per-node PRNGs derived from the same seed: a run is a
 * pure function of the seed and the calls made. Nothing here sleeps or reads
 * a clock.
 *
 * Every engine callback is recorded as a struct ns_event, and bytes are
 * counted per (source endpoint, destination endpoint). Must not: call
 * anything that blocks, print (except on a harness misuse, then abort).
 */
#ifndef GVPN_TESTS_UNIT_NETSIM_H
#define GVPN_TESTS_UNIT_NETSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "link.h"

#define NS_DEFAULT_DELAY_MS 5
#define NS_REASON_MAX       256

enum ns_ev_kind {
	NS_EV_UP,
	NS_EV_DOWN,
	NS_EV_FAILED,
	NS_EV_RECV,
	NS_EV_KIND_MAX,
};

/* One engine callback, as it happened. */
struct ns_event {
	enum ns_ev_kind kind;
	uint64_t t;                 /* virtual ms */
	struct cert_info peer;      /* UP, DOWN, RECV: the link's peer */
	struct ovl_endpoint ep;     /* UP, DOWN, RECV: the link's endpoint; FAILED: the one tried */
	bool initiator;             /* UP: ovl_link_initiator() */
	bool has_expect;            /* FAILED */
	struct cert_addr expect;    /* FAILED, if has_expect */
	char reason[NS_REASON_MAX]; /* DOWN, FAILED */
	uint8_t *msg;               /* RECV: a copy (owned by the harness) */
	size_t len;                 /* RECV */
	/* Only in the hook's copy, valid while it runs (NULL in ns_events):
	 * the engine's own link and message pointers, as the callback got them. */
	struct ovl_link *link;
	const uint8_t *raw;
};

/* A datagram in flight, as a drop rule sees it. src is the sending node. */
struct ns_datagram {
	uint64_t t;   /* when it was sent */
	int src, dst; /* node indices; dst -1 if no node owns `to` right now */
	struct ovl_endpoint from, to;
	const uint8_t *buf;
	size_t len;
};

/* Byte and datagram counts from one endpoint to another. `sent`: handed to
 * the network (before loss); `delivered`: fed to an engine. */
struct ns_flow {
	uint64_t sent_bytes, sent_dgrams;
	uint64_t delivered_bytes, delivered_dgrams;
	uint64_t dropped_dgrams;
};

/* Things an engine did that it must never do; tests assert all zero. */
struct ns_faults {
	uint64_t oversize;  /* sent a datagram of 0 or > OVL_DATAGRAM_MAX bytes */
	uint64_t tick_past; /* ovl_links_tick returned a deadline <= now */
	uint64_t bad_send;  /* sent to an endpoint of family other than 4 or 6 */
};

struct netsim;

/* true: drop the datagram. Called for every datagram an engine sends. */
typedef bool (*ns_drop_fn)(void *ctx, struct netsim *ns, const struct ns_datagram *d);
typedef bool (*ns_cond_fn)(struct netsim *ns, void *ctx);
/* Called after each event is recorded, from inside the engine's callback: it
 * may call into the engine as an upper layer would (not ovl_links_free). */
typedef void (*ns_hook_fn)(void *ctx, struct netsim *ns, int node, const struct ns_event *ev);

/* New, empty network at virtual time 0; wall clock H_NOW-like 1700000000. */
struct netsim *ns_new(uint64_t seed);
/* Frees every engine, owned crypto, event and datagram in flight. */
void ns_free(struct netsim *ns);

/*
 * Adds a node with the given crypto (borrowed: must outlive the node) and
 * config (NULL: defaults; cfg->crypto is ignored). Returns its index.
 * Aborts if the engine refuses the config.
 */
int ns_add(struct netsim *ns, struct ovl_crypto *c, const struct ovl_links_config *cfg);
/* Adds a node with sim crypto claiming `name` in namespace "netsim" and an
 * address derived from the name (owned by the harness). */
int ns_add_sim(struct netsim *ns, const char *name, const struct ovl_links_config *cfg);
/* Replaces node i's engine by a fresh one with the same crypto, config and
 * endpoint (a process restart). Events recorded so far are kept. */
void ns_restart(struct netsim *ns, int i);

/* Accessors. Borrowed. */
struct ovl_links *ns_engine(struct netsim *ns, int i);
struct ovl_crypto *ns_crypto(struct netsim *ns, int i);
const struct cert_addr *ns_addr(struct netsim *ns, int i);
const struct ovl_endpoint *ns_ep(struct netsim *ns, int i);
uint64_t ns_now(const struct netsim *ns);
int ns_nodes(const struct netsim *ns);

/* ---- the network ------------------------------------------------------ */

/* One-way delay src -> dst (node indices) in ms. */
void ns_set_delay(struct netsim *ns, int src, int dst, uint32_t ms);
/* Percentage (0..100) of datagrams lost at random, all directions. */
void ns_set_loss(struct netsim *ns, unsigned pct);
/* Percentage (0..100) of datagrams delivered twice (the copy 1 ms later). */
void ns_set_dup(struct netsim *ns, unsigned pct);
/* A drop rule (NULL: none), consulted before random loss. */
void ns_set_drop(struct netsim *ns, ns_drop_fn fn, void *ctx);
void ns_set_hook(struct netsim *ns, ns_hook_fn fn, void *ctx);
/* Node i now sends from ep, and datagrams to ep reach it (to the old one: lost). */
void ns_set_endpoint(struct netsim *ns, int i, const struct ovl_endpoint *ep);
/* Routes overlay/log.h lines to stderr stamped with this network's virtual
 * time, and rate-limits on it, until ns_free. Process-wide: one network at a time. */
void ns_log_attach(struct netsim *ns);
/* Prints every datagram (sent, dropped, delivered, lost) to stderr. */
void ns_set_trace(struct netsim *ns, bool on);
/* Wall-clock seconds at virtual time 0 (the engines' `wall`). */
void ns_set_wall_base(struct netsim *ns, time_t base);
/* Queues a datagram from any endpoint to `to`, delivered after delay_ms;
 * no drop rule or loss applies. */
void ns_inject(struct netsim *ns, const struct ovl_endpoint *from, const struct ovl_endpoint *to,
               const uint8_t *buf, size_t len, uint32_t delay_ms);
/* An endpoint no node owns: 198.18.1.<n>:<port>. */
struct ovl_endpoint ns_stranger_ep(unsigned n, uint16_t port);

/* ---- running ------------------------------------------------------------ */

/*
 * Processes events in time order until cond (may be NULL) holds or the next
 * event lies after `deadline` (absolute virtual ms; the clock then stops at
 * deadline). Returns whether cond holds (true if cond is NULL).
 */
bool ns_run_until(struct netsim *ns, ns_cond_fn cond, void *ctx, uint64_t deadline);
/* Runs ms of virtual time. */
void ns_run_for(struct netsim *ns, uint64_t ms);
/* Makes node i's engine tick at the current time (after calling into it directly). */
void ns_poke(struct netsim *ns, int i);

/* ---- driving the engines (each pokes the node) ---------------------------- */

/* Node i connects to node j's current endpoint. */
int ns_connect(struct netsim *ns, int i, int j, const struct cert_addr *expect);
int ns_connect_ep(struct netsim *ns, int i, const struct ovl_endpoint *ep,
                  const struct cert_addr *expect);
/* Node i's up link to node j, or NULL. Borrowed. */
struct ovl_link *ns_link(struct netsim *ns, int i, int j);
/* Sends over node i's link to node j: ovl_link_send's result, or -ENOTCONN. */
int ns_send(struct netsim *ns, int i, int j, const void *msg, size_t len);
/* Closes node i's link to node j, if any. */
void ns_close(struct netsim *ns, int i, int j, const char *reason);

/* ---- what happened ---------------------------------------------------------- */

/* Node i's events in order. Borrowed, valid until the next event. */
const struct ns_event *ns_events(struct netsim *ns, int i, size_t *n);
size_t ns_count(struct netsim *ns, int i, enum ns_ev_kind kind);
/* The last event of that kind, or NULL. Borrowed. */
const struct ns_event *ns_last(struct netsim *ns, int i, enum ns_ev_kind kind);
/* How many RECV events of node i carry exactly msg. */
size_t ns_count_recv(struct netsim *ns, int i, const void *msg, size_t len);
struct ns_flow ns_flow(const struct netsim *ns, const struct ovl_endpoint *from,
                       const struct ovl_endpoint *to);
struct ns_faults ns_faults(const struct netsim *ns);
struct ovl_links_stats ns_stats(struct netsim *ns, int i);

#endif
