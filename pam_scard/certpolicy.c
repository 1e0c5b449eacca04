/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sign-in certificate filter (windows.md §2.3): validity time, key usage, extended key
 * usage, signature-only and ECC keys, and the duplicate filter, each with the [logon] key
 * that mirrors the Windows Group Policy setting of the same meaning.
 */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "pam_scard/certpolicy.h"

static const char *const verdict_table[_PAMSC_CERT_VERDICT_MAX] = {
    [PAMSC_CERT_USABLE] = "the certificate can be used to sign in",
    [PAMSC_CERT_EXPIRED] = "the certificate has expired",
    [PAMSC_CERT_NOT_YET_VALID] = "the certificate is not valid yet",
    [PAMSC_CERT_NO_DIGITAL_SIGNATURE] = "the certificate's key usage does not allow digital signatures",
    [PAMSC_CERT_NO_EKU] = "the certificate has no extended key usage",
    [PAMSC_CERT_WRONG_EKU] = "the certificate is not for smart-card logon (extended key usage)",
    [PAMSC_CERT_SIGNATURE_ONLY] = "the certificate's key is for signatures only",
    [PAMSC_CERT_ECC] = "the certificate has an elliptic-curve key",
    [PAMSC_CERT_UNSUPPORTED_KEY] = "the certificate's key type is not supported",
    [PAMSC_CERT_MALFORMED] = "the certificate cannot be decoded",
};

const char *
pamsc_cert_verdict_to_string(enum pamsc_cert_verdict v)
{
    if ((unsigned)v >= _PAMSC_CERT_VERDICT_MAX || !verdict_table[v])
        return "unknown reason";
    return verdict_table[v];
}

static enum pamsc_cert_verdict
check_time(X509 *cert, time_t now)
{
    int before = X509_cmp_time(X509_get0_notBefore(cert), &now);
    int after = X509_cmp_time(X509_get0_notAfter(cert), &now);

    if (before == 0 || after == 0)
        return PAMSC_CERT_MALFORMED;
    if (before > 0)
        return PAMSC_CERT_NOT_YET_VALID;
    if (after < 0)
        return PAMSC_CERT_EXPIRED;
    return PAMSC_CERT_USABLE;
}

static void
eku_freep(EXTENDED_KEY_USAGE **p)
{
    EXTENDED_KEY_USAGE_free(*p);
}

static enum pamsc_cert_verdict
check_eku(const struct pamsc_cert_policy *policy, X509 *cert)
{
    _cleanup_(eku_freep) EXTENDED_KEY_USAGE *eku = NULL;
    bool relaxed = false;
    int crit = 0;

    eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
    if (!eku) {
        if (crit != -1) /* -2: twice; ≥ 0: present but undecodable */
            return PAMSC_CERT_MALFORMED;
        return policy->allow_no_eku ? PAMSC_CERT_USABLE : PAMSC_CERT_NO_EKU;
    }
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));

        if (nid == NID_ms_smartcard_login || nid == NID_pkInitClientAuth)
            return PAMSC_CERT_USABLE;
        if (nid == NID_anyExtendedKeyUsage || nid == NID_client_auth)
            relaxed = true;
    }
    return relaxed && policy->allow_no_eku ? PAMSC_CERT_USABLE : PAMSC_CERT_WRONG_EKU;
}

static enum pamsc_cert_verdict
check_key(const struct pamsc_cert_policy *policy, X509 *cert, uint32_t ku)
{
    EVP_PKEY *pkey = X509_get0_pubkey(cert);
    bool has_ku = ku != UINT32_MAX;
    bool ecc;

    if (!pkey)
        return PAMSC_CERT_UNSUPPORTED_KEY;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        ecc = false;
        break;
    case EVP_PKEY_EC:
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        ecc = true;
        break;
    default:
        return PAMSC_CERT_UNSUPPORTED_KEY;
    }
    if (has_ku && !policy->allow_signature_only &&
        !(ku & (ecc ? KU_KEY_AGREEMENT : KU_KEY_ENCIPHERMENT)))
        return PAMSC_CERT_SIGNATURE_ONLY;
    if (ecc && !policy->allow_ecc)
        return PAMSC_CERT_ECC;
    return PAMSC_CERT_USABLE;
}

enum pamsc_cert_verdict
pamsc_cert_check(const struct pamsc_cert_policy *policy, X509 *cert, time_t now)
{
    enum pamsc_cert_verdict v;
    uint32_t ku;

    /* computes and caches the extension flags; EXFLAG_INVALID = an extension is undecodable */
    if (X509_check_purpose(cert, -1, 0) != 1 || (X509_get_extension_flags(cert) & EXFLAG_INVALID))
        return PAMSC_CERT_MALFORMED;
    if (!policy->allow_time_invalid) {
        v = check_time(cert, now);
        if (v != PAMSC_CERT_USABLE)
            return v;
    }
    ku = X509_get_key_usage(cert); /* UINT32_MAX when there is no key usage extension */
    if (ku != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE))
        return PAMSC_CERT_NO_DIGITAL_SIGNATURE;
    v = check_eku(policy, cert);
    if (v != PAMSC_CERT_USABLE)
        return v;
    return check_key(policy, cert, ku);
}

static bool
same_certificate(X509 *a, X509 *b)
{
    return X509_NAME_cmp(X509_get_issuer_name(a), X509_get_issuer_name(b)) == 0 &&
           X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)) == 0;
}

/* True when certs[j] is kept in place of certs[i]: it expires later, or as late and comes first. */
static bool
superseded_by(X509 *const *certs, size_t i, size_t j)
{
    int c = ASN1_TIME_compare(X509_get0_notAfter(certs[i]), X509_get0_notAfter(certs[j]));

    return c == -1 || (c == 0 && j < i);
}

size_t
pamsc_cert_filter_duplicates(X509 *const *certs, size_t n, X509 **ret_kept)
{
    size_t kept = 0;

    for (size_t i = 0; i < n; i++) {
        bool drop = false;

        for (size_t j = 0; j < n && !drop; j++)
            drop = j != i && same_certificate(certs[i], certs[j]) && superseded_by(certs, i, j);
        if (!drop)
            ret_kept[kept++] = certs[i];
    }
    return kept;
}
