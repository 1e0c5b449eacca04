/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of resmgr/vcard/pinpad.c, the simulated PIN pad's PC/SC Part 10 answers: feature
 * TLVs, PIN and TLV properties, and PIN_VERIFY_STRUCTURE → VERIFY APDU for the blocks OpenSC's
 * reader-pcsc.c builds (PIV ASCII + FF padding, GLP/BCD), the other formats of CCID §6.1.11,
 * and malformed structures (every truncation, wrong lengths, RFU bits, random bytes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resmgr/vcard/pinpad.h"

#define FF8 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff

/* PIV VERIFY template as OpenSC sends it to a pinpad: PIN reference 80, 8 bytes of FF padding. */
static const uint8_t piv_template[] = {0x00, 0x20, 0x00, 0x80, 0x08, FF8};

/* A PIN_VERIFY_STRUCTURE followed by @p apdu, as reader-pcsc.c part10_build_verify_pin_block() lays it out. */
static size_t
make_verify(uint8_t *buf, uint8_t format, uint8_t block, uint8_t lenfmt, unsigned min, unsigned max,
            const uint8_t *apdu, size_t apdu_len)
{
    PIN_VERIFY_STRUCTURE h = {
        .bTimerOut = 30,
        .bTimerOut2 = 30,
        .bmFormatString = format,
        .bmPINBlockString = block,
        .bmPINLengthFormat = lenfmt,
        .wPINMaxExtraDigit = (uint16_t)(min << 8 | max),
        .bEntryValidationCondition = 0x02,
        .ulDataLength = (uint32_t)apdu_len,
    };
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), apdu, apdu_len);
    return sizeof(h) + apdu_len;
}

/* Build the structure around @p tmpl and parse it into @p v. */
static int
parse(uint8_t format, uint8_t block, uint8_t lenfmt, unsigned min, unsigned max, const uint8_t *tmpl,
      size_t tmpl_len, struct vc_pinpad_verify *v)
{
    uint8_t in[sizeof(PIN_VERIFY_STRUCTURE) + VC_PINPAD_APDU_MAX + 1];

    return vc_pinpad_verify_parse(in, make_verify(in, format, block, lenfmt, min, max, tmpl, tmpl_len), v);
}

/* Parse the structure and build the APDU for @p digits; returns the first error. */
static int
verify_apdu(uint8_t format, uint8_t block, uint8_t lenfmt, unsigned min, unsigned max, const uint8_t *tmpl,
            size_t tmpl_len, const char *digits, uint8_t out[VC_PINPAD_APDU_MAX], size_t *out_len)
{
    struct vc_pinpad_verify v;
    int r = parse(format, block, lenfmt, min, max, tmpl, tmpl_len, &v);

    return r < 0 ? r : vc_pinpad_verify_apdu(&v, digits, strlen(digits), out, out_len);
}

#define assert_apdu(got, got_len, ...)                                                             \
    do {                                                                                           \
        static const uint8_t want_[] = {__VA_ARGS__};                                              \
        assert_int_equal((got_len), sizeof(want_));                                                \
        assert_memory_equal((got), want_, sizeof(want_));                                          \
    } while (0)

