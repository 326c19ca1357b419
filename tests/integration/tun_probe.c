// SPDX-License-Identifier: MIT
/*
 * tun_probe — drives vnet/tun.c for tests/integration/vnet_tun.sh. It reads
 * one command a line on stdin and answers on stdout, ending each answer
 * with a line that starts "ok" or "err", so the script can check the
 * device from outside (ip -j) between the steps:
 *
 *   open NAME            vnet_tun_open          -> ok NAME | err MESSAGE
 *   mtu N | addr A/P | up | down | close
 *   echo COUNT MS        answer COUNT ICMP echo requests read from the
 *                        device (one "request SRC DST ID SEQ LEN" line each)
 *                        with replies built here, within MS milliseconds
 *   short CAP MS         read one packet into a CAP-byte buffer: ok emsgsize
 *   open-nocap NAME      vnet_tun_open in a child that is nobody, no capability
 *   open-notun NAME      vnet_tun_open in a child whose /dev/net is empty
 *   drop USER            vnet_priv_drop
 *   whoami               ok uid U capeff HEX capprm HEX capbnd HEX
 *   raw                  open a raw ICMP socket (needs CAP_NET_RAW)
 *   quit
 *
 * Must not: be installed or used outside the tests (it runs as root and
 * answers pings for any address).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tun.h"

#define LINE_MAX_LEN 512
#define PKT_MAX      65536
#define IP_HDR_MIN   20
#define ICMP_HDR     8

static struct vnet_tun *tun;
static uint8_t pkt[PKT_MAX];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The Internet checksum of len bytes (RFC 1071); 0 over data that holds
 * a correct checksum. */
static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Waits up to the deadline for one packet into buf[cap]: its length (may be
 * -EMSGSIZE), or 0 at the deadline. */
static ssize_t read_until(uint64_t deadline, uint8_t *buf, size_t cap)
{
	for (;;) {
		uint64_t now = now_ms();
		struct pollfd pfd = {.fd = vnet_tun_fd(tun), .events = POLLIN};
		ssize_t n;

		if (now >= deadline)
			return 0;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
		n = vnet_tun_read(tun, buf, cap);
		if (n != 0)
			return n;
	}
}

/*
 * An ICMP echo request, validated: IPv4, header length and total length
 * consistent with what was read, protocol 1, type 8 code 0, both checksums
 * right. Returns the IP header length, or 0 for anything else.
 */
static size_t echo_request(const uint8_t *p, size_t n)
{
	size_t ihl;

	if (n < IP_HDR_MIN || p[0] >> 4 != 4)
		return 0;
	ihl = (size_t)(p[0] & 15) * 4;
	if (ihl < IP_HDR_MIN || get16(p + 2) != n || n < ihl + ICMP_HDR)
		return 0;
	if (p[9] != 1 || p[ihl] != 8 || p[ihl + 1] != 0)
		return 0;
	if (csum(p, ihl) != 0 || csum(p + ihl, n - ihl) != 0)
		return 0;
	return ihl;
}

/* Turns the request in p into its reply, in place: addresses swapped, a
 * fresh TTL, type 0, both checksums recomputed. */
static void make_reply(uint8_t *p, size_t n, size_t ihl)
{
	uint8_t a[4];

	memcpy(a, p + 12, 4);
	memcpy(p + 12, p + 16, 4);
	memcpy(p + 16, a, 4);
	p[8] = 64;
	put16(p + 10, 0);
	put16(p + 10, csum(p, ihl));
	p[ihl] = 0;
	put16(p + ihl + 2, 0);
	put16(p + ihl + 2, csum(p + ihl, n - ihl));
}

static void cmd_echo(unsigned count, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;
	unsigned done = 0;

	while (done < count) {
		ssize_t n = read_until(deadline, pkt, sizeof(pkt));
		char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
		size_t ihl;
		int rc;

		if (n == 0) {
			printf("err timeout: %u of %u echo requests\n", done, count);
			return;
		}
		if (n < 0) {
			printf("err read: %s\n", strerror((int)-n));
			return;
		}
		ihl = echo_request(pkt, (size_t)n);
		if (!ihl) {
			printf("other version=%u proto=%u len=%zd\n", pkt[0] >> 4,
			       n >= IP_HDR_MIN ? pkt[9] : 0, n);
			continue;
		}
		inet_ntop(AF_INET, pkt + 12, src, sizeof(src));
		inet_ntop(AF_INET, pkt + 16, dst, sizeof(dst));
		printf("request %s %s %u %u %zd\n", src, dst, get16(pkt + ihl + 4),
		       get16(pkt + ihl + 6), n);
		make_reply(pkt, (size_t)n, ihl);
		rc = vnet_tun_write(tun, pkt, (size_t)n);
		if (rc < 0) {
			printf("err write: %s\n", strerror(-rc));
			return;
		}
		done++;
	}
	printf("ok %u\n", done);
}

static void cmd_short(size_t cap, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;

	if (cap > sizeof(pkt))
		cap = sizeof(pkt);
	for (;;) {
		ssize_t n = read_until(deadline, pkt, cap);

		if (n == -EMSGSIZE) {
			printf("ok emsgsize\n");
			return;
		}
		if (n == 0) {
			printf("err timeout: no packet longer than %zu bytes\n", cap);
			return;
		}
		if (n < 0) {
			printf("err read: %s\n", strerror((int)-n));
			return;
		}
		printf("other len=%zd\n", n); /* fitted: not the one we wait for */
	}
}

