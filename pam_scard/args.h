/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-call state of pam_scard: the PAM handle, the parsed options and a logger that
 * writes through pam_syslog. Built at the start of each pam_sm_* call and freed at its
 * end; nothing survives between calls except what is stored with pam_set_data().
 */
#pragma once

#include <openssl/err.h>
#include <security/pam_modules.h>

#include "common/log.h"
#include "pam_scard/options.h"

struct pamsc_args {
    pam_handle_t *pamh;
    int flags;                  /* PAM_SILENT, PAM_ESTABLISH_CRED, … as given to pam_sm_* */
    struct pamsc_options opts;
    struct sc_logger log;       /* pam_syslog sink; LOG_DEBUG with "debug", else LOG_INFO */
};

/**
 * Parse the options and set up logging for one pam_sm_* call.
 * @param[in]  pamh        PAM handle (not owned)
 * @param[in]  flags       flags of the pam_sm_* call
 * @param[in]  argc, argv  module arguments
 * @param[out] ret_args    new args, free with pamsc_args_free(); untouched on failure
 * @return 0; -EINVAL/-ENOENT/-EIO configuration error (already logged); -ENOMEM
 */
int pamsc_args_new(pam_handle_t *pamh, int flags, int argc, const char **argv,
                   struct pamsc_args **ret_args);

/** Free @p args (NULL allowed). */
void pamsc_args_free(struct pamsc_args *args);

static inline void
pamsc_args_freep(struct pamsc_args **p)
{
    pamsc_args_free(*p);
}
#define _cleanup_args_ __attribute__((cleanup(pamsc_args_freep)))

/**
 * Show a message to the user through the conversation (PAM_TEXT_INFO or PAM_ERROR_MSG).
 * Nothing is shown under PAM_SILENT. A conversation failure is logged and otherwise ignored.
 */
void pamsc_info(const struct pamsc_args *args, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pamsc_error(const struct pamsc_args *args, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The calling thread's OpenSSL error queue belongs to the application. libp11 and others
 * empty it at will (ERR_clear_error()), so each pam_sm_* call takes the application's entries
 * out first (pamsc_err_save(), at most PAMSC_ERR_SAVED of them, oldest first) and puts them
 * back when it returns (pamsc_err_restore()), after dropping everything raised meanwhile:
 * the application finds its own entries, and none of pam_scard's, libp11's, libkrb5's or
 * OpenSC's. pamsc_err_drop() forgets what was raised so far.
 */
#define PAMSC_ERR_SAVED 16

struct pamsc_err_saved {
    size_t n;
    struct {
        unsigned long code;
        const char *file, *func; /* the raising library's static strings */
        int line;
        char *data;              /* copy of the entry's text, or NULL */
    } e[PAMSC_ERR_SAVED];
};

/** Move the calling thread's OpenSSL error entries into @p saved (the queue is then empty). */
void pamsc_err_save(struct pamsc_err_saved *saved);

/** Empty the queue, then raise the entries of @p saved again in their order; frees them. */
void pamsc_err_restore(struct pamsc_err_saved *saved);

static inline void
pamsc_err_drop(void)
{
    ERR_clear_error();
}

/**
 * Tell the user the card's PIN is blocked (PAM_ERROR_MSG): blocked_card_message when set,
 * else a built-in text (windows.md §3.1 IntegratedUnblockPromptString).
 */
void pamsc_tell_blocked(const struct pamsc_args *args);

/**
 * Tell the user a PIN was refused, with the tries left as the card tells them (SP 800-73-4
 * Part 2 §3.2.1): blocked (pamsc_tell_blocked()) at 0, the count when known.
 * @param[in] tries  tries left; < 0 = unknown
 * @return -EKEYREVOKED when @p tries is 0 (blocked), else -EACCES
 */
int pamsc_tell_wrong_pin(const struct pamsc_args *args, int tries);

/**
 * Ask for a secret (PIN) with echo off.
 * @param[in]  prompt      text shown (e.g. "PIN for alice (Virtual PIV 00 00): ")
 * @param[out] ret_secret  NUL-terminated secret, free with sc_secret_free(); untouched on
 *                         failure. The conversation's own reply buffer is wiped and freed.
 * @return 0; -EBADMSG the conversation failed or gave no answer; -ENODATA empty answer;
 *         -ENOMEM
 */
int pamsc_prompt_secret(const struct pamsc_args *args, const char *prompt, char **ret_secret);
