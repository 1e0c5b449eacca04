/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PC/SC Part 10 answers of the simulated PIN pad: feature list, PIN properties, TLV
 * properties, and FEATURE_VERIFY_PIN_DIRECT's structure parsed and turned into a VERIFY APDU
 * with the keyed digits in it. Pure functions over bytes; see pinpad.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "resmgr/vcard/pinpad.h"

/* The layouts pcsc-lite's reader.h gives us must be the packed ones of PC/SC Part 10. */
_Static_assert(sizeof(PCSC_TLV_STRUCTURE) == 6, "PCSC_TLV_STRUCTURE is 6 bytes");
_Static_assert(sizeof(PIN_VERIFY_STRUCTURE) == 19, "PIN_VERIFY_STRUCTURE header is 19 bytes");
_Static_assert(sizeof(PIN_PROPERTIES_STRUCTURE) == 4, "PIN_PROPERTIES_STRUCTURE is 4 bytes");

#define ENTRY_VALIDATION_KEY 0x02 /* bEntryValidationCondition: validation key pressed */
#define INS_VERIFY 0x20
#define FIRMWARE_ID "scard-vcard simulated PIN pad (test device)"

static const uint8_t offered[] = {FEATURE_VERIFY_PIN_DIRECT, FEATURE_IFD_PIN_PROPERTIES,
                                  FEATURE_GET_TLV_PROPERTIES};

int
vc_pinpad_features(uint8_t *out, size_t out_size, size_t *ret_len)
{
    if (out_size < sizeof(offered) * sizeof(PCSC_TLV_STRUCTURE))
        return -ENOBUFS;
    for (size_t i = 0; i < sizeof(offered); i++) {
        PCSC_TLV_STRUCTURE t = {.tag = offered[i], .length = 4,
                                .value = htonl(VC_PINPAD_IOCTL(offered[i]))};
        memcpy(out + i * sizeof(t), &t, sizeof(t));
    }
    *ret_len = sizeof(offered) * sizeof(PCSC_TLV_STRUCTURE);
    return 0;
}

int
vc_pinpad_pin_properties(uint8_t *out, size_t out_size, size_t *ret_len)
{
    PIN_PROPERTIES_STRUCTURE p = {.wLcdLayout = 0, .bEntryValidationCondition = ENTRY_VALIDATION_KEY,
                                  .bTimeOut2 = 0};

    if (out_size < sizeof(p))
        return -ENOBUFS;
    memcpy(out, &p, sizeof(p));
    *ret_len = sizeof(p);
    return 0;
}

/* Append tag, length, value (little-endian integer of @p width bytes, or @p str). */
static void
put_property(uint8_t *out, size_t *pos, uint8_t tag, unsigned width, uint32_t value, const char *str)
{
    size_t len = str ? strlen(str) : width;

    out[(*pos)++] = tag;
    out[(*pos)++] = (uint8_t)len;
    for (size_t i = 0; i < len; i++)
        out[(*pos)++] = str ? (uint8_t)str[i] : (uint8_t)(value >> (8 * i));
}

int
vc_pinpad_tlv_properties(uint8_t *out, size_t out_size, size_t *ret_len)
{
    uint8_t buf[64 + sizeof(FIRMWARE_ID)];
    size_t pos = 0;

    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_wLcdLayout, 2, 0, NULL);
    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_bEntryValidationCondition, 1, ENTRY_VALIDATION_KEY, NULL);
    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_bTimeOut2, 1, 0, NULL);
    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_bMinPINSize, 1, VC_PINPAD_MIN_DIGITS, NULL);
    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_bMaxPINSize, 1, VC_PINPAD_MAX_DIGITS, NULL);
    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_sFirmwareID, 0, 0, FIRMWARE_ID);
    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_bPPDUSupport, 1, 0, NULL);
    put_property(buf, &pos, PCSCv2_PART10_PROPERTY_dwMaxAPDUDataSize, 4, 0, NULL);
    if (out_size < pos)
        return -ENOBUFS;
    memcpy(out, buf, pos);
    *ret_len = pos;
    return 0;
}

/* --- FEATURE_VERIFY_PIN_DIRECT ------------------------------------------------------------- */

/* Split the command template: 4 header bytes, then nothing, "Lc 00" (the PIN becomes the data),
 * or Lc + Lc bytes [+ Le]. Extended length (Lc 00 followed by more) is not supported. */
static int
parse_template(const uint8_t *apdu, size_t len, size_t *ret_lc)
{
    if (len < 4 || len > VC_PINPAD_APDU_MAX)
        return -EBADMSG;
    if (len == 4) {
        *ret_lc = 0;
        return 0;
    }
    if (apdu[4] == 0) {
        if (len != 5)
            return -EOPNOTSUPP;
        *ret_lc = 0;
        return 0;
    }
    if (len != 5u + apdu[4] && len != 6u + apdu[4])
        return -EBADMSG;
    *ret_lc = apdu[4];
    return 0;
}

