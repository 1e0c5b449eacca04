/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user's credential cache: name template expansion (%u, %U, trailing XXXXXX),
 * copying the TGT from memory, written as the user (KCM, KEYRING, DIR) or handed to the user
 * (FILE), and destruction at logout.
 */
#pragma once

#include <sys/types.h>

struct pamsc_args;
struct pamsc_tgt;
struct passwd;

/**
 * Expand a ccache name template.
 * @param[in]  tmpl      e.g. "FILE:/tmp/krb5cc_%u_XXXXXX"; %u = uid, %U = user name, %% = %
 * @param[out] ret_name  new string, free with free(); the XXXXXX is left for pamsc_ccache_store()
 * @return 0; -EINVAL unknown % sequence; -ENOMEM
 */
int pamsc_ccache_expand(const char *tmpl, const char *user, uid_t uid, char **ret_name);

/**
 * Write the TGT into the user's ccache.
 * @param[in]  tgt       TGT from PKINIT; its MEMORY ccache is read (principal and every
 *                       credential, config entries included), not changed
 * @param[in]  name      expanded ccache name; an existing ccache of that name is reinitialized
 * @param[in]  uid, gid  the user (passwd entry of the PAM user)
 * @param[out] ret_name  name actually used ("FILE:/tmp/krb5cc_1000_a1B2c3"), free with free()
 *
 * Every type but MEMORY (FILE:, KCM:, KEYRING:session|user|persistent:..., DIR:) is written by
 * a forked child that becomes the user for good (setgroups(0), setresgid, setresuid, as SSSD's
 * krb5_child does before it writes a ccache), so that the KCM daemon files the cache under the
 * user's uid (peer credentials), the kernel keys belong to the user, and a FILE ccache is the
 * user's own file: libkrb5 1.20 (re)creates it with unlink + O_CREAT|O_EXCL, 0600, then reopens
 * the path (O_APPEND, symlinks followed) for each credential, which root must not do in a
 * directory the user can change. A FILE name's trailing "XXXXXX" is replaced by mkstemp(3);
 * the file is then checked through an O_NOFOLLOW descriptor to be the regular, single-link file
 * the child created (-EEXIST if not) and made 0600. A FILE ccache in a directory the user
 * cannot write (not the owner, not group- or world-writable) is written by this process and
 * given to uid:gid through that descriptor instead: there the user cannot swap the path.
 * KEYRING:session names the caller's session
 * keyring (the child shares it). The caller's ids, threads and signal dispositions are
 * untouched; the parent waits at most 30 s for the child's answer, then kills it. A
 * half-written cache is destroyed. MEMORY: stays in this process. MIT krb5 ccache types:
 * doc/basic/ccache_def.rst.
 * Thread/fork: forks once (not for MEMORY); call from the thread that owns @p tgt.
 *
 * @return 0; -EEXIST/-EACCES/-EIO/-ENOSPC the file cannot be created, or was replaced while
 *         being written (-EEXIST); -EPERM the child could
 *         not become uid/gid (caller neither root nor the user), or could regain root;
 *         -ETIMEDOUT the child gave no answer in time; -EIO the child died; errors of
 *         pamsc_errno_from_krb5() when libkrb5 cannot write the ccache (KCM daemon not running:
 *         -EIO); errors of fork(2)/pipe2(2) (-EAGAIN, -EMFILE, -ENOMEM). All logged, with the
 *         step that failed and libkrb5's message.
 */
int pamsc_ccache_store(const struct pamsc_args *args, struct pamsc_tgt *tgt, const char *name,
                       uid_t uid, gid_t gid, char **ret_name);

/**
 * Destroy a ccache by name (a missing ccache is not an error), with the same split as
 * pamsc_ccache_store(): MEMORY: here, every other type by a child running as the user
 * (KCM: or KEYRING:user:... name the user's cache only when resolved as the user).
 * @param[in] name  the name pamsc_ccache_store() returned
 * @param[in] pw    the owner's passwd entry (not kept); NULL: unknown, FILE:/MEMORY: are then
 *                  destroyed by this process, other types fail with -ENOENT
 * @return 0; -ENOENT no owner for a non-FILE ccache; -EPERM/-ETIMEDOUT/-EIO as for
 *         pamsc_ccache_store(); errors of pamsc_errno_from_krb5() (all logged)
 */
int pamsc_ccache_destroy(const struct pamsc_args *args, const char *name, const struct passwd *pw);
