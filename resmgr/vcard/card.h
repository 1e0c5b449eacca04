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
#define VC_PUK_TRIES_DEFAULT 5u /* as Windows virtual cards (windows.md §7.2) */
#define VC_PIN_MIN_DEFAULT 6u
#define VC_PIN_MAX_DEFAULT 8u
#define VC_MGMT_KEY_MAX 32u
#define VC_OBJ_MAX 16u     /* PUT DATA objects other than certificates kept per card */
#define VC_CERT_MAX 16000u /* bytes of DER; far above SP 800-73-4's 1,858-byte 9A container */

/** PIV cryptographic algorithm identifiers (SP 800-78-4 Table 6-2). */
enum vc_alg {
    VC_ALG_NONE = 0x00,
    VC_ALG_RSA2048 = 0x07,
    VC_ALG_ECCP256 = 0x11,
    VC_ALG_ECCP384 = 0x14,
};

/** Card management key (9B) algorithms (SP 800-78-4 Table 6-2). */
enum vc_mgmt_alg {
    VC_MGMT_3DES = 0x03,
    VC_MGMT_AES128 = 0x08,
    VC_MGMT_AES192 = 0x0a,
    VC_MGMT_AES256 = 0x0c,
};

/** The well-known default management key (3DES 0102…08 three times), as on new YubiKeys. */
extern const uint8_t vc_mgmt_default[24];

/** The four PIV key slots this card implements (SP 800-73-4 Part 1 Table 4b). */
enum vc_slot {
    VC_SLOT_9A, /* PIV Authentication, PIN */
    VC_SLOT_9C, /* Digital Signature, PIN (always) */
    VC_SLOT_9D, /* Key Management, PIN */
    VC_SLOT_9E, /* Card Authentication, no PIN */
    VC_SLOT_MAX,
};

/*
 * One reference-data object (PIN "80" or PUK "81"). A stored card keeps the card's
 * key-encryption key wrapped under the secret (wrap, keywrap.h: scrypt + AES-GCM): the
 * secret is right exactly when the wrap opens. Cards built in memory only (unit tests,
 * fuzzing) may use a PBKDF2 hash instead; wrap wins when both are set.
 */
struct vc_ref {
    char hash[VC_HASH_MAX]; /* "pbkdf2-sha256$<iter>$<salt hex>$<hash hex>", "" = unset */
    uint8_t wrap[96];       /* vc_pw_wrap() blob of the KEK private key, wrap_len 0 = none */
    size_t wrap_len;
    unsigned tries_left;
    unsigned tries_max;
};

/** The mutable, persistent authentication state of a card. */
struct vc_auth {
    struct vc_ref pin;
    struct vc_ref puk;
};

/** A PUT DATA object other than a certificate container (CHUID, CCC, printed info, …). */
struct vc_object {
    uint32_t tag; /* 0x5FC1xx, 0x7E, … */
    uint8_t *data; /* value of the 53 (or 7E) wrapper, DER TLVs */
    size_t len;
};