int
vc_pinpad_verify_parse(const uint8_t *in, size_t in_len, struct vc_pinpad_verify *ret)
{
    PIN_VERIFY_STRUCTURE h;
    struct vc_pinpad_verify v = {0};
    int r;

    if (!in || in_len < sizeof(h))
        return -EBADMSG;
    memcpy(&h, in, sizeof(h));
    if (h.ulDataLength != in_len - sizeof(h))
        return -EBADMSG;
    r = parse_template(in + sizeof(h), h.ulDataLength, &v.lc);
    if (r < 0)
        return r;
    memcpy(v.apdu, in + sizeof(h), h.ulDataLength);
    v.apdu_len = h.ulDataLength == 5 ? 4 : h.ulDataLength; /* "Lc 00" is rebuilt with the PIN */
    if (v.apdu[1] != INS_VERIFY)
        return -EPERM;

    v.digit_type = h.bmFormatString & 0x03;
    v.right_justify = h.bmFormatString & 0x04;
    v.pin_pos_bits = ((h.bmFormatString >> 3) & 0x0f) * (h.bmFormatString & 0x80 ? 8u : 1u);
    v.len_bits = h.bmPINBlockString >> 4;
    v.block_bytes = h.bmPINBlockString & 0x0f;
    v.len_pos_bits = (h.bmPINLengthFormat & 0x0f) * (h.bmPINLengthFormat & 0x10 ? 8u : 1u);
    v.min_digits = h.wPINMaxExtraDigit >> 8;
    v.max_digits = h.wPINMaxExtraDigit & 0xff;
    if (v.digit_type == 3 || (h.bmPINLengthFormat & 0xe0) || v.max_digits == 0 || v.min_digits > v.max_digits)
        return -EOPNOTSUPP;
    *ret = v;
    return 0;
}

/* Write the @p nbits low bits of @p value, most significant first, at bit @p pos of @p buf. */
static void
put_bits(uint8_t *buf, size_t pos, unsigned nbits, unsigned value)
{
    for (unsigned i = 0; i < nbits; i++, pos++) {
        uint8_t mask = (uint8_t)(0x80u >> (pos % 8));
        if ((value >> (nbits - 1 - i)) & 1u)
            buf[pos / 8] |= mask;
        else
            buf[pos / 8] &= (uint8_t)~mask;
    }
}

int
vc_pinpad_verify_apdu(const struct vc_pinpad_verify *v, const char *digits, size_t n,
                      uint8_t out[VC_PINPAD_APDU_MAX], size_t *ret_len)
{
    const unsigned digit_bits = v->digit_type == 1 ? 4 : 8;
    const size_t pin_bits = n * digit_bits;
    size_t data_len = v->lc, data_bits, start, end, len;

    for (size_t i = 0; i < n; i++)
        if (digits[i] < '0' || digits[i] > '9')
            return -EINVAL;
    if (n < v->min_digits || n > v->max_digits || n < VC_PINPAD_MIN_DIGITS || n > VC_PINPAD_MAX_DIGITS ||
        (v->block_bytes && pin_bits > v->block_bytes * 8) || (v->len_bits && n >= (1u << v->len_bits)))
        return -ERANGE;
    memcpy(out, v->apdu, v->apdu_len);
    len = v->apdu_len;
    if (data_len == 0) { /* no template data: the PIN alone is the data field */
        if (v->pin_pos_bits || v->len_bits || v->block_bytes)
            return -EMSGSIZE;
        data_len = (pin_bits + 7) / 8;
        out[4] = (uint8_t)data_len;
        memset(out + 5, 0xff, data_len); /* an odd BCD PIN ends with the filler nibble F */
        len = 5 + data_len;
    }
    data_bits = data_len * 8;
    end = v->right_justify ? (v->block_bytes ? v->pin_pos_bits + v->block_bytes * 8 : data_bits)
                           : v->pin_pos_bits + pin_bits;
    if (end > data_bits || end < pin_bits + v->pin_pos_bits)
        return -EMSGSIZE;
    start = end - pin_bits;
    if (v->len_bits) {
        if (v->len_pos_bits + v->len_bits > data_bits)
            return -EMSGSIZE;
        put_bits(out + 5, v->len_pos_bits, v->len_bits, (unsigned)n);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(digits[i] - '0');
        put_bits(out + 5, start + i * digit_bits, digit_bits, v->digit_type == 2 ? '0' + d : d);
    }
    *ret_len = len;
    return 0;
}
