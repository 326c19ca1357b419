// SPDX-License-Identifier: MIT
/*
 * Unit tests: the link engine (overlay/link.h) driven through netsim, an
 * in-memory network on a virtual clock. Sim crypto unless a test is about
 * membership; every run is a function of its seed.
 */
#include "helpers.h"
#include "members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "link.h"
#include "log.h"
#include "netsim.h"

/* ---- helpers ------------------------------------------------------------------- */

/*
 * What a test made and frees at its end; a failing test leaves through a
 * longjmp, and its teardown frees the rest, so a sanitizer build reports the
 * failure and not a pile of leaks.
 */
#define DEFER_MAX 16

static struct deferred {
	void (*fn)(void *);
	void *p;
} deferred[DEFER_MAX];

static void defer(void (*fn)(void *), void *p)
{
	for (size_t i = 0; i < DEFER_MAX; i++) {
		if (!deferred[i].fn) {
			deferred[i].fn = fn;
			deferred[i].p = p;
			return;
		}
	}
	fail_msg("more than %d deferred frees", DEFER_MAX);
}

/* Runs p's deferred free now. */
static void release(void *p)
{
	for (size_t i = 0; i < DEFER_MAX; i++) {
		if (deferred[i].fn && deferred[i].p == p) {
			void (*fn)(void *) = deferred[i].fn;

			deferred[i].fn = NULL;
			fn(p);
			return;
		}
	}
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = DEFER_MAX; i-- > 0;) {
		if (deferred[i].fn) {
			void (*fn)(void *) = deferred[i].fn;

			deferred[i].fn = NULL;
			fn(deferred[i].p);
		}
	}
	return 0;
}

static void ns_free_v(void *p)
{
	ns_free(p);
}

/* A new network whose log lines carry its virtual time; freed by finish(). */
static struct netsim *sim_new(uint64_t seed)
{
	struct netsim *ns = ns_new(seed);

	defer(ns_free_v, ns);
	ns_log_attach(ns);
	ns_set_trace(ns, getenv("LINK_TEST_TRACE") != NULL);
	return ns;
}

static struct ovl_links_config defaults(void)
{
	struct ovl_links_config c;

	memset(&c, 0, sizeof(c));
	ovl_links_config_default(&c);
	return c;
}

static bool addr_eq(const struct cert_addr *x, const struct cert_addr *y)
{
	return memcmp(x->b, y->b, CERT_ADDR_LEN) == 0;
}

static void assert_ep_eq(const struct ovl_endpoint *got, const struct ovl_endpoint *want)
{
	char g[OVL_EP_STR_MAX], w[OVL_EP_STR_MAX];

	if (ovl_ep_eq(got, want))
		return;
	ovl_ep_format(got, g);
	ovl_ep_format(want, w);
	fail_msg("endpoint %s (family %u), want %s", g, got->family, w);
}

/* Nothing an engine must never do happened; then frees the network. */
static void finish(struct netsim *ns)
{
	struct ns_faults f = ns_faults(ns);

	if (f.oversize)
		fail_msg("%llu datagrams of 0 or > OVL_DATAGRAM_MAX bytes sent",
		         (unsigned long long)f.oversize);
	if (f.tick_past)
		fail_msg("ovl_links_tick returned a deadline <= now %llu times",
		         (unsigned long long)f.tick_past);
	if (f.bad_send)
		fail_msg("%llu datagrams sent to an endpoint without family",
		         (unsigned long long)f.bad_send);
	release(ns);
}

struct ev_want {
	int node;
	enum ns_ev_kind kind;
	size_t n;
};

static bool ev_reached(struct netsim *ns, void *ctx)
{
	const struct ev_want *w = ctx;

	return ns_count(ns, w->node, w->kind) >= w->n;
}

/* Runs until node has at least n events of kind, for at most `within` ms. */
static bool wait_ev(struct netsim *ns, int node, enum ns_ev_kind kind, size_t n, uint64_t within)
{
	struct ev_want w = {node, kind, n};

	return ns_run_until(ns, ev_reached, &w, ns_now(ns) + within);
}

struct pair {
	int a, b;
};

static bool linked(struct netsim *ns, void *ctx)
{
	const struct pair *p = ctx;

	return ns_link(ns, p->a, p->b) && ns_link(ns, p->b, p->a);
}

static bool wait_linked(struct netsim *ns, int a, int b, uint64_t within)
{
	struct pair p = {a, b};

	return ns_run_until(ns, linked, &p, ns_now(ns) + within);
}

struct recv_want {
	int node;
	const void *msg;
	size_t len;
};

static bool recv_reached(struct netsim *ns, void *ctx)
{
	const struct recv_want *w = ctx;

	return ns_count_recv(ns, w->node, w->msg, w->len) > 0;
}

static bool wait_recv(struct netsim *ns, int node, const void *msg, size_t len, uint64_t within)
{
	struct recv_want w = {node, msg, len};

	return ns_run_until(ns, recv_reached, &w, ns_now(ns) + within);
}

/* len bytes that depend on len and tag, so a truncated or mixed-up copy shows. */
static void pattern(uint8_t *buf, size_t len, unsigned tag)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag * 131 + i * 7 + (i >> 8));
}

/*
 * A unique text message each way arrives exactly once. Returns NULL, or what
 * went wrong (static storage).
 */
static const char *try_exchange(struct netsim *ns, int a, int b, const char *tag)
{
	static char why[200];
	char m[2][64];
	int ends[2][2] = {{a, b}, {b, a}};

	for (int d = 0; d < 2; d++) {
		int rc;

		snprintf(m[d], sizeof(m[d]), "%s %d->%d @%llu", tag, ends[d][0], ends[d][1],
		         (unsigned long long)ns_now(ns));
		rc = ns_send(ns, ends[d][0], ends[d][1], m[d], strlen(m[d]));
		if (rc != 0) {
			snprintf(why, sizeof(why), "send '%s': %d", m[d], rc);
			return why;
		}
	}
	for (int d = 0; d < 2; d++) {
		if (!wait_recv(ns, ends[d][1], m[d], strlen(m[d]), 2000)) {
			snprintf(why, sizeof(why), "'%s' did not arrive", m[d]);
			return why;
		}
	}
	ns_run_for(ns, 100);
	for (int d = 0; d < 2; d++) {
		size_t n = ns_count_recv(ns, ends[d][1], m[d], strlen(m[d]));

		if (n != 1) {
			snprintf(why, sizeof(why), "'%s' arrived %zu times", m[d], n);
			return why;
		}
	}
	return NULL;
}

static void exchange(struct netsim *ns, int a, int b, const char *tag)
{
	const char *why = try_exchange(ns, a, b, tag);

	if (why)
		fail_msg("%s", why);
}

/* Collects the failures of a test's variants, to report them all at once. */
struct verdicts {
	char text[2048];
	int failed;
};

static void verdict(struct verdicts *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void verdict(struct verdicts *v, const char *fmt, ...)
{
	size_t n = strlen(v->text);
	va_list ap;

	v->failed++;
	if (n + 2 >= sizeof(v->text))
		return;
	v->text[n++] = '\n';
	v->text[n] = '\0';
	va_start(ap, fmt);
	vsnprintf(v->text + n, sizeof(v->text) - n, fmt, ap);
	va_end(ap);
}

/* ---- 1. connect and carry messages ---------------------------------------------------- */

static void connect_and_check(bool with_expect)
{
	struct netsim *ns = sim_new(11);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	const size_t sizes[] = {1, 100, OVL_LINK_MTU};
	uint8_t big[OVL_LINK_MTU + 1] = {0};
	const struct ns_event *ua, *ub;
	struct ovl_link *la, *lb;
	struct ovl_links_stats st;
	int marker;

	assert_int_equal(ns_connect(ns, a, b, with_expect ? ns_addr(ns, b) : NULL), 0);
	assert_true(wait_linked(ns, a, b, defaults().hs_timeout_ms));
	ns_run_for(ns, 2000);

	assert_int_equal(ns_count(ns, a, NS_EV_UP), 1);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 1);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	assert_int_equal(ns_count(ns, a, NS_EV_FAILED) + ns_count(ns, b, NS_EV_FAILED), 0);
	ua = ns_last(ns, a, NS_EV_UP);
	ub = ns_last(ns, b, NS_EV_UP);
	assert_true(addr_eq(&ua->peer.addr, ns_addr(ns, b)));
	assert_string_equal(ua->peer.name, "bob");
	assert_true(addr_eq(&ub->peer.addr, ns_addr(ns, a)));
	assert_string_equal(ub->peer.name, "alice");
	assert_true(ua->initiator);
	assert_false(ub->initiator);

	la = ns_link(ns, a, b);
	lb = ns_link(ns, b, a);
	assert_non_null(la);
	assert_non_null(lb);
	assert_string_equal(ovl_link_peer(la)->name, "bob");
	assert_string_equal(ovl_link_peer(lb)->name, "alice");
	assert_int_equal(ovl_link_state(la), OVL_LINK_UP);
	assert_ep_eq(ovl_link_endpoint(la), ns_ep(ns, b));
	assert_ep_eq(ovl_link_endpoint(lb), ns_ep(ns, a));
	assert_int_equal(ovl_links_count(ns_engine(ns, a)), 1);
	assert_ptr_equal(ovl_links_at(ns_engine(ns, a), 0), la);
	assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 0);
	assert_int_equal(ovl_links_pending(ns_engine(ns, b)), 0);
	assert_null(ovl_link_user(la));
	ovl_link_set_user(la, &marker);
	assert_ptr_equal(ovl_link_user(la), &marker);

	/* Connecting again to a peer we have a link to does nothing. */
	st = ns_stats(ns, a);
	assert_int_equal(ns_connect(ns, a, b, ns_addr(ns, b)), 0);
	assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 0);
	assert_int_equal(ns_stats(ns, a).hs_started, st.hs_started);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int d = 0; d < 2; d++) {
			int from = d ? b : a, to = d ? a : b;
			uint8_t msg[OVL_LINK_MTU];

			pattern(msg, sizes[i], (unsigned)(i * 2 + (size_t)d));
			assert_int_equal(ns_send(ns, from, to, msg, sizes[i]), 0);
			if (!wait_recv(ns, to, msg, sizes[i], 1000))
				fail_msg("%zu-byte message %d->%d not received intact", sizes[i],
				         from, to);
		}
	}
	ns_run_for(ns, 200);
	assert_int_equal(ns_count(ns, a, NS_EV_RECV), 3);
	assert_int_equal(ns_count(ns, b, NS_EV_RECV), 3);

	assert_int_equal(ovl_link_send(ns_engine(ns, a), la, ns_now(ns), big, OVL_LINK_MTU + 1),
	                 -EMSGSIZE);
	assert_int_equal(ovl_link_send(ns_engine(ns, a), la, ns_now(ns), big, 0), -EINVAL);
	finish(ns);
}

