/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user's ccache: the name comes from the ccache_name template and is filled from the
 * MEMORY ccache of pam_sm_authenticate. Every ccache but MEMORY (FILE, KCM, KEYRING, DIR) is
 * written and destroyed by a forked child running as the user; a FILE ccache's trailing XXXXXX
 * is made unique with mkstemp(3) there, and the file made 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <krb5/krb5.h>
#include <linux/capability.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "pam_scard/args.h"
#include "pam_scard/ccache.h"
#include "pam_scard/errmap.h"
#include "pam_scard/pkinit.h"

/*
 * Why ccaches are written by a forked child, not by switching ids in this process.
 *
 * A KCM daemon files a cache under the uid of the peer that creates it, and a keyring key
 * belongs to the uid that adds it: written by root (a display manager, login, sshd), the
 * user's ccache would be root's. SSSD's krb5_child therefore becomes the user before it
 * writes (setgroups(0), setresgid, setresuid: become_user() in SSSD's util/become_user.c).
 *
 * Doing that with a temporary setresuid()/setresgid()/setgroups() inside this process is not
 * safe for a PAM module: the caller may be multithreaded, and glibc applies the set*id calls
 * to every thread of the process, so the caller's other threads would run as the user for a
 * while; every path (including a restore that fails halfway) would have to give back the
 * exact real, effective and saved ids and the group list; and while it can switch back, the
 * process never stopped being root. A child leaves the caller untouched: it drops its ids for
 * good (and checks that root cannot be regained), marks itself non-dumpable so that the user
 * cannot ptrace it and read the memory it inherited, writes the cache from the credentials
 * that the parent copied out of its MEMORY ccache before fork(), and sends one fixed-size
 * answer back through a pipe. The answer, not the exit status, is authoritative, so a caller
 * that ignores SIGCHLD or reaps children itself does not confuse us; a missing answer is a
 * failure (fail closed).
 *
 * The price of fork() without exec(): only the forking thread exists in the child, so a
 * libkrb5 lock held by another thread of a multithreaded caller at that moment would hang
 * the child. The parent waits at most CHILD_TIMEOUT_USEC, then kills the child and fails;
 * this also bounds a KCM daemon that accepts and never answers. (A fork+exec helper, as
 * SSSD's krb5_child is, would avoid that at the cost of an installed binary.)
 *
 * The child keeps the caller's session keyring (fork() shares it and set*id() does not change
 * it), so KEYRING:session:NAME lands in the caller's session keyring, owned by the user. A
 * caller without a session keyring resolves @s to its uid's user-session keyring: the child,
 * by then the user, uses the user's (_uid_ses.UID), which is where the user's own processes
 * without a session keyring look as well.
 *
 * FILE ccaches too: libkrb5 reopens a FILE ccache's path (following symlinks) for every
 * credential it stores, so root writing into a directory the user can change (/run/user/UID)
 * could be made to append to a file of the user's choosing. Written as the user, the worst the
 * user can do is hurt their own cache.
 */
#define CHILD_TIMEOUT_USEC (30ULL * 1000000ULL)
#define MSG_MAX 256
#define NAME_MAX_LEN 4104 /* "FILE:" + PATH_MAX */

/* One answer: what the child sends back, and what the in-process path fills the same way. */
struct outcome {
    int32_t err;       /* 0 or a negative errno */
    char msg[MSG_MAX]; /* what failed, NUL-terminated; libkrb5's messages, never a ticket */
    char name[NAME_MAX_LEN]; /* the ccache name used (a FILE's XXXXXX replaced), NUL-terminated */
};

/* The client principal and credentials of the MEMORY ccache, copied out before fork(). */
struct tgt_copy {
    krb5_principal princ;
    krb5_creds *creds;
    size_t n;
};

enum job_op { JOB_WRITE, JOB_DESTROY };

struct job {
    enum job_op op;
    krb5_context ctx;
    const char *name;
    const struct tgt_copy *tgt; /* JOB_WRITE */
    uid_t uid;
    gid_t gid;
};

