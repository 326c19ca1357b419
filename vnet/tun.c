// SPDX-License-Identifier: MIT
/* tun — see tun.h. */
#include "tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"

struct vnet_tun {
	int fd;
	int sock; /* AF_INET datagram socket for the interface ioctls */
	char name[VNET_TUN_NAME_MAX];
};

/* The kernel's dev_valid_name: 1..15 bytes, not "." or "..", no '/', ':'
 * or white space. We also refuse control and non-ASCII bytes, which would
 * only make the logs confusing. '%' is allowed: "gvpn%d" lets the kernel
 * pick the number. */
static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= VNET_TUN_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char)*p < 33 || (unsigned char)*p > 126)
			return false;
	return true;
}

static bool needs_root(int rc)
{
	return rc == -EPERM || rc == -EACCES;
}

int vnet_tun_open(const char *name, struct vnet_tun **out, char *err, size_t errlen)
{
	struct vnet_tun *t;
	struct ifreq ifr;
	int rc;

	*out = NULL;
	if (!name || !name_ok(name)) {
		snprintf(err, errlen,
		         "interface name '%s' is not allowed: 1..%d printable characters, "
		         "not '.' or '..', no '/', ':' or space",
		         name ? name : "", VNET_TUN_NAME_MAX - 1);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->sock = -1;
	t->fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		rc = -errno;
		if (rc == -ENOENT || rc == -ENODEV || rc == -ENXIO)
			snprintf(err, errlen,
			         TUN_PATH " is missing (load the tun module: modprobe tun)");
		else if (needs_root(rc))
			snprintf(err, errlen,
			         "creating a TUN device needs root (CAP_NET_ADMIN): " TUN_PATH
			         ": %s",
			         strerror(-rc));
		else
			snprintf(err, errlen, TUN_PATH ": %s", strerror(-rc));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		/* EBUSY: a TUN device of that name is attached elsewhere; EINVAL:
		 * the name is some other kind of interface (lo, a veth); EPERM:
		 * a persistent device owned by another user, or no privilege. */
		if ((rc == -EBUSY || rc == -EINVAL || rc == -EPERM) && !strchr(name, '%') &&
		    if_nametoindex(name) != 0)
			snprintf(err, errlen, "interface %s exists and is not ours (%s)", name,
			         strerror(-rc));
		else if (needs_root(rc))
			snprintf(err, errlen, "creating a TUN device needs root (CAP_NET_ADMIN)");
		else
			snprintf(err, errlen, "creating TUN device %s: %s", name, strerror(-rc));
		goto fail;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->sock < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket for setting up %s: %s", t->name, strerror(-rc));
		goto fail;
	}
	*out = t;
	return 0;
fail:
	vnet_tun_close(t);
	return rc;
}

const char *vnet_tun_name(const struct vnet_tun *t)
{
	return t->name;
}

int vnet_tun_fd(const struct vnet_tun *t)
{
	return t->fd;
}

static void ifr_for(const struct vnet_tun *t, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", t->name);
}

/* ioctl on the set-up socket; 0 or -errno. */
static int if_ioctl(const struct vnet_tun *t, unsigned long req, struct ifreq *ifr)
{
	return ioctl(t->sock, req, ifr) < 0 ? -errno : 0;
}

int vnet_tun_set_mtu(struct vnet_tun *t, unsigned mtu, char *err, size_t errlen)
{
	struct ifreq ifr;
	int rc;

	if (mtu < 68 || mtu > 65535) {
		snprintf(err, errlen, "MTU %u: must be 68..65535", mtu);
		return -EINVAL;
	}
	ifr_for(t, &ifr);
	ifr.ifr_mtu = (int)mtu;
	rc = if_ioctl(t, SIOCSIFMTU, &ifr);
	if (rc < 0)
		snprintf(err, errlen, "setting MTU %u on %s: %s%s", mtu, t->name, strerror(-rc),
		         needs_root(rc) ? " (needs CAP_NET_ADMIN)" : "");
	return rc;
}

static void set_sin(struct sockaddr *sa, uint32_t ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(ip)};

	memcpy(sa, &sin, sizeof(sin));
}

