// SPDX-License-Identifier: MIT
/*
 * sim — the overlay in virtual time: many overlay/node.h engines in one
 * process on a simulated network, driven by a deterministic discrete-event
 * scheduler (DESIGN §1, the simulator half of "sans-I/O").
 *
 * Events (datagram deliveries, node wake-ups) sit in one binary min-heap
 * ordered by (virtual ms, sequence number). A node's wake-up comes from the
 * deadline ovl_node_tick returns; the node is ticked right after anything is
 * fed to it (start, input, route), since only tick says when it wants to run
 * next. A wake-up superseded by an earlier one is invalidated lazily (a
 * generation number per node); a later deadline keeps the earlier wake-up,
 * which then ticks early, harmlessly, and learns the real one.
 *
 * Network: node i owns endpoint 198.18.0.0 + (i + 1) port 7000 (a label:
 * nothing touches a socket) and random 2-D coordinates in the unit square.
 * A node may sit behind a NAT router of its own (sim_set_nat): its own
 * endpoint is then 10.x.y.z:7000, which nobody else reaches, and the router
 * maps its datagrams onto the public address 198.18.0.0 + (i + 1) — one port
 * for every destination (cone, port-preserving), or a new port per
 * destination (symmetric: random ports; sequential: each the last plus one).
 * Inbound datagrams pass only as answers: to a mapping's port, from the very
 * endpoint it was made for, within SIM_NAT_TIMEOUT_MS of its last use.
 * One-way delay = 2 ms + 60 ms * distance / sqrt(2); a fixed fraction is
 * lost at random; a drop rule may refuse any (source, destination) pair;
 * datagrams to a dead, unstarted or unknown endpoint vanish.
 *
 * All randomness (identities, coordinates, loss, every node's `random`
 * callback) comes from one PRNG seeded at sim_new, so a run is a pure
 * function of the seed and the calls made. Only the crypto stand-in's
 * handshake nonce (OpenSSL's RNG) is outside it; it changes keys, never
 * behaviour. Must not: sleep, read a clock, touch a socket, print.
 */
#ifndef GVPN_TOOLS_SIM_H
#define GVPN_TOOLS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "log.h"
#include "node.h"

#define SIM_NODES_MAX      100000 /* endpoints fit 198.18.0.0/15 */
#define SIM_PORT           7000
#define SIM_WALL_EPOCH     1700000000 /* the nodes' wall clock at virtual time 0 */
#define SIM_DELAY_BASE_MS  2
#define SIM_DELAY_RANGE_MS 60
#define SIM_NAMESPACE      "sim"
#define SIM_NAT_TIMEOUT_MS 120000 /* an idle NAT mapping is forgotten after this */

enum sim_nat_type {
	SIM_NAT_NONE,       /* public */
	SIM_NAT_CONE,       /* one mapping, port kept, for every destination */
	SIM_NAT_SYMMETRIC,  /* a random port per destination */
	SIM_NAT_SEQUENTIAL, /* a new port per destination, each the previous one plus one */
	SIM_NAT_TYPE_MAX,
};

struct sim;

/* true: drop this datagram. src and dst are node indices. */
typedef bool (*sim_drop_fn)(void *ctx, const struct sim *s, size_t src, size_t dst,
                            const uint8_t *buf, size_t len);

/* Routed messages reaching a node, and route errors at their source. */
struct sim_hooks {
	void *ctx;
	void (*deliver)(void *ctx, struct sim *s, size_t node, const struct ovl_route_info *info,
	                const uint8_t *payload, size_t len);
	void (*route_error)(void *ctx, struct sim *s, size_t node, uint32_t id,
	                    const struct cert_addr *dst, const char *reason);
	void (*trace_done)(void *ctx, struct sim *s, size_t node, uint32_t id,
	                   const struct cert_addr *hops, size_t n_hops,
	                   const struct cert_addr *reached);
};

struct sim_config {
	uint64_t seed;
	size_t nodes;      /* how many nodes exist (started or not), 1..SIM_NODES_MAX */
	uint32_t loss_ppm; /* random loss, parts per million (default 5000: 0.5 %) */
	/* Every node's bootstrap list: these nodes' endpoints (default 0, 1, 2). */
	size_t bootstrap[OVL_BOOTSTRAP_MAX];
	size_t n_bootstrap;
	/* Template for every node (ovl_node_config_default); crypto, bootstrap
	 * and local are filled in per node. */
	struct ovl_node_config node;
	/* Engine log lines up to this level are counted (default warn) and, if
	 * log_print, written to stderr with the virtual time. */
	enum log_level log_level;
	bool log_print;
};

