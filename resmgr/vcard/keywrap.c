/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Key wrapping primitives of the virtual card (keywrap.h): scrypt password wraps, sealing
 * to the card's X25519 KEK, and plain AES-256-GCM. Only EVP_* calls; every intermediate
 * key is wiped with OPENSSL_cleanse() before return.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "resmgr/vcard/keywrap.h"

#define SALT_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define PW_HEAD (2 + SALT_LEN + NONCE_LEN)
#define SEAL_HEAD (1 + VC_KEK_LEN + NONCE_LEN)
#define AEAD_HEAD (1 + NONCE_LEN)

/* AES-256-GCM one shot; on decryption a tag mismatch is -EACCES. */
static int
gcm(int enc, const uint8_t key[32], const uint8_t nonce[NONCE_LEN], const void *aad, size_t aad_len,
    const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n, r = -EIO;

    if (!ctx || len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX)
        goto out;
    if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, enc, NULL) != 1)
        goto out;
    if (aad_len && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        goto out;
    if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
        goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1) {
        r = enc ? -EIO : -EACCES;
        goto out;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
        goto out;
    r = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (r < 0 && !enc && len)
        OPENSSL_cleanse(out, len);
    return r;
}

static int
scrypt(const void *pw, size_t pw_len, const uint8_t *salt, unsigned log2n, uint8_t key[32])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SCRYPT, NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    uint64_t n = (uint64_t)1 << log2n, maxmem = (uint64_t)1 << 31;
    uint32_t rr = 8, p = 1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, pw_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, SALT_LEN),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int r = ctx && EVP_KDF_derive(ctx, key, 32, params) == 1 ? 0 : -EIO;

    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return r;
}

int
vc_pw_wrap(const void *pw, size_t pw_len, const void *aad, size_t aad_len, unsigned log2n, const uint8_t *plain,
           size_t plain_len, uint8_t *out, size_t out_size, size_t *ret_len)
{
    uint8_t key[32];
    int r;

    if (log2n < VC_SCRYPT_LOG2N_MIN || log2n > VC_SCRYPT_LOG2N_MAX || out_size < PW_HEAD + plain_len + TAG_LEN)
        return -EINVAL;
    out[0] = 'S';
    out[1] = (uint8_t)log2n;
    if (RAND_bytes(out + 2, SALT_LEN + NONCE_LEN) != 1)
        return -EIO;
    r = scrypt(pw, pw_len, out + 2, log2n, key);
    if (r == 0)
        r = gcm(1, key, out + 2 + SALT_LEN, aad, aad_len, plain, plain_len, out + PW_HEAD,
                out + PW_HEAD + plain_len);
    OPENSSL_cleanse(key, sizeof(key));
    if (r == 0)
        *ret_len = PW_HEAD + plain_len + TAG_LEN;
    return r;
}

unsigned
vc_pw_wrap_cost(const uint8_t *blob, size_t blob_len)
{
    if (!blob || blob_len < PW_HEAD + TAG_LEN || blob[0] != 'S' || blob[1] < VC_SCRYPT_LOG2N_MIN ||
        blob[1] > VC_SCRYPT_LOG2N_MAX)
        return 0;
    return blob[1];
}

int
vc_pw_unwrap(const void *pw, size_t pw_len, const void *aad, size_t aad_len, const uint8_t *blob, size_t blob_len,
             uint8_t *out, size_t out_size, size_t *ret_len)
{
    unsigned log2n = vc_pw_wrap_cost(blob, blob_len);
    size_t len;
    uint8_t key[32], tag[TAG_LEN];
    int r;

    if (log2n == 0)
        return -EINVAL;
    len = blob_len - PW_HEAD - TAG_LEN;
    if (out_size < len)
        return -EINVAL;
    memcpy(tag, blob + PW_HEAD + len, TAG_LEN);
    r = scrypt(pw, pw_len, blob + 2, log2n, key);
    if (r == 0)
        r = gcm(0, key, blob + 2 + SALT_LEN, aad, aad_len, blob + PW_HEAD, len, out, tag);
    OPENSSL_cleanse(key, sizeof(key));
    if (r == 0)
        *ret_len = len;
    return r;
}

int
vc_kek_generate(uint8_t priv[VC_KEK_LEN], uint8_t pub[VC_KEK_LEN])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    size_t a = VC_KEK_LEN, b = VC_KEK_LEN;
    int r = -EIO;

    if (k && EVP_PKEY_get_raw_private_key(k, priv, &a) == 1 && EVP_PKEY_get_raw_public_key(k, pub, &b) == 1 &&
        a == VC_KEK_LEN && b == VC_KEK_LEN)
        r = 0;
    EVP_PKEY_free(k); /* the provider wipes its copy */
    return r;
}

