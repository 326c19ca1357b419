// SPDX-License-Identifier: MIT
/* dht — private structures and message constants of dht/dht*.c. See docs/dht.md. */
#ifndef GVPN_DHT_DHT_INTERNAL_H
#define GVPN_DHT_DHT_INTERNAL_H

#include "dht.h"
#include "store.h"
#include "wire.h"

/* Every routed DHT payload is one fragment of a message:
 *   u32 msg_id, u8 index, u8 count, data (all but the last exactly FRAG_DATA). */
#define FRAG_HDR 6
/* Routed DHT messages stay within a 1280-byte path (docs/links.md "Sizes"). */
#define FRAG_ROUTED 1100
#define FRAG_DATA   (FRAG_ROUTED - FRAG_HDR)
#define FRAGS_MAX   32
#define MSG_MAX     (FRAGS_MAX * FRAG_DATA)
#define REASM_MAX   32   /* partly received messages held at once */
#define REASM_MS    5000 /* a partial message older than this is dropped */

/* Messages: the first byte. */
enum {
	M_REQ = 1, /* client → primary: u32 rid, u8 op, key, u8 try, [record] */
	M_REP = 2, /* primary → client: u32 rid, u8 status, u8 hops, u8 elen, err, u8 n, record[n]
	            */
	M_CHECK = 3,     /* primary → replica: u32 cid, key, writer: may writer create key? */
	M_CHECK_REP = 4, /* u32 cid, u8 ok, u8 n, record[n] (the conflicting value) */
	M_STORE = 5,     /* u8 n, record[n]: keep these (replication, hand-off, repair) */
	M_FETCH = 6,     /* primary → replica: u32 cid, key: what do you hold? */
	M_FETCH_REP = 7, /* u32 cid, u8 n, record[n] (tombstones too) */
	M_OFFER = 8,     /* u32 oid, u16 n, {key, writer, u64 seq}[n]: digests for you */
	M_WANT = 9,      /* u32 oid, u16 n, u16 index[n]: send me these */
};
#define OFFER_ENT  (20 + 20 + 8)
#define OFFER_MAX  512 /* entries per OFFER message */
#define ERRSTR_MAX (DHT_ERR_MAX - 1)
_Static_assert(1 + 4 + 2 + OFFER_MAX * OFFER_ENT <= MSG_MAX, "OFFER fits a message");
_Static_assert(1 + 4 + 1 + 1 + 1 + ERRSTR_MAX + 1 + DHT_PER_KEY_MAX * DHT_RECORD_MAX <= MSG_MAX,
               "a full GET answer fits a message");

#define PENDING_MAX 256  /* our own requests in flight */
#define COORD_MAX   64   /* requests a primary is working on with its replicas */
#define RESV_MAX    64   /* create reservations held */
#define OWN_MAX     1024 /* values we keep re-putting */
#define OFFERS_MAX  64   /* digest offers awaiting an answer */
#define RATE_SLOTS  256  /* per-origin token buckets ... */
#define RATE_WAYS   4    /* ... in sets of this many */
#define LOOP_MAX    64   /* messages to ourselves waiting for the next tick */
#define PEER_RATE_X 20   /* replica traffic may be this many times the request rate */

/* A request of ours. */
struct creq {
	uint32_t rid;
	enum dht_op op;
	struct cert_addr key;
	dht_done_fn done;
	void *ctx;
	uint8_t *rec; /* the record sent (put, create, remove) */
	size_t rec_len;
	unsigned tries;
	uint64_t next_at; /* retry, or give up after the last try */
	struct own *keep; /* create with refresh: kept alive once it succeeds */
};

/* A request a primary is deciding with its replicas (create, get). */
struct coord {
	uint32_t cid;
	enum dht_op op;
	uint32_t rid; /* the client's */
	struct cert_addr client, key, writer;
	uint8_t hops;
	uint8_t *rec; /* create: the candidate record */
	size_t rec_len;
	struct cert_addr asked[DHT_REPLICAS_MAX];
	bool answered[DHT_REPLICAS_MAX];
	size_t n_asked, n_answered, n_ok;
	bool conflict;
	uint64_t deadline;
};

