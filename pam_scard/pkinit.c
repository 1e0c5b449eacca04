/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PKINIT with MIT libkrb5: X509_user_identity = one certificate on one PKCS#11 slot,
 * pre-authentication restricted to PA-PK-AS-REQ, the PIN answered through the "pkinit"
 * responder question, the TGT kept in a MEMORY ccache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
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

/* Answer every PKCS#11 identity libkrb5 asks about (there is one: ours) with the PIN. */
static krb5_error_code KRB5_CALLCONV
responder(krb5_context ctx, void *data, krb5_responder_context rctx)
{
    const char *pin = data;
    krb5_responder_pkinit_challenge *chl = NULL;
    krb5_error_code code;

    code = krb5_responder_pkinit_get_challenge(ctx, rctx, &chl);
    if (code || !chl)
        return code;
    for (size_t i = 0; chl->identities && chl->identities[i] && code == 0; i++)
        code = krb5_responder_pkinit_set_answer(ctx, rctx, chl->identities[i]->identity, pin);
    krb5_responder_pkinit_challenge_free(ctx, rctx, chl);
    return code;
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

static int
get_creds(const struct pamsc_args *args, struct pamsc_tgt *tgt, krb5_principal princ,
          const char *identity, const char *pin)
{
    krb5_preauthtype pa_list[] = {KRB5_PADATA_PK_AS_REQ};
    krb5_get_init_creds_opt *opt = NULL;
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
        code = krb5_get_init_creds_opt_set_responder(tgt->ctx, opt, responder, (void *)pin);
    if (!code)
        code = krb5_get_init_creds_opt_set_out_ccache(tgt->ctx, opt, tgt->cc);
    if (code) {
        r = krb5_fail(args, tgt->ctx, code, "cannot set PKINIT options");
        goto out;
    }
    code = krb5_get_init_creds_password(tgt->ctx, &creds, princ, NULL, NULL, NULL, 0, NULL, opt);
    if (code) {
        char what[300];
        snprintf(what, sizeof(what), "PKINIT for %s failed", tgt->principal);
        r = krb5_fail(args, tgt->ctx, code, what);
        goto out;
    }
    krb5_free_cred_contents(tgt->ctx, &creds);
out:
    krb5_get_init_creds_opt_free(tgt->ctx, opt);
    return r;
}

int
pamsc_pkinit_get_tgt(const struct pamsc_args *args, const char *user, const char *identity,
                     const char *pin, struct pamsc_tgt **ret_tgt)
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
