// SPDX-License-Identifier: MIT
/* certs — value types, names, errors and file helpers. */
#include "cert_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

int cert_errf(struct cert_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

int cert_err_prefix(struct cert_err *err, int rc, const char *fmt, ...)
{
	char tmp[CERT_ERR_MAX];
	size_t n, m;
	va_list ap;

	if (!err)
		return rc;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	m = strnlen(err->msg, sizeof(err->msg));
	if (m > sizeof(tmp) - 1 - n)
		m = sizeof(tmp) - 1 - n;
	memcpy(tmp + n, err->msg, m);
	tmp[n + m] = '\0';
	memcpy(err->msg, tmp, sizeof(tmp));
	return rc;
}

int cert_err_ossl(struct cert_err *err, int rc, const char *fmt, ...)
{
	unsigned long e = ERR_get_error();
	va_list ap;
	size_t n;

	ERR_clear_error();
	if (!err)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (e && n + 3 < sizeof(err->msg)) {
		const char *r = ERR_reason_error_string(e);

		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", r ? r : "OpenSSL error");
	}
	return rc;
}

char *cert_json_text(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2)), *t;
	size_t n;

	if (!s)
		return NULL;
	/* Copy rather than realloc: the text may hold a key, and realloc
	 * would free the old block unwiped. */
	n = strlen(s);
	t = malloc(n + 2);
	if (t) {
		memcpy(t, s, n);
		t[n] = '\n';
		t[n + 1] = '\0';
	}
	OPENSSL_clear_free(s, n + 1);
	return t;
}

void cert_addr_hex(const struct cert_addr *a, char out[CERT_ADDR_HEX_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < CERT_ADDR_LEN; i++) {
		out[2 * i] = hx[a->b[i] >> 4];
		out[2 * i + 1] = hx[a->b[i] & 15];
	}
	out[CERT_ADDR_HEX_LEN] = '\0';
}

int cert_addr_from_hex(const char *hex, struct cert_addr *out)
{
	struct cert_addr a;

	if (!hex || strlen(hex) != CERT_ADDR_HEX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < CERT_ADDR_LEN; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]),
		    lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		a.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = a;
	return 0;
}

int cert_network_parse(const char *cidr, struct cert_network *out, struct cert_err *err)
{
	char buf[32];
	const char *slash;
	struct in_addr in;
	char *end;
	unsigned long prefix;
	uint32_t addr, mask;

	if (!cidr || !(slash = strchr(cidr, '/')) || (size_t)(slash - cidr) >= sizeof(buf))
		return cert_errf(err, -EINVAL,
		                 "network '%.40s': expected IPv4 CIDR like 100.64.0.0/16",
		                 cidr ? cidr : "");
	memcpy(buf, cidr, (size_t)(slash - cidr));
	buf[slash - cidr] = '\0';
	if (inet_pton(AF_INET, buf, &in) != 1)
		return cert_errf(err, -EINVAL, "network '%.40s': '%s' is not an IPv4 address", cidr,
		                 buf);
	errno = 0;
	if (slash[1] < '0' || slash[1] > '9')
		return cert_errf(err, -EINVAL, "network '%.40s': bad prefix length", cidr);
	prefix = strtoul(slash + 1, &end, 10);
	if (errno || *end || prefix < 1 || prefix > 30)
		return cert_errf(err, -EINVAL, "network '%.40s': prefix length must be 1..30",
		                 cidr);
	addr = ntohl(in.s_addr);
	mask = 0xffffffffu << (32 - prefix);
	if (addr & ~mask)
		return cert_errf(err, -EINVAL,
		                 "network '%.40s': host bits set (did you mean %u.%u.%u.%u/%lu?)",
		                 cidr, (addr & mask) >> 24, (addr & mask) >> 16 & 255,
		                 (addr & mask) >> 8 & 255, addr & mask & 255, prefix);
	out->addr = addr;
	out->prefix = (uint8_t)prefix;
	return 0;
}

void cert_network_format(const struct cert_network *n, char out[CERT_NET_STR])
{
	snprintf(out, CERT_NET_STR, "%u.%u.%u.%u/%u", n->addr >> 24, n->addr >> 16 & 255,
	         n->addr >> 8 & 255, n->addr & 255, n->prefix);
}

