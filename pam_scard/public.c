/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PAM entry points of pam_scard.so, and nothing else: each builds the per-call
 * state from the module arguments and the configuration, delegates, maps the result
 * to a PAM code and frees. Exported alone (pam_scard.map).
 */
#include <errno.h>

#include <security/pam_modules.h>

#include "pam_scard/args.h"
#include "pam_scard/auth.h"
#include "pam_scard/card.h"
#include "pam_scard/chauthtok.h"
#include "pam_scard/errmap.h"
#include "pam_scard/session.h"

/*
 * require_smartcard (Windows "Interactive logon: Require smart card", scforceoption): every
 * "cannot use a card here" outcome (no card, no reader, no service, no sign-in certificate,
 * KDC unreachable) becomes PAM_AUTH_ERR, so that no later module of the stack (a password)
 * can sign the user in instead.
 */
static int
auth_code(const struct pamsc_args *args, int r)
{
    int code = pamsc_pam_code(r);

    if ((code == PAM_CRED_UNAVAIL || code == PAM_CRED_INSUFFICIENT || code == PAM_AUTHINFO_UNAVAIL) &&
        args->opts.require_smartcard) {
        sc_log(&args->log, LOG_NOTICE, "require_smartcard: no smart-card sign-in possible, refusing");
        return PAM_AUTH_ERR;
    }
    return code;
}

enum step { STEP_AUTHENTICATE, STEP_SETCRED, STEP_OPEN_SESSION, STEP_CLOSE_SESSION, STEP_ACCT_MGMT, STEP_CHAUTHTOK };

/*
 * One pam_sm_* call: the host's OpenSSL error entries set aside (args.h), the per-call state
 * built (a configuration error fails closed: PAM_SERVICE_ERR), the step run and its result
 * mapped — authenticate and chauthtok have their own outcomes, setcred and the session steps
 * only success or failure — and the host's error entries put back.
 */
static int
run(pam_handle_t *pamh, int flags, int argc, const char **argv, enum step step)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    struct pamsc_err_saved saved;
    int r, code = PAM_SERVICE_ERR;

    pamsc_err_save(&saved);
    r = pamsc_args_new(pamh, flags, argc, argv, &args);
    if (r < 0)
        code = r == -ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
    else if (step == STEP_AUTHENTICATE)
        code = auth_code(args, pamsc_authenticate(args, &pamsc_pcsc_reader_ops));
    else if (step == STEP_SETCRED)
        code = pamsc_pam_code_or(pamsc_setcred(args, flags), PAM_CRED_ERR);
    else if (step == STEP_OPEN_SESSION)
        code = pamsc_pam_code_or(pamsc_open_session(args), PAM_SESSION_ERR);
    else if (step == STEP_CLOSE_SESSION)
        code = pamsc_pam_code_or(pamsc_close_session(args), PAM_SESSION_ERR);
    else if (step == STEP_ACCT_MGMT)
        code = pamsc_authenticated(args) ? PAM_SUCCESS : PAM_IGNORE;
    else if (step == STEP_CHAUTHTOK)
        code = pamsc_chauthtok_pam_code(pamsc_chauthtok(args, &pamsc_pcsc_reader_ops, flags));
    pamsc_err_restore(&saved);
    return code;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return run(pamh, flags, argc, argv, STEP_AUTHENTICATE);
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return run(pamh, flags, argc, argv, STEP_SETCRED);
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return run(pamh, flags, argc, argv, STEP_OPEN_SESSION);
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return run(pamh, flags, argc, argv, STEP_CLOSE_SESSION);
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return run(pamh, flags, argc, argv, STEP_ACCT_MGMT);
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return run(pamh, flags, argc, argv, STEP_CHAUTHTOK);
}
