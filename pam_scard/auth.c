/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sign-in flow of pam_sm_authenticate: wait for a card (PC/SC), find the tokens and
 * certificates of every card present (libp11, no login), choose the certificate (choose.c:
 * sign-in filter, user mapping, duplicates, a list when several), check its chain, ask the
 * PIN, unload the PKCS#11 module, then PKINIT (libkrb5), whose C_Login is the only PIN
 * check on a PIV card: the retry counter read over PC/SC before and after tells a wrong
 * PIN from a KDC refusal. The card is logged out again, and the TGT kept in the PAM handle.
 * With no user name given and a card present, the card decides who signs in.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "common/cleanup.h"
#include "common/secret.h"
#include "pam_scard/args.h"
#include "pam_scard/auth.h"
#include "pam_scard/card.h"
#include "pam_scard/certmap.h"
#include "pam_scard/choose.h"
#include "pam_scard/pkinit.h"
#include "pam_scard/token.h"
#include "pam_scard/trust.h"

/* PIV Authentication key, slot 9A: CKA_ID 01 in OpenSC (SP 800-73-4 Part 1 §3.1; pkcs15-piv.c) */
static const uint8_t piv_auth_cert_id[] = {0x01};

/* What the card step hands to PKINIT. */
struct unlocked {
    char *identity;  /* X509_user_identity */
    char *label;     /* token label */
    char *reader;    /* reader of the card */
    char *user;      /* local account signing in */
    char *client;    /* principal asked for: the certificate's, else the user name */
    char *pin;       /* secret, when checked here before PKINIT */
    int tries;       /* PIN tries left before PKINIT (PKINIT checks the PIN); <0: checked here */
    bool pinpad;     /* protected authentication path: the PIN is entered on the reader */
    int events;      /* the reader's card-event count when the card was read; <0: unknown */
    const struct pamsc_reader_ops *rops;
    struct pamsc_reader *rset;
    const struct pamsc_args *args;
    char prompt[320]; /* "PIN for <card> (<reader>): " */
};

static void
unlocked_clear(struct unlocked *u)
{
    free(u->identity);
    free(u->label);
    free(u->reader);
    free(u->user);
    free(u->client);
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
    else if (r == -ENOMEDIUM)
        pamsc_error(args, "The smart card was removed.");
    else if (r == -ETIMEDOUT)
        pamsc_error(args, "No smart card was inserted.");
    else
        pamsc_error(args, "The smart-card reader cannot be used.");
}

/* Whether the card the PIN is for is still the one that was read: no card removed from or
 * inserted into its reader since (the reader's event count). A PIN typed while the card was
 * swapped must not reach the other card. 0; -ENOMEDIUM gone or changed (the user is told). */
static int
same_card(const struct unlocked *u)
{
    int now;

    if (u->events < 0 || !u->rops->card_events)
        return 0;
    now = u->rops->card_events(u->args, u->rset, u->reader);
    if (now == u->events)
        return 0;
    if (now < 0) { /* card, reader or resource manager gone; or it cannot be told: fail closed */
        tell_card_missing(u->args, now);
        sc_log(&u->args->log, LOG_NOTICE, "the card in '%s' went away during the sign-in (while the PIN was "
               "asked): %s; the PIN is not used", u->reader, strerror(-now));
        return now == -ECONNREFUSED ? now : -ENOMEDIUM;
    }
    pamsc_error(u->args, "The smart card was changed during the sign-in; try again.");
    sc_log(&u->args->log, LOG_WARNING, "a card was removed or inserted in '%s' while the PIN was asked: "
           "the PIN is not used", u->reader);
    return -ENOMEDIUM;
}

/* The PIN prompt; -EACCES for an empty answer (the user is told), as a wrong PIN; -ENOMEDIUM
 * when the card was removed or swapped meanwhile (the PIN is then wiped, never used). */
static int
ask_pin(void *userdata, char **ret_pin)
{
    struct unlocked *u = userdata;
    char *pin = NULL;
    int r = pamsc_prompt_secret(u->args, u->prompt, &pin);

    if (r == -ENODATA) {
        pamsc_error(u->args, "No PIN entered.");
        return -EACCES;
    }
    if (r == 0 && (r = same_card(u)) < 0)
        sc_secret_free(TAKE_PTR(pin));
    if (r == 0)
        *ret_pin = pin;
    return r;
}

