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

#include <openssl/x509.h>

#include "common/cleanup.h"
#include "resmgr/vcard/card.h"
#include "resmgr/vcard/keywrap.h"

#define SALT_LEN 16
#define HASH_LEN 32

const uint8_t vc_mgmt_default[24] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8};

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
        EVP_PKEY_free(card->pub[i]);
        free(card->sealed[i]);
        free(card->cert[i]);
    }
    for (size_t i = 0; i < card->n_obj; i++)
        free(card->obj[i].data);
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
    case VC_ALG_ECCP384:
        return "eccp384";
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
    else if (name && strcmp(name, "eccp384") == 0)
        *ret_alg = VC_ALG_ECCP384;
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
    if (EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) &&
        strcmp(group, "secp384r1") == 0)
        return VC_ALG_ECCP384;
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
    case VC_ALG_ECCP384:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
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
vc_card_pin_valid(const struct vc_card *card, const char *pin, size_t len)
{
    unsigned lo = card && card->pin_min ? card->pin_min : VC_PIN_MIN_DEFAULT;
    unsigned hi = card && card->pin_max ? card->pin_max : VC_PIN_MAX_DEFAULT;
    return pin && len >= lo && len <= hi && all_digits(pin, len);
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

/* --- keys at rest ----------------------------------------------------------------------- */

EVP_PKEY *
vc_card_slot_pub(const struct vc_card *card, enum vc_slot slot)
{
    if (!card || (unsigned)slot >= VC_SLOT_MAX)
        return NULL;
    return card->pub[slot] ? card->pub[slot] : card->key[slot];
}

size_t
vc_mgmt_key_len(uint8_t alg)
{
    switch (alg) {
    case VC_MGMT_3DES:
    case VC_MGMT_AES192:
        return 24;
    case VC_MGMT_AES128:
        return 16;
    case VC_MGMT_AES256:
        return 32;
    default:
        return 0;
    }
}

void
vc_card_mgmt_key(const struct vc_card *card, uint8_t *ret_alg, const uint8_t **ret_key, size_t *ret_len)
{
    if (card->mgmt_alg && card->mgmt_key_len == vc_mgmt_key_len(card->mgmt_alg)) {
        *ret_alg = card->mgmt_alg;
        *ret_key = card->mgmt_key;
        *ret_len = card->mgmt_key_len;
    } else {
        *ret_alg = VC_MGMT_3DES;
        *ret_key = vc_mgmt_default;
        *ret_len = sizeof(vc_mgmt_default);
    }
}

const struct vc_object *
vc_card_object(const struct vc_card *card, uint32_t tag)
{
    for (size_t i = 0; i < card->n_obj; i++)
        if (card->obj[i].tag == tag)
            return &card->obj[i];
    return NULL;
}

int
vc_card_set_object(struct vc_card *card, uint32_t tag, const uint8_t *data, size_t len)
{
    struct vc_object *o = (struct vc_object *)vc_card_object(card, tag);
    uint8_t *copy = NULL;

    if (len > VC_CERT_MAX)
        return -EINVAL;
    if (!data) {
        if (o) {
            free(o->data);
            *o = card->obj[--card->n_obj];
        }
        return 0;
    }
    if (!o && card->n_obj >= VC_OBJ_MAX)
        return -ENOSPC;
    copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    if (!o)
        o = &card->obj[card->n_obj++];
    else
        free(o->data);
    *o = (struct vc_object){.tag = tag, .data = copy, .len = len};
    return 0;
}

static void
slot_aad(const struct vc_card *card, enum vc_slot slot, uint8_t aad[VC_GUID_LEN + 2])
{
    memcpy(aad, card->guid, VC_GUID_LEN);
    memcpy(aad + VC_GUID_LEN, vc_slot_name(slot), 2);
}

int
vc_card_seal_key(struct vc_card *card, enum vc_slot slot)
{
    uint8_t aad[VC_GUID_LEN + 2], *der = NULL, *blob = NULL, *pub_der = NULL;
    const uint8_t *p;
    size_t blob_len = 0;
    EVP_PKEY *pub;
    int len, pub_len, r;

    if ((unsigned)slot >= VC_SLOT_MAX || !card->key[slot] ||
        (slot == VC_SLOT_9E ? !card->has_store_key : !card->has_kek))
        return -EINVAL;
    len = i2d_PrivateKey(card->key[slot], &der); /* DER RSAPrivateKey / ECPrivateKey */
    pub_len = i2d_PUBKEY(card->key[slot], &pub_der);
    if (len <= 0 || pub_len <= 0) {
        r = -EIO;
        goto out;
    }
    slot_aad(card, slot, aad);
    r = slot == VC_SLOT_9E ? vc_aead_seal(card->store_key, aad, sizeof(aad), der, (size_t)len, &blob, &blob_len)
                           : vc_seal(card->kek_pub, aad, sizeof(aad), der, (size_t)len, &blob, &blob_len);
    if (r < 0)
        goto out;
    p = pub_der;
    pub = d2i_PUBKEY(NULL, &p, pub_len);
    if (!pub) {
        r = -EIO;
        goto out;
    }
    EVP_PKEY_free(card->pub[slot]);
    card->pub[slot] = pub;
    free(card->sealed[slot]);
    card->sealed[slot] = TAKE_PTR(blob);
    card->sealed_len[slot] = blob_len;
out:
    if (der)
        OPENSSL_clear_free(der, len > 0 ? (size_t)len : 0);
    OPENSSL_free(pub_der);
    free(blob);
    return r;
}

/* Decode an opened PKCS#8 blob and check that it matches the public half we had. */
static int
open_slot(struct vc_card *card, enum vc_slot slot, const uint8_t *kek_priv)
{
    uint8_t aad[VC_GUID_LEN + 2], *der = NULL;
    const uint8_t *p;
    size_t len = 0;
    EVP_PKEY *key;
    int r;

    slot_aad(card, slot, aad);
    r = kek_priv ? vc_open(kek_priv, aad, sizeof(aad), card->sealed[slot], card->sealed_len[slot], &der, &len)
                 : vc_aead_open(card->store_key, aad, sizeof(aad), card->sealed[slot], card->sealed_len[slot], &der,
                                &len);
    if (r < 0)
        return r;
    p = der;
    key = d2i_AutoPrivateKey(NULL, &p, (long)len);
    OPENSSL_secure_clear_free(der, len);
    if (!key || vc_alg_of_key(key) == VC_ALG_NONE ||
        (card->pub[slot] && EVP_PKEY_eq(key, card->pub[slot]) != 1)) {
        EVP_PKEY_free(key);
        return -EINVAL;
    }
    EVP_PKEY_free(card->key[slot]);
    card->key[slot] = key;
    return 0;
}

int
vc_card_unlock(struct vc_card *card, const uint8_t kek_priv[32])
{
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        int r;
        if (s == VC_SLOT_9E || !card->sealed[s])
            continue;
        r = open_slot(card, s, kek_priv);
        if (r < 0) {
            vc_card_lock(card);
            return r;
        }
    }
    return 0;
}

