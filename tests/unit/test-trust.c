/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_scard's local trust check (pam_scard/trust.c) over the certificate matrix of
 * tests/data/make-cert-matrix.sh: each trust case under the default policy and under the key
 * that changes it, OCSP URL choice (ocsp_responder, AIA), the timeout against responders that
 * never answer, and OpenSSL's error queue left as found on every path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "pam_scard/trust.h"

static char matrix_dir[] = "/tmp/test-trust-XXXXXX";
static char logbuf[8192];

static void
capture(void *userdata, int priority, const char *msg)
{
    (void)userdata;
    snprintf(logbuf + strlen(logbuf), sizeof(logbuf) - strlen(logbuf), "<%d>%s\n", priority, msg);
}

static const struct sc_logger lg = {.sink = capture, .max_priority = LOG_DEBUG};

static X509 *
load(const char *name)
{
    char path[256];
    FILE *f;
    X509 *x;

    snprintf(path, sizeof(path), "%s/%s.pem", matrix_dir, name);
    f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

/* A matrix file name → its path; absolute names and "" are kept; NULL stays NULL. */
static char *
path_of(const char *name)
{
    char *p;

    if (!name)
        return NULL;
    if (!*name || name[0] == '/')
        return strdup(name);
    if (asprintf(&p, "%s/%s", matrix_dir, name) < 0)
        return NULL;
    return p;
}

/* One policy: the [logon] trust keys as the options would hold them. */
struct pol {
    const char *anchors, *check, *fail, *crl, *ocsp;
    unsigned timeout_sec; /* 0 = the default, 5 */
};

static void
policy_build(const struct pol *in, struct pamsc_trust_policy *out)
{
    *out = (struct pamsc_trust_policy){
        .anchors = path_of(in->anchors),
        .revocation_check = in->check ? strdup(in->check) : NULL,
        .revocation_fail = in->fail ? strdup(in->fail) : NULL,
        .crl_file = path_of(in->crl),
        .ocsp_responder = in->ocsp ? strdup(in->ocsp) : NULL,
        .ocsp_timeout_usec = (in->timeout_sec ? in->timeout_sec : 5) * UINT64_C(1000000),
    };
}

static void
policy_free(struct pamsc_trust_policy *p)
{
    free(p->anchors);
    free(p->revocation_check);
    free(p->revocation_fail);
    free(p->crl_file);
    free(p->ocsp_responder);
}

#define SENTINEL_REASON 4242

/* pamsc_trust_check() with a caller's error queued before it: afterwards no error of ours may
 * be left; the caller's stays unless OpenSSL's own file lookups cleared the queue (by_file.c
 * calls ERR_clear_error() at the end of every CRL or certificate file it reads). Then once more
 * with an empty queue, which must stay empty. The log of the first call is in logbuf. */
static int
check(const struct pol *pol, const char *cert_name, const char *what, char *reason, size_t size)
{
    struct pamsc_trust_policy p;
    X509 *cert = load(cert_name);
    char again[256];
    unsigned long e;
    int r, r2;

    policy_build(pol, &p);
    assert_int_equal(pamsc_trust_policy_check(&p, &lg), 0);
    logbuf[0] = '\0';
    ERR_clear_error();
    ERR_raise(ERR_LIB_USER, SENTINEL_REASON);
    r = pamsc_trust_check(&p, cert, &lg, reason, size);
    e = ERR_get_error();
    if (e != 0 && (ERR_GET_LIB(e) != ERR_LIB_USER || ERR_GET_REASON(e) != SENTINEL_REASON))
        fail_msg("%s, %s: OpenSSL error left before the caller's: %s", cert_name, what, ERR_error_string(e, NULL));
    if (ERR_peek_error() != 0)
        fail_msg("%s, %s: OpenSSL error left on the queue: %s", cert_name, what,
                 ERR_error_string(ERR_peek_error(), NULL));
    r2 = pamsc_trust_check(&p, cert, &(struct sc_logger){.sink = NULL, .max_priority = -1}, again,
                           sizeof(again));
    if (ERR_peek_error() != 0)
        fail_msg("%s, %s: OpenSSL error left on an empty queue: %s", cert_name, what,
                 ERR_error_string(ERR_peek_error(), NULL));
    assert_int_equal(r2, r);
    X509_free(cert);
    policy_free(&p);
    return r;
}

static const char *
err_name(int r)
{
    switch (r) {
    case 0:
        return "0";
    case -EKEYREJECTED:
        return "-EKEYREJECTED";
    case -EKEYREVOKED:
        return "-EKEYREVOKED";
    case -EIO:
        return "-EIO";
    default:
        return strerror(-r);
    }
}

/* The trust matrix: a certificate, its outcome under the default policy (anchors = the matrix
 * CA, revocation_check = none, revocation_fail = hard) and under the keys that change it. */
static const struct trust_case {
    const char *cert;
    const char *what;
    struct pol policy;
    int want;
    const char *reason; /* substring of the reason (refusals), NULL = not checked */
    const char *log;    /* substring of the log (\"<4>\" = LOG_WARNING), NULL = not checked */
} cases[] = {
    /* good: accepted, with or without the CRL */
    {"good", "default", {.anchors = "ca.pem"}, 0, NULL, NULL},
    {"good", "crl", {.anchors = "ca.pem", .check = "crl", .crl = "crl.pem"}, 0, NULL, NULL},
    {"good", "no trust_anchors: not checked", {.anchors = ""}, 0, NULL, "no trust_anchors"},
    /* revoked (CRL): only revocation_check = crl sees it */
    {"revoked", "default (revocation_check = none)", {.anchors = "ca.pem"}, 0, NULL, NULL},
    {"revoked", "crl", {.anchors = "ca.pem", .check = "crl", .crl = "crl.pem"}, -EKEYREVOKED, "revoked", NULL},
    {"revoked", "crl, CRL from before the revocation", {.anchors = "ca.pem", .check = "crl", .fail = "hard", .crl = "crl-empty.pem"}, 0, NULL, NULL},
    {"revoked", "crl_file a hashed directory", {.anchors = "ca.pem", .check = "crl", .crl = "crl-dir"}, -EKEYREVOKED, "revoked", NULL},
    {"good", "crl_file a hashed directory", {.anchors = "ca.pem", .check = "crl", .fail = "hard", .crl = "crl-dir"}, 0, NULL, NULL},
    /* untrusted issuer: refused until its CA is an anchor */
    {"untrusted-issuer", "default", {.anchors = "ca.pem"}, -EKEYREJECTED, "unable to get local issuer certificate", NULL},
    {"untrusted-issuer", "its CA added (bundle)", {.anchors = "anchors-foreign-root.pem"}, 0, NULL, NULL},
    {"untrusted-issuer", "its CA added (hashed directory)", {.anchors = "anchors-dir"}, 0, NULL, NULL},
    {"good", "anchors a bundle of two CAs", {.anchors = "anchors-foreign-root.pem"}, 0, NULL, NULL},
    {"good", "anchors a hashed directory", {.anchors = "anchors-dir"}, 0, NULL, NULL},
    {"good", "anchors a directory never rehashed", {.anchors = "anchors-unhashed"}, -EKEYREJECTED,
     "unable to get local issuer certificate", NULL},
    /* anchors that cannot be loaded: -EIO, whatever the revocation policy (never skipped) */
    {"good", "anchors missing", {.anchors = "/nonexistent/anchors.pem"}, -EIO, "cannot be loaded",
     "trust_anchors '/nonexistent/anchors.pem' cannot be loaded: No such file or directory"},
    {"good", "anchors missing, soft", {.anchors = "/nonexistent/anchors.pem", .check = "crl", .fail = "soft", .crl = "crl.pem"}, -EIO, NULL, NULL},
    {"good", "anchors not PEM", {.anchors = "ext.cnf"}, -EIO, NULL, "cannot be loaded: no certificate or crl found"},
    /* intermediate CA: the card has the user certificate only */
    {"via-inter", "root only", {.anchors = "ca.pem"}, -EKEYREJECTED, "unable to get local issuer certificate", NULL},
    {"via-inter", "intermediate only", {.anchors = "inter-ca.pem"}, -EKEYREJECTED, "unable to get issuer certificate", NULL},
    {"via-inter", "root + intermediate", {.anchors = "anchors-root-inter.pem"}, 0, NULL, NULL},
    {"via-inter", "root + intermediate, CRLs of both", {.anchors = "anchors-root-inter.pem", .check = "crl", .fail = "hard", .crl = "crls-inter-root.pem"},
     0, NULL, NULL},
    {"via-inter-revoked", "root + intermediate", {.anchors = "anchors-root-inter.pem"}, 0, NULL, NULL},
    {"via-inter-revoked", "crl: the intermediate's CRL lists it",
     {.anchors = "anchors-root-inter.pem", .check = "crl", .crl = "crls-inter-root.pem"}, -EKEYREVOKED, "revoked", NULL},
    {"via-inter-revoked", "crl: CRL directory", {.anchors = "anchors-root-inter.pem", .check = "crl", .crl = "crl-dir"}, -EKEYREVOKED,
     "revoked", NULL},
    {"via-inter", "crl: the root's CRL lists the intermediate",
     {.anchors = "anchors-root-inter.pem", .check = "crl", .crl = "crls-inter-root-revoked.pem"}, -EKEYREVOKED,
     "its issuing CA '/CN=Matrix Intermediate CA' is revoked", NULL},
    {"via-inter", "crl: the root's CRL missing, soft", {.anchors = "anchors-root-inter.pem", .check = "crl", .fail = "soft", .crl = "inter-crl.pem"},
     0, NULL, "revocation status unknown (CRL for '/CN=Matrix Intermediate CA': unable to get certificate CRL)"},
    {"via-inter", "crl: the root's CRL missing, hard", {.anchors = "anchors-root-inter.pem", .check = "crl", .fail = "hard", .crl = "inter-crl.pem"},
     -EKEYREJECTED, "unable to get certificate CRL", NULL},
    /* CRL file missing */
    {"good", "crl_file missing, soft", {.anchors = "ca.pem", .check = "crl", .fail = "soft", .crl = "/nonexistent.crl"}, 0, NULL,
     "<4>revocation status unknown (the CRL file '/nonexistent.crl' cannot be read)"},
    {"good", "crl_file missing, hard", {.anchors = "ca.pem", .check = "crl", .fail = "hard", .crl = "/nonexistent.crl"}, -EKEYREJECTED,
     "the CRL file '/nonexistent.crl' cannot be read", NULL},
    {"good", "crl_file unset, hard", {.anchors = "ca.pem", .check = "crl", .fail = "hard"}, -EKEYREJECTED, "cannot be read", NULL},
    /* OCSP: the URL comes from ocsp_responder, else the first http:// OCSP URL of the AIA */
    {"good", "ocsp, no AIA, no responder, soft", {.anchors = "ca.pem", .check = "ocsp", .fail = "soft"}, 0, NULL,
     "<4>revocation status unknown (no OCSP responder is configured or named by the certificate)"},
    {"good", "ocsp, no AIA, no responder, hard", {.anchors = "ca.pem", .check = "ocsp", .fail = "hard"}, -EKEYREJECTED,
     "no OCSP responder is configured or named by the certificate", NULL},
    {"aia-http", "ocsp from the AIA", {.anchors = "ca.pem", .check = "ocsp", .fail = "hard", .timeout_sec = 1}, -EKEYREJECTED,
     "http://127.0.0.1:9/ocsp cannot be reached", "asking the OCSP responder http://127.0.0.1:9/ocsp (from the certificate's AIA, timeout 1 s)"},
    {"aia-two", "ocsp: the AIA's first http:// OCSP URL", {.anchors = "ca.pem", .check = "ocsp", .fail = "hard", .timeout_sec = 1}, -EKEYREJECTED,
     "http://127.0.0.1:9/second cannot be reached", "asking the OCSP responder http://127.0.0.1:9/second (from"},
    {"aia-https", "ocsp: an https:// AIA only, hard", {.anchors = "ca.pem", .check = "ocsp", .fail = "hard"}, -EKEYREJECTED,
     "the certificate names no http:// OCSP responder (first: https://127.0.0.1:9/ocsp)", NULL},
    {"aia-https", "ocsp: an https:// AIA only, soft", {.anchors = "ca.pem", .check = "ocsp", .fail = "soft"}, 0, NULL, "names no http:// OCSP responder"},
    {"aia-http", "ocsp_responder wins over the AIA", {.anchors = "ca.pem", .check = "ocsp", .fail = "hard", .ocsp = "http://127.0.0.1:1/"},
     -EKEYREJECTED, "http://127.0.0.1:1/ cannot be reached", "asking the OCSP responder http://127.0.0.1:1/ (ocsp_responder"},
    {"aia-http", "ocsp_responder empty = unset: the AIA", {.anchors = "ca.pem", .check = "ocsp", .fail = "hard", .ocsp = "", .timeout_sec = 1}, -EKEYREJECTED,
     NULL, "from the certificate's AIA"},
    {"aia-http", "default (revocation_check = none): no request", {.anchors = "ca.pem"}, 0, NULL, NULL},
};

static void
test_trust_matrix(void **state)
{
    char reason[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct trust_case *c = &cases[i];
        int r = check(&c->policy, c->cert, c->what, reason, sizeof(reason));

        if (r != c->want)
            fail_msg("%s, %s: got %s (%s), want %s\nlog:\n%s", c->cert, c->what, err_name(r), reason,
                     err_name(c->want), logbuf);
        if (c->reason && !strstr(reason, c->reason))
            fail_msg("%s, %s: reason '%s' lacks '%s'", c->cert, c->what, reason, c->reason);
        if (c->log && !strstr(logbuf, c->log))
            fail_msg("%s, %s: log lacks '%s':\n%s", c->cert, c->what, c->log, logbuf);
        if (r == 0 && !c->log && strstr(logbuf, "<4>"))
            fail_msg("%s, %s: accepted with a warning:\n%s", c->cert, c->what, logbuf);
    }
}

/* A responder on 127.0.0.1 that never answers: either never accepted (the kernel completes the
 * handshake, the request sits in the backlog), or accepted and fed one header byte every
 * 100 ms, forever. The child is killed by PID. */
static int
listener(int *ret_port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *ret_port = ntohs(a.sin_port);
    return fd;
}

static pid_t
dripper(int fd)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        static const char head[] = "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nX-Slow: ";
        int c = accept(fd, NULL, NULL);
        for (size_t i = 0; c >= 0; i++) {
            char b = i < sizeof(head) - 1 ? head[i] : 'a';
            if (write(c, &b, 1) != 1)
                _exit(0);
            usleep(100000);
        }
        _exit(1);
    }
    return pid;
}

