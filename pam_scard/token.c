/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libp11 glue: module loading, tokens looked up by reader name, their certificates
 * (one CKA_ID or all), PIN verification and change. libp11 reports CK_RV through the
 * OpenSSL error queue (its dynamically registered error library, reason = CK_RV); that queue
 * (the application's entries set aside, args.h) is read once here and left empty.
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

struct found {
    struct pamsc_token_cert pub;
    PKCS11_SLOT *slot;
    uint8_t *id;     /* copy of the CKA_ID */
    bool logged_in;  /* by pamsc_token_login() */
};

struct pamsc_token {
    PKCS11_CTX *ctx;
    bool loaded;
    PKCS11_SLOT *slots;
    unsigned nslots;
    struct found *certs; /* ncerts entries */
    size_t ncerts;
};

/* Empty the OpenSSL error queue (the application's entries are kept aside, args.h); return
 * the last CK_RV libp11 put there (CKR_GENERAL_ERROR if none). */
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

/* The reader of @p s among @p readers, or NULL. */
static const char *
slot_reader(const PKCS11_SLOT *s, const char *const *readers, size_t nreaders)
{
    for (size_t i = 0; i < nreaders; i++)
        if (reader_matches(s->description, readers[i]) || reader_matches(s->manufacturer, readers[i]))
            return readers[i];
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
add_cert(const struct pamsc_args *args, struct pamsc_token *t, PKCS11_SLOT *s, const char *reader,
         const PKCS11_CERT *c)
{
    struct found *grown = realloc(t->certs, (t->ncerts + 1) * sizeof(*grown));
    struct found *f;

    if (!grown)
        return -ENOMEM;
    t->certs = grown;
    f = &t->certs[t->ncerts];
    *f = (struct found){.slot = s};
    f->id = malloc(c->id_len ? c->id_len : 1);
    if (!f->id || X509_up_ref(c->x509) != 1) {
        free(f->id);
        return -ENOMEM;
    }
    memcpy(f->id, c->id, c->id_len);
    f->pub = (struct pamsc_token_cert){
        .reader = reader,
        .label = s->token->label,
        .slot_id = PKCS11_get_slotid_from_slot(s),
        .id = f->id,
        .id_len = c->id_len,
        .cert = c->x509,
        .pin_locked = s->token->userPinLocked,
        .protected_path = s->token->secureLogin,
    };
    t->ncerts++;
    log_cert(args, s, c->x509);
    return 0;
}

/* The certificates of the token in @p s: the one with @p cert_id, or all. */
static int
scan_token(const struct pamsc_args *args, struct pamsc_token *t, PKCS11_SLOT *s, const char *reader,
           const uint8_t *cert_id, size_t id_len, bool all)
{
    PKCS11_CERT *certs = NULL;
    unsigned n = 0;
    int r;

    if (PKCS11_enumerate_certs(s->token, &certs, &n) < 0) {
        sc_log(&args->log, LOG_WARNING, "cannot list the certificates of token '%s': %s", s->token->label,
               strerror(-pamsc_errno_from_ckr(drain_ckr())));
        return 0;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!certs[i].x509)
            continue;
        if (!all && (certs[i].id_len != id_len || memcmp(certs[i].id, cert_id, id_len) != 0))
            continue;
        r = add_cert(args, t, s, reader, &certs[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
find_certs(const struct pamsc_args *args, struct pamsc_token *t, const char *const *readers,
           size_t nreaders, const uint8_t *cert_id, size_t id_len, bool all)
{
    bool token_seen = false;
    int r;

    for (unsigned i = 0; i < t->nslots; i++) {
        PKCS11_SLOT *s = &t->slots[i];
        const char *reader;
        if (!s->token || !s->token->initialized || !(reader = slot_reader(s, readers, nreaders)))
            continue;
        token_seen = true;
        size_t before = t->ncerts;
        r = scan_token(args, t, s, reader, cert_id, id_len, all);
        if (r < 0)
            return r;
        if (t->ncerts == before)
            sc_log(&args->log, LOG_NOTICE, "the card '%s' in reader '%s' has no %s", s->token->label, reader,
                   all ? "certificate" : "sign-in certificate (PIV slot 9A)");
    }
    if (!token_seen) {
        sc_log(&args->log, LOG_ERR, "no usable PKCS#11 token for the card%s in %s%s'", nreaders > 1 ? "s" : "",
               nreaders > 1 ? "readers '" : "reader '", nreaders ? readers[0] : "");
        return -ENODEV;
    }
    return t->ncerts > 0 ? 0 : -ENOKEY;
}

int
pamsc_token_open(const struct pamsc_args *args, const char *module, const char *const *readers,
                 size_t nreaders, const uint8_t *cert_id, size_t id_len, bool all,
                 struct pamsc_token **ret_token)
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
    r = find_certs(args, t, readers, nreaders, cert_id, id_len, all);
    if (r == 0)
        *ret_token = TAKE_PTR(t);
out:
    pamsc_token_close(t);
    return r;
}

size_t
pamsc_token_count(const struct pamsc_token *token)
{
    return token->ncerts;
}

const struct pamsc_token_cert *
pamsc_token_get(const struct pamsc_token *token, size_t i)
{
    return &token->certs[i].pub;
}

int
pamsc_token_login(const struct pamsc_args *args, struct pamsc_token *token, size_t i, const char *pin)
{
    struct found *f = &token->certs[i];
    int logged_in = 0, r;

    /* libp11 takes CKR_USER_ALREADY_LOGGED_IN for success: if this process already had the
     * token logged in (module shared with the host), log out so that the PIN is checked. */
    if (PKCS11_is_logged_in(f->slot, 0, &logged_in) == 0 && logged_in) {
        sc_log(&args->log, LOG_DEBUG, "token '%s' was logged in already; logging out first", f->pub.label);
        (void)PKCS11_logout(f->slot);
    }
    (void)drain_ckr();
    if (PKCS11_login(f->slot, 0, pin) == 0) {
        f->logged_in = true;
        return 0;
    }
    r = pamsc_errno_from_ckr(drain_ckr());
    sc_log(&args->log, r == -EACCES || r == -EKEYREVOKED ? LOG_NOTICE : LOG_ERR,
           "PIN verification on token '%s' failed: %s", f->pub.label, strerror(-r));
    return r == 0 ? -EIO : r;
}

int
pamsc_token_change_pin(const struct pamsc_args *args, struct pamsc_token *token, size_t i,
                       const char *old_pin, const char *new_pin)
{
    struct found *f = &token->certs[i];
    unsigned long rv;
    int r;

    (void)drain_ckr();
    /* libp11 sends C_SetPIN on the slot's session, which must be read-write: in a public
     * session (not logged in) C_SetPIN changes the user PIN (PKCS#11 v2.40 §5.6) */
    if (PKCS11_open_session(f->slot, 1) == 0 && PKCS11_change_pin(f->slot, old_pin, new_pin) == 0)
        return 0;
    rv = drain_ckr();
    if (rv == PAMSC_CKR_PIN_LEN_RANGE || rv == PAMSC_CKR_PIN_INVALID || rv == PAMSC_CKR_ARGUMENTS_BAD)
        r = -ERANGE;
    else
        r = pamsc_errno_from_ckr(rv);
    sc_log(&args->log, r == -EACCES || r == -EKEYREVOKED || r == -ERANGE ? LOG_NOTICE : LOG_ERR,
           "PIN change on token '%s' failed: %s", f->pub.label, strerror(-r));
    return r == 0 ? -EIO : r;
}

void
pamsc_token_close(struct pamsc_token *token)
{
    if (!token)
        return;
    for (size_t i = 0; i < token->ncerts; i++) {
        if (token->certs[i].logged_in)
            (void)PKCS11_logout(token->certs[i].slot);
        X509_free(token->certs[i].pub.cert);
        free(token->certs[i].id);
    }
    free(token->certs);
    if (token->slots)
        PKCS11_release_all_slots(token->ctx, token->slots, token->nslots);
    if (token->loaded)
        PKCS11_CTX_unload(token->ctx); /* C_Finalize + dlclose */
    if (token->ctx)
        PKCS11_CTX_free(token->ctx);
    pamsc_err_drop();
    free(token);
}
