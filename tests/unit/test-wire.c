/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of resmgr/proto/wire.c: round trips of good frames, and rejection of
 * truncated, oversized, inconsistent and wrong-version frames (never a crash).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resmgr/proto/wire.h"

static uint8_t buf[sizeof(struct rm_wire_hdr) + RM_WIRE_PAYLOAD_MAX];

static void
test_hello_roundtrip(void **state)
{
    struct rm_wire_hello h = {RM_WIRE_MAGIC, RM_WIRE_VERSION_MAJOR, RM_WIRE_VERSION_MINOR, 42, 0};
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_HELLO, false, 7, 0, &h, sizeof(h), NULL, 0);
    assert_int_equal(n, sizeof(struct rm_wire_hdr) + sizeof(h));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), 0);
    assert_int_equal(m.hdr.command, RM_CMD_HELLO);
    assert_int_equal(m.hdr.seq, 7);
    assert_int_equal(m.fixed_len, sizeof(h));
    assert_memory_equal(m.fixed, &h, sizeof(h));
    assert_null(m.tail);
    /* a request is not a reply */
    assert_int_equal(rm_wire_decode(buf, (size_t)n, true, &m), -EPROTO);
}

static void
test_wrong_magic(void **state)
{
    struct rm_wire_hello h = {0x12345678, RM_WIRE_VERSION_MAJOR, 0, 0, 0};
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_HELLO, false, 1, 0, &h, sizeof(h), NULL, 0);
    assert_true(n > 0);
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), -EPROTO);
}

static void
test_wrong_version(void **state)
{
    struct rm_wire_hello h = {RM_WIRE_MAGIC, RM_WIRE_VERSION_MAJOR + 1, 0, 0, 0};
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_HELLO, true, 1, 0, &h, sizeof(h), NULL, 0);
    assert_true(n > 0);
    /* well-formed, so it decodes; the version check refuses it */
    assert_int_equal(rm_wire_decode(buf, (size_t)n, true, &m), 0);
    assert_int_equal(rm_wire_hello_check(m.fixed), -EPROTONOSUPPORT);
    h.major = RM_WIRE_VERSION_MAJOR;
    h.minor = RM_WIRE_VERSION_MINOR + 5; /* newer minor: compatible */
    assert_int_equal(rm_wire_hello_check(&h), 0);
    h.magic = 0;
    assert_int_equal(rm_wire_hello_check(&h), -EPROTO);
}

static void
test_transmit_roundtrip(void **state)
{
    struct rm_wire_transmit_req t = {.handle = 5, .protocol = 2, .recv_max = 258};
    uint8_t apdu[] = {0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00};
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_TRANSMIT, false, 3, 0, &t, sizeof(t), apdu,
                       sizeof(apdu));
    assert_true(n > 0);
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), 0);
    assert_int_equal(m.tail_len, sizeof(apdu));
    assert_memory_equal(m.tail, apdu, sizeof(apdu));
    /* every truncation is refused */
    for (ssize_t cut = 0; cut < n; cut++)
        assert_int_not_equal(rm_wire_decode(buf, (size_t)cut, false, &m), 0);
}

static void
test_error_reply(void **state)
{
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_CONNECT, true, 9, -EBUSY, NULL, 0, NULL, 0);
    assert_int_equal(n, sizeof(struct rm_wire_hdr));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, true, &m), 0);
    assert_int_equal(m.hdr.status, -EBUSY);
    assert_null(m.fixed);
    /* a success reply must carry its fixed part */
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_CONNECT, true, 9, 0, NULL, 0, NULL, 0);
    assert_int_equal(n, -EINVAL);
    /* positive status is not a thing */
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_CONNECT, true, 9, 1, NULL, 0, NULL, 0);
    assert_int_equal(n, -EINVAL);
}

static void
test_oversized(void **state)
{
    struct rm_wire_hdr h = {.length = RM_WIRE_PAYLOAD_MAX + 1, .command = RM_CMD_TRANSMIT};
    struct rm_wire_hdr h2 = {.length = 1000, .command = RM_CMD_HELLO};
    struct rm_wire_attrib_req a = {0};
    static uint8_t big[RM_WIRE_APDU_MAX + 1];

    (void)state;
    assert_int_equal(rm_wire_check_header(&h, false), -EMSGSIZE);
    assert_int_equal(rm_wire_check_header(&h2, false), -EMSGSIZE);
    /* attribute values are bounded by RM_WIRE_ATTR_MAX */
    assert_int_equal(rm_wire_encode(buf, sizeof(buf), RM_CMD_SET_ATTRIB, false, 1, 0, &a, sizeof(a),
                                    big, RM_WIRE_ATTR_MAX + 1),
                     -EINVAL);
    assert_int_equal(rm_wire_encode(buf, 10, RM_CMD_SET_ATTRIB, false, 1, 0, &a, sizeof(a), big, 4),
                     -ENOBUFS);
}