struct vc_card {
    uint8_t guid[VC_GUID_LEN];
    enum vc_alg alg; /* algorithm of the 9A key chosen at creation */
    EVP_PKEY *key[VC_SLOT_MAX];  /* private keys usable now (unlocked), NULL = none in memory */
    EVP_PKEY *pub[VC_SLOT_MAX];  /* public halves of stored keys, NULL = slot empty or see key[] */
    uint8_t *sealed[VC_SLOT_MAX]; /* PKCS#8 sealed to the KEK (9E: to the store key), malloc'd */
    size_t sealed_len[VC_SLOT_MAX];
    bool has_kek;                 /* keys at rest: kek_pub valid, keys are sealed */
    uint8_t kek_pub[32];          /* X25519 public half of the card's key-encryption key */
    bool has_store_key;
    uint8_t store_key[32];        /* the store's machine key (9E and management key), secret */
    uint8_t mgmt_alg;             /* enum vc_mgmt_alg; 0 = default 3DES key */
    uint8_t mgmt_key[VC_MGMT_KEY_MAX];
    size_t mgmt_key_len;
    unsigned pin_min, pin_max;    /* PIN length policy, 0 = 6/8 */
    struct vc_object obj[VC_OBJ_MAX];
    size_t n_obj;
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

/** The public key of a slot (pub[], else key[]), NULL when the slot is empty. Borrowed. */
EVP_PKEY *vc_card_slot_pub(const struct vc_card *card, enum vc_slot slot);

/** Management key of the card: the stored one, or the default 3DES key. */
void vc_card_mgmt_key(const struct vc_card *card, uint8_t *ret_alg, const uint8_t **ret_key, size_t *ret_len);

/** Key length of a management key algorithm (24/16/24/32), 0 for an unknown one. */
size_t vc_mgmt_key_len(uint8_t alg);

/** Stored object by tag, NULL when absent. */
const struct vc_object *vc_card_object(const struct vc_card *card, uint32_t tag);

/**
 * Replace (len > 0) or remove (data NULL) a stored object.
 * @return 0; -ENOSPC VC_OBJ_MAX objects already; -EINVAL len above VC_CERT_MAX; -ENOMEM
 */
int vc_card_set_object(struct vc_card *card, uint32_t tag, const uint8_t *data, size_t len);

/**
 * Seal key[slot] (PKCS#8 DER) for storage into sealed[slot]: to the KEK for 9A/9C/9D, under
 * the store key for 9E (SP 800-73-4: 9E needs no PIN). AAD = GUID ‖ slot name. Also sets pub[slot].
 * @return 0; -EINVAL no key or no KEK/store key for that slot; -ENOMEM; -EIO
 */
int vc_card_seal_key(struct vc_card *card, enum vc_slot slot);

/**
 * Open every sealed 9A/9C/9D key into key[] with the KEK private half (after VERIFY).
 * @return 0; -EACCES a blob does not open (wrong KEK, tampered); -EINVAL corrupt key; -ENOMEM; -EIO
 */
int vc_card_unlock(struct vc_card *card, const uint8_t kek_priv[32]);

/** Open the sealed 9E key with the store key. 0; -ENOENT no 9E key; -EACCES; -EINVAL; -EIO. */
int vc_card_unlock_9e(struct vc_card *card);

/** Drop from memory every private key that has a sealed copy (PIN reset, power-down). */
void vc_card_lock(struct vc_card *card);

/**
 * Give a card new keys-at-rest material: a fresh KEK wrapped under @p pin and @p puk
 * (scrypt N = 2^log2n, AAD = GUID ‖ "pin"/"puk"), tries reset to the maxima. Existing keys
 * in key[] are sealed again to the new KEK (the old KEK is forgotten).
 * @return 0; -EINVAL bad log2n; -EIO OpenSSL failure
 */
int vc_card_provision(struct vc_card *card, const char *pin, size_t pin_len, const char *puk, size_t puk_len,
                      unsigned log2n);

/**
 * Try a PIN (@p puk false) or PUK against its wrap: success opens the KEK private half.
 * @param[out] ret_kek  32 bytes, wipe after use
 * @return 0; -EACCES wrong secret; -EINVAL no or corrupt wrap; -EIO
 */
int vc_card_open_ref(const struct vc_card *card, bool puk, const char *secret, size_t len, uint8_t ret_kek[32]);

/** Wrap the KEK private half under a new PIN / PUK (clears any PBKDF2 hash). 0; -EINVAL; -EIO. */
int vc_card_rewrap(struct vc_card *card, bool puk, const char *secret, size_t len, const uint8_t kek_priv[32],
                   unsigned log2n);

/** "rsa2048" / "eccp256" / "eccp384" / "none". */
const char *vc_alg_name(enum vc_alg alg);
/** Parse "rsa2048" / "eccp256" / "eccp384"; -EINVAL otherwise. */
int vc_alg_from_name(const char *name, enum vc_alg *ret_alg);
/** The PIV algorithm of a key (RSA 2048-bit, EC on P-256 or P-384), VC_ALG_NONE for any other key. */
enum vc_alg vc_alg_of_key(const EVP_PKEY *key);

/**
 * Generate a fresh private key.
 * @param[in]  alg      VC_ALG_RSA2048, VC_ALG_ECCP256 or VC_ALG_ECCP384
 * @param[out] ret_key  new key, free with EVP_PKEY_free(); untouched on failure
 * @return 0; -EINVAL other algorithm; -EIO OpenSSL failure
 */
int vc_key_generate(enum vc_alg alg, EVP_PKEY **ret_key);

/** Default PIN policy: 6–8 ASCII digits (SP 800-73-4 Part 2 §3.2.1 allows up to 8). */
bool vc_pin_valid(const char *pin, size_t len);
/** The card's PIN policy: pin_min–pin_max (within 4–8) ASCII digits. */
bool vc_card_pin_valid(const struct vc_card *card, const char *pin, size_t len);
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