static void two_engines_connect_and_carry_messages_both_ways(void **state)
{
	(void)state;
	connect_and_check(false);
	connect_and_check(true);
}

/* ---- 2. loss and duplication ---------------------------------------------------------- */

/*
 * Under 30 % loss each way a round trip gets through about half the time, and
 * a handshake has until hs_timeout to make three of them: nearly all finish.
 * Those that do not must fail cleanly: `failed` for the initiator, and a
 * responder that came up alone goes down again.
 */
#define LOSS_SEEDS      100
#define LOSS_MAX_FAILED 3

static void handshake_completes_under_30pct_loss(void **state)
{
	struct ovl_links_config cfg = defaults();
	int failed = 0;
	char which[256] = "";

	(void)state;
	for (uint64_t seed = 1; seed <= LOSS_SEEDS; seed++) {
		struct netsim *ns = sim_new(seed);
		int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);

		ns_set_loss(ns, 30);
		assert_int_equal(ns_connect(ns, a, b, ns_addr(ns, b)), 0);
		if (wait_linked(ns, a, b, cfg.hs_timeout_ms)) {
			ns_run_for(ns, 1000);
			assert_int_equal(ns_count(ns, a, NS_EV_UP), 1);
			assert_int_equal(ns_count(ns, b, NS_EV_UP), 1);
			assert_int_equal(ns_count(ns, a, NS_EV_FAILED), 0);
		} else {
			size_t n = strlen(which);

			failed++;
			snprintf(which + n, sizeof(which) - n, " %llu", (unsigned long long)seed);
			assert_true(wait_ev(ns, a, NS_EV_FAILED, 1, 1000));
			ns_run_for(ns, cfg.dead_ms + cfg.keepalive_ms);
			assert_int_equal(ns_count(ns, a, NS_EV_UP), 0);
			assert_null(ns_link(ns, b, a));
		}
		finish(ns);
	}
	if (failed > LOSS_MAX_FAILED)
		fail_msg("%d of %d handshakes did not complete within hs_timeout (seeds%s)", failed,
		         LOSS_SEEDS, which);
	if (failed)
		print_message("note: %d of %d handshakes under 30%% loss timed out (seeds%s)\n",
		              failed, LOSS_SEEDS, which);
}

static void handshake_and_messages_survive_every_datagram_duplicated(void **state)
{
	struct netsim *ns = sim_new(3);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);

	(void)state;
	ns_set_dup(ns, 100);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, defaults().hs_timeout_ms));
	ns_run_for(ns, 1000);
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 1);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 1);
	for (int i = 0; i < 5; i++)
		exchange(ns, a, b, "dup");
	assert_int_equal(ns_count(ns, a, NS_EV_RECV), 5);
	assert_int_equal(ns_count(ns, b, NS_EV_RECV), 5);
	/* every copy was seen and refused */
	assert_true(ns_stats(ns, b).replays >= 5);
	assert_true(ns_stats(ns, a).replays >= 5);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	finish(ns);
}

/* ---- 3. the wrong node answers ------------------------------------------------------- */

static void connect_expecting_another_address_fails_without_up(void **state)
{
	struct netsim *ns = sim_new(5);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_links_config cfg = defaults();
	struct cert_addr other;
	const struct ns_event *f;
	uint64_t t_fail;

	(void)state;
	memset(other.b, 0x5a, sizeof(other.b));
	assert_int_equal(ns_connect(ns, a, b, &other), 0);
	if (!wait_ev(ns, a, NS_EV_FAILED, 1, cfg.hs_timeout_ms + 1000))
		fail_msg("no `failed` within hs_timeout (a up %zu)", ns_count(ns, a, NS_EV_UP));
	f = ns_last(ns, a, NS_EV_FAILED);
	t_fail = f->t;
	assert_true(strlen(f->reason) > 0);
	assert_ep_eq(&f->ep, ns_ep(ns, b));
	assert_true(f->has_expect);
	assert_true(addr_eq(&f->expect, &other));
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 0);
	assert_int_equal(ovl_links_count(ns_engine(ns, a)), 0);

	/* If bob came up at all, he goes down promptly (well before dead_ms). */
	ns_run_until(ns, NULL, NULL, t_fail + 3000);
	assert_int_equal(ovl_links_count(ns_engine(ns, b)), 0);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), ns_count(ns, b, NS_EV_DOWN));

	/* and nobody keeps half-open state */
	ns_run_for(ns, cfg.hs_timeout_ms + 1000);
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 0);
	assert_int_equal(ns_count(ns, a, NS_EV_FAILED), 1);
	assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 0);
	assert_int_equal(ovl_links_pending(ns_engine(ns, b)), 0);
	finish(ns);
}

/* ---- 4. membership (real TLS) ------------------------------------------------------------ */

static void member_free_v(void *p)
{
	member_free(p);
}

static void ca_free_v(void *p)
{
	cert_ca_free(p);
}

static bool none_pending(struct netsim *ns, void *ctx)
{
	(void)ctx;
	for (int i = 0; i < ns_nodes(ns); i++)
		if (ovl_links_pending(ns_engine(ns, i)))
			return false;
	return true;
}

static void non_members_get_no_link(void **state)
{
	/* static: the teardown may free them after a failure left this frame */
	static struct member ma, mb, mm;
	struct cert_ca *ca = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct cert_ca *other = h_ca("grp", "100.64.0.0/24", CERT_ALGO_ED25519);
	struct ovl_links_config cfg = defaults();
	struct netsim *ns;
	int a, b, m;
	struct ovl_links_stats st;

	(void)state;
	defer(ca_free_v, ca);
	defer(ca_free_v, other);
	ma = member_of(ca, "alice");
	defer(member_free_v, &ma);
	mb = member_of(ca, "bob");
	defer(member_free_v, &mb);
	mm = member_of(other, "mallory");
	defer(member_free_v, &mm);
	ns = sim_new(7);
	ns_set_wall_base(ns, H_NOW);
	a = ns_add(ns, ma.crypto, NULL);
	b = ns_add(ns, mb.crypto, NULL);
	m = ns_add(ns, mm.crypto, NULL);

	/* Control: two members of one group do get a link over TLS. */
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	assert_string_equal(ovl_link_peer(ns_link(ns, a, b))->name, "bob");
	exchange(ns, a, b, "tls");

	/* The stranger initiates. */
	assert_int_equal(ns_connect(ns, m, a, NULL), 0);
	if (!wait_ev(ns, m, NS_EV_FAILED, 1, cfg.hs_timeout_ms + 1000))
		fail_msg("stranger got no `failed` (up %zu)", ns_count(ns, m, NS_EV_UP));
	assert_true(strlen(ns_last(ns, m, NS_EV_FAILED)->reason) > 0);
	assert_true(ns_run_until(ns, none_pending, NULL, ns_now(ns) + 2 * cfg.hs_timeout_ms));
	assert_int_equal(ns_count(ns, m, NS_EV_UP), 0);
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 1); /* bob's only */
	assert_null(ns_link(ns, a, m));
	st = ns_stats(ns, a);
	if (st.hs_failed + st.hs_refused_member == 0)
		fail_msg("responder counted no refused handshake (hs_failed %llu, "
		         "hs_refused_member %llu, hs_started %llu)",
		         (unsigned long long)st.hs_failed, (unsigned long long)st.hs_refused_member,
		         (unsigned long long)st.hs_started);

	/* A member connects to the stranger. */
	assert_int_equal(ns_connect(ns, a, m, NULL), 0);
	if (!wait_ev(ns, a, NS_EV_FAILED, 1, cfg.hs_timeout_ms + 1000))
		fail_msg("member got no `failed` connecting to a stranger");
	assert_true(strlen(ns_last(ns, a, NS_EV_FAILED)->reason) > 0);
	assert_true(ns_run_until(ns, none_pending, NULL, ns_now(ns) + 2 * cfg.hs_timeout_ms));
	assert_int_equal(ns_count(ns, m, NS_EV_UP), 0);
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 1);
	assert_int_equal(ovl_links_count(ns_engine(ns, m)), 0);

	/* The members' link never noticed. */
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	exchange(ns, a, b, "tls after");

	finish(ns);
	release(&mm);
	release(&mb);
	release(&ma);
	release(other);
	release(ca);
}

