// SPDX-License-Identifier: MIT
/*
 * groupvpn-cert — the offline group CA: create a group, issue node bundles,
 * revoke, show and verify certificates. A thin shell over certs/.
 *
 * Exit codes: 0 success (verify: valid), 1 failure or refusal (verify:
 * invalid), 2 usage error.
 */
#include "cli.h"
#include "cert.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#define CA_DAYS_DEFAULT   3650
#define NODE_DAYS_DEFAULT 365
/* Certificates start an hour in the past so that a peer whose clock runs a
 * little behind does not see a fresh certificate as "not yet valid". */
#define BACKDATE_SECONDS 3600
#define BOOTSTRAP_MAX    64
#define SETTINGS_MAX     16
#define ISSUED_MAX       (16 * 1024 * 1024)

static const char *prog = "groupvpn-cert";

static void usage(FILE *f)
{
	fprintf(f,
	        "usage:\n"
	        "  %s ca --namespace NS --network CIDR --out DIR [--days N] [--algo ed25519|p256]\n"
	        "  %s issue --ca DIR --name NAME [--ip ADDR] [--bootstrap HOST:PORT]... [--days "
	        "N]\n"
	        "        [--set KEY=VALUE]... [--force] --out FILE\n"
	        "  %s revoke --ca DIR (--name NAME | --cert PEMFILE)\n"
	        "  %s show FILE [--json]\n"
	        "  %s verify --ca DIR (--cert PEMFILE | --bundle FILE)\n"
	        "\n"
	        "ca      creates a group CA in DIR: ca.crt, ca.key (0600), crl.pem, group.json\n"
	        "issue   makes a node key and certificate and writes the member's bundle (0600)\n"
	        "revoke  adds a certificate (or every certificate issued to NAME) to DIR/crl.pem\n"
	        "show    prints what a certificate or bundle says\n"
	        "verify  exits 0 if the certificate is a valid member of DIR's group, else 1\n"
	        "--set   puts a local setting into the bundle (listen, control_socket, state_dir,\n"
	        "        interface, shortcuts, dht_replicas)\n",
	        prog, prog, prog, prog, prog);
}

static int parse_days(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > CERT_DAYS_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

static void iso8601(time_t t, char out[32])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}

