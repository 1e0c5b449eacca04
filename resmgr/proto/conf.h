/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The [resmgr] section of scard.conf, shared by scardd and libscard so that both
 * agree on the socket path and neither rejects the other's keys.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

#define RM_DEFAULT_READERS_DIR "/etc/scard/readers.d"
#define RM_DEFAULT_POLL_USEC (400u * 1000u)
#define RM_DEFAULT_AUTO_EXIT_USEC (60u * 1000u * 1000u) /* Windows and pcscd --auto-exit: 60 s */
#define RM_DEFAULT_TX_IDLE_USEC (5u * 1000u * 1000u) /* Windows 8+: 5 s, windows.md §1.5 */
#define RM_DEFAULT_MAX_CLIENTS 200            /* pcscd's default --max-thread */
#define RM_DEFAULT_MAX_CONTEXTS_PER_UID 64
#define RM_DEFAULT_MAX_HANDLES_PER_CONTEXT 200 /* pcscd's --max-card-handle-per-thread */
/* a driver call pending this long is logged and its reader marked defective
 * (Windows event 619 warns after 150 s, windows.md §1); drivers_dir from configure. */
#define RM_DEFAULT_DRIVER_HANG_USEC (150ull * 1000u * 1000u)
#ifndef RM_DEFAULT_DRIVERS_DIR
#define RM_DEFAULT_DRIVERS_DIR "/usr/lib/pcsc/drivers"
#endif

struct rm_conf {
    char *socket;                 /* socket path, malloc'd */
    char *readers_dir;            /* reader.conf-style files, malloc'd */
    uint64_t presence_poll_usec;  /* IFDHICCPresence interval, microseconds */
    uint64_t auto_exit_usec;      /* auto_exit, idle time before scardd exits, usec, 0 = never */
    /* sessions, access and limits (see resmgr/daemon/access.h, actor.c) */
    uint64_t tx_idle_usec;        /* transaction_idle_timeout, microseconds, 0 = off */
    char *allowed_groups;         /* space-separated group names, malloc'd or NULL */
    bool allow_local_seat;        /* allow_users_on_local_seat */
    bool allow_all;               /* allow_all: every local uid (tests, containers) */
    unsigned max_clients;         /* connections (contexts) in total */
    unsigned max_contexts_per_uid;
    unsigned max_handles_per_context;
    bool trace_apdus;             /* log command/response APDUs (PIN data masked) */
    /* readers: USB hot-plug and driver robustness */
    char *drivers_dir;            /* USB IFD handler bundles (Info.plist), malloc'd */
    bool hotplug;                 /* hotplug: USB readers through libudev */
    uint64_t driver_hang_usec;    /* driver_hang_warning: a driver call this long marks the reader defective */
};

/** Keys of [resmgr], for sc_conf_load()/sc_conf_free(). */
extern const struct sc_conf_key rm_conf_table[];

/**
 * Fill @p conf with defaults, then load @p path ([resmgr] only).
 * @param[in]  path  main file, NULL = $SCARD_CONF or SC_DEFAULT_CONF
 * @param[out] conf  defaults plus file values; free with rm_conf_done() (also on failure)
 * @param[in]  lg    logger for file errors (NULL = default)
 * @return as sc_conf_load(); -ENOMEM
 */
int rm_conf_load(const char *path, struct rm_conf *conf, const struct sc_logger *lg);

/** Free the strings of @p conf. */
void rm_conf_done(struct rm_conf *conf);