static void
test_bad_header(void **state)
{
    struct rm_wire_hdr unknown = {.command = 999};
    struct rm_wire_hdr zero = {0};
    struct rm_wire_hdr flags = {.command = RM_CMD_CANCEL, .flags = 0x80};
    struct rm_wire_hdr status = {.command = RM_CMD_CANCEL, .status = -1};
    struct rm_wire_hdr cancel_reply = {.command = RM_CMD_CANCEL, .flags = RM_WIRE_F_REPLY};

    (void)state;
    assert_int_equal(rm_wire_check_header(&unknown, false), -EPROTO);
    assert_int_equal(rm_wire_check_header(&zero, false), -EPROTO);
    assert_int_equal(rm_wire_check_header(&flags, false), -EPROTO);
    assert_int_equal(rm_wire_check_header(&status, false), -EPROTO);
    assert_int_equal(rm_wire_check_header(&cancel_reply, true), -EPROTO);
    assert_string_equal(rm_wire_cmd_name(RM_CMD_TRANSMIT), "TRANSMIT");
    assert_string_equal(rm_wire_cmd_name(999), "?");
}

static void
test_length_mismatch(void **state)
{
    struct rm_wire_handle_disp d = {1, 0};
    struct rm_wire_msg m;
    struct rm_wire_hdr h;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_DISCONNECT, false, 1, 0, &d, sizeof(d), NULL, 0);
    assert_true(n > 0);
    /* header says less than the frame holds */
    memcpy(&h, buf, sizeof(h));
    h.length = 4;
    memcpy(buf, &h, sizeof(h));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), -EBADMSG);
    /* fixed part too short for the command */
    assert_int_equal(rm_wire_decode(buf, sizeof(h) + 4, false, &m), -EBADMSG);
    assert_int_equal(rm_wire_decode(NULL, 0, false, &m), -EBADMSG);
}

static void
test_connect_name(void **state)
{
    struct rm_wire_connect_req c;
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    memset(&c, 'A', sizeof(c)); /* reader name without NUL */
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_CONNECT, false, 1, 0, &c, sizeof(c), NULL, 0);
    assert_true(n > 0);
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), -EBADMSG);
    strcpy(c.reader, "Reader 00 00");
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_CONNECT, false, 1, 0, &c, sizeof(c), NULL, 0);
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), 0);
}

static void
test_rstates(void **state)
{
    struct rm_wire_gsc_req g = {.timeout_ms = 100, .count = 2};
    struct rm_wire_rstate rs[2] = {{.reader = "A 00 00"}, {.reader = "B 00 00"}};
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_GET_STATUS_CHANGE, false, 1, 0, &g, sizeof(g), rs,
                       sizeof(rs));
    assert_true(n > 0);
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), 0);
    /* count that disagrees with the tail */
    g.count = 3;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_GET_STATUS_CHANGE, false, 1, 0, &g, sizeof(g), rs,
                       sizeof(rs));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), -EBADMSG);
    /* ATR length beyond 33 */
    g.count = 2;
    rs[1].atr_len = 34;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_GET_STATUS_CHANGE, false, 1, 0, &g, sizeof(g), rs,
                       sizeof(rs));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), -EBADMSG);
    /* partial entry */
    rs[1].atr_len = 0;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_GET_STATUS_CHANGE, false, 1, 0, &g, sizeof(g), rs,
                       sizeof(rs) - 1);
    assert_int_equal(rm_wire_decode(buf, (size_t)n, false, &m), -EBADMSG);
    /* too many entries for the protocol */
    g.count = RM_WIRE_RSTATES_MAX + 1;
    assert_int_equal(rm_wire_encode(buf, sizeof(buf), RM_CMD_GET_STATUS_CHANGE, false, 1, 0, &g,
                                    sizeof(g), buf, g.count * sizeof(rs[0])),
                     -EINVAL);
}

static void
test_multisz(void **state)
{
    struct rm_wire_count cnt = {2, 0};
    static const char good[] = "A 00 00\0B 00 00\0";
    static const char unterminated[] = {'A', ' ', '0', '0', '\0', 'B'};
    static const char empty_name[] = {'A', '\0', '\0', '\0'};
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_LIST_READERS, true, 1, 0, &cnt, sizeof(cnt), good,
                       sizeof(good));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, true, &m), 0);
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_LIST_READERS, true, 1, 0, &cnt, sizeof(cnt),
                       unterminated, sizeof(unterminated));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, true, &m), -EBADMSG);
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_LIST_READERS, true, 1, 0, &cnt, sizeof(cnt),
                       empty_name, sizeof(empty_name));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, true, &m), -EBADMSG);
}

/* Random garbage never crashes the decoder and is almost always refused. */
static void
test_garbage(void **state)
{
    struct rm_wire_msg m;

    (void)state;
    srand(1);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand() % 300);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rand();
        if (len >= sizeof(struct rm_wire_hdr) && (round & 1)) {
            struct rm_wire_hdr h;
            memcpy(&h, buf, sizeof(h));
            h.command = (uint16_t)(1 + rand() % (RM_CMD_MAX_ - 1));
            h.length = (uint32_t)(len - sizeof(h));
            h.flags = (uint16_t)(rand() & 1);
            h.status = 0;
            memcpy(buf, &h, sizeof(h));
        }
        (void)rm_wire_decode(buf, len, round & 2, &m);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_roundtrip), cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_transmit_roundtrip), cmocka_unit_test(test_error_reply),
        cmocka_unit_test(test_oversized), cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_length_mismatch), cmocka_unit_test(test_connect_name),
        cmocka_unit_test(test_rstates), cmocka_unit_test(test_multisz),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
