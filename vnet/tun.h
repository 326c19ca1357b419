// SPDX-License-Identifier: MIT
/*
 * tun — the Linux TUN device behind a small ops table (tinc's devops_t),
 * so the engine (vnet.c) never touches a file descriptor and tests can
 * use a fake device.
 *
 * vnet_tun_open creates a layer-3 TUN device (IFF_TUN | IFF_NO_PI, no
 * packet-information header: every read is one IP packet), nonblocking and
 * close-on-exec. Address, prefix and MTU are set with ioctls on an AF_INET
 * datagram socket (SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFMTU, SIOCSIFFLAGS);
 * the kernel adds the prefix route itself. The device is not persistent:
 * it disappears with the descriptor (vnet_tun_close, or the process ending).
 *
 * Must not: log (errors come back as one line in err), or block.
 */
#ifndef GVPN_VNET_TUN_H
#define GVPN_VNET_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VNET_TUN_NAME_MAX 16 /* IFNAMSIZ, with the NUL */
#define VNET_TUN_ERR_MAX  256

struct vnet_tun;

/*
 * Creates the device. name: the interface name wanted ("gvpn0"; a "%d"
 * pattern lets the kernel pick). Errors, in err: "/dev/net/tun is missing
 * (load the tun module: modprobe tun)", "creating a TUN device needs root
 * (CAP_NET_ADMIN)", "interface NAME exists and is not ours", bad name.
 * 0 or -errno.
 */
int vnet_tun_open(const char *name, struct vnet_tun **out, char *err, size_t errlen);
/* The interface name the kernel gave. Borrowed. */
const char *vnet_tun_name(const struct vnet_tun *t);
int vnet_tun_fd(const struct vnet_tun *t);

/* Sets the MTU (68..65535). 0 or -errno with err. */
int vnet_tun_set_mtu(struct vnet_tun *t, unsigned mtu, char *err, size_t errlen);
/* Sets the IPv4 address and prefix (host order ip; prefix 1..32), replacing
 * the one before; ip 0 removes the address. 0 or -errno with err. */
int vnet_tun_set_addr4(struct vnet_tun *t, uint32_t ip, uint8_t prefix, char *err, size_t errlen);
/* Brings the interface up or down. 0 or -errno with err. */
int vnet_tun_set_up(struct vnet_tun *t, bool up, char *err, size_t errlen);

/*
 * One packet into buf: its length, 0 when nothing is waiting (EAGAIN), or
 * -errno. A packet longer than cap is dropped by the kernel's truncation
 * and reported as -EMSGSIZE.
 */
ssize_t vnet_tun_read(struct vnet_tun *t, uint8_t *buf, size_t cap);
/* One packet out. 0, -EAGAIN (queue full: the packet is dropped, as a
 * router would), or -errno. */
int vnet_tun_write(struct vnet_tun *t, const uint8_t *p, size_t len);

/* Closes the descriptor: the device goes away. NULL is fine. */
void vnet_tun_close(struct vnet_tun *t);

/*
 * Privileges (docs/vnet.md "Privileges"): after the device is set up,
 * switches to user (and its group) keeping only CAP_NET_ADMIN — the
 * daemon still changes the device's address when it must move (a lost
 * address after a partition). Empties the bounding set but for
 * CAP_NET_ADMIN and clears ambient capabilities, so nothing exec'd later
 * regains more. Uses prctl(PR_SET_KEEPCAPS), setgroups, setgid, setuid and
 * the capset syscall (no libcap). Call before any thread starts (capsets
 * are per thread). 0 or -errno with err.
 */
int vnet_priv_drop(const char *user, char *err, size_t errlen);

#endif
