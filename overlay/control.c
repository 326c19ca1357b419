// SPDX-License-Identifier: MIT
/* control — JSON-lines control socket and command registry (docs/control.md). */
#define LOG_SUBSYS "control"
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"

/* Bytes a client may queue while one of its requests is pending. */
#define CTL_INBUF_MAX       (2 * CTL_LINE_MAX)
#define CTL_LINES_PER_RUN   16 /* then yield to the event loop */
#define CTL_ACCEPTS_PER_RUN 16
#define CTL_BACKLOG         16

struct ctl_cmd {
	char name[CTL_CMD_NAME_MAX + 1];
	ctl_cmd_fn fn;
	void *ctx;
};

enum req_state {
	REQ_RUNNING,  /* its handler has not returned yet */
	REQ_DEFERRED, /* the handler returned; an answer comes later */
	REQ_DONE,
};

struct ctl_req {
	struct ctl_conn *conn;
	json_t *obj; /* the request; owns id and cmd */
	json_t *id;  /* borrowed from obj, may be NULL */
	const char *cmd;
	enum req_state state;
	bool in_handler;
	ctl_cancel_fn cancel;
	void *cancel_ctx;
	struct event *timer;
	char timeout_msg[CTL_ERR_MAX];
};

struct ctl_conn {
	struct control *ctl;
	struct ctl_conn *prev, *next;
	struct bufferevent *bev; /* socket mode */
	struct evbuffer *in;     /* bev's input, or ours when detached */
	ctl_write_fn write;      /* detached mode */
	void *write_ctx;
	struct ctl_req *req; /* the one pending request */
	bool closing;        /* answer flushed, then close; read nothing more */
	bool reap;           /* free it from the event loop */
	bool resume;         /* queued lines wait for the event loop */
};

struct control {
	struct event_base *base; /* NULL when detached */
	char path[CTL_SOCK_PATH_MAX + 1];
	int fd;
	dev_t dev;
	ino_t ino;
	struct event *accept_ev;
	struct event *kick; /* reaps and resumes clients outside callback frames */
	struct ctl_cmd cmds[CTL_COMMANDS_MAX];
	size_t n_cmds;
	struct ctl_conn *conns;
	size_t n_conns;
};

static void conn_process(struct ctl_conn *conn);
static void conn_free(struct ctl_conn *conn);

/* ---- output ------------------------------------------------------------------ */

static void kick(struct control *ctl)
{
	if (ctl->kick)
		event_active(ctl->kick, 0, 0);
}

/* Drops conn from the event loop (at once when detached and not in a frame). */
static void conn_drop_later(struct ctl_conn *conn)
{
	conn->reap = true;
	conn->closing = true;
	if (conn->bev)
		bufferevent_disable(conn->bev, EV_READ);
	kick(conn->ctl);
}

static void conn_write(struct ctl_conn *conn, const char *buf, size_t len)
{
	if (conn->reap)
		return;
	if (!conn->bev) {
		conn->write(conn->write_ctx, buf, len);
		return;
	}
	if (bufferevent_write(conn->bev, buf, len) < 0 ||
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) > CTL_OUTBUF_MAX) {
		LOG(LOG_LVL_WARN, "client does not read its answers: dropped");
		conn_drop_later(conn);
	}
}

/* Writes obj as one line, with id if given. Does not steal obj. */
static void conn_send_json(struct ctl_conn *conn, json_t *obj, json_t *id)
{
	char *text;

	if (id)
		json_object_set(obj, "id", id);
	text = json_dumps(obj, JSON_COMPACT);
	if (!text) {
		static const char oom[] = "{\"error\":\"out of memory\"}\n";

		conn_write(conn, oom, sizeof(oom) - 1);
		return;
	}
	conn_write(conn, text, strlen(text));
	conn_write(conn, "\n", 1);
	free(text);
}

static void conn_send_error(struct ctl_conn *conn, json_t *id, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);

	if (o)
		conn_send_json(conn, o, id);
	json_decref(o);
}

/* ---- requests ---------------------------------------------------------------- */

static void req_free(struct ctl_req *req)
{
	if (req->timer)
		event_free(req->timer);
	json_decref(req->obj);
	free(req);
}

