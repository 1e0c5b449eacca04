/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Credentials and session: copy the TGT kept by pam_sm_authenticate into the user's
 * ccache, export KRB5CCNAME / PKCS11_LOGIN_TOKEN_NAME / SCARD_READER, and remove the
 * ccache at the end of the session when asked to.
 */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "common/cleanup.h"
#include "pam_scard/args.h"
#include "pam_scard/auth.h"
#include "pam_scard/ccache.h"
#include "pam_scard/pkinit.h"
#include "pam_scard/session.h"

static const void *
get_data(const struct pamsc_args *args, const char *key)
{
    const void *data = NULL;
    return pam_get_data(args->pamh, key, &data) == PAM_SUCCESS ? data : NULL;
}

static void
free_data(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    (void)status;
    free(data);
}

static int
putenv_kv(const struct pamsc_args *args, const char *key, const char *value)
{
    _cleanup_free_ char *kv = NULL;

    if (!value)
        return 0;
    if (asprintf(&kv, "%s=%s", key, value) < 0)
        return -ENOMEM;
    if (pam_putenv(args->pamh, kv) != PAM_SUCCESS)
        return sc_log(&args->log, LOG_ERR, "cannot set %s in the PAM environment", key), -ENOMEM;
    return 0;
}

static int
export_env(const struct pamsc_args *args, const char *ccname)
{
    int r = putenv_kv(args, "KRB5CCNAME", ccname);
    if (r == 0)
        r = putenv_kv(args, "PKCS11_LOGIN_TOKEN_NAME", get_data(args, PAMSC_DATA_TOKEN));
    if (r == 0)
        r = putenv_kv(args, "SCARD_READER", get_data(args, PAMSC_DATA_READER));
    return r;
}

/*
 * Which ccache to write: the one this handle wrote before (setcred after open_session, or a
 * refresh); on refresh by the user's own process (screen unlock), the KRB5CCNAME it runs
 * with; otherwise a new one from the ccache_name template.
 */
static int
pick_name(const struct pamsc_args *args, const char *user, const struct passwd *pw, bool refresh,
          char **ret_name)
{
    const char *name = get_data(args, PAMSC_DATA_CCACHE);
    int r;

    if (!name && refresh && geteuid() == pw->pw_uid)
        name = getenv("KRB5CCNAME");
    if (name && *name) {
        *ret_name = strdup(name);
        return *ret_name ? 0 : -ENOMEM;
    }
    r = pamsc_ccache_expand(args->opts.ccache_name, user, pw->pw_uid, ret_name);
    if (r == -EINVAL)
        sc_log(&args->log, LOG_ERR, "bad ccache_name '%s': only %%u, %%U and %%%% may follow %%",
               args->opts.ccache_name);
    return r;
}

static int
write_ccache(const struct pamsc_args *args, struct pamsc_tgt *tgt, bool refresh)
{
    _cleanup_free_ char *name = NULL, *used = NULL;
    const char *user = NULL;
    const struct passwd *pw;
    int r;

    if (pam_get_item(args->pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || !user)
        return -ENOENT;
    pw = pam_modutil_getpwnam(args->pamh, user);
    if (!pw)
        return sc_log(&args->log, LOG_ERR, "user %s has no passwd entry", user), -ENOENT;
    r = pick_name(args, user, pw, refresh, &name);
    if (r < 0)
        return r;
    r = pamsc_ccache_store(args, tgt, name, pw->pw_uid, pw->pw_gid, &used);
    if (r < 0)
        return r;
    r = export_env(args, used);
    if (r < 0)
        return r;
    if (pam_set_data(args->pamh, PAMSC_DATA_CCACHE, used, free_data) != PAM_SUCCESS)
        return -ENOMEM;
    TAKE_PTR(used);
    return 0;
}

/* The ccache is destroyed as its owner (KCM:, KEYRING:user: resolve per uid): the PAM user's. */
static int
destroy_ccache(const struct pamsc_args *args)
{
    const char *name = get_data(args, PAMSC_DATA_CCACHE);
    const struct passwd *pw = NULL;
    const char *user = NULL;
    int r;

    if (!name)
        return 1;
    if (!args->opts.destroy_ccache_on_close)
        return 0;
    if (pam_get_item(args->pamh, PAM_USER, (const void **)&user) == PAM_SUCCESS && user)
        pw = pam_modutil_getpwnam(args->pamh, user);
    r = pamsc_ccache_destroy(args, name, pw);
    if (r == 0)
        (void)pam_set_data(args->pamh, PAMSC_DATA_CCACHE, NULL, NULL);
    return r;
}

int
pamsc_setcred(const struct pamsc_args *args, int flags)
{
    struct pamsc_tgt *tgt = (struct pamsc_tgt *)get_data(args, PAMSC_DATA_TGT);

    flags &= ~PAM_SILENT;
    if (flags == PAM_DELETE_CRED)
        return destroy_ccache(args);
    if (flags != PAM_ESTABLISH_CRED && flags != PAM_REINITIALIZE_CRED && flags != PAM_REFRESH_CRED)
        return sc_log(&args->log, LOG_ERR, "pam_setcred: bad flags %#x", (unsigned)flags), -EINVAL;
    if (!tgt)
        return 1;
    return write_ccache(args, tgt, flags != PAM_ESTABLISH_CRED);
}

int
pamsc_open_session(const struct pamsc_args *args)
{
    struct pamsc_tgt *tgt = (struct pamsc_tgt *)get_data(args, PAMSC_DATA_TGT);

    if (!tgt)
        return 1;
    if (get_data(args, PAMSC_DATA_CCACHE))
        return 0; /* setcred did it */
    return write_ccache(args, tgt, false);
}

int
pamsc_close_session(const struct pamsc_args *args)
{
    return destroy_ccache(args);
}
