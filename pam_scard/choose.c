/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The certificate choice of pam_sm_authenticate (choose.h): filter, map to the user,
 * drop duplicates, and ask when more than one is left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <security/pam_ext.h>

#include "common/cleanup.h"
#include "pam_scard/args.h"
#include "pam_scard/certmap.h"
#include "pam_scard/certpolicy.h"
#include "pam_scard/choose.h"
#include "pam_scard/token.h"

#define CHOICE_TRIES 3

void
pamsc_log_refused_cert(const struct pamsc_args *args, X509 *cert, const char *reason)
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

void
pamsc_choice_clear(struct pamsc_choice *choice)
{
    free(choice->principal);
    free(choice->user);
    *choice = (struct pamsc_choice){0};
}

/* First value of @p nid in @p name as UTF-8 (OPENSSL_free), or NULL. */
static char *
name_entry(const X509_NAME *name, int nid)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    unsigned char *utf8 = NULL;

    if (i < 0 || ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))) < 0)
        return NULL;
    return (char *)utf8;
}

/* First rfc822Name of the subjectAltName as UTF-8 (OPENSSL_free), or NULL. */
static char *
san_email(X509 *cert)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    unsigned char *utf8 = NULL;

    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type == GEN_EMAIL && ASN1_STRING_to_UTF8(&utf8, gn->d.rfc822Name) >= 0)
            break;
    }
    GENERAL_NAMES_free(names);
    return (char *)utf8;
}

/* The subject on one line, RFC 2253 escaping, most specific first when @p reverse. */
static void
subject_line(X509 *cert, bool reverse, char *buf, size_t len)
{
    unsigned long flags = (XN_FLAG_RFC2253 & ~XN_FLAG_DN_REV) | (reverse ? XN_FLAG_DN_REV : 0);
    BIO *bio = BIO_new(BIO_s_mem());
    int n = 0;

    buf[0] = '\0';
    if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, flags) >= 0)
        n = BIO_read(bio, buf, (int)(len - 1));
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(bio);
}

void
pamsc_choose_describe(X509 *cert, const char *principal, bool reverse, char *buf, size_t len)
{
    char *cn = NULL, *email = NULL;

    if (principal) {
        cn = name_entry(X509_get_subject_name(cert), NID_commonName);
        snprintf(buf, len, cn ? "%s (%s)" : "%s", principal, cn);
    } else if ((email = san_email(cert))) {
        snprintf(buf, len, "%s", email);
    } else {
        subject_line(cert, reverse, buf, len);
        if (!buf[0])
            snprintf(buf, len, "(no subject)");
    }
    OPENSSL_free(cn);
    OPENSSL_free(email);
    pamsc_err_drop();
}

/* A certificate that passed the filter and the mapping. */
struct candidate {
    size_t index;
    char *principal;
    char *user;
};

struct tally {
    enum pamsc_cert_verdict first_refusal; /* reason for the first certificate the filter refused */
    size_t refused;                        /* by the filter, or unreadable principal */
    size_t others;                         /* someone else's */
    size_t nameless;                       /* no user given, and the certificate names none */
};

/* Filter and map certificate @p i; 1 = candidate (filled in), 0 = not, <0 error. */
static int
consider(const struct pamsc_args *args, const struct pamsc_token_cert *tc, const char *user,
         struct candidate *c, struct tally *t)
{
    enum pamsc_cert_verdict v = pamsc_cert_check(&args->opts.cert_policy, tc->cert, time(NULL));
    _cleanup_free_ char *principal = NULL, *local = NULL;
    int r;

    if (v != PAMSC_CERT_USABLE) {
        pamsc_log_refused_cert(args, tc->cert, pamsc_cert_verdict_to_string(v));
        if (t->refused++ == 0)
            t->first_refusal = v;
        return 0;
    }
    r = pamsc_certmap_principal(tc->cert, &principal);
    if (r == -ENOMEM)
        return r;
    if (r < 0 && r != -ENOENT) {
        pamsc_log_refused_cert(args, tc->cert, "its principal name cannot be read");
        if (t->refused++ == 0)
            t->first_refusal = PAMSC_CERT_MALFORMED;
        return 0;
    }
    if (principal) {
        r = pamsc_certmap_local_user(principal, &local);
        if (r == -ENOMEM || r == -EIO)
            return r;
    }
    if (user) {
        if (!principal || (local && strcmp(local, user) == 0))
            goto take; /* no principal: the KDC checks the name against the certificate */
        sc_log(&args->log, LOG_NOTICE, "a certificate of card '%s' in '%s' is for %s, not for user %s: not offered",
               tc->label, tc->reader, principal, user);
        t->others++;
        return 0;
    }
    if (local || args->opts.allow_user_name_hint)
        goto take;
    sc_log(&args->log, LOG_NOTICE, "a certificate of card '%s' in '%s' names no local account%s%s",
           tc->label, tc->reader, principal ? ": " : "", principal ? principal : "");
    t->nameless++;
    return 0;
take:
    c->principal = TAKE_PTR(principal);
    c->user = TAKE_PTR(local);
    return 1;
}

