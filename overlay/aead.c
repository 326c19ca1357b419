// SPDX-License-Identifier: MIT
/* aead — EVP AEAD with per-packet nonce and no per-packet allocation. */
#include "aead.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* A session seals with one key and opens with the other, so each context is
 * made on first use: half the memory (an EVP context with its key schedule is
 * about a kilobyte), which matters with thousands of links in one process. */
struct ovl_aead {
	enum ovl_aead_alg alg;
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	uint8_t key[OVL_AEAD_KEY_LEN]; /* until both contexts exist */
	bool key_held;
};

const char *ovl_aead_alg_name(enum ovl_aead_alg alg)
{
	switch (alg) {
	case OVL_AEAD_AES256GCM:
		return "aes-256-gcm";
	case OVL_AEAD_CHACHA20POLY1305:
		return "chacha20-poly1305";
	case OVL_AEAD_MAX:
		break;
	}
	return "?";
}

static const EVP_CIPHER *cipher_of(enum ovl_aead_alg alg)
{
	return alg == OVL_AEAD_AES256GCM ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
}

void ovl_aead_free(struct ovl_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->enc); /* frees and cleanses the key schedule */
	EVP_CIPHER_CTX_free(a->dec);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

int ovl_aead_new(enum ovl_aead_alg alg, const uint8_t key[OVL_AEAD_KEY_LEN], struct ovl_aead **out)
{
	struct ovl_aead *a;

	if ((unsigned)alg >= OVL_AEAD_MAX)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->alg = alg;
	memcpy(a->key, key, OVL_AEAD_KEY_LEN);
	a->key_held = true;
	*out = a;
	return 0;
}

/* The context for one direction, made with the key on first use. */
static EVP_CIPHER_CTX *ctx_of(struct ovl_aead *a, bool enc)
{
	EVP_CIPHER_CTX **c = enc ? &a->enc : &a->dec;

	if (*c)
		return *c;
	if (!a->key_held)
		return NULL;
	*c = EVP_CIPHER_CTX_new();
	if (!*c || !EVP_CipherInit_ex(*c, cipher_of(a->alg), NULL, a->key, NULL, enc ? 1 : 0)) {
		EVP_CIPHER_CTX_free(*c);
		*c = NULL;
		return NULL;
	}
	if (a->enc && a->dec) {
		OPENSSL_cleanse(a->key, sizeof(a->key));
		a->key_held = false;
	}
	return *c;
}

static void nonce_of(uint64_t counter, uint8_t nonce[12])
{
	nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

int ovl_aead_seal(struct ovl_aead *a, uint64_t counter, const uint8_t *aad, size_t aad_len,
                  const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[12];
	int n, fin;

	EVP_CIPHER_CTX *c = ctx_of(a, true);

	if (len > INT_MAX || aad_len > INT_MAX)
		return -EINVAL;
	if (!c)
		return -EIO;
	nonce_of(counter, nonce);
	if (!EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) ||
	    (aad_len && !EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len)) ||
	    !EVP_EncryptUpdate(c, out, &n, pt, (int)len) ||
	    !EVP_EncryptFinal_ex(c, out + n, &fin) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, OVL_AEAD_TAG_LEN, out + len))
		return -EIO;
	return 0;
}

int ovl_aead_open(struct ovl_aead *a, uint64_t counter, const uint8_t *aad, size_t aad_len,
                  const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint8_t nonce[12], tag[OVL_AEAD_TAG_LEN];
	size_t len;
	int n, fin;

	EVP_CIPHER_CTX *c;

	if (ct_len < OVL_AEAD_TAG_LEN || ct_len > INT_MAX || aad_len > INT_MAX)
		return -EBADMSG;
	c = ctx_of(a, false);
	if (!c)
		return -EBADMSG;
	len = ct_len - OVL_AEAD_TAG_LEN;
	/* Copy the tag first: out may overlap ct. */
	for (size_t i = 0; i < OVL_AEAD_TAG_LEN; i++)
		tag[i] = ct[len + i];
	nonce_of(counter, nonce);
	if (!EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) ||
	    (aad_len && !EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len)) ||
	    !EVP_DecryptUpdate(c, out, &n, ct, (int)len) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, OVL_AEAD_TAG_LEN, tag) ||
	    EVP_DecryptFinal_ex(c, out + n, &fin) != 1)
		return -EBADMSG;
	return 0;
}
