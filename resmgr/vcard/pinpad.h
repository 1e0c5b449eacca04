/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The simulated PIN pad of the virtual card reader — PC/SC Part 10 v2.02 "IFDs with Secure PIN
 * Entry" as pure byte functions: the feature list and properties a pinpad reader answers, and
 * FEATURE_VERIFY_PIN_DIRECT's PIN_VERIFY_STRUCTURE parsed and filled with the keyed digits. No
 * I/O: where the digits come from is the IFD handler's business (ifd.c). A TEST DEVICE.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <reader.h>

/**
 * Control code of a Part 10 feature on this reader. Clients take the codes from the
 * CM_IOCTL_GET_FEATURE_REQUEST answer; the numbering follows libccid's
 * (SCARD_CTL_CODE(0x330000 + feature), ccid_ifdhandler.h) so that traces look familiar.
 */
#define VC_PINPAD_IOCTL(feature) SCARD_CTL_CODE(0x330000 + (feature))

/** Digits the pad accepts at all (ISO 9564-1: a PIN has 4 to 12 digits). */
#define VC_PINPAD_MIN_DIGITS 4
#define VC_PINPAD_MAX_DIGITS 12

/** Largest command APDU the pad builds: a short APDU, 4 header bytes + Lc + 255 + Le. */
#define VC_PINPAD_APDU_MAX 261

/** Status words the reader itself answers (PC/SC Part 10 §2.5; OpenSC reader-pcsc.c maps them). */
#define VC_PINPAD_SW_TIMEOUT 0x6400    /* nothing keyed: SC_ERROR_KEYPAD_TIMEOUT */
#define VC_PINPAD_SW_CANCELLED 0x6401  /* Cancel key: SC_ERROR_KEYPAD_CANCELLED */
#define VC_PINPAD_SW_LENGTH 0x6403     /* PIN shorter or longer than allowed */
#define VC_PINPAD_SW_BAD_DATA 0x6B80   /* structure refused by the reader's "firmware" */

/** A parsed PIN_VERIFY_STRUCTURE (PC/SC Part 10 §2.5, CCID Rev 1.1 §6.1.11 PC_to_RDR_Secure). */
struct vc_pinpad_verify {
    unsigned digit_type;   /* bmFormatString bits 1-0: 0 binary, 1 BCD, 2 ASCII */
    bool right_justify;    /* bmFormatString bit 2 */
    size_t pin_pos_bits;   /* bmFormatString bits 6-3 in bits or bytes (bit 7), from the data field */
    unsigned len_bits;     /* bmPINBlockString bits 7-4: size of the PIN length field, 0 = none */
    size_t block_bytes;    /* bmPINBlockString bits 3-0: PIN block size, 0 = as long as the PIN */
    size_t len_pos_bits;   /* bmPINLengthFormat bits 3-0 in bits or bytes (bit 4) */
    unsigned min_digits;   /* wPINMaxExtraDigit high byte */
    unsigned max_digits;   /* wPINMaxExtraDigit low byte */
    uint8_t apdu[VC_PINPAD_APDU_MAX]; /* the template: header, Lc, padding, [Le]; no PIN */
    size_t apdu_len;
    size_t lc;             /* data bytes in the template; 0 = the PIN becomes the data field */
};

/**
 * The CM_IOCTL_GET_FEATURE_REQUEST answer: one PCSC_TLV_STRUCTURE (tag, length 4, big-endian
 * control code) each for FEATURE_VERIFY_PIN_DIRECT, FEATURE_IFD_PIN_PROPERTIES and
 * FEATURE_GET_TLV_PROPERTIES. Modify-PIN is not offered.
 * @param[out] out       answer buffer
 * @param[in]  out_size  bytes available in @p out
 * @param[out] ret_len   bytes written
 * @return 0; -ENOBUFS @p out_size too small (nothing written)
 * Source: PC/SC Part 10 v2.02.09 §2.2 (GET_FEATURE_REQUEST) and §2.5 (features).
 */
int vc_pinpad_features(uint8_t *out, size_t out_size, size_t *ret_len);

