/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Access decisions for scardd's clients (see access.h): the pure policy function, the
 * system look-ups behind it (sd-login for local-seat sessions, the group database) and
 * reading a socket's peer credentials.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "common/cleanup.h"
#include "resmgr/daemon/access.h"

#define GROUP_NAME_MAX 256

/* Is @p gid one of the groups the kernel reported for the peer? */
static bool
peer_has_gid(const struct rm_peer *peer, gid_t gid)
{
    if (peer->gid == gid)
        return true;
    for (size_t i = 0; i < peer->n_groups; i++)
        if (peer->groups[i] == gid)
            return true;
    return false;
}

/* Membership of one of the allowed groups; @p ret_group names it. */
static bool
in_allowed_group(const char *groups, const struct rm_access_ops *ops, const struct rm_peer *peer,
                 char *ret_group, size_t size)
{
    const char *p = groups;

    while (p && *p) {
        char name[GROUP_NAME_MAX];
        size_t n = strcspn(p, " \t,");
        gid_t gid;

        if (n > 0 && n < sizeof(name)) {
            memcpy(name, p, n);
            name[n] = '\0';
            if (ops->group_gid(ops->userdata, name, &gid) == 0 &&
                (peer_has_gid(peer, gid) ||
                 ops->uid_in_group(ops->userdata, peer->uid, peer->gid, gid) > 0)) {
                snprintf(ret_group, size, "%s", name);
                return true;
            }
        }
        p += n;
        p += strspn(p, " \t,");
    }
    return false;
}

int
rm_access_check(const struct rm_access_policy *policy, const struct rm_access_ops *ops,
                const struct rm_peer *peer, char *reason, size_t reason_size)
{
    char group[GROUP_NAME_MAX];
    const char *why;
    int r;

    if (peer->uid == 0) {
        why = "root";
        r = 0;
    } else if (policy->allow_all) {
        why = "allow_all";
        r = 0;
    } else if (in_allowed_group(policy->groups, ops, peer, group, sizeof(group))) {
        snprintf(reason, reason_size, "group '%s'", group);
        return 0;
    } else if (!policy->allow_local_seat) {
        why = "not in allowed_groups";
        r = -EACCES;
    } else {
        r = ops->uid_on_local_seat(ops->userdata, peer->uid);
        if (r > 0)
            why = "active session on a local seat";
        else if (r == -EHOSTDOWN)
            why = "systemd-logind not running and not in allowed_groups";
        else if (r < 0)
            why = "session look-up failed and not in allowed_groups";
        else
            why = "no active local-seat session and not in allowed_groups";
        r = r > 0 ? 0 : -EACCES;
    }
    snprintf(reason, reason_size, "%s", why);
    return r;
}

/* ---- system look-ups ---- */

static int
sys_uid_on_local_seat(void *userdata, uid_t uid)
{
    char **sessions = NULL;
    int n, found = 0;

    (void)userdata;
    if (access("/run/systemd/seats/", F_OK) < 0) /* what systemd's logind_running() checks */
        return -EHOSTDOWN;
    n = sd_uid_get_sessions(uid, 0, &sessions);
    if (n < 0)
        return n == -ENXIO || n == -ENOENT ? 0 : n;
    for (int i = 0; i < n; i++) {
        char *seat = NULL;
        if (!found && sd_session_is_active(sessions[i]) > 0 &&
            sd_session_is_remote(sessions[i]) == 0 &&
            sd_session_get_seat(sessions[i], &seat) >= 0 && seat && *seat)
            found = 1;
        free(seat);
        free(sessions[i]);
    }
    free(sessions);
    return found;
}

static int
sys_group_gid(void *userdata, const char *name, gid_t *ret_gid)
{
    struct group gr, *res = NULL;
    char buf[4096];
    int r;

    (void)userdata;
    r = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
    if (r != 0)
        return -r;
    if (!res)
        return -ENOENT;
    *ret_gid = res->gr_gid;
    return 0;
}

static int
sys_uid_in_group(void *userdata, uid_t uid, gid_t gid, gid_t group)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int n = 64;
    int r;

    (void)userdata;
    r = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
    if (r != 0)
        return -r;
    if (!res)
        return -ENOENT;
    for (int tries = 0; tries < 4; tries++) {
        _cleanup_free_ gid_t *list = calloc((size_t)n, sizeof(gid_t));
        int got = n;
        if (!list)
            return -ENOMEM;
        if (getgrouplist(res->pw_name, gid, list, &got) >= 0) {
            for (int i = 0; i < got; i++)
                if (list[i] == group)
                    return 1;
            return 0;
        }
        n = got > n ? got : n * 4;
    }
    return -E2BIG;
}

const struct rm_access_ops rm_access_system_ops = {
    .uid_on_local_seat = sys_uid_on_local_seat,
    .group_gid = sys_group_gid,
    .uid_in_group = sys_uid_in_group,
    .userdata = NULL,
};

int
rm_peer_from_socket(int fd, struct rm_peer *ret)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct rm_peer p = {0};

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    p.pid = cred.pid;
    p.uid = cred.uid;
    p.gid = cred.gid;
#ifdef SO_PEERGROUPS
    len = sizeof(p.groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p.groups, &len) == 0)
        p.n_groups = len / sizeof(gid_t);
    /* ERANGE (more than 64 groups): the user database look-up still decides */
#endif
    *ret = p;
    return 0;
}
