// SPDX-License-Identifier: MIT
/*
 * dhtctl — talks to a node's control socket (docs/control.md): one request
 * line out, one answer line back, printed as text or (--json) as the JSON
 * the daemon sent.
 *
 * Adding a command = one entry in `commands`: its usage line, a function
 * that builds the request from the arguments after its name, and one that
 * prints a successful answer as text.
 *
 * Exit codes: 0 success, 1 failure (no socket, no answer in time, an error
 * answer), 2 usage error.
 */
#include "cli.h"
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define ANSWER_MS    5000               /* the daemon must answer within this ... */
#define ANSWER_MAX   (16 * 1024 * 1024) /* an answer line, at most */
#define DEFAULT_DIR  "/run/groupvpn"
#define ADDR_HEX_LEN 40

static const char *prog = "dhtctl";

struct command {
	const char *name;
	const char *args; /* for usage, after the name */
	const char *help;
	/* ... plus this long, for commands that wait for the network. */
	unsigned extra_ms;
	/* Builds the request from the arguments after the name (--json removed);
	 * NULL after printing a usage error. */
	json_t *(*build)(int argc, char **argv);
	void (*print)(const json_t *answer);
};

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static bool addr_valid(const char *s)
{
	if (strlen(s) != ADDR_HEX_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

/* ---- status ----------------------------------------------------------------------- */

static json_t *build_status(int argc, char **argv)
{
	(void)argv;
	if (argc > 0) {
		cli_usage_error("status takes no arguments");
		return NULL;
	}
	return json_pack("{s:s}", "cmd", "status");
}

static void print_status(const json_t *a)
{
	const json_t *eps = json_object_get(a, "endpoints");
	const json_t *links = json_object_get(a, "links");
	const json_t *v;
	size_t i;

	printf("address    %s\n", str(a, "address"));
	printf("name       %s\n", str(a, "name"));
	printf("namespace  %s\n", str(a, "namespace"));
	printf("state      %s\n", str(a, "state"));
	printf("endpoints ");
	json_array_foreach (eps, i, v) {
		printf(" %s", json_string_value(v) ? json_string_value(v) : "?");
	}
	printf("\nlinks      %zu\n", json_array_size(links));
	if (json_array_size(links) == 0)
		return;
	printf("\n%-9s %-20s %-12s %-24s %s\n", "KIND", "NAME", "ADDRESS", "ENDPOINT", "RTT");
	json_array_foreach (links, i, v) {
		json_int_t rtt = json_integer_value(json_object_get(v, "rtt_ms"));
		char rtts[32];

		if (rtt > 0)
			snprintf(rtts, sizeof(rtts), "%lld ms", (long long)rtt);
		else
			snprintf(rtts, sizeof(rtts), "-");
		printf("%-9s %-20s %-12.12s %-24s %s\n", str(v, "kind"), str(v, "name"),
		       str(v, "address"), str(v, "endpoint"), rtts);
	}
}

/* ---- trace ------------------------------------------------------------------------ */

static json_t *build_trace(int argc, char **argv)
{
	if (argc != 1) {
		cli_usage_error("trace needs exactly one ADDRESS");
		return NULL;
	}
	if (!addr_valid(argv[0])) {
		cli_usage_error("trace: '%s' is not an overlay address (40 hex digits)", argv[0]);
		return NULL;
	}
	return json_pack("{s:s,s:s}", "cmd", "trace", "address", argv[0]);
}

static void print_trace(const json_t *a)
{
	const json_t *v;
	size_t i;

	json_array_foreach (json_object_get(a, "hops"), i, v) {
		printf("%2zu  %s\n", i + 1, json_string_value(v) ? json_string_value(v) : "?");
	}
	printf("reached %s\n", str(a, "reached"));
}

/* ---- the table ------------------------------------------------------------------- */

static const struct command commands[] = {
        {"status", "[--json]", "this node: address, state, endpoints, and its links", 0,
         build_status, print_status},
        {"trace", "ADDRESS [--json]", "the overlay path towards ADDRESS, hop by hop", 5000,
         build_trace, print_trace},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [-s SOCKET] COMMAND [ARGS] [--json]\n\ncommands:\n", prog);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-7s %-18s %s\n", commands[i].name, commands[i].args,
		        commands[i].help);
	fprintf(f,
	        "\n-s SOCKET  the node's control socket; default: the one socket in %s/\n"
	        "--json     print the daemon's JSON answer instead of text\n"
	        "\nExit: 0 ok, 1 failure (no daemon, no answer within %d s, an error answer),\n"
	        "2 usage.\n",
	        DEFAULT_DIR, ANSWER_MS / 1000);
}

/* ---- transport ------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The *.sock files in DEFAULT_DIR (counting stops at 2); the last into out. */
static int default_socket(char *out, size_t n)
{
	DIR *d = opendir(DEFAULT_DIR);
	struct dirent *de;
	int found = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) && found < 2) {
		size_t l = strlen(de->d_name);

		if (l > 5 && !strcmp(de->d_name + l - 5, ".sock")) {
			snprintf(out, n, "%s/%s", DEFAULT_DIR, de->d_name);
			found++;
		}
	}
	closedir(d);
	return found;
}

