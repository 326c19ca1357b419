// SPDX-License-Identifier: MIT
/* certs — the config bundle: one JSON object with everything a member needs. */
#include "cert_internal.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define BUNDLE_BOOTSTRAP_MAX 64
#define BUNDLE_PATH_MAX      4095
#define BUNDLE_SOCK_PATH_MAX 107 /* sizeof(sun_path) - 1 */
#define BUNDLE_IFNAME_MAX    15  /* IFNAMSIZ - 1 */

struct cert_bundle {
	char namespace[CERT_NAMESPACE_MAX + 1];
	struct cert_network network;
	char **bootstrap;
	size_t n_bootstrap;
	X509 *cert;
	EVP_PKEY *key;
	struct cert_trust *trust;
	json_t *settings; /* object: only keys from the settings table */
};

/*
 * jansson copies every string it parses, the private key included, and frees
 * them without wiping. Route its allocations through wrappers that wipe every
 * block on free, so no key material lingers in freed heap memory.
 */
static void *wipe_malloc(size_t n)
{
	return malloc(n);
}

static void wipe_free(void *p)
{
	if (p) {
		OPENSSL_cleanse(p, malloc_usable_size(p));
		free(p);
	}
}

static void wipe_init(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

static void bundle_json_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, wipe_init);
}

/* ---- local settings --------------------------------------------------- */

enum setting_type {
	SET_ENDPOINT,  /* listen address: "host:port", port may be 0 */
	SET_PATH,      /* a file system path */
	SET_SOCK_PATH, /* a UNIX socket path: fits sun_path */
	SET_IFNAME,    /* a network interface name */
	SET_SHORTCUTS, /* always | never | threshold:<packets/s> */
	SET_INT,       /* integer in [min, max] */
};

static const struct setting {
	const char *key;
	enum setting_type type;
	long long min, max;
} settings[] = {
        {"listen", SET_ENDPOINT, 0, 0},     {"control_socket", SET_SOCK_PATH, 0, 0},
        {"state_dir", SET_PATH, 0, 0},      {"interface", SET_IFNAME, 0, 0},
        {"shortcuts", SET_SHORTCUTS, 0, 0}, {"dht_replicas", SET_INT, 3, 8},
};

static const struct setting *setting_find(const char *key)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (!strcmp(settings[i].key, key))
			return &settings[i];
	return NULL;
}

static bool listen_valid(const char *s)
{
	char tmp[320];
	size_t n = strlen(s);

	/* Port 0 (any free port) is fine for a listener. */
	if (n >= 2 && n < sizeof(tmp) && !strcmp(s + n - 2, ":0")) {
		memcpy(tmp, s, n - 1);
		tmp[n - 1] = '1';
		tmp[n] = '\0';
		return cert_endpoint_valid(tmp);
	}
	return cert_endpoint_valid(s);
}

static bool shortcuts_valid(const char *s)
{
	const char *p;

	if (!strcmp(s, "always") || !strcmp(s, "never"))
		return true;
	if (strncmp(s, "threshold:", 10) != 0)
		return false;
	p = s + 10;
	if (!*p || strlen(p) > 9)
		return false;
	return strspn(p, "0123456789") == strlen(p) && strtoul(p, NULL, 10) > 0;
}

