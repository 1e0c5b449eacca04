/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_scard options: one typed table read from the [logon] section of scard.conf,
 * then overridden by PAM module arguments of the same names.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "pam_scard/certpolicy.h"
#include "pam_scard/trust.h"

struct pamsc_options {
    char *config;                 /* config file named by "config=", NULL = SCARD_CONF/default */
    char *pkcs11_module;          /* path of the PKCS#11 module, malloc'd */
    uint64_t card_wait_usec;      /* how long to wait for a card (card_wait_timeout, seconds) */
    char *ccache_name;            /* template of the user's ccache, malloc'd */
    bool destroy_ccache_on_close; /* destroy the ccache at close_session / PAM_DELETE_CRED */
    bool debug;                   /* log at LOG_DEBUG */
    struct pamsc_cert_policy cert_policy; /* allow_*_certificates/keys: the sign-in certificate filter */
    char *verify_ticket;          /* "if_keytab" (default), "require" or "no", malloc'd */
    char *keytab;                 /* keytab for verify_ticket, NULL = libkrb5's default */
    bool require_smartcard;       /* no card = PAM_AUTH_ERR, not PAM_AUTHINFO_UNAVAIL */
    struct pamsc_trust_policy trust; /* trust_anchors, revocation_*, crl_file, ocsp_*: local chain check */
    bool force_reading_all_certificates; /* every certificate of a card, not only PIV 9A (ForceReadingAllCertificates) */
    bool filter_duplicate_certificates;  /* of "same" certificates offer the latest-expiring (FilterDuplicateCerts) */
    bool reverse_subject;         /* show subjects most specific RDN first (ReverseSubject) */
    bool allow_user_name_hint;    /* ask a user name when none is given (X509HintsNeeded) */
    char *blocked_card_message;   /* told when the PIN is blocked, NULL = built-in text (IntegratedUnblockPromptString) */
};

/**
 * Fill @p opts with defaults, then the [logon] section of the configuration, then the PAM
 * arguments ("key=value" for every table key, "config=FILE", bare "debug").
 * @param[in]  argc, argv  PAM module arguments (not owned)
 * @param[out] opts        filled in; free with pamsc_options_free() on success and failure
 * @param[in]  lg          where errors go (each names the file:line or the argument)
 * @return 0; -EINVAL unknown argument or key, bad value, syntax error; -ENOENT the named
 *         config file is missing; -EIO; -ENOMEM
 * Source: key names are shared with scard.conf [logon] (conf/scard.conf).
 */
int pamsc_options_load(int argc, const char **argv, struct pamsc_options *opts,
                       const struct sc_logger *lg);

/** Free the strings of @p opts (the struct itself is the caller's); idempotent. */
void pamsc_options_free(struct pamsc_options *opts);
