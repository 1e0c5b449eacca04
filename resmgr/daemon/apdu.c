/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * APDU trace formatting (see apdu.h): which commands carry PINs, and hex dumps that
 * leave out their data. Used by the request handlers (dispatch.c) for --debug and
 * trace_apdus logging.
 */
#include <stdio.h>
#include <string.h>

#include "resmgr/daemon/apdu.h"

bool
rm_apdu_is_pin_command(const uint8_t *apdu, size_t len)
{
    uint8_t ins;

    if (!apdu || len < 2)
        return false;
    ins = apdu[1] & 0xFE; /* odd INS: same command with BER-TLV data */
    return ins == 0x20 || ins == 0x24 || ins == 0x2C;
}

static size_t
hex(char *buf, size_t size, const uint8_t *p, size_t n)
{
    size_t off = 0;

    for (size_t i = 0; i < n && off + 4 <= size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%02X", i ? " " : "", p[i]);
    return off;
}

char *
rm_apdu_format(char *buf, size_t size, const uint8_t *apdu, size_t len, bool mask_data)
{
    size_t off, shown;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (!apdu || len == 0)
        return buf;
    /* a masked command keeps only CLA INS P1 P2: Lc and the data would tell the PIN length */
    shown = len > RM_APDU_TRACE_MAX ? RM_APDU_TRACE_MAX : len;
    if (mask_data)
        shown = len < 4 ? len : 4;
    off = hex(buf, size, apdu, shown);
    if (mask_data && len > shown && off < size)
        snprintf(buf + off, size - off, " [PIN data masked]");
    else if (len > shown && off < size)
        snprintf(buf + off, size - off, " …");
    return buf;
}
