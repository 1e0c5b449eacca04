/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pam_scard option table and its two sources: defaults → scard.conf [logon]
 * (common/config.c) → PAM module arguments. Adding an option = one table line plus
 * one struct field; the values are typed the same way in both sources.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/config.h"
#include "pam_scard/options.h"

#define SECTION "logon"

static const struct sc_conf_key option_table[] = {
    {SECTION, "pkcs11_module", SC_CONF_STRING, offsetof(struct pamsc_options, pkcs11_module), 0, 0},
    {SECTION, "card_wait_timeout", SC_CONF_SECONDS, offsetof(struct pamsc_options, card_wait_usec), 0, 3600},
    {SECTION, "ccache_name", SC_CONF_STRING, offsetof(struct pamsc_options, ccache_name), 0, 0},
    {SECTION, "destroy_ccache_on_close", SC_CONF_BOOL, offsetof(struct pamsc_options, destroy_ccache_on_close), 0, 0},
    {SECTION, "debug", SC_CONF_BOOL, offsetof(struct pamsc_options, debug), 0, 0},
    {SECTION, "allow_time_invalid_certificates", SC_CONF_BOOL, offsetof(struct pamsc_options, cert_policy.allow_time_invalid), 0, 0},
    {SECTION, "allow_certificates_with_no_eku", SC_CONF_BOOL, offsetof(struct pamsc_options, cert_policy.allow_no_eku), 0, 0},
    {SECTION, "allow_signature_only_keys", SC_CONF_BOOL, offsetof(struct pamsc_options, cert_policy.allow_signature_only), 0, 0},
    {SECTION, "allow_ecc_certificates", SC_CONF_BOOL, offsetof(struct pamsc_options, cert_policy.allow_ecc), 0, 0},
    {SECTION, "verify_ticket", SC_CONF_STRING, offsetof(struct pamsc_options, verify_ticket), 0, 0},
    {SECTION, "keytab", SC_CONF_STRING, offsetof(struct pamsc_options, keytab), 0, 0},
    {SECTION, "require_smartcard", SC_CONF_BOOL, offsetof(struct pamsc_options, require_smartcard), 0, 0},
    {SECTION, "trust_anchors", SC_CONF_STRING, offsetof(struct pamsc_options, trust.anchors), 0, 0},
    {SECTION, "revocation_check", SC_CONF_STRING, offsetof(struct pamsc_options, trust.revocation_check), 0, 0},
    {SECTION, "revocation_fail", SC_CONF_STRING, offsetof(struct pamsc_options, trust.revocation_fail), 0, 0},
    {SECTION, "crl_file", SC_CONF_STRING, offsetof(struct pamsc_options, trust.crl_file), 0, 0},
    {SECTION, "ocsp_responder", SC_CONF_STRING, offsetof(struct pamsc_options, trust.ocsp_responder), 0, 0},
    {SECTION, "ocsp_timeout", SC_CONF_SECONDS, offsetof(struct pamsc_options, trust.ocsp_timeout_usec), 1, 300},
    {SECTION, "force_reading_all_certificates", SC_CONF_BOOL, offsetof(struct pamsc_options, force_reading_all_certificates), 0, 0},
    {SECTION, "filter_duplicate_certificates", SC_CONF_BOOL, offsetof(struct pamsc_options, filter_duplicate_certificates), 0, 0},
    {SECTION, "reverse_subject", SC_CONF_BOOL, offsetof(struct pamsc_options, reverse_subject), 0, 0},
    {SECTION, "allow_user_name_hint", SC_CONF_BOOL, offsetof(struct pamsc_options, allow_user_name_hint), 0, 0},
    {SECTION, "blocked_card_message", SC_CONF_STRING, offsetof(struct pamsc_options, blocked_card_message), 0, 0},
    {NULL, NULL, 0, 0, 0, 0},
};

static int
set_defaults(struct pamsc_options *opts)
{
    *opts = (struct pamsc_options){
        .pkcs11_module = strdup(SC_DEFAULT_PKCS11_MODULE),
        .card_wait_usec = 30 * UINT64_C(1000000),
        .ccache_name = strdup("FILE:/tmp/krb5cc_%u_XXXXXX"),
        .verify_ticket = strdup("if_keytab"),
        .trust.ocsp_timeout_usec = 5 * UINT64_C(1000000),
        .filter_duplicate_certificates = true, /* the ADMX text: filtering unless disabled */
        .reverse_subject = true,               /* the ADMX text: reversed unless disabled */
    };
    return opts->pkcs11_module && opts->ccache_name && opts->verify_ticket ? 0 : -ENOMEM;
}

static int
apply_arg(const char *arg, struct pamsc_options *opts, const struct sc_logger *lg)
{
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);

    if (strncmp(arg, "config", klen) == 0 && klen == 6 && eq)
        return 0; /* read before the file */
    if (!eq && strcmp(arg, "debug") == 0)
        return opts->debug = true, 0;
    char name[64], hint[64];
    int r = -ENOENT;

    if (eq && klen < sizeof(name)) {
        memcpy(name, arg, klen);
        name[klen] = '\0';
        r = sc_conf_set(option_table, opts, SECTION, name, eq + 1);
    }
    if (r == -ENOENT) {
        sc_log(lg, LOG_ERR, "unknown module argument '%s'", arg);
        return -EINVAL;
    }
    if (r == -EINVAL) {
        for (const struct sc_conf_key *k = option_table; k->name; k++)
            if (strcmp(k->name, name) == 0)
                sc_log(lg, LOG_ERR, "bad value in module argument '%s': expected %s", arg,
                       sc_conf_describe(k, hint, sizeof(hint)));
    }
    return r;
}

/* verify_ticket is one of three words; anything else is a configuration error (fail closed). */
static int
check_verify_ticket(const struct pamsc_options *opts, const struct sc_logger *lg)
{
    static const char *const modes[] = {"if_keytab", "require", "no"};

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(opts->verify_ticket, modes[i]) == 0)
            return 0;
    sc_log(lg, LOG_ERR, "bad verify_ticket '%s': expected if_keytab, require or no", opts->verify_ticket);
    return -EINVAL;
}

int
pamsc_options_load(int argc, const char **argv, struct pamsc_options *opts,
                   const struct sc_logger *lg)
{
    int r = set_defaults(opts);

    if (r < 0)
        return r;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "config=", 7) == 0) {
            free(opts->config);
            opts->config = strdup(argv[i] + 7);
            if (!opts->config)
                return -ENOMEM;
        }
    r = sc_conf_load(opts->config, option_table, opts, lg);
    if (r < 0)
        return r;
    for (int i = 0; i < argc; i++) {
        r = apply_arg(argv[i], opts, lg);
        if (r < 0)
            return r;
    }
    r = check_verify_ticket(opts, lg);
    return r < 0 ? r : pamsc_trust_policy_check(&opts->trust, lg);
}

void
pamsc_options_free(struct pamsc_options *opts)
{
    sc_conf_free(option_table, opts);
    free(opts->config);
    opts->config = NULL;
}
