/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_sm_chauthtok: change the PIN of the user's own smart card. Finds the card (PC/SC),
 * its token and 9A certificate (libp11), checks that the certificate maps to the PAM user
 * (certmap), asks the PINs and changes the PIN with C_SetPIN.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "common/cleanup.h"
#include "common/secret.h"
#include "pam_scard/args.h"
#include "pam_scard/card.h"
#include "pam_scard/certmap.h"
#include "pam_scard/chauthtok.h"
#include "pam_scard/token.h"

/* PIV Authentication key, slot 9A: CKA_ID 01 in OpenSC (SP 800-73-4 Part 1 §3.1; pkcs15-piv.c) */
static const uint8_t piv_auth_cert_id[] = {0x01};

/* FIPS 201-3 §4.3.1 / SP 800-73-4 Part 1 §2.4.3: the PIV PIN is 6 to 8 digits */
#define PIN_MIN_LEN 6
#define PIN_MAX_LEN 8

static void
free_data(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    (void)status;
    free(data);
}

/* 0 the certificate maps to @p user; 1 it maps to someone else or to nobody; -ENOMEM/-EIO. */
static int
card_is_users(const struct pamsc_args *args, X509 *cert, const char *user, const char *reader)
{
    _cleanup_free_ char *principal = NULL, *local = NULL;
    int r = pamsc_certmap_principal(cert, &principal);

    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        sc_log(&args->log, LOG_INFO, "the card in '%s' names no principal: PIN change left to others", reader);
        return 1;
    }
    r = pamsc_certmap_local_user(principal, &local);
    if (r == 0 && strcmp(local, user) == 0)
        return 0;
    if (r == -ENOMEM || r == -EIO)
        return r;
    sc_log(&args->log, LOG_INFO, "the card in '%s' is for %s, not for user %s: PIN change left to others",
           reader, principal, user);
    return 1;
}

static void
tell_wrong_pin(const struct pamsc_args *args, const struct pamsc_reader_ops *rops,
               struct pamsc_reader *reader, const char *name, int r)
{
    (void)pamsc_tell_wrong_pin(args, r == -EKEYREVOKED ? 0 : rops->pin_tries_left(args, reader, name));
}

static bool
pin_acceptable(const char *pin)
{
    size_t n = strlen(pin);

    if (n < PIN_MIN_LEN || n > PIN_MAX_LEN)
        return false;
    return strspn(pin, "0123456789") == n;
}

static int
ask(const struct pamsc_args *args, const char *prompt, char **ret_pin)
{
    int r = pamsc_prompt_secret(args, prompt, ret_pin);

    if (r == -ENODATA) {
        pamsc_error(args, "No PIN entered.");
        return -EINVAL;
    }
    return r;
}

/* The user's card: the reader set, the token set and which certificate is the user's. */
struct users_card {
    struct pamsc_reader *reader;
    struct pamsc_token *token;
    size_t index;
};

static void
users_card_close(const struct pamsc_reader_ops *rops, struct users_card *uc)
{
    pamsc_token_close(uc->token);
    rops->close(uc->reader);
    *uc = (struct users_card){0};
}

/* The PAM_UPDATE_AUTHTOK pass on the user's token. */
static int
change_pin(const struct pamsc_args *args, const struct pamsc_reader_ops *rops, struct users_card *uc)
{
    const struct pamsc_token_cert *tc = pamsc_token_get(uc->token, uc->index);
    _cleanup_secret_ char *old_pin = NULL, *new_pin = NULL, *again = NULL;
    int r;

    pamsc_info(args, "Changing the PIN of smart card %s (%s).", tc->label, tc->reader);
    r = ask(args, "Current PIN: ", &old_pin);
    if (r == 0)
        r = ask(args, "New PIN: ", &new_pin);
    if (r == 0)
        r = ask(args, "Repeat new PIN: ", &again);
    if (r < 0)
        return r;
    if (strcmp(new_pin, again) != 0) {
        pamsc_error(args, "The new PINs do not match; the PIN was not changed.");
        return -EINVAL;
    }
    if (!pin_acceptable(new_pin)) {
        pamsc_error(args, "The new PIN must be 6 to 8 digits.");
        return -ERANGE;
    }
    r = pamsc_token_change_pin(args, uc->token, uc->index, old_pin, new_pin);
    if (r == -EACCES || r == -EKEYREVOKED)
        tell_wrong_pin(args, rops, uc->reader, tc->reader, r);
    else if (r == -ERANGE)
        pamsc_error(args, "The new PIN must be 6 to 8 digits.");
    else if (r < 0)
        pamsc_error(args, "The smart card could not change the PIN.");
    else
        pamsc_info(args, "The PIN of your smart card has been changed.");
    return r;
}

