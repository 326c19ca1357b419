// SPDX-License-Identifier: MIT
/*
 * groupvpnd — a group member: the overlay node, its share of the DHT, and
 * the virtual network on a TUN device (docs/vnet.md). Root is needed to
 * create and address the TUN device; with --user it then runs as that user
 * keeping only CAP_NET_ADMIN (it re-addresses the device if it must move).
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure (bundle, certificate,
 * TUN device, socket), 2 usage error.
 */
#define LOG_SUBSYS "groupvpnd"

#include "cli.h"
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "cert.h"
#include "control.h"
#include "dht.h"
#include "dht_control.h"
#include "log.h"
#include "runtime.h"
#include "tun.h"
#include "vnet.h"
#include "vnet_control.h"

#define STATE_DIR_DEFAULT "/var/lib/groupvpn"
#define TUN_BATCH         64 /* packets read per wake-up before the loop turns */
#define PATH_MAX_LEN      4096

static const char *prog = "groupvpnd";

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: %s -c BUNDLE [--interface NAME] [--listen ADDR:PORT] [--control PATH]\n"
	        "       [--state-dir DIR] [--foreground] [--shortcuts always|threshold:N|never]\n"
	        "       [--mtu N] [--user NAME] [--release-on-exit]\n"
	        "       [--log-level error|warn|info|debug] [--tuning KEY=MS]...\n"
	        "\n"
	        "Runs a group member: joins the overlay through the bundle's bootstrap\n"
	        "nodes, takes a virtual address (the certificate's fixed one, or a lease\n"
	        "from the group's DHT) on a TUN device, and carries IP packets to the\n"
	        "other members: over the overlay at first, then over a direct link.\n"
	        "Needs root for the TUN device.\n"
	        "\n"
	        "-c, --config BUNDLE  the member's config bundle (groupvpn-cert issue)\n"
	        "--interface NAME     TUN device name (bundle 'interface', default gvpn0)\n"
	        "--listen ADDR:PORT   UDP address (bundle 'listen', default %s)\n"
	        "--control PATH       control socket for dhtctl (bundle 'control_socket',\n"
	        "                     default %s/NAMESPACE.sock)\n"
	        "--state-dir DIR      where the last address is kept (bundle 'state_dir',\n"
	        "                     default %s/NAMESPACE)\n"
	        "--foreground         stay in the foreground, logging to stderr (else the\n"
	        "                     daemon detaches once set up and logs to syslog)\n"
	        "--shortcuts POLICY   direct links to the members we talk to: always\n"
	        "                     (default), threshold:PACKETS_PER_S, or never\n"
	        "--mtu N              TUN MTU, %d..%d (bundle 'mtu', default %d: fits a\n"
	        "                     1500-byte underlay with every header)\n"
	        "--user NAME          after set-up, run as NAME keeping only CAP_NET_ADMIN\n"
	        "--release-on-exit    give the address back on SIGTERM/SIGINT (default:\n"
	        "                     keep the lease, so a restart gets the same address)\n"
	        "--log-level LEVEL    error, warn, info (default) or debug\n"
	        "--tuning KEY=MS      protocol timers, for tests and labs: as groupvpn-bootstrap,\n"
	        "                     and conflict_check_ms (how often our lease is checked\n"
	        "                     against other claims, 30000), alloc_delay_ms (1000)\n"
	        "\n"
	        "SIGTERM or SIGINT: leave the ring gracefully, remove the device, exit 0.\n",
	        prog, OVL_RT_DEFAULT_LISTEN, CTL_DEFAULT_DIR, STATE_DIR_DEFAULT, VNET_MTU_MIN,
	        VNET_MTU_MAX, VNET_MTU_MAX);
}

struct app {
	struct event_base *base;
	struct ovl_runtime *rt;
	struct vnet *vnet;
	struct vnet_tun *tun;
	struct event *tun_ev;
	char state_file[PATH_MAX_LEN];
	bool release;
	uint8_t pkt[VNET_MTU_MAX + 64];
};

static time_t v_wall(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static void v_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
		LOG(LOG_LVL_ERROR, "RAND_bytes failed: no randomness, stopping");
		abort();
	}
}

