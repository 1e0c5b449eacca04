/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of pam_scard/options.c: defaults, the [logon] section of scard.conf,
 * PAM arguments overriding it, and every way a value or a key can be wrong; one table row per
 * key (key_rows[]), checked against the option table in options.c.
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

/* --- one row per [logon] key: default, file value, PAM argument overriding it, bad values ---- */

enum kind { STR, BOOL, SECS };

static const struct key_row {
    const char *key;
    enum kind kind;
    size_t offset;        /* the field in struct pamsc_options */
    const char *def;      /* the default, as repr() prints it; NULL = unset */
    const char *file, *file_want; /* a value in [logon] and what it loads as */
    const char *arg, *arg_want;   /* another value as key=value, overriding the file */
    const char *bad[2];   /* refused values (NULL: none; the key takes any string) */
} key_rows[] = {
    {"pkcs11_module", STR, offsetof(struct pamsc_options, pkcs11_module), SC_DEFAULT_PKCS11_MODULE,
     "/conf/p11.so", "/conf/p11.so", "/arg/p11.so", "/arg/p11.so", {NULL, NULL}},
    {"card_wait_timeout", SECS, offsetof(struct pamsc_options, card_wait_usec), "30000000", "10", "10000000", "0", "0",
     {"3601", "abc"}},
    {"ccache_name", STR, offsetof(struct pamsc_options, ccache_name), "FILE:/tmp/krb5cc_%u_XXXXXX",
     "KEYRING:persistent:%u", "KEYRING:persistent:%u", "DIR:/run/user/%u/krb5cc", "DIR:/run/user/%u/krb5cc",
     {NULL, NULL}},
    {"destroy_ccache_on_close", BOOL, offsetof(struct pamsc_options, destroy_ccache_on_close), "false", "yes", "true",
     "off", "false", {"maybe", "2"}},
    {"debug", BOOL, offsetof(struct pamsc_options, debug), "false", "true", "true", "0", "false", {"verbose", ""}},
    {"allow_time_invalid_certificates", BOOL, offsetof(struct pamsc_options, cert_policy.allow_time_invalid), "false",
     "on", "true", "no", "false", {"sometimes", NULL}},
    {"allow_certificates_with_no_eku", BOOL, offsetof(struct pamsc_options, cert_policy.allow_no_eku), "false", "1",
     "true", "false", "false", {"yes please", NULL}},
    {"allow_signature_only_keys", BOOL, offsetof(struct pamsc_options, cert_policy.allow_signature_only), "false",
     "yes", "true", "no", "false", {"y", NULL}},
    {"allow_ecc_certificates", BOOL, offsetof(struct pamsc_options, cert_policy.allow_ecc), "false", "TRUE", "true",
     "Off", "false", {"ecc", NULL}},
    {"verify_ticket", STR, offsetof(struct pamsc_options, verify_ticket), "if_keytab", "require", "require", "no", "no",
     {"sometimes", "yes"}},
    {"keytab", STR, offsetof(struct pamsc_options, keytab), NULL, "FILE:/etc/krb5.keytab", "FILE:/etc/krb5.keytab",
     "FILE:/arg.keytab", "FILE:/arg.keytab", {NULL, NULL}},
    {"require_smartcard", BOOL, offsetof(struct pamsc_options, require_smartcard), "false", "yes", "true", "no", "false",
     {"always", NULL}},
    /* paths are checked when used, not at load: a missing one refuses the sign-in only */
    {"trust_anchors", STR, offsetof(struct pamsc_options, trust.anchors), NULL, "/nonexistent/anchors.pem",
     "/nonexistent/anchors.pem", "/etc/scard/anchors.d", "/etc/scard/anchors.d", {NULL, NULL}},
    {"revocation_check", STR, offsetof(struct pamsc_options, trust.revocation_check), NULL, "crl", "crl", "ocsp", "ocsp",
     {"always", "CRL"}},
    {"revocation_fail", STR, offsetof(struct pamsc_options, trust.revocation_fail), NULL, "hard", "hard", "soft", "soft",
     {"never", "closed"}},
    {"crl_file", STR, offsetof(struct pamsc_options, trust.crl_file), NULL, "/nonexistent/crl.pem",
     "/nonexistent/crl.pem", "/etc/scard/crl.d", "/etc/scard/crl.d", {NULL, NULL}},
    {"ocsp_responder", STR, offsetof(struct pamsc_options, trust.ocsp_responder), NULL, "http://ocsp.example/",
     "http://ocsp.example/", "http://127.0.0.1:8080/ocsp", "http://127.0.0.1:8080/ocsp",
     {"https://ocsp.example/", "ocsp.example"}},
    {"ocsp_timeout", SECS, offsetof(struct pamsc_options, trust.ocsp_timeout_usec), "5000000", "30", "30000000", "1",
     "1000000", {"0", "301"}},
    {"force_reading_all_certificates", BOOL, offsetof(struct pamsc_options, force_reading_all_certificates), "false",
     "yes", "true", "no", "false", {"all", NULL}},
    {"filter_duplicate_certificates", BOOL, offsetof(struct pamsc_options, filter_duplicate_certificates), "true",
     "no", "false", "on", "true", {"newest", NULL}},
    {"reverse_subject", BOOL, offsetof(struct pamsc_options, reverse_subject), "true", "false", "false", "1", "true",
     {"reversed", NULL}},
    {"allow_user_name_hint", BOOL, offsetof(struct pamsc_options, allow_user_name_hint), "false", "yes", "true", "off",
     "false", {"hint", NULL}},
    {"blocked_card_message", STR, offsetof(struct pamsc_options, blocked_card_message), NULL,
     "Call the help desk on 1234.", "Call the help desk on 1234.", "Call-1234", "Call-1234", {NULL, NULL}},
};

