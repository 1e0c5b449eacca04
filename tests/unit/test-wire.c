/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of resmgr/proto/wire.c: round trips of good frames, and rejection of
 * truncated, oversized, inconsistent and wrong-version frames (never a crash), and the
 * 1.1 CONNECT reply that carries a card handle's data channel (RM_WIRE_F_FD, SCM_RIGHTS).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* 1.1: the CONNECT reply may carry RM_WIRE_F_FD; nothing else may. */
static void
test_fd_flag(void **state)
{
    struct rm_wire_connect_rep rep = {0x1234, 2};
    struct rm_wire_handle_disp disp = {1, 0};
    struct rm_wire_hdr h;
    struct rm_wire_msg m;
    ssize_t n;

    (void)state;
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_CONNECT, true, 3, 0, &rep, sizeof(rep), NULL, 0);
    assert_int_equal(n, sizeof(h) + sizeof(rep));
    memcpy(&h, buf, sizeof(h));
    h.flags |= RM_WIRE_F_FD;
    memcpy(buf, &h, sizeof(h));
    assert_int_equal(rm_wire_decode(buf, (size_t)n, true, &m), 0);
    assert_int_equal(m.hdr.flags, RM_WIRE_F_REPLY | RM_WIRE_F_FD);
    assert_memory_equal(m.fixed, &rep, sizeof(rep));
    /* not on an error reply, a request, or another command's reply */
    h.status = -EBUSY;
    assert_int_equal(rm_wire_check_header(&h, true), -EPROTO);
    h.status = 0;
    h.flags = RM_WIRE_F_FD;
    assert_int_equal(rm_wire_check_header(&h, false), -EPROTO);
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_DISCONNECT, true, 3, 0, NULL, 0, NULL, 0);
    memcpy(&h, buf, sizeof(h));
    h.flags |= RM_WIRE_F_FD;
    assert_int_equal(rm_wire_check_header(&h, true), -EPROTO);
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_STATUS, false, 3, 0, &disp, sizeof(disp), NULL, 0);
    assert_true(n > 0);
}

/* Which requests travel on a handle's data channel. */
static void
test_data_channel_commands(void **state)
{
    static const uint16_t data[] = {RM_CMD_BEGIN_TRANSACTION, RM_CMD_END_TRANSACTION,
                                    RM_CMD_STATUS, RM_CMD_TRANSMIT, RM_CMD_CONTROL,
                                    RM_CMD_GET_ATTRIB, RM_CMD_SET_ATTRIB};
    static const uint16_t context[] = {0, RM_CMD_HELLO, RM_CMD_ESTABLISH, RM_CMD_LIST_READERS,
                                       RM_CMD_GET_STATUS_CHANGE, RM_CMD_CANCEL, RM_CMD_CONNECT,
                                       RM_CMD_RECONNECT, RM_CMD_DISCONNECT, RM_CMD_MAX_, 0xffff};

    (void)state;
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++)
        assert_true(rm_wire_cmd_on_data_channel(data[i]));
    for (size_t i = 0; i < sizeof(context) / sizeof(context[0]); i++)
        assert_false(rm_wire_cmd_on_data_channel(context[i]));
}

/* The CONNECT reply with the data channel attached, through a real socket: the fd arrives
 * with the header's first byte, and the channel is a working SOCK_SEQPACKET. */
static void
test_fd_passing(void **state)
{
    struct rm_wire_connect_rep rep = {7, 2};
    int ctx[2], data[2], got = -1;
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl = {0};
    struct iovec iov = {buf, 0};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                        .msg_controllen = sizeof(ctl.space)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    struct rm_wire_hdr h;
    struct rm_wire_msg m;
    uint8_t rx[sizeof(h) + sizeof(rep)], pkt[8];
    ssize_t n;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctx), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, data), 0);
    n = rm_wire_encode(buf, sizeof(buf), RM_CMD_CONNECT, true, 9, 0, &rep, sizeof(rep), NULL, 0);
    memcpy(&h, buf, sizeof(h));
    h.flags |= RM_WIRE_F_FD;
    memcpy(buf, &h, sizeof(h));
    iov.iov_len = (size_t)n;
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &data[1], sizeof(int));
    assert_int_equal(sendmsg(ctx[0], &mh, 0), n);
    close(data[1]);

    memset(&ctl, 0, sizeof(ctl));
    iov = (struct iovec){rx, sizeof(rx)};
    mh = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                         .msg_controllen = sizeof(ctl.space)};
    assert_int_equal(recvmsg(ctx[1], &mh, MSG_CMSG_CLOEXEC), n);
    cm = CMSG_FIRSTHDR(&mh);
    if (!cm) {
        fail_msg("no file descriptor came with the reply");
        return;
    }
    assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
    memcpy(&got, CMSG_DATA(cm), sizeof(int));
    assert_int_equal(rm_wire_decode(rx, (size_t)n, true, &m), 0);
    assert_true(m.hdr.flags & RM_WIRE_F_FD);
    /* one packet in, one packet out, boundaries kept */
    assert_int_equal(send(got, "ab", 2, 0), 2);
    assert_int_equal(send(got, "cde", 3, 0), 3);
    assert_int_equal(recv(data[0], pkt, sizeof(pkt), 0), 2);
    assert_int_equal(recv(data[0], pkt, sizeof(pkt), 0), 3);
    close(got);
    assert_int_equal(recv(data[0], pkt, sizeof(pkt), 0), 0); /* closed: the handle is gone */
    close(data[0]);
    close(ctx[0]);
    close(ctx[1]);
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
        cmocka_unit_test(test_garbage), cmocka_unit_test(test_fd_flag),
        cmocka_unit_test(test_data_channel_commands), cmocka_unit_test(test_fd_passing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