/* Before PKINIT: a blocked card is refused. When the card can tell its counter, PKINIT's
 * C_Login is the PIN check and the PIN is asked when PKINIT needs it (as kinit does, so the
 * user waits only for that check and the KDC); otherwise it is asked and checked here. A
 * reader with a PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH) gets no prompt: C_Login without a
 * PIN makes the reader ask (PKCS#11 v2.40 §5.6; MIT PKINIT does so for such tokens). */
static int
prepare_pin(const struct pamsc_args *args, const struct pamsc_reader_ops *rops, struct pamsc_reader *reader,
            struct pamsc_token *token, size_t i, struct unlocked *u)
{
    const struct pamsc_token_cert *tc = pamsc_token_get(token, i);
    int r;

    if (tc->pin_locked || u->tries == 0)
        return pamsc_tell_wrong_pin(args, 0);
    if (u->tries == 1 || u->tries == 2) /* low: say so before the PIN is typed */
        pamsc_info(args, "%d PIN %s left before the card is blocked.", u->tries, u->tries == 1 ? "try" : "tries");
    u->args = args;
    u->rops = rops;
    u->rset = reader;
    u->pinpad = tc->protected_path;
    snprintf(u->prompt, sizeof(u->prompt), "PIN for %s (%s): ", tc->label, tc->reader);
    if (u->tries > 0)
        return 0;
    if (u->pinpad)
        pamsc_info(args, "Enter the PIN on the PIN pad of %s.", tc->reader);
    else if ((r = ask_pin(u, &u->pin)) < 0)
        return r;
    r = pamsc_token_login(args, token, i, u->pin);
    if (r == -EACCES || r == -EKEYREVOKED)
        return pamsc_tell_wrong_pin(args, r == -EKEYREVOKED ? 0 : rops->pin_tries_left(args, reader, tc->reader));
    if (r < 0)
        pamsc_error(args, "The smart card could not check the PIN.");
    return r;
}

/* The chain against trust_anchors and revocation per policy (pam_scard/trust.c), before
 * the PIN is asked: a refusal is PAM_AUTH_ERR, not a fall-back to a password. */
static int
check_trust(const struct pamsc_args *args, X509 *cert)
{
    char reason[160], why[200];
    int r = pamsc_trust_check(&args->opts.trust, cert, &args->log, reason, sizeof(reason));

    if (r == -EKEYREVOKED) {
        pamsc_log_refused_cert(args, cert, reason); /* "revoked", or which CA of the chain is */
        pamsc_error(args, "This smart card's certificate has been revoked.");
        return -EKEYREJECTED;
    }
    if (r == -EKEYREJECTED) {
        snprintf(why, sizeof(why), "not trusted: %s", reason);
        pamsc_log_refused_cert(args, cert, why);
        pamsc_error(args, "This smart card's certificate is not trusted: %s.", reason);
    } else if (r < 0) {
        pamsc_error(args, "This smart card's certificate cannot be checked.");
    }
    return r;
}

/* The counter before PKINIT; a card left verified (by an earlier user of it: 90 00, no
 * counter) is logged out first, so that the counter is readable and this PIN is checked. */
static int
pin_tries_before(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
                 struct pamsc_reader *reader, const char *name)
{
    int tries = rops->pin_tries_left(args, reader, name);

    if (tries == -EALREADY && rops->logout(args, reader, name) == 0)
        tries = rops->pin_tries_left(args, reader, name);
    return tries;
}

/* Who signs in: the PAM user when given; else the account the certificate maps to, or with
 * allow_user_name_hint the name the user types (the KDC then checks the certificate against
 * it, windows.md §2.7). The principal asked for is the certificate's when it maps to the user. */
static int
settle_user(const struct pamsc_args *args, const char *user, struct pamsc_choice *choice, struct unlocked *u)
{
    _cleanup_free_ char *hint = NULL;

    if (!user && args->opts.allow_user_name_hint) {
        int r = pam_prompt(args->pamh, PAM_PROMPT_ECHO_ON, &hint, "%s",
                           choice->user ? "User name (Enter for the certificate's): " : "User name: ");
        if (r == PAM_BUF_ERR)
            return -ENOMEM;
        if (r != PAM_SUCCESS || !hint)
            return sc_log_errno(&args->log, LOG_ERR, -EBADMSG, "the conversation gave no user name");
        if (*hint) {
            sc_log(&args->log, LOG_NOTICE, "user name hint '%s' given for the certificate of %s", hint,
                   choice->principal ? choice->principal : "no principal");
            user = hint;
        }
    }
    if (!user && !choice->user) {
        pamsc_error(args, "This smart card's certificate names no user of this computer.");
        return -ENOKEY;
    }
    bool own = choice->principal && choice->user && (!user || strcmp(choice->user, user) == 0);
    u->user = strdup(user ? user : choice->user);
    u->client = strdup(own ? choice->principal : u->user ? u->user : "");
    if (!u->user || !u->client)
        return -ENOMEM;
    return 0;
}

