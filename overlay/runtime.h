// SPDX-License-Identifier: MIT
/*
 * runtime — drives one overlay node (node.h) with real I/O: libevent, one
 * nonblocking UDP socket (IPv4, IPv6, or both on one dual-stack IPv6 socket
 * when listening on a wildcard), a CLOCK_MONOTONIC millisecond clock, one
 * timer re-armed to the engine's next deadline after every input and tick,
 * RAND_bytes for randomness and time() for certificate dates. It also
 * answers the overlay's control commands (status, trace).
 *
 * Must not: leak libevent into node/link code (they stay sans-I/O), or
 * block anywhere but start-up (bootstrap names are resolved once, in
 * ovl_runtime_new) and the bounded flush of ovl_runtime_leave.
 */
#ifndef GVPN_OVERLAY_RUNTIME_H
#define GVPN_OVERLAY_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "endpoint.h"
#include "node.h"

#define OVL_RT_DEFAULT_LISTEN "0.0.0.0:7000"
#define OVL_RT_BATCH          32   /* datagrams per recvmmsg */
#define OVL_RT_BATCHES        8    /* recvmmsg calls per wake-up, then timers get a turn */
#define OVL_RT_TRACE_MS       5000 /* a trace with no answer by then fails */
#define OVL_RT_ERR_MAX        256
#define OVL_RT_SOCKBUF        (4 << 20) /* socket send and receive buffers, bytes */

struct event_base;
struct control;
struct ovl_runtime;

struct ovl_runtime_config {
	const struct cert_bundle *bundle; /* borrowed during ovl_runtime_new only */
	/* "a.b.c.d:port" (IPv4 socket), "[v6]:port" (IPv6 only), or a wildcard
	 * "0.0.0.0:port" / "[::]:port" (one dual-stack IPv6 socket on [::], IPv4
	 * 0.0.0.0 if the host has no IPv6); port 0: any. NULL: the bundle's
	 * listen setting, else OVL_RT_DEFAULT_LISTEN. */
	const char *listen;
	/* Tuning. crypto, bootstrap and local are filled by the runtime. */
	struct ovl_node_config node;
};
/* Defaults: no listen override, ovl_node_config_default. */
void ovl_runtime_config_default(struct ovl_runtime_config *cfg);

/* Counters beyond the engine's own (ovl_links_stats). */
struct ovl_runtime_stats {
	uint64_t rx_datagrams, rx_truncated, tx_datagrams, tx_dropped, tx_errors;
	uint64_t tx_wrong_family; /* not sent: the socket cannot reach that family */
};

/*
 * New runtime: the TLS crypto from the bundle, the socket bound, local
 * candidate endpoints found, the bootstrap list resolved (entries that fail
 * are logged and skipped; our own endpoints are left out) and the node made.
 * Nothing is sent before ovl_runtime_start. err gets one line on failure.
 */
int ovl_runtime_new(struct event_base *base, const struct ovl_runtime_config *cfg,
                    struct ovl_runtime **out, char *err, size_t errlen);
/* Starts reading and joining. 0 or -errno. */
int ovl_runtime_start(struct ovl_runtime *rt);
/* Graceful leave: ovl_node_leave, its datagrams flushed (waiting a bounded
 * time for socket space), then no more reading or timers. */
void ovl_runtime_leave(struct ovl_runtime *rt);
/* NULL is fine. Cancels pending control requests of this runtime. */
void ovl_runtime_free(struct ovl_runtime *rt);

/* Registers "status" and "trace" on ctl. The runtime must outlive ctl's
 * requests: free ctl first, or let ovl_runtime_free cancel them. */
int ovl_runtime_register_commands(struct ovl_runtime *rt, struct control *ctl);

/* Adds an upper layer's fields to the "status" answer: fn gets the status
 * object (address, links, ...) just before it goes out and may add to it. */
struct json_t;
typedef void (*ovl_runtime_status_fn)(void *ctx, struct json_t *status);
void ovl_runtime_set_status_hook(struct ovl_runtime *rt, ovl_runtime_status_fn fn, void *ctx);

/* The keys ovl_runtime_tuning takes, for usage lines. */
#define OVL_RT_TUNING_KEYS                                                                         \
	"keepalive_ms, dead_ms, hs_timeout_ms, maintain_ms, rejoin_ms, retry_min_ms, "             \
	"retry_max_ms, relay_after_ms, punch_retry_min_ms, punch_retry_max_ms"

/* "KEY=MS" for the daemons' --tuning: keepalive_ms, dead_ms, hs_timeout_ms
 * (links); maintain_ms, rejoin_ms, retry_min_ms, retry_max_ms (ring); MS in
 * 1..86400000. false for an unknown key or a bad number (cfg unchanged). */
bool ovl_runtime_tuning(struct ovl_node_config *cfg, const char *arg);
/* A --tuning value: a decimal MS in 1..86400000. false otherwise. */
bool ovl_runtime_parse_ms(const char *s, uint32_t *out);

struct ovl_node *ovl_runtime_node(struct ovl_runtime *rt); /* borrowed */
/* The bound socket address (the real port when 0 was asked for); [::]:port
 * for a dual-stack socket. */
const struct ovl_endpoint *ovl_runtime_bound(const struct ovl_runtime *rt);
/* Milliseconds on the clock the node runs on. */
uint64_t ovl_runtime_now(void);
/* After calling into the node from outside an input or timer (a command):
 * runs what is due and re-arms the timer. */
void ovl_runtime_kick(struct ovl_runtime *rt);
/* Between begin and end, datagrams the node sends are gathered and go out
 * with one sendmmsg per OVL_RT_BATCH (at end at the latest): for loops that
 * feed the node many packets at once (a TUN read batch). Nests. */
void ovl_runtime_batch_begin(struct ovl_runtime *rt);
void ovl_runtime_batch_end(struct ovl_runtime *rt);
void ovl_runtime_stats(const struct ovl_runtime *rt, struct ovl_runtime_stats *out);

#endif
