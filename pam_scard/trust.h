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

/* The [logon] trust keys (pam_scard/options.c); strings are malloc'd, NULL or "" = unset. */
struct pamsc_trust_policy {
    char *anchors;            /* trust_anchors: PEM file (one or more CAs) or a hashed directory
                               * (openssl rehash); intermediates go here too, with their root */
    char *revocation_check;   /* "none" (default), "crl" or "ocsp" */
    char *revocation_fail;    /* "hard" (default: unknown status refused) or "soft" */
    char *crl_file;           /* PEM file with one or more CRLs, or a hashed directory: the CRL of
                               * every CA of the chain (revocation_check = crl) */
    char *ocsp_responder;     /* http:// URL; unset = the certificate's AIA OCSP URL */
    uint64_t ocsp_timeout_usec; /* ocsp_timeout, whole seconds */
};

/**
 * Check the words and URL of a trust policy, as it is loaded (no file is opened here: paths
 * are checked by pamsc_trust_check(), so that a missing file refuses the sign-in only).
 * @param[in] p   the policy (not owned)
 * @param[in] lg  where errors go, each naming the key
 * @return 0; -EINVAL revocation_check not none/crl/ocsp, revocation_fail not soft/hard, or
 *         ocsp_responder set and not an http:// URL (logged)
 * Leaves OpenSSL's error queue of the calling thread as it found it.
 */
int pamsc_trust_policy_check(const struct pamsc_trust_policy *p, const struct sc_logger *lg);

/**
 * Verify @p cert's chain against p->anchors and its revocation status per @p p.
 * With no anchors nothing is checked (logged at debug) and 0 comes back.
 * - the chain: built from @p cert and p->anchors alone (the card gives one certificate);
 *   validity dates, CA flags and signatures per RFC 5280 §6 (X509_verify_cert).
 * - revocation_check = crl: every certificate of the chain against its issuer's CRL from
 *   p->crl_file (RFC 5280 §6.3, X509_V_FLAG_CRL_CHECK_ALL); no network.
 * - revocation_check = ocsp: @p cert's status (RFC 6960) from p->ocsp_responder, else from the
 *   first http:// id-ad-ocsp URL of its Authority Information Access (RFC 5280 §4.2.2.1); one
 *   POST, no proxy, at most p->ocsp_timeout_usec (whole seconds) including connect; the reply
 *   must be signed by the issuer or its delegated responder, match the nonce and be current.
 * - a source that is missing or fails (no CRL, no URL, unreachable, bad reply): refused under
 *   revocation_fail = hard, accepted with a LOG_WARNING line under soft (the counterpart of
 *   Windows' UseCachedCRLOnlyAndIgnoreRevocationUnknownErrors, windows.md §2.7 and §3.5).
 * @param[in]  cert    the card certificate (not owned)
 * @param[in]  lg      warnings (revocation source unavailable under soft fail), errors (anchors
 *                     unreadable), debug detail (which OCSP URL is asked)
 * @param[out] reason  short reason for a refusal ("unable to get local issuer certificate",
 *                     "revoked", "revoked: its issuing CA '…' is revoked", "the OCSP responder
 *                     … cannot be reached (…)", …); always NUL-terminated
 * @return 0 trusted (or not checked, or revocation source unavailable under soft fail);
 *         -EKEYREJECTED chain not trusted, or revocation unknown under hard fail;
 *         -EKEYREVOKED the certificate or a CA of its chain is revoked;
 *         -EIO p->anchors cannot be loaded (missing, unreadable, no certificate: the caller
 *         must refuse, never skip the check); -ENOMEM
 * Thread-safe with distinct @p reason buffers; leaves OpenSSL's error queue of the calling
 * thread as it found it (errors queued before the call stay, none is added).
 */
int pamsc_trust_check(const struct pamsc_trust_policy *p, X509 *cert, const struct sc_logger *lg,
                      char *reason, size_t reason_size);
