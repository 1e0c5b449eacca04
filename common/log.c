/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging: formatting, priority filtering and the process default sink
 * (stderr or syslog). Per-caller sinks (pam_syslog) plug in through struct sc_logger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void default_sink(void *userdata, int priority, const char *msg);

static struct {
    const char *ident;
    bool use_syslog;
    bool journal;
    struct sc_logger logger;
} default_log = {
    .ident = "scard",
    .logger = {.sink = default_sink, .max_priority = LOG_INFO},
};

static void
default_sink(void *userdata, int priority, const char *msg)
{
    (void)userdata;
    if (default_log.use_syslog)
        syslog(priority, "%s", msg);
    else if (default_log.journal)
        fprintf(stderr, "<%d>%s\n", priority, msg);
    else
        fprintf(stderr, "%s: %s\n", default_log.ident, msg);
}

void
sc_log_setup(const char *ident, int max_priority, bool use_syslog)
{
    default_log.ident = ident;
    default_log.use_syslog = use_syslog;
    default_log.journal = getenv("JOURNAL_STREAM") != NULL;
    default_log.logger.max_priority = max_priority;
    if (use_syslog)
        openlog(ident, LOG_PID, LOG_DAEMON);
}

const struct sc_logger *
sc_log_default(void)
{
    return &default_log.logger;
}

void
sc_logv(const struct sc_logger *lg, int priority, const char *fmt, va_list ap)
{
    char buf[1024];
    int saved = errno;

    if (!lg)
        lg = &default_log.logger;
    if (priority > lg->max_priority)
        goto out;
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    if (lg->sink)
        lg->sink(lg->userdata, priority, buf);
    else
        default_sink(NULL, priority, buf);
out:
    errno = saved;
}

void
sc_log(const struct sc_logger *lg, int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sc_logv(lg, priority, fmt, ap);
    va_end(ap);
}

int
sc_log_errno(const struct sc_logger *lg, int priority, int err, const char *fmt, ...)
{
    char buf[768];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sc_log(lg, priority, "%s: %s", buf, strerror(err < 0 ? -err : err));
    return err;
}