static void
test_features(void **state)
{
    uint8_t buf[64];
    size_t len = 0;
    const uint8_t tags[] = {FEATURE_VERIFY_PIN_DIRECT, FEATURE_IFD_PIN_PROPERTIES, FEATURE_GET_TLV_PROPERTIES};
    (void)state;

    assert_int_equal(vc_pinpad_features(buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 3 * 6);
    for (size_t i = 0; i < 3; i++) {
        uint32_t code;
        assert_int_equal(buf[i * 6], tags[i]);
        assert_int_equal(buf[i * 6 + 1], 4);
        memcpy(&code, buf + i * 6 + 2, 4);
        assert_int_equal(ntohl(code), 0x42000000u + 0x330000u + tags[i]); /* libccid's numbering */
    }
    assert_int_equal(vc_pinpad_features(buf, 17, &len), -ENOBUFS);
}

static void
test_properties(void **state)
{
    uint8_t buf[128];
    size_t len = 0, i;
    int found = 0;
    (void)state;

    assert_int_equal(vc_pinpad_pin_properties(buf, sizeof(buf), &len), 0);
    assert_apdu(buf, len, 0x00, 0x00, 0x02, 0x00); /* no display, validation key, no bTimeOut2 */
    assert_int_equal(vc_pinpad_pin_properties(buf, 3, &len), -ENOBUFS);

    assert_int_equal(vc_pinpad_tlv_properties(buf, sizeof(buf), &len), 0);
    for (i = 0; i + 2 <= len; i += 2u + buf[i + 1]) {
        if (buf[i] == PCSCv2_PART10_PROPERTY_bMinPINSize && buf[i + 1] == 1 && buf[i + 2] == VC_PINPAD_MIN_DIGITS)
            found |= 1;
        if (buf[i] == PCSCv2_PART10_PROPERTY_bMaxPINSize && buf[i + 1] == 1 && buf[i + 2] == VC_PINPAD_MAX_DIGITS)
            found |= 2;
        if (buf[i] == PCSCv2_PART10_PROPERTY_wLcdLayout && buf[i + 1] == 2 && buf[i + 2] == 0 && buf[i + 3] == 0)
            found |= 4;
        if (buf[i] == PCSCv2_PART10_PROPERTY_sFirmwareID && memmem(buf + i + 2, buf[i + 1], "test device", 11))
            found |= 8;
    }
    assert_int_equal(i, len); /* the TLVs tile the answer exactly */
    assert_int_equal(found, 15);
    assert_int_equal(vc_pinpad_tlv_properties(buf, len - 1, &len), -ENOBUFS);
}

/* OpenSC's PIV block: ASCII, left-justified at data offset 0, 8-byte block, no length field. */
static void
test_opensc_piv(void **state)
{
    uint8_t out[VC_PINPAD_APDU_MAX];
    size_t len = 0;
    static const uint8_t with_le[] = {0x00, 0x20, 0x00, 0x80, 0x08, FF8, 0x00};
    (void)state;

    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 4, 8, piv_template, sizeof(piv_template), "123456", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3', '4', '5', '6', 0xff, 0xff);
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 4, 8, piv_template, sizeof(piv_template), "87654321", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x08, '8', '7', '6', '5', '4', '3', '2', '1');
    /* OpenSC before 0.20 left bmPINBlockString 0: the template's data field is the block */
    assert_int_equal(verify_apdu(0x02, 0x00, 0x00, 4, 8, piv_template, sizeof(piv_template), "2468", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x08, '2', '4', '6', '8', 0xff, 0xff, 0xff, 0xff);
    /* a trailing Le stays where it was */
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 4, 8, with_le, sizeof(with_le), "1234", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3', '4', 0xff, 0xff, 0xff, 0xff, 0x00);
}

/* The exact block OpenSC 0.23.0 sent for a PIV VERIFY (its debug log, vcard-pinpad.sh): host
 * byte order, recorded on x86-64. */
static void
test_opensc_023_bytes(void **state)
{
    static const uint8_t block[] = {0x1e, 0x1e, 0x82, 0x08, 0x00, 0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x80, 0x08, FF8};
    struct vc_pinpad_verify v;
    uint8_t out[VC_PINPAD_APDU_MAX];
    size_t len = 0;
    (void)state;

    if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
        skip();
    assert_int_equal(vc_pinpad_verify_parse(block, sizeof(block), &v), 0);
    assert_int_equal(v.min_digits, 4);
    assert_int_equal(v.max_digits, 8);
    assert_int_equal(vc_pinpad_verify_apdu(&v, "246810", 6, out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x08, '2', '4', '6', '8', '1', '0', 0xff, 0xff);
}

static void
test_digit_limits(void **state)
{
    uint8_t out[VC_PINPAD_APDU_MAX];
    size_t len = 0;
    (void)state;

    /* the structure's limits (here 6..8), the pad's own (4..12) and the block (8 bytes) */
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 6, 8, piv_template, sizeof(piv_template), "12345", out, &len),
                     -ERANGE);
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 6, 8, piv_template, sizeof(piv_template), "123456789", out, &len),
                     -ERANGE);
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 1, 15, piv_template, sizeof(piv_template), "123", out, &len),
                     -ERANGE);
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 1, 15, piv_template, sizeof(piv_template), "123456789", out, &len),
                     -ERANGE);
    assert_int_equal(verify_apdu(0x02, 0x00, 0x00, 1, 15, piv_template, sizeof(piv_template), "1234567890123", out,
                                 &len), -ERANGE);
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 4, 8, piv_template, sizeof(piv_template), "12a456", out, &len),
                     -EINVAL);
    /* a 2-bit length field cannot count 4 digits */
    assert_int_equal(verify_apdu(0x02, 0x20, 0x00, 4, 8, piv_template, sizeof(piv_template), "1234", out, &len),
                     -ERANGE);
}

