/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scard-login: drive one sign-in through the real libpam (authenticate, acct_mgmt,
 * setcred, open_session, close_session) with a terminal or scripted conversation, and
 * report the session environment; or, with --chauthtok, one PIN/password change
 * (pam_chauthtok). Used by the demo and the integration tests, which may also run a command
 * at each PIN prompt (--on-prompt), see the caller's OpenSSL error queue after each step
 * (--openssl-errors) and count the copies of the PIN left in memory (--selfcheck-secret).
 */
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>

#include <openssl/err.h>
#include <security/pam_appl.h>

#include "common/log.h"
#include "common/secret.h"
#include "tools/secret-scan.h"

extern char **environ;

struct conv_data {
    const char *pin_file;  /* NULL: ask on the terminal */
    const char *on_prompt; /* shell command run before a PIN prompt is answered, or NULL */
    bool ssl_errors;       /* report the OpenSSL error queue after each PAM call */
};

/* --on-prompt: run "sh -c CMD scard-login PROMPT" and wait for it. */
static void
run_hook(const char *cmd, const char *prompt)
{
    char *argv[] = {"sh", "-c", (char *)cmd, "scard-login", (char *)prompt, NULL};
    pid_t pid;
    int status = 0, r;

    fflush(NULL);
    r = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
    if (r != 0) {
        fprintf(stderr, "scard-login: --on-prompt: cannot run /bin/sh: %s\n", strerror(r));
        return;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "scard-login: --on-prompt command failed (status %#x)\n", (unsigned)status);
}

static void
free_replies(struct pam_response *r, int n)
{
    for (int i = 0; i < n; i++)
        sc_secret_free(r[i].resp);
    free(r);
}

static int
answer(const struct pam_message *m, const struct conv_data *cd, char **ret)
{
    char line[256];

    switch (m->msg_style) {
    case PAM_PROMPT_ECHO_OFF:
        if (cd->on_prompt)
            run_hook(cd->on_prompt, m->msg);
        if (cd->pin_file) {
            printf("%s\n", m->msg); /* show the prompt, so that scripts can check it */
            fflush(stdout);
        }
        return sc_secret_read(cd->pin_file, m->msg, ret) == 0 ? 0 : -1;
    case PAM_PROMPT_ECHO_ON:
        fputs(m->msg, stdout);
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin))
            return -1;
        line[strcspn(line, "\n")] = '\0';
        *ret = strdup(line);
        return *ret ? 0 : -1;
    case PAM_ERROR_MSG:
        fprintf(stderr, "%s\n", m->msg);
        return 0;
    case PAM_TEXT_INFO:
        printf("%s\n", m->msg);
        fflush(stdout);
        return 0;
    default:
        return -1;
    }
}

static int
conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    struct pam_response *r;

    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    r = calloc((size_t)n, sizeof(*r));
    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++)
        if (answer(msg[i], data, &r[i].resp) < 0) {
            free_replies(r, n);
            return PAM_CONV_ERR;
        }
    *resp = r;
    return PAM_SUCCESS;
}

static void
print_session(pam_handle_t *pamh)
{
    static const char *const keys[] = {"KRB5CCNAME", "PKCS11_LOGIN_TOKEN_NAME", "SCARD_READER"};
    const void *user = NULL;
    char **env = pam_getenvlist(pamh);

    if (pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user)
        printf("user=%s\n", (const char *)user);
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        for (char **e = env; e && *e; e++)
            if (strncmp(*e, keys[k], strlen(keys[k])) == 0 && (*e)[strlen(keys[k])] == '=')
                printf("%s\n", *e);
    for (char **e = env; e && *e; e++)
        free(*e);
    free(env);
}

/* --openssl-errors: the application's own entry (a sentinel put in the queue before every PAM
 * call) must be there after it, and nothing else: a module neither leaves errors behind nor
 * takes the application's away. */
#define SENTINEL_REASON 4242

static void
seed_ssl_errors(const struct conv_data *cd)
{
    if (cd->ssl_errors)
        ERR_raise_data(ERR_LIB_USER, SENTINEL_REASON, "scard-login's own error");
}

static void
report_ssl_errors(const struct conv_data *cd, const char *what)
{
    char buf[256] = "";
    unsigned long e;
    int n = 0, sentinel = 0;

    if (!cd->ssl_errors)
        return;
    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(e) == ERR_LIB_USER && ERR_GET_REASON(e) == SENTINEL_REASON) {
            sentinel++;
            continue;
        }
        if (n++ == 0)
            ERR_error_string_n(e, buf, sizeof(buf));
    }
    if (n == 0 && sentinel == 1)
        printf("openssl-error-queue after %s: empty\n", what);
    else if (n == 0)
        printf("openssl-error-queue after %s: the application's own error was removed\n", what);
    else
        printf("openssl-error-queue after %s: %d error(s), first %s\n", what, n, buf);
    seed_ssl_errors(cd); /* for the next call */
}

static int
step(pam_handle_t *pamh, const struct conv_data *cd, const char *what, int rc)
{
    if (rc != PAM_SUCCESS)
        fprintf(stderr, "scard-login: %s: %s (PAM status %d)\n", what, pam_strerror(pamh, rc), rc);
    report_ssl_errors(cd, what);
    return rc;
}

