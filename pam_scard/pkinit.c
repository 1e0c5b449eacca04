/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PKINIT with MIT libkrb5: X509_user_identity = one certificate on one PKCS#11 slot,
 * pre-authentication restricted to PA-PK-AS-REQ, the PIN answered to PKINIT's hidden
 * pre-authentication prompt, the TGT checked against the host keytab (verify_ticket), and
 * kept in a MEMORY ccache.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/secret.h"
#include "pam_scard/args.h"
#include "pam_scard/errmap.h"
#include "pam_scard/pkinit.h"

int
pamsc_pkinit_identity(const char *module, unsigned long slot_id, const uint8_t *cert_id,
                      size_t id_len, char **ret_identity)
{
    _cleanup_free_ char *hex = NULL;
    char *s;

    if (strchr(module, ':') || id_len == 0)
        return -EINVAL;
    hex = malloc(id_len * 2 + 1);
    if (!hex)
        return -ENOMEM;
    for (size_t i = 0; i < id_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", cert_id[i]);
    if (asprintf(&s, "PKCS11:module_name=%s:slotid=%lu:certid=%s", module, slot_id, hex) < 0)
        return -ENOMEM;
    *ret_identity = s;
    return 0;
}

/*
 * Answer PKINIT's PIN prompt (hidden, KRB5_PROMPT_TYPE_PREAUTH; the only prompt with
 * PA-PK-AS-REQ alone) with the PIN, asking for it the first time (req->ask); refuse any other
 * prompt. MIT PKINIT prompts once it has found the certificate, just before C_Login, so the
 * user is asked when the card is about to check the PIN, as kinit asks. A prompter, not the
 * "pkinit" responder question: MIT krb5 1.20 carries a responder answer as JSON and frees those
 * strings unwiped (krb5_responder_pkinit_set_answer(), twice per sign-in, and the plugin's
 * decoding of the answer), which left copies of the PIN in freed memory
 * (tests/integration/pam-robust.sh). The prompt's reply buffer is PKINIT's own (pkinit_login():
 * freed after C_Login).
 */
static krb5_error_code KRB5_CALLCONV
pin_prompter(krb5_context ctx, void *data, const char *name, const char *banner, int num_prompts,
             krb5_prompt prompts[])
{
    struct pamsc_pin_request *req = data;
    const krb5_prompt_type *types = krb5_get_prompt_types(ctx);
    size_t len;

    (void)name;
    (void)banner;
    for (int i = 0; i < num_prompts; i++)
        if (!types || types[i] != KRB5_PROMPT_TYPE_PREAUTH || !prompts[i].hidden)
            return KRB5_LIBOS_CANTREADPWD;
    if (!req->pin && req->ask && !req->asked) {
        int r = req->ask(req->userdata, &req->pin);
        req->asked = true;
        if (r < 0) {
            req->ask_error = r;
            req->pin = NULL;
        }
    }
    if (!req->pin)
        return KRB5_LIBOS_CANTREADPWD;
    len = strlen(req->pin);
    for (int i = 0; i < num_prompts; i++)
        if (prompts[i].reply->length < len + 1)
            return KRB5_LIBOS_CANTREADPWD;
    for (int i = 0; i < num_prompts; i++) {
        memcpy(prompts[i].reply->data, req->pin, len + 1);
        prompts[i].reply->length = (unsigned int)len;
    }
    return 0;
}

static int
krb5_fail(const struct pamsc_args *args, krb5_context ctx, krb5_error_code code, const char *what)
{
    const char *msg = krb5_get_error_message(ctx, code);
    int r = pamsc_errno_from_krb5(code);

    sc_log(&args->log, r == -EACCES || r == -ENOENT ? LOG_NOTICE : LOG_ERR, "%s: %s", what, msg);
    krb5_free_error_message(ctx, msg);
    return r;
}

/*
 * verify_ticket: ask the KDC for a ticket to a host/ service of the keytab and decrypt it
 * with the keytab key, so that only the real KDC (which knows that key) can sign a user in.
 * "if_keytab" accepts when there is no keytab or no host key in it; "require" does not.
 * Source: krb5_verify_init_creds(3) (MIT krb5 lib/krb5/krb/vic.c); pam_krb5 does the same.
 */
static int
verify_tgt(const struct pamsc_args *args, struct pamsc_tgt *tgt, krb5_creds *creds)
{
    const char *mode = args->opts.verify_ticket;
    const char *ktname = args->opts.keytab;
    krb5_verify_init_creds_opt vopt;
    krb5_keytab kt = NULL;
    krb5_error_code code;
    bool require = strcmp(mode, "require") == 0;

    if (strcmp(mode, "no") == 0)
        return 0;
    if (!require && strcmp(mode, "if_keytab") != 0)
        return sc_log(&args->log, LOG_ERR, "bad verify_ticket '%s': expected if_keytab, require or no",
                      mode), -EINVAL;
    code = ktname ? krb5_kt_resolve(tgt->ctx, ktname, &kt) : krb5_kt_default(tgt->ctx, &kt);
    if (code)
        return krb5_fail(args, tgt->ctx, code, "cannot open the keytab for verify_ticket");
    krb5_verify_init_creds_opt_init(&vopt);
    krb5_verify_init_creds_opt_set_ap_req_nofail(&vopt, require);
    code = krb5_verify_init_creds(tgt->ctx, creds, NULL, kt, NULL, &vopt);
    (void)krb5_kt_close(tgt->ctx, kt);
    if (code) {
        const char *msg = krb5_get_error_message(tgt->ctx, code);
        sc_log(&args->log, LOG_ERR, "TGT of %s not verified with keytab %s (verify_ticket=%s): %s",
               tgt->principal, ktname ? ktname : "(default)", mode, msg);
        krb5_free_error_message(tgt->ctx, msg);
        return -EACCES; /* a KDC that does not know our host key: treat as refused */
    }
    sc_log(&args->log, LOG_DEBUG, "TGT of %s checked with keytab %s (verify_ticket=%s)",
           tgt->principal, ktname ? ktname : "(default)", mode);
    return 0;
}

static int
get_creds(const struct pamsc_args *args, struct pamsc_tgt *tgt, krb5_principal princ,
          const char *identity, struct pamsc_pin_request *pin)
{
    krb5_preauthtype pa_list[] = {KRB5_PADATA_PK_AS_REQ};
    krb5_get_init_creds_opt *opt = NULL;
    krb5_init_creds_context icc = NULL;
    krb5_creds creds;
    krb5_error_code code;
    int r = 0;

    memset(&creds, 0, sizeof(creds));
    code = krb5_get_init_creds_opt_alloc(tgt->ctx, &opt);
    if (code)
        return krb5_fail(args, tgt->ctx, code, "cannot allocate PKINIT options");
    krb5_get_init_creds_opt_set_preauth_list(opt, pa_list, ELEMENTSOF(pa_list));
    code = krb5_get_init_creds_opt_set_pa(tgt->ctx, opt, "X509_user_identity", identity);
    if (!code)
        code = krb5_get_init_creds_opt_set_out_ccache(tgt->ctx, opt, tgt->cc);
    if (code) {
        r = krb5_fail(args, tgt->ctx, code, "cannot set PKINIT options");
        goto out;
    }
    /* The step API, not krb5_get_init_creds_password(): that one repeats a failed exchange
     * with the primary KDC, and with it PKINIT's C_Login, so a wrong PIN would cost two tries. */
    code = krb5_init_creds_init(tgt->ctx, princ, pin_prompter, (void *)pin, 0, opt, &icc);
    if (!code)
        code = krb5_init_creds_get(tgt->ctx, icc);
    if (!code)
        code = krb5_init_creds_get_creds(tgt->ctx, icc, &creds);
    if (code && pin->ask_error) {
        r = -ECANCELED; /* no PIN: the user was told by ask() */
        goto out;
    }
    if (code) {
        char what[300];
        snprintf(what, sizeof(what), "PKINIT for %s failed", tgt->principal);
        r = krb5_fail(args, tgt->ctx, code, what);
        goto out;
    }
    r = verify_tgt(args, tgt, &creds);
    krb5_free_cred_contents(tgt->ctx, &creds);
out:
    krb5_init_creds_free(tgt->ctx, icc);
    krb5_get_init_creds_opt_free(tgt->ctx, opt);
    return r;
}

int
pamsc_pkinit_get_tgt(const struct pamsc_args *args, const char *user, const char *identity,
                     struct pamsc_pin_request *pin, struct pamsc_tgt **ret_tgt)
{
    struct pamsc_tgt *tgt = calloc(1, sizeof(*tgt));
    krb5_principal princ = NULL;
    krb5_error_code code;
    int r;

    if (!tgt)
        return -ENOMEM;
    code = krb5_init_context(&tgt->ctx);
    if (code) {
        tgt->ctx = NULL;
        r = sc_log_errno(&args->log, LOG_ERR, pamsc_errno_from_krb5(code), "cannot initialise libkrb5");
        goto out;
    }
    code = krb5_parse_name(tgt->ctx, user, &princ);
    if (!code)
        code = krb5_unparse_name(tgt->ctx, princ, &tgt->principal);
    if (code) {
        r = krb5_fail(args, tgt->ctx, code, "cannot make a Kerberos principal of the user name");
        goto out;
    }
    code = krb5_cc_new_unique(tgt->ctx, "MEMORY", NULL, &tgt->cc);
    if (code) {
        r = krb5_fail(args, tgt->ctx, code, "cannot create a memory ccache");
        goto out;
    }
    sc_log(&args->log, LOG_DEBUG, "PKINIT for %s with %s", tgt->principal, identity);
    r = get_creds(args, tgt, princ, identity, pin);
out:
    if (princ)
        krb5_free_principal(tgt->ctx, princ);
    if (pin->asked) {
        sc_secret_free(pin->pin); /* asked here: ours to wipe */
        pin->pin = NULL;
    }
    if (r == 0) {
        sc_log(&args->log, LOG_INFO, "got a TGT for %s by PKINIT", tgt->principal);
        *ret_tgt = TAKE_PTR(tgt);
    }
    pamsc_tgt_free(tgt);
    return r;
}

void
pamsc_tgt_free(struct pamsc_tgt *tgt)
{
    if (!tgt)
        return;
    if (tgt->cc)
        (void)krb5_cc_destroy(tgt->ctx, tgt->cc);
    if (tgt->principal)
        krb5_free_unparsed_name(tgt->ctx, tgt->principal);
    if (tgt->ctx)
        krb5_free_context(tgt->ctx);
    free(tgt);
}