static double
now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ocsp_timeout bounds the whole exchange (connect, request, reply). */
static void
test_ocsp_timeout(void **state)
{
    static const struct {
        const char *kind;
        unsigned timeout;
        bool drip;
    } runs[] = {{"never accepted", 1, false}, {"never accepted", 2, false}, {"one byte per 100 ms", 1, true},
                {"one byte per 100 ms", 2, true}, {"one byte per 100 ms", 1, true}};
    char url[64], reason[256];
    X509 *cert = load("good");

    (void)state;
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        int port, fd = listener(&port);
        pid_t child = runs[i].drip ? dripper(fd) : -1;
        struct pol pol = {.anchors = "ca.pem", .check = "ocsp", .fail = "hard", .ocsp = url,
                          .timeout_sec = runs[i].timeout};
        struct pamsc_trust_policy p;
        double t0, dt;
        int r;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
        policy_build(&pol, &p);
        t0 = now_sec();
        r = pamsc_trust_check(&p, cert, &lg, reason, sizeof(reason));
        dt = now_sec() - t0;
        policy_free(&p);
        assert_int_equal(ERR_peek_error(), 0);
        if (child > 0) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
        }
        close(fd);
        print_message("ocsp_timeout = %u s, responder %s: refused after %.3f s (%s)\n", runs[i].timeout,
                      runs[i].kind, dt, reason);
        assert_int_equal(r, -EKEYREJECTED);
        assert_non_null(strstr(reason, "cannot be reached"));
        if (dt < runs[i].timeout - 0.01 || dt > runs[i].timeout + 0.25)
            fail_msg("ocsp_timeout = %u s but the check took %.3f s", runs[i].timeout, dt);
    }
    X509_free(cert);
}

