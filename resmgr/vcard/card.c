/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Virtual PIV card model: slots and algorithms, key generation, and the salted
 * PBKDF2 hashes that stand for the PIN and PUK (they are never stored in clear).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "common/cleanup.h"
#include "resmgr/vcard/card.h"

#define SALT_LEN 16
#define HASH_LEN 32

static const uint8_t slot_keyref[VC_SLOT_MAX] = {0x9a, 0x9c, 0x9d, 0x9e};
static const char *const slot_names[VC_SLOT_MAX] = {"9a", "9c", "9d", "9e"};

struct vc_card *
vc_card_new(void)
{
    return calloc(1, sizeof(struct vc_card));
}

void
vc_card_free(struct vc_card *card)
{
    if (!card)
        return;
    for (int i = 0; i < VC_SLOT_MAX; i++) {
        EVP_PKEY_free(card->key[i]);
        free(card->cert[i]);
    }
    OPENSSL_cleanse(card, sizeof(*card));
    free(card);
}

int
vc_card_set_cert(struct vc_card *card, enum vc_slot slot, const uint8_t *der, size_t len)
{
    uint8_t *copy = NULL;

    if ((unsigned)slot >= VC_SLOT_MAX || len > VC_CERT_MAX || (!der && len))
        return -EINVAL;
    if (der && len) {
        copy = malloc(len);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, der, len);
    }
    free(card->cert[slot]);
    card->cert[slot] = copy;
    card->cert_len[slot] = copy ? len : 0;
    return 0;
}

int
vc_slot_from_keyref(uint8_t keyref)
{
    for (int i = 0; i < VC_SLOT_MAX; i++)
        if (slot_keyref[i] == keyref)
            return i;
    return -EINVAL;
}

uint8_t
vc_slot_keyref(enum vc_slot slot)
{
    return (unsigned)slot < VC_SLOT_MAX ? slot_keyref[slot] : 0;
}

int
vc_slot_from_name(const char *name)
{
    for (int i = 0; i < VC_SLOT_MAX; i++)
        if (name && strcasecmp(name, slot_names[i]) == 0)
            return i;
    return -EINVAL;
}

const char *
vc_slot_name(enum vc_slot slot)
{
    return (unsigned)slot < VC_SLOT_MAX ? slot_names[slot] : "?";
}

const char *
vc_alg_name(enum vc_alg alg)
{
    switch (alg) {
    case VC_ALG_RSA2048:
        return "rsa2048";
    case VC_ALG_ECCP256:
        return "eccp256";
    default:
        return "none";
    }
}

int
vc_alg_from_name(const char *name, enum vc_alg *ret_alg)
{
    if (name && strcmp(name, "rsa2048") == 0)
        *ret_alg = VC_ALG_RSA2048;
    else if (name && strcmp(name, "eccp256") == 0)
        *ret_alg = VC_ALG_ECCP256;
    else
        return -EINVAL;
    return 0;
}

enum vc_alg
vc_alg_of_key(const EVP_PKEY *key)
{
    char group[32];

    if (!key)
        return VC_ALG_NONE;
    if (EVP_PKEY_is_a(key, "RSA"))
        return EVP_PKEY_get_bits(key) == 2048 ? VC_ALG_RSA2048 : VC_ALG_NONE;
    if (EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) &&
        strcmp(group, "prime256v1") == 0)
        return VC_ALG_ECCP256;
    return VC_ALG_NONE;
}

int
vc_key_generate(enum vc_alg alg, EVP_PKEY **ret_key)
{
    EVP_PKEY *key;

    switch (alg) {
    case VC_ALG_RSA2048:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case VC_ALG_ECCP256:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    default:
        return -EINVAL;
    }
    if (!key)
        return -EIO;
    *ret_key = key;
    return 0;
}

static bool
all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool
vc_pin_valid(const char *pin, size_t len)
{
    return pin && len >= 6 && len <= 8 && all_digits(pin, len);
}

bool
vc_puk_valid(const char *puk, size_t len)
{
    return puk && len == 8 && all_digits(puk, len);
}

static void
to_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static int
from_hex(const char *in, size_t in_len, uint8_t *out, size_t out_len)
{
    if (in_len != 2 * out_len)
        return -EINVAL;
    for (size_t i = 0; i < in_len; i++) {
        char c = in[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -EINVAL;
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : v << 4);
    }
    return 0;
}

static int
pbkdf2(const void *secret, size_t len, const uint8_t *salt, unsigned iterations, uint8_t out[HASH_LEN])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_PBKDF2, NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)secret, len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, SALT_LEN),
        OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iterations),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int r = ctx && EVP_KDF_derive(ctx, out, HASH_LEN, params) == 1 ? 0 : -EIO;

    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return r;
}

int
vc_secret_hash(const void *secret, size_t len, unsigned iterations, char ret_record[VC_HASH_MAX])
{
    uint8_t salt[SALT_LEN], hash[HASH_LEN];
    char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
    int r;

    if (iterations == 0)
        return -EINVAL;
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -EIO;
    r = pbkdf2(secret, len, salt, iterations, hash);
    if (r < 0)
        return r;
    to_hex(salt, sizeof(salt), salt_hex);
    to_hex(hash, sizeof(hash), hash_hex);
    snprintf(ret_record, VC_HASH_MAX, "pbkdf2-sha256$%u$%s$%s", iterations, salt_hex, hash_hex);
    OPENSSL_cleanse(hash, sizeof(hash));
    return 0;
}

int
vc_secret_check(const char *record, const void *secret, size_t len)
{
    static const char prefix[] = "pbkdf2-sha256$";
    uint8_t salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
    const char *p, *salt_end;
    char *end;
    unsigned long iter;
    int r;

    if (!record || strncmp(record, prefix, sizeof(prefix) - 1) != 0)
        return -EINVAL;
    p = record + sizeof(prefix) - 1;
    errno = 0;
    iter = strtoul(p, &end, 10);
    if (errno || end == p || *end != '$' || iter == 0 || iter > 100000000ul)
        return -EINVAL;
    p = end + 1;
    salt_end = strchr(p, '$');
    if (!salt_end || from_hex(p, (size_t)(salt_end - p), salt, sizeof(salt)) < 0 ||
        from_hex(salt_end + 1, strlen(salt_end + 1), want, sizeof(want)) < 0)
        return -EINVAL;
    r = pbkdf2(secret, len, salt, (unsigned)iter, got);
    if (r == 0)
        r = CRYPTO_memcmp(got, want, sizeof(got)) == 0 ? 0 : -EACCES;
    OPENSSL_cleanse(got, sizeof(got));
    return r;
}
