// SPDX-License-Identifier: MIT
/*
 * dhtctl — talks to a node's control socket (docs/control.md): one request
 * line out, one answer line back, printed as text or (--json) as the JSON
 * the daemon sent.
 *
 * Adding a command = one entry in `commands`: its usage line, the options
 * it takes, a function that builds the request from the arguments after its
 * name, and one that prints a successful answer as text.
 *
 * Exit codes: 0 success, 1 failure (no socket, no answer in time, an error
 * answer), 2 usage error, 3 create found the key held by another writer.
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
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define ANSWER_MS    5000               /* the daemon must answer within this ... */
#define ANSWER_MAX   (16 * 1024 * 1024) /* an answer line, at most */
#define DEFAULT_DIR  "/run/groupvpn"
#define ADDR_HEX_LEN 40
#define EXIT_EXISTS  3    /* create: another writer holds the key */
#define KEY_MAX      255  /* application key bytes: DHT_APPKEY_MAX in dht/record.h */
#define VALUE_MAX    1024 /* value bytes: DHT_VALUE_MAX in dht/record.h */
/* A DHT request's own limit in the daemon is 15 s with the default engine
 * timers (dht_control_timeout_ms): wait a little longer than that, so its
 * answer (even "timed out") is what the user sees. */
#define DHT_WAIT_MS   18000
#define TRACE_WAIT_MS 5000 /* the daemon's trace limit (OVL_RT_TRACE_MS) */

static const char *prog = "dhtctl";

/* Options a command takes besides --json. */
enum { OPT_TTL = 1, OPT_HEX = 2, OPT_ONCE = 4 };

struct opts {
	bool json, hex, once;
	long long ttl; /* 0: not given */
};

