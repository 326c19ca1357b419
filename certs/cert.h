// SPDX-License-Identifier: MIT
/*
 * certs — the group's identity system: group CA, node certificates, CRL,
 * overlay addresses, config bundles and verification. OpenSSL + jansson only.
 *
 * Must not: print, log, read the clock or exit. Every failure comes back as a
 * negative errno (or a verdict) plus, when the caller passes a struct
 * cert_err, one line saying what went wrong. Functions that need "now" take it
 * as an argument, so callers and tests decide what time it is.
 *
 * Ownership words as in jansson: "new" (caller frees), "borrowed" (valid while
 * the owner lives), "steals" (takes over the caller's reference).
 */
#ifndef GVPN_CERTS_CERT_H
#define GVPN_CERTS_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

#define CERT_ADDR_LEN      20 /* 160-bit overlay address */
#define CERT_ADDR_HEX_LEN  (2 * CERT_ADDR_LEN)
#define CERT_NAMESPACE_MAX 64
#define CERT_NAME_MAX      64
#define CERT_SERIAL_MAX    20 /* RFC 5280: at most 20 octets */
#define CERT_SERIAL_HEX    (2 * CERT_SERIAL_MAX)
#define CERT_IP_STR_MAX    46 /* INET6_ADDRSTRLEN */
#define CERT_NET_STR       24 /* "a.b.c.d/n" + NUL, with room */
#define CERT_ERR_MAX       256
#define CERT_PEM_MAX       (64 * 1024)   /* any one PEM object we accept */
#define CERT_BUNDLE_MAX    (1024 * 1024) /* a whole bundle file */
#define CERT_DAYS_MAX      36500
#define CERT_NS_URI_PREFIX "urn:groupvpn:"

/* One line saying what failed; msg is "" when nothing did. */
struct cert_err {
	char msg[CERT_ERR_MAX];
};

/* ---- small value types ---------------------------------------------- */

struct cert_addr {
	uint8_t b[CERT_ADDR_LEN];
};

/* 40 lowercase hex digits + NUL. */
void cert_addr_hex(const struct cert_addr *a, char out[CERT_ADDR_HEX_LEN + 1]);
/* Exactly 40 hex digits (either case). 0 or -EINVAL. */
int cert_addr_from_hex(const char *hex, struct cert_addr *out);

/* IPv4 virtual network of a group, host bits zero, prefix 1..30. */
struct cert_network {
	uint32_t addr; /* host byte order */
	uint8_t prefix;
};
int cert_network_parse(const char *cidr, struct cert_network *out, struct cert_err *err);
/* "a.b.c.d/n". */
void cert_network_format(const struct cert_network *n, char out[CERT_NET_STR]);
/* True if ip (host order) lies in n and is neither its network nor broadcast address. */
bool cert_network_has_host(const struct cert_network *n, uint32_t ip);

/* Names and namespaces: 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool cert_name_valid(const char *s);
/* "host:port": IPv4, [IPv6] or a DNS name; port 1..65535. */
bool cert_endpoint_valid(const char *s);

enum cert_algo {
	CERT_ALGO_ED25519,
	CERT_ALGO_P256,
	CERT_ALGO_MAX,
};
const char *cert_algo_name(enum cert_algo a);
int cert_algo_parse(const char *s, enum cert_algo *out);

/* Why a certificate was refused. Names are what users read: "wrong CA", ... */
enum cert_verdict {
	CERT_VALID,
	CERT_MALFORMED,
	CERT_WRONG_CA,
	CERT_EXPIRED,
	CERT_NOT_YET_VALID,
	CERT_REVOKED,
	CERT_WRONG_NAMESPACE,
	CERT_IP_OUTSIDE_NETWORK,
	CERT_VERDICT_MAX,
};
const char *cert_verdict_name(enum cert_verdict v);

/* What a node certificate says. A plain value, filled by cert_info_get(). */
struct cert_info {
	char name[CERT_NAME_MAX + 1];
	char namespace[CERT_NAMESPACE_MAX + 1];
	struct cert_addr addr;
	bool has_ip;
	char ip[CERT_IP_STR_MAX];
	char serial[CERT_SERIAL_HEX + 1]; /* lowercase hex, no leading zeros */
	time_t not_before;
	time_t not_after;
};

/* ---- files ----------------------------------------------------------- */

/* Reads a whole regular file of at most max bytes; *out is new, NUL-terminated. */
int cert_file_read(const char *path, size_t max, char **out, size_t *len, struct cert_err *err);
/* Writes via a temp file in the same directory, fsync, rename: all or nothing. */
int cert_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                           struct cert_err *err);

/* ---- keys, certificates, addresses ---------------------------------- */

