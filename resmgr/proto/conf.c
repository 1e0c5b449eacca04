/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * [resmgr] configuration keys and defaults (socket, readers_dir,
 * presence_poll_interval), loaded through common/config.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "resmgr/proto/conf.h"

const struct sc_conf_key rm_conf_table[] = {
    {"resmgr", "socket", SC_CONF_STRING, offsetof(struct rm_conf, socket), 0, 0},
    {"resmgr", "readers_dir", SC_CONF_STRING, offsetof(struct rm_conf, readers_dir), 0, 0},
    {"resmgr", "presence_poll_interval", SC_CONF_MSEC,
     offsetof(struct rm_conf, presence_poll_usec), 10, 60000},
    /* exit when idle with no reader (0 = never) */
    {"resmgr", "auto_exit", SC_CONF_SECONDS, offsetof(struct rm_conf, auto_exit_usec), 0, 86400},
    /* transactions, access control, limits, APDU tracing */
    {"resmgr", "transaction_idle_timeout", SC_CONF_SECONDS, offsetof(struct rm_conf, tx_idle_usec),
     0, 3600},
    {"resmgr", "allowed_groups", SC_CONF_STRING, offsetof(struct rm_conf, allowed_groups), 0, 0},
    {"resmgr", "allow_users_on_local_seat", SC_CONF_BOOL,
     offsetof(struct rm_conf, allow_local_seat), 0, 0},
    {"resmgr", "allow_all", SC_CONF_BOOL, offsetof(struct rm_conf, allow_all), 0, 0},
    {"resmgr", "max_clients", SC_CONF_UINT, offsetof(struct rm_conf, max_clients), 1, 65536},
    {"resmgr", "max_contexts_per_uid", SC_CONF_UINT, offsetof(struct rm_conf, max_contexts_per_uid),
     1, 65536},
    {"resmgr", "max_handles_per_context", SC_CONF_UINT,
     offsetof(struct rm_conf, max_handles_per_context), 1, 65536},
    {"resmgr", "trace_apdus", SC_CONF_BOOL, offsetof(struct rm_conf, trace_apdus), 0, 0},
    /* USB hot-plug, driver hang limit (seconds, 1 s minimum for tests) */
    {"resmgr", "drivers_dir", SC_CONF_STRING, offsetof(struct rm_conf, drivers_dir), 0, 0},
    {"resmgr", "hotplug", SC_CONF_BOOL, offsetof(struct rm_conf, hotplug), 0, 0},
    {"resmgr", "driver_hang_warning", SC_CONF_SECONDS, offsetof(struct rm_conf, driver_hang_usec),
     1, 86400},
    {NULL, NULL, 0, 0, 0, 0},
};

int
rm_conf_load(const char *path, struct rm_conf *conf, const struct sc_logger *lg)
{
    *conf = (struct rm_conf){.presence_poll_usec = RM_DEFAULT_POLL_USEC,
                             .auto_exit_usec = RM_DEFAULT_AUTO_EXIT_USEC};
    /* defaults */
    conf->tx_idle_usec = RM_DEFAULT_TX_IDLE_USEC;
    conf->allow_local_seat = true;
    conf->max_clients = RM_DEFAULT_MAX_CLIENTS;
    conf->max_contexts_per_uid = RM_DEFAULT_MAX_CONTEXTS_PER_UID;
    conf->max_handles_per_context = RM_DEFAULT_MAX_HANDLES_PER_CONTEXT;
    conf->socket = strdup(SC_DEFAULT_SOCKET);
    conf->readers_dir = strdup(RM_DEFAULT_READERS_DIR);
    /* defaults */
    conf->drivers_dir = strdup(RM_DEFAULT_DRIVERS_DIR);
    conf->hotplug = true;
    conf->driver_hang_usec = RM_DEFAULT_DRIVER_HANG_USEC;
    if (!conf->socket || !conf->readers_dir || !conf->drivers_dir)
        return -ENOMEM;
    return sc_conf_load(path, rm_conf_table, conf, lg);
}

void
rm_conf_done(struct rm_conf *conf)
{
    sc_conf_free(rm_conf_table, conf);
}
