/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who may use the readers: a pure decision over the peer credentials of a client socket
 * and a small ops struct (logind and group look-ups), so that unit tests cover every
 * branch; plus the real ops (sd-login, getgrouplist) and the SO_PEERCRED read.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** Peer credentials of a client socket, read once at accept. */
struct rm_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;          /* effective gid of the peer when it connected */
    gid_t groups[64];   /* its supplementary groups (SO_PEERGROUPS), when the kernel tells */
    size_t n_groups;
};

/** Look-ups the decision needs. Every function may block briefly (NSS, /run files). */
struct rm_access_ops {
    /**
     * Has @p uid an active, local (not remote) session on a seat?
     * @return 1 yes; 0 no; -EHOSTDOWN systemd-logind is not running; other -errno
     */
    int (*uid_on_local_seat)(void *userdata, uid_t uid);
    /**
     * gid of the group @p name.
     * @return 0 and *ret_gid; -ENOENT no such group; other -errno
     */
    int (*group_gid)(void *userdata, const char *name, gid_t *ret_gid);
    /**
     * Is @p uid (primary group @p gid) a member of @p group in the user database
     * (getgrouplist(3))?
     * @return 1 yes; 0 no; -ENOENT no such user; other -errno
     */
    int (*uid_in_group)(void *userdata, uid_t uid, gid_t gid, gid_t group);
    void *userdata;
};

/** The [resmgr] keys that decide (see conf/scard.conf). */
struct rm_access_policy {
    bool allow_all;        /* allow_all */
    bool allow_local_seat; /* allow_users_on_local_seat */
    const char *groups;    /* allowed_groups: space-separated names, NULL or "" = none */
};

/**
 * Decide whether @p peer may use the readers.
 * Order: root (uid 0) always; allow_all; membership of an allowed group (the peer's gid,
 * its supplementary groups as the kernel reported them, then the user database); an
 * active local-seat session when allow_local_seat. Without logind (containers, CI) the
 * seat rule cannot hold: fail closed, so only root, allow_all and allowed_groups admit.
 * Unknown group names are skipped (the caller may log them once).
 * @param[in]  policy      the configuration
 * @param[in]  ops         look-ups (userdata passed through)
 * @param[in]  peer        the client's credentials
 * @param[out] reason      text for the log line ("root", "group 'scard'", "systemd-logind
 *                         not running …"), NUL-terminated, truncated to @p reason_size bytes
 * @return 0 allowed; -EACCES refused
 * Source: pcsc-lite's polkit default (active local sessions only), with SSH users and system
 * services addable by group instead of polkit rules (linux-anchors.md §3 item 1).
 */
int rm_access_check(const struct rm_access_policy *policy, const struct rm_access_ops *ops,
                    const struct rm_peer *peer, char *reason, size_t reason_size);

/** The real look-ups: sd-login for seats, getgrnam_r/getgrouplist for groups. */
extern const struct rm_access_ops rm_access_system_ops;

/**
 * Read the credentials of the peer of the Unix socket @p fd (SO_PEERCRED, SO_PEERGROUPS).
 * @param[out] ret  credentials; groups empty when the kernel does not report them
 * @return 0; -errno of getsockopt(SO_PEERCRED)
 */
int rm_peer_from_socket(int fd, struct rm_peer *ret);