/* One PAM transaction: authenticate, acct_mgmt, setcred, open and close the session; or, with
 * @p chauthtok, pam_chauthtok alone (the PRELIM and UPDATE passes of the password stack). */
static int
run(const char *confdir, const char *service, const char *user, struct conv_data *cd, bool chauthtok)
{
    struct pam_conv conv = {conversation, cd};
    pam_handle_t *pamh = NULL;
    int rc;

    rc = confdir ? pam_start_confdir(service, user, &conv, confdir, &pamh) : pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "scard-login: pam_start: PAM status %d\n", rc);
        return rc;
    }
    seed_ssl_errors(cd);
    if (chauthtok) {
        rc = step(pamh, cd, "chauthtok", pam_chauthtok(pamh, 0));
        goto end;
    }
    rc = step(pamh, cd, "authenticate", pam_authenticate(pamh, 0));
    if (rc == PAM_SUCCESS)
        rc = step(pamh, cd, "acct_mgmt", pam_acct_mgmt(pamh, 0));
    if (rc == PAM_SUCCESS)
        rc = step(pamh, cd, "setcred", pam_setcred(pamh, PAM_ESTABLISH_CRED));
    if (rc == PAM_SUCCESS)
        rc = step(pamh, cd, "open_session", pam_open_session(pamh, 0));
    if (rc == PAM_SUCCESS) {
        print_session(pamh);
        rc = step(pamh, cd, "close_session", pam_close_session(pamh, 0));
    }
end:
    pam_end(pamh, rc);
    report_ssl_errors(cd, "pam_end");
    (void)ERR_get_error(); /* the last sentinel */
    return rc;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: scard-login [--confdir DIR] [--service NAME] [--pin-file FILE] [--chauthtok]\n"
               "                   [--on-prompt CMD] [--openssl-errors] [--selfcheck-secret FILE] USER\n"
               "  USER \"\" starts PAM with no user name (the card or the modules decide).\n"
               "  Runs authenticate, acct_mgmt, setcred(ESTABLISH), open_session and close_session\n"
               "  of PAM service NAME (default scard-login; service files from DIR if given);\n"
               "  with --chauthtok, pam_chauthtok (change the PIN or password) instead.\n"
               "  PINs come from FILE's first line (- = stdin, one line per prompt), else from the\n"
               "  terminal (no echo).\n"
               "Test aids:\n"
               "  --on-prompt CMD         run CMD with /bin/sh before answering each PIN prompt\n"
               "                          (the prompt is $1); the answer waits for it\n"
               "  --openssl-errors        print this thread's OpenSSL error queue after each PAM\n"
               "                          call and after pam_end (\"openssl-error-queue after X: empty\":\n"
               "                          only the application's own entry, put there before each call)\n"
               "  --selfcheck-secret FILE after pam_end, count the copies of FILE's first line left\n"
               "                          in this process's writable memory: \"secret-copies: N (in hex\n"
               "                          dumps: M)\" (the address of each to stderr; M: copies in the\n"
               "                          text column of a hex dump; the secret is never printed)\n"
               "  Exit status: 0, or the PAM status of the step that failed; %d on usage errors;\n"
               "  %d when the self-check cannot run.\n",
            EX_USAGE, EX_SOFTWARE);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"confdir", required_argument, NULL, 'c'},
        {"service", required_argument, NULL, 's'},
        {"pin-file", required_argument, NULL, 'p'},
        {"chauthtok", no_argument, NULL, 'C'},
        {"on-prompt", required_argument, NULL, 'P'},
        {"openssl-errors", no_argument, NULL, 'E'},
        {"selfcheck-secret", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *confdir = NULL, *service = "scard-login", *selfcheck = NULL;
    struct conv_data cd = {NULL};
    struct secret_needle needle;
    struct secret_scan scan;
    bool chauthtok = false;
    int c, rc;

    sc_log_setup("scard-login", LOG_INFO, false);
    while ((c = getopt_long(argc, argv, "c:s:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            confdir = optarg;
            break;
        case 's':
            service = optarg;
            break;
        case 'p':
            cd.pin_file = optarg;
            break;
        case 'C':
            chauthtok = true;
            break;
        case 'P':
            cd.on_prompt = optarg;
            break;
        case 'E':
            cd.ssl_errors = true;
            break;
        case 'S':
            selfcheck = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return EX_USAGE;
    }
    if (selfcheck) {
        c = secret_needle_load(selfcheck, &needle);
        if (c < 0) {
            fprintf(stderr, "scard-login: --selfcheck-secret %s: %s\n", selfcheck, strerror(-c));
            return EX_USAGE;
        }
    }
    const char *user = argv[optind][0] ? argv[optind] : NULL; /* "": no user name given */
    rc = run(confdir, service, user, &cd, chauthtok);
    if (selfcheck) {
        fflush(stdout);
        c = secret_scan_count(&needle, stderr, &scan);
        if (c < 0) {
            fprintf(stderr, "scard-login: --selfcheck-secret: cannot scan memory: %s\n", strerror(-c));
            return EX_SOFTWARE;
        }
        printf("secret-copies: %d (in hex dumps: %d)\n", scan.copies, scan.in_hex_dumps);
    }
    return rc;
}