/* A responder that refuses the connection fails at once, not after ocsp_timeout; and no proxy
 * comes from the environment: http_proxy names a listener that must see no connection. */
static void
test_ocsp_refused_no_proxy(void **state)
{
    char proxy[64], reason[256];
    int port, fd = listener(&port), c;
    struct pol pol = {.anchors = "ca.pem", .check = "ocsp", .fail = "hard", .ocsp = "http://127.0.0.1:1/",
                      .timeout_sec = 3};
    double t0, dt;
    int r;

    (void)state;
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
    setenv("http_proxy", proxy, 1);
    setenv("HTTP_PROXY", proxy, 1);
    t0 = now_sec();
    r = check(&pol, "good", "refused, http_proxy set", reason, sizeof(reason));
    dt = now_sec() - t0;
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    c = poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 0); /* 1: a connection is waiting */
    close(fd);
    print_message("responder refusing connections: refused after %.3f s for two checks (%s)\n", dt, reason);
    assert_int_equal(r, -EKEYREJECTED);
    assert_non_null(strstr(reason, "http://127.0.0.1:1/ cannot be reached (connection failed)"));
    if (c != 0)
        fail_msg("the OCSP request went to http_proxy %s", proxy);
    if (dt > 0.5)
        fail_msg("a refused connection took %.2f s for two checks (ocsp_timeout = 3 s)", dt);
}

