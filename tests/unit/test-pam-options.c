/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of pam_scard/options.c: defaults, the [logon] section of scard.conf,
 * PAM arguments overriding it, and every way a value or a key can be wrong.
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
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "pam_scard/options.h"

static char dir[64], conf_path[128], config_arg[160];
static char errors[4096];
static struct pamsc_options opts;

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
write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
load(const char *conf_text, int argc, const char **argv)
{
    if (conf_text)
        write_conf(conf_text);
    return pamsc_options_load(argc, argv, &opts, &lg);
}

static int
setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test-pam-options-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(conf_path, sizeof(conf_path), "%s/scard.conf", dir);
    snprintf(config_arg, sizeof(config_arg), "config=%s", conf_path);
    errors[0] = '\0';
    memset(&opts, 0, sizeof(opts));
    unsetenv("SCARD_CONF");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    pamsc_options_free(&opts);
    unlink(conf_path);
    rmdir(dir);
    return 0;
}

static void
test_defaults(void **state)
{
    const char *argv[] = {config_arg};
    (void)state;
    assert_int_equal(load("", 1, argv), 0);
    assert_string_equal(opts.pkcs11_module, SC_DEFAULT_PKCS11_MODULE);
    assert_int_equal(opts.card_wait_usec, 30 * UINT64_C(1000000));
    assert_string_equal(opts.ccache_name, "FILE:/tmp/krb5cc_%u_XXXXXX");
    assert_false(opts.destroy_ccache_on_close);
    assert_false(opts.debug);
}

static void
test_config_file(void **state)
{
    const char *argv[] = {config_arg};
    (void)state;
    assert_int_equal(load("[resmgr]\nsocket = /x\n[logon]\npkcs11_module = /opt/p11.so\n"
                          "card_wait_timeout = 0\nccache_name = KEYRING:persistent:%u\n"
                          "destroy_ccache_on_close = yes\ndebug = on\n",
                          1, argv),
                     0);
    assert_string_equal(opts.pkcs11_module, "/opt/p11.so");
    assert_int_equal(opts.card_wait_usec, 0);
    assert_string_equal(opts.ccache_name, "KEYRING:persistent:%u");
    assert_true(opts.destroy_ccache_on_close);
    assert_true(opts.debug);
}

static void
test_args_override(void **state)
{
    const char *argv[] = {"card_wait_timeout=5", config_arg, "pkcs11_module=/arg.so", "debug",
                          "destroy_ccache_on_close=no"};
    (void)state;
    assert_int_equal(load("[logon]\ncard_wait_timeout = 10\npkcs11_module = /conf.so\n"
                          "destroy_ccache_on_close = yes\n",
                          ELEMENTSOF(argv), argv),
                     0);
    assert_int_equal(opts.card_wait_usec, 5 * UINT64_C(1000000));
    assert_string_equal(opts.pkcs11_module, "/arg.so");
    assert_true(opts.debug);
    assert_false(opts.destroy_ccache_on_close);
}

static void
test_scard_conf_env(void **state)
{
    (void)state;
    write_conf("[logon]\ncard_wait_timeout = 7\n");
    setenv("SCARD_CONF", conf_path, 1);
    assert_int_equal(load(NULL, 0, NULL), 0);
    assert_int_equal(opts.card_wait_usec, 7 * UINT64_C(1000000));
}

static void
test_bad_args(void **state)
{
    static const char *const bad[] = {"card_wait_timeout=abc", "card_wait_timeout=3601", "card_wait_timeout=-1",
                                      "debug=maybe", "nosuchkey=1", "nodebug", "pkcs11_module"};
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        const char *argv[] = {config_arg, bad[i]};
        errors[0] = '\0';
        assert_int_equal(load("", 2, argv), -EINVAL);
        assert_non_null(strstr(errors, bad[i]));
        pamsc_options_free(&opts);
    }
}

static void
test_bad_config(void **state)
{
    const char *argv[] = {config_arg};
    (void)state;
    assert_int_equal(load("[logon]\n\ndestroy_ccache_on_close = maybe\n", 1, argv), -EINVAL);
    assert_non_null(strstr(errors, "scard.conf:3"));
    pamsc_options_free(&opts);
    errors[0] = '\0';
    assert_int_equal(load("[logon]\nno_such_key = 1\n", 1, argv), -EINVAL);
    assert_non_null(strstr(errors, "no_such_key"));
}

static void
test_missing_config(void **state)
{
    const char *argv[] = {"config=/nonexistent/scard.conf"};
    (void)state;
    assert_int_equal(load(NULL, 1, argv), -ENOENT);
    assert_non_null(strstr(errors, "/nonexistent/scard.conf"));
}

/* verify_ticket / keytab / require_smartcard: defaults, values, a bad verify_ticket word. */
static void
test_session_keys(void **state)
{
    const char *argv[] = {config_arg, "require_smartcard=yes"};
    const char *bad[] = {config_arg, "verify_ticket=sometimes"};
    (void)state;
    assert_int_equal(load("", 1, argv), 0);
    assert_string_equal(opts.verify_ticket, "if_keytab");
    assert_null(opts.keytab);
    assert_false(opts.require_smartcard);
    pamsc_options_free(&opts);
    assert_int_equal(load("[logon]\nverify_ticket = require\nkeytab = FILE:/etc/krb5.keytab\n", 2, argv), 0);
    assert_string_equal(opts.verify_ticket, "require");
    assert_string_equal(opts.keytab, "FILE:/etc/krb5.keytab");
    assert_true(opts.require_smartcard);
    pamsc_options_free(&opts);
    assert_int_equal(load("", 2, bad), -EINVAL);
    assert_non_null(strstr(errors, "verify_ticket 'sometimes'"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scard_conf_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