/* Find the user's card among the cards present: 0 with @p uc filled; 1 none here; <0 error. */
static int
find_users_card(const struct pamsc_args *args, const struct pamsc_reader_ops *rops, const char *user,
                struct users_card *uc)
{
    const char *const *names;
    size_t n;
    int r;

    r = rops->wait_card(args, 0, &uc->reader);
    if (r < 0)
        return r == -ENOMEM ? r : 1;
    names = rops->names(uc->reader, &n);
    r = pamsc_token_open(args, args->opts.pkcs11_module, names, n, piv_auth_cert_id, sizeof(piv_auth_cert_id),
                         false, &uc->token);
    if (r < 0) {
        users_card_close(rops, uc);
        return r == -ENOMEM ? r : 1;
    }
    for (uc->index = 0; uc->index < pamsc_token_count(uc->token); uc->index++) {
        const struct pamsc_token_cert *tc = pamsc_token_get(uc->token, uc->index);
        r = card_is_users(args, tc->cert, user, tc->reader);
        if (r <= 0)
            break;
    }
    if (r != 0)
        users_card_close(rops, uc);
    return r;
}

int
pamsc_chauthtok(const struct pamsc_args *args, const struct pamsc_reader_ops *rops, int flags)
{
    struct users_card uc = {0};
    const struct pamsc_token_cert *tc;
    const void *prelim = NULL;
    const char *user = NULL;
    int r;

    if (flags & PAM_CHANGE_EXPIRED_AUTHTOK)
        return 1; /* a PIN does not expire */
    if (pam_get_user(args->pamh, &user, NULL) != PAM_SUCCESS || !user || !*user)
        return sc_log(&args->log, LOG_ERR, "cannot get the user name"), -EBADMSG;
    if (flags & PAM_UPDATE_AUTHTOK) {
        if (pam_get_data(args->pamh, PAMSC_DATA_CHAUTHTOK, &prelim) != PAM_SUCCESS || !prelim)
            return 1; /* the PRELIM pass found no card of this user */
    } else {
        (void)pam_set_data(args->pamh, PAMSC_DATA_CHAUTHTOK, NULL, NULL);
    }
    r = find_users_card(args, rops, user, &uc);
    if (r == 1 && prelim) {
        pamsc_error(args, "The smart card was removed; the PIN was not changed.");
        r = -ENODEV;
    }
    if (r != 0)
        goto out;
    tc = pamsc_token_get(uc.token, uc.index);
    if (!(flags & PAM_UPDATE_AUTHTOK)) {
        if (tc->pin_locked) {
            tell_wrong_pin(args, rops, uc.reader, tc->reader, -EKEYREVOKED);
            r = -EKEYREVOKED;
            goto out;
        }
        char *name = strdup(tc->reader);
        if (!name || pam_set_data(args->pamh, PAMSC_DATA_CHAUTHTOK, name, free_data) != PAM_SUCCESS) {
            free(name);
            r = -ENOMEM;
        }
        goto out;
    }
    r = change_pin(args, rops, &uc);
    sc_log(&args->log, r == 0 ? LOG_NOTICE : LOG_WARNING, "PIN change for user %s on card '%s' in '%s': %s",
           user, tc->label, tc->reader, r == 0 ? "done" : strerror(-r));
out:
    users_card_close(rops, &uc);
    pamsc_err_drop();
    return r;
}

int
pamsc_chauthtok_pam_code(int err)
{
    switch (err) {
    case 0:
        return PAM_SUCCESS;
    case 1:
        return PAM_IGNORE;
    case -EACCES:
    case -EKEYREVOKED:
        return PAM_AUTHTOK_RECOVERY_ERR;
    case -EBADMSG:
        return PAM_CONV_ERR;
    case -ENOMEM:
        return PAM_BUF_ERR;
    default:
        return PAM_AUTHTOK_ERR;
    }
}