bool cert_network_has_host(const struct cert_network *n, uint32_t ip)
{
	uint32_t mask = 0xffffffffu << (32 - n->prefix);

	if ((ip & mask) != n->addr)
		return false;
	return ip != n->addr && ip != (n->addr | ~mask);
}

bool cert_name_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n < 1 || n > CERT_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool port_valid(const char *p)
{
	unsigned long v = 0;

	if (!*p || strlen(p) > 5)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v >= 1 && v <= 65535;
}

bool cert_endpoint_valid(const char *s)
{
	char host[256];
	const char *colon;
	size_t hl;

	if (!s || strlen(s) > 300)
		return false;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		struct in6_addr a6;

		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return false;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1 && port_valid(rb + 2);
	}
	colon = strrchr(s, ':');
	if (!colon || colon == s || strchr(s, ':') != colon)
		return false;
	hl = (size_t)(colon - s);
	if (hl > 253)
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	/* IPv4 literals and DNS names share one alphabet; labels 1..63. */
	for (size_t i = 0, label = 0; i < hl; i++) {
		char c = host[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	if (host[hl - 1] == '.' || host[0] == '-')
		return false;
	return port_valid(colon + 1);
}

const char *cert_algo_name(enum cert_algo a)
{
	switch (a) {
	case CERT_ALGO_ED25519:
		return "ed25519";
	case CERT_ALGO_P256:
		return "p256";
	case CERT_ALGO_MAX:
		break;
	}
	return "?";
}

int cert_algo_parse(const char *s, enum cert_algo *out)
{
	for (int a = 0; a < CERT_ALGO_MAX; a++) {
		if (s && strcmp(s, cert_algo_name((enum cert_algo)a)) == 0) {
			*out = (enum cert_algo)a;
			return 0;
		}
	}
	return -EINVAL;
}

const char *cert_verdict_name(enum cert_verdict v)
{
	static const char *const names[CERT_VERDICT_MAX] = {
	        [CERT_VALID] = "valid",
	        [CERT_MALFORMED] = "malformed",
	        [CERT_WRONG_CA] = "wrong CA",
	        [CERT_EXPIRED] = "expired",
	        [CERT_NOT_YET_VALID] = "not yet valid",
	        [CERT_REVOKED] = "revoked",
	        [CERT_WRONG_NAMESPACE] = "wrong namespace",
	        [CERT_IP_OUTSIDE_NETWORK] = "IP outside the group network",
	};

	return (unsigned)v < CERT_VERDICT_MAX ? names[v] : "?";
}

void cert_secret_free(char *s)
{
	if (s)
		OPENSSL_clear_free(s, strlen(s));
}

int cert_file_read(const char *path, size_t max, char **out, size_t *len, struct cert_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t have = 0, cap;
	int fd, rc;

	/* O_NONBLOCK: opening a FIFO with no writer must not hang; a regular
	 * file ignores the flag. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cert_errf(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = cert_errf(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = cert_errf(err, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = cert_errf(err, -EFBIG, "%s: too large (%lld bytes, limit %zu)", path,
		               (long long)st.st_size, max);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		rc = cert_errf(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + have, cap - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = cert_errf(err, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		if (have == cap) { /* the file grew while we read it */
			rc = cert_errf(err, -EFBIG, "%s: changed size while reading", path);
			goto out;
		}
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	buf = NULL;
	rc = 0;
out:
	if (buf)
		OPENSSL_clear_free(buf, cap);
	close(fd);
	return rc;
}

int cert_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                           struct cert_err *err)
{
	char tmp[4096], dirbuf[4096];
	unsigned char rnd[6];
	const char *p = data;
	int fd, dfd, rc;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return cert_err_ossl(err, -EIO, "%s: no randomness for temp name", path);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%02x%02x%02x%02x%02x%02x", path, rnd[0],
	                     rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]) >= sizeof(tmp))
		return cert_errf(err, -ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
	if (fd < 0)
		return cert_errf(err, -errno, "%s: %s", tmp, strerror(errno));
	/* O_CREAT's mode is filtered by umask; the contract is the exact mode. */
	if (fchmod(fd, mode & 07777) < 0) {
		rc = cert_errf(err, -errno, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = cert_errf(err, -errno, "%s: %s", tmp, strerror(errno));
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		rc = cert_errf(err, -errno, "%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = cert_errf(err, -errno, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = cert_errf(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* Make the rename itself durable. */
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}
