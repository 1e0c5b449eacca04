/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of common/config.c: typed keys, drop-in order, and errors with file:line
 * for unknown sections, unknown keys and bad values.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"

struct test_conf {
    char *socket;
    bool flag;
    unsigned count;
    uint64_t wait_usec;
    uint64_t poll_usec;
};

static const struct sc_conf_key keys[] = {
    {"resmgr", "socket", SC_CONF_STRING, offsetof(struct test_conf, socket), 0, 0},
    {"resmgr", "flag", SC_CONF_BOOL, offsetof(struct test_conf, flag), 0, 0},
    {"resmgr", "count", SC_CONF_UINT, offsetof(struct test_conf, count), 1, 10},
    {"resmgr", "wait", SC_CONF_SECONDS, offsetof(struct test_conf, wait_usec), 0, 3600},
    {"resmgr", "poll", SC_CONF_MSEC, offsetof(struct test_conf, poll_usec), 10, 10000},
    {NULL, NULL, 0, 0, 0, 0},
};

static char dir[64];
static char errors[4096];

static void
capture(void *userdata, int priority, const char *msg)
{
    (void)userdata;
    (void)priority;
    strncat(errors, msg, sizeof(errors) - strlen(errors) - 2);
    strcat(errors, "\n");
}

static const struct sc_logger lg = {.sink = capture, .max_priority = LOG_DEBUG};

static void
write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test-config-XXXXXX");
    assert_non_null(mkdtemp(dir));
    errors[0] = '\0';
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int
load(const char *main_text, struct test_conf *c)
{
    char path[256];
    write_file("scard.conf", main_text);
    snprintf(path, sizeof(path), "%s/scard.conf", dir);
    return sc_conf_load(path, keys, c, &lg);
}

static void
test_values_and_defaults(void **state)
{
    struct test_conf c = {.count = 5, .wait_usec = 7};
    (void)state;
    assert_int_equal(load("# comment\n[resmgr]\nsocket = /x/y.sock\nflag = yes\npoll = 250\n"
                          "[logon]\nwhatever = kept for pam_scard\n",
                          &c),
                     0);
    assert_string_equal(c.socket, "/x/y.sock");
    assert_true(c.flag);
    assert_int_equal(c.count, 5);     /* default kept */
    assert_int_equal(c.wait_usec, 7); /* default kept */
    assert_int_equal(c.poll_usec, 250000);
    sc_conf_free(keys, &c);
    assert_null(c.socket);
}

static void
test_dropins_win_in_order(void **state)
{
    struct test_conf c = {0};
    char d[128];
    (void)state;
    snprintf(d, sizeof(d), "%s/scard.conf.d", dir);
    assert_int_equal(mkdir(d, 0755), 0);
    write_file("scard.conf.d/20-b.conf", "[resmgr]\ncount = 3\n");
    write_file("scard.conf.d/10-a.conf", "[resmgr]\ncount = 2\nwait = 4\n");
    write_file("scard.conf.d/30-ignored.txt", "[nonsense]\n");
    assert_int_equal(load("[resmgr]\ncount = 1\n", &c), 0);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.wait_usec, 4000000);
    sc_conf_free(keys, &c);
}

static void
test_unknown_key_names_file_and_line(void **state)
{
    struct test_conf c = {0};
    (void)state;
    assert_int_equal(load("[resmgr]\n\nsockett = /x\n", &c), -EINVAL);
    assert_non_null(strstr(errors, "scard.conf:3: unknown key 'sockett' in [resmgr]"));
}

static void
test_unknown_section(void **state)
{
    struct test_conf c = {0};
    (void)state;
    assert_int_equal(load("[resmgr]\ncount=2\n[bogus]\nx=1\n", &c), -EINVAL);
    assert_non_null(strstr(errors, "scard.conf:4: unknown section [bogus]"));
}

static void
test_bad_values(void **state)
{
    static const char *const bad[] = {
        "[resmgr]\nflag = maybe\n", "[resmgr]\ncount = 11\n", "[resmgr]\ncount = 0\n",
        "[resmgr]\ncount = -1\n",   "[resmgr]\ncount = 3x\n", "[resmgr]\npoll = 5\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct test_conf c = {.count = 4};
        errors[0] = '\0';
        assert_int_equal(load(bad[i], &c), -EINVAL);
        assert_non_null(strstr(errors, "scard.conf:2: [resmgr]"));
        assert_non_null(strstr(errors, "expected"));
    }
}

static void
test_missing_files(void **state)
{
    struct test_conf c = {0};
    char path[256];
    (void)state;
    snprintf(path, sizeof(path), "%s/nope.conf", dir);
    assert_int_equal(sc_conf_load(path, keys, &c, &lg), -ENOENT);
    /* SCARD_CONF names the file when no path is given */
    write_file("env.conf", "[resmgr]\ncount = 9\n");
    snprintf(path, sizeof(path), "%s/env.conf", dir);
    setenv("SCARD_CONF", path, 1);
    assert_int_equal(sc_conf_load(NULL, keys, &c, &lg), 0);
    assert_int_equal(c.count, 9);
    unsetenv("SCARD_CONF");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values_and_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropins_win_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_names_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
