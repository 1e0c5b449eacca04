/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error-space conversion tables for pam_scard: CK_RV, krb5_error_code and SCARD_*
 * to negative errno, and negative errno to PAM codes. Table-tested in
 * tests/unit/test-errmap.c; nothing else in the module compares foreign codes.
 */
#include <errno.h>
#include <stddef.h>

#include <PCSC/winscard.h>
#include <krb5/krb5.h>
#include <security/pam_modules.h>

#include "common/cleanup.h"
#include "pam_scard/errmap.h"

struct code_map {
    long code;
    int err;
};

static int
lookup(const struct code_map *map, size_t n, long code, int fallback)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].code == code)
            return map[i].err;
    return fallback;
}

static const struct code_map ckr_map[] = {
    {PAMSC_CKR_OK, 0},
    {PAMSC_CKR_PIN_INCORRECT, -EACCES},
    {PAMSC_CKR_PIN_INVALID, -EACCES},
    {PAMSC_CKR_PIN_LEN_RANGE, -EACCES},
    {PAMSC_CKR_PIN_LOCKED, -EKEYREVOKED},
    {PAMSC_CKR_PIN_EXPIRED, -EKEYEXPIRED},
    {PAMSC_CKR_TOKEN_NOT_PRESENT, -ENODEV},
    {PAMSC_CKR_TOKEN_NOT_RECOGNIZED, -ENODEV},
    {PAMSC_CKR_DEVICE_REMOVED, -ENODEV},
    {PAMSC_CKR_SLOT_ID_INVALID, -ENODEV},
    {PAMSC_CKR_HOST_MEMORY, -ENOMEM},
    {PAMSC_CKR_DEVICE_MEMORY, -ENOMEM},
    {PAMSC_CKR_ARGUMENTS_BAD, -EINVAL},
    {PAMSC_CKR_FUNCTION_CANCELED, -ECANCELED},
    {PAMSC_CKR_USER_ALREADY_LOGGED_IN, -EALREADY},
};

int
pamsc_errno_from_ckr(unsigned long rv)
{
    return lookup(ckr_map, ELEMENTSOF(ckr_map), (long)rv, -EIO);
}

static const struct code_map krb5_map[] = {
    {0, 0},
    {KRB5_KDC_UNREACH, -EHOSTUNREACH},
    {KRB5_REALM_CANT_RESOLVE, -EHOSTUNREACH},
    {KRB5_REALM_UNKNOWN, -EHOSTUNREACH},
    {KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, -ENOENT},
    {KRB5KDC_ERR_PREAUTH_FAILED, -EACCES},
    {KRB5_PREAUTH_FAILED, -EACCES},
    {KRB5KDC_ERR_CLIENT_NAME_MISMATCH, -EACCES},
    {KRB5KDC_ERR_CLIENT_NOT_TRUSTED, -EACCES},
    {KRB5KDC_ERR_INVALID_SIG, -EACCES},
    {KRB5KDC_ERR_CANT_VERIFY_CERTIFICATE, -EACCES},
    {KRB5KDC_ERR_INVALID_CERTIFICATE, -EACCES},
    {KRB5KDC_ERR_REVOKED_CERTIFICATE, -EACCES},
    {KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE, -EACCES},
    {KRB5KDC_ERR_CLIENT_REVOKED, -EACCES},
    {KRB5KDC_ERR_KEY_EXP, -EACCES},
    {KRB5KRB_AP_ERR_BAD_INTEGRITY, -EACCES},
    {KRB5KDC_ERR_PADATA_TYPE_NOSUPP, -EACCES},
    {KRB5_PARSE_MALFORMED, -EINVAL},
    {KRB5_CONFIG_NODEFREALM, -EINVAL},
    {KRB5_CONFIG_BADFORMAT, -EINVAL},
    {KRB5_CC_NOMEM, -ENOMEM},
};

int
pamsc_errno_from_krb5(int32_t code)
{
    if (code > 0 && code < 4096) /* the OS layer hands plain errno values through */
        return -code;
    return lookup(krb5_map, ELEMENTSOF(krb5_map), code, -EIO);
}

static const struct code_map scard_map[] = {
    {SCARD_S_SUCCESS, 0},
    {SCARD_E_NO_SERVICE, -ECONNREFUSED},
    {SCARD_E_SERVICE_STOPPED, -ECONNREFUSED},
    {SCARD_E_NO_READERS_AVAILABLE, -ENODEV},
    {SCARD_E_UNKNOWN_READER, -ENODEV},
    {SCARD_E_READER_UNAVAILABLE, -ENODEV},
    {SCARD_E_NO_SMARTCARD, -ENOMEDIUM},
    {SCARD_W_REMOVED_CARD, -ENOMEDIUM},
    {SCARD_E_TIMEOUT, -ETIMEDOUT},
    {SCARD_E_CANCELLED, -ECANCELED},
    {SCARD_E_SYSTEM_CANCELLED, -ECANCELED},
    {SCARD_E_SHARING_VIOLATION, -EBUSY},
    {SCARD_E_NO_ACCESS, -EPERM},
    {SCARD_W_SECURITY_VIOLATION, -EPERM},
    {SCARD_E_NO_MEMORY, -ENOMEM},
    {SCARD_E_INSUFFICIENT_BUFFER, -ENOBUFS},
    {SCARD_E_INVALID_PARAMETER, -EINVAL},
    {SCARD_E_INVALID_HANDLE, -EINVAL},
    {SCARD_E_INVALID_VALUE, -EINVAL},
    {SCARD_W_RESET_CARD, -EAGAIN},
};

int
pamsc_errno_from_scard(long rc)
{
    return lookup(scard_map, ELEMENTSOF(scard_map), rc, -EIO);
}

static const struct code_map pam_map[] = {
    {0, PAM_SUCCESS},
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
};

int
pamsc_pam_code(int err)
{
    if (err > 0)
        return PAM_IGNORE;
    return lookup(pam_map, ELEMENTSOF(pam_map), err, PAM_SERVICE_ERR);
}

int
pamsc_pam_code_or(int err, int fallback)
{
    if (err > 0)
        return PAM_IGNORE;
    if (err == 0 || err == -ENOMEM)
        return pamsc_pam_code(err);
    return fallback;
}
