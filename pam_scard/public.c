/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PAM entry points of pam_scard.so, and nothing else: each builds the per-call
 * state from the module arguments and the configuration, delegates, maps the result
 * to a PAM code and frees. Exported alone (pam_scard.map).
 */
#include <errno.h>

#include <openssl/err.h>
#include <security/pam_modules.h>

#include "pam_scard/args.h"
#include "pam_scard/auth.h"
#include "pam_scard/card.h"
#include "pam_scard/chauthtok.h"
#include "pam_scard/errmap.h"
#include "pam_scard/session.h"

/* Leave the host's OpenSSL error queue as we found it, and map the result: authenticate has
 * its own outcomes, setcred/session steps only success or @p fallback. */
static int
finish(struct pamsc_err_saved *saved, int r, int fallback)
{
    pamsc_err_restore(saved);
    return pamsc_pam_code_or(r, fallback);
}

/*
 * require_smartcard (Windows "Interactive logon: Require smart card", scforceoption): every
 * "cannot use a card here" outcome (no card, no reader, no service, no sign-in certificate,
 * KDC unreachable) becomes PAM_AUTH_ERR, so that no later module of the stack (a password)
 * can sign the user in instead.
 */
static int
finish_auth(const struct pamsc_args *args, struct pamsc_err_saved *saved, int r)
{
    int code;

    pamsc_err_restore(saved);
    code = pamsc_pam_code(r);
    if ((code == PAM_CRED_UNAVAIL || code == PAM_CRED_INSUFFICIENT || code == PAM_AUTHINFO_UNAVAIL) &&
        args->opts.require_smartcard) {
        sc_log(&args->log, LOG_NOTICE, "require_smartcard: no smart-card sign-in possible, refusing");
        return PAM_AUTH_ERR;
    }
    return code;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r;

    struct pamsc_err_saved saved;

    pamsc_err_save(&saved);
    r = pamsc_args_new(pamh, flags, argc, argv, &args);
    if (r < 0)
        return pamsc_err_restore(&saved), r == -ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR; /* configuration errors fail closed */
    r = pamsc_authenticate(args, &pamsc_pcsc_reader_ops);
    return finish_auth(args, &saved, r);
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r;

    struct pamsc_err_saved saved;

    pamsc_err_save(&saved);
    r = pamsc_args_new(pamh, flags, argc, argv, &args);
    if (r < 0)
        return pamsc_err_restore(&saved), r == -ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    r = pamsc_setcred(args, flags);
    return finish(&saved, r, PAM_CRED_ERR);
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r;

    struct pamsc_err_saved saved;

    pamsc_err_save(&saved);
    r = pamsc_args_new(pamh, flags, argc, argv, &args);
    if (r < 0)
        return pamsc_err_restore(&saved), r == -ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    r = pamsc_open_session(args);
    return finish(&saved, r, PAM_SESSION_ERR);
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r;

    struct pamsc_err_saved saved;

    pamsc_err_save(&saved);
    r = pamsc_args_new(pamh, flags, argc, argv, &args);
    if (r < 0)
        return pamsc_err_restore(&saved), r == -ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    r = pamsc_close_session(args);
    return finish(&saved, r, PAM_SESSION_ERR);
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r;

    struct pamsc_err_saved saved;

    pamsc_err_save(&saved);
    r = pamsc_args_new(pamh, flags, argc, argv, &args);
    if (r < 0)
        return pamsc_err_restore(&saved), r == -ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    r = pamsc_authenticated(args);
    pamsc_err_restore(&saved);
    return r ? PAM_SUCCESS : PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r;

    struct pamsc_err_saved saved;

    pamsc_err_save(&saved);
    r = pamsc_args_new(pamh, flags, argc, argv, &args);
    if (r < 0)
        return pamsc_err_restore(&saved), r == -ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    r = pamsc_chauthtok(args, &pamsc_pcsc_reader_ops, flags);
    pamsc_err_restore(&saved);
    return pamsc_chauthtok_pam_code(r);
}
