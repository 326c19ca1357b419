// SPDX-License-Identifier: MIT
/*
 * vnet_control — the virtual network on the control socket
 * (docs/control.md): the "resolve" command (virtual IP -> member), and the
 * vnet's part of "status" (our virtual_ip, interface, mtu, counters, the
 * peers we talk to, each link's peer address).
 *
 * Must not: block, or keep anything of a request after it ended.
 */
#ifndef GVPN_VNET_VNET_CONTROL_H
#define GVPN_VNET_VNET_CONTROL_H

#include "vnet.h"

#define VNET_CTL_RESOLVE_MS 15000 /* a lookup's attempts, and some */

struct control;
struct ovl_runtime;
struct vnet_control;

/* Registers "resolve" on ctl and the status hook on rt; *out (new) is what
 * they share; free it with vnet_control_free after ctl. ifname (copied) is
 * the TUN device's name for status. 0, -ENOMEM, or control_register's error. */
int vnet_control_register(struct vnet *v, struct ovl_runtime *rt, struct control *ctl,
                          const char *ifname, struct vnet_control **out);
void vnet_control_free(struct vnet_control *vc);

#endif
