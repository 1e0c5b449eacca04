/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-memory model of one virtual PIV card: GUID, per-slot key and certificate,
 * PIN/PUK reference data (salted PBKDF2 hashes) and their retry counters. Shared by
 * the applet (piv.c), the card store (store.c), the IFD handler and scard-vcard.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define VC_GUID_LEN 16
#define VC_HASH_MAX 160          /* bytes incl. NUL of a PIN/PUK hash record */
#define VC_PBKDF2_ITERATIONS 200000u /* ~60 ms per check on a 2020s x86 core */
#define VC_PIN_TRIES_DEFAULT 5u
#define VC_PUK_TRIES_DEFAULT 3u
#define VC_CERT_MAX 16000u /* bytes of DER; far above SP 800-73-4's 1,858-byte 9A container */

/** PIV cryptographic algorithm identifiers (SP 800-78-4 Table 6-2). */
enum vc_alg {
    VC_ALG_NONE = 0x00,
    VC_ALG_RSA2048 = 0x07,
    VC_ALG_ECCP256 = 0x11,
};

/** The four PIV key slots this card implements (SP 800-73-4 Part 1 Table 4b). */
enum vc_slot {
    VC_SLOT_9A, /* PIV Authentication, PIN */
    VC_SLOT_9C, /* Digital Signature, PIN (always) */
    VC_SLOT_9D, /* Key Management, PIN */
    VC_SLOT_9E, /* Card Authentication, no PIN */
    VC_SLOT_MAX,
};

/** One reference-data object (PIN "80" or PUK "81"). */
struct vc_ref {
    char hash[VC_HASH_MAX]; /* "pbkdf2-sha256$<iter>$<salt hex>$<hash hex>", "" = unset */
    unsigned tries_left;
    unsigned tries_max;
};

/** The mutable, persistent authentication state of a card. */
struct vc_auth {
    struct vc_ref pin;
    struct vc_ref puk;
};

struct vc_card {
    uint8_t guid[VC_GUID_LEN];
    enum vc_alg alg; /* algorithm of the 9A key chosen at creation */
    EVP_PKEY *key[VC_SLOT_MAX];  /* private keys, NULL = slot empty */
    uint8_t *cert[VC_SLOT_MAX];  /* DER certificates, NULL = none */
    size_t cert_len[VC_SLOT_MAX];
    struct vc_auth auth;
};

/** New empty card (all slots empty, no PIN/PUK); NULL on -ENOMEM. Free with vc_card_free(). */
struct vc_card *vc_card_new(void);

/** Free a card, its keys and certificates, wiping the reference data. Accepts NULL. */
void vc_card_free(struct vc_card *card);

static inline void
vc_card_freep(struct vc_card **c)
{
    vc_card_free(*c);
}
#define _cleanup_card_ __attribute__((cleanup(vc_card_freep)))

/**
 * Replace the certificate of a slot by a copy of @p der (NULL/0 removes it).
 * @return 0; -EINVAL bad slot or size above VC_CERT_MAX; -ENOMEM
 */
int vc_card_set_cert(struct vc_card *card, enum vc_slot slot, const uint8_t *der, size_t len);

/** Slot for a PIV key reference (0x9A, 0x9C, 0x9D, 0x9E); -EINVAL for any other byte. */
int vc_slot_from_keyref(uint8_t keyref);
/** Key reference byte of a slot (0x9A …), 0 for an invalid slot. */
uint8_t vc_slot_keyref(enum vc_slot slot);
/** Slot from its name "9a"/"9A" … ; -EINVAL otherwise. */
int vc_slot_from_name(const char *name);
/** Lower-case name "9a" … of a slot; "?" for an invalid one. */
const char *vc_slot_name(enum vc_slot slot);

/** "rsa2048" / "eccp256" / "none". */
const char *vc_alg_name(enum vc_alg alg);
/** Parse "rsa2048" / "eccp256"; -EINVAL otherwise. */
int vc_alg_from_name(const char *name, enum vc_alg *ret_alg);
/** The PIV algorithm of a key (RSA 2048-bit or EC on P-256), VC_ALG_NONE for any other key. */
enum vc_alg vc_alg_of_key(const EVP_PKEY *key);

/**
 * Generate a fresh private key.
 * @param[in]  alg      VC_ALG_RSA2048 or VC_ALG_ECCP256
 * @param[out] ret_key  new key, free with EVP_PKEY_free(); untouched on failure
 * @return 0; -EINVAL other algorithm; -EIO OpenSSL failure
 */
int vc_key_generate(enum vc_alg alg, EVP_PKEY **ret_key);

/** PIN policy of this card: 6–8 ASCII digits (SP 800-73-4 allows 6–8 characters). */
bool vc_pin_valid(const char *pin, size_t len);
/** PUK policy of this card: exactly 8 ASCII digits. */
bool vc_puk_valid(const char *puk, size_t len);

/**
 * Hash a PIN or PUK for storage: PBKDF2-HMAC-SHA256 (OpenSSL EVP_KDF), 16-byte random salt.
 * @param[in]  secret      the secret bytes (not necessarily NUL-terminated), never logged
 * @param[in]  len         its length in bytes
 * @param[in]  iterations  PBKDF2 iteration count (VC_PBKDF2_ITERATIONS; tests use fewer)
 * @param[out] ret_record  "pbkdf2-sha256$<iter>$<salt hex>$<hash hex>", NUL-terminated
 * @return 0; -EINVAL iterations 0; -EIO OpenSSL failure (no RNG, no KDF)
 */
int vc_secret_hash(const void *secret, size_t len, unsigned iterations, char ret_record[VC_HASH_MAX]);

/**
 * Check a secret against a record made by vc_secret_hash() (constant-time compare).
 * @return 0 match; -EACCES mismatch; -EINVAL malformed record; -EIO OpenSSL failure
 */
int vc_secret_check(const char *record, const void *secret, size_t len);
