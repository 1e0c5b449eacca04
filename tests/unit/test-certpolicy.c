/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sign-in certificate filter and the certificate → principal mapping (pam_scard/
 * certpolicy.c, certmap.c) over a certificate matrix made at test time by
 * tests/data/make-cert-matrix.sh: each case's verdict under the default policy and under
 * the [logon] key that changes it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "pam_scard/certmap.h"
#include "pam_scard/certpolicy.h"

static char matrix_dir[] = "/tmp/test-certpolicy-XXXXXX";

static X509 *
load(const char *name)
{
    char path[256];
    FILE *f;
    X509 *x;

    snprintf(path, sizeof(path), "%s/%s.pem", matrix_dir, name);
    f = fopen(path, "r");
    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

/* Which policy key a case turns on. */
enum key { NONE, TIME_INVALID, NO_EKU, SIGNATURE_ONLY, ECC };

static const struct matrix_case {
    const char *cert;
    enum pamsc_cert_verdict by_default;
    enum key key;                       /* the key that changes the verdict (NONE: none does) */
    enum pamsc_cert_verdict with_key;
    const char *principal;              /* pamsc_certmap_principal(), NULL = -ENOENT */
} matrix[] = {
    {"good", PAMSC_CERT_USABLE, NONE, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"sclogon-only", PAMSC_CERT_USABLE, NONE, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"expired", PAMSC_CERT_EXPIRED, TIME_INVALID, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"not-yet-valid", PAMSC_CERT_NOT_YET_VALID, TIME_INVALID, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"no-eku", PAMSC_CERT_NO_EKU, NO_EKU, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"client-auth", PAMSC_CERT_WRONG_EKU, NO_EKU, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"any-eku", PAMSC_CERT_WRONG_EKU, NO_EKU, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"wrong-eku", PAMSC_CERT_WRONG_EKU, NO_EKU, PAMSC_CERT_WRONG_EKU, "alice@PAMSC.TEST"},
    {"sig-only", PAMSC_CERT_SIGNATURE_ONLY, SIGNATURE_ONLY, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"no-digsig", PAMSC_CERT_NO_DIGITAL_SIGNATURE, NONE, PAMSC_CERT_NO_DIGITAL_SIGNATURE, "alice@PAMSC.TEST"},
    {"ecc", PAMSC_CERT_ECC, ECC, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"no-san", PAMSC_CERT_USABLE, NONE, PAMSC_CERT_USABLE, NULL},
    {"upn-only", PAMSC_CERT_USABLE, NONE, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"two-part", PAMSC_CERT_USABLE, NONE, PAMSC_CERT_USABLE, "bob/admin@PAMSC.TEST"},
    {"dup-early", PAMSC_CERT_USABLE, NONE, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
    {"dup-late", PAMSC_CERT_USABLE, NONE, PAMSC_CERT_USABLE, "alice@PAMSC.TEST"},
};

static struct pamsc_cert_policy
policy_with(enum key key)
{
    return (struct pamsc_cert_policy){
        .allow_time_invalid = key == TIME_INVALID,
        .allow_no_eku = key == NO_EKU,
        .allow_signature_only = key == SIGNATURE_ONLY,
        .allow_ecc = key == ECC,
    };
}

static void
test_matrix_verdicts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
        const struct matrix_case *c = &matrix[i];
        struct pamsc_cert_policy def = policy_with(NONE), keyed = policy_with(c->key);
        X509 *x = load(c->cert);
        enum pamsc_cert_verdict got = pamsc_cert_check(&def, x, time(NULL));

        if (got != c->by_default)
            fail_msg("%s, default policy: got '%s', want '%s'", c->cert,
                     pamsc_cert_verdict_to_string(got), pamsc_cert_verdict_to_string(c->by_default));
        got = pamsc_cert_check(&keyed, x, time(NULL));
        if (got != c->with_key)
            fail_msg("%s, key %d on: got '%s', want '%s'", c->cert, c->key,
                     pamsc_cert_verdict_to_string(got), pamsc_cert_verdict_to_string(c->with_key));
        X509_free(x);
    }
}