/* Serialises CA-directory updates between concurrent groupvpn-cert runs. */
static int lock_ca_dir(const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* ---- issued.json: what this CA has issued, for --name lookups ---------- */

static json_t *issued_load(const char *dir, struct cert_err *err)
{
	char path[4096], *text = NULL;
	json_error_t jerr;
	json_t *root, *list;
	size_t len;

	snprintf(path, sizeof(path), "%s/issued.json", dir);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return json_pack("{s:[]}", "issued");
	if (cert_file_read(path, ISSUED_MAX, &text, &len, err) < 0)
		return NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	list = json_object_get(root, "issued");
	if (!root || !json_is_array(list)) {
		snprintf(err->msg, sizeof(err->msg), "%.160s: %.80s", path,
		         root ? "expected {\"issued\": [...]}" : jerr.text);
		json_decref(root);
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i);

		if (!json_is_string(json_object_get(e, "name")) ||
		    !json_is_string(json_object_get(e, "serial")) ||
		    !json_is_boolean(json_object_get(e, "revoked"))) {
			snprintf(err->msg, sizeof(err->msg), "%.160s: entry %zu is malformed", path,
			         i);
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

static int issued_save(const char *dir, json_t *root, struct cert_err *err)
{
	char path[4096], *text = json_dumps(root, JSON_INDENT(2));
	int rc;

	if (!text) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/issued.json", dir);
	rc = cert_file_write_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return rc;
}

/* ---- ca ------------------------------------------------------------------ */

static int cmd_ca(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"namespace", required_argument, NULL, 'n'},
	        {"network", required_argument, NULL, 'N'},
	        {"out", required_argument, NULL, 'o'},
	        {"days", required_argument, NULL, 'd'},
	        {"algo", required_argument, NULL, 'a'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct cert_ca_params p = {.algo = CERT_ALGO_ED25519};
	const char *out = NULL;
	struct cert_ca *ca = NULL;
	struct cert_err err = {""};
	long days = CA_DAYS_DEFAULT;
	char until[32], net[CERT_NET_STR];
	time_t now = time(NULL);
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			p.namespace = optarg;
			break;
		case 'N':
			p.network = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'd':
			if (parse_days(optarg, &days) < 0)
				return cli_usage_error("--days must be 1..%d", CERT_DAYS_MAX);
			break;
		case 'a':
			if (cert_algo_parse(optarg, &p.algo) < 0)
				return cli_usage_error("--algo must be ed25519 or p256");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("ca: bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("ca: unexpected argument '%s'", argv[optind]);
	if (!p.namespace || !p.network || !out)
		return cli_usage_error("ca needs --namespace, --network and --out");
	p.not_before = now - BACKDATE_SECONDS;
	p.not_after = now + days * 86400;
	if (cert_ca_create(&p, &ca, &err) < 0)
		return cli_fail("%s", err.msg);
	if (cert_ca_save_dir(ca, out, &err) < 0) {
		cert_ca_free(ca);
		return cli_fail("%s", err.msg);
	}
	iso8601(p.not_after, until);
	cert_network_format(cert_ca_network(ca), net);
	printf("created group CA for namespace %s (network %s, %s) in %s, valid until %s\n",
	       cert_ca_namespace(ca), net, cert_algo_name(p.algo), out, until);
	cert_ca_free(ca);
	return 0;
}

/* ---- issue --------------------------------------------------------------- */

struct issue_args {
	const char *ca_dir, *name, *ip, *out;
	const char *bootstrap[BOOTSTRAP_MAX];
	size_t n_bootstrap;
	char *settings[SETTINGS_MAX];
	size_t n_settings;
	long days;
	bool force;
};

/* Refuses a second live certificate for one name or one fixed IP. */
static int issued_conflict(json_t *issued, const struct issue_args *a, time_t now)
{
	json_t *list = json_object_get(issued, "issued"), *e;
	size_t i;

	json_array_foreach (list, i, e) {
		json_t *na = json_object_get(e, "not_after");
		const char *ip = json_string_value(json_object_get(e, "ip"));

		if (json_is_true(json_object_get(e, "revoked")) ||
		    (json_is_integer(na) && json_integer_value(na) < now))
			continue;
		if (!strcmp(json_string_value(json_object_get(e, "name")), a->name))
			return cli_fail(
			        "name '%s' already has a live certificate (serial %s); revoke "
			        "it first or pass --force",
			        a->name, json_string_value(json_object_get(e, "serial")));
		if (a->ip && ip && !strcmp(ip, a->ip))
			return cli_fail(
			        "ip %s is already assigned to '%s'; pass --force to assign it "
			        "again",
			        a->ip, json_string_value(json_object_get(e, "name")));
	}
	return 0;
}

static int do_issue(const struct issue_args *a)
{
	struct cert_ca *ca = NULL;
	struct cert_bundle *b = NULL;
	struct cert_info info;
	struct cert_err err = {""};
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	json_t *issued = NULL;
	char addr[CERT_ADDR_HEX_LEN + 1], until[32];
	time_t now = time(NULL);
	struct stat st;
	int rc = CLI_EXIT_FAIL, lock;

	if (!a->force && lstat(a->out, &st) == 0)
		return cli_fail("%s already exists; pass --force to replace it", a->out);
	lock = lock_ca_dir(a->ca_dir);
	if (lock < 0)
		return cli_fail("%s: cannot lock CA directory: %s", a->ca_dir, strerror(-lock));
	if (cert_ca_load_dir(a->ca_dir, &ca, &err) < 0 ||
	    !(issued = issued_load(a->ca_dir, &err))) {
		cli_fail("%s", err.msg);
		goto out;
	}
	if (!a->force && issued_conflict(issued, a, now) != 0)
		goto out;
	struct cert_issue_params p = {
	        .name = a->name,
	        .ip = a->ip,
	        .not_before = now - BACKDATE_SECONDS,
	        .not_after = now + a->days * 86400,
	};
	if (cert_key_generate(CERT_ALGO_ED25519, &key, &err) < 0 ||
	    cert_ca_issue(ca, key, &p, &x, &err) < 0 ||
	    cert_bundle_build(ca, x, key, a->bootstrap, a->n_bootstrap, &b, &err) < 0 ||
	    cert_info_get(x, &info, &err) < 0) {
		cli_fail("%s", err.msg);
		goto out;
	}
	for (size_t i = 0; i < a->n_settings; i++) {
		char *eq = strchr(a->settings[i], '=');

		*eq = '\0';
		if (cert_bundle_set_setting(b, a->settings[i], eq + 1, &err) < 0) {
			cli_fail("--set %s: %s", a->settings[i], err.msg);
			goto out;
		}
	}
	if (cert_bundle_save(b, a->out, &err) < 0) {
		cli_fail("%s", err.msg);
		goto out;
	}
	cert_addr_hex(&info.addr, addr);
	if (json_array_append_new(json_object_get(issued, "issued"),
	                          json_pack("{s:s, s:s, s:s, s:s?, s:I, s:b}", "name", info.name,
	                                    "serial", info.serial, "address", addr, "ip",
	                                    info.has_ip ? info.ip : NULL, "not_after",
	                                    (json_int_t)info.not_after, "revoked", 0)) < 0 ||
	    issued_save(a->ca_dir, issued, &err) < 0) {
		unlink(a->out); /* no bundle the CA has no record of */
		cli_fail("%s: %s", a->ca_dir,
		         err.msg[0] ? err.msg : "cannot record the certificate");
		goto out;
	}
	iso8601(info.not_after, until);
	printf("issued %s: address %s%s%s, serial %s, valid until %s -> %s\n", info.name, addr,
	       info.has_ip ? ", ip " : "", info.has_ip ? info.ip : "", info.serial, until, a->out);
	if (info.not_after < p.not_after)
		printf("note: validity was shortened to end with the CA certificate\n");
	rc = 0;
out:
	json_decref(issued);
	cert_bundle_free(b);
	X509_free(x);
	EVP_PKEY_free(key);
	cert_ca_free(ca);
	close(lock);
	return rc;
}

static int cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"ca", required_argument, NULL, 'c'},   {"name", required_argument, NULL, 'n'},
	        {"ip", required_argument, NULL, 'i'},   {"bootstrap", required_argument, NULL, 'b'},
	        {"days", required_argument, NULL, 'd'}, {"out", required_argument, NULL, 'o'},
	        {"set", required_argument, NULL, 's'},  {"force", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	struct issue_args a = {.days = NODE_DAYS_DEFAULT};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.ca_dir = optarg;
			break;
		case 'n':
			a.name = optarg;
			break;
		case 'i':
			a.ip = optarg;
			break;
		case 'b':
			if (a.n_bootstrap == BOOTSTRAP_MAX)
				return cli_usage_error("at most %d --bootstrap", BOOTSTRAP_MAX);
			if (!cert_endpoint_valid(optarg))
				return cli_usage_error("--bootstrap '%s': want HOST:PORT", optarg);
			a.bootstrap[a.n_bootstrap++] = optarg;
			break;
		case 'd':
			if (parse_days(optarg, &a.days) < 0)
				return cli_usage_error("--days must be 1..%d", CERT_DAYS_MAX);
			break;
		case 'o':
			a.out = optarg;
			break;
		case 's':
			if (a.n_settings == SETTINGS_MAX)
				return cli_usage_error("at most %d --set", SETTINGS_MAX);
			if (!strchr(optarg, '='))
				return cli_usage_error("--set '%s': want KEY=VALUE", optarg);
			a.settings[a.n_settings++] = optarg;
			break;
		case 'f':
			a.force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("issue: bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("issue: unexpected argument '%s'", argv[optind]);
	if (!a.ca_dir || !a.name || !a.out)
		return cli_usage_error("issue needs --ca, --name and --out");
	return do_issue(&a);
}

/* ---- revoke -------------------------------------------------------------- */

/* A certificate from a PEM file or from a bundle; new. */
static int load_cert_any(const char *path, X509 **out, struct cert_err *err)
{
	char *text = NULL;
	size_t len, i;
	int rc = cert_file_read(path, CERT_BUNDLE_MAX, &text, &len, err);

	if (rc < 0)
		return rc;
	for (i = 0; i < len && strchr(" \t\r\n", text[i]); i++)
		;
	if (i < len && text[i] == '{') {
		struct cert_bundle *b = NULL;

		rc = cert_bundle_parse(text, len, &b, err);
		if (rc == 0) {
			*out = cert_bundle_cert(b);
			X509_up_ref(*out);
			cert_bundle_free(b);
		}
	} else {
		rc = cert_x509_from_pem(text, len, out, err);
	}
	cert_secret_free(text);
	return rc;
}

static int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"ca", required_argument, NULL, 'c'},
	        {"name", required_argument, NULL, 'n'},
	        {"cert", required_argument, NULL, 'C'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *name = NULL, *cert_path = NULL;
	struct cert_ca *ca = NULL;
	struct cert_err err = {""};
	json_t *issued = NULL, *e;
	time_t now = time(NULL);
	int c, rc = CLI_EXIT_FAIL, lock = -1, n_revoked = 0, n_already = 0;
	size_t i;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'C':
			cert_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("revoke: bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("revoke: unexpected argument '%s'", argv[optind]);
	if (!dir || !!name == !!cert_path)
		return cli_usage_error("revoke needs --ca and one of --name or --cert");
	lock = lock_ca_dir(dir);
	if (lock < 0)
		return cli_fail("%s: cannot lock CA directory: %s", dir, strerror(-lock));
	if (cert_ca_load_dir(dir, &ca, &err) < 0 || !(issued = issued_load(dir, &err))) {
		cli_fail("%s", err.msg);
		goto out;
	}
	if (cert_path) {
		struct cert_info info;
		X509 *x = NULL;

		if (load_cert_any(cert_path, &x, &err) < 0 || cert_info_get(x, &info, &err) < 0) {
			X509_free(x);
			cli_fail("%s: %s", cert_path, err.msg);
			goto out;
		}
		/* Only what this CA signed: a foreign serial in our CRL is noise. */
		if (X509_check_issued(cert_ca_x509(ca), x) != X509_V_OK ||
		    X509_verify(x, X509_get0_pubkey(cert_ca_x509(ca))) != 1) {
			X509_free(x);
			cli_fail("%s was not issued by the CA in %s", cert_path, dir);
			goto out;
		}
		X509_free(x);
		c = cert_ca_revoke(ca, info.serial, now, &err);
		if (c < 0 && c != -EALREADY) {
			cli_fail("%s", err.msg);
			goto out;
		}
		c == 0 ? n_revoked++ : n_already++;
		json_array_foreach (json_object_get(issued, "issued"), i, e)
			if (!strcmp(json_string_value(json_object_get(e, "serial")), info.serial))
				json_object_set_new(e, "revoked", json_true());
		printf("%s %s (serial %s)\n", n_revoked ? "revoked" : "already revoked:", info.name,
		       info.serial);
	} else {
		json_array_foreach (json_object_get(issued, "issued"), i, e) {
			const char *serial = json_string_value(json_object_get(e, "serial"));
			int r;

			if (strcmp(json_string_value(json_object_get(e, "name")), name) != 0)
				continue;
			err.msg[0] = '\0';
			r = cert_ca_revoke(ca, serial, now, &err);
			if (r < 0 && r != -EALREADY) {
				cli_fail("%s", err.msg);
				goto out;
			}
			r == 0 ? n_revoked++ : n_already++;
			json_object_set_new(e, "revoked", json_true());
			printf("%s %s (serial %s)\n", r == 0 ? "revoked" : "already revoked:", name,
			       serial);
		}
		if (n_revoked + n_already == 0) {
			cli_fail("no certificate issued to '%s' in %s/issued.json", name, dir);
			goto out;
		}
	}
	if (n_revoked &&
	    (cert_ca_save_crl(ca, dir, &err) < 0 || issued_save(dir, issued, &err) < 0)) {
		cli_fail("%s", err.msg);
		goto out;
	}
	if (n_revoked)
		printf("%s/crl.pem updated: CRL number %llu, %zu revoked\n", dir,
		       (unsigned long long)cert_crl_number(cert_ca_crl(ca)),
		       cert_crl_count(cert_ca_crl(ca)));
	rc = 0;
out:
	json_decref(issued);
	cert_ca_free(ca);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* ---- show ---------------------------------------------------------------- */

static int show_ca(X509 *x, bool as_json)
{
	char nb[32], na[32], subj[256];
	time_t t0 = 0, t1 = 0;
	struct tm tm;

	if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm))
		return cli_fail("CA certificate: notBefore is malformed");
	t0 = timegm(&tm);
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
		return cli_fail("CA certificate: notAfter is malformed");
	t1 = timegm(&tm);
	iso8601(t0, nb);
	iso8601(t1, na);
	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	if (as_json) {
		json_t *o = json_pack("{s:s, s:b, s:s, s:s}", "subject", subj, "ca", 1,
		                      "not_before", nb, "not_after", na);
		char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

		if (!s)
			return cli_fail("out of memory");
		puts(s);
		free(s);
		json_decref(o);
	} else {
		printf("CA certificate\nsubject:     %s\nnot_before:  %s\nnot_after:   %s\n", subj,
		       nb, na);
	}
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct cert_bundle *b = NULL;
	struct cert_info info;
	struct cert_err err = {""};
	char *text = NULL, addr[CERT_ADDR_HEX_LEN + 1], nb[32], na[32], net[CERT_NET_STR];
	bool as_json = false;
	X509 *x = NULL;
	size_t len, i;
	int c, rc = CLI_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			as_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("show: bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("show needs exactly one FILE");
	if (cert_file_read(argv[optind], CERT_BUNDLE_MAX, &text, &len, &err) < 0)
		return cli_fail("%s", err.msg);
	for (i = 0; i < len && strchr(" \t\r\n", text[i]); i++)
		;
	if (i < len && text[i] == '{') {
		if (cert_bundle_parse(text, len, &b, &err) < 0) {
			cli_fail("%s: %s", argv[optind], err.msg);
			goto out;
		}
		x = cert_bundle_cert(b);
		X509_up_ref(x);
	} else if (cert_x509_from_pem(text, len, &x, &err) < 0) {
		cli_fail("%s: %s", argv[optind], err.msg);
		goto out;
	}
	if (X509_check_ca(x) > 0 && X509_check_issued(x, x) == X509_V_OK) {
		rc = show_ca(x, as_json);
		goto out;
	}
	if (cert_info_get(x, &info, &err) < 0) {
		cli_fail("%s: %s", argv[optind], err.msg);
		goto out;
	}
	cert_addr_hex(&info.addr, addr);
	iso8601(info.not_before, nb);
	iso8601(info.not_after, na);
	if (b)
		cert_network_format(cert_bundle_network(b), net);
	if (as_json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s}", "namespace",
		                      info.namespace, "name", info.name, "address", addr, "ip",
		                      info.has_ip ? info.ip : NULL, "serial", info.serial,
		                      "not_before", nb, "not_after", na);
		char *s;

		if (o && b) {
			json_t *boot = json_array();

			for (i = 0; i < cert_bundle_bootstrap_count(b); i++)
				json_array_append_new(boot,
				                      json_string(cert_bundle_bootstrap(b, i)));
			json_object_set_new(o, "network", json_string(net));
			json_object_set_new(o, "bootstrap", boot);
		}
		if (!o || !(s = json_dumps(o, JSON_INDENT(2)))) {
			json_decref(o);
			cli_fail("out of memory");
			goto out;
		}
		puts(s);
		free(s);
		json_decref(o);
	} else {
		printf("name:        %s\nnamespace:   %s\naddress:     %s\nip:          %s\n"
		       "serial:      %s\nnot_before:  %s\nnot_after:   %s\n",
		       info.name, info.namespace, addr, info.has_ip ? info.ip : "-", info.serial,
		       nb, na);
		if (b) {
			printf("network:     %s\nbootstrap:  ", net);
			for (i = 0; i < cert_bundle_bootstrap_count(b); i++)
				printf(" %s", cert_bundle_bootstrap(b, i));
			printf("%s\n", cert_bundle_bootstrap_count(b) ? "" : " -");
		}
	}
	rc = 0;
out:
	X509_free(x);
	cert_bundle_free(b);
	cert_secret_free(text);
	return rc;
}

/* ---- verify -------------------------------------------------------------- */

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"ca", required_argument, NULL, 'c'},
	        {"cert", required_argument, NULL, 'C'},
	        {"bundle", required_argument, NULL, 'b'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *cert_path = NULL, *bundle_path = NULL;
	struct cert_trust *t = NULL;
	struct cert_bundle *b = NULL;
	struct cert_info info;
	struct cert_err err = {""};
	enum cert_verdict v;
	char *text = NULL, addr[CERT_ADDR_HEX_LEN + 1];
	X509 *x = NULL;
	size_t len;
	int c, rc = CLI_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'C':
			cert_path = optarg;
			break;
		case 'b':
			bundle_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli_usage_error("verify: bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("verify: unexpected argument '%s'", argv[optind]);
	if (!dir || !!cert_path == !!bundle_path)
		return cli_usage_error("verify needs --ca and one of --cert or --bundle");
	if (cert_trust_load_ca_dir(dir, &t, &err) < 0)
		return cli_fail("%s", err.msg);
	if (bundle_path) {
		if (cert_bundle_load(bundle_path, &b, &err) < 0) {
			printf("invalid: malformed: %s\n", err.msg);
			goto out;
		}
		x = cert_bundle_cert(b);
		X509_up_ref(x);
	} else {
		if (cert_file_read(cert_path, CERT_PEM_MAX, &text, &len, &err) < 0) {
			cli_fail("%s", err.msg);
			goto out;
		}
		if (cert_x509_from_pem(text, len, &x, &err) < 0) {
			printf("invalid: malformed: %s: %s\n", cert_path, err.msg);
			goto out;
		}
	}
	v = cert_verify(t, x, time(NULL), &info, &err);
	if (v != CERT_VALID) {
		printf("invalid: %s\n", err.msg);
		goto out;
	}
	cert_addr_hex(&info.addr, addr);
	printf("valid: %s, namespace %s, address %s\n", info.name, info.namespace, addr);
	rc = 0;
out:
	X509_free(x);
	cert_bundle_free(b);
	cert_trust_free(t);
	free(text);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	        {"ca", cmd_ca},     {"issue", cmd_issue},   {"revoke", cmd_revoke},
	        {"show", cmd_show}, {"verify", cmd_verify},
	};

	cli_prog = prog;

	if (argc < 2)
		return usage(stderr), CLI_EXIT_USAGE;
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return usage(stdout), 0;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return cli_usage_error("unknown command '%s'", argv[1]);
}