static void v_tun_write(void *ctx, const uint8_t *pkt, size_t len)
{
	struct app *app = ctx;
	int rc = vnet_tun_write(app->tun, pkt, len);

	if (rc < 0 && rc != -EAGAIN)
		LOG_RL(LOG_LVL_WARN, "writing to the TUN device: %s", strerror(-rc));
}

/* Our address changed: the device gets it, the state file remembers it. */
static void v_address(void *ctx, uint32_t ip, uint8_t prefix, uint64_t since)
{
	struct app *app = ctx;
	char err[VNET_TUN_ERR_MAX], line[64];
	struct cert_err cerr = {""};
	struct in_addr a = {.s_addr = htonl(ip)};
	int n;

	if (vnet_tun_set_addr4(app->tun, ip, prefix, err, sizeof(err)) < 0)
		LOG(LOG_LVL_ERROR, "%s", err);
	if (!ip || !app->state_file[0])
		return;
	n = snprintf(line, sizeof(line), "%s %llu\n", inet_ntoa(a), (unsigned long long)since);
	if (cert_file_write_atomic(app->state_file, line, (size_t)n, 0644, &cerr) < 0)
		LOG(LOG_LVL_WARN, "cannot remember the address: %s", cerr.msg);
}

/* "a.b.c.d SINCE" from the state file; zeros when there is none. */
static void read_state(const char *path, uint32_t *ip, uint64_t *since)
{
	char *text = NULL, addr[32];
	size_t len;
	unsigned long long s;
	struct in_addr a;
	struct cert_err cerr = {""};

	*ip = 0;
	*since = 0;
	if (cert_file_read(path, 256, &text, &len, &cerr) < 0)
		return;
	if (sscanf(text, "%31s %llu", addr, &s) == 2 && inet_pton(AF_INET, addr, &a) == 1) {
		*ip = ntohl(a.s_addr);
		*since = s;
	} else {
		LOG(LOG_LVL_WARN, "%s: not 'ADDRESS SINCE'; ignored", path);
	}
	free(text);
}

static void on_tun(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;
	uint64_t now = ovl_runtime_now();

	(void)fd;
	(void)what;
	ovl_runtime_batch_begin(app->rt);
	for (int i = 0; i < TUN_BATCH; i++) {
		ssize_t n = vnet_tun_read(app->tun, app->pkt, sizeof(app->pkt));

		if (n == 0)
			break;
		if (n < 0) {
			if (n != -EMSGSIZE)
				LOG_RL(LOG_LVL_WARN, "reading the TUN device: %s",
				       strerror((int)-n));
			if (n != -EMSGSIZE && n != -EINTR)
				break;
			continue;
		}
		vnet_tun_input(app->vnet, now, app->pkt, (size_t)n);
	}
	ovl_runtime_kick(app->rt);
	ovl_runtime_batch_end(app->rt);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct app *app = arg;

	(void)what;
	LOG(LOG_LVL_INFO, "%s: leaving the ring%s", strsignal((int)sig),
	    app->release ? " and releasing our address" : "");
	if (app->release)
		vnet_release(app->vnet, ovl_runtime_now());
	ovl_runtime_leave(app->rt);
	event_base_loopexit(app->base, NULL);
}

static void syslog_sink(void *ctx, enum log_level level, const char *subsys, const char *func,
                        const char *msg)
{
	static const int pri[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

	(void)ctx;
	syslog(level < LOG_LVL_MAX ? pri[level] : LOG_DEBUG, "%s %s: %s", subsys, func, msg);
}

/* mkdir -p for the state directory (mode 0700 for what we create). */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX_LEN];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

struct opts {
	const char *bundle, *ifname, *listen, *control, *state_dir, *shortcuts, *user;
	bool foreground, release;
	long mtu;
	enum log_level level;
	struct ovl_runtime_config rt;
	uint32_t conflict_check_ms, alloc_delay_ms; /* 0: the engine's default */
};