/* ---- 5. replay ------------------------------------------------------------------------------- */

#define CAP_MAX 8

struct capture {
	bool on;
	int src;
	size_t n;
	size_t len[CAP_MAX];
	uint8_t buf[CAP_MAX][OVL_DATAGRAM_MAX];
};

/* A drop rule that drops nothing and keeps what `src` sends while `on`. */
static bool capture_rule(void *ctx, struct netsim *ns, const struct ns_datagram *d)
{
	struct capture *c = ctx;

	(void)ns;
	if (c->on && d->src == c->src && c->n < CAP_MAX && d->len <= OVL_DATAGRAM_MAX) {
		memcpy(c->buf[c->n], d->buf, d->len);
		c->len[c->n++] = d->len;
	}
	return false;
}

/* Sends msg from a to b and keeps the datagrams that carried it. */
static void send_captured(struct netsim *ns, struct capture *cap, int a, int b, const char *msg)
{
	memset(cap, 0, sizeof(*cap));
	cap->src = a;
	cap->on = true;
	assert_int_equal(ns_send(ns, a, b, msg, strlen(msg)), 0);
	cap->on = false;
	assert_true(cap->n >= 1);
	assert_true(wait_recv(ns, b, msg, strlen(msg), 1000));
}

static void replayed_datagram_is_delivered_once(void **state)
{
	struct netsim *ns = sim_new(13);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_endpoint elsewhere = ns_stranger_ep(9, 4444);
	static struct capture cap;
	const char *msg = "pay alice 100";
	struct ovl_links_stats st;

	(void)state;
	ns_set_drop(ns, capture_rule, &cap);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, 10000));
	ns_run_for(ns, 500);
	send_captured(ns, &cap, a, b, msg);
	ns_run_for(ns, 200);
	assert_int_equal(ns_count_recv(ns, b, msg, strlen(msg)), 1);

	/* again from alice's endpoint */
	st = ns_stats(ns, b);
	for (size_t i = 0; i < cap.n; i++)
		ns_inject(ns, ns_ep(ns, a), ns_ep(ns, b), cap.buf[i], cap.len[i], 1);
	ns_run_for(ns, 200);
	assert_int_equal(ns_count_recv(ns, b, msg, strlen(msg)), 1);
	assert_int_equal(ns_stats(ns, b).replays, st.replays + cap.n);

	/* and from elsewhere: also refused, and it must not move the link */
	st = ns_stats(ns, b);
	for (size_t i = 0; i < cap.n; i++)
		ns_inject(ns, &elsewhere, ns_ep(ns, b), cap.buf[i], cap.len[i], 1);
	ns_run_for(ns, 200);
	assert_int_equal(ns_count_recv(ns, b, msg, strlen(msg)), 1);
	assert_int_equal(ns_stats(ns, b).replays, st.replays + cap.n);
	assert_int_equal(ns_stats(ns, b).roams, st.roams);
	assert_ep_eq(ovl_link_endpoint(ns_link(ns, b, a)), ns_ep(ns, a));

	exchange(ns, a, b, "after replay");
	finish(ns);
}

/* ---- 6. anti-amplification ---------------------------------------------------------------- */

struct amp {
	int responder, spoofer;
	uint64_t sent;       /* bytes the responder sent towards the spoofed endpoint */
	uint64_t worst;      /* largest excess of sent over received seen at any time */
	uint64_t violations; /* datagrams that went over the budget */
};

/* Drops everything for the spoofed endpoint; checks the responder's budget as it sends. */
static bool amp_rule(void *ctx, struct netsim *ns, const struct ns_datagram *d)
{
	struct amp *s = ctx;
	const struct ovl_endpoint *victim = ns_ep(ns, s->spoofer);

	if (!ovl_ep_eq(&d->to, victim))
		return false;
	if (d->src == s->responder) {
		struct ns_flow in = ns_flow(ns, victim, ns_ep(ns, s->responder));

		s->sent += d->len;
		if (s->sent > in.delivered_bytes) {
			s->violations++;
			if (s->sent - in.delivered_bytes > s->worst)
				s->worst = s->sent - in.delivered_bytes;
		}
	}
	return true;
}

static void responder_never_sends_more_than_it_received_from_unverified_source(void **state)
{
	struct netsim *ns = sim_new(17);
	int b = ns_add_sim(ns, "bob", NULL), c = ns_add_sim(ns, "spoofer", NULL);
	struct ovl_links_config cfg = defaults();
	struct amp s = {.responder = b, .spoofer = c};
	struct ns_flow in, out;

	(void)state;
	ns_set_drop(ns, amp_rule, &s);
	assert_int_equal(ns_connect(ns, c, b, NULL), 0);
	assert_true(wait_ev(ns, c, NS_EV_FAILED, 1, cfg.hs_timeout_ms + 1000));
	assert_true(ns_run_until(ns, none_pending, NULL, ns_now(ns) + 3 * cfg.hs_timeout_ms));
	in = ns_flow(ns, ns_ep(ns, c), ns_ep(ns, b));
	out = ns_flow(ns, ns_ep(ns, b), ns_ep(ns, c));
	assert_true(in.delivered_bytes > 0);
	if (s.violations)
		fail_msg("responder went over its budget %llu times (worst by %llu bytes); "
		         "in all it sent %llu bytes in %llu datagrams for %llu bytes in %llu",
		         (unsigned long long)s.violations, (unsigned long long)s.worst,
		         (unsigned long long)out.sent_bytes, (unsigned long long)out.sent_dgrams,
		         (unsigned long long)in.delivered_bytes,
		         (unsigned long long)in.delivered_dgrams);
	assert_true(out.sent_bytes <= in.delivered_bytes);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 0);
	assert_int_equal(ns_count(ns, c, NS_EV_UP), 0);
	finish(ns);
}

/* ---- 7. cookies ---------------------------------------------------------------------------- */

#define N_SPOOF 6

/* Drops every datagram addressed to a node with index >= ctx's value. */
static bool blackhole_from(void *ctx, struct netsim *ns, const struct ns_datagram *d)
{
	int first = *(const int *)ctx;

	(void)ns;
	return d->dst >= first;
}

static void cookies_let_a_real_initiator_through_a_flood(void **state)
{
	struct netsim *ns = sim_new(19);
	struct ovl_links_config cfg = defaults();
	int a, b, first_spoof;

	(void)state;
	cfg.max_half_open = 4;
	b = ns_add_sim(ns, "bob", &cfg);
	a = ns_add_sim(ns, "alice", NULL);
	first_spoof = ns_nodes(ns);
	for (int i = 0; i < N_SPOOF; i++) {
		char name[16];

		snprintf(name, sizeof(name), "spoof%d", i);
		ns_add_sim(ns, name, NULL);
	}
	ns_set_drop(ns, blackhole_from, &first_spoof);
	for (int i = 0; i < N_SPOOF; i++)
		assert_int_equal(ns_connect(ns, first_spoof + i, b, NULL), 0);
	ns_run_for(ns, 50);
	if (ovl_links_pending(ns_engine(ns, b)) > cfg.max_half_open)
		fail_msg("responder holds %zu half-open handshakes, max_half_open %u",
		         ovl_links_pending(ns_engine(ns, b)), cfg.max_half_open);

	assert_int_equal(ns_connect(ns, a, b, ns_addr(ns, b)), 0);
	if (!wait_linked(ns, a, b, cfg.hs_timeout_ms))
		fail_msg("no link under the flood (a failed %zu, cookies sent %llu)",
		         ns_count(ns, a, NS_EV_FAILED),
		         (unsigned long long)ns_stats(ns, b).cookies_sent);
	assert_true(ns_stats(ns, b).cookies_sent > 0);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 1);
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 1);
	exchange(ns, a, b, "through the flood");

	/* The spoofed half-open handshakes all expire. */
	assert_true(ns_run_until(ns, none_pending, NULL, ns_now(ns) + 3 * cfg.hs_timeout_ms));
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 1);
	finish(ns);
}

/* ---- 8. garbage ---------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Feeds `count` random datagrams to node `to`; returns how many no engine may accept. */
static uint64_t spray(struct netsim *ns, int to, const struct ovl_endpoint *from,
                      const struct ovl_endpoint *alt_from, uint64_t *rng, int count)
{
	static const size_t fixed[] = {0,    1,    2,    3,    4,    15,   16,   17,   33,   100,
	                               1099, 1100, 1199, 1200, 1215, 1216, 1399, 1400, 1401, 1500};
	static uint8_t buf[1500];
	uint64_t certain = 0;

	for (int i = 0; i < count; i++) {
		size_t len = i < (int)(sizeof(fixed) / sizeof(fixed[0]))
		                     ? fixed[i]
		                     : (size_t)(splitmix(rng) % 1501);

		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)splitmix(rng);
		/* Most get a known type (and version) byte, to go past the first check. */
		if (len > 0 && i % 5 != 0)
			buf[0] = (uint8_t)(1 + i % 4);
		if (len > 1 && i % 3 == 0)
			buf[1] = 1;
		if (len < 5 || len > OVL_DATAGRAM_MAX || buf[0] < 1 || buf[0] > 4)
			certain++;
		ns_inject(ns, i % 2 ? alt_from : from, ns_ep(ns, to), buf, len,
		          (uint32_t)(1 + i % 200));
	}
	return certain;
}

