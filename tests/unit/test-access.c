/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of scardd's access decision (resmgr/daemon/access.c) over a fake user
 * database and a fake logind: root, seat users, remote/SSH users, group members (by
 * kernel-reported groups and by the user database), logind missing; and of the APDU
 * trace masking (resmgr/daemon/apdu.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "resmgr/daemon/access.h"
#include "resmgr/daemon/apdu.h"

/* The fake system: uid 1000 "alice" has an active session on seat0; uid 1001 "bob" is
 * logged in over SSH only; uid 1002 "carol" is in group "scard" (gid 500) in the user
 * database; uid 1003 "svc" has no session and no group. */
struct fake {
    bool logind;        /* systemd-logind running */
    int calls_seat;     /* how often the seat look-up ran */
};

static int
fake_seat(void *userdata, uid_t uid)
{
    struct fake *f = userdata;

    f->calls_seat++;
    if (!f->logind)
        return -EHOSTDOWN;
    return uid == 1000 ? 1 : 0;
}

static int
fake_group_gid(void *userdata, const char *name, gid_t *ret_gid)
{
    (void)userdata;
    if (strcmp(name, "scard") == 0) {
        *ret_gid = 500;
        return 0;
    }
    if (strcmp(name, "gnupg") == 0) {
        *ret_gid = 501;
        return 0;
    }
    return -ENOENT;
}

static int
fake_in_group(void *userdata, uid_t uid, gid_t gid, gid_t group)
{
    (void)userdata;
    (void)gid;
    return uid == 1002 && group == 500;
}

static struct fake fake;
static const struct rm_access_ops ops = {fake_seat, fake_group_gid, fake_in_group, &fake};

static int
setup(void **state)
{
    (void)state;
    fake = (struct fake){.logind = true};
    return 0;
}

static int
check(const struct rm_access_policy *p, uid_t uid, gid_t gid, char *why)
{
    struct rm_peer peer = {.pid = 42, .uid = uid, .gid = gid};
    return rm_access_check(p, &ops, &peer, why, 128);
}

static void
test_root_always(void **state)
{
    struct rm_access_policy none = {.allow_local_seat = false};
    char why[128];

    (void)state;
    fake.logind = false;
    assert_int_equal(check(&none, 0, 0, why), 0);
    assert_string_equal(why, "root");
    assert_int_equal(fake.calls_seat, 0);
}

static void
test_default_policy(void **state)
{
    struct rm_access_policy def = {.allow_local_seat = true};
    char why[128];

    (void)state;
    assert_int_equal(check(&def, 1000, 1000, why), 0); /* seat user */
    assert_non_null(strstr(why, "local seat"));
    assert_int_equal(check(&def, 1001, 1001, why), -EACCES); /* SSH only */
    assert_non_null(strstr(why, "no active local-seat session"));
    assert_int_equal(check(&def, 1002, 1002, why), -EACCES); /* not named in allowed_groups */
    assert_int_equal(check(&def, 1003, 1003, why), -EACCES);
}

static void
test_seat_rule_off(void **state)
{
    struct rm_access_policy p = {.allow_local_seat = false, .groups = "scard"};
    char why[128];

    (void)state;
    assert_int_equal(check(&p, 1000, 1000, why), -EACCES);
    assert_string_equal(why, "not in allowed_groups");
    assert_int_equal(fake.calls_seat, 0);
    assert_int_equal(check(&p, 1002, 1002, why), 0);
}

static void
test_groups(void **state)
{
    struct rm_access_policy p = {.allow_local_seat = true, .groups = "  nosuch, scard\tgnupg "};
    struct rm_peer sup = {.uid = 1003, .gid = 1003, .groups = {7, 501}, .n_groups = 2};
    char why[128];

    (void)state;
    /* user database membership (getgrouplist) */
    assert_int_equal(check(&p, 1002, 1002, why), 0);
    assert_string_equal(why, "group 'scard'");
    /* primary group of the peer process */
    assert_int_equal(check(&p, 1001, 500, why), 0);
    assert_string_equal(why, "group 'scard'");
    /* supplementary group the kernel reported (SO_PEERGROUPS), e.g. SupplementaryGroups= */
    assert_int_equal(rm_access_check(&p, &ops, &sup, why, sizeof(why)), 0);
    assert_string_equal(why, "group 'gnupg'");
    /* SSH user outside the groups */
    assert_int_equal(check(&p, 1001, 1001, why), -EACCES);
    /* an empty list admits nobody by group */
    p.groups = "";
    assert_int_equal(check(&p, 1002, 1002, why), -EACCES);
}

static void
test_logind_missing(void **state)
{
    struct rm_access_policy def = {.allow_local_seat = true, .groups = "scard"};
    struct rm_access_policy all = {.allow_all = true};
    char why[128];

    (void)state;
    fake.logind = false;
    /* fail closed: even the "seat user" is refused without logind */
    assert_int_equal(check(&def, 1000, 1000, why), -EACCES);
    assert_non_null(strstr(why, "systemd-logind not running"));
    /* the escape hatches still work */
    assert_int_equal(check(&def, 1002, 1002, why), 0);
    assert_int_equal(check(&all, 1003, 1003, why), 0);
    assert_string_equal(why, "allow_all");
}

static void
test_reason_truncated(void **state)
{
    struct rm_access_policy def = {.allow_local_seat = true};
    struct rm_peer peer = {.uid = 1001, .gid = 1001};
    char why[8];

    (void)state;
    assert_int_equal(rm_access_check(&def, &ops, &peer, why, sizeof(why)), -EACCES);
    assert_int_equal(strlen(why), sizeof(why) - 1);
}

static void
test_apdu_masking(void **state)
{
    static const uint8_t verify[] = {0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3', '4',
                                     '5', '6', 0xFF, 0xFF};
    static const uint8_t change[] = {0x00, 0x24, 0x00, 0x80, 0x02, '9', '9'};
    static const uint8_t reset[] = {0x10, 0x2C, 0x00, 0x80, 0x02, '7', '7'};
    static const uint8_t verify_odd[] = {0x00, 0x21, 0x00, 0x80, 0x01, '5'};
    static const uint8_t select[] = {0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00};
    char buf[RM_APDU_TRACE_BUF];
    uint8_t big[600] = {0x80, 0xEE};

    (void)state;
    assert_true(rm_apdu_is_pin_command(verify, sizeof(verify)));
    assert_true(rm_apdu_is_pin_command(change, sizeof(change)));
    assert_true(rm_apdu_is_pin_command(reset, sizeof(reset)));
    assert_true(rm_apdu_is_pin_command(verify_odd, sizeof(verify_odd)));
    assert_false(rm_apdu_is_pin_command(select, sizeof(select)));
    assert_false(rm_apdu_is_pin_command(NULL, 0));

    rm_apdu_format(buf, sizeof(buf), verify, sizeof(verify), true);
    assert_string_equal(buf, "00 20 00 80 [PIN data masked]");
    assert_null(strstr(buf, "31"));
    rm_apdu_format(buf, sizeof(buf), select, sizeof(select), false);
    assert_string_equal(buf, "00 A4 04 00 02 A0 00");
    rm_apdu_format(buf, sizeof(buf), big, sizeof(big), false);
    assert_int_equal(strlen(buf), 3 * RM_APDU_TRACE_MAX - 1 + strlen(" …"));
    rm_apdu_format(buf, 10, select, sizeof(select), false); /* short buffer: cut, terminated */
    assert_true(strlen(buf) < 10);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_root_always, setup),
        cmocka_unit_test_setup(test_default_policy, setup),
        cmocka_unit_test_setup(test_seat_rule_off, setup),
        cmocka_unit_test_setup(test_groups, setup),
        cmocka_unit_test_setup(test_logind_missing, setup),
        cmocka_unit_test_setup(test_reason_truncated, setup),
        cmocka_unit_test_setup(test_apdu_masking, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
