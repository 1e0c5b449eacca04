/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The [resmgr] section of scard.conf, shared by scardd and libscard so that both
 * agree on the socket path and neither rejects the other's keys.
 */
#pragma once

#include <stdint.h>

#include "common/config.h"

#define RM_DEFAULT_READERS_DIR "/etc/scard/readers.d"
#define RM_DEFAULT_POLL_USEC (400u * 1000u)

struct rm_conf {
    char *socket;                 /* socket path, malloc'd */
    char *readers_dir;            /* reader.conf-style files, malloc'd */
    uint64_t presence_poll_usec;  /* IFDHICCPresence interval, microseconds */
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
