/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-call state (options + pam_syslog logger) and the conversation helpers:
 * informational and error messages, and the echo-off PIN prompt whose reply is
 * wiped before it is freed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "common/cleanup.h"
#include "common/secret.h"
#include "pam_scard/args.h"

static void
pam_syslog_sink(void *userdata, int priority, const char *msg)
{
    pam_syslog((pam_handle_t *)userdata, priority, "%s", msg);
}

int
pamsc_args_new(pam_handle_t *pamh, int flags, int argc, const char **argv,
               struct pamsc_args **ret_args)
{
    _cleanup_args_ struct pamsc_args *args = calloc(1, sizeof(*args));
    int r;

    if (!args)
        return -ENOMEM;
    args->pamh = pamh;
    args->flags = flags;
    args->log = (struct sc_logger){.sink = pam_syslog_sink, .userdata = pamh, .max_priority = LOG_INFO};
    r = pamsc_options_load(argc, argv, &args->opts, &args->log);
    if (r < 0)
        return r;
    if (args->opts.debug)
        args->log.max_priority = LOG_DEBUG;
    *ret_args = TAKE_PTR(args);
    return 0;
}

void
pamsc_args_free(struct pamsc_args *args)
{
    if (!args)
        return;
    pamsc_options_free(&args->opts);
    free(args);
}

static void
say(const struct pamsc_args *args, int style, const char *fmt, va_list ap)
{
    char buf[512];
    int r;

    if (args->flags & PAM_SILENT)
        return;
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    r = pam_prompt(args->pamh, style, NULL, "%s", buf);
    if (r != PAM_SUCCESS)
        sc_log(&args->log, LOG_DEBUG, "conversation failed to show a message: %s",
               pam_strerror(args->pamh, r));
}

void
pamsc_info(const struct pamsc_args *args, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(args, PAM_TEXT_INFO, fmt, ap);
    va_end(ap);
}

void
pamsc_error(const struct pamsc_args *args, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(args, PAM_ERROR_MSG, fmt, ap);
    va_end(ap);
}

void
pamsc_err_save(struct pamsc_err_saved *saved)
{
    const char *file, *func, *data;
    unsigned long code;
    int line, flags;

    saved->n = 0;
    while ((code = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        if (saved->n == PAMSC_ERR_SAVED)
            continue; /* the oldest entries are kept */
        saved->e[saved->n].code = code;
        saved->e[saved->n].file = file;
        saved->e[saved->n].func = func;
        saved->e[saved->n].line = line;
        saved->e[saved->n].data = (flags & ERR_TXT_STRING) && data && *data ? strdup(data) : NULL;
        saved->n++;
    }
}

void
pamsc_err_restore(struct pamsc_err_saved *saved)
{
    ERR_clear_error();
    for (size_t i = 0; i < saved->n; i++) {
        ERR_new();
        ERR_set_debug(saved->e[i].file, saved->e[i].line, saved->e[i].func);
        if (saved->e[i].data)
            ERR_set_error(ERR_GET_LIB(saved->e[i].code), ERR_GET_REASON(saved->e[i].code), "%s", saved->e[i].data);
        else
            ERR_set_error(ERR_GET_LIB(saved->e[i].code), ERR_GET_REASON(saved->e[i].code), NULL);
        free(saved->e[i].data);
    }
    saved->n = 0;
}

void
pamsc_tell_blocked(const struct pamsc_args *args)
{
    const char *custom = args->opts.blocked_card_message;

    if (custom && *custom)
        pamsc_error(args, "%s", custom);
    else
        pamsc_error(args, "Your smart card is blocked: too many wrong PINs. Ask your administrator to unblock it.");
}

int
pamsc_tell_wrong_pin(const struct pamsc_args *args, int tries)
{
    if (tries == 0) {
        pamsc_tell_blocked(args);
        return -EKEYREVOKED;
    }
    if (tries == 1)
        pamsc_error(args, "Wrong PIN. 1 try left before the card is blocked.");
    else if (tries > 1)
        pamsc_error(args, "Wrong PIN. %d tries left.", tries);
    else
        pamsc_error(args, "Wrong PIN.");
    return -EACCES;
}

int
pamsc_prompt_secret(const struct pamsc_args *args, const char *prompt, char **ret_secret)
{
    _cleanup_secret_ char *reply = NULL;
    int r;

    r = pam_prompt(args->pamh, PAM_PROMPT_ECHO_OFF, &reply, "%s", prompt);
    if (r == PAM_BUF_ERR)
        return -ENOMEM;
    if (r != PAM_SUCCESS || !reply) {
        sc_log(&args->log, LOG_ERR, "conversation failed to ask for the PIN: %s",
               pam_strerror(args->pamh, r));
        return -EBADMSG;
    }
    if (!*reply)
        return -ENODATA;
    *ret_secret = TAKE_PTR(reply);
    return 0;
}
