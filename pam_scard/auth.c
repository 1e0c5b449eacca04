/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sign-in flow of pam_sm_authenticate: wait for a card (PC/SC), find its token and
 * certificate (libp11, no login), refuse a certificate the sign-in policy excludes, ask
 * the PIN, unload the PKCS#11 module, then PKINIT (libkrb5), whose C_Login is the only PIN
 * check on a PIV card: the retry counter read over PC/SC before and after tells a wrong
 * PIN from a KDC refusal. The card is logged out again, and the TGT kept in the PAM handle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "common/cleanup.h"
#include "common/secret.h"
#include "pam_scard/args.h"
#include "pam_scard/auth.h"
#include "pam_scard/card.h"
#include "pam_scard/certmap.h"
#include "pam_scard/certpolicy.h"
#include "pam_scard/pkinit.h"
#include "pam_scard/token.h"
#include "pam_scard/trust.h"

/* PIV Authentication key, slot 9A: CKA_ID 01 in OpenSC (SP 800-73-4 Part 1 §3.1; pkcs15-piv.c) */
static const uint8_t piv_auth_cert_id[] = {0x01};

/* What the card step hands to PKINIT. */
struct unlocked {
    char *identity;  /* X509_user_identity */
    char *label;     /* token label */
    char *pin;       /* secret */
    int tries;       /* PIN tries left before PKINIT (PKINIT checks the PIN); <0: checked here */
};

static void
unlocked_clear(struct unlocked *u)
{
    free(u->identity);
    free(u->label);
    sc_secret_free(u->pin);
    *u = (struct unlocked){0};
}

static void
free_data(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    (void)status;
    free(data);
}

static void
free_tgt(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    (void)status;
    pamsc_tgt_free(data);
}

static void
tell_card_missing(const struct pamsc_args *args, int r)
{
    if (r == -ECONNREFUSED)
        pamsc_error(args, "The smart-card service is not running.");
    else if (r == -ETIMEDOUT)
        pamsc_error(args, "No smart card was inserted.");
    else
        pamsc_error(args, "The smart-card reader cannot be used.");
}

/* After a refused PIN, with the tries left as the card tells them (SP 800-73-4 §3.2.1). */
static int
tell_wrong_pin(const struct pamsc_args *args, int tries)
{
    if (tries == 0) {
        pamsc_error(args, "Your smart card is blocked: too many wrong PINs. "
                          "Ask your administrator to unblock it.");
        return -EKEYREVOKED;
    }
    if (tries == 1)
        pamsc_error(args, "Wrong PIN. 1 try left before the card is blocked.");
    else if (tries > 1)
        pamsc_error(args, "Wrong PIN. %d tries left.", tries);
    else
        pamsc_error(args, "Wrong PIN.");
    return -EACCES;
}

static int
verify_pin(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
           struct pamsc_reader *reader, struct pamsc_token *token, struct unlocked *u)
{
    char prompt[320];
    int r;

    if (pamsc_token_pin_locked(token) || u->tries == 0)
        return tell_wrong_pin(args, 0);
    snprintf(prompt, sizeof(prompt), "PIN for %s (%s): ", pamsc_token_label(token), rops->name(reader));
    r = pamsc_prompt_secret(args, prompt, &u->pin);
    if (r == -ENODATA) {
        pamsc_error(args, "No PIN entered.");
        return -EACCES;
    }
    if (r < 0 || u->tries > 0)
        return r; /* PKINIT's C_Login checks the PIN */
    r = pamsc_token_login(args, token, u->pin);
    if (r == -EACCES || r == -EKEYREVOKED)
        return tell_wrong_pin(args, r == -EKEYREVOKED ? 0 : rops->pin_tries_left(args, reader));
    if (r < 0)
        pamsc_error(args, "The smart card could not check the PIN.");
    return r;
}

/* Subject, issuer and serial of @p cert for the log, one line; "?" parts on failure. */
static void
log_refused_cert(const struct pamsc_args *args, X509 *cert, const char *reason)
{
    char subject[256] = "?", issuer[256] = "?";
    char *serial = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);

    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
    X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
    if (bn)
        serial = BN_bn2hex(bn);
    sc_log(&args->log, LOG_WARNING, "certificate subject '%s' issuer '%s' serial %s refused for sign-in: %s",
           subject, issuer, serial ? serial : "?", reason);
    OPENSSL_free(serial);
    BN_free(bn);
}

