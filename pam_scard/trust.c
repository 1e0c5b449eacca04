/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local trust check of pam_scard: the card certificate's chain against the configured
 * anchors (X509_verify_cert), then revocation by a local CRL file or an OCSP responder
 * (RFC 6960 over HTTP with a timeout), soft or hard fail when the source is unavailable.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/x509_vfy.h>

#include "pam_scard/trust.h"

/* Outcome of one revocation source. */
enum rev_status {
    REV_GOOD,
    REV_REVOKED,
    REV_UNAVAILABLE, /* CRL missing/expired, responder unreachable or unusable reply */
};

int
pamsc_trust_policy_check(const struct pamsc_trust_policy *p, const struct sc_logger *lg)
{
    const char *check = p->revocation_check ? p->revocation_check : "none";
    const char *fail = p->revocation_fail ? p->revocation_fail : "soft";

    if (strcmp(check, "none") != 0 && strcmp(check, "crl") != 0 && strcmp(check, "ocsp") != 0) {
        sc_log(lg, LOG_ERR, "bad revocation_check '%s': expected none, crl or ocsp", check);
        return -EINVAL;
    }
    if (strcmp(fail, "soft") != 0 && strcmp(fail, "hard") != 0) {
        sc_log(lg, LOG_ERR, "bad revocation_fail '%s': expected soft or hard", fail);
        return -EINVAL;
    }
    return 0;
}

static X509_STORE *
store_new(const struct pamsc_trust_policy *p, const struct sc_logger *lg)
{
    X509_STORE *store = X509_STORE_new();
    struct stat st;
    int ok;

    if (!store)
        return NULL;
    if (stat(p->anchors, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* a directory of hashed names (openssl rehash / c_rehash) */
        ok = X509_STORE_load_path(store, p->anchors);
    } else {
        ok = X509_STORE_load_file(store, p->anchors);
    }
    if (!ok) {
        sc_log(lg, LOG_ERR, "trust_anchors '%s' cannot be loaded", p->anchors);
        X509_STORE_free(store);
        return NULL;
    }
    return store;
}

/* Chain of @p cert built against @p store with @p flags; the X509_V_* result, chain on success. */
static int
verify(X509_STORE *store, X509 *cert, unsigned long flags, STACK_OF(X509) **ret_chain)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int err;

    if (!ctx || !X509_STORE_CTX_init(ctx, store, cert, NULL)) {
        X509_STORE_CTX_free(ctx);
        return X509_V_ERR_OUT_OF_MEM;
    }
    X509_STORE_CTX_set_flags(ctx, flags);
    err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    if (err == X509_V_OK && ret_chain)
        *ret_chain = X509_STORE_CTX_get1_chain(ctx);
    X509_STORE_CTX_free(ctx);
    return err;
}

static enum rev_status
check_crl(const struct pamsc_trust_policy *p, X509_STORE *store, X509 *cert, char *reason, size_t size)
{
    int err;

    if (!p->crl_file || X509_load_crl_file(X509_STORE_add_lookup(store, X509_LOOKUP_file()),
                                           p->crl_file, X509_FILETYPE_PEM) <= 0) {
        snprintf(reason, size, "the CRL file '%s' cannot be read", p->crl_file ? p->crl_file : "(none)");
        return REV_UNAVAILABLE;
    }
    err = verify(store, cert, X509_V_FLAG_CRL_CHECK, NULL);
    if (err == X509_V_OK)
        return REV_GOOD;
    if (err == X509_V_ERR_CERT_REVOKED)
        return REV_REVOKED;
    snprintf(reason, size, "CRL: %s", X509_verify_cert_error_string(err));
    return REV_UNAVAILABLE;
}

/* POST @p req to @p url, wait at most timeout; NULL on any failure (reason set). */
static OCSP_RESPONSE *
ocsp_send(const char *url, OCSP_REQUEST *req, int timeout_sec, char *reason, size_t size)
{
    char *host = NULL, *port = NULL, *path = NULL;
    int use_ssl = 0;
    BIO *body = NULL, *reply = NULL;
    OCSP_RESPONSE *resp = NULL;

    if (!OSSL_HTTP_parse_url(url, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL)) {
        snprintf(reason, size, "bad OCSP responder URL '%s'", url);
        goto out;
    }
    body = ASN1_item_i2d_mem_bio(ASN1_ITEM_rptr(OCSP_REQUEST), (const ASN1_VALUE *)req);
    if (body)
        reply = OSSL_HTTP_transfer(NULL, host, port, path, use_ssl, NULL, NULL, NULL, NULL, NULL, NULL,
                                   0, NULL, "application/ocsp-request", body,
                                   "application/ocsp-response", 1, 0, timeout_sec, 0);
    if (reply)
        resp = ASN1_item_d2i_bio(ASN1_ITEM_rptr(OCSP_RESPONSE), reply, NULL);
    if (!resp)
        snprintf(reason, size, "the OCSP responder %s cannot be reached", url);
out:
    BIO_free(reply);
    BIO_free(body);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    return resp;
}

