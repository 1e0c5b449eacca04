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
    {NULL, NULL, 0, 0, 0, 0},
};

int
rm_conf_load(const char *path, struct rm_conf *conf, const struct sc_logger *lg)
{
    *conf = (struct rm_conf){.presence_poll_usec = RM_DEFAULT_POLL_USEC};
    conf->socket = strdup(SC_DEFAULT_SOCKET);
    conf->readers_dir = strdup(RM_DEFAULT_READERS_DIR);
    if (!conf->socket || !conf->readers_dir)
        return -ENOMEM;
    return sc_conf_load(path, rm_conf_table, conf, lg);
}

void
rm_conf_done(struct rm_conf *conf)
{
    sc_conf_free(rm_conf_table, conf);
}
