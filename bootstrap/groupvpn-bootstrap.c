// SPDX-License-Identifier: MIT
/*
 * groupvpn-bootstrap — an overlay node without a TUN device, for public
 * hosts: it serves joins, keeps the ring and holds its share of the DHT.
 * Needs no root: one UDP socket on an unprivileged port and a UNIX control
 * socket.
 * See docs/bootstrap.md "Running a bootstrap node".
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure (bundle, certificate,
 * socket), 2 usage error.
 */
#define LOG_SUBSYS "bootstrap"

#include "cli.h"
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cert.h"
#include "control.h"
#include "dht.h"
#include "dht_control.h"
#include "log.h"
#include "runtime.h"

static const char *prog = "groupvpn-bootstrap";

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: %s -c BUNDLE [--listen ADDR:PORT] [--control PATH]\n"
	        "       [--log-level error|warn|info|debug] [--tuning KEY=MS]...\n"
	        "\n"
	        "Runs an overlay node without a TUN device: it answers joins, keeps the\n"
	        "ring and holds its share of the DHT. It needs no root and never does\n"
	        "anything privileged: run it as an unprivileged user (ports below 1024\n"
	        "would need CAP_NET_BIND_SERVICE).\n"
	        "\n"
	        "-c, --config BUNDLE  the node's config bundle (groupvpn-cert issue)\n"
	        "--listen ADDR:PORT   UDP address: a.b.c.d:port (IPv4) or [v6]:port (IPv6);\n"
	        "                     0.0.0.0 or [::] listen on both (default: the bundle's\n"
	        "                     'listen', else %s; port 0 picks a free one)\n"
	        "--control PATH       control socket for dhtctl (default: the bundle's\n"
	        "                     'control_socket', else %s/NAMESPACE.sock)\n"
	        "--log-level LEVEL    error, warn, info (default) or debug; logs go to stderr\n"
	        "--tuning KEY=MS      protocol timers in milliseconds, for tests and labs:\n"
	        "                     keepalive_ms, dead_ms, hs_timeout_ms (links);\n"
	        "                     maintain_ms, rejoin_ms, retry_min_ms, retry_max_ms (ring);\n"
	        "                     relay_after_ms, punch_retry_min_ms, punch_retry_max_ms "
	        "(NAT)\n"
	        "\n"
	        "SIGTERM or SIGINT: leave the ring gracefully and exit 0.\n",
	        prog, OVL_RT_DEFAULT_LISTEN, CTL_DEFAULT_DIR);
}

struct app {
	struct event_base *base;
	struct ovl_runtime *rt;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct app *app = arg;

	(void)what;
	LOG(LOG_LVL_INFO, "%s: leaving the ring", strsignal((int)sig));
	ovl_runtime_leave(app->rt);
	event_base_loopexit(app->base, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"listen", required_argument, NULL, 'l'},
	        {"control", required_argument, NULL, 'C'},
	        {"log-level", required_argument, NULL, 'L'},
	        {"tuning", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct ovl_runtime_config cfg;
	struct cert_bundle *bundle = NULL;
	struct control *ctl = NULL;
	struct dht *dht = NULL;
	struct dht_control *dctl = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	struct app app = {NULL, NULL};
	struct cert_info self;
	enum log_level level = LOG_LVL_INFO;
	const char *bundle_path = NULL, *control_path = NULL;
	char err[OVL_RT_ERR_MAX], defctl[CTL_SOCK_PATH_MAX + 64], hex[CERT_ADDR_HEX_LEN + 1];
	char ep[OVL_EP_STR_MAX];
	int c, rc = CLI_EXIT_FAIL;

	cli_prog = prog;

	ovl_runtime_config_default(&cfg);
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			bundle_path = optarg;
			break;
		case 'l': {
			struct ovl_endpoint lep;

			if (ovl_ep_parse(optarg, true, &lep) < 0)
				return cli_usage_error(
				        "--listen '%s': want a.b.c.d:port or [IPv6]:port", optarg);
			cfg.listen = optarg;
			break;
		}
		case 'C':
			control_path = optarg;
			break;
		case 'L':
			if (log_level_parse(optarg, &level) < 0)
				return cli_usage_error(
				        "--log-level must be error, warn, info or debug");
			break;
		case 't':
			if (!ovl_runtime_tuning(&cfg.node, optarg))
				return cli_usage_error("--tuning '%s': want KEY=MS with KEY one "
				                       "of " OVL_RT_TUNING_KEYS " and MS in 1..%lu",
				                       optarg, 86400000UL);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!bundle_path)
		return cli_usage_error("-c BUNDLE is required");
	if (cfg.node.retry_min_ms > cfg.node.retry_max_ms)
		return cli_usage_error("--tuning: retry_min_ms must not exceed retry_max_ms");
	if (cfg.node.punch_retry_min_ms > cfg.node.punch_retry_max_ms)
		return cli_usage_error(
		        "--tuning: punch_retry_min_ms must not exceed punch_retry_max_ms");
	if (cfg.node.links.dead_ms <= cfg.node.links.keepalive_ms)
		return cli_usage_error("--tuning: dead_ms must exceed keepalive_ms");
	log_set_level(level);
	signal(SIGPIPE, SIG_IGN); /* control clients that hang up */

	if (cli_load_member(bundle_path, &bundle, &self) != 0)
		return CLI_EXIT_FAIL;
	if (!control_path)
		control_path = cert_bundle_setting(bundle, "control_socket");
	if (!control_path) {
		snprintf(defctl, sizeof(defctl), "%s/%s.sock", CTL_DEFAULT_DIR,
		         cert_bundle_namespace(bundle));
		control_path = defctl;
	}

	app.base = event_base_new();
	if (!app.base) {
		cli_fail("cannot create the event loop");
		goto out;
	}
	cfg.bundle = bundle;
	dht_runtime_prepare(bundle, &cfg.node);
	if (ovl_runtime_new(app.base, &cfg, &app.rt, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (dht_runtime_start(app.rt, bundle, &dht, err, sizeof(err)) < 0) {
		cli_fail("%s: %s", bundle_path, err);
		goto out;
	}
	if (control_new(app.base, control_path, &ctl, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (ovl_runtime_register_commands(app.rt, ctl) < 0 ||
	    dht_control_register(dht, app.rt, ctl, &dctl) < 0) {
		cli_fail("cannot register control commands");
		goto out;
	}
	sigterm = evsignal_new(app.base, SIGTERM, on_signal, &app);
	sigint = evsignal_new(app.base, SIGINT, on_signal, &app);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0) {
		cli_fail("cannot handle signals");
		goto out;
	}
	if (ovl_runtime_start(app.rt) < 0) {
		cli_fail("cannot start the node");
		goto out;
	}
	cert_addr_hex(&self.addr, hex);
	ovl_ep_format(ovl_runtime_bound(app.rt), ep);
	printf("%s: address %s, namespace %s, listening on %s, control %s\n", prog, hex,
	       self.namespace, ep, control_path);
	fflush(stdout);
	LOG(LOG_LVL_INFO, "node %s (%s) up on %s", self.name, hex, ep);

	if (event_base_dispatch(app.base) < 0) {
		cli_fail("event loop failed");
		goto out;
	}
	rc = 0;
out:
	/* The control first: it cancels pending DHT requests while the DHT
	 * (freed with the node, by ovl_runtime_free) is still there. */
	control_free(ctl);
	dht_control_free(dctl);
	ovl_runtime_free(app.rt);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (app.base)
		event_base_free(app.base);
	cert_bundle_free(bundle);
	return rc;
}
