// SPDX-License-Identifier: MIT
/* tun — see tun.h. */
#include "tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct vnet_tun {
	int fd;
	int sock; /* AF_INET datagram socket for the interface ioctls */
	char name[VNET_TUN_NAME_MAX];
};

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= VNET_TUN_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ' ' || *p == ':' || (unsigned char)*p < 33 ||
		    (unsigned char)*p > 126)
			return false;
	return true;
}

int vnet_tun_open(const char *name, struct vnet_tun **out, char *err, size_t errlen)
{
	struct vnet_tun *t;
	struct ifreq ifr;
	int rc;

	*out = NULL;
	if (!name || !name_ok(name)) {
		snprintf(err, errlen,
		         "interface name '%s': 1..%d printable characters, no '/', ':' or "
		         "space",
		         name ? name : "", VNET_TUN_NAME_MAX - 1);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->sock = -1;
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		rc = -errno;
		if (rc == -ENOENT || rc == -ENODEV || rc == -ENXIO)
			snprintf(err, errlen,
			         "/dev/net/tun is missing (load the tun module: modprobe tun)");
		else if (rc == -EPERM || rc == -EACCES)
			snprintf(err, errlen, "creating a TUN device needs root (CAP_NET_ADMIN)");
		else
			snprintf(err, errlen, "/dev/net/tun: %s", strerror(-rc));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		if (rc == -EPERM || rc == -EACCES)
			snprintf(err, errlen, "creating a TUN device needs root (CAP_NET_ADMIN)");
		else if (rc == -EBUSY || rc == -EINVAL)
			snprintf(err, errlen,
			         "interface %s exists and is not ours (or the name is "
			         "not allowed)",
			         name);
		else
			snprintf(err, errlen, "creating TUN device %s: %s", name, strerror(-rc));
		goto fail;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->sock < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket for interface set-up: %s", strerror(-rc));
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

int vnet_tun_set_mtu(struct vnet_tun *t, unsigned mtu, char *err, size_t errlen)
{
	struct ifreq ifr;

	if (mtu < 68 || mtu > 65535) {
		snprintf(err, errlen, "MTU %u: must be 68..65535", mtu);
		return -EINVAL;
	}
	ifr_for(t, &ifr);
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(t->sock, SIOCSIFMTU, &ifr) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "setting MTU %u on %s: %s", mtu, t->name, strerror(-rc));
		return rc;
	}
	return 0;
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
	ifr_for(t, &ifr);
	set_sin(&ifr.ifr_addr, ip);
	if (ioctl(t->sock, SIOCSIFADDR, &ifr) < 0) {
		rc = -errno;
		/* Removing an address that is not there is done already. */
		if (!ip && rc == -EADDRNOTAVAIL)
			return 0;
		snprintf(err, errlen, "setting address on %s: %s", t->name, strerror(-rc));
		return rc;
	}
	if (!ip)
		return 0;
	ifr_for(t, &ifr);
	set_sin(&ifr.ifr_netmask, prefix == 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1));
	if (ioctl(t->sock, SIOCSIFNETMASK, &ifr) < 0) {
		rc = -errno;
		snprintf(err, errlen, "setting netmask /%u on %s: %s", prefix, t->name,
		         strerror(-rc));
		return rc;
	}
	return 0;
}

int vnet_tun_set_up(struct vnet_tun *t, bool up, char *err, size_t errlen)
{
	struct ifreq ifr;

	ifr_for(t, &ifr);
	if (ioctl(t->sock, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	if (up)
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	else
		ifr.ifr_flags &= ~IFF_UP;
	if (ioctl(t->sock, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "bringing %s %s: %s", t->name, up ? "up" : "down", strerror(errno));
	return -errno;
}

ssize_t vnet_tun_read(struct vnet_tun *t, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t n = read(t->fd, buf, cap);

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

int vnet_priv_drop(const char *user, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		snprintf(err, errlen, "user %s: no such user", user);
		return -ENOENT;
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		snprintf(err, errlen, "switching to user %s: %s", user, strerror(errno));
		return -errno;
	}
	memset(data, 0, sizeof(data));
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].permitted = CAP_TO_MASK(CAP_NET_ADMIN);
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective = CAP_TO_MASK(CAP_NET_ADMIN);
	if (syscall(SYS_capset, &hdr, data) < 0) {
		snprintf(err, errlen, "keeping CAP_NET_ADMIN as %s: %s", user, strerror(errno));
		return -errno;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}