/* X25519(priv, peer) → HKDF-SHA256(salt = eph ‖ kek_pub, info "scard-vcard seal") → 32 bytes. */
static int
derive(EVP_PKEY *priv, const uint8_t peer_pub[VC_KEK_LEN], const uint8_t salt[2 * VC_KEK_LEN], uint8_t key[32])
{
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, VC_KEK_LEN);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    uint8_t shared[VC_KEK_LEN];
    size_t len = sizeof(shared);
    int r = -EIO;

    if (peer && ctx && kctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
        EVP_PKEY_derive(ctx, shared, &len) == 1 && len == sizeof(shared)) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, 2 * VC_KEK_LEN),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)"scard-vcard seal", 16),
            OSSL_PARAM_construct_end(),
        };
        if (EVP_KDF_derive(kctx, key, 32, params) == 1)
            r = 0;
    }
    OPENSSL_cleanse(shared, sizeof(shared));
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return r;
}

int
vc_seal(const uint8_t kek_pub[VC_KEK_LEN], const void *aad, size_t aad_len, const uint8_t *plain, size_t plain_len,
        uint8_t **ret_blob, size_t *ret_len)
{
    EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    size_t n = VC_KEK_LEN, len = SEAL_HEAD + plain_len + TAG_LEN;
    uint8_t salt[2 * VC_KEK_LEN], key[32];
    uint8_t *blob = malloc(len);
    int r = -EIO;

    if (!blob) {
        r = -ENOMEM;
        goto out;
    }
    blob[0] = 'X';
    if (!eph || EVP_PKEY_get_raw_public_key(eph, blob + 1, &n) != 1 || RAND_bytes(blob + 1 + VC_KEK_LEN, NONCE_LEN) != 1)
        goto out;
    memcpy(salt, blob + 1, VC_KEK_LEN);
    memcpy(salt + VC_KEK_LEN, kek_pub, VC_KEK_LEN);
    r = derive(eph, kek_pub, salt, key);
    if (r == 0)
        r = gcm(1, key, blob + 1 + VC_KEK_LEN, aad, aad_len, plain, plain_len, blob + SEAL_HEAD,
                blob + SEAL_HEAD + plain_len);
    OPENSSL_cleanse(key, sizeof(key));
    if (r == 0) {
        *ret_blob = blob;
        *ret_len = len;
        blob = NULL;
    }
out:
    free(blob);
    EVP_PKEY_free(eph);
    return r;
}

static int
open_common(const uint8_t key[32], const uint8_t *nonce, const void *aad, size_t aad_len, const uint8_t *ct,
            size_t len, uint8_t **ret_plain, size_t *ret_len)
{
    uint8_t tag[TAG_LEN];
    uint8_t *plain = OPENSSL_secure_malloc(len ? len : 1);
    int r;

    if (!plain)
        return -ENOMEM;
    memcpy(tag, ct + len, TAG_LEN);
    r = gcm(0, key, nonce, aad, aad_len, ct, len, plain, tag);
    if (r < 0) {
        OPENSSL_secure_clear_free(plain, len ? len : 1);
        return r;
    }
    *ret_plain = plain;
    *ret_len = len;
    return 0;
}

int
vc_open(const uint8_t kek_priv[VC_KEK_LEN], const void *aad, size_t aad_len, const uint8_t *blob, size_t blob_len,
        uint8_t **ret_plain, size_t *ret_len)
{
    EVP_PKEY *priv;
    uint8_t salt[2 * VC_KEK_LEN], pub[VC_KEK_LEN], key[32];
    size_t n = VC_KEK_LEN;
    int r = -EIO;

    if (!blob || blob_len < SEAL_HEAD + TAG_LEN || blob[0] != 'X')
        return -EINVAL;
    priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, kek_priv, VC_KEK_LEN);
    if (!priv || EVP_PKEY_get_raw_public_key(priv, pub, &n) != 1)
        goto out;
    memcpy(salt, blob + 1, VC_KEK_LEN);
    memcpy(salt + VC_KEK_LEN, pub, VC_KEK_LEN);
    r = derive(priv, blob + 1, salt, key);
    if (r == 0)
        r = open_common(key, blob + 1 + VC_KEK_LEN, aad, aad_len, blob + SEAL_HEAD, blob_len - SEAL_HEAD - TAG_LEN,
                        ret_plain, ret_len);
    OPENSSL_cleanse(key, sizeof(key));
out:
    EVP_PKEY_free(priv);
    return r;
}

int
vc_aead_seal(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *plain, size_t plain_len,
             uint8_t **ret_blob, size_t *ret_len)
{
    size_t len = AEAD_HEAD + plain_len + TAG_LEN;
    uint8_t *blob = malloc(len);
    int r;

    if (!blob)
        return -ENOMEM;
    blob[0] = 'A';
    r = RAND_bytes(blob + 1, NONCE_LEN) == 1 ? 0 : -EIO;
    if (r == 0)
        r = gcm(1, key, blob + 1, aad, aad_len, plain, plain_len, blob + AEAD_HEAD, blob + AEAD_HEAD + plain_len);
    if (r < 0) {
        free(blob);
        return r;
    }
    *ret_blob = blob;
    *ret_len = len;
    return 0;
}

int
vc_aead_open(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *blob, size_t blob_len,
             uint8_t **ret_plain, size_t *ret_len)
{
    if (!blob || blob_len < AEAD_HEAD + TAG_LEN || blob[0] != 'A')
        return -EINVAL;
    return open_common(key, blob + 1, aad, aad_len, blob + AEAD_HEAD, blob_len - AEAD_HEAD - TAG_LEN, ret_plain,
                       ret_len);
}