/* The status of @p id in a signed, fresh, nonce-matching reply to @p req. */
static enum rev_status
ocsp_status(OCSP_RESPONSE *resp, OCSP_REQUEST *req, OCSP_CERTID *id, STACK_OF(X509) *chain,
            X509_STORE *store, char *reason, size_t size)
{
    OCSP_BASICRESP *bs = NULL;
    ASN1_GENERALIZEDTIME *this_upd = NULL, *next_upd = NULL;
    int status = -1, why = 0;
    enum rev_status rs = REV_UNAVAILABLE;

    if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        !(bs = OCSP_response_get1_basic(resp))) {
        snprintf(reason, size, "the OCSP responder answered with an error");
        goto out;
    }
    if (OCSP_check_nonce(req, bs) <= 0 || OCSP_basic_verify(bs, chain, store, 0) <= 0) {
        snprintf(reason, size, "the OCSP reply cannot be verified");
        goto out;
    }
    if (!OCSP_resp_find_status(bs, id, &status, &why, NULL, &this_upd, &next_upd) ||
        !OCSP_check_validity(this_upd, next_upd, 300, -1)) {
        snprintf(reason, size, "the OCSP reply has no current status for this certificate");
        goto out;
    }
    if (status == V_OCSP_CERTSTATUS_GOOD)
        rs = REV_GOOD;
    else if (status == V_OCSP_CERTSTATUS_REVOKED)
        rs = REV_REVOKED;
    else
        snprintf(reason, size, "the OCSP responder does not know this certificate");
out:
    OCSP_BASICRESP_free(bs);
    return rs;
}

static enum rev_status
check_ocsp(const struct pamsc_trust_policy *p, X509_STORE *store, X509 *cert, STACK_OF(X509) *chain,
           const struct sc_logger *lg, char *reason, size_t size)
{
    STACK_OF(OPENSSL_STRING) *aia = NULL;
    const char *url = p->ocsp_responder;
    OCSP_REQUEST *req = NULL;
    OCSP_RESPONSE *resp = NULL;
    OCSP_CERTID *id = NULL;
    X509 *issuer = sk_X509_value(chain, sk_X509_num(chain) > 1 ? 1 : 0);
    enum rev_status rs = REV_UNAVAILABLE;
    int timeout = (int)(p->ocsp_timeout_usec / 1000000);

    if (!url) {
        aia = X509_get1_ocsp(cert);
        url = sk_OPENSSL_STRING_value(aia, 0);
    }
    if (!url) {
        snprintf(reason, size, "no OCSP responder is configured or named by the certificate");
        goto out;
    }
    req = OCSP_REQUEST_new();
    id = OCSP_cert_to_id(NULL, cert, issuer);
    if (!req || !id || !OCSP_request_add0_id(req, id)) {
        OCSP_CERTID_free(id);
        snprintf(reason, size, "out of memory");
        goto out;
    }
    id = OCSP_CERTID_dup(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)));
    if (!id || !OCSP_request_add1_nonce(req, NULL, -1))
        goto out;
    sc_log(lg, LOG_DEBUG, "asking the OCSP responder %s (timeout %d s)", url, timeout);
    resp = ocsp_send(url, req, timeout > 0 ? timeout : 5, reason, size);
    if (resp)
        rs = ocsp_status(resp, req, id, chain, store, reason, size);
out:
    OCSP_CERTID_free(id);
    OCSP_RESPONSE_free(resp);
    OCSP_REQUEST_free(req);
    X509_email_free(aia);
    return rs;
}

int
pamsc_trust_check(const struct pamsc_trust_policy *p, X509 *cert, const struct sc_logger *lg,
                  char *reason, size_t reason_size)
{
    const char *check = p->revocation_check ? p->revocation_check : "none";
    bool hard = p->revocation_fail && strcmp(p->revocation_fail, "hard") == 0;
    STACK_OF(X509) *chain = NULL;
    X509_STORE *store = NULL;
    enum rev_status rs = REV_GOOD;
    int err, r;

    snprintf(reason, reason_size, "unknown");
    if (!p->anchors || !*p->anchors) {
        sc_log(lg, LOG_DEBUG, "no trust_anchors: the certificate chain is left to the KDC");
        return 0;
    }
    store = store_new(p, lg);
    if (!store) {
        r = -EIO;
        goto out;
    }
    err = verify(store, cert, 0, &chain);
    if (err == X509_V_ERR_OUT_OF_MEM) {
        r = -ENOMEM;
        goto out;
    }
    if (err != X509_V_OK) {
        snprintf(reason, reason_size, "%s", X509_verify_cert_error_string(err));
        r = -EKEYREJECTED;
        goto out;
    }
    if (strcmp(check, "crl") == 0)
        rs = check_crl(p, store, cert, reason, reason_size);
    else if (strcmp(check, "ocsp") == 0)
        rs = check_ocsp(p, store, cert, chain, lg, reason, reason_size);
    if (rs == REV_REVOKED) {
        snprintf(reason, reason_size, "revoked");
        r = -EKEYREVOKED;
    } else if (rs == REV_UNAVAILABLE && hard) {
        r = -EKEYREJECTED;
    } else {
        if (rs == REV_UNAVAILABLE)
            sc_log(lg, LOG_WARNING, "revocation status unknown (%s): accepted, revocation_fail = soft",
                   reason);
        r = 0;
    }
out:
    sk_X509_pop_free(chain, X509_free);
    X509_STORE_free(store);
    ERR_clear_error();
    return r;
}