static void garbage_is_dropped_and_counted_and_links_survive(void **state)
{
	struct netsim *ns = sim_new(23);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_endpoint stranger = ns_stranger_ep(7, 9999);
	static struct capture cap;
	struct ovl_links_stats sa, sb;
	uint64_t rng = 42, certain_a, certain_b;

	(void)state;
	ns_set_drop(ns, capture_rule, &cap);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, 10000));
	send_captured(ns, &cap, a, b, "genuine");
	ns_run_for(ns, 100);
	sa = ns_stats(ns, a);
	sb = ns_stats(ns, b);

	certain_b = spray(ns, b, &stranger, ns_ep(ns, a), &rng, 400);
	certain_a = spray(ns, a, &stranger, ns_ep(ns, b), &rng, 400);
	/* Genuine datagrams with one bit flipped, from a stranger: refused, no roam. */
	for (size_t k = 0; k < cap.len[0]; k += 7) {
		uint8_t bad[OVL_DATAGRAM_MAX];

		memcpy(bad, cap.buf[0], cap.len[0]);
		bad[k] ^= 0x20;
		ns_inject(ns, &stranger, ns_ep(ns, b), bad, cap.len[0], 1);
		certain_b++;
	}
	/* Truncated and extended copies of a genuine one. */
	ns_inject(ns, &stranger, ns_ep(ns, b), cap.buf[0], cap.len[0] - 1, 1);
	certain_b++;
	ns_run_for(ns, 1000);

	if (ns_stats(ns, b).rx_dropped - sb.rx_dropped < certain_b)
		fail_msg("b dropped %llu, at least %llu of what it got were invalid",
		         (unsigned long long)(ns_stats(ns, b).rx_dropped - sb.rx_dropped),
		         (unsigned long long)certain_b);
	if (ns_stats(ns, a).rx_dropped - sa.rx_dropped < certain_a)
		fail_msg("a dropped %llu, at least %llu of what it got were invalid",
		         (unsigned long long)(ns_stats(ns, a).rx_dropped - sa.rx_dropped),
		         (unsigned long long)certain_a);
	assert_int_equal(ns_count_recv(ns, b, "genuine", 7), 1);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	assert_int_equal(ns_count(ns, a, NS_EV_UP) + ns_count(ns, b, NS_EV_UP), 2);
	assert_int_equal(ns_stats(ns, b).roams, sb.roams);
	assert_int_equal(ns_stats(ns, a).roams, sa.roams);
	assert_ep_eq(ovl_link_endpoint(ns_link(ns, b, a)), ns_ep(ns, a));
	assert_ep_eq(ovl_link_endpoint(ns_link(ns, a, b)), ns_ep(ns, b));
	exchange(ns, a, b, "after garbage");
	/* Whatever half-open state the garbage made goes away. */
	assert_true(
	        ns_run_until(ns, none_pending, NULL, ns_now(ns) + 3 * defaults().hs_timeout_ms));
	exchange(ns, a, b, "later");
	finish(ns);
}

/* ---- 9. keepalive and dead peers ----------------------------------------------------------- */

static void idle_link_stays_up_and_dead_peer_is_detected(void **state)
{
	struct netsim *ns = sim_new(29);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_links_config cfg = defaults();
	uint64_t t_cut, lo, hi;
	uint32_t rtt_a, rtt_b;

	(void)state;
	ns_set_delay(ns, a, b, 20);
	ns_set_delay(ns, b, a, 20);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	ns_run_for(ns, 5ull * cfg.dead_ms);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	assert_non_null(ns_link(ns, a, b));
	assert_non_null(ns_link(ns, b, a));
	rtt_a = ovl_link_rtt_ms(ns_link(ns, a, b));
	rtt_b = ovl_link_rtt_ms(ns_link(ns, b, a));
	if (rtt_a < 30 || rtt_a > 60 || rtt_b < 30 || rtt_b > 60)
		fail_msg("rtt %u / %u ms with a 20 ms one-way delay, want 30..60", rtt_a, rtt_b);

	t_cut = ns_now(ns);
	ns_set_loss(ns, 100);
	ns_run_until(ns, NULL, NULL, t_cut + cfg.dead_ms + cfg.keepalive_ms);
	for (int i = 0; i < 2; i++) {
		int n = i ? b : a;
		const struct ns_event *d = ns_last(ns, n, NS_EV_DOWN);

		if (!d)
			fail_msg("node %d: no `down` within dead_ms + keepalive_ms of the cut", n);
		assert_int_equal(ns_count(ns, n, NS_EV_DOWN), 1);
		assert_true(strlen(d->reason) > 0);
		/* Not before dead_ms of silence: the last keepalive came in at most
		 * keepalive_ms (plus a round trip) before the cut. */
		lo = t_cut + cfg.dead_ms - cfg.keepalive_ms - 100;
		hi = t_cut + cfg.dead_ms + cfg.keepalive_ms;
		if (d->t < lo || d->t > hi)
			fail_msg("node %d down at %llu, want %llu..%llu", n,
			         (unsigned long long)d->t, (unsigned long long)lo,
			         (unsigned long long)hi);
		assert_int_equal(ovl_links_count(ns_engine(ns, n)), 0);
	}
	finish(ns);
}

/* An idle link costs one PING and one PONG a period once it settled, not two of each. */
static void idle_link_keepalive_is_one_sided(void **state)
{
	struct netsim *ns = sim_new(31);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_links_config cfg = defaults();
	struct ns_flow ab0, ba0, ab1, ba1;
	uint64_t periods = 20, sent;

	(void)state;
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	ns_run_for(ns, 3ull * cfg.keepalive_ms);
	ab0 = ns_flow(ns, ns_ep(ns, a), ns_ep(ns, b));
	ba0 = ns_flow(ns, ns_ep(ns, b), ns_ep(ns, a));
	ns_run_for(ns, periods * cfg.keepalive_ms);
	ab1 = ns_flow(ns, ns_ep(ns, a), ns_ep(ns, b));
	ba1 = ns_flow(ns, ns_ep(ns, b), ns_ep(ns, a));
	sent = (ab1.sent_dgrams - ab0.sent_dgrams) + (ba1.sent_dgrams - ba0.sent_dgrams);
	/* Two per period (PING, PONG); coalescing may pull a ping a quarter early. */
	if (sent < 2 * periods || sent > 2 * (periods + periods / 3 + 1))
		fail_msg("%llu datagrams in %llu idle periods, want about 2 per period",
		         (unsigned long long)sent, (unsigned long long)periods);
	assert_non_null(ns_link(ns, a, b));
	assert_non_null(ns_link(ns, b, a));
	/* Both ends still know the RTT. */
	assert_true(ovl_link_rtt_ms(ns_link(ns, a, b)) > 0);
	assert_true(ovl_link_rtt_ms(ns_link(ns, b, a)) > 0);
	finish(ns);
}

/* ---- 10. rekey ---------------------------------------------------------------------------- */

/* Sends "<tag> <from>-><to> <i>" every `every` ms for `ms` ms, each send
 * accepted: a -> b if dirs & 1, b -> a if dirs & 2. Returns how many each way. */
static int traffic_dirs(struct netsim *ns, int a, int b, int dirs, const char *tag, uint64_t ms,
                        uint64_t every)
{
	int n = 0;

	for (uint64_t t = 0; t < ms; t += every, n++) {
		for (int d = 0; d < 2; d++) {
			int from = d ? b : a, to = d ? a : b, rc;
			char m[48];

			if (!(dirs & (1 << d)))
				continue;
			snprintf(m, sizeof(m), "%s %d->%d %d", tag, from, to, n);
			if ((rc = ns_send(ns, from, to, m, strlen(m))) != 0)
				fail_msg("'%s' at +%llu ms: %d", m, (unsigned long long)t, rc);
		}
		ns_run_for(ns, every);
	}
	return n;
}

static int traffic(struct netsim *ns, int a, int b, const char *tag, uint64_t ms, uint64_t every)
{
	return traffic_dirs(ns, a, b, 3, tag, ms, every);
}

/* How many of traffic()'s n messages from -> to arrived exactly once; *dups:
 * more often; *first_missing: the first that never came (-1: none). */
static int arrived(struct netsim *ns, int from, int to, const char *tag, int n, int *dups,
                   int *first_missing)
{
	int once = 0;

	*dups = 0;
	*first_missing = -1;
	for (int i = 0; i < n; i++) {
		char m[48];
		size_t k;

		snprintf(m, sizeof(m), "%s %d->%d %d", tag, from, to, i);
		k = ns_count_recv(ns, to, m, strlen(m));
		once += k == 1;
		*dups += k > 1;
		if (k == 0 && *first_missing < 0)
			*first_missing = i;
	}
	return once;
}

