/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scard-login: drive one sign-in through the real libpam (authenticate, acct_mgmt,
 * setcred, open_session, close_session) with a terminal or scripted conversation, and
 * report the session environment; or, with --chauthtok, one PIN/password change
 * (pam_chauthtok). Used by the demo and the integration tests.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <security/pam_appl.h>

#include "common/log.h"
#include "common/secret.h"

struct conv_data {
    const char *pin_file; /* NULL: ask on the terminal */
};

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

static int
step(pam_handle_t *pamh, const char *what, int rc)
{
    if (rc != PAM_SUCCESS)
        fprintf(stderr, "scard-login: %s: %s (PAM status %d)\n", what, pam_strerror(pamh, rc), rc);
    return rc;
}

static int
run(const char *confdir, const char *service, const char *user, struct conv_data *cd)
{
    struct pam_conv conv = {conversation, cd};
    pam_handle_t *pamh = NULL;
    int rc;

    rc = confdir ? pam_start_confdir(service, user, &conv, confdir, &pamh) : pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "scard-login: pam_start: PAM status %d\n", rc);
        return rc;
    }
    rc = step(pamh, "authenticate", pam_authenticate(pamh, 0));
    if (rc == PAM_SUCCESS)
        rc = step(pamh, "acct_mgmt", pam_acct_mgmt(pamh, 0));
    if (rc == PAM_SUCCESS)
        rc = step(pamh, "setcred", pam_setcred(pamh, PAM_ESTABLISH_CRED));
    if (rc == PAM_SUCCESS)
        rc = step(pamh, "open_session", pam_open_session(pamh, 0));
    if (rc == PAM_SUCCESS) {
        print_session(pamh);
        rc = step(pamh, "close_session", pam_close_session(pamh, 0));
    }
    pam_end(pamh, rc);
    return rc;
}

/* pam_chauthtok alone: the PRELIM and UPDATE passes of the service's password stack. */
static int
run_chauthtok(const char *confdir, const char *service, const char *user, struct conv_data *cd)
{
    struct pam_conv conv = {conversation, cd};
    pam_handle_t *pamh = NULL;
    int rc;

    rc = confdir ? pam_start_confdir(service, user, &conv, confdir, &pamh) : pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "scard-login: pam_start: PAM status %d\n", rc);
        return rc;
    }
    rc = step(pamh, "chauthtok", pam_chauthtok(pamh, 0));
    pam_end(pamh, rc);
    return rc;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: scard-login [--confdir DIR] [--service NAME] [--pin-file FILE] [--chauthtok] USER\n"
               "  USER \"\" starts PAM with no user name (the card or the modules decide).\n"
               "  Runs authenticate, acct_mgmt, setcred(ESTABLISH), open_session and close_session\n"
               "  of PAM service NAME (default scard-login; service files from DIR if given);\n"
               "  with --chauthtok, pam_chauthtok (change the PIN or password) instead.\n"
               "  PINs come from FILE's first line (- = stdin, one line per prompt), else from the\n"
               "  terminal (no echo).\n"
               "  Exit status: 0, or the PAM status of the step that failed; %d on usage errors.\n",
            EX_USAGE);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"confdir", required_argument, NULL, 'c'},
        {"service", required_argument, NULL, 's'},
        {"pin-file", required_argument, NULL, 'p'},
        {"chauthtok", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *confdir = NULL, *service = "scard-login";
    struct conv_data cd = {NULL};
    bool chauthtok = false;
    int c;

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
    const char *user = argv[optind][0] ? argv[optind] : NULL; /* "": no user name given */
    if (chauthtok)
        return run_chauthtok(confdir, service, user, &cd);
    return run(confdir, service, user, &cd);
}