/* "writer may create key": held by primaries and replicas while a create is decided. */
struct resv {
	struct cert_addr key, writer;
	uint64_t until;
};

/* A value we wrote and keep alive. */
struct own {
	struct cert_addr key;
	uint8_t value[DHT_VALUE_MAX];
	uint16_t len;
	uint32_t ttl;
	uint64_t expires; /* of the last record sent (unix s) */
	uint64_t refresh_at;
};

struct offer_ent {
	struct cert_addr key, writer;
	uint64_t seq;
};
struct offer {
	uint32_t oid;
	struct cert_addr peer;
	uint32_t round;
	struct offer_ent *ent;
	size_t n;
};

struct bucket {
	struct cert_addr who;
	bool used;
	uint32_t tokens; /* milli-tokens */
	uint64_t at;     /* last refill (ms) */
};

struct reasm {
	bool used;
	struct cert_addr src;
	uint32_t msg_id;
	uint8_t count, got_n;
	uint32_t got; /* bitmap */
	size_t last_len;
	uint64_t started;
	uint8_t *buf; /* count * FRAG_DATA */
	struct ovl_route_info info;
};

struct loop_msg {
	uint8_t *buf;
	size_t len;
	struct ovl_route_info info;
};

struct dht {
	struct dht_config cfg;
	struct dht_cb cb;
	struct ovl_node *node;
	struct ovl_crypto *crypto;
	struct cert_info self;
	struct dht_store *store;
	struct dht_stats st;
	uint64_t now; /* of the call in progress */

	struct creq *req[PENDING_MAX];
	size_t n_req;
	uint32_t next_rid, next_cid, next_msg_id, next_oid;
	struct coord *coord[COORD_MAX];
	size_t n_coord;
	struct resv resv[RESV_MAX];
	size_t n_resv;
	struct own *own;
	size_t n_own, own_cap;
	struct offer offers[OFFERS_MAX];
	size_t n_offers;
	uint32_t round;
	struct bucket rate[RATE_SLOTS];
	struct reasm reasm[REASM_MAX];
	struct loop_msg loop[LOOP_MAX];
	size_t n_loop;

	uint64_t last_seq;
	uint64_t next_due;  /* nothing to do before this */
	uint64_t next_sync; /* periodic digest exchange */
	uint64_t links_gen; /* the node's, at the last sync */
	uint64_t last_sync;
	uint8_t out[MSG_MAX];
};

/* dht.c */
uint64_t dht_wall(struct dht *d);
void dht_due(struct dht *d, uint64_t at);
/* Sends a whole message (fragmented). 0 or the route's error. */
int dht_send(struct dht *d, const struct cert_addr *dst, enum ovl_route_mode mode,
             const uint8_t *msg, size_t len);
/* Parses and fully verifies one record from r into rec; false (counted) if bad. */
bool dht_read_record(struct dht *d, struct wire_reader *r, struct dht_record *rec, char *why,
                     size_t why_len);
/* The r nodes nearest to key in our view (ourselves included). */
size_t dht_replica_set(struct dht *d, const struct cert_addr *key, struct cert_addr *out);
bool dht_is_self(const struct dht *d, const struct cert_addr *a);
void dht_handle_rep(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r);

/* dht_serve.c: the primary's and replicas' side, and upkeep */
void dht_serve_req(struct dht *d, const struct ovl_route_info *info, struct wire_reader *r);
void dht_serve_msg(struct dht *d, uint8_t type, const struct ovl_route_info *info,
                   struct wire_reader *r);
/* Runs due coordinations, reservations and the digest exchange; returns its next deadline. */
uint64_t dht_serve_tick(struct dht *d, uint64_t now);
void dht_serve_free(struct dht *d);
/* Answers a client (rid) with status, an error line and records. */
void dht_reply(struct dht *d, const struct cert_addr *client, uint32_t rid, enum dht_status st,
               uint8_t hops, const char *err, const struct dht_stored *const *recs, size_t n);

#endif
