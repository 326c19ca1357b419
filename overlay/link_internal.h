// SPDX-License-Identifier: MIT
/* link — wire constants and private structures of overlay/link*.c. See docs/links.md. */
#ifndef GVPN_OVERLAY_LINK_INTERNAL_H
#define GVPN_OVERLAY_LINK_INTERNAL_H

#include "link.h"
#include "replay.h"

/* Outer datagram types (byte 0). */
enum {
	MSG_HS_INIT = 1,   /* initiator's first flight, padded */
	MSG_HS_COOKIE = 2, /* responder under load: come back with this */
	MSG_HS = 3,        /* handshake stream fragment and/or ack */
	MSG_DATA = 4,      /* AEAD-protected link message */
};

/* Inner (encrypted) message types. */
enum {
	IN_PING = 1,    /* u32 id */
	IN_PONG = 2,    /* u32 id, endpoint the ping came from */
	IN_CONFIRM = 3, /* endpoint the initiator's flight came from: key confirmation */
	IN_CLOSE = 4,   /* u8 len, reason */
	IN_PROBE = 5,   /* u32 id: is this path to the peer open? (sent to a candidate endpoint) */
	IN_PROBE_ACK = 6, /* u32 id, endpoint the probe came from: it is, both ways */
	IN_MSG = 16,      /* upper-layer message */
};

#define PROTO_VERSION     1
#define COOKIE_LEN        16
#define HS_INIT_MIN       1200 /* the initiator pads its first datagram to this */
#define HS_INIT_HDR       (1 + 1 + 2 + 4 + 1 + 2)
#define HS_HDR            (1 + 1 + 2 + 4 + 4 + 4 + 4 + 2)
#define HS_COOKIE_LEN     (1 + 1 + 2 + 4 + COOKIE_LEN)
#define HS_FRAG_MAX       1100 /* stream bytes per HS datagram */
#define DATA_HDR          16   /* type, 3 reserved, receiver u32, counter u64: also the AAD */
#define RTO_MAX_MS        3000
#define COOKIE_ROTATE_MS  120000
#define CONFIRM_REPEAT_MS 100
#define REASON_MAX        96
#define OLD_MAX           3    /* retired sessions a link keeps open */
#define TOMB_REPEAT_MS    1000 /* a closed session repeats CLOSE at most this often */
#define PROBE_WINDOW_MS   5000 /* a probe's answer counts this long after the last probe */

_Static_assert(HS_INIT_MIN + 0 <= OVL_DATAGRAM_MAX, "INIT must fit a datagram");
_Static_assert(HS_HDR + HS_FRAG_MAX <= OVL_DATAGRAM_MAX, "HS must fit a datagram");
_Static_assert(DATA_HDR + 1 + OVL_LINK_MTU + OVL_AEAD_TAG_LEN <= OVL_DATAGRAM_MAX,
               "DATA must fit a datagram");
_Static_assert(DATA_HDR + 1 + OVL_AEAD_TAG_LEN == OVL_LINK_OVERHEAD, "link overhead");

struct link_hs;

struct session {
	uint32_t local, remote;
	struct ovl_aead *tx, *rx;
	uint64_t tx_ctr;
	struct ovl_replay replay;
	uint64_t created, last_rx;
	bool initiator;
	struct ovl_link *link; /* NULL until installed */
	struct link_hs *hs;    /* initiator: the handshake awaiting confirmation */
	uint64_t confirm_sent; /* responder: last CONFIRM, to repeat on request */
	uint64_t retired;      /* when it stopped being current */
	bool heard;            /* a DATA from the peer arrived on it */
	/* Closed by us: kept until tomb_until to answer the peer's DATA with
	 * another CLOSE, in case the first was lost (see ovl_link_close). */
	bool tomb;
	uint64_t tomb_until, tomb_sent;
	struct ovl_endpoint ep; /* where the handshake ran */
};

struct link_hs {
	uint32_t local, remote;
	bool initiator;
	struct ovl_hs *tls;
	struct ovl_endpoint ep;
	bool has_expect;
	struct cert_addr expect;
	bool user_connect;         /* failures are reported through `failed` */
	struct ovl_link *rekey_of; /* link whose keys this renews, or NULL */
	uint8_t *tx;               /* our whole stream so far */
	size_t tx_len, tx_cap, tx_acked, tx_sent;
	size_t rx_len; /* peer's stream bytes fed to tls, contiguous */
	uint64_t started, deadline, rto_at;
	uint32_t rto_ms;
	bool validated;              /* responder: the initiator proved its address */
	uint64_t rx_bytes, tx_bytes; /* responder: the amplification budget */
	bool has_cookie;
	uint8_t cookie[COOKIE_LEN];
	struct session *sess; /* initiator: done, awaiting confirmation */
	bool dead;
};

struct ovl_link {
	struct ovl_links *ls;
	struct cert_info peer;
	struct ovl_endpoint ep, observed;
	uint64_t observed_at; /* when the peer first saw us at `observed` */
	struct session *cur;
	/* Sessions we no longer send on, still accepted until 15 s after the
	 * peer last used them: after crossed handshakes and a rekey, the peer
	 * may still be sending on any of them. */
	struct session *old[OLD_MAX];
	/* A session we responded to on an existing link: we send on it only
	 * once the initiator has (WireGuard's rule), so a lost confirmation
	 * never strands our traffic on keys the peer threw away. */
	struct session *next;
	enum ovl_link_state state;
	uint64_t last_rx, next_ping, ping_sent_at;
	uint64_t ping_heard; /* when the peer's last PING arrived (0: never) */
	uint64_t ping_tx;    /* when we last sent one */
	uint32_t ping_id, srtt;
	bool kick;            /* ping at the next tick, whoever's turn it is (ovl_links_kick) */
	uint32_t probe_id;    /* the path probes out now (0: none); the first answer wins */
	uint64_t probe_until; /* ... and until when an answer to them counts */
	struct link_hs *rekey;
	void *user;
};

#endif
