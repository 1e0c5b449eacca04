/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local trust check of pam_scard: the card certificate's chain against the configured
 * anchors (X509_verify_cert), then revocation of every certificate of the chain by local CRLs,
 * or of the card certificate by an OCSP responder (RFC 6960 over plain HTTP with a timeout,
 * from ocsp_responder or the certificate's AIA), soft or hard fail when the source is missing.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "pam_scard/trust.h"

/* Outcome of one revocation source. */
enum rev_status {
    REV_GOOD,
    REV_REVOKED,
    REV_UNAVAILABLE, /* CRL missing/expired, responder unreachable or unusable reply */
};

/* The reason of the newest OpenSSL error on this thread's queue, for a log line. */
static const char *
ssl_reason(void)
{
    const char *s = ERR_reason_error_string(ERR_peek_last_error());
    return s ? s : "unknown error";
}

/* An absolute http:// URL that OpenSSL's HTTP client can use (no https: no TLS set up here). */
static bool
is_http_url(const char *url)
{
    char *host = NULL;
    int use_ssl = 1, ok;

    if (strncmp(url, "http://", 7) != 0)
        return false;
    ok = OSSL_HTTP_parse_url(url, &use_ssl, NULL, &host, NULL, NULL, NULL, NULL, NULL);
    ok = ok && !use_ssl && host && *host;
    OPENSSL_free(host);
    return ok;
}

int
pamsc_trust_policy_check(const struct pamsc_trust_policy *p, const struct sc_logger *lg)
{
    const char *check = p->revocation_check ? p->revocation_check : "none";
    const char *fail = p->revocation_fail ? p->revocation_fail : "hard";
    bool url_ok = true;

    if (strcmp(check, "none") != 0 && strcmp(check, "crl") != 0 && strcmp(check, "ocsp") != 0) {
        sc_log(lg, LOG_ERR, "bad revocation_check '%s': expected none, crl or ocsp", check);
        return -EINVAL;
    }
    if (strcmp(fail, "soft") != 0 && strcmp(fail, "hard") != 0) {
        sc_log(lg, LOG_ERR, "bad revocation_fail '%s': expected soft or hard", fail);
        return -EINVAL;
    }
    if (p->ocsp_responder && *p->ocsp_responder) {
        ERR_set_mark();
        url_ok = is_http_url(p->ocsp_responder);
        ERR_pop_to_mark();
    }
    if (!url_ok) {
        sc_log(lg, LOG_ERR, "bad ocsp_responder '%s': expected an http:// URL", p->ocsp_responder);
        return -EINVAL;
    }
    return 0;
}

static X509_STORE *
store_new(const struct pamsc_trust_policy *p, const struct sc_logger *lg)
{
    X509_STORE *store;
    struct stat st;
    int ok;

    if (stat(p->anchors, &st) < 0) {
        sc_log_errno(lg, LOG_ERR, -errno, "trust_anchors '%s' cannot be loaded", p->anchors);
        return NULL;
    }
    store = X509_STORE_new();
    if (!store)
        return NULL;
    if (S_ISDIR(st.st_mode)) {
        /* a directory of hashed names (openssl rehash / c_rehash); read at lookup time */
        ok = X509_STORE_load_path(store, p->anchors);
    } else {
        ok = X509_STORE_load_file(store, p->anchors);
    }
    if (!ok) {
        sc_log(lg, LOG_ERR, "trust_anchors '%s' cannot be loaded: %s", p->anchors, ssl_reason());
        X509_STORE_free(store);
        return NULL;
    }
    return store;
}

/* Chain of @p cert built against @p store with @p flags; the X509_V_* result, the chain on
 * success, else (if @p where) the subject and depth of the certificate the error is about. */
static int
verify(X509_STORE *store, X509 *cert, unsigned long flags, STACK_OF(X509) **ret_chain, int *ret_depth,
       char *where, size_t where_size)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *at;
    int err;

    if (!ctx || !X509_STORE_CTX_init(ctx, store, cert, NULL)) {
        X509_STORE_CTX_free(ctx);
        return X509_V_ERR_OUT_OF_MEM;
    }
    X509_STORE_CTX_set_flags(ctx, flags);
    err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    if (err == X509_V_OK && ret_chain)
        *ret_chain = X509_STORE_CTX_get1_chain(ctx);
    if (err != X509_V_OK && where) {
        at = X509_STORE_CTX_get_current_cert(ctx);
        if (!at || !X509_NAME_oneline(X509_get_subject_name(at), where, (int)where_size))
            snprintf(where, where_size, "?");
        *ret_depth = X509_STORE_CTX_get_error_depth(ctx);
    }
    X509_STORE_CTX_free(ctx);
    return err;
}

/* Add the CRLs of @p p->crl_file (a PEM file with one or more CRLs, or a hashed directory). */
static bool
load_crls(const struct pamsc_trust_policy *p, X509_STORE *store)
{
    struct stat st;

    if (!p->crl_file || !*p->crl_file || stat(p->crl_file, &st) < 0)
        return false;
    if (S_ISDIR(st.st_mode))
        return X509_LOOKUP_add_dir(X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir()), p->crl_file,
                                   X509_FILETYPE_PEM) == 1;
    return X509_load_crl_file(X509_STORE_add_lookup(store, X509_LOOKUP_file()), p->crl_file,
                              X509_FILETYPE_PEM) > 0;
}

