/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Keys at rest for the virtual card, all through OpenSSL 3: a secret wrapped under a
 * password (scrypt + AES-256-GCM), a per-card X25519 key-encryption key (KEK) that data is
 * sealed to (ECDH + HKDF-SHA256 + AES-256-GCM), and AES-256-GCM under a raw 32-byte key.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define VC_KEK_LEN 32             /* bytes of an X25519 private or public key */
#define VC_WRAP_MAX 96            /* bytes of a password-wrapped KEK (vc_pw_wrap) */
#define VC_SCRYPT_LOG2N_DEFAULT 16 /* N = 65536, r = 8, p = 1: 64 MiB, ~0.2 s (see README) */
#define VC_SCRYPT_LOG2N_MIN 10     /* tests only */
#define VC_SCRYPT_LOG2N_MAX 22

/**
 * Wrap @p plain under a password: scrypt(pw, 16-byte random salt, N = 2^log2n, r 8, p 1)
 * gives an AES-256-GCM key; @p aad (e.g. card GUID ‖ "pin") is authenticated.
 * @param[out] out       blob: 'S' log2n salt(16) nonce(12) ciphertext tag(16)
 * @param[in]  out_size  at least 46 + plain_len (VC_WRAP_MAX for a KEK)
 * @param[out] ret_len   bytes written
 * @return 0; -EINVAL log2n out of range or buffer too small; -EIO OpenSSL failure
 */
int vc_pw_wrap(const void *pw, size_t pw_len, const void *aad, size_t aad_len, unsigned log2n,
               const uint8_t *plain, size_t plain_len, uint8_t *out, size_t out_size, size_t *ret_len);

/**
 * Undo vc_pw_wrap(). Costs one scrypt run.
 * @param[out] out  plaintext (wipe it after use); @p out_size at least blob_len - 46
 * @return 0; -EACCES wrong password (or tampered blob / other aad); -EINVAL malformed blob;
 *         -EIO OpenSSL failure (e.g. scrypt memory limit)
 */
int vc_pw_unwrap(const void *pw, size_t pw_len, const void *aad, size_t aad_len, const uint8_t *blob,
                 size_t blob_len, uint8_t *out, size_t out_size, size_t *ret_len);

/** scrypt log2(N) recorded in a vc_pw_wrap() blob; 0 for a malformed blob. */
unsigned vc_pw_wrap_cost(const uint8_t *blob, size_t blob_len);

/** New X25519 key pair (raw 32-byte halves). 0; -EIO. Wipe @p priv after use. */
int vc_kek_generate(uint8_t priv[VC_KEK_LEN], uint8_t pub[VC_KEK_LEN]);

/**
 * Seal @p plain to a KEK public key: ephemeral X25519, HKDF-SHA256 over the shared secret
 * (salt = ephemeral ‖ KEK public key), AES-256-GCM with @p aad.
 * @param[out] ret_blob  malloc'd 'X' eph(32) nonce(12) ciphertext tag(16), free()
 * @return 0; -ENOMEM; -EIO OpenSSL failure
 */
int vc_seal(const uint8_t kek_pub[VC_KEK_LEN], const void *aad, size_t aad_len, const uint8_t *plain,
            size_t plain_len, uint8_t **ret_blob, size_t *ret_len);

/**
 * Open a vc_seal() blob with the KEK private key.
 * @param[out] ret_plain  OPENSSL_secure_malloc'd plaintext, free with OPENSSL_secure_clear_free(p, len)
 * @return 0; -EACCES wrong key or tampered; -EINVAL malformed; -ENOMEM; -EIO
 */
int vc_open(const uint8_t kek_priv[VC_KEK_LEN], const void *aad, size_t aad_len, const uint8_t *blob,
            size_t blob_len, uint8_t **ret_plain, size_t *ret_len);

/** AES-256-GCM under a raw key: blob 'A' nonce(12) ciphertext tag(16), malloc'd. 0; -ENOMEM; -EIO. */
int vc_aead_seal(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *plain, size_t plain_len,
                 uint8_t **ret_blob, size_t *ret_len);

/** Open a vc_aead_seal() blob; plaintext as for vc_open(). 0; -EACCES; -EINVAL; -ENOMEM; -EIO. */
int vc_aead_open(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *blob, size_t blob_len,
                 uint8_t **ret_plain, size_t *ret_len);