/* Every message of traffic() arrived exactly once, both ways. */
static void assert_all_arrived(struct netsim *ns, int a, int b, const char *tag, int n)
{
	for (int d = 0; d < 2; d++) {
		int from = d ? b : a, to = d ? a : b, dups, missing;
		int once = arrived(ns, from, to, tag, n, &dups, &missing);

		if (once != n || dups)
			fail_msg("%s %d->%d: %d of %d arrived once, %d more than once; first "
			         "missing: #%d",
			         tag, from, to, once, n, dups, missing);
	}
}

static void rekey_under_steady_traffic_loses_nothing(void **state)
{
	struct netsim *ns = sim_new(31);
	struct ovl_links_config cfg = defaults();
	int a, b, n;
	struct ovl_links_stats sa, sb;

	(void)state;
	cfg.rekey_ms = 2000;
	a = ns_add_sim(ns, "alice", &cfg);
	b = ns_add_sim(ns, "bob", &cfg);
	ns_set_delay(ns, a, b, 7);
	ns_set_delay(ns, b, a, 11);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	n = traffic(ns, a, b, "steady", 10000, 50);
	ns_run_for(ns, 500);
	assert_all_arrived(ns, a, b, "steady", n);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 1);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 1);
	sa = ns_stats(ns, a);
	sb = ns_stats(ns, b);
	assert_true(sa.rekeys > 0 || sb.rekeys > 0);
	/* 10 s at one rekey per 2 s: it keeps happening, not just once. */
	if (sa.rekeys + sb.rekeys < 3)
		fail_msg("only %llu + %llu rekeys in 10 s with rekey_ms 2000",
		         (unsigned long long)sa.rekeys, (unsigned long long)sb.rekeys);
	/* Long after the old sessions expired, the link still carries traffic. */
	ns_run_for(ns, 20000);
	exchange(ns, a, b, "after rekeys");
	finish(ns);
}

/* Crossed handshakes leave each side sending on a different session; rekeys
 * on top of that must still lose nothing. */
static void rekey_after_simultaneous_connect_loses_nothing(void **state)
{
	struct netsim *ns = sim_new(33);
	struct ovl_links_config cfg = defaults();
	int a, b, n;

	(void)state;
	cfg.rekey_ms = 2000;
	a = ns_add_sim(ns, "alice", &cfg);
	b = ns_add_sim(ns, "bob", &cfg);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_int_equal(ns_connect(ns, b, a, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	n = traffic(ns, a, b, "crossed", 10000, 50);
	ns_run_for(ns, 500);
	assert_all_arrived(ns, a, b, "crossed", n);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 1);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 1);
	ns_run_for(ns, 40000);
	n = traffic(ns, a, b, "crossed later", 2000, 100);
	ns_run_for(ns, 500);
	assert_all_arrived(ns, a, b, "crossed later", n);
	finish(ns);
}

/*
 * Traffic one way only: when the receiver is the side that rekeys, it sends
 * nothing but keepalives on the new keys, so the sender learns of them late;
 * it must not be left sending on a session the receiver already threw away.
 * Connected by either side, or both at once.
 */
static void one_way_flow_survives_rekeys(void **state)
{
	static const char *const how[] = {"alice connected", "bob connected", "both connected"};
	struct verdicts v = {"", 0};

	(void)state;
	/* k bit 0: direction; bits 1-2: who connected; k >= 6: default timers
	 * (rekey_ms 120 s) over 130 s, else rekey_ms 2000 over 10 s */
	for (int k = 0; k < 12; k++) {
		struct ovl_links_config cfg = defaults();
		bool slow = k >= 6;
		struct netsim *ns;
		int a, b, from, to, n, dups, missing, once, every = slow ? 100 : 50;

		if (!slow)
			cfg.rekey_ms = 2000;
		ns = sim_new(34);
		a = ns_add_sim(ns, "alice", &cfg);
		b = ns_add_sim(ns, "bob", &cfg);
		from = k & 1 ? b : a;
		to = k & 1 ? a : b;
		if ((k % 6) >> 1 != 1)
			assert_int_equal(ns_connect(ns, a, b, NULL), 0);
		if ((k % 6) >> 1 != 0)
			assert_int_equal(ns_connect(ns, b, a, NULL), 0);
		assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
		n = traffic_dirs(ns, from, to, 1, "one way", slow ? 130000 : 10000, every);
		ns_run_for(ns, 500);
		once = arrived(ns, from, to, "one way", n, &dups, &missing);
		if (once != n || dups)
			verdict(&v,
			        "rekey_ms %u, %s, %s -> %s: %d of %d arrived once, %d more "
			        "than once; first missing #%d (sent at +%d ms)",
			        cfg.rekey_ms, how[(k % 6) >> 1], k & 1 ? "bob" : "alice",
			        k & 1 ? "alice" : "bob", once, n, dups, missing, missing * every);
		finish(ns);
	}
	if (v.failed)
		fail_msg("%d of 12 variants failed:%s", v.failed, v.text);
}

/* A rekey that loses datagrams retries; the link never goes down for it. */
static void rekey_under_loss_keeps_the_link(void **state)
{
	struct netsim *ns = sim_new(35);
	struct ovl_links_config cfg = defaults();
	struct ovl_links_stats sa, sb;
	int a, b, n;

	(void)state;
	cfg.rekey_ms = 2000;
	a = ns_add_sim(ns, "alice", &cfg);
	b = ns_add_sim(ns, "bob", &cfg);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	ns_set_loss(ns, 20);
	n = traffic(ns, a, b, "lossy", 30000, 100);
	ns_set_loss(ns, 0);
	ns_run_for(ns, 1000);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	for (int d = 0; d < 2; d++) {
		int dups, missing,
		        once = arrived(ns, d ? b : a, d ? a : b, "lossy", n, &dups, &missing);

		assert_int_equal(dups, 0);
		/* 20 % lost on the wire; nothing more may go missing in rekeys */
		if (once < n * 7 / 10)
			fail_msg("only %d of %d messages arrived under 20%% loss", once, n);
	}
	sa = ns_stats(ns, a);
	sb = ns_stats(ns, b);
	if (sa.rekeys + sb.rekeys < 10)
		fail_msg("only %llu + %llu rekeys in 30 s with rekey_ms 2000",
		         (unsigned long long)sa.rekeys, (unsigned long long)sb.rekeys);
	exchange(ns, a, b, "after lossy rekeys");
	assert_true(ns_run_until(ns, none_pending, NULL, ns_now(ns) + 3 * cfg.hs_timeout_ms));
	ns_run_for(ns, 40000);
	exchange(ns, a, b, "long after lossy rekeys");
	finish(ns);
}

/* ---- 11. roaming, 12. STUN -------------------------------------------------------------- */

static void roaming_peer_is_followed(void **state)
{
	struct netsim *ns = sim_new(37);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_endpoint moved = *ns_ep(ns, 0);
	uint64_t roams;

	(void)state;
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, 10000));
	ns_run_for(ns, 100);
	roams = ns_stats(ns, b).roams;

	moved.port = 7001;
	ns_set_endpoint(ns, a, &moved);
	assert_int_equal(ns_send(ns, a, b, "from the new port", 17), 0);
	assert_true(wait_recv(ns, b, "from the new port", 17, 1000));
	assert_ep_eq(ovl_link_endpoint(ns_link(ns, b, a)), &moved);
	assert_true(ns_stats(ns, b).roams > roams);
	assert_int_equal(ns_send(ns, b, a, "to the new port", 15), 0);
	assert_true(wait_recv(ns, a, "to the new port", 15, 1000));
	exchange(ns, a, b, "roamed");
	ns_run_for(ns, 2 * defaults().dead_ms);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	exchange(ns, a, b, "roamed later");
	finish(ns);
}

/* node's link to peer: at (link_ep_is) or seeing us at (observed_is) ep. */
struct observed_want {
	int node, peer;
	struct ovl_endpoint ep;
};

static bool link_ep_is(struct netsim *ns, void *ctx)
{
	const struct observed_want *w = ctx;
	struct ovl_link *l = ns_link(ns, w->node, w->peer);

	return l && ovl_ep_eq(ovl_link_endpoint(l), &w->ep);
}

/* A path probe (docs/nat.md): its answer moves the prober's link to where
 * the answer came from, with the same session; a probe alone moves nothing
 * at the receiver, whose link follows only the prober's ordinary traffic. */