/* Runs vnet_tun_open in a child set up by how ("nocap" or "notun"); the
 * child prints the answer line. */
static void cmd_open_child(const char *how, const char *name)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("err fork: %s\n", strerror(errno));
		return;
	}
	if (pid == 0) {
		char err[VNET_TUN_ERR_MAX];
		struct vnet_tun *t;

		if (!strcmp(how, "nocap")) {
			struct passwd *pw = getpwnam("nobody");

			/* Without PR_SET_KEEPCAPS, leaving uid 0 clears every set. */
			if (!pw || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
				printf("err cannot become nobody: %s\n", strerror(errno));
				_exit(1);
			}
		} else if (unshare(CLONE_NEWNS) < 0 ||
		           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		           mount("none", "/dev/net", "tmpfs", 0, "size=4k") < 0) {
			printf("err cannot hide /dev/net: %s\n", strerror(errno));
			_exit(1);
		}
		if (vnet_tun_open(name, &t, err, sizeof(err)) == 0) {
			printf("ok %s\n", vnet_tun_name(t));
			vnet_tun_close(t);
		} else {
			printf("err %s\n", err);
		}
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* The capability sets from /proc/self/status. */
static void cmd_whoami(void)
{
	char line[LINE_MAX_LEN], eff[32] = "?", prm[32] = "?", bnd[32] = "?";
	FILE *f = fopen("/proc/self/status", "r");

	if (!f) {
		printf("err /proc/self/status: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "CapEff: %31s", eff);
		sscanf(line, "CapPrm: %31s", prm);
		sscanf(line, "CapBnd: %31s", bnd);
	}
	fclose(f);
	printf("ok uid %u gid %u capeff %s capprm %s capbnd %s\n", (unsigned)getuid(),
	       (unsigned)getgid(), eff, prm, bnd);
}

static bool parse_cidr(const char *s, uint32_t *ip, uint8_t *prefix)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in;
	unsigned p;
	int used = 0;

	if (sscanf(s, "%15[0-9.]/%u%n", a, &p, &used) != 2 || s[used] || p > 32 ||
	    inet_pton(AF_INET, a, &in) != 1)
		return false;
	*ip = ntohl(in.s_addr);
	*prefix = (uint8_t)p;
	return true;
}

static void answer(int rc, const char *err)
{
	if (rc < 0)
		printf("err %s\n", err);
	else
		printf("ok\n");
}

/* One command line; false to stop. */
static bool run(char *line)
{
	char cmd[32] = "", arg[LINE_MAX_LEN] = "", err[VNET_TUN_ERR_MAX] = "";
	unsigned a = 0, b = 0;

	line[strcspn(line, "\r\n")] = 0;
	if (sscanf(line, "%31s %511s", cmd, arg) < 1)
		return true;
	if (!strcmp(cmd, "quit"))
		return false;
	if (!strcmp(cmd, "open")) {
		struct vnet_tun *t;

		if (vnet_tun_open(arg, &t, err, sizeof(err)) < 0) {
			printf("err %s\n", err);
		} else if (tun) {
			printf("err opened a second device %s while %s is open\n", vnet_tun_name(t),
			       vnet_tun_name(tun));
			vnet_tun_close(t);
		} else {
			tun = t;
			printf("ok %s\n", vnet_tun_name(tun));
		}
	} else if (!strcmp(cmd, "open-nocap") || !strcmp(cmd, "open-notun")) {
		cmd_open_child(cmd + 5, arg);
	} else if (!strcmp(cmd, "drop")) {
		answer(vnet_priv_drop(arg, err, sizeof(err)), err);
	} else if (!strcmp(cmd, "whoami")) {
		cmd_whoami();
	} else if (!strcmp(cmd, "raw")) {
		int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

		if (s < 0) {
			printf("err raw socket: %s\n", strerror(errno));
		} else {
			close(s);
			printf("ok\n");
		}
	} else if (!tun) {
		printf("err no device open\n");
	} else if (!strcmp(cmd, "close")) {
		vnet_tun_close(tun);
		tun = NULL;
		printf("ok\n");
	} else if (!strcmp(cmd, "mtu") && sscanf(arg, "%u", &a) == 1) {
		answer(vnet_tun_set_mtu(tun, a, err, sizeof(err)), err);
	} else if (!strcmp(cmd, "addr")) {
		uint32_t ip;
		uint8_t prefix;

		if (!parse_cidr(arg, &ip, &prefix))
			printf("err addr wants A.B.C.D/PREFIX, not '%s'\n", arg);
		else
			answer(vnet_tun_set_addr4(tun, ip, prefix, err, sizeof(err)), err);
	} else if (!strcmp(cmd, "up") || !strcmp(cmd, "down")) {
		answer(vnet_tun_set_up(tun, cmd[0] == 'u', err, sizeof(err)), err);
	} else if (!strcmp(cmd, "echo") && sscanf(line, "%*s %u %u", &a, &b) == 2) {
		cmd_echo(a, b);
	} else if (!strcmp(cmd, "short") && sscanf(line, "%*s %u %u", &a, &b) == 2) {
		cmd_short(a, b);
	} else {
		printf("err unknown command '%s'\n", line);
	}
	return true;
}

int main(void)
{
	char line[LINE_MAX_LEN];

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin))
		if (!run(line))
			break;
	vnet_tun_close(tun);
	return 0;
}