int vnet_tun_set_addr4(struct vnet_tun *t, uint32_t ip, uint8_t prefix, char *err, size_t errlen)
{
	struct ifreq ifr;
	int rc;

	if (ip && (prefix < 1 || prefix > 32)) {
		snprintf(err, errlen, "prefix /%u: must be 1..32", prefix);
		return -EINVAL;
	}
	/* SIOCSIFADDR replaces the device's primary address (0.0.0.0 removes
	 * it) with a /32 on a point-to-point device; the netmask then widens it
	 * and the kernel adds the prefix route. */
	ifr_for(t, &ifr);
	set_sin(&ifr.ifr_addr, ip);
	rc = if_ioctl(t, SIOCSIFADDR, &ifr);
	if (rc < 0) {
		/* Removing an address that is not there is done already. */
		if (!ip && rc == -EADDRNOTAVAIL)
			return 0;
		snprintf(err, errlen, "setting address on %s: %s%s", t->name, strerror(-rc),
		         needs_root(rc) ? " (needs CAP_NET_ADMIN)" : "");
		return rc;
	}
	if (!ip)
		return 0;
	ifr_for(t, &ifr);
	set_sin(&ifr.ifr_netmask, prefix == 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1));
	rc = if_ioctl(t, SIOCSIFNETMASK, &ifr);
	if (rc < 0)
		snprintf(err, errlen, "setting netmask /%u on %s: %s", prefix, t->name,
		         strerror(-rc));
	return rc;
}

int vnet_tun_set_up(struct vnet_tun *t, bool up, char *err, size_t errlen)
{
	struct ifreq ifr;
	int rc;

	ifr_for(t, &ifr);
	rc = if_ioctl(t, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		if (up)
			ifr.ifr_flags |= IFF_UP;
		else
			ifr.ifr_flags &= ~IFF_UP;
		rc = if_ioctl(t, SIOCSIFFLAGS, &ifr);
	}
	if (rc < 0)
		snprintf(err, errlen, "bringing %s %s: %s", t->name, up ? "up" : "down",
		         strerror(-rc));
	return rc;
}

ssize_t vnet_tun_read(struct vnet_tun *t, uint8_t *buf, size_t cap)
{
	uint8_t spare;
	struct iovec iov[2] = {{.iov_base = buf, .iov_len = cap},
	                       {.iov_base = &spare, .iov_len = 1}};

	for (;;) {
		/* The TUN driver copies what fits and drops the rest without a
		 * word; a byte spilling into the spare buffer tells us. */
		ssize_t n = readv(t->fd, iov, 2);

		if (n >= 0)
			return (size_t)n > cap ? -EMSGSIZE : n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
}

int vnet_tun_write(struct vnet_tun *t, const uint8_t *p, size_t len)
{
	for (;;) {
		ssize_t n = write(t->fd, p, len);

		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

void vnet_tun_close(struct vnet_tun *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (t->sock >= 0)
		close(t->sock);
	free(t);
}

/*
 * The order matters: the bounding set can only shrink while we still hold
 * CAP_SETPCAP (before setuid); KEEPCAPS makes setuid keep the permitted set
 * (it clears the effective one); capset then keeps CAP_NET_ADMIN alone.
 * capset acts on the calling thread only: call it before any thread starts.
 */
int vnet_priv_drop(const char *user, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	struct passwd *pw;
	const char *step;
	int rc;

	errno = 0;
	pw = user ? getpwnam(user) : NULL;
	if (!pw) {
		rc = errno ? -errno : -ENOENT;
		snprintf(err, errlen, "user %s: %s", user ? user : "(none)",
		         rc == -ENOENT ? "no such user" : strerror(-rc));
		return rc;
	}
	/* Bounding set: nothing we exec later can regain what we drop. Caps
	 * past the kernel's last one answer EINVAL: that is where we stop. */
	for (int cap = 0; cap <= 63; cap++) {
		if (cap == CAP_NET_ADMIN)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			step = "dropping the bounding set";
			goto fail;
		}
	}
	step = "PR_SET_KEEPCAPS";
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		goto fail;
	step = "setgroups";
	if (setgroups(0, NULL) < 0)
		goto fail;
	step = "setgid";
	if (setgid(pw->pw_gid) < 0)
		goto fail;
	step = "setuid";
	if (setuid(pw->pw_uid) < 0)
		goto fail;
	memset(data, 0, sizeof(data));
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].permitted = CAP_TO_MASK(CAP_NET_ADMIN);
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective = CAP_TO_MASK(CAP_NET_ADMIN);
	step = "capset (keeping CAP_NET_ADMIN)";
	if (syscall(SYS_capset, &hdr, data) < 0)
		goto fail;
	/* Ambient capabilities would survive an exec; there should be none. */
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
fail:
	rc = -errno;
	snprintf(err, errlen, "switching to user %s: %s: %s%s", user, step, strerror(-rc),
	         needs_root(rc) ? " (needs root)" : "");
	return rc;
}
