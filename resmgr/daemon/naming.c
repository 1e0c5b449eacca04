/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader names, pcsc-lite's convention "<friendly> NN SS": NN (two hex digits) is the
 * lowest index not used by a present reader of the same friendly name, SS the slot. Pure
 * functions, unit-tested in tests/unit/test-readers.c. Source: pcsc-lite readerfactory.c
 * RFAddReader().
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "resmgr/daemon/scardd.h"

#define SUFFIX_LEN 6 /* " NN SS" */

static bool
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static unsigned
hex_val(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
}

/* Length of @p friendly as it appears in a name of RM_WIRE_NAME_MAX bytes. */
static size_t
stem_len(const char *friendly)
{
    size_t n = strlen(friendly);
    return n > RM_WIRE_NAME_MAX - 1 - SUFFIX_LEN ? RM_WIRE_NAME_MAX - 1 - SUFFIX_LEN : n;
}

/* NN of @p name when it is "<stem> NN SS", else -1. */
static int
index_of(const char *name, const char *friendly, size_t stem)
{
    if (strlen(name) != stem + SUFFIX_LEN || strncmp(name, friendly, stem) != 0)
        return -1;
    name += stem;
    if (name[0] != ' ' || !is_hex(name[1]) || !is_hex(name[2]) || name[3] != ' ' ||
        !is_hex(name[4]) || !is_hex(name[5]))
        return -1;
    return (int)(hex_val(name[1]) << 4 | hex_val(name[2]));
}

int
rm_reader_name_index(const char *friendly, const char *const *names, size_t n_names)
{
    bool used[256] = {false};
    size_t stem = stem_len(friendly);

    for (size_t i = 0; i < n_names; i++) {
        int nn = index_of(names[i], friendly, stem);
        if (nn >= 0)
            used[nn] = true;
    }
    for (int nn = 0; nn < 256; nn++)
        if (!used[nn])
            return nn;
    return -ENOSPC;
}

void
rm_reader_name_format(char *buf, size_t size, const char *friendly, unsigned nn, unsigned slot)
{
    size_t stem = stem_len(friendly);

    if (stem + SUFFIX_LEN + 1 > size)
        stem = size - SUFFIX_LEN - 1;
    snprintf(buf, size, "%.*s %02X %02X", (int)stem, friendly, nn & 0xffu, slot & 0xffu);
}