static int connect_to(const char *path, uint64_t deadline)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	uint64_t now = now_ms();
	struct timeval tv;
	int fd, e;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		cli_fail("%s: path too long for a UNIX socket", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cli_fail("socket: %s", strerror(errno));
		return -1;
	}
	/* A UNIX connect waits only when the listener's backlog is full. */
	tv.tv_sec = (time_t)((deadline - now) / 1000);
	tv.tv_usec = (suseconds_t)((deadline - now) % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == ENOENT)
		cli_fail("%s: no such socket (is the daemon running? see -s)", path);
	else if (e == ECONNREFUSED)
		cli_fail("%s: nothing is listening (a stale socket: the daemon is not running)",
		         path);
	else if (e == EACCES || e == EPERM)
		cli_fail(
		        "%s: permission denied (the socket is mode 0600: run as the daemon's user)",
		        path);
	else if (e == EAGAIN || e == EINPROGRESS || e == ETIMEDOUT)
		cli_fail("%s: the daemon does not accept connections (timed out)", path);
	else
		cli_fail("%s: %s", path, strerror(e));
	return -1;
}

static int send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len > 0) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		uint64_t now = now_ms();
		ssize_t w;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) == 0)
			return -ETIMEDOUT;
		w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One line (without its newline) into *out (new). */
static int recv_line(int fd, char **out, uint64_t deadline)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ms();
		char *nl;
		ssize_t r;
		int pr;

		if (now >= deadline)
			goto timeout;
		pr = poll(&p, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			goto timeout;
		if (len + 1 >= cap) {
			char *more;

			if (cap >= ANSWER_MAX) {
				free(buf);
				return -EMSGSIZE;
			}
			more = realloc(buf, cap *= 2);
			if (!more) {
				free(buf);
				return -ENOMEM;
			}
			buf = more;
		}
		r = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			int e = errno;

			free(buf);
			return -e;
		}
		if (r == 0) {
			free(buf);
			return -ECONNRESET;
		}
		len += (size_t)r;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			*out = buf;
			return 0;
		}
	}
timeout:
	free(buf);
	return -ETIMEDOUT;
}

/* Sends req (steals it), waits for the answer; *answer is new. Exit code. */
static int ask(const char *path, json_t *req, unsigned extra_ms, json_t **answer)
{
	uint64_t deadline = now_ms() + ANSWER_MS + extra_ms;
	char *text = json_dumps(req, JSON_COMPACT), *line = NULL;
	json_error_t jerr;
	int fd, rc;

	json_decref(req);
	if (!text)
		return cli_fail("out of memory");
	fd = connect_to(path, deadline);
	if (fd < 0) {
		free(text);
		return CLI_EXIT_FAIL;
	}
	rc = send_all(fd, text, strlen(text), deadline);
	if (rc == 0)
		rc = send_all(fd, "\n", 1, deadline);
	free(text);
	if (rc == 0)
		rc = recv_line(fd, &line, deadline);
	close(fd);
	if (rc == -ETIMEDOUT)
		return cli_fail("%s: the daemon did not answer within %u s", path,
		                (ANSWER_MS + extra_ms) / 1000);
	if (rc == -ECONNRESET || rc == -EPIPE)
		return cli_fail("%s: the daemon closed the connection without answering", path);
	if (rc < 0)
		return cli_fail("%s: %s", path, strerror(-rc));
	*answer = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	free(line);
	if (!json_is_object(*answer)) {
		json_decref(*answer);
		return cli_fail("%s: the answer is not a JSON object (%s)", path, jerr.text);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const struct command *cmd = NULL;
	char defpath[512];
	const char *path = NULL;
	json_t *req, *answer = NULL, *err;
	bool as_json = false;
	char **rest;
	int c, n_rest = 0, rc;

	cli_prog = prog;

	/* '+': options before the command are ours; the command's come after it. */
	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("no command given");
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(argv[optind], commands[i].name))
			cmd = &commands[i];
	if (!cmd)
		return cli_usage_error("unknown command '%s'", argv[optind]);
	if (!path) {
		int found = default_socket(defpath, sizeof(defpath));

		if (found == 0)
			return cli_fail(
			        "no control socket in %s/ (is the daemon running? else give "
			        "-s SOCKET)",
			        DEFAULT_DIR);
		if (found > 1)
			return cli_usage_error("several control sockets in %s/: choose one with -s",
			                       DEFAULT_DIR);
		path = defpath;
	}
	/* The command's arguments, --json taken out. */
	rest = calloc((size_t)argc, sizeof(*rest));
	if (!rest)
		return cli_fail("out of memory");
	for (int i = optind + 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			as_json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			free(rest);
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] &&
		           !(argv[i][1] >= '0' && argv[i][1] <= '9')) {
			free(rest);
			return cli_usage_error("%s: unknown option '%s'", cmd->name, argv[i]);
		} else
			rest[n_rest++] = argv[i];
	}
	req = cmd->build(n_rest, rest);
	free(rest);
	if (!req)
		return CLI_EXIT_USAGE;
	rc = ask(path, req, cmd->extra_ms, &answer);
	if (rc)
		return rc;
	json_object_del(answer, "id");
	err = json_object_get(answer, "error");
	if (err) {
		rc = cli_fail("%s: %s", cmd->name,
		              json_string_value(err) ? json_string_value(err) : "(error)");
	} else if (as_json) {
		char *text = json_dumps(answer, JSON_PRESERVE_ORDER);

		if (text)
			printf("%s\n", text);
		free(text);
		rc = text ? 0 : cli_fail("out of memory");
	} else {
		cmd->print(answer);
	}
	json_decref(answer);
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_fail("writing the output: %s", strerror(errno));
	return rc;
}