/* ocsp_responder must be an http:// URL; the words of revocation_check/_fail are checked too. */
static void
test_policy_check(void **state)
{
    static const struct {
        const char *check, *fail, *ocsp, *log;
    } bad[] = {
        {"sometimes", NULL, NULL, "bad revocation_check 'sometimes'"},
        {NULL, "maybe", NULL, "bad revocation_fail 'maybe'"},
        {"ocsp", NULL, "https://ocsp.example/", "bad ocsp_responder 'https://ocsp.example/'"},
        {"ocsp", NULL, "ldap://ocsp.example/", "bad ocsp_responder"},
        {"ocsp", NULL, "ocsp.example:80", "bad ocsp_responder"},
        {"ocsp", NULL, "http://", "bad ocsp_responder"},
        {"ocsp", NULL, "HTTP://ocsp.example/", "bad ocsp_responder"},
    };
    static const char *const good[] = {"http://127.0.0.1:8080/ocsp", "http://ocsp.example", "http://[::1]:80/", ""};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pamsc_trust_policy p = {.revocation_check = (char *)bad[i].check,
                                       .revocation_fail = (char *)bad[i].fail,
                                       .ocsp_responder = (char *)bad[i].ocsp};
        logbuf[0] = '\0';
        assert_int_equal(pamsc_trust_policy_check(&p, &lg), -EINVAL);
        if (!strstr(logbuf, bad[i].log))
            fail_msg("log lacks '%s': %s", bad[i].log, logbuf);
        assert_int_equal(ERR_peek_error(), 0);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct pamsc_trust_policy p = {.revocation_check = (char *)"ocsp", .ocsp_responder = (char *)good[i]};
        assert_int_equal(pamsc_trust_policy_check(&p, &lg), 0);
        assert_int_equal(ERR_peek_error(), 0);
    }
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trust_matrix),
        cmocka_unit_test(test_ocsp_timeout),
        cmocka_unit_test(test_ocsp_refused_no_proxy),
        cmocka_unit_test(test_policy_check),
    };
    char cmd[512];
    int rc;

    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: the openssl CLI is not installed\n");
        return 77;
    }
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