/* Certificate, user and PIN; the PKCS#11 module is unloaded again when this returns. */
static int
unlock_card(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
            struct pamsc_reader *reader, const char *user, struct unlocked *u)
{
    struct pamsc_token *token = NULL;
    struct pamsc_choice choice = {0};
    const struct pamsc_token_cert *tc;
    const char *const *names;
    size_t n;
    int r;

    names = rops->names(reader, &n);
    /* each reader's card-event count before its card is read: a card swapped from here on is
     * noticed when the PIN has been typed (same_card()) */
    _cleanup_free_ int *events = calloc(n, sizeof(*events));
    if (!events)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        events[i] = rops->card_events ? rops->card_events(args, reader, names[i]) : -1;
    r = pamsc_token_open(args, args->opts.pkcs11_module, names, n, piv_auth_cert_id, sizeof(piv_auth_cert_id),
                         args->opts.force_reading_all_certificates, &token);
    if (r < 0) {
        if (r == -ENOKEY)
            pamsc_error(args, "This smart card has no certificate for signing in.");
        else if (r != -ENOMEM)
            pamsc_error(args, "This smart card cannot be read.");
        return r == -ENODEV ? -ENOKEY : r; /* a card is there, but not one to sign in with */
    }
    r = pamsc_choose_certificate(args, token, user, &choice);
    if (r < 0)
        goto out;
    tc = pamsc_token_get(token, choice.index);
    r = settle_user(args, user, &choice, u);
    if (r == 0)
        r = check_trust(args, tc->cert);
    if (r < 0)
        goto out;
    r = pamsc_pkinit_identity(args->opts.pkcs11_module, tc->slot_id, tc->id, tc->id_len, &u->identity);
    if (r == -EINVAL)
        sc_log(&args->log, LOG_ERR, "pkcs11_module '%s': MIT PKINIT cannot use a path with ':'",
               args->opts.pkcs11_module);
    if (r == 0) {
        u->label = strdup(tc->label);
        u->reader = strdup(tc->reader);
        r = u->label && u->reader ? 0 : -ENOMEM;
        u->events = -1;
        for (size_t i = 0; i < n; i++)
            if (strcmp(names[i], tc->reader) == 0)
                u->events = events[i];
    }
    if (r == 0) {
        /* one PIN check (PKINIT's) when the card can tell its counter and be logged out */
        u->tries = rops->logout ? pin_tries_before(args, rops, reader, u->reader) : -EOPNOTSUPP;
        r = prepare_pin(args, rops, reader, token, choice.index, u);
    }
out:
    pamsc_choice_clear(&choice);
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
 * the PIN was wrong, an unchanged one a refusal by the KDC (or another failure), and no
 * counter at all a card (or resource manager) gone since the PIN was asked. */
static int
finish_pkinit(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
              struct pamsc_reader *reader, const char *name, bool pinpad, int tries_before, int r)
{
    int tries;

