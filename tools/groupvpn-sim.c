// SPDX-License-Identifier: MIT
/*
 * groupvpn-sim — the overlay in virtual time: thousands of overlay/node.c
 * engines (with the crypto stand-in) on a simulated lossy network, built into
 * a ring, measured, churned and measured again; optionally with the DHT
 * engine on every node, keys put and read back. Deterministic for a seed.
 * The experiment lives in tools/sim/scenario.c; this is its command line.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: groupvpn-sim --nodes N [--seed S] [--lookups L] [--churn F]\n"
	        "                    [--join-rate R] [--settle SECONDS] [--retries K] [--log "
	        "LEVEL]\n"
	        "                    [--nat CONE,SYMMETRIC,SEQUENTIAL]\n"
	        "                    [--dht-keys K [--dht-replicas R] [--dht-ttl SECONDS]\n"
	        "                     [--dht-settle SECONDS] [--dht-refresh SECONDS]\n"
	        "                     [--dht-create-race N] [--dht-join N]] [--json]\n"
	        "\n"
	        "  --nodes N         nodes in the ring (1..%d)\n"
	        "  --seed S          PRNG seed (default 1): the same seed gives the same run\n"
	        "  --lookups L       lookups after the build and after churn (default 1000)\n"
	        "  --churn F         then kill round(F*N) random nodes at once (0 <= F < 1)\n"
	        "                    and measure again once the ring healed\n"
	        "  --join-rate R     nodes started per virtual second (default 50)\n"
	        "  --settle SECONDS  maintenance after the ring is consistent, before\n"
	        "                    measuring (virtual seconds, default 30: links younger\n"
	        "                    than 4 maintenance periods are never trimmed)\n"
	        "  --retries K       a lookup without an answer is sent again after 2 virtual s,\n"
	        "                    at most K times (default 2); it has failed if nothing\n"
	        "                    reached the key's owner within 10 virtual s\n"
	        "  --log LEVEL       print the engines' log lines up to LEVEL (error, warn,\n"
	        "                    info, debug) to stderr, with the virtual time\n"
	        "  --nat C,S,Q       fractions of the nodes (bootstraps excepted) behind NAT\n"
	        "                    routers of their own: cone (port-preserving), symmetric\n"
	        "                    (random ports), sequential symmetric; e.g. 0.4,0.2,0.1\n"
	        "                    (default: none; docs/nat.md)\n"
	        "  --json            print one JSON object instead of the summary\n"
	        "\n"
	        "DHT (every node runs the DHT engine when K > 0):\n"
	        "  --dht-keys K      after the build, put K keys (\"k<i>\" = \"v<i>\") from "
	        "random\n"
	        "                    nodes, then get each from a random node (default 0: none)\n"
	        "  --dht-replicas R  copies of each record (%d..%d, default 3)\n"
	        "  --dht-ttl S       the values' TTL in seconds (default 3600; refreshed)\n"
	        "  --dht-settle S    after churn (and a join), DHT upkeep before reading\n"
	        "                    again (virtual seconds, default 60)\n"
	        "  --dht-refresh S   writers re-put their values at least every S seconds\n"
	        "                    (default 600)\n"
	        "  --dht-create-race N\n"
	        "                    N random nodes create one key at the same instant;\n"
	        "                    exactly one must succeed (default 0: no race)\n"
	        "  --dht-join N      once the keys are stored, N more nodes join; the keys\n"
	        "                    are read again and the newcomers' records checked\n",
	        SIM_NODES_MAX, DHT_REPLICAS_MIN, DHT_REPLICAS_MAX);
}

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "groupvpn-sim: %s '%s': %s\n", opt, val, why);
	fprintf(stderr, "Try 'groupvpn-sim --help'.\n");
	return EXIT_USAGE;
}

/* A whole decimal number in [lo, hi]. */
static bool parse_u64(const char *s, unsigned long long lo, unsigned long long hi,
                      unsigned long long *out)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end && *out >= lo && *out <= hi;
}

