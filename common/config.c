/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration loading on top of inih: main file then sorted drop-ins, values
 * checked against a typed key table, every error reported with file:line.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "common/cleanup.h"
#include "common/config.h"

const char *const sc_conf_sections[] = {"resmgr", "logon", "removal", "certprop", "vcard", NULL};

struct parse_state {
    const char *file;
    FILE *f;
    unsigned line;
    const struct sc_conf_key *table;
    void *conf;
    const struct sc_logger *lg;
    int error;
};

const char *
sc_conf_default_path(void)
{
    const char *e = getenv("SCARD_CONF");
    return e && *e ? e : SC_DEFAULT_CONF;
}

static bool
known_section(const char *s)
{
    for (size_t i = 0; sc_conf_sections[i]; i++)
        if (strcmp(sc_conf_sections[i], s) == 0)
            return true;
    return false;
}

static bool
table_has_section(const struct sc_conf_key *t, const char *s)
{
    for (; t->name; t++)
        if (strcmp(t->section, s) == 0)
            return true;
    return false;
}

static int
parse_bool(const char *v, bool *ret)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *ret = true, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *ret = false, 0;
    }
    return -EINVAL;
}

static int
parse_uint(const char *v, unsigned min, unsigned max, unsigned *ret)
{
    char *end;
    unsigned long n;

    if (*v < '0' || *v > '9')
        return -EINVAL;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return -ERANGE;
    *ret = (unsigned)n;
    return 0;
}

static int
set_value(const struct sc_conf_key *k, void *conf, const char *value)
{
    void *field = (char *)conf + k->offset;
    unsigned u;
    bool b;
    int r;

    switch (k->type) {
    case SC_CONF_STRING: {
        char *s = strdup(value);
        if (!s)
            return -ENOMEM;
        free(*(char **)field);
        *(char **)field = s;
        return 0;
    }
    case SC_CONF_BOOL:
        r = parse_bool(value, &b);
        if (r == 0)
            *(bool *)field = b;
        return r;
    case SC_CONF_UINT:
        r = parse_uint(value, k->min, k->max, &u);
        if (r == 0)
            *(unsigned *)field = u;
        return r;
    case SC_CONF_SECONDS:
    case SC_CONF_MSEC:
        r = parse_uint(value, k->min, k->max, &u);
        if (r == 0)
            *(uint64_t *)field = (uint64_t)u * (k->type == SC_CONF_SECONDS ? 1000000u : 1000u);
        return r;
    }
    return -EINVAL;
}

const char *
sc_conf_describe(const struct sc_conf_key *k, char *buf, size_t size)
{
    switch (k->type) {
    case SC_CONF_BOOL:
        return "yes or no";
    case SC_CONF_UINT:
        snprintf(buf, size, "a whole number from %u to %u", k->min, k->max);
        return buf;
    case SC_CONF_SECONDS:
        snprintf(buf, size, "seconds, from %u to %u", k->min, k->max);
        return buf;
    case SC_CONF_MSEC:
        snprintf(buf, size, "milliseconds, from %u to %u", k->min, k->max);
        return buf;
    default:
        return "a string";
    }
}

static const struct sc_conf_key *
find_key(const struct sc_conf_key *table, const char *section, const char *name)
{
    for (const struct sc_conf_key *k = table; k->name; k++)
        if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

int
sc_conf_set(const struct sc_conf_key *table, void *conf, const char *section, const char *name,
            const char *value)
{
    const struct sc_conf_key *k = find_key(table, section, name);
    if (!k)
        return -ENOENT;
    int r = set_value(k, conf, value);
    return r < 0 && r != -ENOMEM ? -EINVAL : r;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *st = user;
    char hint[64];

    if (st->error)
        return 0;
    if (!name) /* section header alone (inih with INI_CALL_HANDLER_ON_NEW_SECTION) */
        return 1;
    if (!*section) {
        sc_log(st->lg, LOG_ERR, "%s:%u: key '%s' outside any section", st->file, st->line, name);
        st->error = -EINVAL;
        return 0;
    }
    if (!known_section(section)) {
        sc_log(st->lg, LOG_ERR, "%s:%u: unknown section [%s]", st->file, st->line, section);
        st->error = -EINVAL;
        return 0;
    }
    if (!table_has_section(st->table, section))
        return 1; /* another component's section */
    int r = sc_conf_set(st->table, st->conf, section, name, value);
    if (r == -ENOENT)
        sc_log(st->lg, LOG_ERR, "%s:%u: unknown key '%s' in [%s]", st->file, st->line, name, section);
    else if (r == -EINVAL)
        sc_log(st->lg, LOG_ERR, "%s:%u: [%s] %s = '%s': expected %s", st->file, st->line, section,
               name, value, sc_conf_describe(find_key(st->table, section, name), hint, sizeof(hint)));
    if (r < 0) {
        st->error = r == -ENOMEM ? r : -EINVAL;
        return 0;
    }
    return 1;
}

/* inih reader that counts lines, so that errors can name file:line whatever inih was built with. */
static char *
counting_reader(char *str, int num, void *stream)
{
    struct parse_state *st = stream;
    char *s = fgets(str, num, st->f);
    if (s)
        st->line++;
    return s;
}

static int
load_file(const char *file, bool must_exist, const struct sc_conf_key *table, void *conf,
          const struct sc_logger *lg)
{
    _cleanup_fclose_ FILE *f = fopen(file, "re");
    struct parse_state st = {.file = file, .table = table, .conf = conf, .lg = lg};
    int r;

    if (!f) {
        if (errno == ENOENT && !must_exist)
            return 0;
        r = -errno;
        return sc_log_errno(lg, LOG_ERR, r, "cannot open configuration file '%s'", file);
    }
    st.f = f;
    r = ini_parse_stream(counting_reader, &st, handler, &st);
    if (st.error)
        return st.error;
    if (r < 0)
        return sc_log_errno(lg, LOG_ERR, -EIO, "cannot read '%s'", file);
    if (r > 0) {
        sc_log(lg, LOG_ERR, "%s:%d: syntax error", file, r);
        return -EINVAL;
    }
    return 0;
}

static int
dropin_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

int
sc_conf_load(const char *path, const struct sc_conf_key *table, void *conf,
             const struct sc_logger *lg)
{
    const char *env = getenv("SCARD_CONF");
    bool explicit_path = path || (env && *env);
    char dir[PATH_MAX];
    struct dirent **list = NULL;
    int n, r;

    if (!path)
        path = sc_conf_default_path();
    r = load_file(path, explicit_path, table, conf, lg);
    if (r < 0)
        return r;
    if ((size_t)snprintf(dir, sizeof(dir), "%s.d", path) >= sizeof(dir))
        return -ENAMETOOLONG;
    n = scandir(dir, &list, dropin_filter, alphasort);
    if (n < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : sc_log_errno(lg, LOG_ERR, -errno, "cannot list '%s'", dir);
    for (int i = 0; i < n; i++) {
        char file[PATH_MAX];
        if (r == 0) {
            if ((size_t)snprintf(file, sizeof(file), "%s/%s", dir, list[i]->d_name) >= sizeof(file))
                r = -ENAMETOOLONG;
            else
                r = load_file(file, true, table, conf, lg);
        }
        free(list[i]);
    }
    free(list);
    return r;
}

void
sc_conf_free(const struct sc_conf_key *table, void *conf)
{
    for (const struct sc_conf_key *k = table; k->name; k++)
        if (k->type == SC_CONF_STRING) {
            char **p = (char **)((char *)conf + k->offset);
            free(*p);
            *p = NULL;
        }
}
