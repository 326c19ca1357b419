// SPDX-License-Identifier: MIT
/* link — the engine object and the functions link.c and link_hs.c share. Private. */
#ifndef GVPN_OVERLAY_LINK_ENGINE_H
#define GVPN_OVERLAY_LINK_ENGINE_H

#include "link_internal.h"

enum { IDX_EMPTY, IDX_HS, IDX_SESSION };

struct idx_entry {
	uint32_t key;
	uint8_t kind;
	void *p;
};

struct ovl_links {
	struct ovl_links_config cfg;
	struct ovl_links_cb cb;
	struct idx_entry *idx;
	size_t idx_cap, idx_n;
	struct ovl_link **links;
	struct cert_addr *addrs; /* links[i]'s peer address, for cache-friendly walks */
	size_t n_links, cap_links;
	struct link_hs **hss;
	size_t n_hs, cap_hs;
	struct ovl_link **reap; /* down during this call; freed before it returns */
	size_t n_reap, cap_reap;
	struct session **tombs; /* sessions of links we closed (session.tomb) */
	size_t n_tombs, cap_tombs;
	uint8_t cookie_key[32], cookie_prev[32];
	uint64_t cookie_rotated;
	bool cookie_ready;
	struct ovl_links_stats st;
	/* No link needs its timers looked at before this; lk_wake() clears it
	 * whenever a change may have brought a deadline closer. Ticks that come
	 * with every datagram then cost nothing. */
	uint64_t due;
	int depth;                     /* public calls in progress (callbacks may call in again) */
	uint8_t buf[OVL_DATAGRAM_MAX]; /* scratch for outgoing datagrams */
};

/* A link's timers changed: the next tick walks every link again. */
static inline void lk_wake(struct ovl_links *ls)
{
	ls->due = 0;
}

/* link.c */
struct idx_entry *lk_idx_find(struct ovl_links *ls, uint32_t key);
int lk_idx_new(struct ovl_links *ls, int kind, void *p, uint32_t *out);
void lk_idx_del(struct ovl_links *ls, uint32_t key);

/* "link", or the config's log_kind. */
static inline const char *lk_kind(const struct ovl_links *ls)
{
	return ls->cfg.log_kind ? ls->cfg.log_kind : "link";
}
void lk_idx_set(struct ovl_links *ls, uint32_t key, int kind, void *p);
int lk_push(void ***arr, size_t *n, size_t *cap, void *p);
void lk_remove(void **arr, size_t *n, const void *p);
void lk_send(struct ovl_links *ls, const struct ovl_endpoint *to, const uint8_t *buf, size_t len);
void lk_session_free(struct ovl_links *ls, struct session *s);
int lk_install(struct ovl_links *ls, struct session *s, const struct cert_info *peer, uint64_t now);
void lk_link_down(struct ovl_links *ls, struct ovl_link *l, const char *reason);
void lk_send_confirm(struct ovl_links *ls, struct session *s, uint64_t now);
void lk_handle_data(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                    uint8_t *buf, size_t len);

/* link_hs.c */
int lk_hs_start(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *ep,
                const struct cert_addr *expect, bool user_connect, struct ovl_link *rekey_of);
uint64_t lk_hs_tick(struct ovl_links *ls, struct link_hs *h, uint64_t now);
void lk_hs_destroy(struct ovl_links *ls, struct link_hs *h);
/* A link to peer came up: our other attempts to reach it stop (the first path
 * that answered is kept). */
void lk_hs_abandon(struct ovl_links *ls, const struct cert_addr *peer);
void lk_handle_init(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                    const uint8_t *buf, size_t len);
void lk_handle_cookie(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                      const uint8_t *buf, size_t len);
void lk_handle_hs(struct ovl_links *ls, uint64_t now, const struct ovl_endpoint *from,
                  const uint8_t *buf, size_t len);
void lk_cookie_rotate(struct ovl_links *ls, uint64_t now);

#endif
