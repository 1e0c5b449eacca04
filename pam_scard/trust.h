/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Local trust check of the card certificate before the PIN is asked: its chain against
 * configured anchors (OpenSSL X509_STORE), then revocation by CRL or OCSP per policy.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/log.h"

/* The [logon] trust keys (pam_scard/options.c); strings are malloc'd, NULL = unset. */
struct pamsc_trust_policy {
    char *anchors;            /* trust_anchors: PEM file or directory of PEM (c_rehash'd or not) */
    char *revocation_check;   /* "none" (default), "crl" or "ocsp" */
    char *revocation_fail;    /* "soft" (default) or "hard" */
    char *crl_file;           /* PEM file with one or more CRLs (revocation_check = crl) */
    char *ocsp_responder;     /* URL; NULL = the certificate's AIA OCSP URL */
    uint64_t ocsp_timeout_usec; /* ocsp_timeout, whole seconds */
};

/**
 * Check that revocation_check and revocation_fail are known words.
 * @return 0; -EINVAL (logged through @p lg)
 */
int pamsc_trust_policy_check(const struct pamsc_trust_policy *p, const struct sc_logger *lg);

/**
 * Verify @p cert's chain against p->anchors and its revocation status per @p p.
 * With no anchors nothing is checked (logged at debug) and 0 comes back.
 * @param[in]  cert    the card certificate (not owned)
 * @param[in]  lg      warnings (revocation source unavailable under soft fail), debug detail
 * @param[out] reason  short reason for a refusal ("unable to get local issuer certificate",
 *                     "the CRL is not available", …); always NUL-terminated
 * @return 0 trusted (or not checked, or revocation source unavailable under soft fail);
 *         -EKEYREJECTED chain not trusted, or revocation unknown under hard fail;
 *         -EKEYREVOKED the certificate is revoked; -EIO the anchors cannot be loaded; -ENOMEM
 * Blocks for at most ocsp_timeout_usec on the OCSP responder (RFC 6960 over HTTP).
 */
int pamsc_trust_check(const struct pamsc_trust_policy *p, X509 *cert, const struct sc_logger *lg,
                      char *reason, size_t reason_size);
