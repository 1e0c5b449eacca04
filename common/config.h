/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one configuration format of the project: /etc/scard/scard.conf (INI, one section
 * per component) plus /etc/scard/scard.conf.d/ *.conf drop-ins, later files winning.
 * Each component describes its keys in a typed table and loads them into its own struct.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

enum sc_conf_type {
    SC_CONF_STRING,  /* char *, malloc'd, replaced (old value freed) */
    SC_CONF_BOOL,    /* bool: yes/no, true/false, on/off, 1/0 */
    SC_CONF_UINT,    /* unsigned int within [min, max] */
    SC_CONF_SECONDS, /* uint64_t microseconds; written in whole seconds within [min, max] */
    SC_CONF_MSEC,    /* uint64_t microseconds; written in milliseconds within [min, max] */
};

struct sc_conf_key {
    const char *section; /* one of sc_conf_sections[] */
    const char *name;
    enum sc_conf_type type;
    size_t offset; /* offsetof() the field in the caller's struct */
    unsigned min, max;
};

/** Section names every component knows; a section outside this list is an error. */
extern const char *const sc_conf_sections[];

/**
 * Load the configuration into a caller's struct, described by @p table.
 * @param[in]     path   main file; NULL = $SCARD_CONF, else SC_DEFAULT_CONF. Drop-ins are read
 *                       from "<path>.d/ *.conf" in name order, after the main file.
 * @param[in]     table  keys this caller understands, terminated by an entry with name NULL.
 *                       Keys of other known sections are skipped (other components check them).
 * @param[in,out] conf   struct already holding the defaults; string fields NULL or malloc'd.
 *                       On failure it may hold values from before the error line.
 * @param[in]     lg     where errors go (NULL = default logger); each names file:line
 * @return 0; -ENOENT the main file was named explicitly (argument or SCARD_CONF) and is
 *         missing (the default file may be absent); -EINVAL unknown section or key, or a bad
 *         value (logged with file:line); -EIO read error; -ENOMEM
 */
int sc_conf_load(const char *path, const struct sc_conf_key *table, void *conf,
                 const struct sc_logger *lg);

/**
 * Set one key from its text value, with the same syntax and ranges as the file
 * (used for PAM module arguments, which override the file).
 * @param[in]     table    key table as for sc_conf_load()
 * @param[in,out] conf     the caller's struct; unchanged on failure
 * @param[in]     section  section the key belongs to, e.g. "logon"
 * @param[in]     name     key name
 * @param[in]     value    text value, NUL-terminated
 * @return 0; -ENOENT no such key in @p section of @p table; -EINVAL bad value; -ENOMEM
 * Never logs: sc_conf_describe() gives the expected form for an error message.
 */
int sc_conf_set(const struct sc_conf_key *table, void *conf, const char *section, const char *name,
                const char *value);

/**
 * Describe what values @p k accepts ("yes or no", "seconds, from 0 to 3600"…).
 * @return @p buf, or a static string; never NULL
 */
const char *sc_conf_describe(const struct sc_conf_key *k, char *buf, size_t size);

/** Free the string fields that @p table names in @p conf (sets them NULL). */
void sc_conf_free(const struct sc_conf_key *table, void *conf);

/** The main file that sc_conf_load(NULL, …) reads: $SCARD_CONF or SC_DEFAULT_CONF. */
const char *sc_conf_default_path(void);