/* A key only relaxes its own rule: all keys on except the case's still rejects. */
static void
test_keys_are_independent(void **state)
{
    struct pamsc_cert_policy all = {true, true, true, true};
    X509 *x;

    (void)state;
    x = load("wrong-eku");
    assert_int_equal(pamsc_cert_check(&all, x, time(NULL)), PAMSC_CERT_WRONG_EKU);
    X509_free(x);
    x = load("sig-only");
    all.allow_signature_only = false;
    assert_int_equal(pamsc_cert_check(&all, x, time(NULL)), PAMSC_CERT_SIGNATURE_ONLY);
    X509_free(x);
    x = load("good"); /* valid 10 days from now: in an hour fine, in a year expired */
    assert_int_equal(pamsc_cert_check(&(struct pamsc_cert_policy){0}, x, time(NULL) + 3600), PAMSC_CERT_USABLE);
    assert_int_equal(pamsc_cert_check(&(struct pamsc_cert_policy){0}, x, time(NULL) + 365 * 86400),
                     PAMSC_CERT_EXPIRED);
    X509_free(x);
}

static void
test_principals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
        X509 *x = load(matrix[i].cert);
        char *p = NULL;
        int r = pamsc_certmap_principal(x, &p);

        if (!matrix[i].principal) {
            assert_int_equal(r, -ENOENT);
            assert_null(p);
        } else {
            if (r != 0)
                fail_msg("%s: pamsc_certmap_principal() = %d", matrix[i].cert, r);
            assert_string_equal(p, matrix[i].principal);
        }
        free(p);
        X509_free(x);
    }
}

/* Two certificates for one user: the one that expires last is kept, others untouched. */
static void
test_filter_duplicates(void **state)
{
    X509 *in[4] = {load("dup-early"), load("two-part"), load("dup-late"), load("good")};
    X509 *out[4] = {0};
    size_t n;

    (void)state;
    /* good (10 days) and the two dups (5, 20 days) are all CN=alice from one CA */
    n = pamsc_cert_filter_duplicates(in, 4, out);
    assert_int_equal(n, 2);
    assert_ptr_equal(out[0], in[1]);
    assert_ptr_equal(out[1], in[2]);
    n = pamsc_cert_filter_duplicates(in, 1, out);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], in[0]);
    assert_int_equal(pamsc_cert_filter_duplicates(in, 0, out), 0);
    for (size_t i = 0; i < 4; i++)
        X509_free(in[i]);
}

static void
test_verdict_strings(void **state)
{
    (void)state;
    for (int v = 0; v < _PAMSC_CERT_VERDICT_MAX; v++) {
        const char *s = pamsc_cert_verdict_to_string((enum pamsc_cert_verdict)v);

        assert_non_null(s);
        assert_string_not_equal(s, "unknown reason");
        for (int w = 0; w < v; w++)
            assert_string_not_equal(s, pamsc_cert_verdict_to_string((enum pamsc_cert_verdict)w));
    }
    assert_string_equal(pamsc_cert_verdict_to_string(_PAMSC_CERT_VERDICT_MAX), "unknown reason");
    assert_string_equal(pamsc_cert_verdict_to_string((enum pamsc_cert_verdict)-1), "unknown reason");
    assert_string_equal(pamsc_cert_verdict_to_string(PAMSC_CERT_EXPIRED), "the certificate has expired");
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix_verdicts),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_principals),
        cmocka_unit_test(test_filter_duplicates),
        cmocka_unit_test(test_verdict_strings),
    };
    char cmd[512];
    int rc;

    if (system("command -v openssl >/dev/null 2>&1") != 0)
        return 77; /* no openssl CLI: skip */
    if (!mkdtemp(matrix_dir))
        return 99;
    snprintf(cmd, sizeof(cmd), "'%s' '%s'", MATRIX_SCRIPT, matrix_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "%s failed\n", cmd);
        return 99;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", matrix_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", matrix_dir);
    return rc;
}
