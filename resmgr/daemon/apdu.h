/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * APDU trace formatting for scardd's logs: hex dumps of command and response APDUs
 * in which the data of PIN commands never appears.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Bytes of an APDU shown in one trace line; the rest is summarised as "…". */
#define RM_APDU_TRACE_MAX 256

/** Room for a formatted trace of any APDU (3 characters a byte plus the notes). */
#define RM_APDU_TRACE_BUF (3 * RM_APDU_TRACE_MAX + 64)

/**
 * Does the command APDU carry a PIN or PUK in its data field?
 * True for VERIFY (INS 20/21), CHANGE REFERENCE DATA (24/25) and RESET RETRY COUNTER
 * (2C/2D), whatever the class byte (chained and proprietary-class variants included).
 * @param[in] apdu  command APDU, @p len bytes (NULL with 0 allowed)
 * Source: ISO/IEC 7816-4 §11.5.6–11.5.10.
 */
bool rm_apdu_is_pin_command(const uint8_t *apdu, size_t len);

/**
 * Format an APDU as space-separated hex for a trace line.
 * @param[out] buf        destination, @p size bytes (RM_APDU_TRACE_BUF is always enough);
 *                        always NUL-terminated when @p size > 0
 * @param[in]  apdu       the APDU, @p len bytes
 * @param[in]  mask_data  true (PIN commands): show only the 4-byte header, then
 *                        "[PIN data masked]"; responses never need it (a status word only)
 * @return @p buf
 * Never logs; the caller decides the priority.
 */
char *rm_apdu_format(char *buf, size_t size, const uint8_t *apdu, size_t len, bool mask_data);
