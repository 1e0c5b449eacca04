/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which certificate signs in: of every certificate found on the cards present, the ones
 * the sign-in filter accepts and that map to the user (or, with no user name given, to
 * any local account), latest-expiring of duplicates; one is taken as is, several are
 * offered as a numbered list (windows.md §2.2–2.4, §3.1).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

struct pamsc_args;
struct pamsc_token;

/* The certificate chosen for the sign-in. */
struct pamsc_choice {
    size_t index;    /* certificate index in the token set (pamsc_token_get()) */
    char *principal; /* principal the certificate names, NULL = none (the KDC decides) */
    char *user;      /* local account it maps to; NULL when no user was given and the
                        certificate names none (allow_user_name_hint: ask the user) */
};

/**
 * Choose the sign-in certificate among those of @p token.
 * Each certificate goes through pamsc_cert_check() (refusals logged with subject, issuer and
 * serial), then the mapping: with @p user, only certificates whose principal maps to @p user
 * through auth_to_local, or that name no principal; with no @p user, those that map to a
 * local account (and, with allow_user_name_hint, those naming none). Then, with
 * filter_duplicate_certificates, pamsc_cert_filter_duplicates(). One left is chosen; with
 * several the user picks one from a numbered list (PAM_PROMPT_ECHO_ON, three tries), each
 * shown by pamsc_choose_describe().
 * @param[in]  token       certificates found (not owned)
 * @param[in]  user        PAM user, NULL or "" = not given (the card decides)
 * @param[out] ret_choice  filled on success; free with pamsc_choice_clear()
 * @return 0; -ENOKEY the cards hold no certificate usable for signing in (the user was told
 *         why); -ENOMEDIUM every usable certificate belongs to someone else (told "not for
 *         <user>"); -EBADMSG conversation failed or no valid choice in three tries; -ENOMEM;
 *         -EIO libkrb5 cannot start (auth_to_local)
 * Source: windows.md §2.2 step 8–9, §2.3 (filter), §2.4 (tiles, duplicates, ReverseSubject).
 */
int pamsc_choose_certificate(const struct pamsc_args *args, const struct pamsc_token *token,
                             const char *user, struct pamsc_choice *ret_choice);

/** Free the strings of @p choice; idempotent. */
void pamsc_choice_clear(struct pamsc_choice *choice);

/**
 * One line naming a certificate for a list: the principal (UPN) with the subject's common
 * name, else the e-mail address of the subjectAltName, else the whole subject — most
 * specific RDN first when @p reverse (reverse_subject), else in certificate order.
 * @param[in]  cert       not NULL
 * @param[in]  principal  principal the certificate names, or NULL
 * @param[in]  reverse    reverse_subject
 * @param[out] buf        @p len bytes (≥ 1), always NUL-terminated; cut when too small
 * Source: windows.md §2.4 "What is shown".
 */
void pamsc_choose_describe(X509 *cert, const char *principal, bool reverse, char *buf, size_t len);

/**
 * Log (LOG_WARNING) that @p cert was refused for sign-in, with its subject, issuer, serial
 * and @p reason, on one line.
 */
void pamsc_log_refused_cert(const struct pamsc_args *args, X509 *cert, const char *reason);
