/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only: count the copies of a secret (a PIN) left in this process's own writable
 * memory, to prove that a PAM stack wiped it. The secret is held XOR-masked, so the scanner
 * adds no copy of its own.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SECRET_SCAN_MAX 256

struct secret_needle {
    uint8_t masked[SECRET_SCAN_MAX]; /* secret XOR mask */
    uint8_t mask[SECRET_SCAN_MAX];   /* random, no zero byte */
    size_t len;
};

/**
 * Load the secret to look for: the first line of a file, masked at once.
 * @param[in]  path        file whose first line (without the newline) is the secret
 * @param[out] ret_needle  the masked secret; untouched on failure
 * @return 0; -errno from open()/read(); -ENODATA empty line; -E2BIG longer than
 *         SECRET_SCAN_MAX - 1 bytes. The read buffer is wiped.
 */
int secret_needle_load(const char *path, struct secret_needle *ret_needle);

struct secret_scan {
    int copies;       /* occurrences of the secret */
    int in_hex_dumps; /* of which in the ASCII column of a hex dump of the same bytes */
};

/**
 * Count the occurrences of the secret in every readable and writable mapping of this
 * process (heap, stacks, anonymous memory, writable data of libraries; /proc/self/maps),
 * read through /proc/self/mem. Not thread-safe: run it with one thread left.
 * @param[in] needle  from secret_needle_load()
 * A copy preceded (within 64 bytes) by the secret's bytes written as "%02X " groups is the
 * ASCII column of a hex dump, as OpenSC's _sc_debug_hex() leaves behind; those are also
 * counted apart.
 * @param[in]  needle    from secret_needle_load()
 * @param[in]  report    where each copy found is described ("secret-copy: ADDR REGION+OFFSET
 *                       [(hex dump)]"), at most 32 lines; NULL for none. The secret itself is
 *                       never printed.
 * @param[out] ret_scan  the counts; untouched on failure
 * @return 0; -errno when the maps or memory cannot be read
 */
int secret_scan_count(const struct secret_needle *needle, FILE *report, struct secret_scan *ret_scan);
