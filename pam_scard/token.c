/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libp11 glue: module loading, token lookup by reader name, certificate choice by
 * CKA_ID, PIN verification. libp11 reports CK_RV through the OpenSSL error queue
 * (its dynamically registered error library, reason = CK_RV); that queue is read once
 * here and left empty.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/err.h>

#include "common/cleanup.h"
#include "pam_scard/args.h"
#include "pam_scard/errmap.h"
#include "pam_scard/token.h"

/* OpenSC's CK_SLOT_INFO.slotDescription is 64 blank-padded bytes. */
#define SLOT_DESCRIPTION_LEN 64

struct pamsc_token {
    PKCS11_CTX *ctx;
    bool loaded;
    PKCS11_SLOT *slots;
    unsigned nslots;
    PKCS11_SLOT *slot;
    X509 *cert;       /* own reference: libp11 drops its certificate list on logout */
    uint8_t *cert_id; /* copy of the CKA_ID */
    size_t cert_id_len;
    bool logged_in;
};

/* Drain the OpenSSL error queue; return the last CK_RV libp11 put there (CKR_GENERAL_ERROR if none). */
static unsigned long
drain_ckr(void)
{
    unsigned long e, rv = 0x05; /* CKR_GENERAL_ERROR */

    while ((e = ERR_get_error()) != 0)
        if (ERR_GET_LIB(e) >= ERR_LIB_USER && ERR_GET_REASON(e) < 0x400)
            rv = ERR_GET_REASON(e);
    return rv;
}

static bool
reader_matches(const char *field, const char *reader)
{
    size_t n;

    if (!field || !*field)
        return false;
    if (strcmp(field, reader) == 0)
        return true;
    /* cut at 64 bytes (then trailing blanks trimmed by libp11) */
    n = strlen(field);
    return strlen(reader) > SLOT_DESCRIPTION_LEN && n <= SLOT_DESCRIPTION_LEN && strncmp(field, reader, n) == 0;
}

static PKCS11_CERT *
find_cert(PKCS11_TOKEN *tok, const uint8_t *cert_id, size_t id_len)
{
    PKCS11_CERT *certs = NULL;
    unsigned n = 0;

    if (PKCS11_enumerate_certs(tok, &certs, &n) < 0) {
        (void)drain_ckr();
        return NULL;
    }
    for (unsigned i = 0; i < n; i++)
        if (certs[i].x509 && certs[i].id_len == id_len && memcmp(certs[i].id, cert_id, id_len) == 0)
            return &certs[i];
    return NULL;
}