/**
 * The FEATURE_IFD_PIN_PROPERTIES answer: PIN_PROPERTIES_STRUCTURE with no display
 * (wLcdLayout 0), entry ended by the validation key (bEntryValidationCondition 02), no second
 * timeout.
 * @return 0; -ENOBUFS @p out_size below sizeof(PIN_PROPERTIES_STRUCTURE)
 * Source: PC/SC Part 10 v2.02.09 §2.5 (FEATURE_IFD_PIN_PROPERTIES).
 */
int vc_pinpad_pin_properties(uint8_t *out, size_t out_size, size_t *ret_len);

/**
 * The FEATURE_GET_TLV_PROPERTIES answer (tag, length, little-endian value): wLcdLayout 0,
 * bEntryValidationCondition 02, bTimeOut2 0, bMinPINSize VC_PINPAD_MIN_DIGITS, bMaxPINSize
 * VC_PINPAD_MAX_DIGITS, sFirmwareID naming it a simulated test pad, bPPDUSupport 0,
 * dwMaxAPDUDataSize 0 (short APDUs only).
 * @return 0; -ENOBUFS @p out_size too small (nothing written)
 * Source: PC/SC Part 10 v2.02.09 §2.5 (FEATURE_GET_TLV_PROPERTIES); OpenSC reads the values
 *         little-endian (reader-pcsc.c part10_find_property_by_tag), as libccid writes them.
 */
int vc_pinpad_tlv_properties(uint8_t *out, size_t out_size, size_t *ret_len);

/**
 * Parse and check the input of FEATURE_VERIFY_PIN_DIRECT: a PIN_VERIFY_STRUCTURE (19 bytes,
 * multi-byte fields in host order as pcsc-lite's reader.h and OpenSC write them) followed by
 * ulDataLength bytes of a short command APDU into which the PIN goes.
 * @param[in]  in       control input as received by IFDHControl()
 * @param[in]  in_len   bytes in @p in
 * @param[out] ret      the parsed structure; untouched on failure
 * @return 0;
 *         -EBADMSG  shorter than the structure, ulDataLength not the rest of @p in, or not a
 *                   well-formed short APDU (libccid answers these with IFD_NOT_SUPPORTED);
 *         -EPERM    the APDU is not ISO 7816-4 VERIFY (INS 20): the pad puts a PIN into
 *                   nothing else;
 *         -EOPNOTSUPP extended length, RFU PIN type or bits set, no or inverted digit limits
 *                   (a reader answers 6B 80 for these)
 * Source: PC/SC Part 10 v2.02.09 §2.5 (FEATURE_VERIFY_PIN_DIRECT); CCID Rev 1.1 §6.1.11 (bm*
 *         fields); ISO/IEC 7816-4 VERIFY; libccid SecurePINVerify() for the length checks.
 */
int vc_pinpad_verify_parse(const uint8_t *in, size_t in_len, struct vc_pinpad_verify *ret);

/**
 * Build the VERIFY APDU the pad sends to the card: the template with @p n digits written at
 * the PIN position (binary: one byte per digit, BCD: one nibble, ASCII: '0'..'9'), left or
 * right justified in the block, and the digit count in the PIN length field when there is
 * one; template bytes the PIN does not cover (the caller's padding, FF for PIV) stay. A
 * template without data gets the PIN as its data field (Lc = PIN bytes, odd BCD nibble F).
 * @param[in]  v        parsed structure
 * @param[in]  digits   the keyed digits '0'..'9' (not NUL-terminated); a secret
 * @param[in]  n        number of digits
 * @param[out] out      the APDU (holds the PIN: wipe it after use)
 * @param[out] ret_len  bytes in @p out
 * @return 0; -ERANGE @p n outside min..max of @p v or of the pad, longer than the block, or
 *         too large for the PIN length field (a reader answers 64 03); -EMSGSIZE the PIN or
 *         its length field does not fit in the APDU's data (6B 80); -EINVAL a non-digit in
 *         @p digits. @p out may hold a partial PIN on failure: wipe it anyway.
 * Source: CCID Rev 1.1 §6.1.11 (bmFormatString, bmPINBlockString, bmPINLengthFormat);
 *         SP 800-73-4 Part 2 §3.2.1 (PIV: ASCII digits padded with FF to 8 bytes).
 */
int vc_pinpad_verify_apdu(const struct vc_pinpad_verify *v, const char *digits, size_t n,
                          uint8_t out[VC_PINPAD_APDU_MAX], size_t *ret_len);
