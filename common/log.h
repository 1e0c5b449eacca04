/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One logging API with real syslog priorities. A logger is a sink plus a
 * threshold; daemons and tools use the process default (stderr with <N>
 * prefixes, or syslog), the PAM module passes its own pam_syslog sink.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

/** Receives one formatted message (no trailing newline) at a syslog priority. */
typedef void (*sc_log_sink_fn)(void *userdata, int priority, const char *msg);

struct sc_logger {
    sc_log_sink_fn sink; /* NULL: the process default sink */
    void *userdata;
    int max_priority; /* messages with priority > this are dropped (LOG_DEBUG shows all) */
};

/**
 * Configure the process default logger (daemons and command-line tools only).
 * @param[in] ident         program name for prefixes and syslog
 * @param[in] max_priority  LOG_ERR … LOG_DEBUG
 * @param[in] use_syslog    true: syslog(3); false: stderr, "<N>" prefixed when stderr is
 *                          the journal (JOURNAL_STREAM set), "ident: " otherwise
 * Not thread-safe against concurrent logging; call once at start-up.
 */
void sc_log_setup(const char *ident, int max_priority, bool use_syslog);

/** The process default logger (never NULL). */
const struct sc_logger *sc_log_default(void);

/** Log a message through @p lg (NULL = default). Preserves errno. */
void sc_log(const struct sc_logger *lg, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sc_logv(const struct sc_logger *lg, int priority, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/**
 * Log "<message>: <strerror(-err)>" and return @p err, so that callers can write
 * "return sc_log_errno(lg, LOG_ERR, r, "…");". @p err is a negative errno.
 */
int sc_log_errno(const struct sc_logger *lg, int priority, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) sc_log(NULL, LOG_DEBUG, __VA_ARGS__)
#define log_info(...) sc_log(NULL, LOG_INFO, __VA_ARGS__)
#define log_notice(...) sc_log(NULL, LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) sc_log(NULL, LOG_WARNING, __VA_ARGS__)
#define log_error(...) sc_log(NULL, LOG_ERR, __VA_ARGS__)
#define log_error_errno(r, ...) sc_log_errno(NULL, LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) sc_log_errno(NULL, LOG_WARNING, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) sc_log_errno(NULL, LOG_DEBUG, (r), __VA_ARGS__)