static void
log_cert(const struct pamsc_args *args, const PKCS11_SLOT *slot, X509 *x509)
{
    char subject[256] = "", issuer[256] = "";
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x509);
    BIGNUM *bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    X509_NAME_oneline(X509_get_subject_name(x509), subject, sizeof(subject));
    X509_NAME_oneline(X509_get_issuer_name(x509), issuer, sizeof(issuer));
    sc_log(&args->log, LOG_INFO, "token '%s' in slot %lu: certificate subject '%s' issuer '%s' serial %s",
           slot->token->label, PKCS11_get_slotid_from_slot((PKCS11_SLOT *)slot), subject, issuer,
           hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

static int
find_token(const struct pamsc_args *args, struct pamsc_token *t, const char *reader,
           const uint8_t *cert_id, size_t id_len)
{
    bool token_seen = false;

    for (unsigned i = 0; i < t->nslots; i++) {
        PKCS11_SLOT *s = &t->slots[i];
        if (!s->token || !s->token->initialized)
            continue;
        if (!reader_matches(s->description, reader) && !reader_matches(s->manufacturer, reader))
            continue;
        token_seen = true;
        PKCS11_CERT *cert = find_cert(s->token, cert_id, id_len);
        if (cert) {
            t->cert_id = malloc(id_len);
            if (!t->cert_id || X509_up_ref(cert->x509) != 1)
                return -ENOMEM;
            memcpy(t->cert_id, cert_id, id_len);
            t->cert_id_len = id_len;
            t->cert = cert->x509;
            t->slot = s;
            log_cert(args, s, t->cert);
            return 0;
        }
        sc_log(&args->log, LOG_DEBUG, "token '%s' has no certificate with the wanted id", s->token->label);
    }
    if (!token_seen) {
        sc_log(&args->log, LOG_ERR, "no usable PKCS#11 token for the card in reader '%s'", reader);
        return -ENODEV;
    }
    sc_log(&args->log, LOG_ERR, "the card in reader '%s' has no sign-in certificate (PIV slot 9A)", reader);
    return -ENOKEY;
}

int
pamsc_token_open(const struct pamsc_args *args, const char *module, const char *reader,
                 const uint8_t *cert_id, size_t id_len, struct pamsc_token **ret_token)
{
    struct pamsc_token *t = calloc(1, sizeof(*t));
    int r;

    if (!t)
        return -ENOMEM;
    t->ctx = PKCS11_CTX_new();
    if (!t->ctx) {
        r = -ENOMEM;
        goto out;
    }
    if (PKCS11_CTX_load(t->ctx, module) < 0) {
        (void)drain_ckr();
        r = sc_log_errno(&args->log, LOG_ERR, -ELIBBAD, "cannot load PKCS#11 module '%s'", module);
        goto out;
    }
    t->loaded = true;
    if (PKCS11_enumerate_slots(t->ctx, &t->slots, &t->nslots) < 0) {
        r = pamsc_errno_from_ckr(drain_ckr());
        r = sc_log_errno(&args->log, LOG_ERR, r == 0 ? -EIO : r, "cannot list the slots of '%s'", module);
        goto out;
    }
    r = find_token(args, t, reader, cert_id, id_len);
    if (r == 0)
        *ret_token = TAKE_PTR(t);
out:
    pamsc_token_close(t);
    return r;
}

const char *
pamsc_token_label(const struct pamsc_token *token)
{
    return token->slot->token->label;
}

unsigned long
pamsc_token_slot_id(const struct pamsc_token *token)
{
    return PKCS11_get_slotid_from_slot(token->slot);
}

X509 *
pamsc_token_cert(const struct pamsc_token *token)
{
    return token->cert;
}

const uint8_t *
pamsc_token_cert_id(const struct pamsc_token *token, size_t *ret_len)
{
    *ret_len = token->cert_id_len;
    return token->cert_id;
}

int
pamsc_token_pin_locked(const struct pamsc_token *token)
{
    return token->slot->token->userPinLocked;
}

int
pamsc_token_login(const struct pamsc_args *args, struct pamsc_token *token, const char *pin)
{
    int logged_in = 0, r;

    /* libp11 takes CKR_USER_ALREADY_LOGGED_IN for success: if this process already had the
     * token logged in (module shared with the host), log out so that the PIN is checked. */
    if (PKCS11_is_logged_in(token->slot, 0, &logged_in) == 0 && logged_in) {
        sc_log(&args->log, LOG_DEBUG, "token '%s' was logged in already; logging out first",
               pamsc_token_label(token));
        (void)PKCS11_logout(token->slot);
    }
    (void)drain_ckr();
    if (PKCS11_login(token->slot, 0, pin) == 0) {
        token->logged_in = true;
        return 0;
    }
    r = pamsc_errno_from_ckr(drain_ckr());
    sc_log(&args->log, r == -EACCES || r == -EKEYREVOKED ? LOG_NOTICE : LOG_ERR,
           "PIN verification on token '%s' failed: %s", pamsc_token_label(token), strerror(-r));
    return r == 0 ? -EIO : r;
}

int
pamsc_token_change_pin(const struct pamsc_args *args, struct pamsc_token *token,
                       const char *old_pin, const char *new_pin)
{
    unsigned long rv;
    int r;

    (void)drain_ckr();
    /* libp11 sends C_SetPIN on the slot's session, which must be read-write: in a public
     * session (not logged in) C_SetPIN changes the user PIN (PKCS#11 v2.40 §5.6) */
    if (PKCS11_open_session(token->slot, 1) == 0 && PKCS11_change_pin(token->slot, old_pin, new_pin) == 0)
        return 0;
    rv = drain_ckr();
    if (rv == PAMSC_CKR_PIN_LEN_RANGE || rv == PAMSC_CKR_PIN_INVALID || rv == PAMSC_CKR_ARGUMENTS_BAD)
        r = -ERANGE;
    else
        r = pamsc_errno_from_ckr(rv);
    sc_log(&args->log, r == -EACCES || r == -EKEYREVOKED || r == -ERANGE ? LOG_NOTICE : LOG_ERR,
           "PIN change on token '%s' failed: %s", pamsc_token_label(token), strerror(-r));
    return r == 0 ? -EIO : r;
}

void
pamsc_token_close(struct pamsc_token *token)
{
    if (!token)
        return;
    if (token->logged_in)
        (void)PKCS11_logout(token->slot);
    if (token->slots)
        PKCS11_release_all_slots(token->ctx, token->slots, token->nslots);
    if (token->loaded)
        PKCS11_CTX_unload(token->ctx); /* C_Finalize + dlclose */
    X509_free(token->cert);
    free(token->cert_id);
    if (token->ctx)
        PKCS11_CTX_free(token->ctx);
    ERR_clear_error();
    free(token);
}
