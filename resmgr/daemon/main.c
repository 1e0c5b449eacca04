/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scardd entry point: command line, [resmgr] configuration, logging set-up, then the
 * manager's event loop until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "resmgr/daemon/scardd.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: scardd [OPTION]...\n"
            "PC/SC resource manager: serves libscard clients and drives IFD handlers.\n\n"
            "  -f, --foreground   stay in the foreground and log to stderr\n"
            "  -c, --config FILE  configuration file (default: $SCARD_CONF or %s)\n"
            "  -d, --debug        log debug messages\n"
            "  -h, --help         show this help\n",
            SC_DEFAULT_CONF);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    bool foreground = false, debug = false;
    struct rm_manager *m = NULL;
    struct rm_conf conf;
    int c, r;

    while ((c = getopt_long(argc, argv, "fc:dh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            foreground = true;
            break;
        case 'c':
            config = optarg;
            break;
        case 'd':
            debug = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            usage(stderr);
            return EXIT_FAILURE;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return EXIT_FAILURE;
    }
    sc_log_setup("scardd", debug ? LOG_DEBUG : LOG_INFO, !foreground && !getenv("JOURNAL_STREAM"));
    r = rm_conf_load(config, &conf, NULL);
    if (r < 0) {
        rm_conf_done(&conf);
        log_error("cannot load the configuration, exiting");
        return EXIT_FAILURE;
    }
    if (!foreground && daemon(0, 0) < 0) {
        r = log_error_errno(-errno, "cannot detach");
        rm_conf_done(&conf);
        return EXIT_FAILURE;
    }
    r = rm_manager_new(&conf, &m);
    rm_conf_done(&conf);
    if (r < 0)
        return EXIT_FAILURE;
    r = rm_manager_run(m);
    rm_manager_free(m);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