/* A new Ed25519 (or P-256) private key. */
int cert_key_generate(enum cert_algo algo, EVP_PKEY **out, struct cert_err *err);
/* Unencrypted PKCS#8 PEM; *out is new and secret: free with cert_secret_free(). */
int cert_key_to_pem(EVP_PKEY *key, char **out, struct cert_err *err);
/* A new private key from PEM (PKCS#8 or traditional). */
int cert_key_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct cert_err *err);
/* Wipe and free a NUL-terminated secret (NULL is fine). */
void cert_secret_free(char *s);

/* A new X509 from exactly one PEM certificate (trailing whitespace allowed). */
int cert_x509_from_pem(const char *pem, size_t len, X509 **out, struct cert_err *err);
/* *out is new (malloc'd, NUL-terminated). */
int cert_x509_to_pem(X509 *x, char **out, struct cert_err *err);

/* SHA-256(namespace || DER SubjectPublicKeyInfo), first 160 bits. */
int cert_addr_of_key(const char *ns, EVP_PKEY *pub, struct cert_addr *out, struct cert_err *err);

/*
 * Reads a node certificate's name (CN), its one urn:groupvpn: namespace, its
 * optional SAN IP, serial and dates, and derives its overlay address. Does not
 * verify anything: see cert_verify(). -EINVAL with a reason if a field is
 * missing, repeated or out of shape.
 */
int cert_info_get(X509 *x, struct cert_info *out, struct cert_err *err);

/* ---- revocation list ------------------------------------------------- */

struct cert_crl;
/* New; the CRL's signature is not checked here (cert_trust_* does that). */
int cert_crl_from_pem(const char *pem, size_t len, struct cert_crl **out, struct cert_err *err);
/* *out is new. */
int cert_crl_to_pem(const struct cert_crl *crl, char **out, struct cert_err *err);
void cert_crl_free(struct cert_crl *crl);
/* serial: hex as in struct cert_info. */
bool cert_crl_is_revoked(const struct cert_crl *crl, const char *serial);
size_t cert_crl_count(const struct cert_crl *crl);
/* Serial of the i-th entry, hex; 0 or -ERANGE. */
int cert_crl_serial(const struct cert_crl *crl, size_t i, char out[CERT_SERIAL_HEX + 1]);
/* The CRL number extension (grows with every update); 0 when absent. */
uint64_t cert_crl_number(const struct cert_crl *crl);
/* Borrowed. */
X509_CRL *cert_crl_x509(const struct cert_crl *crl);

/* ---- group CA -------------------------------------------------------- */

struct cert_ca;

struct cert_ca_params {
	const char *namespace;
	const char *network; /* IPv4 CIDR */
	enum cert_algo algo;
	time_t not_before;
	time_t not_after;
};

/* New CA: fresh key, self-signed certificate, empty CRL (number 1). */
int cert_ca_create(const struct cert_ca_params *p, struct cert_ca **out, struct cert_err *err);
void cert_ca_free(struct cert_ca *ca);

/*
 * The CA directory: ca.crt, ca.key (0600, PKCS#8 PEM), crl.pem, group.json
 * ({"namespace", "network", "algo"}). save refuses (-EEXIST) to overwrite an
 * existing CA and creates dir (0700) if needed; files are written atomically.
 */
int cert_ca_save_dir(const struct cert_ca *ca, const char *dir, struct cert_err *err);
int cert_ca_load_dir(const char *dir, struct cert_ca **out, struct cert_err *err);
/* Rewrites dir/crl.pem from the CA's current CRL, atomically. */
int cert_ca_save_crl(const struct cert_ca *ca, const char *dir, struct cert_err *err);

const char *cert_ca_namespace(const struct cert_ca *ca);              /* borrowed */
const struct cert_network *cert_ca_network(const struct cert_ca *ca); /* borrowed */
X509 *cert_ca_x509(const struct cert_ca *ca);                         /* borrowed */
const struct cert_crl *cert_ca_crl(const struct cert_ca *ca);         /* borrowed */

struct cert_issue_params {
	const char *name;
	const char *ip; /* optional fixed virtual IPv4, inside the group network */
	time_t not_before;
	time_t not_after; /* clipped to the CA's own notAfter */
};

/*
 * A new node certificate for pub (Ed25519), signed by the CA: CN = name,
 * SAN URI urn:groupvpn:<namespace>, optional SAN IP, random 127-bit serial,
 * digitalSignature, clientAuth + serverAuth.
 */
int cert_ca_issue(struct cert_ca *ca, EVP_PKEY *pub, const struct cert_issue_params *p, X509 **out,
                  struct cert_err *err);

