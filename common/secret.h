/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Secrets (PINs, PUKs, keys): wiped before they are freed. Helpers for cleanup
 * variables and for reading a secret from a file or terminal without echo.
 */
#pragma once

#include <stddef.h>
#include <string.h>

/**
 * Wipe and free a NUL-terminated secret string.
 * @param[in] s  string from malloc()/strdup(), may be NULL; all strlen(s) bytes are wiped.
 */
void sc_secret_free(char *s);

/**
 * Wipe and free a secret buffer of known length.
 * @param[in] p    buffer from malloc(), may be NULL
 * @param[in] len  bytes to wipe
 */
void sc_secret_free_n(void *p, size_t len);

static inline void
sc_secret_freep(char **s)
{
    sc_secret_free(*s);
}
#define _cleanup_secret_ __attribute__((cleanup(sc_secret_freep)))

/**
 * Read one secret line from a file ("-" = standard input), or prompt on the terminal.
 * @param[in]  path      file to read the first line of, "-" for stdin, or NULL to prompt
 * @param[in]  prompt    prompt shown on /dev/tty when path is NULL (echo is off)
 * @param[out] ret_secret new NUL-terminated string without the newline, free with
 *                       sc_secret_free(); untouched on failure
 * @return 0; -ENOENT/-EACCES the file could not be opened; -ENXIO no terminal to prompt on;
 *         -ENODATA empty input; -E2BIG longer than 255 bytes; -ENOMEM
 * The intermediate buffers are wiped. Never logs.
 */
int sc_secret_read(const char *path, const char *prompt, char **ret_secret);