/* The field of @p r in opts as text: strings as they are, bools true/false, times in usec. */
static const char *
repr(const struct key_row *r)
{
    static char buf[32];
    const char *field = (const char *)&opts + r->offset;

    switch (r->kind) {
    case STR:
        return *(char *const *)field;
    case BOOL:
        return *(const bool *)field ? "true" : "false";
    case SECS:
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)*(const uint64_t *)field);
        return buf;
    }
    return "?";
}

static void
expect_field(const struct key_row *r, const char *want, const char *how)
{
    const char *got = repr(r);

    if (!want != !got || (want && strcmp(want, got) != 0))
        fail_msg("%s (%s): got '%s', want '%s'", r->key, how, got ? got : "(unset)", want ? want : "(unset)");
}

static void
test_every_key(void **state)
{
    char conf[256], arg[256];
    const char *argv[2] = {config_arg, arg};

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(key_rows); i++) {
        const struct key_row *r = &key_rows[i];

        errors[0] = '\0';
        if (load("", 1, argv) != 0)
            fail_msg("%s: an empty file does not load: %s", r->key, errors);
        expect_field(r, r->def, "default");
        pamsc_options_free(&opts);

        snprintf(conf, sizeof(conf), "[logon]\n%s = %s\n", r->key, r->file);
        if (load(conf, 1, argv) != 0)
            fail_msg("%s = %s in the file does not load: %s", r->key, r->file, errors);
        expect_field(r, r->file_want, "file");
        pamsc_options_free(&opts);

        snprintf(arg, sizeof(arg), "%s=%s", r->key, r->arg);
        if (load("", 2, argv) != 0)
            fail_msg("argument %s does not load: %s", arg, errors);
        expect_field(r, r->arg_want, "argument");
        pamsc_options_free(&opts);
        if (load(conf, 2, argv) != 0)
            fail_msg("file %s + argument %s does not load: %s", r->file, arg, errors);
        expect_field(r, r->arg_want, "argument over the file");
        pamsc_options_free(&opts);

        for (size_t b = 0; b < ELEMENTSOF(r->bad) && r->bad[b]; b++) {
            errors[0] = '\0';
            snprintf(conf, sizeof(conf), "[logon]\n%s = %s\n", r->key, r->bad[b]);
            if (load(conf, 1, argv) != -EINVAL || !strstr(errors, r->key))
                fail_msg("%s = '%s' in the file: want -EINVAL and an error naming the key, got: %s", r->key,
                         r->bad[b], errors);
            pamsc_options_free(&opts);
            errors[0] = '\0';
            snprintf(arg, sizeof(arg), "%s=%s", r->key, r->bad[b]);
            if (load("", 2, argv) != -EINVAL || !strstr(errors, r->key))
                fail_msg("argument '%s': want -EINVAL and an error naming the key, got: %s", arg, errors);
            pamsc_options_free(&opts);
        }
    }
}

/* Every key of the option table in pam_scard/options.c has a row above (a new key needs one). */
static void
test_every_key_has_a_row(void **state)
{
    FILE *f = fopen(OPTIONS_C, "r");
    char line[512], name[128];
    unsigned n = 0;

    (void)state;
    if (!f)
        fail_msg("cannot read %s", OPTIONS_C);
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "{SECTION, \"");
        size_t i;

        if (!p || sscanf(p, "{SECTION, \"%127[^\"]\"", name) != 1)
            continue;
        n++;
        for (i = 0; i < ELEMENTSOF(key_rows) && strcmp(key_rows[i].key, name) != 0; i++)
            ;
        if (i == ELEMENTSOF(key_rows))
            fail_msg("option '%s' of %s has no row in key_rows[]", name, OPTIONS_C);
    }
    fclose(f);
    assert_int_equal(n, ELEMENTSOF(key_rows));
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
        cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key_has_a_row, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