/* Validates one setting's JSON value; 0 or -EINVAL with err naming the key. */
static int setting_check(const struct setting *st, const json_t *v, struct cert_err *err)
{
	const char *s;
	size_t n;

	if (st->type == SET_INT) {
		json_int_t i;

		if (!json_is_integer(v))
			return cert_errf(err, -EINVAL, "bundle: key '%s' must be an integer",
			                 st->key);
		i = json_integer_value(v);
		if (i < st->min || i > st->max)
			return cert_errf(err, -EINVAL, "bundle: key '%s' must be %lld..%lld",
			                 st->key, st->min, st->max);
		return 0;
	}
	if (!json_is_string(v))
		return cert_errf(err, -EINVAL, "bundle: key '%s' must be a string", st->key);
	s = json_string_value(v);
	n = json_string_length(v);
	switch (st->type) {
	case SET_ENDPOINT:
		if (!listen_valid(s))
			return cert_errf(
			        err, -EINVAL,
			        "bundle: key '%s' must be \"host:port\" (e.g. 0.0.0.0:7000)",
			        st->key);
		break;
	case SET_PATH:
	case SET_SOCK_PATH:
		if (n == 0 || n > (st->type == SET_PATH ? BUNDLE_PATH_MAX : BUNDLE_SOCK_PATH_MAX))
			return cert_errf(err, -EINVAL,
			                 "bundle: key '%s' must be a path of 1-%d bytes", st->key,
			                 st->type == SET_PATH ? BUNDLE_PATH_MAX
			                                      : BUNDLE_SOCK_PATH_MAX);
		break;
	case SET_IFNAME:
		if (n == 0 || n > BUNDLE_IFNAME_MAX || strpbrk(s, "/: \t\n") || !strcmp(s, ".") ||
		    !strcmp(s, ".."))
			return cert_errf(err, -EINVAL,
			                 "bundle: key '%s' must be an interface name of 1-%d "
			                 "characters without / : or spaces",
			                 st->key, BUNDLE_IFNAME_MAX);
		break;
	case SET_SHORTCUTS:
		if (!shortcuts_valid(s))
			return cert_errf(err, -EINVAL,
			                 "bundle: key '%s' must be always, never or "
			                 "threshold:<packets/s>",
			                 st->key);
		break;
	case SET_INT:
		break;
	}
	return 0;
}

/* ---- the bundle ------------------------------------------------------- */

void cert_bundle_free(struct cert_bundle *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_bootstrap; i++)
		free(b->bootstrap[i]);
	free(b->bootstrap);
	X509_free(b->cert);
	EVP_PKEY_free(b->key);
	cert_trust_free(b->trust);
	json_decref(b->settings);
	free(b);
}

static int bootstrap_set(struct cert_bundle *b, const char *const *list, size_t n,
                         struct cert_err *err)
{
	if (n > BUNDLE_BOOTSTRAP_MAX)
		return cert_errf(err, -EINVAL, "bundle: more than %d bootstrap endpoints",
		                 BUNDLE_BOOTSTRAP_MAX);
	if (n && !(b->bootstrap = calloc(n, sizeof(char *))))
		return cert_errf(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!cert_endpoint_valid(list[i]))
			return cert_errf(
			        err, -EINVAL,
			        "bundle: bootstrap entry %zu ('%.64s') is not \"host:port\"", i,
			        list[i]);
		if (!(b->bootstrap[i] = strdup(list[i])))
			return cert_errf(err, -ENOMEM, "out of memory");
		b->n_bootstrap = i + 1;
	}
	return 0;
}

/* Cert, key and trust must agree: same namespace, same key. */
static int bundle_check(struct cert_bundle *b, struct cert_err *err)
{
	struct cert_info info;
	struct cert_err ierr;
	int rc;

	if ((rc = cert_info_get(b->cert, &info, &ierr)) < 0)
		return cert_errf(err, rc, "bundle: key 'cert': %s", ierr.msg);
	if (strcmp(info.namespace, b->namespace) != 0)
		return cert_errf(err, -EINVAL,
		                 "bundle: key 'cert' is for namespace '%s', the bundle is for '%s'",
		                 info.namespace, b->namespace);
	if (EVP_PKEY_eq(b->key, X509_get0_pubkey(b->cert)) != 1) {
		ERR_clear_error();
		return cert_errf(err, -EINVAL, "bundle: key 'key' does not match key 'cert'");
	}
	return 0;
}

enum bundle_field { F_NS, F_NET, F_BOOT, F_CA, F_CERT, F_KEY, F_CRL, F_MAX };
static const char *const field_names[F_MAX] = {"namespace", "network", "bootstrap", "ca",
                                               "cert",      "key",     "crl"};

