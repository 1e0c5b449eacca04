/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scardd entry point: command line, [resmgr] configuration, logging set-up, detaching
 * (never under systemd socket activation), readiness notification (sd_notify, for
 * Type=notify), then the manager's event loop until SIGTERM/SIGINT or auto-exit.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "resmgr/daemon/scardd.h"

struct options {
    const char *config;
    bool foreground, debug, apdu;
    long auto_exit_sec; /* -1: as configured */
};

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: scardd [OPTION]...\n"
            "PC/SC resource manager: serves libscard clients and drives IFD handlers.\n\n"
            "  -f, --foreground            stay in the foreground and log to stderr\n"
            "  -c, --config FILE           configuration file (default: $SCARD_CONF or %s)\n"
            "  -x, --auto-exit[=SECONDS]   exit after SECONDS (default %u) with no reader and\n"
            "                              no client call; 0 = never (overrides auto_exit)\n"
            "  -d, --debug                 log debug messages\n"
            "  -a, --apdu                  trace APDUs (data of PIN commands masked; as trace_apdus)\n"
            "  -h, --help                  show this help\n"
            "Started by systemd with a listening socket (LISTEN_FDS), scardd serves that socket,\n"
            "stays in the foreground and leaves the socket in place when it exits.\n",
            SC_DEFAULT_CONF, (unsigned)(RM_DEFAULT_AUTO_EXIT_USEC / 1000000u));
}

/* Whole seconds, 0..86400 (the range of the auto_exit key). @return 0; -EINVAL */
static int
parse_seconds(const char *s, long *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 86400)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* @return 0 parsed; 1 help printed; -EINVAL usage error (printed) */
static int
parse_argv(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"auto-exit", optional_argument, NULL, 'x'},
        {"debug", no_argument, NULL, 'd'},
        {"apdu", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct options){.auto_exit_sec = -1};
    while ((c = getopt_long(argc, argv, "fc:x::dah", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o->foreground = true;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'x':
            if (!optarg)
                o->auto_exit_sec = (long)(RM_DEFAULT_AUTO_EXIT_USEC / 1000000u);
            else if (parse_seconds(optarg, &o->auto_exit_sec) < 0) {
                fprintf(stderr, "scardd: --auto-exit wants whole seconds from 0 to 86400\n");
                return -EINVAL;
            }
            break;
        case 'd':
            o->debug = true;
            break;
        case 'a':
            o->apdu = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct rm_manager *m = NULL;
    struct options o;
    struct rm_conf conf;
    int r, activated;

    r = parse_argv(argc, argv, &o);
    if (r != 0)
        return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    /* Socket activation: the socket belongs to this PID, so never detach (daemon() forks). */
    activated = rm_manager_socket_activated();
    if (activated)
        o.foreground = true;
    sc_log_setup("scardd", o.debug ? LOG_DEBUG : LOG_INFO,
                 !o.foreground && !getenv("JOURNAL_STREAM"));
    if (activated < 0) {
        log_error("systemd passed more than one socket, or not a Unix stream listening socket");
        return EXIT_FAILURE;
    }
    r = rm_conf_load(o.config, &conf, NULL);
    if (r < 0) {
        rm_conf_done(&conf);
        log_error("cannot load the configuration, exiting");
        return EXIT_FAILURE;
    }
    if (o.apdu)
        conf.trace_apdus = true;
    if (o.auto_exit_sec >= 0)
        conf.auto_exit_usec = (uint64_t)o.auto_exit_sec * 1000000u;
    if (!o.foreground && daemon(0, 0) < 0) {
        log_error_errno(-errno, "cannot detach");
        rm_conf_done(&conf);
        return EXIT_FAILURE;
    }
    r = rm_manager_new(&conf, &m);
    rm_conf_done(&conf);
    if (r < 0)
        return EXIT_FAILURE;
    (void)sd_notify(0, "READY=1\nSTATUS=Serving PC/SC clients");
    r = rm_manager_run(m);
    (void)sd_notify(0, "STOPPING=1");
    rm_manager_free(m);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