/* OpenSC's GLP block (ISO 9564 format 2): BCD from bit 8, length nibble at bit 4, 8-byte block. */
static void
test_glp_and_bcd(void **state)
{
    uint8_t out[VC_PINPAD_APDU_MAX];
    size_t len = 0;
    static const uint8_t glp[] = {0x00, 0x20, 0x00, 0x81, 0x08, 0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t bcd[] = {0x00, 0x20, 0x00, 0x01, 0x04, 0xaa, 0xff, 0xff, 0xff};
    (void)state;

    assert_int_equal(verify_apdu(0x01 | 0x08 << 3, 0x48, 0x04, 4, 12, glp, sizeof(glp), "12345", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x81, 0x08, 0x25, 0x12, 0x34, 0x5f, 0xff, 0xff, 0xff, 0xff);
    /* BCD at byte 1 (units: bytes), odd length keeps the template's filler nibble */
    assert_int_equal(verify_apdu(0x80 | 0x01 << 3 | 0x01, 0x00, 0x00, 4, 8, bcd, sizeof(bcd), "12345", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x01, 0x04, 0xaa, 0x12, 0x34, 0x5f);
    /* the same PIN one byte longer than the data field has room for */
    assert_int_equal(verify_apdu(0x80 | 0x01 << 3 | 0x01, 0x00, 0x00, 4, 8, bcd, sizeof(bcd), "1234567", out, &len),
                     -EMSGSIZE);
}

static void
test_other_formats(void **state)
{
    uint8_t out[VC_PINPAD_APDU_MAX];
    size_t len = 0;
    static const uint8_t zeros[] = {0x00, 0x20, 0x00, 0x80, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t case1[] = {0x00, 0x20, 0x00, 0x80};
    static const uint8_t lc0[] = {0x00, 0x20, 0x00, 0x80, 0x00};
    (void)state;

    /* right-justified ASCII in the 8-byte block */
    assert_int_equal(verify_apdu(0x06, 0x08, 0x00, 4, 8, piv_template, sizeof(piv_template), "1234", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x08, 0xff, 0xff, 0xff, 0xff, '1', '2', '3', '4');
    /* binary digits, with an 8-bit length field in byte 0 (units: bytes) and the PIN from byte 1 */
    assert_int_equal(verify_apdu(0x80 | 0x01 << 3 | 0x00, 0x80, 0x10, 4, 8, zeros, sizeof(zeros), "1234", out, &len),
                     0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x08, 0x04, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00);
    /* no data in the template (case 1 or "Lc 00"): the PIN becomes the data field */
    assert_int_equal(verify_apdu(0x02, 0x00, 0x00, 4, 8, case1, sizeof(case1), "123456", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x06, '1', '2', '3', '4', '5', '6');
    assert_int_equal(verify_apdu(0x01, 0x00, 0x00, 4, 8, lc0, sizeof(lc0), "12345", out, &len), 0);
    assert_apdu(out, len, 0x00, 0x20, 0x00, 0x80, 0x03, 0x12, 0x34, 0x5f);
    /* ... but then there is nowhere for a position, a block or a length field */
    assert_int_equal(verify_apdu(0x02 | 0x01 << 3, 0x00, 0x00, 4, 8, case1, sizeof(case1), "1234", out, &len),
                     -EMSGSIZE);
    assert_int_equal(verify_apdu(0x02, 0x08, 0x00, 4, 8, case1, sizeof(case1), "1234", out, &len), -EMSGSIZE);
    /* PIN position (15 bytes) or length field position (15 bytes) past the 8-byte data field */
    assert_int_equal(verify_apdu(0x80 | 0x0f << 3 | 0x02, 0x00, 0x00, 4, 8, piv_template, sizeof(piv_template),
                                 "1234", out, &len), -EMSGSIZE);
    assert_int_equal(verify_apdu(0x02, 0x88, 0x1f, 4, 8, piv_template, sizeof(piv_template), "1234", out, &len),
                     -EMSGSIZE);
}

static void
test_malformed(void **state)
{
    uint8_t in[sizeof(PIN_VERIFY_STRUCTURE) + VC_PINPAD_APDU_MAX + 8];
    struct vc_pinpad_verify v;
    size_t len = make_verify(in, 0x02, 0x08, 0x00, 4, 8, piv_template, sizeof(piv_template));
    uint32_t dl;
    static const uint8_t put_data[] = {0x00, 0xdb, 0x3f, 0xff, 0x08, FF8};
    static const uint8_t change[] = {0x00, 0x24, 0x00, 0x80, 0x08, FF8};
    static const uint8_t extended[] = {0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x08, FF8};
    static const uint8_t short_lc[] = {0x00, 0x20, 0x00, 0x80, 0x09, FF8};
    static const uint8_t three[] = {0x00, 0x20, 0x00};
    uint8_t big[VC_PINPAD_APDU_MAX + 1] = {0x00, 0x20, 0x00, 0x80, 0xff};
    (void)state;

    assert_int_equal(vc_pinpad_verify_parse(in, len, &v), 0);
    for (size_t n = 0; n < len; n++) /* every truncation */
        assert_int_equal(vc_pinpad_verify_parse(in, n, &v), -EBADMSG);
    assert_int_equal(vc_pinpad_verify_parse(NULL, len, &v), -EBADMSG);
    in[len] = 0;
    assert_int_equal(vc_pinpad_verify_parse(in, len + 1, &v), -EBADMSG); /* ulDataLength too small */
    dl = 0xfffffff0u;                                                     /* absurd ulDataLength */
    memcpy(in + offsetof(PIN_VERIFY_STRUCTURE, ulDataLength), &dl, 4);
    assert_int_equal(vc_pinpad_verify_parse(in, len, &v), -EBADMSG);

    assert_int_equal(parse(0x02, 0x08, 0x00, 4, 8, short_lc, sizeof(short_lc), &v), -EBADMSG);
    assert_int_equal(parse(0x02, 0x08, 0x00, 4, 8, three, sizeof(three), &v), -EBADMSG);
    assert_int_equal(parse(0x02, 0x08, 0x00, 4, 8, big, sizeof(big), &v), -EBADMSG);
    assert_int_equal(parse(0x02, 0x08, 0x00, 4, 8, extended, sizeof(extended), &v), -EOPNOTSUPP);
    /* the PIN goes into VERIFY only, never into PUT DATA (readable back) or anything else */
    assert_int_equal(parse(0x02, 0x08, 0x00, 4, 8, put_data, sizeof(put_data), &v), -EPERM);
    assert_int_equal(parse(0x02, 0x08, 0x00, 4, 8, change, sizeof(change), &v), -EPERM);
    /* RFU PIN type, RFU length-format bits, no maximum, minimum above maximum */
    assert_int_equal(parse(0x03, 0x08, 0x00, 4, 8, piv_template, sizeof(piv_template), &v), -EOPNOTSUPP);
    assert_int_equal(parse(0x02, 0x08, 0x20, 4, 8, piv_template, sizeof(piv_template), &v), -EOPNOTSUPP);
    assert_int_equal(parse(0x02, 0x08, 0x00, 0, 0, piv_template, sizeof(piv_template), &v), -EOPNOTSUPP);
    assert_int_equal(parse(0x02, 0x08, 0x00, 9, 8, piv_template, sizeof(piv_template), &v), -EOPNOTSUPP);
}

/* Random structures with a consistent ulDataLength: parse, build, stay inside the buffers. */
static void
test_random(void **state)
{
    uint8_t in[sizeof(PIN_VERIFY_STRUCTURE) + VC_PINPAD_APDU_MAX], out[VC_PINPAD_APDU_MAX];
    unsigned seed = 20240601, parsed = 0, built = 0;
    (void)state;

    for (int i = 0; i < 200000; i++) {
        size_t apdu_len = (size_t)rand_r(&seed) % (VC_PINPAD_APDU_MAX + 1), len;
        uint8_t apdu[VC_PINPAD_APDU_MAX];
        struct vc_pinpad_verify v;
        char digits[16];
        size_t n = (size_t)rand_r(&seed) % sizeof(digits), out_len = 0;

        for (size_t k = 0; k < apdu_len; k++)
            apdu[k] = (uint8_t)rand_r(&seed);
        if (apdu_len > 5 && rand_r(&seed) % 2) { /* mostly well-formed VERIFY templates */
            apdu[1] = 0x20;
            apdu[4] = (uint8_t)(apdu_len - 5);
        }
        len = make_verify(in, (uint8_t)rand_r(&seed), (uint8_t)rand_r(&seed), (uint8_t)rand_r(&seed),
                          (unsigned)rand_r(&seed) % 16, (unsigned)rand_r(&seed) % 16, apdu, apdu_len);
        for (size_t k = 0; k < n; k++)
            digits[k] = (char)('0' + rand_r(&seed) % 10);
        if (vc_pinpad_verify_parse(in, len, &v) < 0)
            continue;
        parsed++;
        if (vc_pinpad_verify_apdu(&v, digits, n, out, &out_len) < 0)
            continue;
        built++;
        assert_true(out_len >= 5 && out_len <= VC_PINPAD_APDU_MAX);
        assert_int_equal(out[1], 0x20);
        assert_true(out_len == 5u + out[4] || out_len == 6u + out[4]);
    }
    assert_true(parsed > 1000 && built > 100); /* the loop reached the builder */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features),     cmocka_unit_test(test_properties),
        cmocka_unit_test(test_opensc_piv),   cmocka_unit_test(test_opensc_023_bytes),
        cmocka_unit_test(test_digit_limits),
        cmocka_unit_test(test_glp_and_bcd),  cmocka_unit_test(test_other_formats),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