int
pamsc_ccache_expand(const char *tmpl, const char *user, uid_t uid, char **ret_name)
{
    _cleanup_free_ char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    int r = 0;

    if (!f)
        return -ENOMEM;
    for (const char *p = tmpl; *p && r == 0; p++) {
        if (*p != '%') {
            fputc(*p, f);
            continue;
        }
        switch (*++p) {
        case 'u':
            fprintf(f, "%lu", (unsigned long)uid);
            break;
        case 'U':
            fputs(user, f);
            break;
        case '%':
            fputc('%', f);
            break;
        default:
            r = -EINVAL;
            p--; /* do not step past a final NUL */
        }
    }
    if (fclose(f) != 0 || !buf)
        return -ENOMEM;
    if (r < 0)
        return r;
    *ret_name = TAKE_PTR(buf);
    return 0;
}

/* The file behind a FILE: (or type-less) ccache name, or NULL for other types. */
static const char *
file_path(const char *name)
{
    if (strncmp(name, "FILE:", 5) == 0)
        return name + 5;
    return strchr(name, ':') ? NULL : name;
}

/* MEMORY ccaches are written in this process; the rest by the user's child. */
static bool
written_here(const char *name)
{
    return strncmp(name, "MEMORY:", 7) == 0;
}

static bool
ends_with_x6(const char *s)
{
    size_t n = strlen(s);
    return n >= 6 && strcmp(s + n - 6, "XXXXXX") == 0;
}

static int
fail(struct outcome *out, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct outcome *out, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
    va_end(ap);
    out->err = err;
    return err;
}

static int
fail_krb5(struct outcome *out, krb5_context ctx, krb5_error_code code, const char *what)
{
    const char *m = krb5_get_error_message(ctx, code);
    int err = pamsc_errno_from_krb5(code);

    (void)fail(out, err < 0 ? err : -EIO, "%s: %s", what, m ? m : "unknown error");
    krb5_free_error_message(ctx, m);
    return out->err;
}

static void
tgt_copy_clear(krb5_context ctx, struct tgt_copy *t)
{
    for (size_t i = 0; i < t->n; i++)
        krb5_free_cred_contents(ctx, &t->creds[i]); /* wipes the session keys */
    free(t->creds);
    if (t->princ)
        krb5_free_principal(ctx, t->princ);
    *t = (struct tgt_copy){0};
}

/* Copy the principal and every credential (config entries too) out of the MEMORY ccache. */
static int
tgt_copy_read(krb5_context ctx, krb5_ccache mem, struct tgt_copy *t, struct outcome *out)
{
    krb5_cc_cursor cursor = NULL;
    krb5_error_code code;
    krb5_creds cred;

    code = krb5_cc_get_principal(ctx, mem, &t->princ);
    if (!code)
        code = krb5_cc_start_seq_get(ctx, mem, &cursor);
    while (!code && (code = krb5_cc_next_cred(ctx, mem, &cursor, &cred)) == 0) {
        krb5_creds *grown = realloc(t->creds, (t->n + 1) * sizeof(*grown));
        if (!grown) {
            krb5_free_cred_contents(ctx, &cred);
            code = ENOMEM;
            break;
        }
        t->creds = grown;
        t->creds[t->n++] = cred;
    }
    if (cursor)
        (void)krb5_cc_end_seq_get(ctx, mem, &cursor);
    if (code == KRB5_CC_END)
        code = 0;
    if (code) {
        tgt_copy_clear(ctx, t);
        return fail_krb5(out, ctx, code, "cannot read the TGT from memory");
    }
    return 0;
}

/* resolve, initialize, store each credential; a cache left half-written is destroyed. */
static int
write_creds(krb5_context ctx, const char *name, const struct tgt_copy *t, struct outcome *out)
{
    krb5_ccache cc = NULL;
    krb5_error_code code;
    const char *what = "krb5_cc_resolve";
    bool initialized = false;

    code = krb5_cc_resolve(ctx, name, &cc);
    if (!code) {
        what = "krb5_cc_initialize";
        code = krb5_cc_initialize(ctx, cc, t->princ);
        initialized = code == 0;
    }
    for (size_t i = 0; !code && i < t->n; i++) {
        what = "krb5_cc_store_cred";
        code = krb5_cc_store_cred(ctx, cc, &t->creds[i]);
    }
    if (code)
        (void)fail_krb5(out, ctx, code, what);
    if (cc && code && initialized)
        (void)krb5_cc_destroy(ctx, cc); /* also closes */
    else if (cc)
        (void)krb5_cc_close(ctx, cc);
    return code ? out->err : 0;
}

