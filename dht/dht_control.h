// SPDX-License-Identifier: MIT
/*
 * dht_control — the DHT's commands on the control socket (docs/control.md):
 * dht_put, dht_create, dht_get, dht_remove and dht_status. It turns one
 * JSON request into one engine request (dht.h), defers the control request
 * until the engine's done callback answers it, and cancels the engine
 * request when the control gives up on it (timeout, client gone, shutdown),
 * so done never runs for a request nobody waits for.
 *
 * Must not: block, keep anything of a request after it ended, or call into
 * the engine from anywhere but the event loop's thread.
 */
#ifndef GVPN_DHT_DHT_CONTROL_H
#define GVPN_DHT_DHT_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "dht.h"

#define DHT_CTL_TTL_DEFAULT 3600 /* seconds, when a put names no ttl (capped at ttl_max) */
#define DHT_CTL_GRACE_MS    5000 /* beyond the engine's own give-up time */

struct control;
struct ovl_runtime;
struct dht_control;

/*
 * Registers the commands on ctl; *out (new) is what they share: free it
 * with dht_control_free once ctl is freed (also after an error: commands
 * registered before it point at *out; *out is NULL only after -ENOMEM). rt is kicked after each
 * engine request so the node sends it at once; NULL when the caller ticks the node itself (tests,
 * fuzzing; the clock is then ovl_runtime_now's as well). Lifetimes: d (and its node) must outlive
 * ctl's requests — free ctl first; its pending requests are then cancelled in the engine. 0,
 * -ENOMEM, or control_register's error.
 */
int dht_control_register(struct dht *d, struct ovl_runtime *rt, struct control *ctl,
                         struct dht_control **out);
/* NULL is fine. */
void dht_control_free(struct dht_control *dc);

/*
 * The daemons' DHT set-up from the bundle's settings (dht_replicas, 3..8):
 * dht_runtime_prepare raises the node config's leaf_per_side so a key's
 * whole replica set is among the near neighbours (call before the runtime
 * is made); dht_runtime_start makes the engine on the runtime's node (which
 * owns it), with RAND_bytes and time() behind it. err gets one line.
 */
struct cert_bundle;
struct ovl_node_config;
void dht_runtime_prepare(const struct cert_bundle *bundle, struct ovl_node_config *node);
int dht_runtime_start(struct ovl_runtime *rt, const struct cert_bundle *bundle, struct dht **out,
                      char *err, size_t errlen);

/* How long a command waits for the engine before it answers "timed out":
 * the engine's attempts times attempt_ms, plus DHT_CTL_GRACE_MS. */
uint32_t dht_control_timeout_ms(const struct dht_config *cfg);

#endif
