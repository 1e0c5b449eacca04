/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which certificates may be used to sign in: the client-side filter Windows applies before
 * the PIN is asked (windows.md §2.3), with the [logon] keys that mirror its Group Policy
 * settings (windows.md §3.1). Pure functions of a certificate, a policy and a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* The certificate filter's half of struct pamsc_options; every field defaults to false. */
struct pamsc_cert_policy {
    bool allow_time_invalid;   /* allow_time_invalid_certificates (AllowTimeInvalidCertificates) */
    bool allow_no_eku;         /* allow_certificates_with_no_eku (AllowCertificatesWithNoEKU) */
    bool allow_signature_only; /* allow_signature_only_keys (AllowSignatureOnlyKeys) */
    bool allow_ecc;            /* allow_ecc_certificates (EnumerateECCCerts) */
};

/* Why a certificate can or cannot be used; pamsc_cert_verdict_to_string() names each. */
enum pamsc_cert_verdict {
    PAMSC_CERT_USABLE = 0,
    PAMSC_CERT_EXPIRED,
    PAMSC_CERT_NOT_YET_VALID,
    PAMSC_CERT_NO_DIGITAL_SIGNATURE,
    PAMSC_CERT_NO_EKU,
    PAMSC_CERT_WRONG_EKU,
    PAMSC_CERT_SIGNATURE_ONLY,
    PAMSC_CERT_ECC,
    PAMSC_CERT_UNSUPPORTED_KEY,
    PAMSC_CERT_MALFORMED,
    _PAMSC_CERT_VERDICT_MAX,
};

/**
 * Decide whether @p cert may be used to sign in under @p policy at time @p now.
 * Checks, in this order (the first failure is returned):
 *  1. notBefore ≤ now ≤ notAfter, unless allow_time_invalid;
 *  2. key usage, when present, includes digitalSignature (no override, as Windows);
 *  3. extended key usage contains Smart Card Logon (1.3.6.1.4.1.311.20.2.2) or
 *     id-pkinit-KPClientAuth (1.3.6.1.5.2.3.4, RFC 4556 §3.2.2); with allow_no_eku also no
 *     EKU, anyExtendedKeyUsage (2.5.29.37.0) or clientAuth (1.3.6.1.5.5.7.3.2);
 *  4. not a signature-only key, unless allow_signature_only. Windows means a key in the
 *     AT_SIGNATURE slot of a CSP container; a PIV card has no such slot, so the certificate
 *     says it instead: a key usage extension with digitalSignature and neither
 *     keyEncipherment (RSA) nor keyAgreement (EC) is signature-only. No key usage = not;
 *  5. an RSA key; EC, Ed25519 and Ed448 keys only with allow_ecc.
 * The certificate's signature and chain are not checked here.
 * @param[in] policy  not NULL
 * @param[in] cert    not NULL; not modified (OpenSSL may cache its extension flags)
 * @param[in] now     seconds since the epoch (normally time(NULL))
 * @return PAMSC_CERT_USABLE or the reason; PAMSC_CERT_MALFORMED for extensions or times
 *         OpenSSL cannot decode.
 * Source: windows.md §2.3 (filter rules), §3.1 (policies).
 */
enum pamsc_cert_verdict pamsc_cert_check(const struct pamsc_cert_policy *policy, X509 *cert, time_t now);

/** Short English reason for @p v ("the certificate has expired"); "unknown reason" if out of range. */
const char *pamsc_cert_verdict_to_string(enum pamsc_cert_verdict v);

/**
 * filter_duplicate_certificates (FilterDuplicateCerts): among certificates that are "the
 * same", keep only the one that expires last. Windows calls two certificates the same when
 * issued from one template for one user; here: same issuer name and same subject name.
 * Apply after pamsc_cert_check() (Windows applies it after the time filter).
 * @param[in]  certs     @p n certificates (not owned)
 * @param[in]  n         number of entries
 * @param[out] ret_kept  room for @p n pointers (caller's); the kept ones, in input order,
 *                       borrowed from @p certs (not to be freed separately)
 * @return the number of certificates kept (≤ n), in ret_kept[0..ret-1]; never fails
 * Source: windows.md §2.4 "Duplicates", §3.1.
 */
size_t pamsc_cert_filter_duplicates(X509 *const *certs, size_t n, X509 **ret_kept);