/* Step one: shape. Every key known, every value of the right type. */
static int bundle_validate(json_t *root, json_t *fields[F_MAX], struct cert_err *err)
{
	const char *k;
	json_t *v;
	int rc;

	json_object_foreach (root, k, v) {
		const struct setting *st;
		int f;

		for (f = 0; f < F_MAX && strcmp(k, field_names[f]); f++)
			;
		if (f < F_MAX) {
			fields[f] = v;
			if (f == F_BOOT ? !json_is_array(v) : !json_is_string(v))
				return cert_errf(err, -EINVAL, "bundle: key '%s' must be %s", k,
				                 f == F_BOOT ? "an array of \"host:port\" strings"
				                 : f >= F_CA ? "a PEM string"
				                             : "a string");
			continue;
		}
		if (!(st = setting_find(k)))
			return cert_errf(err, -EINVAL, "bundle: unknown key '%.64s'", k);
		if ((rc = setting_check(st, v, err)) < 0)
			return rc;
	}
	for (int f = 0; f < F_MAX; f++)
		if (!fields[f])
			return cert_errf(err, -EINVAL, "bundle: missing key '%s'", field_names[f]);
	return 0;
}

static int prefix_err(struct cert_err *err, int rc, const char *key)
{
	return cert_err_prefix(err, rc, "bundle: key '%s': ", key);
}