/* Adds serial (hex) to the CRL and re-signs it with a higher CRL number. */
int cert_ca_revoke(struct cert_ca *ca, const char *serial, time_t now, struct cert_err *err);

/* ---- verification ---------------------------------------------------- */

/* What a verifier trusts: one group CA, its CRL, its namespace and network. */
struct cert_trust;

/*
 * New. ca_pem must be a self-signed CA certificate; crl_pem (optional, may be
 * NULL) must be signed by it; network may be NULL (no IP check).
 */
int cert_trust_new(const char *ca_pem, size_t ca_len, const char *crl_pem, size_t crl_len,
                   const char *ns, const char *network, struct cert_trust **out,
                   struct cert_err *err);
/* From a CA directory (ca.crt, crl.pem, group.json). */
int cert_trust_load_ca_dir(const char *dir, struct cert_trust **out, struct cert_err *err);
void cert_trust_free(struct cert_trust *t);

/*
 * Replaces the CRL if the new one is signed by the CA and its number is higher
 * than the current one's. 0 replaced, -EALREADY not newer, -EINVAL bad.
 */
int cert_trust_update_crl(struct cert_trust *t, const char *crl_pem, size_t len,
                          struct cert_err *err);
const struct cert_crl *cert_trust_crl(const struct cert_trust *t); /* borrowed, may be NULL */
const char *cert_trust_namespace(const struct cert_trust *t);      /* borrowed */
X509 *cert_trust_ca(const struct cert_trust *t);                   /* borrowed */

/*
 * Is x a valid member certificate of this group at time now? Checks the
 * signature chain to the CA, dates, the CRL, the namespace URI, the key type
 * (Ed25519) and that a fixed IP lies in the group network. On CERT_VALID
 * (and, where it could be read, on refusal) fills *info if non-NULL.
 */
enum cert_verdict cert_verify(const struct cert_trust *t, X509 *x, time_t now,
                              struct cert_info *info, struct cert_err *err);

/* ---- config bundle --------------------------------------------------- */

/*
 * One JSON object: namespace, network, bootstrap ["host:port", ...], ca, cert,
 * key, crl (PEM strings), plus optional local settings (see docs/bundle.md).
 * Unknown keys and wrong types are errors that name the key.
 */
struct cert_bundle;

/* New. Structural checks: every PEM parses, key matches cert, cert's namespace
 * matches, CRL is signed by the CA. Dates and revocation: cert_bundle_verify. */
int cert_bundle_parse(const char *json, size_t len, struct cert_bundle **out, struct cert_err *err);
int cert_bundle_load(const char *path, struct cert_bundle **out, struct cert_err *err);

/* New bundle for a freshly issued certificate; bootstrap may be NULL when n == 0. */
int cert_bundle_build(const struct cert_ca *ca, X509 *cert, EVP_PKEY *key,
                      const char *const *bootstrap, size_t n_bootstrap, struct cert_bundle **out,
                      struct cert_err *err);
void cert_bundle_free(struct cert_bundle *b);

/* The JSON text; *out is new and secret (holds the key): cert_secret_free(). */
int cert_bundle_dump(const struct cert_bundle *b, char **out, struct cert_err *err);
/* Mode 0600, atomically (temp file in the same directory + fsync + rename). */
int cert_bundle_save(const struct cert_bundle *b, const char *path, struct cert_err *err);

enum cert_verdict cert_bundle_verify(const struct cert_bundle *b, time_t now,
                                     struct cert_info *info, struct cert_err *err);

const char *cert_bundle_namespace(const struct cert_bundle *b);              /* borrowed */
const struct cert_network *cert_bundle_network(const struct cert_bundle *b); /* borrowed */
size_t cert_bundle_bootstrap_count(const struct cert_bundle *b);
const char *cert_bundle_bootstrap(const struct cert_bundle *b, size_t i); /* borrowed */
X509 *cert_bundle_cert(const struct cert_bundle *b);                      /* borrowed */
EVP_PKEY *cert_bundle_key(const struct cert_bundle *b);                   /* borrowed */
struct cert_trust *cert_bundle_trust(const struct cert_bundle *b);        /* borrowed */

/*
 * Local settings (listen, control_socket, state_dir, interface, shortcuts,
 * dht_replicas, ...). get: borrowed string or NULL when unset; for integer
 * settings, get_int returns 0 and fills *out, or -ENOENT. set validates like
 * the parser does (-EINVAL with a reason, bundle unchanged).
 */
const char *cert_bundle_setting(const struct cert_bundle *b, const char *key);
int cert_bundle_setting_int(const struct cert_bundle *b, const char *key, long long *out);
int cert_bundle_set_setting(struct cert_bundle *b, const char *key, const char *value,
                            struct cert_err *err);

#endif
