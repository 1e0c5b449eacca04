/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one place where pam_scard converts foreign error spaces: PKCS#11 CK_RV,
 * krb5_error_code and PC/SC SCARD_* into negative errno, and negative errno into
 * the PAM code returned to the application.
 */
#pragma once

#include <stdint.h>

/* The CK_RV values pam_scard tells apart (PKCS#11 v2.40 pkcs11t.h); libp11 does not export
 * them and a whole PKCS#11 header is not worth a dependency. */
enum {
    PAMSC_CKR_OK = 0x00,
    PAMSC_CKR_HOST_MEMORY = 0x02,
    PAMSC_CKR_SLOT_ID_INVALID = 0x03,
    PAMSC_CKR_ARGUMENTS_BAD = 0x07,
    PAMSC_CKR_DEVICE_MEMORY = 0x31,
    PAMSC_CKR_DEVICE_REMOVED = 0x32,
    PAMSC_CKR_FUNCTION_CANCELED = 0x50,
    PAMSC_CKR_PIN_INCORRECT = 0xa0,
    PAMSC_CKR_PIN_INVALID = 0xa1,
    PAMSC_CKR_PIN_LEN_RANGE = 0xa2,
    PAMSC_CKR_PIN_EXPIRED = 0xa3,
    PAMSC_CKR_PIN_LOCKED = 0xa4,
    PAMSC_CKR_TOKEN_NOT_PRESENT = 0xe0,
    PAMSC_CKR_TOKEN_NOT_RECOGNIZED = 0xe1,
    PAMSC_CKR_USER_ALREADY_LOGGED_IN = 0x100,
};

/**
 * Convert a PKCS#11 return value (PKCS#11 v2.40 §5.1) to a negative errno.
 * @param[in] rv  CK_RV (unsigned long)
 * @return 0 for CKR_OK; -EACCES wrong PIN (CKR_PIN_INCORRECT/INVALID/LEN_RANGE);
 *         -EKEYREVOKED PIN blocked (CKR_PIN_LOCKED); -EKEYEXPIRED CKR_PIN_EXPIRED;
 *         -ENODEV token or slot gone; -ENOMEM; -EINVAL bad arguments; -ECANCELED;
 *         -EALREADY already logged in; -EIO anything else.
 */
int pamsc_errno_from_ckr(unsigned long rv);

/**
 * Convert a MIT krb5_error_code (com_err code, or a plain errno from the OS layer).
 * @param[in] code  krb5_error_code (int32)
 * @return 0 for 0; -EHOSTUNREACH KDC or realm unreachable; -ETIMEDOUT; -ENOENT client
 *         principal unknown; -EACCES pre-authentication refused (wrong key, name mismatch,
 *         untrusted or revoked certificate); -EINVAL malformed name/bad configuration;
 *         -ENOMEM; a plain errno (1…4095) negated as is; -EIO anything else.
 */
int pamsc_errno_from_krb5(int32_t code);

/**
 * Convert a PC/SC result (PC/SC Part 5 / pcsc-lite pcsclite.h) to a negative errno.
 * @param[in] rc  LONG result of an SCard* call
 * @return 0 for SCARD_S_SUCCESS; -ECONNREFUSED resource manager not running;
 *         -ENODEV no such reader / no readers; -ENOMEDIUM no card / card removed;
 *         -ETIMEDOUT; -ECANCELED; -EBUSY sharing violation; -EPERM access refused;
 *         -ENOMEM; -ENOBUFS; -EINVAL; -EAGAIN card was reset; -EIO anything else.
 */
int pamsc_errno_from_scard(long rc);

/**
 * Convert an internal result to the PAM code returned by a pam_sm_* function.
 * @param[in] err  0, 1 ("not ours": PAM_IGNORE) or a negative errno
 * @return one code per sign-in outcome (the README's table): PAM_SUCCESS for 0; PAM_IGNORE
 *         for 1; PAM_CRED_UNAVAIL no card for the user (-ENOMEDIUM), no reader (-ENODEV), no
 *         resource manager (-ECONNREFUSED); PAM_CRED_INSUFFICIENT no usable certificate
 *         (-ENOKEY); PAM_PERM_DENIED untrusted or revoked certificate (-EKEYREJECTED);
 *         PAM_AUTH_ERR wrong PIN or refused by the KDC (-EACCES); PAM_MAXTRIES PIN blocked
 *         (-EKEYREVOKED); PAM_AUTHINFO_UNAVAIL KDC unreachable (-EHOSTUNREACH, -ETIMEDOUT);
 *         PAM_USER_UNKNOWN principal unknown (-ENOENT); PAM_BUF_ERR -ENOMEM; PAM_CONV_ERR
 *         -EBADMSG (conversation failed); PAM_SERVICE_ERR otherwise.
 */
int pamsc_pam_code(int err);

/**
 * The PAM code of a setcred or session step, where the authentication outcomes do not apply.
 * @param[in] err       0, 1 (not ours) or a negative errno
 * @param[in] fallback  PAM_CRED_ERR or PAM_SESSION_ERR
 * @return PAM_SUCCESS; PAM_IGNORE for 1; PAM_BUF_ERR for -ENOMEM; @p fallback otherwise
 */
int pamsc_pam_code_or(int err, int fallback);
