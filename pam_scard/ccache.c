/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user's ccache: the name comes from the ccache_name template, the file is made
 * unique with mkstemp(3), filled from the MEMORY ccache of pam_sm_authenticate and
 * handed to the user (chown when root, mode 0600), as pam_krb5's setcred does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <krb5/krb5.h>

#include "common/cleanup.h"
#include "pam_scard/args.h"
#include "pam_scard/ccache.h"
#include "pam_scard/errmap.h"
#include "pam_scard/pkinit.h"

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

static bool
ends_with_x6(const char *s)
{
    size_t n = strlen(s);
    return n >= 6 && strcmp(s + n - 6, "XXXXXX") == 0;
}

/* Replace the trailing XXXXXX of a FILE ccache by a unique name; the empty file stays. */
static int
make_unique(const struct pamsc_args *args, char *name)
{
    char *path = (char *)file_path(name);
    int fd;

    if (!path || !ends_with_x6(path))
        return 0;
    fd = mkstemp(path);
    if (fd < 0)
        return sc_log_errno(&args->log, LOG_ERR, -errno, "cannot create ccache '%s'", path);
    (void)close(fd);
    return 1;
}

static int
fill(const struct pamsc_args *args, struct pamsc_tgt *tgt, const char *name, uid_t uid, gid_t gid)
{
    krb5_context ctx = tgt->ctx;
    krb5_principal princ = NULL;
    krb5_ccache cc = NULL;
    const char *path = file_path(name);
    krb5_error_code code;
    int r = 0;

    code = krb5_cc_resolve(ctx, name, &cc);
    if (!code)
        code = krb5_cc_get_principal(ctx, tgt->cc, &princ);
    if (!code)
        code = krb5_cc_initialize(ctx, cc, princ);
    if (!code)
        code = krb5_cc_copy_creds(ctx, tgt->cc, cc);
    if (code) {
        const char *msg = krb5_get_error_message(ctx, code);
        sc_log(&args->log, LOG_ERR, "cannot write ccache '%s': %s", name, msg);
        krb5_free_error_message(ctx, msg);
        r = pamsc_errno_from_krb5(code);
    }
    if (r == 0 && path && geteuid() == 0 && chown(path, uid, gid) < 0)
        r = sc_log_errno(&args->log, LOG_ERR, -errno, "cannot give ccache '%s' to uid %lu", path,
                         (unsigned long)uid);
    if (r == 0 && path && chmod(path, 0600) < 0)
        r = sc_log_errno(&args->log, LOG_ERR, -errno, "cannot chmod ccache '%s'", path);
    if (cc)
        (void)krb5_cc_close(ctx, cc);
    if (princ)
        krb5_free_principal(ctx, princ);
    return r;
}

int
pamsc_ccache_store(const struct pamsc_args *args, struct pamsc_tgt *tgt, const char *name,
                   uid_t uid, gid_t gid, char **ret_name)
{
    _cleanup_free_ char *used = strdup(name);
    int created, r;

    if (!used)
        return -ENOMEM;
    created = make_unique(args, used);
    if (created < 0)
        return created;
    r = fill(args, tgt, used, uid, gid);
    if (r < 0) {
        if (created)
            (void)unlink(file_path(used));
        return r;
    }
    sc_log(&args->log, LOG_INFO, "stored the TGT of %s in %s", tgt->principal, used);
    *ret_name = TAKE_PTR(used);
    return 0;
}

int
pamsc_ccache_destroy(const struct pamsc_args *args, const char *name)
{
    krb5_context ctx = NULL;
    krb5_ccache cc = NULL;
    krb5_error_code code;

    code = krb5_init_context(&ctx);
    if (!code)
        code = krb5_cc_resolve(ctx, name, &cc);
    if (!code) {
        code = krb5_cc_destroy(ctx, cc); /* also closes */
        if (code == KRB5_FCC_NOFILE || code == KRB5_CC_NOTFOUND)
            code = 0;
    }
    if (ctx)
        krb5_free_context(ctx);
    if (code)
        return sc_log_errno(&args->log, LOG_ERR, pamsc_errno_from_krb5(code), "cannot destroy ccache '%s'", name);
    sc_log(&args->log, LOG_INFO, "destroyed ccache %s", name);
    return 0;
}
