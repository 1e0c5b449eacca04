/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only PAM module: pam_scard's own code (libpamsc) with a stand-in reader back-end,
 * so that the PKCS#11 → PIN → PKINIT → ccache path runs against SoftHSM2, which has no
 * PC/SC reader. The "reader" is named by $PAMSC_TEST_READER (the SoftHSM slot
 * description); unset or empty = no card. Never installed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <security/pam_modules.h>

#include "common/log.h"
#include "pam_scard/args.h"
#include "pam_scard/auth.h"
#include "pam_scard/card.h"
#include "pam_scard/errmap.h"
#include "pam_scard/session.h"

struct pamsc_reader {
    char *name;
};

static int
fake_wait_card(const struct pamsc_args *args, uint64_t wait_usec, struct pamsc_reader **ret_reader)
{
    const char *name = getenv("PAMSC_TEST_READER");
    struct pamsc_reader *reader;

    (void)wait_usec;
    if (!name || !*name) {
        pamsc_info(args, "Insert your smart card...");
        return -ETIMEDOUT;
    }
    reader = calloc(1, sizeof(*reader));
    if (!reader || !(reader->name = strdup(name))) {
        free(reader);
        return -ENOMEM;
    }
    *ret_reader = reader;
    return 0;
}

static const char *const *
fake_names(const struct pamsc_reader *reader, size_t *ret_n)
{
    *ret_n = 1;
    return (const char *const *)&reader->name;
}

static int
fake_pin_tries_left(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name)
{
    const char *t = getenv("PAMSC_TEST_TRIES");
    (void)args;
    (void)reader;
    (void)name;
    return t && *t ? atoi(t) : -EOPNOTSUPP; /* SoftHSM has no PIV retry counter */
}

static void
fake_close(struct pamsc_reader *reader)
{
    if (reader)
        free(reader->name);
    free(reader);
}

static const struct pamsc_reader_ops fake_reader_ops = {
    .wait_card = fake_wait_card,
    .names = fake_names,
    .pin_tries_left = fake_pin_tries_left,
    .close = fake_close,
};

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r = pamsc_args_new(pamh, flags, argc, argv, &args);

    if (r < 0)
        return PAM_SERVICE_ERR;
    r = pamsc_authenticate(args, &fake_reader_ops);
    ERR_clear_error();
    return pamsc_pam_code(r);
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r = pamsc_args_new(pamh, flags, argc, argv, &args);

    return r < 0 ? PAM_SERVICE_ERR : pamsc_pam_code_or(pamsc_setcred(args, flags), PAM_CRED_ERR);
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r = pamsc_args_new(pamh, flags, argc, argv, &args);

    return r < 0 ? PAM_SERVICE_ERR : pamsc_pam_code_or(pamsc_open_session(args), PAM_SESSION_ERR);
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    _cleanup_args_ struct pamsc_args *args = NULL;
    int r = pamsc_args_new(pamh, flags, argc, argv, &args);

    return r < 0 ? PAM_SERVICE_ERR : pamsc_pam_code_or(pamsc_close_session(args), PAM_SESSION_ERR);
}