/* vnet's own --tuning keys; false if arg is none of them (or a bad number). */
static bool vnet_tuning(struct opts *o, const char *arg)
{
	if (!strncmp(arg, "conflict_check_ms=", 18))
		return ovl_runtime_parse_ms(arg + 18, &o->conflict_check_ms);
	if (!strncmp(arg, "alloc_delay_ms=", 15))
		return ovl_runtime_parse_ms(arg + 15, &o->alloc_delay_ms);
	return false;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"interface", required_argument, NULL, 'i'},
	        {"listen", required_argument, NULL, 'l'},
	        {"control", required_argument, NULL, 'C'},
	        {"state-dir", required_argument, NULL, 's'},
	        {"foreground", no_argument, NULL, 'f'},
	        {"shortcuts", required_argument, NULL, 'S'},
	        {"mtu", required_argument, NULL, 'm'},
	        {"user", required_argument, NULL, 'u'},
	        {"release-on-exit", no_argument, NULL, 'r'},
	        {"log-level", required_argument, NULL, 'L'},
	        {"tuning", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->bundle = optarg;
			break;
		case 'i':
			if (!optarg[0] || strlen(optarg) >= VNET_TUN_NAME_MAX)
				return cli_usage_error("--interface: 1..%d characters",
				                       VNET_TUN_NAME_MAX - 1);
			o->ifname = optarg;
			break;
		case 'l': {
			struct ovl_endpoint lep;

			if (ovl_ep_parse(optarg, true, &lep) < 0)
				return cli_usage_error(
				        "--listen '%s': want a.b.c.d:port or [IPv6]:port", optarg);
			o->listen = optarg;
			break;
		}
		case 'C':
			o->control = optarg;
			break;
		case 's':
			o->state_dir = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'S':
			o->shortcuts = optarg;
			break;
		case 'm': {
			char *end;

			errno = 0;
			o->mtu = strtol(optarg, &end, 10);
			if (errno || *end || o->mtu < VNET_MTU_MIN || o->mtu > VNET_MTU_MAX)
				return cli_usage_error("--mtu: a number in %d..%d", VNET_MTU_MIN,
				                       VNET_MTU_MAX);
			break;
		}
		case 'u':
			o->user = optarg;
			break;
		case 'r':
			o->release = true;
			break;
		case 'L':
			if (log_level_parse(optarg, &o->level) < 0)
				return cli_usage_error(
				        "--log-level must be error, warn, info or debug");
			break;
		case 't':
			if (!ovl_runtime_tuning(&o->rt.node, optarg) && !vnet_tuning(o, optarg))
				return cli_usage_error("--tuning '%s': want KEY=MS with KEY one "
				                       "of " OVL_RT_TUNING_KEYS
				                       ", conflict_check_ms, "
				                       "alloc_delay_ms and MS in 1..86400000",
				                       optarg);
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_usage_error("bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->bundle)
		return cli_usage_error("-c BUNDLE is required");
	if (o->rt.node.retry_min_ms > o->rt.node.retry_max_ms)
		return cli_usage_error("--tuning: retry_min_ms must not exceed retry_max_ms");
	if (o->rt.node.punch_retry_min_ms > o->rt.node.punch_retry_max_ms)
		return cli_usage_error(
		        "--tuning: punch_retry_min_ms must not exceed punch_retry_max_ms");
	if (o->rt.node.links.dead_ms <= o->rt.node.links.keepalive_ms)
		return cli_usage_error("--tuning: dead_ms must exceed keepalive_ms");
	return 0;
}

/* The vnet's settings: command line over bundle over defaults. err: one line. */
static int vnet_settings(const struct opts *o, const struct cert_bundle *b,
                         const struct cert_info *self, struct vnet_config *vc, char *err,
                         size_t errlen)
{
	const char *sc = o->shortcuts ? o->shortcuts : cert_bundle_setting(b, "shortcuts");
	long long mtu;

	vnet_config_default(vc);
	vc->net = *cert_bundle_network(b);
	if (self->has_ip) {
		struct in_addr a;

		if (inet_pton(AF_INET, self->ip, &a) != 1) {
			snprintf(err, errlen, "the certificate's fixed address '%s' is not IPv4",
			         self->ip);
			return -EINVAL;
		}
		vc->fixed_ip = ntohl(a.s_addr);
	}
	if (sc && vnet_shortcuts_parse(sc, &vc->shortcuts, &vc->threshold_pps) < 0) {
		snprintf(err, errlen,
		         "shortcuts '%s': want always, never or threshold:PACKETS_PER_S "
		         "(1..1000000)",
		         sc);
		return -EINVAL;
	}
	if (o->mtu) {
		vc->mtu = (unsigned)o->mtu;
	} else if (cert_bundle_setting_int(b, "mtu", &mtu) == 0) {
		if (mtu < VNET_MTU_MIN || mtu > VNET_MTU_MAX) {
			snprintf(err, errlen, "mtu %lld: must be %d..%d", mtu, VNET_MTU_MIN,
			         VNET_MTU_MAX);
			return -EINVAL;
		}
		vc->mtu = (unsigned)mtu;
	}
	/* Lab timers scale the session's too (--tuning). */
	vc->sess.hs_timeout_ms = o->rt.node.links.hs_timeout_ms;
	if (o->conflict_check_ms)
		vc->conflict_check_ms = o->conflict_check_ms;
	if (o->alloc_delay_ms)
		vc->alloc_delay_ms = o->alloc_delay_ms;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {.level = LOG_LVL_INFO};
	struct cert_bundle *bundle = NULL;
	struct control *ctl = NULL;
	struct dht *dht = NULL;
	struct dht_control *dctl = NULL;
	struct vnet_control *vctl = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	static struct app app;
	struct cert_info self;
	struct vnet_config vc;
	struct vnet_cb vcb = {&app, v_tun_write, v_address, v_wall, v_random};
	char err[OVL_RT_ERR_MAX], defctl[CTL_SOCK_PATH_MAX + 64], hex[CERT_ADDR_HEX_LEN + 1];
	char ep[OVL_EP_STR_MAX], defstate[PATH_MAX_LEN], terr[VNET_TUN_ERR_MAX];
	int rc = CLI_EXIT_FAIL;

	cli_prog = prog;
	ovl_runtime_config_default(&o.rt);
	rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	rc = CLI_EXIT_FAIL;
	log_set_level(o.level);
	signal(SIGPIPE, SIG_IGN);

	if (cli_load_member(o.bundle, &bundle, &self) != 0)
		return CLI_EXIT_FAIL;
	if (vnet_settings(&o, bundle, &self, &vc, err, sizeof(err)) < 0) {
		cli_fail("%s: %s", o.bundle, err);
		goto out;
	}
	if (!o.control)
		o.control = cert_bundle_setting(bundle, "control_socket");
	if (!o.control) {
		snprintf(defctl, sizeof(defctl), "%s/%s.sock", CTL_DEFAULT_DIR,
		         cert_bundle_namespace(bundle));
		o.control = defctl;
	}
	if (!o.state_dir)
		o.state_dir = cert_bundle_setting(bundle, "state_dir");
	if (!o.state_dir) {
		snprintf(defstate, sizeof(defstate), "%s/%s", STATE_DIR_DEFAULT,
		         cert_bundle_namespace(bundle));
		o.state_dir = defstate;
	}
	if (!o.ifname)
		o.ifname = cert_bundle_setting(bundle, "interface");
	if (!o.ifname)
		o.ifname = "gvpn0";
	if (strlen(o.ifname) >= VNET_TUN_NAME_MAX) {
		cli_fail("interface name '%s' is too long (at most %d characters)", o.ifname,
		         VNET_TUN_NAME_MAX - 1);
		goto out;
	}
	if ((rc = make_dirs(o.state_dir)) < 0) {
		cli_fail("state directory %s: %s", o.state_dir, strerror(-rc));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rc = CLI_EXIT_FAIL;
	if (snprintf(app.state_file, sizeof(app.state_file), "%s/address", o.state_dir) >=
	    (int)sizeof(app.state_file)) {
		cli_fail("state directory path too long");
		goto out;
	}
	read_state(app.state_file, &vc.last_ip, &vc.last_since);
	app.release = o.release;

	/* The device first: without it there is nothing to do. */
	if (vnet_tun_open(o.ifname, &app.tun, terr, sizeof(terr)) < 0 ||
	    vnet_tun_set_mtu(app.tun, vc.mtu, terr, sizeof(terr)) < 0 ||
	    vnet_tun_set_up(app.tun, true, terr, sizeof(terr)) < 0) {
		cli_fail("%s", terr);
		goto out;
	}

	app.base = event_base_new();
	if (!app.base) {
		cli_fail("cannot create the event loop");
		goto out;
	}
	o.rt.bundle = bundle;
	if (o.listen)
		o.rt.listen = o.listen;
	dht_runtime_prepare(bundle, &o.rt.node);
	if (ovl_runtime_new(app.base, &o.rt, &app.rt, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (dht_runtime_start(app.rt, bundle, &dht, err, sizeof(err)) < 0) {
		cli_fail("%s: %s", o.bundle, err);
		goto out;
	}
	rc = vnet_new(ovl_runtime_node(app.rt), dht, &vc, &vcb, &app.vnet);
	if (rc < 0) {
		cli_fail("virtual network: %s", strerror(-rc));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rc = CLI_EXIT_FAIL;
	if (vnet_ip(app.vnet))
		v_address(&app, vnet_ip(app.vnet), vc.net.prefix, vc.last_since);
	if (control_new(app.base, o.control, &ctl, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (ovl_runtime_register_commands(app.rt, ctl) < 0 ||
	    dht_control_register(dht, app.rt, ctl, &dctl) < 0 ||
	    vnet_control_register(app.vnet, app.rt, ctl, vnet_tun_name(app.tun), &vctl) < 0) {
		cli_fail("cannot register control commands");
		goto out;
	}
	app.tun_ev = event_new(app.base, vnet_tun_fd(app.tun), EV_READ | EV_PERSIST, on_tun, &app);
	sigterm = evsignal_new(app.base, SIGTERM, on_signal, &app);
	sigint = evsignal_new(app.base, SIGINT, on_signal, &app);
	if (!app.tun_ev || !sigterm || !sigint || event_add(app.tun_ev, NULL) < 0 ||
	    evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
		cli_fail("cannot set up events");
		goto out;
	}
	if (o.user) {
		struct passwd *pw = getpwnam(o.user);

		if (!pw) {
			cli_fail("--user %s: no such user", o.user);
			goto out;
		}
		if (chown(o.state_dir, pw->pw_uid, pw->pw_gid) < 0 ||
		    (access(app.state_file, F_OK) == 0 &&
		     chown(app.state_file, pw->pw_uid, pw->pw_gid) < 0)) {
			cli_fail("state directory %s: %s", o.state_dir, strerror(errno));
			goto out;
		}
		if (vnet_priv_drop(o.user, terr, sizeof(terr)) < 0) {
			cli_fail("%s", terr);
			goto out;
		}
	}
	if (ovl_runtime_start(app.rt) < 0) {
		cli_fail("cannot start the node");
		goto out;
	}
	cert_addr_hex(&self.addr, hex);
	ovl_ep_format(ovl_runtime_bound(app.rt), ep);
	printf("%s: address %s, namespace %s, device %s, listening on %s, control %s\n", prog, hex,
	       self.namespace, vnet_tun_name(app.tun), ep, o.control);
	fflush(stdout);
	if (!o.foreground) {
		if (daemon(0, 0) < 0) {
			cli_fail("cannot detach: %s", strerror(errno));
			goto out;
		}
		openlog(prog, LOG_PID, LOG_DAEMON);
		log_set_sink(syslog_sink, NULL);
		if (event_reinit(app.base) < 0) {
			LOG(LOG_LVL_ERROR, "event loop after detaching failed");
			goto out;
		}
	}
	LOG(LOG_LVL_INFO, "member %s (%s) up on %s, device %s", self.name, hex, ep,
	    vnet_tun_name(app.tun));

	if (event_base_dispatch(app.base) < 0) {
		LOG(LOG_LVL_ERROR, "event loop failed");
		goto out;
	}
	rc = 0;
out:
	control_free(ctl);
	dht_control_free(dctl);
	vnet_control_free(vctl);
	if (app.tun_ev)
		event_free(app.tun_ev);
	ovl_runtime_free(app.rt); /* frees the node, its DHT and vnet */
	vnet_tun_close(app.tun);  /* the device goes with it */
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (app.base)
		event_base_free(app.base);
	cert_bundle_free(bundle);
	return rc;
}