/* Counters; a run's pure function of the seed, like everything else. */
struct sim_stats {
	uint64_t sent, delivered, lost_random, lost_rule, lost_dark;
	uint64_t lost_nat; /* unsolicited at a NAT router: no mapping for it */
	uint64_t events, ticks;
	uint64_t tick_past; /* ovl_node_tick returned a deadline <= now (an engine fault) */
	uint64_t log_lines[4];
};

void sim_config_default(struct sim_config *cfg);
/* New simulation at virtual time 0 with cfg->nodes identities, none started.
 * 0, -EINVAL, -ENOMEM. Sets the global log level, sink (counting) and
 * clock (virtual time): one sim at a time per process. */
int sim_new(const struct sim_config *cfg, struct sim **out);
/* Frees every node and every event; restores the log level, sink and clock. */
void sim_free(struct sim *s);

uint64_t sim_now(const struct sim *s);
size_t sim_nodes(const struct sim *s);
size_t sim_live(const struct sim *s); /* started and not killed */
bool sim_is_live(const struct sim *s, size_t i);
/* Node i's engine, or NULL if not live. Borrowed. After calling into it
 * directly, sim_poke it so its new deadline is known. */
struct ovl_node *sim_node(struct sim *s, size_t i);
const struct ovl_node *sim_node_c(const struct sim *s, size_t i);
/* Node i's overlay address and endpoint (whether started or not). Borrowed. */
const struct cert_addr *sim_addr(const struct sim *s, size_t i);
const struct ovl_endpoint *sim_endpoint(const struct sim *s, size_t i);
/* The node owning ep, or SIZE_MAX. */
size_t sim_node_of(const struct sim *s, const struct ovl_endpoint *ep);
/* Bumps whenever a node starts or dies: lets callers cache what depends on
 * the membership. */
uint64_t sim_membership_version(const struct sim *s);
void sim_stats(const struct sim *s, struct sim_stats *out);

void sim_set_drop(struct sim *s, sim_drop_fn fn, void *ctx);
void sim_set_hooks(struct sim *s, const struct sim_hooks *h);
/* A draw from the simulation's PRNG (for callers choosing victims, targets). */
uint64_t sim_rand(struct sim *s);
/* Uniform in [0, n), n > 0. */
uint64_t sim_rand_below(struct sim *s, uint64_t n);
/* Fills buf from the PRNG (for engines' `random` callbacks). */
void sim_rand_fill(struct sim *s, void *buf, size_t len);
/* The nodes' wall clock: SIM_WALL_EPOCH + virtual seconds. */
time_t sim_wall(const struct sim *s);

/* Puts node i, not started yet, behind a NAT router of type t. 0, -EINVAL,
 * -EALREADY (started), -ENOMEM. */
int sim_set_nat(struct sim *s, size_t i, enum sim_nat_type t);
enum sim_nat_type sim_nat(const struct sim *s, size_t i);
/* Is node i in the nodes' bootstrap list? */
bool sim_is_bootstrap(const struct sim *s, size_t i);
/* Node i's NAT router forgets every mapping and, for cone mappings, takes a
 * new public port (a reboot, a carrier NAT rebinding). 0, or -EINVAL if node
 * i is not behind a NAT. */
int sim_nat_rebind(struct sim *s, size_t i);

/* Creates and starts node i now. 0, -EALREADY (was started), -EINVAL, or the
 * engine's error. */
int sim_start(struct sim *s, size_t i);
/* Node i dies now: freed without leave; its endpoint goes dark. */
void sim_kill(struct sim *s, size_t i);
/* Routes a payload from node i (see ovl_node_route) and ticks the node. */
int sim_route(struct sim *s, size_t i, const struct cert_addr *dst, enum ovl_route_mode mode,
              uint8_t proto, const uint8_t *payload, size_t len, uint32_t *id);

/* Sends a trace probe from node i (see ovl_node_trace); the answer comes to
 * the trace_done hook. */
int sim_trace(struct sim *s, size_t i, const struct cert_addr *dst, uint32_t *id);
/* Ticks live node i now and reschedules it (after a direct call into it). */
void sim_poke(struct sim *s, size_t i);

/* Processes every event up to and including `until` (absolute virtual ms);
 * the clock then reads `until`. */
void sim_run_until(struct sim *s, uint64_t until);
typedef bool (*sim_cond_fn)(struct sim *s, void *ctx);
/* Runs until cond holds, checking every `every_ms` (and at once), or until
 * the clock reaches `until`. Returns whether cond held. */
bool sim_run_until_cond(struct sim *s, uint64_t until, uint64_t every_ms, sim_cond_fn cond,
                        void *ctx);

#endif