/* Keep the latest-expiring of "same" candidates (filter_duplicate_certificates). */
static size_t
drop_duplicates(const struct pamsc_args *args, const struct pamsc_token *token, struct candidate *cands, size_t n)
{
    _cleanup_free_ X509 **certs = calloc(n, sizeof(*certs));
    _cleanup_free_ X509 **kept = calloc(n, sizeof(*kept));
    size_t nkept, out = 0;

    if (!certs || !kept)
        return n; /* nothing dropped; more to choose from is the safe side */
    for (size_t i = 0; i < n; i++)
        certs[i] = pamsc_token_get(token, cands[i].index)->cert;
    nkept = pamsc_cert_filter_duplicates(certs, n, kept);
    for (size_t i = 0, k = 0; i < n; i++) {
        if (k < nkept && kept[k] == certs[i]) {
            cands[out++] = cands[i];
            k++;
            continue;
        }
        sc_log(&args->log, LOG_INFO, "a certificate of card '%s' in '%s' not offered: a duplicate expiring earlier",
               pamsc_token_get(token, cands[i].index)->label, pamsc_token_get(token, cands[i].index)->reader);
        free(cands[i].principal);
        free(cands[i].user);
    }
    return out;
}

static void
describe_line(const struct pamsc_args *args, const struct pamsc_token *token, const struct candidate *c,
              char *buf, size_t len)
{
    const struct pamsc_token_cert *tc = pamsc_token_get(token, c->index);
    char who[256], until[32] = "?";
    struct tm tm;

    pamsc_choose_describe(tc->cert, c->principal, args->opts.reverse_subject, who, sizeof(who));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(tc->cert), &tm) == 1)
        strftime(until, sizeof(until), "%Y-%m-%d", &tm);
    snprintf(buf, len, "%s, card %s in %s, valid until %s", who, tc->label, tc->reader, until);
}

/* Ask which of @p n candidates (n ≥ 2); the index into @p cands. */
static int
ask_choice(const struct pamsc_args *args, const struct pamsc_token *token, const struct candidate *cands,
           size_t n, size_t *ret)
{
    size_t cap = 64 + n * 320, used;
    _cleanup_free_ char *prompt = malloc(cap);
    char line[320];

    if (!prompt)
        return -ENOMEM;
    used = (size_t)snprintf(prompt, cap, "Several certificates can sign you in:\n");
    for (size_t i = 0; i < n && used < cap; i++) {
        describe_line(args, token, &cands[i], line, sizeof(line));
        used += (size_t)snprintf(prompt + used, cap - used, "  %zu: %s\n", i + 1, line);
    }
    if (used < cap)
        snprintf(prompt + used, cap - used, "Certificate (1-%zu): ", n);
    for (int tries = 0; tries < CHOICE_TRIES; tries++) {
        char *answer = NULL, *end = NULL;
        if (pam_prompt(args->pamh, PAM_PROMPT_ECHO_ON, &answer, "%s", prompt) != PAM_SUCCESS || !answer) {
            free(answer);
            sc_log(&args->log, LOG_ERR, "the conversation gave no certificate choice");
            return -EBADMSG;
        }
        errno = 0;
        unsigned long v = strtoul(answer, &end, 10);
        bool ok = errno == 0 && end != answer && *end == '\0' && v >= 1 && v <= n;
        free(answer);
        if (ok) {
            *ret = v - 1;
            return 0;
        }
        pamsc_error(args, "Please answer with a number from 1 to %zu.", n);
    }
    sc_log(&args->log, LOG_NOTICE, "no valid certificate choice in %d tries", CHOICE_TRIES);
    return -EBADMSG;
}

static void
tell_none(const struct pamsc_args *args, const struct pamsc_token *token, const char *user, const struct tally *t)
{
    const struct pamsc_token_cert *first = pamsc_token_get(token, 0);

    if (t->refused > 0)
        pamsc_error(args, "This smart card's certificate cannot be used to sign in: %s.",
                    pamsc_cert_verdict_to_string(t->first_refusal));
    else if (t->others > 0)
        pamsc_info(args, "The smart card in %s is not for %s.", first->reader, user);
    else
        pamsc_error(args, "This smart card's certificate names no user of this computer.");
}

int
pamsc_choose_certificate(const struct pamsc_args *args, const struct pamsc_token *token,
                         const char *user, struct pamsc_choice *ret_choice)
{
    size_t n = pamsc_token_count(token), ncands = 0, pick = 0;
    _cleanup_free_ struct candidate *cands = calloc(n, sizeof(*cands));
    struct tally t = {0};
    int r = 0;

    if (!cands)
        return -ENOMEM;
    if (user && !*user)
        user = NULL;
    for (size_t i = 0; i < n; i++) {
        cands[ncands].index = i;
        r = consider(args, pamsc_token_get(token, i), user, &cands[ncands], &t);
        if (r < 0)
            goto out;
        ncands += (size_t)r;
    }
    if (ncands > 1 && args->opts.filter_duplicate_certificates)
        ncands = drop_duplicates(args, token, cands, ncands);
    if (ncands == 0) {
        tell_none(args, token, user, &t);
        r = t.refused > 0 || t.nameless > 0 || !user ? -ENOKEY : -ENOMEDIUM;
        goto out;
    }
    r = ncands == 1 ? 0 : ask_choice(args, token, cands, ncands, &pick);
    if (r == 0) {
        *ret_choice = (struct pamsc_choice){
            .index = cands[pick].index,
            .principal = TAKE_PTR(cands[pick].principal),
            .user = TAKE_PTR(cands[pick].user),
        };
        const struct pamsc_token_cert *tc = pamsc_token_get(token, ret_choice->index);
        char id[2 * 16 + 1] = "";
        for (size_t k = 0; k < tc->id_len && k < 16; k++)
            snprintf(id + 2 * k, 3, "%02x", tc->id[k]);
        sc_log(&args->log, LOG_INFO, "certificate id %s of card '%s' in '%s' chosen for sign-in (%zu offered)", id,
               tc->label, tc->reader, ncands);
    }
out:
    for (size_t i = 0; i < ncands; i++) {
        free(cands[i].principal);
        free(cands[i].user);
    }
    return r;
}