/* The request has its answer (or none is wanted): detach it from its client. */
static void req_end(struct ctl_req *req)
{
	struct ctl_conn *conn = req->conn;

	req->state = REQ_DONE;
	if (req->timer)
		event_del(req->timer);
	conn->req = NULL;
	if (req->in_handler)
		return; /* dispatch() frees it and goes on with the next line */
	req_free(req);
	/* Lines that queued up meanwhile: from the event loop, never from here
	 * (we may be inside some engine's callback). */
	conn->resume = true;
	kick(conn->ctl);
}

const json_t *ctl_req_args(const struct ctl_req *req)
{
	return req->obj;
}

const char *ctl_req_cmd(const struct ctl_req *req)
{
	return req->cmd;
}

void ctl_req_reply(struct ctl_req *req, json_t *result)
{
	if (!result || !json_is_object(result)) {
		json_decref(result);
		ctl_req_fail(req, "out of memory");
		return;
	}
	conn_send_json(req->conn, result, req->id);
	json_decref(result);
	req_end(req);
}

void ctl_req_fail(struct ctl_req *req, const char *fmt, ...)
{
	char msg[CTL_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_send_error(req->conn, req->id, msg);
	req_end(req);
}

static void req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_req *req = arg;

	(void)fd;
	(void)what;
	req->cancel(req->cancel_ctx, req);
	req->cancel = NULL;
	conn_send_error(req->conn, req->id, req->timeout_msg);
	req_end(req);
}

void ctl_req_defer(struct ctl_req *req, uint32_t timeout_ms, const char *timeout_msg,
                   ctl_cancel_fn cancel, void *ctx)
{
	struct event_base *base = req->conn->ctl->base;

	req->state = REQ_DEFERRED;
	req->cancel = cancel;
	req->cancel_ctx = ctx;
	snprintf(req->timeout_msg, sizeof(req->timeout_msg), "%s",
	         timeout_msg ? timeout_msg : "timed out");
	if (timeout_ms && base) {
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
		                     .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};

		if (!req->timer)
			req->timer = evtimer_new(base, req_timeout_cb, req);
		if (req->timer)
			evtimer_add(req->timer, &tv);
	}
}

/* The client is gone: the handler forgets the request, nobody answers it. */
static void req_cancel(struct ctl_req *req)
{
	req->state = REQ_DONE;
	if (req->cancel)
		req->cancel(req->cancel_ctx, req);
	req->conn->req = NULL;
	req_free(req);
}

bool ctl_req_only_keys(struct ctl_req *req, ...)
{
	const char *key, *k;
	json_t *v;
	va_list ap;

	json_object_foreach (req->obj, key, v) {
		bool ok = !strcmp(key, "cmd") || !strcmp(key, "id");

		va_start(ap, req);
		while (!ok && (k = va_arg(ap, const char *)))
			ok = !strcmp(key, k);
		va_end(ap);
		if (!ok) {
			ctl_req_fail(req, "unknown argument '%.64s' for command '%s'", key,
			             req->cmd);
			return false;
		}
	}
	return true;
}