static int
destroy_cc(krb5_context ctx, const char *name, struct outcome *out)
{
    krb5_ccache cc = NULL;
    krb5_error_code code;

    code = krb5_cc_resolve(ctx, name, &cc);
    if (!code) {
        code = krb5_cc_destroy(ctx, cc); /* also closes */
        if (code == KRB5_FCC_NOFILE || code == KRB5_CC_NOTFOUND)
            code = 0;
    }
    return code ? fail_krb5(out, ctx, code, "krb5_cc_destroy") : 0;
}

/* Whether this process still has any capability (capget(2); unknown counts as yes). */
static bool
has_capabilities(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};

    if (syscall(SYS_capget, &hdr, data) < 0)
        return true;
    for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (data[i].permitted || data[i].effective)
            return true;
    return false;
}

/*
 * Become uid/gid for good, as SSSD's become_user(): no supplementary groups (neither KCM nor
 * the kernel keyrings look at them, and initgroups() would need NSS in a child of a process
 * that may be multithreaded), then gid, then uid, real, effective and saved. A caller that is
 * not root can only be the user already (screen unlock); it keeps its groups.
 */
static int
become_user(uid_t uid, gid_t gid, struct outcome *out)
{
    bool root = geteuid() == 0;
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (root && setgroups(0, NULL) < 0)
        return fail(out, -errno, "setgroups: %s", strerror(errno));
    if (root && setresgid(gid, gid, gid) < 0)
        return fail(out, -errno, "setresgid(%lu): %s", (unsigned long)gid, strerror(errno));
    if (setresuid(uid, uid, uid) < 0)
        return fail(out, -errno, "setresuid(%lu): %s", (unsigned long)uid, strerror(errno));
    if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid)
        return fail(out, -EPERM, "the uids are not %lu after setresuid", (unsigned long)uid);
    if (root && (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid))
        return fail(out, -EPERM, "the gids are not %lu after setresgid", (unsigned long)gid);
    /* a caller with SECBIT_NO_SETUID_FIXUP/KEEP_CAPS would keep root's capabilities */
    if (uid != 0 && (setresuid((uid_t)-1, 0, (uid_t)-1) == 0 || has_capabilities()))
        return fail(out, -EPERM, "root's privileges survive the switch to uid %lu",
                    (unsigned long)uid);
    /* set*id() made us dumpable per fs.suid_dumpable: the user must not ptrace this copy */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return fail(out, -errno, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
    return 0;
}

static int store_file(krb5_context ctx, char *name, const struct tgt_copy *t, uid_t uid, gid_t gid,
                      struct outcome *out);

static int
job_run(const struct job *job, struct outcome *out)
{
    if (job->op == JOB_DESTROY)
        return destroy_cc(job->ctx, job->name, out);
    if (strlen(job->name) >= sizeof(out->name))
        return fail(out, -ENAMETOOLONG, "the ccache name is too long");
    strcpy(out->name, job->name);
    if (file_path(out->name))
        return store_file(job->ctx, out->name, job->tgt, job->uid, job->gid, out);
    return write_creds(job->ctx, job->name, job->tgt, out);
}

static int
write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void __attribute__((noreturn))
child_main(int fd, pid_t parent, const struct job *job)
{
    struct outcome out = {0};

    (void)signal(SIGPIPE, SIG_IGN); /* a KCM daemon that hangs up: EPIPE, not death */
    if (become_user(job->uid, job->gid, &out) == 0) {
        /* set after the set*id() calls, which clear it; a parent gone already: no answer */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
            _exit(2);
        (void)job_run(job, &out);
    }
    _exit(write_all(fd, &out, sizeof(out)) == 0 && out.err == 0 ? 0 : 1);
}