struct command {
	const char *name;
	const char *args; /* for usage, after the name */
	const char *help;
	/* ... plus this long, for commands that wait for the network. */
	unsigned extra_ms;
	unsigned opts; /* OPT_*: what it takes besides --json */
	/* Builds the request from the arguments after the name (options taken
	 * out into o); NULL after printing a usage error. */
	json_t *(*build)(int argc, char **argv, const struct opts *o);
	void (*print)(const json_t *answer, const struct opts *o);
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

static bool ipv4_valid(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

/* ---- status ----------------------------------------------------------------------- */

static json_t *build_status(int argc, char **argv, const struct opts *o)
{
	(void)argv;
	(void)o;
	if (argc > 0) {
		cli_usage_error("status takes no arguments");
		return NULL;
	}
	return json_pack("{s:s}", "cmd", "status");
}

static void print_status(const json_t *a, const struct opts *o)
{
	const json_t *eps = json_object_get(a, "endpoints");
	const json_t *links = json_object_get(a, "links");
	const json_t *v, *nat;
	size_t i;

	(void)o;
	printf("address    %s\n", str(a, "address"));
	printf("name       %s\n", str(a, "name"));
	printf("namespace  %s\n", str(a, "namespace"));
	printf("state      %s\n", str(a, "state"));
	if (json_object_get(a, "interface")) {
		const json_t *vip = json_object_get(a, "virtual_ip");

		printf("virtual_ip %s\n",
		       json_is_string(vip) ? json_string_value(vip) : "(none yet)");
		printf("interface  %s (mtu %lld)\n", str(a, "interface"),
		       (long long)json_integer_value(json_object_get(a, "mtu")));
	}
	printf("endpoints ");
	json_array_foreach (eps, i, v) {
		printf(" %s", json_string_value(v) ? json_string_value(v) : "?");
	}
	printf("\n");
	if ((nat = json_object_get(a, "nat"))) {
		printf("nat        %s", str(nat, "type"));
		json_array_foreach (json_object_get(nat, "reflexive"), i, v)
			printf("%s%s", i ? " " : ", seen at ",
			       json_string_value(v) ? json_string_value(v) : "?");
		printf("; relayed %lld datagrams for others\n",
		       (long long)json_integer_value(json_object_get(nat, "relayed")));
	}
	printf("links      %zu\n", json_array_size(links));
	if (json_array_size(links) == 0)
		return;
	printf("\n%-9s %-20s %-12s %-24s %-16s %-7s %s\n", "KIND", "NAME", "ADDRESS", "ENDPOINT",
	       "VIRTUAL_IP", "RTT", "PATH");
	json_array_foreach (links, i, v) {
		json_int_t rtt = json_integer_value(json_object_get(v, "rtt_ms"));
		char rtts[32], path[80];

		if (rtt > 0)
			snprintf(rtts, sizeof(rtts), "%lld ms", (long long)rtt);
		else
			snprintf(rtts, sizeof(rtts), "-");
		if (json_object_get(v, "relay"))
			snprintf(path, sizeof(path), "relayed by %s", str(v, "relay"));
		else
			snprintf(path, sizeof(path), "%s", str(v, "path"));
		printf("%-9s %-20s %-12.12s %-24s %-16s %-7s %s\n", str(v, "kind"), str(v, "name"),
		       str(v, "address"), str(v, "endpoint"), str(v, "virtual_ip"), rtts, path);
	}
	if (json_array_size(json_object_get(a, "peers")) == 0)
		return;
	printf("\n%-16s %-20s %-12s %-8s %10s %10s\n", "PEER_IP", "NAME", "ADDRESS", "PATH", "TX",
	       "RX");
	json_array_foreach (json_object_get(a, "peers"), i, v) {
		printf("%-16s %-20s %-12.12s %-8s %10lld %10lld\n", str(v, "ip"), str(v, "name"),
		       str(v, "address"), str(v, "path"),
		       (long long)json_integer_value(json_object_get(v, "tx_packets")),
		       (long long)json_integer_value(json_object_get(v, "rx_packets")));
	}
}

/* ---- resolve, crl-update ------------------------------------------------------------ */

static json_t *build_resolve(int argc, char **argv, const struct opts *o)
{
	(void)o;
	if (argc != 1 || !ipv4_valid(argv[0])) {
		cli_usage_error("resolve needs exactly one virtual IPv4 address (a.b.c.d)");
		return NULL;
	}
	return json_pack("{s:s,s:s}", "cmd", "resolve", "ip", argv[0]);
}

static void print_resolve(const json_t *a, const struct opts *o)
{
	(void)o;
	printf("%s\t%s\t%s\n", str(a, "ip"), str(a, "address"), str(a, "name"));
}

#define CRL_FILE_MAX (1 << 20)

static json_t *build_crl_update(int argc, char **argv, const struct opts *o)
{
	char *text;
	size_t len;
	json_t *req;
	FILE *f;

	(void)o;
	if (argc != 1) {
		cli_usage_error("crl-update needs exactly one CRL file (PEM)");
		return NULL;
	}
	f = fopen(argv[0], "r");
	if (!f) {
		cli_usage_error("crl-update: %s: %s", argv[0], strerror(errno));
		return NULL;
	}
	text = malloc(CRL_FILE_MAX + 1);
	len = text ? fread(text, 1, CRL_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!text || len > CRL_FILE_MAX) {
		cli_usage_error("crl-update: %s: too large (or out of memory)", argv[0]);
		free(text);
		return NULL;
	}
	text[len] = '\0';
	if (!strstr(text, "-----BEGIN X509 CRL-----") || strlen(text) != len) {
		cli_usage_error("crl-update: %s is not a PEM CRL", argv[0]);
		free(text);
		return NULL;
	}
	req = json_pack("{s:s,s:s}", "cmd", "crl_update", "crl", text);
	free(text);
	return req;
}

static void print_crl_update(const json_t *a, const struct opts *o)
{
	(void)o;
	printf("CRL updated; %lld link(s) to revoked members closed\n",
	       (long long)json_integer_value(json_object_get(a, "closed_links")));
}

/* ---- trace ------------------------------------------------------------------------ */

static json_t *build_trace(int argc, char **argv, const struct opts *o)
{
	(void)o;
	if (argc != 1) {
		cli_usage_error("trace needs exactly one ADDRESS or virtual IP");
		return NULL;
	}
	if (ipv4_valid(argv[0])) /* resolved first, in main */
		return json_pack("{s:s,s:s}", "cmd", "trace", "ip", argv[0]);
	if (!addr_valid(argv[0])) {
		cli_usage_error("trace: '%s' is neither an overlay address (40 hex digits) nor "
		                "a virtual IPv4 address",
		                argv[0]);
		return NULL;
	}
	return json_pack("{s:s,s:s}", "cmd", "trace", "address", argv[0]);
}

static void print_trace(const json_t *a, const struct opts *o)
{
	const json_t *v;
	size_t i;

	(void)o;
	json_array_foreach (json_object_get(a, "hops"), i, v) {
		printf("%2zu  %s\n", i + 1, json_string_value(v) ? json_string_value(v) : "?");
	}
	printf("reached %s\n", str(a, "reached"));
}

/* ---- dht: put, create, get, remove, dht-status ----------------------------------- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* KEY: 1..KEY_MAX bytes of UTF-8, as a JSON string (new); NULL after a
 * usage error. */
static json_t *key_arg(const char *cmd, const char *key)
{
	size_t len = strlen(key);
	json_t *k;

	if (len < 1 || len > KEY_MAX) {
		cli_usage_error("%s: KEY must be 1..%d bytes, not %zu", cmd, KEY_MAX, len);
		return NULL;
	}
	k = json_string(key);
	if (!k)
		cli_usage_error("%s: KEY is not valid UTF-8", cmd);
	return k;
}

/* VALUE into req as "value" (text) or, with --hex, "value_hex". */
static bool value_arg(const char *cmd, const char *value, bool hex, json_t *req)
{
	size_t len = strlen(value);
	json_t *v;

	if (hex) {
		for (size_t i = 0; i < len; i++) {
			if (hex_digit(value[i]) < 0) {
				cli_usage_error("%s --hex: VALUE has a non-hex character at offset "
				                "%zu",
				                cmd, i);
				return false;
			}
		}
		if (len % 2) {
			cli_usage_error("%s --hex: VALUE must have two hex digits per byte (%zu "
			                "digits given)",
			                cmd, len);
			return false;
		}
		if (len / 2 > VALUE_MAX) {
			cli_usage_error("%s: VALUE is %zu bytes: at most %d", cmd, len / 2,
			                VALUE_MAX);
			return false;
		}
		return json_object_set_new(req, "value_hex", json_string(value)) == 0;
	}
	if (len > VALUE_MAX) {
		cli_usage_error("%s: VALUE is %zu bytes: at most %d (or store it elsewhere)", cmd,
		                len, VALUE_MAX);
		return false;
	}
	v = json_string(value);
	if (!v) {
		cli_usage_error("%s: VALUE is not valid UTF-8 (give bytes with --hex)", cmd);
		return false;
	}
	return json_object_set_new(req, "value", v) == 0;
}

/* put and create: {"cmd", "key", "value" | "value_hex", ["ttl"], ["refresh"]}. */
static json_t *build_write(const char *name, const char *cmd, int argc, char **argv,
                           const struct opts *o)
{
	json_t *req, *key;

	if (argc != 2) {
		cli_usage_error("%s needs KEY and VALUE (a VALUE starting with '-': put "
		                "'--' before it)",
		                name);
		return NULL;
	}
	key = key_arg(name, argv[0]);
	if (!key)
		return NULL;
	req = json_pack("{s:s,s:o}", "cmd", cmd, "key", key);
	if (!req || !value_arg(name, argv[1], o->hex, req) ||
	    (o->ttl && json_object_set_new(req, "ttl", json_integer(o->ttl)) < 0) ||
	    (o->once && json_object_set_new(req, "refresh", json_false()) < 0)) {
		json_decref(req);
		return NULL;
	}
	return req;
}

static json_t *build_put(int argc, char **argv, const struct opts *o)
{
	return build_write("put", "dht_put", argc, argv, o);
}

static json_t *build_create(int argc, char **argv, const struct opts *o)
{
	return build_write("create", "dht_create", argc, argv, o);
}

static json_t *build_key_only(const char *name, const char *cmd, int argc, char **argv)
{
	json_t *key;

	if (argc != 1) {
		cli_usage_error("%s needs exactly one KEY", name);
		return NULL;
	}
	key = key_arg(name, argv[0]);
	return key ? json_pack("{s:s,s:o}", "cmd", cmd, "key", key) : NULL;
}

static json_t *build_get(int argc, char **argv, const struct opts *o)
{
	(void)o;
	return build_key_only("get", "dht_get", argc, argv);
}

static json_t *build_remove(int argc, char **argv, const struct opts *o)
{
	(void)o;
	return build_key_only("remove", "dht_remove", argc, argv);
}

/* put, create, remove: nothing to say on success. */
static void print_nothing(const json_t *a, const struct opts *o)
{
	(void)a;
	(void)o;
}

/* Text that fits one output line: no control characters. */
static bool one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* One line per value: VALUE<TAB>writer=NAME<TAB>ttl=N, the value in hex with
 * --hex; a value that is not one line of text is printed in hex and the line
 * ends in <TAB>encoding=hex. */
static void print_get(const json_t *a, const struct opts *o)
{
	const json_t *v;
	size_t i;

	json_array_foreach (json_object_get(a, "values"), i, v) {
		const char *text = json_string_value(json_object_get(v, "value"));
		bool as_hex = o->hex || !text || !one_line(text);

		printf("%s\twriter=%s\tttl=%lld%s\n", as_hex ? str(v, "value_hex") : text,
		       str(v, "writer"), (long long)json_integer_value(json_object_get(v, "ttl")),
		       as_hex && !o->hex ? "\tencoding=hex" : "");
	}
}

static json_t *build_dht_status(int argc, char **argv, const struct opts *o)
{
	(void)argv;
	(void)o;
	if (argc > 0) {
		cli_usage_error("dht-status takes no arguments");
		return NULL;
	}
	return json_pack("{s:s}", "cmd", "dht_status");
}

/* One "name  value" line per field; --json has them all. */
static void print_dht_status(const json_t *a, const struct opts *o)
{
	static const char *const fields[] = {
	        "replicas",
	        "ttl_max",
	        "records",
	        "tombstones",
	        "own_values",
	        "pending",
	        "stored",
	        "refused",
	        "verify_failed",
	        "rate_limited",
	        "handed_off",
	        "repaired",
	        "synced_out",
	        "expired",
	        "msgs_in",
	        "msgs_out",
	        "frags_in",
	        "frags_out",
	        "reassembly_dropped",
	};

	(void)o;
	printf("%-19s %s\n", "namespace", str(a, "namespace"));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const json_t *v = json_object_get(a, fields[i]);

		if (json_is_integer(v))
			printf("%-19s %lld\n", fields[i], (long long)json_integer_value(v));
	}
}

/* ---- the table ------------------------------------------------------------------- */

static const struct command commands[] = {
        {"status", "[--json]", "this node: address, state, endpoints, and its links", 0, 0,
         build_status, print_status},
        {"trace", "ADDRESS|IP [--json]",
         "the overlay path towards ADDRESS (or the member holding virtual IP), hop by hop",
         TRACE_WAIT_MS, 0, build_trace, print_trace},
        {"resolve", "IP [--json]", "the member holding virtual IP: IP<TAB>ADDRESS<TAB>NAME",
         DHT_WAIT_MS, 0, build_resolve, print_resolve},
        {"crl-update", "FILE [--json]",
         "give the node a newer CRL (PEM): revoked members' links and sessions close", 0, 0,
         build_crl_update, print_crl_update},
        {"put", "KEY VALUE [--ttl SECONDS] [--hex] [--once] [--json]",
         "store VALUE under KEY (replacing ours); kept alive until removed unless --once",
         DHT_WAIT_MS, OPT_TTL | OPT_HEX | OPT_ONCE, build_put, print_nothing},
        {"create", "KEY VALUE [--ttl SECONDS] [--hex] [--once] [--json]",
         "put only if no other member holds KEY: else exit 3, \"exists\"", DHT_WAIT_MS,
         OPT_TTL | OPT_HEX | OPT_ONCE, build_create, print_nothing},
        {"get", "KEY [--hex] [--json]",
         "the values under KEY, one line each: VALUE<TAB>writer=NAME<TAB>ttl=SECONDS", DHT_WAIT_MS,
         OPT_HEX, build_get, print_get},
        {"remove", "KEY [--json]", "remove our value of KEY (and stop keeping it alive)",
         DHT_WAIT_MS, 0, build_remove, print_nothing},
        {"dht-status", "[--json]", "this node's DHT: replicas, records held, counters", 0, 0,
         build_dht_status, print_dht_status},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [-s SOCKET] COMMAND [ARGS] [--json]\n\ncommands:\n", prog);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %s %s\n      %s\n", commands[i].name, commands[i].args,
		        commands[i].help);
	fprintf(f,
	        "\n-s SOCKET      the node's control socket; default: the one socket in %s/\n"
	        "--json         print the daemon's JSON answer instead of text\n"
	        "--ttl SECONDS  how long the value lives (default 3600; the daemon's limit\n"
	        "               applies, 86400 unless configured otherwise)\n"
	        "--hex          VALUE is hex digits (bytes); get prints values in hex\n"
	        "--once         do not keep the value alive: it expires after its TTL\n"
	        "--             ends the options: a VALUE may then start with '-'\n"
	        "\nKEY is 1..%d bytes, VALUE at most %d bytes.\n"
	        "\nExit: 0 ok, 1 failure (no daemon, no answer in time, an error answer),\n"
	        "2 usage, 3 create: the key is held by another writer. In time: %d s, plus\n"
	        "%d s for trace and %d s for put, create, get and remove.\n",
	        DEFAULT_DIR, KEY_MAX, VALUE_MAX, ANSWER_MS / 1000, TRACE_WAIT_MS / 1000,
	        DHT_WAIT_MS / 1000);
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

/* --ttl's SECONDS: a whole number, 1..UINT32_MAX (the daemon's limit is
 * lower: it says so). */
static bool ttl_arg(const char *s, long long *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < 1 || v > UINT32_MAX)
		return false;
	*out = (long long)v;
	return true;
}