bool ctl_req_get_string(struct ctl_req *req, const char *key, const char **out)
{
	const json_t *v = json_object_get(req->obj, key);

	if (!json_is_string(v)) {
		ctl_req_fail(req, "command '%s' needs \"%s\": a string", req->cmd, key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

bool ctl_req_get_addr(struct ctl_req *req, const char *key, struct cert_addr *out)
{
	const char *s;

	if (!ctl_req_get_string(req, key, &s))
		return false;
	if (cert_addr_from_hex(s, out) < 0) {
		ctl_req_fail(req, "\"%s\" must be an overlay address: 40 hex digits", key);
		return false;
	}
	return true;
}

/* ---- dispatch ---------------------------------------------------------------- */

static const struct ctl_cmd *find_cmd(const struct control *ctl, const char *name)
{
	for (size_t i = 0; i < ctl->n_cmds; i++)
		if (!strcmp(ctl->cmds[i].name, name))
			return &ctl->cmds[i];
	return NULL;
}

/* One request line (no newline): validate, then hand it to its command. */
static void dispatch(struct ctl_conn *conn, const char *line, size_t len)
{
	const struct ctl_cmd *cmd;
	struct ctl_req *req;
	json_error_t jerr;
	json_t *obj, *id, *c;

	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		char msg[CTL_ERR_MAX];

		snprintf(msg, sizeof(msg), "bad JSON: %.160s (column %d)", jerr.text, jerr.column);
		conn_send_error(conn, NULL, msg);
		return;
	}
	if (!json_is_object(obj)) {
		conn_send_error(conn, NULL, "a request must be a JSON object");
		goto out;
	}
	id = json_object_get(obj, "id");
	if (id && !json_is_string(id) && !json_is_integer(id)) {
		conn_send_error(conn, NULL, "\"id\" must be a string or an integer");
		goto out;
	}
	c = json_object_get(obj, "cmd");
	if (!json_is_string(c)) {
		conn_send_error(conn, id, "a request needs \"cmd\": a string");
		goto out;
	}
	cmd = find_cmd(conn->ctl, json_string_value(c));
	if (!cmd) {
		char msg[CTL_ERR_MAX];

		snprintf(msg, sizeof(msg), "unknown command '%.64s'", json_string_value(c));
		conn_send_error(conn, id, msg);
		goto out;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		conn_send_error(conn, id, "out of memory");
		goto out;
	}
	req->conn = conn;
	req->obj = obj; /* steals */
	req->id = id;
	req->cmd = json_string_value(c);
	req->state = REQ_RUNNING;
	req->in_handler = true;
	conn->req = req;
	cmd->fn(cmd->ctx, req);
	if (req->state == REQ_RUNNING) /* a handler bug; the client still gets a line */
		ctl_req_fail(req, "internal error: command '%s' did not answer", req->cmd);
	req->in_handler = false;
	if (req->state == REQ_DONE)
		req_free(req);
	return;
out:
	json_decref(obj);
}

static void conn_too_long(struct ctl_conn *conn, const char *what)
{
	char msg[CTL_ERR_MAX];

	snprintf(msg, sizeof(msg), "%s (limit: %d bytes per line); closing", what, CTL_LINE_MAX);
	conn_send_error(conn, NULL, msg);
	evbuffer_drain(conn->in, evbuffer_get_length(conn->in));
	conn->closing = true;
	if (conn->bev) {
		/* The write callback closes it once the answer is out. */
		bufferevent_disable(conn->bev, EV_READ);
		return;
	}
	conn->reap = true;
}

/* Takes up complete lines while no request of this client is pending. */
static void conn_process(struct ctl_conn *conn)
{
	conn->resume = false;
	for (int n = 0; !conn->req && !conn->closing && !conn->reap; n++) {
		struct evbuffer_ptr eol;
		size_t eol_len = 0, len;
		char *line;

		if (n == CTL_LINES_PER_RUN) {
			conn->resume = true;
			kick(conn->ctl);
			return;
		}
		eol = evbuffer_search_eol(conn->in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(conn->in) > CTL_LINE_MAX)
				conn_too_long(conn, "request line too long");
			return;
		}
		if ((size_t)eol.pos > CTL_LINE_MAX) {
			conn_too_long(conn, "request line too long");
			return;
		}
		line = evbuffer_readln(conn->in, &len, EVBUFFER_EOL_LF);
		if (!line) {
			conn_send_error(conn, NULL, "out of memory");
			conn_drop_later(conn);
			return;
		}
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len)
			dispatch(conn, line, len);
		free(line);
	}
	if (conn->req && evbuffer_get_length(conn->in) > CTL_INBUF_MAX)
		conn_too_long(conn, "too many requests queued behind a pending one");
}

/* ---- clients ----------------------------------------------------------------- */

static struct ctl_conn *conn_new(struct control *ctl)
{
	struct ctl_conn *conn;

	if (ctl->n_conns >= CTL_CLIENTS_MAX)
		return NULL;
	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return NULL;
	conn->ctl = ctl;
	conn->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = conn;
	ctl->conns = conn;
	ctl->n_conns++;
	return conn;
}

static void conn_free(struct ctl_conn *conn)
{
	struct control *ctl = conn->ctl;

	if (conn->req)
		req_cancel(conn->req);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		ctl->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	ctl->n_conns--;
	if (conn->bev)
		bufferevent_free(conn->bev);
	else if (conn->in)
		evbuffer_free(conn->in);
	if (conn->write) /* detached: tell the driver the client is gone */
		conn->write(conn->write_ctx, NULL, 0);
	free(conn);
}