/* The sign-in certificate filter (windows.md §2.3), before the PIN is asked. */
static int
check_certificate(const struct pamsc_args *args, X509 *cert)
{
    enum pamsc_cert_verdict v = pamsc_cert_check(&args->opts.cert_policy, cert, time(NULL));
    const char *reason = pamsc_cert_verdict_to_string(v);

    if (v == PAMSC_CERT_USABLE)
        return 0;
    log_refused_cert(args, cert, reason);
    pamsc_error(args, "This smart card's certificate cannot be used to sign in: %s.", reason);
    return -ENOKEY;
}

/* The chain against trust_anchors and revocation per policy (pam_scard/trust.c), before
 * the PIN is asked: a refusal is PAM_AUTH_ERR, not a fall-back to a password. */
static int
check_trust(const struct pamsc_args *args, X509 *cert)
{
    char reason[160], why[200];
    int r = pamsc_trust_check(&args->opts.trust, cert, &args->log, reason, sizeof(reason));

    if (r == -EKEYREVOKED) {
        log_refused_cert(args, cert, reason); /* "revoked", or which CA of the chain is */
        pamsc_error(args, "This smart card's certificate has been revoked.");
        return -EKEYREJECTED;
    }
    if (r == -EKEYREJECTED) {
        snprintf(why, sizeof(why), "not trusted: %s", reason);
        log_refused_cert(args, cert, why);
        pamsc_error(args, "This smart card's certificate is not trusted: %s.", reason);
    } else if (r < 0) {
        pamsc_error(args, "This smart card's certificate cannot be checked.");
    }
    return r;
}

/* A card whose certificate names somebody else's principal is not offered to @p user: no PIN
 * is asked, and PAM_AUTHINFO_UNAVAIL lets the stack go on to a password (windows.md §2.3: only
 * certificates that map to the user; linux-anchors.md §3 item 18). A certificate naming no
 * principal is left to the KDC, which checks the name against it. */
static int
check_owner(const struct pamsc_args *args, X509 *cert, const char *user, const char *reader)
{
    _cleanup_free_ char *principal = NULL, *local = NULL;
    int r = pamsc_certmap_principal(cert, &principal);

    if (r == -ENOENT)
        return 0;
    if (r < 0) {
        log_refused_cert(args, cert, "its principal name cannot be read");
        pamsc_error(args, "This smart card's certificate cannot be used to sign in.");
        return r == -ENOMEM ? r : -ENOKEY;
    }
    r = pamsc_certmap_local_user(principal, &local);
    if (r == 0 && strcmp(local, user) == 0)
        return 0;
    if (r == -ENOMEM || r == -EIO)
        return r;
    sc_log(&args->log, LOG_NOTICE, "the card in '%s' is for %s, not for user %s: not offered",
           reader, principal, user);
    pamsc_info(args, "The smart card in %s is not for %s.", reader, user);
    return -ENOKEY;
}

/* The counter before PKINIT; a card left verified (by an earlier user of it: 90 00, no
 * counter) is logged out first, so that the counter is readable and this PIN is checked. */
static int
pin_tries_before(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
                 struct pamsc_reader *reader)
{
    int tries = rops->pin_tries_left(args, reader);

    if (tries == -EALREADY && rops->logout(args, reader) == 0)
        tries = rops->pin_tries_left(args, reader);
    return tries;
}

/* Token, certificate and PIN; the PKCS#11 module is unloaded again when this returns. */
static int
unlock_card(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
            struct pamsc_reader *reader, const char *user, struct unlocked *u)
{
    struct pamsc_token *token = NULL;
    const uint8_t *id;
    size_t id_len;
    int r;

    r = pamsc_token_open(args, args->opts.pkcs11_module, rops->name(reader), piv_auth_cert_id,
                         sizeof(piv_auth_cert_id), &token);
    if (r < 0) {
        if (r == -ENOKEY)
            pamsc_error(args, "This smart card has no certificate for signing in.");
        else
            pamsc_error(args, "This smart card cannot be read.");
        return r;
    }
    r = check_certificate(args, pamsc_token_cert(token));
    if (r == 0)
        r = check_owner(args, pamsc_token_cert(token), user, rops->name(reader));
    if (r == 0)
        r = check_trust(args, pamsc_token_cert(token));
    if (r < 0)
        goto out;
    id = pamsc_token_cert_id(token, &id_len);
    r = pamsc_pkinit_identity(args->opts.pkcs11_module, pamsc_token_slot_id(token), id, id_len, &u->identity);
    if (r == -EINVAL)
        sc_log(&args->log, LOG_ERR, "pkcs11_module '%s': MIT PKINIT cannot use a path with ':'",
               args->opts.pkcs11_module);
    if (r == 0) {
        /* one PIN check (PKINIT's) when the card can tell its counter and be logged out */
        u->tries = rops->logout ? pin_tries_before(args, rops, reader) : -EOPNOTSUPP;
        u->label = strdup(pamsc_token_label(token));
        r = u->label ? verify_pin(args, rops, reader, token, u) : -ENOMEM;
    }
out:
    pamsc_token_close(token); /* C_Logout + C_Finalize before libkrb5 loads the module */
    return r;
}

