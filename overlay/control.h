// SPDX-License-Identifier: MIT
/*
 * control — the daemon's control socket: a UNIX stream socket that speaks one
 * JSON object per line each way (protocol: docs/control.md), and a registry
 * of commands that each layer fills (the overlay: status, trace; later the
 * DHT and vnet add theirs).
 *
 * A command handler gets a request handle. It either answers at once
 * (ctl_req_reply / ctl_req_fail) or makes the request asynchronous with
 * ctl_req_defer and answers later from an event of its own (a trace waiting
 * for the network). A deferred request ends in exactly one of: the handler's
 * answer, its timeout (the control answers the timeout message), or its
 * cancellation (the client went away, or the control is freed) — and in the
 * last two cases the cancel callback runs first, so the handler forgets the
 * handle. After it ends, the handle is invalid.
 *
 * The line parser and dispatcher work without a socket (control_new_detached,
 * control_conn_*): the fuzz target and unit tests drive them with bytes.
 *
 * Must not: block, or call a handler from inside another handler's frame
 * (queued lines of a client whose request just ended are taken up from the
 * event loop, not from the answering call). The process must ignore SIGPIPE.
 */
#ifndef GVPN_OVERLAY_CONTROL_H
#define GVPN_OVERLAY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cert.h"

#define CTL_LINE_MAX      (64 * 1024)       /* one request line, without the newline */
#define CTL_CLIENTS_MAX   64                /* connections at once; more are refused */
#define CTL_OUTBUF_MAX    (4 * 1024 * 1024) /* unread answers before a client is dropped */
#define CTL_COMMANDS_MAX  64                /* registered commands */
#define CTL_CMD_NAME_MAX  32                /* [a-z0-9_-], 1..32 */
#define CTL_ERR_MAX       256               /* an error message */
#define CTL_SOCK_PATH_MAX 107               /* sun_path, with its NUL */
#define CTL_DEFAULT_DIR   "/run/groupvpn"

struct event_base;
struct control;
struct ctl_req;
struct ctl_conn;

/* A command: answer req now, or ctl_req_defer it. */
typedef void (*ctl_cmd_fn)(void *ctx, struct ctl_req *req);
/* A deferred request is ending without the handler's answer (timeout, client
 * gone, shutdown): forget req; do not answer it. */
typedef void (*ctl_cancel_fn)(void *ctx, struct ctl_req *req);

/*
 * New control listening on path (mode 0600; the parent directory is made
 * 0755 if missing). A socket file already there is removed if nothing
 * answers on it; if a daemon answers, -EADDRINUSE. err gets one line.
 */
int control_new(struct event_base *base, const char *path, struct control **out, char *err,
                size_t errlen);
/* New control with no socket and no timers: feed it with control_conn_*. */
int control_new_detached(struct control **out);
/* Cancels every pending request, closes every client and the socket, and
 * removes the socket file if it is still ours. NULL is fine. */
void control_free(struct control *ctl);
/* The socket path (borrowed), "" when detached. */
const char *control_path(const struct control *ctl);

/* Adds a command. 0, -EEXIST, -EINVAL (bad name), -ENOSPC. */
int control_register(struct control *ctl, const char *name, ctl_cmd_fn fn, void *ctx);

/* ---- requests (for handlers) ----------------------------------------------- */

/* The whole request object, {"cmd": ..., args...}. Borrowed, valid until the
 * request ends. */
const json_t *ctl_req_args(const struct ctl_req *req);
const char *ctl_req_cmd(const struct ctl_req *req); /* borrowed */
/* Answers with result, a JSON object (steals it); the request ends. */
void ctl_req_reply(struct ctl_req *req, json_t *result);
/* Answers {"error": "..."}; the request ends. */
void ctl_req_fail(struct ctl_req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Makes req asynchronous: the handler may return without answering. After
 * timeout_ms (0: none; ignored when detached) the control answers
 * {"error": timeout_msg} after calling cancel. cancel must not be NULL.
 */
void ctl_req_defer(struct ctl_req *req, uint32_t timeout_ms, const char *timeout_msg,
                   ctl_cancel_fn cancel, void *ctx);

/* Argument helpers. Each answers the error itself and returns false (the
 * request has then ended); true when fine. */
/* Every key of the request is "cmd", "id" or one of the NULL-terminated list. */
bool ctl_req_only_keys(struct ctl_req *req, ...) __attribute__((sentinel));
/* A required string argument; *out is borrowed. */
bool ctl_req_get_string(struct ctl_req *req, const char *key, const char **out);
/* A required 40-hex-digit overlay address. */
bool ctl_req_get_addr(struct ctl_req *req, const char *key, struct cert_addr *out);

/* ---- driving without a socket (fuzzing, tests) -------------------------------- */

/* Receives answer bytes (a line may come in several calls; each ends in
 * '\n'). buf NULL: the client is gone (closed, dropped, or control_free). */
typedef void (*ctl_write_fn)(void *ctx, const char *buf, size_t len);

/* New in-memory client of a detached control; NULL on -ENOMEM or too many. */
struct ctl_conn *control_conn_new(struct control *ctl, ctl_write_fn write, void *ctx);
/* Bytes from the client: complete lines are dispatched in order (one request
 * at a time per client, as on the socket; at most a bounded number per call,
 * see control_run_pending). false: the client was dropped (line too long)
 * and conn is gone. */
bool control_conn_input(struct ctl_conn *conn, const void *buf, size_t len);
/* The client goes away: its pending request is cancelled. */
void control_conn_close(struct ctl_conn *conn);
/* Detached mode has no event loop: runs what the socket mode would run from
 * it (queued lines after a deferred answer, or beyond one turn's bound).
 * true: there is more; call it again. */
bool control_run_pending(struct control *ctl);

#endif