/* Whether arg is an option of cmd ("--ttl" takes the next argument too,
 * or "--ttl=N"); *i moves past what it used. 0, or an exit code after a
 * usage error (or -1 after --help). */
static int take_option(const struct command *cmd, int argc, char **argv, int *i, struct opts *o)
{
	const char *a = argv[*i], *ttl = NULL;

	if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
		usage(stdout);
		return -1;
	}
	if (!strcmp(a, "--json")) {
		o->json = true;
		return 0;
	}
	if ((cmd->opts & OPT_HEX) && !strcmp(a, "--hex")) {
		o->hex = true;
		return 0;
	}
	if ((cmd->opts & OPT_ONCE) && !strcmp(a, "--once")) {
		o->once = true;
		return 0;
	}
	if ((cmd->opts & OPT_TTL) && !strncmp(a, "--ttl=", 6))
		ttl = a + 6;
	else if ((cmd->opts & OPT_TTL) && !strcmp(a, "--ttl")) {
		if (*i + 1 >= argc)
			return cli_usage_error("%s: --ttl needs SECONDS", cmd->name);
		ttl = argv[++*i];
	}
	if (ttl) {
		if (!ttl_arg(ttl, &o->ttl))
			return cli_usage_error("%s: --ttl '%s': want a whole number of seconds, "
			                       "1 or more",
			                       cmd->name, ttl);
		return 0;
	}
	return cli_usage_error("%s: unknown option '%s'", cmd->name, a);
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
	struct opts o = {0};
	bool options = true;
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
	/* The command's arguments, its options taken out. A '-' followed by a
	 * digit is an argument (a negative number); after "--", all are. */
	rest = calloc((size_t)argc, sizeof(*rest));
	if (!rest)
		return cli_fail("out of memory");
	for (int i = optind + 1; i < argc; i++) {
		if (options && !strcmp(argv[i], "--")) {
			options = false;
		} else if (options && argv[i][0] == '-' && argv[i][1] &&
		           !(argv[i][1] >= '0' && argv[i][1] <= '9')) {
			rc = take_option(cmd, argc, argv, &i, &o);
			if (rc) {
				free(rest);
				return rc < 0 ? 0 : rc;
			}
		} else {
			rest[n_rest++] = argv[i];
		}
	}
	req = cmd->build(n_rest, rest, &o);
	free(rest);
	if (!req)
		return CLI_EXIT_USAGE;
	if (!path) {
		int found = default_socket(defpath, sizeof(defpath));

		if (found == 0) {
			json_decref(req);
			return cli_fail(
			        "no control socket in %s/ (is the daemon running? else give "
			        "-s SOCKET)",
			        DEFAULT_DIR);
		}
		if (found > 1) {
			json_decref(req);
			return cli_usage_error("several control sockets in %s/: choose one with -s",
			                       DEFAULT_DIR);
		}
		path = defpath;
	}
	if (json_object_get(req, "ip") && !strcmp(cmd->name, "trace")) {
		/* trace IP: the member holding it first. */
		json_t *r =
		        json_pack("{s:s,s:O}", "cmd", "resolve", "ip", json_object_get(req, "ip"));

		rc = r ? ask(path, r, DHT_WAIT_MS, &answer)
		       : cli_fail("out of memory"); /* steals r */
		if (rc) {
			json_decref(req);
			return rc;
		}
		if (!json_is_string(json_object_get(answer, "address"))) {
			rc = cli_fail("trace: %s: %s", str(req, "ip"), str(answer, "error"));
			json_decref(answer);
			json_decref(req);
			return rc;
		}
		json_object_set(req, "address", json_object_get(answer, "address"));
		json_object_del(req, "ip");
		json_decref(answer);
	}
	rc = ask(path, req, cmd->extra_ms, &answer);
	if (rc)
		return rc;
	json_object_del(answer, "id");
	err = json_object_get(answer, "error");
	if (err) {
		rc = cli_fail("%s: %s", cmd->name,
		              json_string_value(err) ? json_string_value(err) : "(error)");
		/* dht_create's "exists" has its own exit code, for scripts. */
		if (!strcmp(str(answer, "code"), "exists"))
			rc = EXIT_EXISTS;
	} else if (o.json) {
		char *text = json_dumps(answer, JSON_PRESERVE_ORDER);

		if (text)
			printf("%s\n", text);
		free(text);
		rc = text ? 0 : cli_fail("out of memory");
	} else {
		cmd->print(answer, &o);
	}
	json_decref(answer);
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_fail("writing the output: %s", strerror(errno));
	return rc;
}