int
vc_card_unlock_9e(struct vc_card *card)
{
    if (!card->sealed[VC_SLOT_9E])
        return -ENOENT;
    if (!card->has_store_key)
        return -EACCES;
    return open_slot(card, VC_SLOT_9E, NULL);
}

void
vc_card_lock(struct vc_card *card)
{
    for (int s = 0; s < VC_SLOT_MAX; s++)
        if (s != VC_SLOT_9E && card->sealed[s]) {
            EVP_PKEY_free(card->key[s]); /* providers wipe private key material on free */
            card->key[s] = NULL;
        }
}

static int
wrap_ref(struct vc_card *card, struct vc_ref *ref, const char *what, const char *secret, size_t len,
         const uint8_t kek_priv[32], unsigned log2n)
{
    uint8_t aad[VC_GUID_LEN + 3];

    memcpy(aad, card->guid, VC_GUID_LEN);
    memcpy(aad + VC_GUID_LEN, what, 3);
    ref->hash[0] = '\0';
    return vc_pw_wrap(secret, len, aad, sizeof(aad), log2n, kek_priv, 32, ref->wrap, sizeof(ref->wrap),
                      &ref->wrap_len);
}

int
vc_card_rewrap(struct vc_card *card, bool puk, const char *secret, size_t len, const uint8_t kek_priv[32],
               unsigned log2n)
{
    return wrap_ref(card, puk ? &card->auth.puk : &card->auth.pin, puk ? "puk" : "pin", secret, len, kek_priv,
                    log2n);
}

int
vc_card_open_ref(const struct vc_card *card, bool puk, const char *secret, size_t len, uint8_t ret_kek[32])
{
    const struct vc_ref *ref = puk ? &card->auth.puk : &card->auth.pin;
    uint8_t aad[VC_GUID_LEN + 3];
    size_t n = 0;
    int r;

    memcpy(aad, card->guid, VC_GUID_LEN);
    memcpy(aad + VC_GUID_LEN, puk ? "puk" : "pin", 3);
    r = vc_pw_unwrap(secret, len, aad, sizeof(aad), ref->wrap, ref->wrap_len, ret_kek, 32, &n);
    if (r == 0 && n != 32) {
        OPENSSL_cleanse(ret_kek, 32);
        return -EINVAL;
    }
    return r;
}

int
vc_card_provision(struct vc_card *card, const char *pin, size_t pin_len, const char *puk, size_t puk_len,
                  unsigned log2n)
{
    uint8_t kek[32];
    int r = vc_kek_generate(kek, card->kek_pub);

    if (r == 0)
        r = wrap_ref(card, &card->auth.pin, "pin", pin, pin_len, kek, log2n);
    if (r == 0)
        r = wrap_ref(card, &card->auth.puk, "puk", puk, puk_len, kek, log2n);
    OPENSSL_cleanse(kek, sizeof(kek));
    if (r < 0)
        return r;
    card->has_kek = true;
    card->auth.pin.tries_left = card->auth.pin.tries_max = card->auth.pin.tries_max ? card->auth.pin.tries_max
                                                                                    : VC_PIN_TRIES_DEFAULT;
    card->auth.puk.tries_left = card->auth.puk.tries_max = card->auth.puk.tries_max ? card->auth.puk.tries_max
                                                                                    : VC_PUK_TRIES_DEFAULT;
    for (int s = 0; s < VC_SLOT_MAX; s++)
        if (card->key[s] && (s != VC_SLOT_9E || card->has_store_key) && (r = vc_card_seal_key(card, s)) < 0)
            return r;
    return 0;
}
