/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PKCS#11 side of pam_scard, through libp11: find the token in a given reader,
 * pick its sign-in certificate (PIV slot 9A = CKA_ID 01), verify the PIN, log out and
 * unload the module again (C_Finalize) before libkrb5 loads it for PKINIT.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

struct pamsc_args;
struct pamsc_token;

/**
 * Load a PKCS#11 module and find the token in @p reader holding a certificate with @p cert_id.
 * @param[in]  module      path of the PKCS#11 module (e.g. opensc-pkcs11.so)
 * @param[in]  reader      PC/SC reader name; matched against the slot description and
 *                         manufacturer (OpenSC copies the reader name there, cut at 64 bytes)
 * @param[in]  cert_id     CKA_ID of the certificate (PIV 9A = {0x01}, SP 800-73-4 / OpenSC
 *                         pkcs15-piv.c), @p id_len bytes
 * @param[out] ret_token   new handle, free with pamsc_token_close(); untouched on failure
 * @return 0; -ELIBBAD the module cannot be loaded; -ENODEV no initialised token in that reader;
 *         -ENOKEY no certificate with that id; -ENOMEM; -EIO (all logged)
 */
int pamsc_token_open(const struct pamsc_args *args, const char *module, const char *reader,
                     const uint8_t *cert_id, size_t id_len, struct pamsc_token **ret_token);

/** Token label (e.g. "alice" for an OpenSC PIV card); owned by @p token. */
const char *pamsc_token_label(const struct pamsc_token *token);

/** PKCS#11 slot id of the token, as MIT PKINIT's "slotid=" expects it. */
unsigned long pamsc_token_slot_id(const struct pamsc_token *token);

/** The chosen certificate (owned by @p token) and its CKA_ID (owned, *ret_len bytes). */
X509 *pamsc_token_cert(const struct pamsc_token *token);
const uint8_t *pamsc_token_cert_id(const struct pamsc_token *token, size_t *ret_len);

/** True when the token reports its user PIN as blocked (CKF_USER_PIN_LOCKED). */
int pamsc_token_pin_locked(const struct pamsc_token *token);

/**
 * Verify the user PIN (C_Login CKU_USER); a session already logged in is logged out first, so
 * that the PIN is really checked. libp11 keeps a copy of the PIN for re-login after fork and
 * wipes it (OPENSSL_cleanse) when the slot is released by pamsc_token_close().
 * @return 0; -EACCES wrong PIN; -EKEYREVOKED PIN blocked; -ENODEV card removed; -EIO (logged)
 */
int pamsc_token_login(const struct pamsc_args *args, struct pamsc_token *token, const char *pin);

/**
 * Change the user PIN (C_SetPIN in a read-write session, no login needed; OpenSC sends PIV
 * CHANGE REFERENCE DATA, SP 800-73-4 Part 2 §3.2.2). A wrong @p old_pin uses one try.
 * @return 0; -EACCES wrong old PIN; -EKEYREVOKED PIN blocked; -ERANGE the new PIN was refused
 *         (CKR_PIN_LEN_RANGE/CKR_PIN_INVALID, or CKR_ARGUMENTS_BAD for a card's 6A 80);
 *         -ENODEV card removed; -EIO (logged). Neither PIN is logged or kept.
 */
int pamsc_token_change_pin(const struct pamsc_args *args, struct pamsc_token *token,
                           const char *old_pin, const char *new_pin);

/** Log out if logged in, release the slots and unload the module (C_Finalize). NULL allowed. */
void pamsc_token_close(struct pamsc_token *token);