    (void)rops->logout(args, reader, name);
    if (r == 0)
        return 0;
    tries = rops->pin_tries_left(args, reader, name);
    if (tries == -ENOMEDIUM || tries == -ENODEV || tries == -ECONNREFUSED) {
        sc_log(&args->log, LOG_NOTICE, "the card in '%s' went away during the sign-in: %s",
               name, strerror(-tries));
        tell_card_missing(args, tries);
        return tries;
    }
    if (tries >= 0 && tries < tries_before) {
        sc_log(&args->log, LOG_NOTICE, "PIN refused by the card in '%s' during PKINIT", name);
        return pamsc_tell_wrong_pin(args, tries);
    }
    if (pinpad && r == -EACCES) {
        /* the card's counter cannot tell a cancelled PIN pad from a KDC refusal */
        pamsc_error(args, "Smart-card sign-in failed: no PIN entered on the PIN pad, or the Kerberos server "
                          "refused this smart card.");
        return r;
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

/* The PAM user, or NULL when none is given yet (the card may decide). */
static const char *
given_user(const struct pamsc_args *args)
{
    const void *item = NULL;

    if (pam_get_item(args->pamh, PAM_USER, &item) != PAM_SUCCESS || !item || !*(const char *)item)
        return NULL;
    return item;
}

/* Wait for a card. With no user name given: a card already present decides the user; with
 * none present the user name is asked as usual (pam_get_user) and then the card waited for. */
static int
find_card(const struct pamsc_args *args, const struct pamsc_reader_ops *rops, const char **user,
          struct pamsc_reader **ret_reader)
{
    int r;

    *user = given_user(args);
    if (!*user) {
        r = rops->wait_card(args, 0, ret_reader);
        if (r != -ETIMEDOUT)
            return r;
        if (pam_get_user(args->pamh, user, NULL) != PAM_SUCCESS || !*user || !**user)
            return sc_log_errno(&args->log, LOG_ERR, -EBADMSG, "cannot get the user name");
    }
    return rops->wait_card(args, args->opts.card_wait_usec, ret_reader);
}

int
pamsc_authenticate(const struct pamsc_args *args, const struct pamsc_reader_ops *rops)
{
    struct pamsc_reader *reader = NULL;
    struct pamsc_tgt *tgt = NULL;
    struct unlocked u = {.tries = -1};
    const char *user = NULL;
    void *module;
    int r;

    (void)pam_set_data(args->pamh, PAMSC_DATA_TGT, NULL, NULL); /* forget an earlier success */
    /* One reference to the PKCS#11 module from before libp11 loads it until after PKINIT has
     * unloaded it again: libkrb5 then finds the module mapped and relocated instead of loading
     * it a second time (both still C_Initialize and C_Finalize it themselves). */
    module = dlopen(args->opts.pkcs11_module, RTLD_NOW | RTLD_LOCAL);
    r = find_card(args, rops, &user, &reader);
    if (r < 0) {
        if (r == -EBADMSG || r == -ENOMEM)
            goto out;
        tell_card_missing(args, r);
        r = r == -ECONNREFUSED ? r : -ENOMEDIUM; /* no card: the stack may go on to a password */
        goto out;
    }
    r = unlock_card(args, rops, reader, user, &u);
    if (r < 0)
        goto out;
    if (!user) {
        if (pam_set_item(args->pamh, PAM_USER, u.user) != PAM_SUCCESS) {
            r = -ENOMEM;
            goto out;
        }
        sc_log(&args->log, LOG_NOTICE, "no user name given: the card in '%s' signs in %s", u.reader, u.user);
    }
    struct pamsc_pin_request req = {.pin = u.pin};
    if (u.tries > 0 && u.pinpad)
        pamsc_info(args, "Enter the PIN on the PIN pad of %s.", u.reader);
    else if (u.tries > 0)
        req = (struct pamsc_pin_request){.ask = ask_pin, .userdata = &u};
    r = pamsc_pkinit_get_tgt(args, u.client, u.identity, &req, &tgt);
    sc_secret_free(TAKE_PTR(u.pin));
    if (r == -ETIMEDOUT)
        r = -EHOSTUNREACH; /* one outcome: the KDC cannot be reached */
    if (r == -ECANCELED) {
        r = req.ask_error; /* no PIN given; the user was told */
        (void)rops->logout(args, reader, u.reader);
    } else if (u.tries > 0)
        r = finish_pkinit(args, rops, reader, u.reader, u.pinpad, u.tries, r);
    else if (r < 0)
        tell_pkinit_failed(args, r);
    if (r < 0)
        goto out;
    sc_log(&args->log, LOG_NOTICE, "user %s signed in with the smart card in '%s'", u.user, u.reader);
    r = keep(args, PAMSC_DATA_TGT, TAKE_PTR(tgt), free_tgt);
    if (r == 0)
        r = keep(args, PAMSC_DATA_TOKEN, TAKE_PTR(u.label), free_data);
    if (r == 0)
        r = keep(args, PAMSC_DATA_READER, TAKE_PTR(u.reader), free_data);
out:
    unlocked_clear(&u);
    rops->close(reader);
    if (module)
        dlclose(module);
    pamsc_err_drop();
    return r;
}

int
pamsc_authenticated(const struct pamsc_args *args)
{
    const void *data = NULL;

    return pam_get_data(args->pamh, PAMSC_DATA_TGT, &data) == PAM_SUCCESS && data;
}
