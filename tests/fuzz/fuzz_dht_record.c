// SPDX-License-Identifier: MIT
/*
 * fuzz_dht_record — bytes as a run of DHT records (dht/record.h), as a
 * storing node receives them: dht_record_parse() one after another until one
 * fails, and dht_record_verify() on each that parsed, against the simulator
 * crypto of a node in namespace "fuzz" made once at start-up.
 *
 * The fuzzer cannot compute signatures, so on its own it would stop at "bad
 * signature". So each parsed record is also re-signed: a copy gets the
 * signature the sim stand-in expects for its own certificate blob
 * (SHA-512("groupvpn sim sig" || blob || DHT_SIG_CONTEXT || signed bytes)),
 * and that copy reaches the checks behind the signature: namespace, writer.
 *
 * Properties, each an abort() when broken:
 *  - a parsed record obeys the shape parse promises (version, known flags,
 *    lengths, tombstones empty, raw/signed_len/sig pointing into the input)
 *    and parsing advances by exactly raw_len; a failed parse sets the
 *    reader's error flag;
 *  - verify returns one of its documented codes, and says why on refusal;
 *  - a record as given never verifies unless its signature is the sim's;
 *  - a re-signed copy is never refused for its signature, and when it
 *    verifies its writer is the blob's address and its expiry is in range.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW ((time_t)1700000000)
#define FUZZ_TTL ((uint32_t)86400)
#define SIM_CTX  "groupvpn sim sig" /* overlay/crypto_sim.c */
#define CTX_LEN  (sizeof(DHT_SIG_CONTEXT) - 1)

static struct ovl_crypto *crypto;

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_dht_record: property broken: %s%s%s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

/* The signature the sim stand-in expects on rec (same layout as rec->sig). */
static void sim_signature(const struct dht_record *rec, uint8_t sig[OVL_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) ||
	    !EVP_DigestUpdate(ctx, SIM_CTX, strlen(SIM_CTX)) ||
	    !EVP_DigestUpdate(ctx, rec->cert, rec->clen) ||
	    !EVP_DigestUpdate(ctx, DHT_SIG_CONTEXT, CTX_LEN) ||
	    !EVP_DigestUpdate(ctx, rec->raw, rec->signed_len) ||
	    !EVP_DigestFinal_ex(ctx, sig, &n) || n != OVL_SIG_LEN)
		die("cannot compute the sim signature", NULL);
	EVP_MD_CTX_free(ctx);
}

static void check_shape(const struct dht_record *rec, const uint8_t *at, size_t consumed)
{
	if (rec->raw != at || rec->raw_len != consumed)
		die("raw is not the bytes parse consumed", NULL);
	if (rec->raw_len != DHT_REC_FIXED + (size_t)rec->vlen + rec->clen)
		die("raw_len is not the sum of the parts", NULL);
	if (rec->raw[0] != DHT_REC_VERSION || (rec->flags & ~DHT_REC_FLAGS))
		die("unknown version or flags parsed", NULL);
	if (rec->vlen > DHT_VALUE_MAX || ((rec->flags & DHT_REC_TOMBSTONE) && rec->vlen))
		die("value length out of shape", NULL);
	if (rec->clen < 1 || rec->clen > OVL_CERT_WIRE_MAX)
		die("certificate length out of range", NULL);
	if (rec->signed_len != (size_t)(rec->value - rec->raw) + rec->vlen ||
	    rec->sig != rec->raw + rec->raw_len - OVL_SIG_LEN ||
	    rec->cert != rec->value + rec->vlen + 2)
		die("pointers do not match the wire form", NULL);
}

/* rc is a documented code, and a refusal says why. */
static void check_rc(int rc, const char *why, const char *what)
{
	if (rc != 0 && rc != -EINVAL && rc != -EPERM && rc != -EBADMSG && rc != -ETIME &&
	    rc != -ERANGE)
		die(what, "undocumented return code");
	if (rc < 0 && !why[0])
		die(what, "refused without saying why");
}