static void bev_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void bev_write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *conn = arg;

	(void)bev;
	if (conn->closing && !conn->reap) /* the last answer is out */
		conn_free(conn);
}

static void bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *conn = arg;

	if (conn->reap)
		return;
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/* EOF ends the session: a pending request is cancelled; answers
		 * already written still go out (a half-closed client reads them). */
		if (conn->req)
			req_cancel(conn->req);
		conn->closing = true;
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(conn);
		return;
	}
	conn_free(conn);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;

	(void)fd;
	(void)what;
	(void)control_run_pending(ctl); /* more: it kicked itself again */
}

bool control_run_pending(struct control *ctl)
{
	struct ctl_conn *conn, *next;
	bool more = false;

	for (conn = ctl->conns; conn; conn = next) {
		next = conn->next;
		if (conn->reap)
			conn_free(conn);
	}
	/* conn_process may add to the resume set again (it re-kicks): each
	 * client gets one bounded turn per run. */
	for (conn = ctl->conns; conn; conn = conn->next)
		if (conn->resume && !conn->req)
			conn_process(conn);
	for (conn = ctl->conns; conn; conn = next) {
		next = conn->next;
		if (conn->reap && !ctl->kick)
			conn_free(conn);
		else if (conn->resume && !conn->req)
			more = true;
	}
	return more;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	static const char busy[] = "{\"error\":\"too many control clients\"}\n";
	struct control *ctl = arg;

	(void)what;
	for (int i = 0; i < CTL_ACCEPTS_PER_RUN; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl_conn *conn;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				LOG_RL(LOG_LVL_WARN, "accept: %s", strerror(errno));
			return;
		}
		conn = conn_new(ctl);
		if (!conn) {
			LOG_RL(LOG_LVL_WARN, "refused a control client: %d connected",
			       CTL_CLIENTS_MAX);
			(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		conn->bev = bufferevent_socket_new(ctl->base, fd,
		                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (!conn->bev) {
			close(fd);
			conn_free(conn);
			continue;
		}
		conn->in = bufferevent_get_input(conn->bev);
		bufferevent_setcb(conn->bev, bev_read_cb, bev_write_cb, bev_event_cb, conn);
		bufferevent_setwatermark(conn->bev, EV_READ, 0, CTL_INBUF_MAX);
		bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	}
}

/* ---- detached driving ---------------------------------------------------------- */

struct ctl_conn *control_conn_new(struct control *ctl, ctl_write_fn write, void *ctx)
{
	struct ctl_conn *conn;

	if (ctl->base || !write)
		return NULL;
	conn = conn_new(ctl);
	if (!conn)
		return NULL;
	conn->in = evbuffer_new();
	if (!conn->in) {
		ctl->n_conns--;
		ctl->conns = conn->next;
		if (ctl->conns)
			ctl->conns->prev = NULL;
		free(conn);
		return NULL;
	}
	conn->write = write;
	conn->write_ctx = ctx;
	return conn;
}

bool control_conn_input(struct ctl_conn *conn, const void *buf, size_t len)
{
	if (len && evbuffer_add(conn->in, buf, len) < 0)
		conn_drop_later(conn);
	else
		conn_process(conn);
	if (conn->reap) {
		conn_free(conn);
		return false;
	}
	return true;
}

void control_conn_close(struct ctl_conn *conn)
{
	conn_free(conn);
}

/* ---- registry, socket ---------------------------------------------------------- */

static bool cmd_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CTL_CMD_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

int control_register(struct control *ctl, const char *name, ctl_cmd_fn fn, void *ctx)
{
	struct ctl_cmd *c;

	if (!name || !fn || !cmd_name_valid(name))
		return -EINVAL;
	if (find_cmd(ctl, name))
		return -EEXIST;
	if (ctl->n_cmds == CTL_COMMANDS_MAX)
		return -ENOSPC;
	c = &ctl->cmds[ctl->n_cmds++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->fn = fn;
	c->ctx = ctx;
	return 0;
}

/* The built-in command: {"cmd":"help"} -> {"commands": [...]}. */
static void cmd_help(void *ctx, struct ctl_req *req)
{
	struct control *ctl = ctx;
	json_t *names;

	if (!ctl_req_only_keys(req, NULL))
		return;
	names = json_array();
	for (size_t i = 0; names && i < ctl->n_cmds; i++)
		json_array_append_new(names, json_string(ctl->cmds[i].name));
	ctl_req_reply(req, names ? json_pack("{s:o}", "commands", names) : NULL);
}

static struct control *ctl_alloc(void)
{
	struct control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl)
		return NULL;
	ctl->fd = -1;
	if (control_register(ctl, "help", cmd_help, ctl) < 0) {
		free(ctl);
		return NULL;
	}
	return ctl;
}

int control_new_detached(struct control **out)
{
	*out = ctl_alloc();
	return *out ? 0 : -ENOMEM;
}

/* Is a daemon listening on path? 1 yes, 0 a stale socket, < 0 cannot tell. */
static int probe_socket(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -errno;
	/* A UNIX connect does not wait for the peer to accept: it succeeds as
	 * soon as the listener's backlog takes it, or fails at once. */
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc == 0)
		rc = 1;
	else if (errno == ECONNREFUSED)
		rc = 0;
	else if (errno == EAGAIN) /* a full backlog: somebody is there */
		rc = 1;
	else
		rc = -errno;
	close(fd);
	return rc;
}

static int make_parent_dir(const char *path, char *err, size_t errlen)
{
	char buf[CTL_SOCK_PATH_MAX + 1], *dir;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		snprintf(err, errlen, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	if (errno != ENOENT || mkdir(dir, 0755) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot create directory %s: %s%s", dir, strerror(e),
		         e == EACCES ? " (choose another path with --control)" : "");
		return -e;
	}
	(void)chmod(dir, 0755); /* whatever the umask */
	return 0;
}

static int open_socket(struct control *ctl, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd = -1, rc;

	if (!path || !*path || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path must be 1..%zu bytes",
		         sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((rc = make_parent_dir(path, err, errlen)) < 0)
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		rc = probe_socket(&sun);
		if (rc > 0) {
			snprintf(err, errlen, "a daemon is already listening on %s", path);
			return -EADDRINUSE;
		}
		if (rc < 0) {
			snprintf(err, errlen, "cannot probe %s: %s", path, strerror(-rc));
			return rc;
		}
		LOG(LOG_LVL_INFO, "removing stale control socket %s", path);
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(err, errlen, "cannot remove stale %s: %s", path, strerror(errno));
			return rc;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	/* Before listen(): nobody can connect yet, so there is no window. */
	if (chmod(path, 0600) < 0 || lstat(path, &st) < 0 || listen(fd, CTL_BACKLOG) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return rc;
	}
	ctl->fd = fd;
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	return 0;
fail:
	rc = -errno;
	snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

int control_new(struct event_base *base, const char *path, struct control **out, char *err,
                size_t errlen)
{
	struct control *ctl;
	int rc;

	*out = NULL;
	if (!base)
		return snprintf(err, errlen, "no event base"), -EINVAL;
	ctl = ctl_alloc();
	if (!ctl)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	ctl->base = base;
	rc = open_socket(ctl, path, err, errlen);
	if (rc < 0)
		goto fail;
	ctl->accept_ev = event_new(base, ctl->fd, EV_READ | EV_PERSIST, accept_cb, ctl);
	ctl->kick = event_new(base, -1, 0, kick_cb, ctl);
	if (!ctl->accept_ev || !ctl->kick || event_add(ctl->accept_ev, NULL) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	*out = ctl;
	return 0;
fail:
	control_free(ctl);
	return rc;
}

void control_free(struct control *ctl)
{
	struct stat st;

	if (!ctl)
		return;
	while (ctl->conns)
		conn_free(ctl->conns);
	if (ctl->accept_ev)
		event_free(ctl->accept_ev);
	if (ctl->kick)
		event_free(ctl->kick);
	if (ctl->fd >= 0) {
		/* Only our own socket file: a newer daemon may have replaced it. */
		if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
			unlink(ctl->path);
		close(ctl->fd);
	}
	free(ctl);
}

const char *control_path(const struct control *ctl)
{
	return ctl->path;
}
