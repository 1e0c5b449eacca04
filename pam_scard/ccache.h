/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user's credential cache: name template expansion (%u, %U, trailing XXXXXX),
 * copying the TGT from memory, ownership and mode, and destruction at logout.
 */
#pragma once

#include <sys/types.h>

struct pamsc_args;
struct pamsc_tgt;

/**
 * Expand a ccache name template.
 * @param[in]  tmpl      e.g. "FILE:/tmp/krb5cc_%u_XXXXXX"; %u = uid, %U = user name, %% = %
 * @param[out] ret_name  new string, free with free(); the XXXXXX is left for pamsc_ccache_store()
 * @return 0; -EINVAL unknown % sequence; -ENOMEM
 */
int pamsc_ccache_expand(const char *tmpl, const char *user, uid_t uid, char **ret_name);

/**
 * Write the TGT into the user's ccache.
 * @param[in]  tgt       TGT from PKINIT (its MEMORY ccache is read, not changed)
 * @param[in]  name      expanded ccache name; for FILE: (or no type) a trailing "XXXXXX" is
 *                       replaced by mkstemp(3); an existing ccache is overwritten
 * @param[in]  uid, gid  owner given to a FILE ccache when running as root; mode is 0600.
 *                       Other types (KEYRING:persistent:%u, KEYRING:session:NAME, KCM:%u) are
 *                       written through libkrb5 as they are (krb5_cc_resolve, initialize,
 *                       copy_creds); their ownership is the type's (keyring possessor, KCM uid)
 * @param[out] ret_name  name actually used ("FILE:/tmp/krb5cc_1000_a1B2c3"), free with free()
 * @return 0; -EEXIST/-EACCES/-EIO/-ENOSPC the file cannot be created; errors of
 *         pamsc_errno_from_krb5() when libkrb5 cannot write the ccache; -ENOMEM (all logged)
 */
int pamsc_ccache_store(const struct pamsc_args *args, struct pamsc_tgt *tgt, const char *name,
                       uid_t uid, gid_t gid, char **ret_name);

/**
 * Destroy a ccache by name (a missing ccache is not an error).
 * @return 0; -EIO (logged)
 */
int pamsc_ccache_destroy(const struct pamsc_args *args, const char *name);