/* Verify a re-signed copy of rec: it gets past the signature. */
static void check_resigned(const struct dht_record *rec)
{
	static uint8_t copy[DHT_RECORD_MAX];
	struct wire_reader r = wire_reader(copy, rec->raw_len);
	struct dht_record again;
	struct cert_info signer;
	char why[256] = "";
	int rc;

	memcpy(copy, rec->raw, rec->raw_len);
	sim_signature(rec, copy + rec->raw_len - OVL_SIG_LEN);
	if (dht_record_parse(&r, &again) < 0 || !wire_done(&r))
		die("a record no longer parses with another signature", NULL);
	rc = dht_record_verify(crypto, FUZZ_NOW, FUZZ_TTL, &again, &signer, why, sizeof(why));
	check_rc(rc, why, "re-signed copy");
	if (rc == -EBADMSG)
		die("re-signed copy refused for its signature", why);
	if (rc == 0) {
		if (memcmp(signer.addr.b, again.writer.b, CERT_ADDR_LEN) != 0 ||
		    memcmp(again.cert, again.writer.b, CERT_ADDR_LEN) != 0)
			die("verified, yet the writer is not the certificate's address", NULL);
		if (again.expires <= (uint64_t)FUZZ_NOW ||
		    again.expires > (uint64_t)FUZZ_NOW + FUZZ_TTL + DHT_SKEW_S)
			die("verified, yet expired or expiring too late", NULL);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cert_info self;
	struct cert_addr key;
	uint8_t buf[DHT_RECORD_MAX];
	struct wire_reader r;
	struct dht_record rec;
	char why[256] = "";
	size_t len = 0;

	(void)argc;
	(void)argv;
	memset(&self, 0, sizeof(self));
	snprintf(self.name, sizeof(self.name), "reader");
	snprintf(self.namespace, sizeof(self.namespace), "fuzz");
	memset(self.addr.b, 0x30, CERT_ADDR_LEN);
	if (ovl_crypto_sim_new(&self, &crypto) < 0)
		die("start-up: sim crypto", NULL);
	/* The harness's own record must verify, and its re-signing must agree with the sim's. */
	dht_key_of("fuzz", (const uint8_t *)"k", 1, &key);
	if (dht_record_build(crypto, &key, 1, FUZZ_NOW + 60, 0, (const uint8_t *)"v", 1, buf,
	                     sizeof(buf), &len) < 0)
		die("start-up: build", NULL);
	r = wire_reader(buf, len);
	if (dht_record_parse(&r, &rec) < 0 ||
	    dht_record_verify(crypto, FUZZ_NOW, FUZZ_TTL, &rec, NULL, why, sizeof(why)) < 0)
		die("start-up: own record refused", why);
	{
		uint8_t sig[OVL_SIG_LEN];

		sim_signature(&rec, sig);
		if (memcmp(sig, rec.sig, OVL_SIG_LEN) != 0)
			die("start-up: re-signing differs from the sim's signature", NULL);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_reader r = wire_reader(data, size);

	while (wire_remaining(&r) > 0) {
		size_t before = r.off;
		struct dht_record rec;
		uint8_t sim_sig[OVL_SIG_LEN];
		char why[256] = "";
		int rc;

		if (dht_record_parse(&r, &rec) < 0) {
			if (wire_ok(&r))
				die("parse failed but left the reader good", NULL);
			break;
		}
		check_shape(&rec, data + before, r.off - before);
		rc = dht_record_verify(crypto, FUZZ_NOW, FUZZ_TTL, &rec, NULL, why, sizeof(why));
		check_rc(rc, why, "record as given");
		if (rc == 0) {
			sim_signature(&rec, sim_sig);
			if (CRYPTO_memcmp(sim_sig, rec.sig, OVL_SIG_LEN) != 0)
				die("verified with a signature that is not the sim's", NULL);
		}
		check_resigned(&rec);
	}
	return 0;
}