/* Read the child's answer: 0; -ETIMEDOUT no (complete) answer in time; -EPIPE it ended first. */
static int
read_outcome(int fd, struct outcome *out, uint64_t deadline_usec)
{
    char *p = (char *)out;
    size_t got = 0;

    while (got < sizeof(*out)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint64_t now = sc_now_usec();
        ssize_t n;
        int rc;

        if (now >= deadline_usec)
            return -ETIMEDOUT;
        rc = poll(&pfd, 1, (int)((deadline_usec - now + 999) / 1000));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -errno;
        if (rc == 0)
            return -ETIMEDOUT;
        n = read(fd, p + got, sizeof(*out) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EPIPE;
        got += (size_t)n;
    }
    out->msg[sizeof(out->msg) - 1] = '\0';
    out->name[sizeof(out->name) - 1] = '\0';
    return 0;
}

/* Wait for the child; its status, or -1 when someone else reaped it (SIGCHLD ignored). */
static int
reap(pid_t pid)
{
    int status;

    for (;;) {
        if (waitpid(pid, &status, 0) == pid)
            return status;
        if (errno != EINTR)
            return -1;
    }
}

/*
 * Kill a child that gave no answer. Through its pidfd when there is one: a caller that
 * ignores SIGCHLD has its children reaped by the kernel, and a bare PID may be reused.
 */
static void
stop_child(pid_t pid, int pidfd)
{
    if (pidfd >= 0)
        (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    else
        (void)kill(pid, SIGKILL); /* a kernel without pidfd_open (< 5.3) */
}

/* Run @p job in a child that has become the user; its answer in @p out. */
static int
run_as_user(const struct job *job, struct outcome *out)
{
    _cleanup_close_ int rfd = -1, pidfd = -1;
    int fds[2], r, status;
    pid_t parent = getpid(), pid;
    bool gone;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return fail(out, -errno, "pipe2: %s", strerror(errno));
    pid = fork();
    if (pid < 0) {
        r = -errno;
        (void)close(fds[0]);
        (void)close(fds[1]);
        return fail(out, r, "fork: %s", strerror(-r));
    }
    if (pid == 0) {
        (void)close(fds[0]);
        child_main(fds[1], parent, job);
    }
    (void)close(fds[1]);
    rfd = fds[0];
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    gone = pidfd < 0 && errno == ESRCH; /* ended and reaped already (SIGCHLD ignored) */
    r = read_outcome(rfd, out, sc_now_usec() + CHILD_TIMEOUT_USEC);
    if (r < 0 && !gone)
        stop_child(pid, pidfd);
    status = reap(pid);
    if (r == -ETIMEDOUT)
        return fail(out, r, "no answer from the child running as uid %lu within %llu s (killed)",
                    (unsigned long)job->uid, CHILD_TIMEOUT_USEC / 1000000ULL);
    if (r < 0 && status != -1 && WIFSIGNALED(status))
        return fail(out, -EIO, "the child running as uid %lu died of signal %d",
                    (unsigned long)job->uid, WTERMSIG(status));
    if (r < 0 && status != -1)
        return fail(out, -EIO,
                    "the child running as uid %lu ended without an answer (exit status %d)",
                    (unsigned long)job->uid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (r < 0)
        return fail(out, -EIO, "the child running as uid %lu ended without an answer",
                    (unsigned long)job->uid);
    if (out->err > 0 || (out->err == 0 && status != -1 && status != 0))
        return fail(out, -EIO, "inconsistent answer from the child running as uid %lu",
                    (unsigned long)job->uid);
    return out->err;
}

/* Replace the trailing XXXXXX of a FILE ccache by a unique name; the empty file stays. */
static int
make_unique(char *name, struct outcome *out)
{
    char *path = (char *)file_path(name);
    int fd;

    if (!path || !ends_with_x6(path))
        return 0;
    fd = mkstemp(path);
    if (fd < 0)
        return fail(out, -errno, "mkstemp: %s", strerror(errno));
    (void)close(fd);
    return 1;
}

/*
 * Check, through a descriptor, that the file libkrb5 just wrote is still the regular,
 * single-link file this process created (libkrb5 reopens the path for every credential,
 * O_APPEND, following symlinks, so the path may have been swapped), make it 0600, and when
 * running as root give it to uid:gid (fchown: chown(2) on a path would follow a symlink).
 */
static int
seal_file(const char *path, uid_t uid, gid_t gid, struct outcome *out)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;

    if (fd < 0)
        return fail(out, -errno, "cannot reopen it: %s", strerror(errno));
    if (fstat(fd, &st) < 0)
        return fail(out, -errno, "fstat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid())
        return fail(out, -EEXIST, "it was replaced while being written (not our regular file)");
    if (geteuid() == 0 && fchown(fd, uid, gid) < 0)
        return fail(out, -errno, "cannot give it to uid %lu: %s", (unsigned long)uid, strerror(errno));
    if (fchmod(fd, 0600) < 0)
        return fail(out, -errno, "fchmod: %s", strerror(errno));
    return 0;
}

/* Whether the directory of FILE ccache @p name is closed to @p uid: not its owner, no write
 * permission for others, and not group-writable (the user might be in the group). */
static bool
user_cannot_write(const char *name, uid_t uid)
{
    _cleanup_free_ char *dir = strdup(file_path(name));
    char *slash = dir ? strrchr(dir, '/') : NULL;
    struct stat st;

    if (!slash)
        return false;
    if (slash == dir)
        slash[1] = '\0'; /* "/" */
    else
        *slash = '\0';
    if (stat(dir, &st) < 0)
        return false;
    return st.st_uid != uid && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* A FILE ccache (in the user's child, or here when the user cannot write its directory): a
 * unique name for XXXXXX, write, check and seal, and give it to the user when root. */
static int
store_file(krb5_context ctx, char *name, const struct tgt_copy *t, uid_t uid, gid_t gid, struct outcome *out)
{
    const char *path = file_path(name);
    int created, r;

    created = make_unique(name, out);
    if (created < 0)
        return created;
    r = write_creds(ctx, name, t, out);
    if (r == 0)
        r = seal_file(path, uid, gid, out);
    if (r < 0 && created)
        (void)unlink(path);
    return r;
}

int
pamsc_ccache_store(const struct pamsc_args *args, struct pamsc_tgt *tgt, const char *name,
                   uid_t uid, gid_t gid, char **ret_name)
{
    _cleanup_free_ char *used = strdup(name);
    struct tgt_copy copy = {0};
    struct outcome out = {0};
    char as[40] = "";
    int r;

    if (!used)
        return -ENOMEM;
    r = tgt_copy_read(tgt->ctx, tgt->cc, &copy, &out);
    if (r == 0 && written_here(used))
        r = write_creds(tgt->ctx, used, &copy, &out);
    else if (r == 0) {
        const struct job job = {JOB_WRITE, tgt->ctx, used, &copy, uid, gid};
        (void)snprintf(as, sizeof(as), " as uid %lu", (unsigned long)uid);
        r = run_as_user(&job, &out);
        if (r < 0 && file_path(used) && user_cannot_write(used, uid)) {
            /* a directory the user cannot write: the user cannot swap paths there either */
            sc_log(&args->log, LOG_INFO, "ccache '%s': the directory is not the user's to write (%s); "
                   "written by this process and given to uid %lu", used, out.msg, (unsigned long)uid);
            out = (struct outcome){0};
            as[0] = '\0';
            r = store_file(tgt->ctx, used, &copy, uid, gid, &out);
        } else if (r == 0) {
            char *final = strdup(out.name); /* FILE: XXXXXX replaced in the child */
            if (!final)
                r = -ENOMEM;
            else
                free(used), used = final;
        }
    }
    tgt_copy_clear(tgt->ctx, &copy);
    if (r < 0) {
        sc_log(&args->log, LOG_ERR, "cannot write ccache '%s'%s: %s", used, as, out.msg);
        return r;
    }
    sc_log(&args->log, LOG_INFO, "stored the TGT of %s in %s%s", tgt->principal, used, as);
    *ret_name = TAKE_PTR(used);
    return 0;
}

int
pamsc_ccache_destroy(const struct pamsc_args *args, const char *name, const struct passwd *pw)
{
    krb5_context ctx = NULL;
    struct outcome out = {0};
    bool here = written_here(name) || (file_path(name) && !pw); /* FILE of an unknown owner: here */
    krb5_error_code code;
    int r;

    if (!here && !pw) {
        sc_log(&args->log, LOG_ERR, "cannot destroy ccache '%s': its owner has no passwd entry",
               name);
        return -ENOENT;
    }
    code = krb5_init_context(&ctx);
    if (code)
        r = fail(&out, code == ENOMEM ? -ENOMEM : -EIO, "krb5_init_context failed (%ld)",
                 (long)code);
    else if (here)
        r = destroy_cc(ctx, name, &out);
    else {
        const struct job job = {JOB_DESTROY, ctx, name, NULL, pw->pw_uid, pw->pw_gid};
        r = run_as_user(&job, &out);
        if (r < 0 && file_path(name) && user_cannot_write(name, pw->pw_uid)) {
            out = (struct outcome){0}; /* written here, so removed here (pamsc_ccache_store()) */
            r = destroy_cc(ctx, name, &out);
        }
    }
    if (ctx)
        krb5_free_context(ctx);
    if (r < 0) {
        sc_log(&args->log, LOG_ERR, "cannot destroy ccache '%s': %s", name, out.msg);
        return r;
    }
    sc_log(&args->log, LOG_INFO, "destroyed ccache %s", name);
    return 0;
}