int cert_bundle_parse(const char *json, size_t len, struct cert_bundle **out, struct cert_err *err)
{
	json_t *root = NULL, *fields[F_MAX] = {0};
	const char *boot[BUNDLE_BOOTSTRAP_MAX];
	struct cert_bundle *b = NULL;
	json_error_t jerr;
	size_t n_boot;
	const char *k;
	json_t *v;
	int rc;

	bundle_json_init();
	if (len > CERT_BUNDLE_MAX)
		return cert_errf(err, -EFBIG, "bundle: too large (%zu bytes, limit %d)", len,
		                 CERT_BUNDLE_MAX);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cert_errf(err, -EINVAL, "bundle: not valid JSON: line %d column %d: %s",
		                 jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		rc = cert_errf(err, -EINVAL, "bundle: must be a JSON object");
		goto fail;
	}
	if ((rc = bundle_validate(root, fields, err)) < 0)
		goto fail;
	n_boot = json_array_size(fields[F_BOOT]);
	if (n_boot > BUNDLE_BOOTSTRAP_MAX) {
		rc = cert_errf(err, -EINVAL, "bundle: more than %d bootstrap endpoints",
		               BUNDLE_BOOTSTRAP_MAX);
		goto fail;
	}
	for (size_t i = 0; i < n_boot; i++) {
		json_t *e = json_array_get(fields[F_BOOT], i);

		if (!json_is_string(e)) {
			rc = cert_errf(err, -EINVAL, "bundle: bootstrap entry %zu must be a string",
			               i);
			goto fail;
		}
		boot[i] = json_string_value(e);
	}

	/* Step two: meaning. */
	if (!(b = calloc(1, sizeof(*b))) || !(b->settings = json_object())) {
		rc = cert_errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (!cert_name_valid(json_string_value(fields[F_NS]))) {
		rc = cert_errf(err, -EINVAL,
		               "bundle: key 'namespace' is malformed (1-%d of A-Z a-z "
		               "0-9 . _ -)",
		               CERT_NAMESPACE_MAX);
		goto fail;
	}
	snprintf(b->namespace, sizeof(b->namespace), "%s", json_string_value(fields[F_NS]));
	if ((rc = cert_network_parse(json_string_value(fields[F_NET]), &b->network, err)) < 0) {
		prefix_err(err, rc, "network");
		goto fail;
	}
	if ((rc = bootstrap_set(b, boot, n_boot, err)) < 0)
		goto fail;
	if ((rc = cert_trust_new(json_string_value(fields[F_CA]), json_string_length(fields[F_CA]),
	                         json_string_value(fields[F_CRL]),
	                         json_string_length(fields[F_CRL]), b->namespace,
	                         json_string_value(fields[F_NET]), &b->trust, err)) < 0) {
		prefix_err(err, rc, "ca/crl");
		goto fail;
	}
	if ((rc = cert_x509_from_pem(json_string_value(fields[F_CERT]),
	                             json_string_length(fields[F_CERT]), &b->cert, err)) < 0) {
		prefix_err(err, rc, "cert");
		goto fail;
	}
	if ((rc = cert_key_from_pem(json_string_value(fields[F_KEY]),
	                            json_string_length(fields[F_KEY]), &b->key, err)) < 0) {
		prefix_err(err, rc, "key");
		goto fail;
	}
	if ((rc = bundle_check(b, err)) < 0)
		goto fail;
	json_object_foreach (root, k, v) {
		if (setting_find(k) && json_object_set(b->settings, k, v) < 0) {
			rc = cert_errf(err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	json_decref(root);
	*out = b;
	return 0;
fail:
	cert_bundle_free(b);
	json_decref(root);
	return rc;
}

int cert_bundle_load(const char *path, struct cert_bundle **out, struct cert_err *err)
{
	char *text = NULL;
	size_t len;
	int rc = cert_file_read(path, CERT_BUNDLE_MAX, &text, &len, err);

	if (rc < 0)
		return rc;
	rc = cert_bundle_parse(text, len, out, err);
	OPENSSL_clear_free(text, len);
	if (rc < 0)
		cert_err_prefix(err, rc, "%s: ", path);
	return rc;
}

int cert_bundle_build(const struct cert_ca *ca, X509 *cert, EVP_PKEY *key,
                      const char *const *bootstrap, size_t n_bootstrap, struct cert_bundle **out,
                      struct cert_err *err)
{
	struct cert_bundle *b;
	char *ca_pem = NULL, *crl_pem = NULL, net[CERT_NET_STR];
	int rc;

	bundle_json_init();
	if (!(b = calloc(1, sizeof(*b))) || !(b->settings = json_object())) {
		free(b);
		return cert_errf(err, -ENOMEM, "out of memory");
	}
	snprintf(b->namespace, sizeof(b->namespace), "%s", cert_ca_namespace(ca));
	b->network = *cert_ca_network(ca);
	cert_network_format(&b->network, net);
	if ((rc = bootstrap_set(b, bootstrap, n_bootstrap, err)) < 0 ||
	    (rc = cert_x509_to_pem(cert_ca_x509(ca), &ca_pem, err)) < 0 ||
	    (rc = cert_crl_to_pem(cert_ca_crl(ca), &crl_pem, err)) < 0 ||
	    (rc = cert_trust_new(ca_pem, strlen(ca_pem), crl_pem, strlen(crl_pem), b->namespace,
	                         net, &b->trust, err)) < 0)
		goto fail;
	if (!X509_up_ref(cert)) {
		rc = cert_errf(err, -EIO, "reference count failed");
		goto fail;
	}
	b->cert = cert; /* from here on, cert_bundle_free drops the references */
	if (!EVP_PKEY_up_ref(key)) {
		rc = cert_errf(err, -EIO, "reference count failed");
		goto fail;
	}
	b->key = key;
	if ((rc = bundle_check(b, err)) < 0)
		goto fail;
	*out = b;
	goto out;
fail:
	cert_bundle_free(b);
out:
	free(ca_pem);
	free(crl_pem);
	return rc;
}

int cert_bundle_dump(const struct cert_bundle *b, char **out, struct cert_err *err)
{
	char *ca = NULL, *cert = NULL, *key = NULL, *crl = NULL, net[CERT_NET_STR], *text;
	json_t *root = NULL, *boot = NULL;
	const char *k;
	json_t *v;
	int rc;

	bundle_json_init();
	cert_network_format(&b->network, net);
	if ((rc = cert_x509_to_pem(cert_trust_ca(b->trust), &ca, err)) < 0 ||
	    (rc = cert_x509_to_pem(b->cert, &cert, err)) < 0 ||
	    (rc = cert_key_to_pem(b->key, &key, err)) < 0 ||
	    (rc = cert_crl_to_pem(cert_trust_crl(b->trust), &crl, err)) < 0)
		goto out;
	rc = -ENOMEM;
	if (!(boot = json_array()))
		goto out;
	for (size_t i = 0; i < b->n_bootstrap; i++)
		if (json_array_append_new(boot, json_string(b->bootstrap[i])) < 0)
			goto out;
	root = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:s}", "namespace", b->namespace,
	                 "network", net, "bootstrap", boot, "ca", ca, "cert", cert, "key", key,
	                 "crl", crl);
	if (!root)
		goto out;
	json_object_foreach (b->settings, k, v) {
		if (json_object_set(root, k, v) < 0)
			goto out;
	}
	text = cert_json_text(root);
	if (!text)
		goto out;
	*out = text;
	rc = 0;
out:
	if (rc == -ENOMEM)
		cert_errf(err, rc, "out of memory");
	json_decref(root);
	json_decref(boot);
	free(ca);
	free(cert);
	cert_secret_free(key);
	free(crl);
	return rc;
}

int cert_bundle_save(const struct cert_bundle *b, const char *path, struct cert_err *err)
{
	char *text = NULL;
	int rc = cert_bundle_dump(b, &text, err);

	if (rc < 0)
		return rc;
	rc = cert_file_write_atomic(path, text, strlen(text), 0600, err);
	cert_secret_free(text);
	return rc;
}

enum cert_verdict cert_bundle_verify(const struct cert_bundle *b, time_t now,
                                     struct cert_info *info, struct cert_err *err)
{
	return cert_verify(b->trust, b->cert, now, info, err);
}

const char *cert_bundle_namespace(const struct cert_bundle *b)
{
	return b->namespace;
}

const struct cert_network *cert_bundle_network(const struct cert_bundle *b)
{
	return &b->network;
}

size_t cert_bundle_bootstrap_count(const struct cert_bundle *b)
{
	return b->n_bootstrap;
}

const char *cert_bundle_bootstrap(const struct cert_bundle *b, size_t i)
{
	return i < b->n_bootstrap ? b->bootstrap[i] : NULL;
}

X509 *cert_bundle_cert(const struct cert_bundle *b)
{
	return b->cert;
}

EVP_PKEY *cert_bundle_key(const struct cert_bundle *b)
{
	return b->key;
}

struct cert_trust *cert_bundle_trust(const struct cert_bundle *b)
{
	return b->trust;
}

const char *cert_bundle_setting(const struct cert_bundle *b, const char *key)
{
	return json_string_value(json_object_get(b->settings, key));
}

int cert_bundle_setting_int(const struct cert_bundle *b, const char *key, long long *out)
{
	json_t *v = json_object_get(b->settings, key);

	if (!json_is_integer(v))
		return -ENOENT;
	*out = json_integer_value(v);
	return 0;
}

int cert_bundle_set_setting(struct cert_bundle *b, const char *key, const char *value,
                            struct cert_err *err)
{
	const struct setting *st = setting_find(key);
	json_t *v;
	int rc;

	if (!st)
		return cert_errf(err, -EINVAL, "unknown setting '%.64s'", key);
	if (st->type == SET_INT) {
		char *end;
		long long i;

		errno = 0;
		i = strtoll(value, &end, 10);
		/* strtoll skips leading white space; a setting does not. */
		if (errno || end == value || *end ||
		    !(value[0] == '-' || (value[0] >= '0' && value[0] <= '9')))
			return cert_errf(err, -EINVAL, "setting '%s' must be an integer", key);
		v = json_integer(i);
	} else {
		v = json_string(value);
	}
	if (!v)
		return cert_errf(err, -EINVAL, "setting '%s': not a valid UTF-8 string", key);
	if ((rc = setting_check(st, v, err)) == 0 && json_object_set(b->settings, key, v) < 0)
		rc = cert_errf(err, -ENOMEM, "out of memory");
	json_decref(v);
	return rc;
}
