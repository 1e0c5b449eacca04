/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of pam_scard/errmap.c (CK_RV, krb5_error_code, SCARD_* → -errno → PAM code)
 * and of the PIV status-word reading in pam_scard/card.c, one table per error space.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <PCSC/winscard.h>
#include <krb5/krb5.h>
#include <security/pam_modules.h>

#include "common/cleanup.h"
#include "pam_scard/card.h"
#include "pam_scard/errmap.h"

struct row {
    long code;
    int want;
};

static void
test_ckr(void **state)
{
    static const struct row rows[] = {
        {PAMSC_CKR_OK, 0},
        {PAMSC_CKR_PIN_INCORRECT, -EACCES},
        {PAMSC_CKR_PIN_INVALID, -EACCES},
        {PAMSC_CKR_PIN_LEN_RANGE, -EACCES},
        {PAMSC_CKR_PIN_LOCKED, -EKEYREVOKED},
        {PAMSC_CKR_PIN_EXPIRED, -EKEYEXPIRED},
        {PAMSC_CKR_TOKEN_NOT_PRESENT, -ENODEV},
        {PAMSC_CKR_DEVICE_REMOVED, -ENODEV},
        {PAMSC_CKR_HOST_MEMORY, -ENOMEM},
        {PAMSC_CKR_USER_ALREADY_LOGGED_IN, -EALREADY},
        {0x05 /* CKR_GENERAL_ERROR */, -EIO},
        {0x80000001 /* vendor defined */, -EIO},
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
        print_message("CK_RV %#lx\n", (unsigned long)rows[i].code);
        assert_int_equal(pamsc_errno_from_ckr((unsigned long)rows[i].code), rows[i].want);
    }
}

static void
test_krb5(void **state)
{
    static const struct row rows[] = {
        {0, 0},
        {KRB5_KDC_UNREACH, -EHOSTUNREACH},
        {KRB5_REALM_CANT_RESOLVE, -EHOSTUNREACH},
        {KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, -ENOENT},
        {KRB5KDC_ERR_PREAUTH_FAILED, -EACCES},
        {KRB5_PREAUTH_FAILED, -EACCES},
        {KRB5KDC_ERR_CLIENT_NAME_MISMATCH, -EACCES},
        {KRB5KDC_ERR_CLIENT_NOT_TRUSTED, -EACCES},
        {KRB5KDC_ERR_REVOKED_CERTIFICATE, -EACCES},
        {KRB5_PARSE_MALFORMED, -EINVAL},
        {KRB5_CONFIG_NODEFREALM, -EINVAL},
        {ETIMEDOUT, -ETIMEDOUT},
        {ECONNREFUSED, -ECONNREFUSED},
        {ENOMEM, -ENOMEM},
        {KRB5_CC_NOMEM, -ENOMEM},
        {KRB5_CC_IO, -EIO},
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
        print_message("krb5 %ld\n", rows[i].code);
        assert_int_equal(pamsc_errno_from_krb5((int32_t)rows[i].code), rows[i].want);
    }
}

static void
test_scard(void **state)
{
    static const struct row rows[] = {
        {SCARD_S_SUCCESS, 0},
        {SCARD_E_NO_SERVICE, -ECONNREFUSED},
        {SCARD_E_SERVICE_STOPPED, -ECONNREFUSED},
        {SCARD_E_NO_READERS_AVAILABLE, -ENODEV},
        {SCARD_E_UNKNOWN_READER, -ENODEV},
        {SCARD_E_NO_SMARTCARD, -ENOMEDIUM},
        {SCARD_W_REMOVED_CARD, -ENOMEDIUM},
        {SCARD_E_TIMEOUT, -ETIMEDOUT},
        {SCARD_E_SHARING_VIOLATION, -EBUSY},
        {SCARD_E_NO_ACCESS, -EPERM},
        {SCARD_E_NO_MEMORY, -ENOMEM},
        {SCARD_E_INSUFFICIENT_BUFFER, -ENOBUFS},
        {SCARD_W_RESET_CARD, -EAGAIN},
        {SCARD_F_COMM_ERROR, -EIO},
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
        print_message("SCARD %#lx\n", (unsigned long)rows[i].code);
        assert_int_equal(pamsc_errno_from_scard(rows[i].code), rows[i].want);
    }
}

static void
test_pam(void **state)
{
    static const struct row rows[] = {
        {0, PAM_SUCCESS},
        {1, PAM_IGNORE},
        {-EACCES, PAM_AUTH_ERR},
        {-EKEYREJECTED, PAM_PERM_DENIED},
        {-EKEYREVOKED, PAM_MAXTRIES},
        {-ENODEV, PAM_CRED_UNAVAIL},
        {-ENOKEY, PAM_CRED_INSUFFICIENT},
        {-ENOMEDIUM, PAM_CRED_UNAVAIL},
        {-EHOSTUNREACH, PAM_AUTHINFO_UNAVAIL},
        {-ETIMEDOUT, PAM_AUTHINFO_UNAVAIL},
        {-ECONNREFUSED, PAM_CRED_UNAVAIL},
        {-ENOENT, PAM_USER_UNKNOWN},
        {-ENOMEM, PAM_BUF_ERR},
        {-EBADMSG, PAM_CONV_ERR},
        {-EINVAL, PAM_SERVICE_ERR},
        {-EIO, PAM_SERVICE_ERR},
        {-EKEYEXPIRED, PAM_SERVICE_ERR},
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
        print_message("errno %ld\n", rows[i].code);
        assert_int_equal(pamsc_pam_code((int)rows[i].code), rows[i].want);
    }
    /* setcred / session steps: no authentication outcomes there */
    assert_int_equal(pamsc_pam_code_or(0, PAM_CRED_ERR), PAM_SUCCESS);
    assert_int_equal(pamsc_pam_code_or(1, PAM_CRED_ERR), PAM_IGNORE);
    assert_int_equal(pamsc_pam_code_or(-EIO, PAM_CRED_ERR), PAM_CRED_ERR);
    assert_int_equal(pamsc_pam_code_or(-EACCES, PAM_CRED_ERR), PAM_CRED_ERR);
    assert_int_equal(pamsc_pam_code_or(-ENOENT, PAM_SESSION_ERR), PAM_SESSION_ERR);
    assert_int_equal(pamsc_pam_code_or(-ENOMEM, PAM_SESSION_ERR), PAM_BUF_ERR);
}

/* NIST SP 800-73-4 Part 2 §3.2.1: VERIFY without data reports the retry counter. */
static void
test_piv_sw(void **state)
{
    static const struct row rows[] = {
        {0x63C5, 5}, {0x63C1, 1}, {0x63C0, 0}, {0x6983, 0},
        {0x9000, -EALREADY}, {0x6A82, -EOPNOTSUPP}, {0x6D00, -EOPNOTSUPP}, {0x6300, -EOPNOTSUPP},
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
        print_message("SW %04lX\n", (unsigned long)rows[i].code);
        assert_int_equal(pamsc_piv_tries_from_sw((uint16_t)rows[i].code), rows[i].want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckr),   cmocka_unit_test(test_krb5),   cmocka_unit_test(test_scard),
        cmocka_unit_test(test_pam),   cmocka_unit_test(test_piv_sw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