/* Every certificate of the chain against its issuer's CRL (X509_V_FLAG_CRL_CHECK_ALL): a
 * revoked issuing CA revokes the card certificate too (RFC 5280 §6.3; windows.md §2.7: the KDC
 * checks the path's revocation). A missing CRL for any of them is "unavailable". */
static enum rev_status
check_crl(const struct pamsc_trust_policy *p, X509_STORE *store, X509 *cert, char *reason, size_t size)
{
    char where[256];
    int err, depth = 0;

    if (!load_crls(p, store)) {
        snprintf(reason, size, "the CRL file '%s' cannot be read", p->crl_file ? p->crl_file : "(none)");
        return REV_UNAVAILABLE;
    }
    err = verify(store, cert, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL, NULL, &depth, where,
                 sizeof(where));
    if (err == X509_V_OK)
        return REV_GOOD;
    if (err == X509_V_ERR_CERT_REVOKED) {
        if (depth > 0)
            snprintf(reason, size, "revoked: its issuing CA '%s' is revoked", where);
        else
            snprintf(reason, size, "revoked");
        return REV_REVOKED;
    }
    snprintf(reason, size, "CRL for '%s': %s", where, X509_verify_cert_error_string(err));
    return REV_UNAVAILABLE;
}

/* Wait until @p bio's socket is ready for what its last call asked for (@p for_write, else
 * read), or @p deadline_usec passes: 1 ready, 0 deadline passed, -errno. */