static void
tell_pkinit_failed(const struct pamsc_args *args, int r)
{
    if (r == -EHOSTUNREACH || r == -ETIMEDOUT)
        pamsc_error(args, "Cannot reach the Kerberos server (KDC); try again later.");
    else if (r == -ENOENT)
        pamsc_error(args, "This account is not known to the Kerberos realm.");
    else if (r == -EACCES)
        pamsc_error(args, "The Kerberos server refused this smart card.");
    else
        pamsc_error(args, "Smart-card sign-in failed.");
}

/* After PKINIT checked the PIN: log the card out; on failure, a counter that dropped means
 * the PIN was wrong, an unchanged one a refusal by the KDC (or another failure). */
static int
finish_pkinit(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
              struct pamsc_reader *reader, int tries_before, int r)
{
    int tries;

    (void)rops->logout(args, reader);
    if (r == 0)
        return 0;
    tries = rops->pin_tries_left(args, reader);
    if (tries >= 0 && tries < tries_before) {
        sc_log(&args->log, LOG_NOTICE, "PIN refused by the card in '%s' during PKINIT", rops->name(reader));
        return tell_wrong_pin(args, tries);
    }
    tell_pkinit_failed(args, r);
    return r;
}

static int
keep(const struct pamsc_args *args, const char *key, void *data,
     void (*destroy)(pam_handle_t *, void *, int))
{
    if (!data)
        return -ENOMEM;
    if (pam_set_data(args->pamh, key, data, destroy) != PAM_SUCCESS) {
        destroy(args->pamh, data, 0);
        return -ENOMEM;
    }
    return 0;
}

int
pamsc_authenticate(const struct pamsc_args *args, const struct pamsc_reader_ops *rops)
{
    struct pamsc_reader *reader = NULL;
    struct pamsc_tgt *tgt = NULL;
    struct unlocked u = {.tries = -1};
    const char *user = NULL;
    int r;

    if (pam_get_user(args->pamh, &user, NULL) != PAM_SUCCESS || !user || !*user)
        return sc_log(&args->log, LOG_ERR, "cannot get the user name"), -EBADMSG;
    (void)pam_set_data(args->pamh, PAMSC_DATA_TGT, NULL, NULL); /* forget an earlier success */
    r = rops->wait_card(args, args->opts.card_wait_usec, &reader);
    if (r < 0) {
        tell_card_missing(args, r);
        goto out;
    }
    r = unlock_card(args, rops, reader, user, &u);
    if (r < 0)
        goto out;
    r = pamsc_pkinit_get_tgt(args, user, u.identity, u.pin, &tgt);
    if (u.tries > 0)
        r = finish_pkinit(args, rops, reader, u.tries, r);
    else if (r < 0)
        tell_pkinit_failed(args, r);
    if (r < 0)
        goto out;
    r = keep(args, PAMSC_DATA_TGT, TAKE_PTR(tgt), free_tgt);
    if (r == 0)
        r = keep(args, PAMSC_DATA_TOKEN, TAKE_PTR(u.label), free_data);
    if (r == 0)
        r = keep(args, PAMSC_DATA_READER, strdup(rops->name(reader)), free_data);
    if (r == 0)
        sc_log(&args->log, LOG_NOTICE, "user %s signed in with the smart card in '%s'", user, rops->name(reader));
out:
    unlocked_clear(&u);
    rops->close(reader);
    ERR_clear_error();
    return r;
}

int
pamsc_authenticated(const struct pamsc_args *args)
{
    const void *data = NULL;

    return pam_get_data(args->pamh, PAMSC_DATA_TGT, &data) == PAM_SUCCESS && data;
}