static bool parse_double(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && !*end && isfinite(*out);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"nodes", required_argument, NULL, 'n'},
	        {"seed", required_argument, NULL, 's'},
	        {"lookups", required_argument, NULL, 'l'},
	        {"churn", required_argument, NULL, 'c'},
	        {"join-rate", required_argument, NULL, 'j'},
	        {"settle", required_argument, NULL, 'S'},
	        {"retries", required_argument, NULL, 'r'},
	        {"log", required_argument, NULL, 'L'},
	        {"json", no_argument, NULL, 'J'},
	        {"nat", required_argument, NULL, 'A'},
	        {"dht-keys", required_argument, NULL, 'K'},
	        {"dht-replicas", required_argument, NULL, 'R'},
	        {"dht-ttl", required_argument, NULL, 'T'},
	        {"dht-settle", required_argument, NULL, 'D'},
	        {"dht-refresh", required_argument, NULL, 'F'},
	        {"dht-create-race", required_argument, NULL, 'C'},
	        {"dht-join", required_argument, NULL, 'N'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct sim_params p;
	struct sim_report r;
	bool json = false, have_nodes = false, dht_opt = false;
	unsigned long long v;
	double d;
	int c, err;

	sim_params_default(&p);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, 1, SIM_NODES_MAX, &v))
				return bad("--nodes", optarg,
				           "want a whole number from 1 to 100000");
			p.nodes = (size_t)v;
			have_nodes = true;
			break;
		case 's':
			if (!parse_u64(optarg, 0, UINT64_MAX, &v))
				return bad("--seed", optarg, "want a whole number >= 0");
			p.seed = v;
			break;
		case 'l':
			if (!parse_u64(optarg, 0, 10000000, &v))
				return bad("--lookups", optarg,
				           "want a whole number from 0 to 10000000");
			p.lookups = (size_t)v;
			break;
		case 'c':
			if (!parse_double(optarg, &d) || d < 0 || d >= 1)
				return bad("--churn", optarg, "want a fraction, 0 <= F < 1");
			p.churn = d;
			break;
		case 'A': {
			double f[3];
			char rest[64];

			if (strlen(optarg) >= sizeof(rest) ||
			    sscanf(optarg, "%lf,%lf,%lf%63s", &f[0], &f[1], &f[2], rest) != 3 ||
			    f[0] < 0 || f[1] < 0 || f[2] < 0 || f[0] + f[1] + f[2] > 1.0)
				return bad("--nat", optarg,
				           "want three fractions C,S,Q >= 0 with a sum <= 1");
			p.nat_cone = f[0];
			p.nat_symmetric = f[1];
			p.nat_sequential = f[2];
			break;
		}
		case 'j':
			if (!parse_double(optarg, &d) || d <= 0 || d > 1e6)
				return bad("--join-rate", optarg,
				           "want nodes per second, 0 < R <= 1e6");
			p.join_rate = d;
			break;
		case 'S':
			if (!parse_u64(optarg, 0, 86400, &v))
				return bad("--settle", optarg,
				           "want whole virtual seconds, 0..86400");
			p.settle_ms = (uint32_t)(v * 1000);
			break;
		case 'r':
			if (!parse_u64(optarg, 0, 10, &v))
				return bad("--retries", optarg, "want a whole number from 0 to 10");
			p.lookup_retries = (unsigned)v;
			break;
		case 'L':
			if (log_level_parse(optarg, &p.sim.log_level) < 0)
				return bad("--log", optarg, "want error, warn, info or debug");
			p.sim.log_print = true;
			break;
		case 'J':
			json = true;
			break;
		case 'K':
			if (!parse_u64(optarg, 0, 1000000, &v))
				return bad("--dht-keys", optarg,
				           "want a whole number from 0 to 1000000");
			p.dht_keys = (size_t)v;
			break;
		case 'R':
			if (!parse_u64(optarg, DHT_REPLICAS_MIN, DHT_REPLICAS_MAX, &v))
				return bad("--dht-replicas", optarg,
				           "want a whole number from 3 to 8");
			p.dht.replicas = (unsigned)v;
			dht_opt = true;
			break;
		case 'T':
			if (!parse_u64(optarg, 1, DHT_TTL_MAX_DEFAULT, &v))
				return bad("--dht-ttl", optarg, "want whole seconds, 1..86400");
			p.dht_o.ttl = (uint32_t)v;
			dht_opt = true;
			break;
		case 'D':
			if (!parse_u64(optarg, 0, 86400, &v))
				return bad("--dht-settle", optarg,
				           "want whole virtual seconds, 0..86400");
			p.dht_settle_ms = (uint32_t)(v * 1000);
			dht_opt = true;
			break;
		case 'F':
			if (!parse_u64(optarg, 1, 86400, &v))
				return bad("--dht-refresh", optarg, "want whole seconds, 1..86400");
			p.dht.refresh_max_s = (uint32_t)v;
			dht_opt = true;
			break;
		case 'C':
			if (!parse_u64(optarg, 1, SIM_NODES_MAX, &v))
				return bad("--dht-create-race", optarg,
				           "want a whole number of nodes >= 1");
			p.dht_race = (size_t)v;
			dht_opt = true;
			break;
		case 'N':
			if (!parse_u64(optarg, 0, SIM_NODES_MAX, &v))
				return bad("--dht-join", optarg, "want a whole number of nodes");
			p.dht_join = (size_t)v;
			dht_opt = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "groupvpn-sim: %s needs a value\n", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "groupvpn-sim: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "groupvpn-sim: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!have_nodes) {
		fprintf(stderr, "groupvpn-sim: --nodes is required\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (dht_opt && p.dht_keys == 0) {
		fprintf(stderr, "groupvpn-sim: the --dht-* options need --dht-keys K > 0\n");
		return EXIT_USAGE;
	}
	if (p.dht_race > p.nodes) {
		fprintf(stderr,
		        "groupvpn-sim: --dht-create-race %zu: more racers than nodes (%zu)\n",
		        p.dht_race, p.nodes);
		return EXIT_USAGE;
	}
	if (p.dht_join > SIM_NODES_MAX - p.nodes) {
		fprintf(stderr, "groupvpn-sim: --nodes + --dht-join must not exceed %d\n",
		        SIM_NODES_MAX);
		return EXIT_USAGE;
	}
	err = sim_scenario_run(&p, &r);
	if (err < 0) {
		fprintf(stderr, "groupvpn-sim: simulation failed: %s\n", strerror(-err));
		return 1;
	}
	if (json)
		sim_report_json(stdout, &r);
	else
		sim_report_text(stdout, &r);
	return 0;
}
