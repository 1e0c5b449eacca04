/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * setcred / open_session / close_session / acct_mgmt behind the entry points: hand the
 * TGT of pam_sm_authenticate to the user's ccache and export the session variables.
 */
#pragma once

struct pamsc_args;

/**
 * Write (PAM_ESTABLISH_CRED, PAM_REINITIALIZE_CRED, PAM_REFRESH_CRED) the user's ccache and
 * export KRB5CCNAME, PKCS11_LOGIN_TOKEN_NAME and SCARD_READER with pam_putenv; or destroy it
 * (PAM_DELETE_CRED) when destroy_ccache_on_close is set.
 * The ccache written is, in order: the one this PAM handle wrote already; on REINITIALIZE or
 * REFRESH in a process of the user itself (screen unlock), $KRB5CCNAME; else a new one from
 * the ccache_name option.
 * @param[in] flags  the PAM_*_CRED flag given to pam_sm_setcred
 * Non-FILE ccaches are written (and destroyed) by a child running as the user, see
 * pamsc_ccache_store().
 * @return 0; 1 nothing to do (we did not authenticate: PAM_IGNORE); -EINVAL bad flags;
 *         -ENOENT the user has no passwd entry; errors of pamsc_ccache_store() and, for
 *         PAM_DELETE_CRED, of pamsc_ccache_destroy(); -ENOMEM
 */
int pamsc_setcred(const struct pamsc_args *args, int flags);

/** open_session: as PAM_ESTABLISH_CRED unless setcred already wrote the ccache. Returns as above. */
int pamsc_open_session(const struct pamsc_args *args);

/**
 * close_session: destroy the ccache when destroy_ccache_on_close is set, as its owner.
 * @return 0; 1 (ignore: we wrote no ccache); errors of pamsc_ccache_destroy() (-ENOENT: a
 *         non-FILE ccache whose user has no passwd entry any more)
 */
int pamsc_close_session(const struct pamsc_args *args);