static void probe_answer_moves_the_link_a_probe_alone_does_not(void **state)
{
	struct netsim *ns = sim_new(38);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_endpoint a_old = *ns_ep(ns, 0), b_new = *ns_ep(ns, 1), a_new = a_old, none = {0};
	struct observed_want w = {.node = 0, .peer = 1};
	struct ovl_links_stats sa, sb;

	(void)state;
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, 10000));
	ns_run_for(ns, 100);
	assert_int_equal(ovl_link_probe(ns_engine(ns, a), ns_link(ns, a, b), ns_now(ns), &none),
	                 -EINVAL);

	/* Bob moves without a word: alice's link points at nobody until she probes. */
	b_new.port = 7002;
	ns_set_endpoint(ns, b, &b_new);
	sa = ns_stats(ns, a);
	assert_int_equal(ovl_link_probe(ns_engine(ns, a), ns_link(ns, a, b), ns_now(ns), &b_new),
	                 0);
	ns_poke(ns, a);
	w.ep = b_new;
	assert_true(ns_run_until(ns, link_ep_is, &w, ns_now(ns) + 1000));
	assert_int_equal(ns_stats(ns, a).probe_moves, sa.probe_moves + 1);
	assert_int_equal(ns_stats(ns, a).probes_sent, sa.probes_sent + 1);
	assert_int_equal(ns_stats(ns, a).hs_completed, sa.hs_completed); /* no new handshake */
	exchange(ns, a, b, "after the probe");

	/* Alice moves and probes bob: bob answers but keeps his link where it was... */
	a_new.port = 7003;
	ns_set_endpoint(ns, a, &a_new);
	sb = ns_stats(ns, b);
	assert_int_equal(ovl_link_probe(ns_engine(ns, a), ns_link(ns, a, b), ns_now(ns), &b_new),
	                 0);
	ns_poke(ns, a);
	ns_run_for(ns, 200);
	assert_ep_eq(ovl_link_endpoint(ns_link(ns, b, a)), &a_old);
	assert_int_equal(ns_stats(ns, b).roams, sb.roams);
	/* ... until her ordinary traffic comes from the new endpoint. */
	assert_int_equal(ns_send(ns, a, b, "from alice's new port", 21), 0);
	assert_true(wait_recv(ns, b, "from alice's new port", 21, 1000));
	assert_ep_eq(ovl_link_endpoint(ns_link(ns, b, a)), &a_new);
	exchange(ns, a, b, "both moved");
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN), 0);
	finish(ns);
}

static bool observed_is(struct netsim *ns, void *ctx)
{
	const struct observed_want *w = ctx;
	struct ovl_link *l = ns_link(ns, w->node, w->peer);

	return l && ovl_ep_eq(ovl_link_observed(l), &w->ep);
}

static void observed_endpoint_is_what_the_peer_sees(void **state)
{
	struct netsim *ns = sim_new(41);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_links_config cfg = defaults();
	struct observed_want wa = {a, b, *ns_ep(ns, a)}, wb = {b, a, *ns_ep(ns, b)};

	(void)state;
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	if (!ns_run_until(ns, observed_is, &wa, ns_now(ns) + cfg.keepalive_ms + 2000))
		assert_ep_eq(ovl_link_observed(ns_link(ns, a, b)), &wa.ep);
	if (!ns_run_until(ns, observed_is, &wb, ns_now(ns) + cfg.keepalive_ms + 2000))
		assert_ep_eq(ovl_link_observed(ns_link(ns, b, a)), &wb.ep);

	/* After a NAT rebinding, the next exchange tells alice her new endpoint:
	 * within a period if she pings, within one and a half (the silence after
	 * which the side that leaves pinging to its peer pings too) if not. */
	wa.ep.port = 40000;
	ns_set_endpoint(ns, a, &wa.ep);
	if (!ns_run_until(ns, observed_is, &wa,
	                  ns_now(ns) + cfg.keepalive_ms + cfg.keepalive_ms / 2 + 2000))
		assert_ep_eq(ovl_link_observed(ns_link(ns, a, b)), &wa.ep);
	finish(ns);
}

/* ---- 13. close ------------------------------------------------------------------------------ */

static void close_takes_both_sides_down_and_reconnect_works(void **state)
{
	struct netsim *ns = sim_new(43);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_links_config cfg = defaults();
	const struct ns_event *d;
	uint64_t t0;

	(void)state;
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	ns_run_for(ns, 300);
	t0 = ns_now(ns);
	ns_close(ns, a, b, "bye");
	/* Our own side: at once, with our reason. */
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN), 1);
	assert_non_null(strstr(ns_last(ns, a, NS_EV_DOWN)->reason, "bye"));
	assert_null(ns_link(ns, a, b));
	assert_int_equal(ovl_links_count(ns_engine(ns, a)), 0);
	/* The peer: promptly, not by timeout. */
	if (!wait_ev(ns, b, NS_EV_DOWN, 1, 1000))
		fail_msg("peer not down 1 s after close (dead_ms %u)", cfg.dead_ms);
	d = ns_last(ns, b, NS_EV_DOWN);
	assert_true(strlen(d->reason) > 0);
	assert_true(d->t - t0 < 1000);
	assert_null(ns_link(ns, b, a));
	ns_run_for(ns, 1000);
	assert_int_equal(ns_count(ns, a, NS_EV_DOWN), 1);
	assert_int_equal(ns_count(ns, b, NS_EV_DOWN), 1);
	assert_int_equal(ns_send(ns, a, b, "x", 1), -ENOTCONN);

	assert_int_equal(ns_connect(ns, a, b, ns_addr(ns, b)), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	assert_int_equal(ns_count(ns, a, NS_EV_UP), 2);
	assert_int_equal(ns_count(ns, b, NS_EV_UP), 2);
	exchange(ns, a, b, "again");

	/* And the responder may close too. */
	ns_close(ns, b, a, "bye from bob");
	assert_true(wait_ev(ns, a, NS_EV_DOWN, 2, 1000));
	assert_null(ns_link(ns, a, b));
	finish(ns);
}

/* Drops datagrams from alice to bob while *ctx is true. */
static bool cut_a_to_b(void *ctx, struct netsim *ns, const struct ns_datagram *d)
{
	(void)ns;
	return *(const bool *)ctx && d->src == 0 && d->dst == 1;
}

/* A lost CLOSE: the closed session answers the peer's next DATA with another
 * CLOSE, so the peer is down within a round trip of speaking, not dead_ms. */
static void lost_close_is_repeated_when_the_peer_speaks(void **state)
{
	struct netsim *ns = sim_new(47);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_links_config cfg = defaults();
	bool cut = false;
	uint64_t t0;

	(void)state;
	ns_set_drop(ns, cut_a_to_b, &cut);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	ns_run_for(ns, 300);
	cut = true;
	ns_close(ns, a, b, "bye");
	ns_run_for(ns, 500);
	cut = false;
	/* Bob never heard it: his half of the link is still up. */
	assert_non_null(ns_link(ns, b, a));
	assert_int_equal(ns_count(ns, b, NS_EV_DOWN), 0);
	t0 = ns_now(ns);
	assert_int_equal(ns_send(ns, b, a, "still there?", 12), 0);
	if (!wait_ev(ns, b, NS_EV_DOWN, 1, 1000))
		fail_msg("peer still half-open 1 s after speaking (dead_ms %u)", cfg.dead_ms);
	assert_true(ns_last(ns, b, NS_EV_DOWN)->t - t0 < 1000);
	assert_int_equal(ns_count_recv(ns, a, "still there?", 12), 0);
	assert_int_equal(ns_stats(ns, a).close_repeats, 1);
	assert_int_equal(ovl_links_count(ns_engine(ns, a)), 0);
	/* The tombstone goes after dead_ms; a fresh link works meanwhile. */
	assert_int_equal(ns_connect(ns, a, b, ns_addr(ns, b)), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	exchange(ns, a, b, "after a lost close");
	finish(ns);
}

/* ---- 14. simultaneous connect ---------------------------------------------------------- */

static void simultaneous_connect_ends_with_one_link(void **state)
{
	static const struct {
		uint32_t ab, ba;
		bool expect;
	} cases[] = {{5, 5, false}, {5, 5, true}, {3, 40, true}, {40, 3, false}, {1, 1, true}};
	struct verdicts v = {"", 0};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct netsim *ns = sim_new(47 + k);
		int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
		const char *why;

		ns_set_delay(ns, a, b, cases[k].ab);
		ns_set_delay(ns, b, a, cases[k].ba);
		assert_int_equal(ns_connect(ns, a, b, cases[k].expect ? ns_addr(ns, b) : NULL), 0);
		assert_int_equal(ns_connect(ns, b, a, cases[k].expect ? ns_addr(ns, a) : NULL), 0);
		if (!wait_linked(ns, a, b, defaults().hs_timeout_ms)) {
			verdict(&v, "case %zu: no link", k);
			goto next;
		}
		ns_run_for(ns, 3000);
		for (int i = 0; i < 2; i++) {
			int n = i ? b : a;

			if (ns_count(ns, n, NS_EV_UP) != 1 || ns_count(ns, n, NS_EV_DOWN) != 0 ||
			    ovl_links_count(ns_engine(ns, n)) != 1)
				verdict(&v, "case %zu node %d: %zu up, %zu down, %zu links", k, n,
				        ns_count(ns, n, NS_EV_UP), ns_count(ns, n, NS_EV_DOWN),
				        ovl_links_count(ns_engine(ns, n)));
			if (ns_count(ns, n, NS_EV_FAILED))
				verdict(&v,
				        "case %zu node %d: `failed` (%s) although a link came up",
				        k, n, ns_last(ns, n, NS_EV_FAILED)->reason);
		}
		if ((why = try_exchange(ns, a, b, "simultaneous"))) {
			verdict(&v, "case %zu (delays %u/%u ms): %s", k, cases[k].ab, cases[k].ba,
			        why);
			goto next;
		}
		/* After the losing session's grace is long over, both still agree. */
		ns_run_for(ns, 40000);
		if ((why = try_exchange(ns, a, b, "simultaneous later"))) {
			verdict(&v, "case %zu (delays %u/%u ms), 40 s later: %s (downs %zu/%zu)", k,
			        cases[k].ab, cases[k].ba, why, ns_count(ns, a, NS_EV_DOWN),
			        ns_count(ns, b, NS_EV_DOWN));
			goto next;
		}
		if (ns_count(ns, a, NS_EV_DOWN) + ns_count(ns, b, NS_EV_DOWN) != 0)
			verdict(&v, "case %zu: a link went down", k);
		if (ovl_links_pending(ns_engine(ns, a)) + ovl_links_pending(ns_engine(ns, b)))
			verdict(&v, "case %zu: handshakes still pending", k);
	next:
		finish(ns);
	}
	if (v.failed)
		fail_msg("%d failures:%s", v.failed, v.text);
}

