/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The logging functions pcscd gives its IFD handlers: libccid, vpcd and most drivers call
 * log_msg()/log_xxd() and expect the daemon to define them (pcsc-lite src/debuglog.h).
 * scardd exports exactly these two (ifdlog.sym) and routes them to its own log; log_xxd
 * never writes the bytes, which may be APDUs carrying a PIN.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"

/* pcsc-lite debuglog.h priorities */
enum { PCSC_LOG_DEBUG = 0, PCSC_LOG_INFO, PCSC_LOG_ERROR, PCSC_LOG_CRITICAL };

void log_msg(const int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_xxd(const int priority, const char *msg, const unsigned char *buffer, const int size);

static int
syslog_priority(int pcsc)
{
    switch (pcsc) {
    case PCSC_LOG_CRITICAL:
        return LOG_CRIT;
    case PCSC_LOG_ERROR:
        return LOG_ERR;
    case PCSC_LOG_INFO:
        return LOG_INFO;
    default:
        return LOG_DEBUG;
    }
}

/** Called by IFD handlers: one log line at the matching syslog priority, prefixed "driver:". */
void
log_msg(const int priority, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sc_log(NULL, syslog_priority(priority), "driver: %s", line);
}

/** Called by IFD handlers to dump a buffer: only its length is logged (it may hold a PIN). */
void
log_xxd(const int priority, const char *msg, const unsigned char *buffer, const int size)
{
    (void)buffer;
    sc_log(NULL, syslog_priority(priority), "driver: %s(%d bytes, not shown)", msg ? msg : "",
           size);
}
