/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PKCS#11 side of pam_scard, through libp11: load the module once, find the tokens of
 * the cards in the given readers, list their sign-in certificates (PIV slot 9A = CKA_ID 01,
 * or every certificate when asked), verify or change the PIN, log out and unload the module
 * again (C_Finalize) before libkrb5 loads it for PKINIT.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

struct pamsc_args;
struct pamsc_token;

/* One certificate found on a token; every pointer is owned by the struct pamsc_token. */
struct pamsc_token_cert {
    const char *reader;      /* PC/SC reader name of the card (one of those asked for) */
    const char *label;       /* token label (e.g. "alice" for an OpenSC PIV card) */
    unsigned long slot_id;   /* PKCS#11 slot id, as MIT PKINIT's "slotid=" expects it */
    const uint8_t *id;       /* CKA_ID, id_len bytes (PIV 9A = {0x01}, OpenSC pkcs15-piv.c) */
    size_t id_len;
    X509 *cert;              /* the certificate */
    bool pin_locked;         /* CKF_USER_PIN_LOCKED: the PIN is blocked */
    bool protected_path;     /* CKF_PROTECTED_AUTHENTICATION_PATH: PIN entered on the reader */
};

/**
 * Load a PKCS#11 module, find the tokens of the cards in @p readers and list their
 * certificates: by default only the one with CKA_ID @p cert_id (the sign-in certificate),
 * with @p all every certificate of the token (windows.md §2.3 ForceReadingAllCertificates).
 * @param[in]  module     path of the PKCS#11 module (e.g. opensc-pkcs11.so)
 * @param[in]  readers    @p nreaders PC/SC reader names; a slot belongs to a reader when its
 *                        description or manufacturer is the name (OpenSC copies the reader
 *                        name there, cut at 64 bytes)
 * @param[in]  cert_id    CKA_ID of the sign-in certificate, @p id_len bytes
 * @param[in]  all        list every certificate, not only @p cert_id
 * @param[out] ret_token  new handle with ≥ 1 certificate, free with pamsc_token_close();
 *                        untouched on failure
 * @return 0; -ELIBBAD the module cannot be loaded; -ENODEV no initialised token in those
 *         readers; -ENOKEY tokens, but no such certificate; -ENOMEM; -EIO (all logged)
 */
int pamsc_token_open(const struct pamsc_args *args, const char *module, const char *const *readers,
                     size_t nreaders, const uint8_t *cert_id, size_t id_len, bool all,
                     struct pamsc_token **ret_token);

/** Number of certificates found (≥ 1). */
size_t pamsc_token_count(const struct pamsc_token *token);

/** Certificate @p i (< pamsc_token_count()), owned by @p token. */
const struct pamsc_token_cert *pamsc_token_get(const struct pamsc_token *token, size_t i);

/**
 * Verify the user PIN on the token holding certificate @p i (C_Login CKU_USER); a session
 * already logged in is logged out first, so that the PIN is really checked. libp11 keeps a
 * copy of the PIN for re-login after fork and wipes it (OPENSSL_cleanse) when the slot is
 * released by pamsc_token_close().
 * @return 0; -EACCES wrong PIN; -EKEYREVOKED PIN blocked; -ENODEV card removed; -EIO (logged)
 */
int pamsc_token_login(const struct pamsc_args *args, struct pamsc_token *token, size_t i, const char *pin);

/**
 * Change the user PIN of the token holding certificate @p i (C_SetPIN in a read-write
 * session, no login needed; OpenSC sends PIV CHANGE REFERENCE DATA, SP 800-73-4 Part 2
 * §3.2.2). A wrong @p old_pin uses one try.
 * @return 0; -EACCES wrong old PIN; -EKEYREVOKED PIN blocked; -ERANGE the new PIN was refused
 *         (CKR_PIN_LEN_RANGE/CKR_PIN_INVALID, or CKR_ARGUMENTS_BAD for a card's 6A 80);
 *         -ENODEV card removed; -EIO (logged). Neither PIN is logged or kept.
 */
int pamsc_token_change_pin(const struct pamsc_args *args, struct pamsc_token *token, size_t i,
                           const char *old_pin, const char *new_pin);

/** Log out where logged in, release the slots and unload the module (C_Finalize). NULL allowed. */
void pamsc_token_close(struct pamsc_token *token);