/* ---- 15. restart ---------------------------------------------------------------------------- */

static void restarted_peer_gets_a_link_again(void **state)
{
	static const char *const whom[] = {"alice", "bob"};
	struct verdicts v = {"", 0};

	(void)state;
	/* bit 0: who restarts (alice, bob); bit 1: who reconnects (the survivor,
	 * the restarted); bit 2: when (soon after the link came up, 20 s later);
	 * bit 3: who initiated the first link (alice, bob). */
	for (int k = 0; k < 16; k++) {
		struct netsim *ns = sim_new(53 + (uint64_t)k);
		int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
		int r = k & 1 ? b : a, s = k & 1 ? a : b;
		bool restarted_connects = k & 2, late = k & 4;
		size_t ups_r, ups_s, downs_s;
		struct pair p = {s, r};
		const char *why;
		char name[160];

		snprintf(name, sizeof(name),
		         "variant %d (%s first connected, %s restarted %s, %s reconnected)", k,
		         whom[(k >> 3) & 1], whom[k & 1], late ? "20 s later" : "at once",
		         restarted_connects ? whom[k & 1] : whom[!(k & 1)]);
		if (k & 8)
			assert_int_equal(ns_connect(ns, b, a, NULL), 0);
		else
			assert_int_equal(ns_connect(ns, a, b, NULL), 0);
		assert_true(wait_linked(ns, a, b, 10000));
		ns_run_for(ns, late ? 20000 : 500);
		exchange(ns, a, b, "before restart");

		ups_r = ns_count(ns, r, NS_EV_UP);
		ns_restart(ns, r);
		ns_run_for(ns, 100);
		if (restarted_connects)
			assert_int_equal(ns_connect(ns, r, s, ns_addr(ns, s)), 0);
		else
			assert_int_equal(ns_connect(ns, s, r, NULL), 0);
		if (!wait_ev(ns, r, NS_EV_UP, ups_r + 1, defaults().hs_timeout_ms)) {
			verdict(&v, "%s: restarted node never came up again", name);
			goto next;
		}
		if (!ns_run_until(ns, linked, &p, ns_now(ns) + 2000)) {
			verdict(&v, "%s: survivor has no link", name);
			goto next;
		}
		ns_run_for(ns, 1000);
		ups_s = ns_count(ns, s, NS_EV_UP);
		downs_s = ns_count(ns, s, NS_EV_DOWN);
		if (ups_s - downs_s != 1 || ovl_links_count(ns_engine(ns, s)) != 1 ||
		    ovl_links_count(ns_engine(ns, r)) != 1) {
			verdict(&v, "%s: survivor %zu up, %zu down, %zu links", name, ups_s,
			        downs_s, ovl_links_count(ns_engine(ns, s)));
			goto next;
		}
		if ((why = try_exchange(ns, a, b, "after restart"))) {
			verdict(&v, "%s: %s", name, why);
			goto next;
		}
		/* Still fine once every old session is long gone. */
		ns_run_for(ns, 40000);
		if (!ns_link(ns, s, r) || !ns_link(ns, r, s)) {
			verdict(&v,
			        "%s: link lost 40 s later (survivor %zu up %zu down; restarted "
			        "%zu up %zu down)",
			        name, ns_count(ns, s, NS_EV_UP), ns_count(ns, s, NS_EV_DOWN),
			        ns_count(ns, r, NS_EV_UP), ns_count(ns, r, NS_EV_DOWN));
			goto next;
		}
		if ((why = try_exchange(ns, a, b, "long after restart")))
			verdict(&v, "%s, 40 s later: %s", name, why);
		else if (ovl_links_count(ns_engine(ns, s)) != 1)
			verdict(&v, "%s: survivor has %zu links", name,
			        ovl_links_count(ns_engine(ns, s)));
	next:
		finish(ns);
	}
	if (v.failed)
		fail_msg("%d of 16 variants failed:%s", v.failed, v.text);
}

/* ---- 16. the tick contract ------------------------------------------------------------------ */

static void tick_returns_none_when_idle_and_a_future_deadline_when_busy(void **state)
{
	struct netsim *ns = sim_new(59);
	int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
	struct ovl_links *la = ns_engine(ns, a);
	struct ovl_links_config cfg = defaults();
	struct ovl_endpoint hole = ns_stranger_ep(1, 7000);
	uint64_t now, d, t0, tx;

	(void)state;
	ns_run_for(ns, 1000);
	now = ns_now(ns);
	assert_true(ovl_links_tick(la, now) == UINT64_MAX);
	assert_int_equal(ovl_links_pending(la), 0);

	/* A handshake into a black hole: retransmissions are due. */
	t0 = ns_now(ns);
	assert_int_equal(ns_connect_ep(ns, a, &hole, NULL), 0);
	assert_int_equal(ns_connect_ep(ns, a, &hole, NULL), -EBUSY);
	assert_int_equal(ovl_links_pending(la), 1);
	d = ovl_links_tick(la, t0);
	if (d <= t0 || d > t0 + cfg.hs_rto_ms)
		fail_msg("handshake deadline %llu at now %llu, want within hs_rto_ms %u",
		         (unsigned long long)d, (unsigned long long)t0, cfg.hs_rto_ms);
	assert_true(wait_ev(ns, a, NS_EV_FAILED, 1, cfg.hs_timeout_ms + 1000));
	assert_true(ns_last(ns, a, NS_EV_FAILED)->t <= t0 + cfg.hs_timeout_ms + cfg.hs_rto_ms);
	assert_false(ns_last(ns, a, NS_EV_FAILED)->has_expect);
	assert_int_equal(ovl_links_pending(la), 0);
	now = ns_now(ns);
	assert_true(ovl_links_tick(la, now) == UINT64_MAX);

	/* An up link: keepalives are due. */
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	ns_run_for(ns, 3 * cfg.keepalive_ms + 17);
	now = ns_now(ns);
	d = ovl_links_tick(la, now);
	if (d <= now || d > now + cfg.keepalive_ms)
		fail_msg("link deadline %llu at now %llu, want within keepalive_ms %u",
		         (unsigned long long)d, (unsigned long long)now, cfg.keepalive_ms);
	/* Ticking again at the same instant does nothing more. */
	tx = ns_stats(ns, a).tx_datagrams;
	assert_true(ovl_links_tick(la, now) == d);
	assert_int_equal(ns_stats(ns, a).tx_datagrams, tx);
	finish(ns);
}

static void connect_refuses_beyond_max_links(void **state)
{
	struct ovl_links_config cfg = defaults();
	struct netsim *ns = sim_new(61);
	int a;

	(void)state;
	cfg.max_links = 2;
	a = ns_add_sim(ns, "alice", &cfg);
	for (unsigned i = 1; i <= 2; i++) {
		struct ovl_endpoint hole = ns_stranger_ep(i, 7000);

		assert_int_equal(ns_connect_ep(ns, a, &hole, NULL), 0);
	}
	{
		struct ovl_endpoint hole = ns_stranger_ep(3, 7000);

		assert_int_equal(ns_connect_ep(ns, a, &hole, NULL), -ENOSPC);
		assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 2);
		/* once the attempts are over, there is room again */
		assert_true(wait_ev(ns, a, NS_EV_FAILED, 2, cfg.hs_timeout_ms + 1000));
		assert_int_equal(ns_connect_ep(ns, a, &hole, NULL), 0);
	}
	finish(ns);
}

/* ---- 17. callbacks that call back in --------------------------------------------------------- */

/* What a node does from inside its callbacks; -1: nobody. */
struct reentry {
	int echo;            /* sends every message back, from inside `recv` */
	int close_on_up;     /* closes the link from inside `up` */
	int close_on_msg;    /* closes from inside `recv` on "close me" */
	int retry;           /* connects again from inside `failed`, once */
	int connect_on_up;   /* connects to a black hole from inside `up` */
	int connect_on_down; /* ... and from inside `down` */
	int retries, echo_rc, retry_rc, connect_rc;
};

static void reentry_hook(void *ctx, struct netsim *ns, int node, const struct ns_event *ev)
{
	struct reentry *r = ctx;
	struct ovl_links *ls = ns_engine(ns, node);
	struct ovl_endpoint hole = ns_stranger_ep(100 + (unsigned)ev->kind, 7000);

	switch (ev->kind) {
	case NS_EV_UP:
		if (node == r->connect_on_up)
			r->connect_rc = ovl_links_connect(ls, ns_now(ns), &hole, NULL);
		if (node == r->close_on_up)
			ovl_link_close(ls, ev->link, ns_now(ns), "not now");
		break;
	case NS_EV_RECV:
		if (node == r->close_on_msg && ev->len == 8 && memcmp(ev->raw, "close me", 8) == 0)
			ovl_link_close(ls, ev->link, ns_now(ns), "as asked");
		else if (node == r->echo)
			/* the engine's own pointer, not the harness's copy */
			r->echo_rc = ovl_link_send(ls, ev->link, ns_now(ns), ev->raw, ev->len);
		break;
	case NS_EV_DOWN:
		/* closing a link that is already going down does nothing */
		ovl_link_close(ls, ev->link, ns_now(ns), "again");
		if (node == r->connect_on_down)
			r->connect_rc = ovl_links_connect(ls, ns_now(ns), &hole, NULL);
		break;
	case NS_EV_FAILED:
		if (node == r->retry && r->retries++ == 0)
			r->retry_rc = ovl_links_connect(ls, ns_now(ns), &ev->ep,
			                                ev->has_expect ? &ev->expect : NULL);
		break;
	default:
		break;
	}
	ns_poke(ns, node);
}