static int
wait_io(BIO *bio, bool for_write, uint64_t deadline_usec)
{
    struct pollfd pfd = {.events = for_write ? POLLOUT : POLLIN};
    uint64_t now;
    int r;

    if (BIO_get_fd(bio, &pfd.fd) < 0)
        return -EBADF;
    while ((now = sc_now_usec()) < deadline_usec) {
        r = poll(&pfd, 1, (int)((deadline_usec - now + 999) / 1000));
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* Why the HTTP exchange failed, from the newest OpenSSL error (only peeked: older ones may be
 * the caller's; a failed connect's errno sits on the one before, out of reach). */
static const char *
http_reason(void)
{
    unsigned long e = ERR_peek_last_error();

    if (ERR_GET_LIB(e) == ERR_LIB_BIO &&
        (ERR_GET_REASON(e) == BIO_R_CONNECT_ERROR || ERR_GET_REASON(e) == BIO_R_NBIO_CONNECT_ERROR))
        return "connection failed";
    return e ? ssl_reason() : "no usable reply";
}

/* POST @p req to the http:// @p url and read the reply, all within @p timeout_usec (connect,
 * request, reply; a monotonic deadline, not OpenSSL's whole-second one); direct, never through
 * a proxy from the environment of whatever process loaded the module. NULL on any failure,
 * @p reason set. The host name is resolved before the deadline applies (getaddrinfo blocks). */
static OCSP_RESPONSE *
ocsp_send(const char *url, OCSP_REQUEST *req, uint64_t timeout_usec, char *reason, size_t size)
{
    uint64_t deadline = sc_now_usec() + timeout_usec;
    char *host = NULL, *port = NULL, *path = NULL, hostport[300];
    OSSL_HTTP_REQ_CTX *rctx = NULL;
    ASN1_VALUE *resp = NULL;
    const char *why = NULL;
    BIO *bio = NULL;
    int use_ssl = 0, r;

    if (!OSSL_HTTP_parse_url(url, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL) || use_ssl) {
        snprintf(reason, size, "bad OCSP responder URL '%s'", url);
        goto out;
    }
    bio = BIO_new(BIO_s_connect());
    if (!bio || !BIO_set_conn_hostname(bio, host) || !BIO_set_conn_port(bio, port))
        goto fail;
    BIO_set_nbio(bio, 1);
    while (BIO_do_connect(bio) <= 0) {
        if (!BIO_should_retry(bio))
            goto fail; /* refused, unreachable, unknown host: at once, not at the deadline */
        r = wait_io(bio, true, deadline);
        if (r <= 0) {
            why = r == 0 ? "no connection within ocsp_timeout" : strerror(-r);
            goto fail;
        }
    }
    snprintf(hostport, sizeof(hostport), "%s:%s", host, port);
    rctx = OCSP_sendreq_new(bio, path, NULL, -1);
    if (!rctx || !OSSL_HTTP_REQ_CTX_add1_header(rctx, "Host", hostport) ||
        !OSSL_HTTP_REQ_CTX_set_expected(rctx, "application/ocsp-response", 1, 0, 0) ||
        !OSSL_HTTP_REQ_CTX_set1_req(rctx, "application/ocsp-request", ASN1_ITEM_rptr(OCSP_REQUEST),
                                    (const ASN1_VALUE *)req))
        goto fail;
    while ((r = OSSL_HTTP_REQ_CTX_nbio_d2i(rctx, &resp, ASN1_ITEM_rptr(OCSP_RESPONSE))) == -1) {
        r = wait_io(bio, BIO_should_write(bio), deadline);
        if (r <= 0) {
            why = r == 0 ? "no reply within ocsp_timeout" : strerror(-r);
            goto fail;
        }
    }
    if (r == 1 && resp)
        goto out;
fail:
    snprintf(reason, size, "the OCSP responder %s cannot be reached (%s)", url, why ? why : http_reason());
out:
    OSSL_HTTP_REQ_CTX_free(rctx); /* frees neither bio nor resp */
    BIO_free_all(bio);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    return (OCSP_RESPONSE *)resp;
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
        rs = REV_REVOKED, snprintf(reason, size, "revoked");
    else
        snprintf(reason, size, "the OCSP responder does not know this certificate");
out:
    OCSP_BASICRESP_free(bs);
    return rs;
}

/* The first http:// URL of the id-ad-ocsp entries of @p cert's Authority Information Access
 * (RFC 5280 §4.2.2.1), OPENSSL_malloc'd; NULL (reason set) when there is none. */
static char *
aia_ocsp_url(X509 *cert, char *reason, size_t size)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(cert);
    int n = sk_OPENSSL_STRING_num(urls);
    char *url = NULL;

    for (int i = 0; i < n && !url; i++)
        if (is_http_url(sk_OPENSSL_STRING_value(urls, i)))
            url = OPENSSL_strdup(sk_OPENSSL_STRING_value(urls, i));
    if (!url && n > 0)
        snprintf(reason, size, "the certificate names no http:// OCSP responder (first: %s)",
                 sk_OPENSSL_STRING_value(urls, 0));
    else if (!url)
        snprintf(reason, size, "no OCSP responder is configured or named by the certificate");
    X509_email_free(urls);
    return url;
}

static enum rev_status
check_ocsp(const struct pamsc_trust_policy *p, X509_STORE *store, X509 *cert, STACK_OF(X509) *chain,
           const struct sc_logger *lg, char *reason, size_t size)
{
    bool configured = p->ocsp_responder && *p->ocsp_responder;
    char *url = configured ? OPENSSL_strdup(p->ocsp_responder) : aia_ocsp_url(cert, reason, size);
    OCSP_REQUEST *req = NULL;
    OCSP_RESPONSE *resp = NULL;
    OCSP_CERTID *id = NULL;
    X509 *issuer = sk_X509_value(chain, sk_X509_num(chain) > 1 ? 1 : 0);
    enum rev_status rs = REV_UNAVAILABLE;
    uint64_t timeout_usec = p->ocsp_timeout_usec ? p->ocsp_timeout_usec : 5 * UINT64_C(1000000);

    if (!url)
        goto out;
    req = OCSP_REQUEST_new();
    id = OCSP_cert_to_id(NULL, cert, issuer);
    if (!req || !id || !OCSP_request_add0_id(req, id)) {
        OCSP_CERTID_free(id);
        id = NULL;
        snprintf(reason, size, "out of memory");
        goto out;
    }
    id = OCSP_CERTID_dup(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)));
    if (!id || !OCSP_request_add1_nonce(req, NULL, -1)) {
        snprintf(reason, size, "out of memory");
        goto out;
    }
    sc_log(lg, LOG_DEBUG, "asking the OCSP responder %s (%s, timeout %.3g s)", url,
           configured ? "ocsp_responder" : "from the certificate's AIA", (double)timeout_usec / 1e6);
    resp = ocsp_send(url, req, timeout_usec, reason, size);
    if (resp)
        rs = ocsp_status(resp, req, id, chain, store, reason, size);
out:
    OCSP_CERTID_free(id);
    OCSP_RESPONSE_free(resp);
    OCSP_REQUEST_free(req);
    OPENSSL_free(url);
    return rs;
}

int
pamsc_trust_check(const struct pamsc_trust_policy *p, X509 *cert, const struct sc_logger *lg,
                  char *reason, size_t reason_size)
{
    const char *check = p->revocation_check ? p->revocation_check : "none";
    bool hard = !p->revocation_fail || strcmp(p->revocation_fail, "hard") == 0; /* fail closed by default */
    STACK_OF(X509) *chain = NULL;
    X509_STORE *store = NULL;
    enum rev_status rs = REV_GOOD;
    int err, r;

    snprintf(reason, reason_size, "unknown");
    if (!p->anchors || !*p->anchors) {
        sc_log(lg, LOG_DEBUG, "no trust_anchors: the certificate chain is left to the KDC");
        return 0;
    }
    ERR_set_mark(); /* ours is popped below (OpenSSL's file lookups may clear older errors) */
    store = store_new(p, lg);
    if (!store) {
        snprintf(reason, reason_size, "trust_anchors '%s' cannot be loaded", p->anchors);
        r = -EIO;
        goto out;
    }
    err = verify(store, cert, 0, &chain, NULL, NULL, 0);
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
    ERR_pop_to_mark();
    return r;
}