static bool no_links(struct netsim *ns, void *ctx)
{
	(void)ctx;
	for (int i = 0; i < ns_nodes(ns); i++)
		if (ovl_links_count(ns_engine(ns, i)))
			return false;
	return true;
}

/* alice and bob with hooks r, linked. */
static struct netsim *reentry_pair(struct reentry *r, uint64_t seed, int *a, int *b)
{
	struct netsim *ns = sim_new(seed);

	*a = ns_add_sim(ns, "alice", NULL);
	*b = ns_add_sim(ns, "bob", NULL);
	ns_set_hook(ns, reentry_hook, r);
	assert_int_equal(ns_connect(ns, *a, *b, NULL), 0);
	assert_true(wait_linked(ns, *a, *b, defaults().hs_timeout_ms));
	return ns;
}

#define NOBODY                                                                                     \
	{                                                                                          \
		-1, -1, -1, -1, -1, -1, 0, 0, 0, 0                                                 \
	}

static void callback_may_send_from_recv(void **state)
{
	struct reentry r = NOBODY;
	const size_t sizes[] = {1, 100, OVL_LINK_MTU};
	struct netsim *ns;
	int a, b;

	(void)state;
	ns = reentry_pair(&r, 67, &a, &b);
	r.echo = b;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t msg[OVL_LINK_MTU];

		pattern(msg, sizes[i], 40 + (unsigned)i);
		assert_int_equal(ns_send(ns, a, b, msg, sizes[i]), 0);
		if (!wait_recv(ns, a, msg, sizes[i], 1000))
			fail_msg("%zu-byte echo did not come back intact (send rc %d)", sizes[i],
			         r.echo_rc);
		assert_int_equal(r.echo_rc, 0);
	}
	finish(ns);
}

static void callback_may_close_from_recv(void **state)
{
	struct reentry r = NOBODY;
	struct netsim *ns;
	int a, b;

	(void)state;
	ns = reentry_pair(&r, 71, &a, &b);
	r.close_on_msg = b;
	assert_int_equal(ns_send(ns, a, b, "close me", 8), 0);
	assert_true(wait_ev(ns, a, NS_EV_DOWN, 1, 1000));
	assert_int_equal(ns_count(ns, b, NS_EV_DOWN), 1);
	assert_non_null(strstr(ns_last(ns, b, NS_EV_DOWN)->reason, "as asked"));
	assert_true(ns_run_until(ns, no_links, NULL, ns_now(ns) + 1000));
	r.close_on_msg = -1;
	assert_int_equal(ns_connect(ns, a, b, ns_addr(ns, b)), 0);
	assert_true(wait_linked(ns, a, b, defaults().hs_timeout_ms));
	exchange(ns, a, b, "after close from recv");
	finish(ns);
}

static void callback_may_close_from_up(void **state)
{
	struct ovl_links_config cfg = defaults();

	(void)state;
	/* the initiator closes (k = 0), then the responder (k = 1) */
	for (int k = 0; k < 2; k++) {
		struct reentry r = NOBODY;
		struct netsim *ns = sim_new(73 + (uint64_t)k);
		int a = ns_add_sim(ns, "alice", NULL), b = ns_add_sim(ns, "bob", NULL);
		int closer = k ? b : a;

		ns_set_hook(ns, reentry_hook, &r);
		r.close_on_up = closer;
		assert_int_equal(ns_connect(ns, a, b, NULL), 0);
		assert_true(wait_ev(ns, closer, NS_EV_UP, 1, cfg.hs_timeout_ms));
		ns_run_for(ns, cfg.hs_timeout_ms + 1000);
		assert_true(no_links(ns, NULL));
		assert_int_equal(ns_count(ns, a, NS_EV_UP), ns_count(ns, a, NS_EV_DOWN));
		assert_int_equal(ns_count(ns, b, NS_EV_UP), ns_count(ns, b, NS_EV_DOWN));
		assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 0);
		assert_int_equal(ovl_links_pending(ns_engine(ns, b)), 0);
		r.close_on_up = -1;
		assert_int_equal(ns_connect(ns, a, b, ns_addr(ns, b)), 0);
		assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
		exchange(ns, a, b, "after close from up");
		finish(ns);
	}
}

static void callback_may_connect_from_failed_up_and_down(void **state)
{
	struct ovl_links_config cfg = defaults();
	struct ovl_endpoint hole = ns_stranger_ep(5, 7000);
	struct reentry r = NOBODY;
	struct netsim *ns;
	int a, b;

	(void)state;
	r.connect_on_up = 0; /* alice, while the first link comes up */
	ns = reentry_pair(&r, 79, &a, &b);
	assert_int_equal(r.connect_rc, 0);
	assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 1);
	r.connect_on_up = -1;

	/* from inside `failed` (of that attempt, then of one more) */
	r.retry = a;
	assert_true(wait_ev(ns, a, NS_EV_FAILED, 2, 2 * cfg.hs_timeout_ms + 2000));
	assert_int_equal(r.retry_rc, 0);
	assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 0);
	assert_int_equal(ns_connect_ep(ns, a, &hole, NULL), 0);
	assert_true(wait_ev(ns, a, NS_EV_FAILED, 3, cfg.hs_timeout_ms + 1000));

	/* from inside `down` */
	r.connect_on_down = a;
	r.connect_rc = -1;
	ns_close(ns, a, b, "bye");
	assert_int_equal(r.connect_rc, 0);
	assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 1);
	assert_true(wait_ev(ns, b, NS_EV_DOWN, 1, 1000));
	ns_run_for(ns, cfg.hs_timeout_ms + 1000);
	assert_int_equal(ovl_links_pending(ns_engine(ns, a)), 0);
	assert_int_equal(ns_connect(ns, a, b, NULL), 0);
	assert_true(wait_linked(ns, a, b, cfg.hs_timeout_ms));
	exchange(ns, a, b, "after connects from callbacks");
	finish(ns);
}

static void new_refuses_a_config_without_crypto(void **state)
{
	struct ovl_links_config cfg = defaults();
	struct ovl_links_cb cb = {0};
	struct ovl_links *ls = NULL;

	(void)state;
	cfg.crypto = NULL;
	assert_int_equal(ovl_links_new(&cfg, &cb, &ls), -EINVAL);
	assert_null(ls);
}

/* Every test gets the teardown that frees what a failure left behind. */
#define TEST(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        TEST(two_engines_connect_and_carry_messages_both_ways),
	        TEST(handshake_completes_under_30pct_loss),
	        TEST(handshake_and_messages_survive_every_datagram_duplicated),
	        TEST(connect_expecting_another_address_fails_without_up),
	        TEST(non_members_get_no_link),
	        TEST(replayed_datagram_is_delivered_once),
	        TEST(responder_never_sends_more_than_it_received_from_unverified_source),
	        TEST(cookies_let_a_real_initiator_through_a_flood),
	        TEST(garbage_is_dropped_and_counted_and_links_survive),
	        TEST(idle_link_stays_up_and_dead_peer_is_detected),
	        TEST(rekey_under_steady_traffic_loses_nothing),
	        TEST(rekey_after_simultaneous_connect_loses_nothing),
	        TEST(one_way_flow_survives_rekeys),
	        TEST(rekey_under_loss_keeps_the_link),
	        TEST(roaming_peer_is_followed),
	        TEST(probe_answer_moves_the_link_a_probe_alone_does_not),
	        TEST(observed_endpoint_is_what_the_peer_sees),
	        TEST(close_takes_both_sides_down_and_reconnect_works),
	        TEST(simultaneous_connect_ends_with_one_link),
	        TEST(restarted_peer_gets_a_link_again),
	        TEST(tick_returns_none_when_idle_and_a_future_deadline_when_busy),
	        TEST(connect_refuses_beyond_max_links),
	        TEST(callback_may_send_from_recv),
	        TEST(callback_may_close_from_recv),
	        TEST(callback_may_close_from_up),
	        TEST(lost_close_is_repeated_when_the_peer_speaks),
	        TEST(idle_link_keepalive_is_one_sided),
	        TEST(callback_may_connect_from_failed_up_and_down),
	        TEST(new_refuses_a_config_without_crypto),
	};

	const char *lvl = getenv("LINK_TEST_LOG"), *only = getenv("LINK_TEST_ONLY");
	enum log_level level = LOG_LVL_WARN;

	/* LINK_TEST_LOG=debug|info|warn|error, LINK_TEST_ONLY=<test name pattern>,
	 * LINK_TEST_TRACE=1: every datagram */
	if (lvl && log_level_parse(lvl, &level) < 0)
		fprintf(stderr, "LINK_TEST_LOG: unknown level '%s'\n", lvl);
	log_set_level(level);
	if (only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
