/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader configuration: every file in readers_dir is read in pcsc-lite's reader.conf
 * syntax (FRIENDLYNAME, DEVICENAME, LIBPATH, CHANNELID; '#' comments), the IFD handler
 * named by LIBPATH is dlopen'ed and its channel opened, and one reader per slot is
 * created and started. Source: pcsc-lite doc/reader.conf.5, src/PCSC/ifdhandler.h.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "resmgr/daemon/scardd.h"

#define MAX_SLOTS 16

struct entry {
    char *friendly, *device, *libpath;
    DWORD channel;
    bool has_channel;
    const char *file;
    unsigned line;
};

static void
entry_clear(struct entry *e)
{
    free(e->friendly);
    free(e->device);
    free(e->libpath);
    *e = (struct entry){.file = e->file};
}

void
rm_device_unref(struct rm_device *dev)
{
    if (!dev || --dev->refs > 0)
        return;
    LIST_REMOVE(dev, link);
    if (dev->ops.close_channel)
        (void)dev->ops.close_channel(dev->lun_base);
    pthread_mutex_destroy(&dev->lock);
    if (dev->dl)
        dlclose(dev->dl);
    free(dev);
}

static int
load_symbols(struct rm_device *dev, const char *lib)
{
    static const struct {
        const char *name;
        size_t offset;
        bool required;
    } syms[] = {
        {"IFDHCreateChannelByName", offsetof(struct rm_driver_ops, create_channel_by_name), false},
        {"IFDHCreateChannel", offsetof(struct rm_driver_ops, create_channel), true},
        {"IFDHCloseChannel", offsetof(struct rm_driver_ops, close_channel), true},
        {"IFDHGetCapabilities", offsetof(struct rm_driver_ops, get_capabilities), true},
        {"IFDHSetCapabilities", offsetof(struct rm_driver_ops, set_capabilities), true},
        {"IFDHSetProtocolParameters", offsetof(struct rm_driver_ops, set_protocol_parameters), true},
        {"IFDHPowerICC", offsetof(struct rm_driver_ops, power_icc), true},
        {"IFDHTransmitToICC", offsetof(struct rm_driver_ops, transmit_to_icc), true},
        {"IFDHControl", offsetof(struct rm_driver_ops, control), true},
        {"IFDHICCPresence", offsetof(struct rm_driver_ops, icc_presence), true},
    };

    for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
        void *f = dlsym(dev->dl, syms[i].name);
        if (!f && syms[i].required) {
            log_error("%s: IFD handler lacks %s", lib, syms[i].name);
            return -ENOEXEC;
        }
        memcpy((char *)&dev->ops + syms[i].offset, &f, sizeof(f));
    }
    return 0;
}

static void *
get_fn(struct rm_device *dev, DWORD lun, DWORD tag)
{
    void *fn = NULL;
    DWORD len = sizeof(fn);
    uint8_t buf[sizeof(void *)];

    if (dev->ops.get_capabilities(lun, tag, &len, buf) != IFD_SUCCESS || len != sizeof(fn))
        return NULL;
    memcpy(&fn, buf, sizeof(fn));
    return fn;
}

/* Lowest NN such that no reader is called "<friendly> NN …" yet (pcsc-lite naming). */
static unsigned
name_index(struct rm_manager *m, const char *friendly)
{
    char prefix[RM_WIRE_NAME_MAX];
    struct rm_reader *rd;
    unsigned idx;

    for (idx = 0; idx < 255; idx++) {
        bool used = false;
        snprintf(prefix, sizeof(prefix), "%.*s %02X ", RM_WIRE_NAME_MAX - 8, friendly, idx);
        LIST_FOREACH(rd, &m->readers, link)
            used = used || strncmp(rd->name, prefix, strlen(prefix)) == 0;
        if (!used)
            break;
    }
    return idx;
}

static int
open_device(struct rm_manager *m, const struct entry *e, struct rm_device **ret)
{
    struct rm_device *dev = calloc(1, sizeof(*dev));
    RESPONSECODE rc;
    int r;

    if (!dev)
        return -ENOMEM;
    pthread_mutex_init(&dev->lock, NULL);
    dev->refs = 1;
    dev->lun_base = (DWORD)(m->n_readers + 1) << 16;
    LIST_INSERT_HEAD(&m->devices, dev, link);
    dev->dl = dlopen(e->libpath, RTLD_NOW | RTLD_LOCAL);
    if (!dev->dl) {
        log_error("%s:%u: reader '%s' skipped, cannot load its IFD handler: %s", e->file, e->line,
                  e->friendly, dlerror());
        r = -ENOEXEC;
        goto fail;
    }
    r = load_symbols(dev, e->libpath);
    if (r < 0)
        goto fail;
    if (e->device && dev->ops.create_channel_by_name)
        rc = dev->ops.create_channel_by_name(dev->lun_base, e->device);
    else
        rc = dev->ops.create_channel(dev->lun_base, e->has_channel ? e->channel : 0);
    if (rc != IFD_SUCCESS) {
        log_error("%s:%u: reader '%s': cannot open channel (IFD code %lu)", e->file, e->line,
                  e->friendly, (unsigned long)rc);
        dev->ops.close_channel = NULL;
        r = -ENODEV;
        goto fail;
    }
    uint8_t slots = 1;
    DWORD len = sizeof(slots);
    if (dev->ops.get_capabilities(dev->lun_base, TAG_IFD_SLOTS_NUMBER, &len, &slots) != IFD_SUCCESS ||
        slots == 0)
        slots = 1;
    dev->slots = slots > MAX_SLOTS ? MAX_SLOTS : slots;
    *ret = dev;
    return 0;
fail:
    rm_device_unref(dev);
    return r;
}

static int
add_entry(struct rm_manager *m, const struct entry *e)
{
    struct rm_device *dev;
    int r, n = 0;

    if (!e->friendly || !e->libpath || (!e->device && !e->has_channel)) {
        log_error("%s:%u: incomplete reader entry (FRIENDLYNAME, LIBPATH and DEVICENAME or "
                  "CHANNELID are needed), skipped", e->file, e->line);
        return -EINVAL;
    }
    r = open_device(m, e, &dev);
    if (r < 0)
        return r;
    dev->refs = 0;
    unsigned idx = name_index(m, e->friendly);
    for (unsigned s = 0; s < dev->slots; s++) {
        struct rm_reader *rd = calloc(1, sizeof(*rd));
        if (!rd)
            break;
        rd->dev = dev;
        dev->refs++;
        rd->efd.fd = -1;
        rd->lun = dev->lun_base | s;
        snprintf(rd->name, sizeof(rd->name), "%.*s %02X %02X", RM_WIRE_NAME_MAX - 8, e->friendly,
                 idx & 0xffu, s & 0xffu);
        rd->poll_fn = get_fn(dev, rd->lun, TAG_IFD_POLLING_THREAD_WITH_TIMEOUT);
        rd->stop_poll_fn = get_fn(dev, rd->lun, TAG_IFD_STOP_POLLING_THREAD);
        r = rm_reader_start(m, rd);
        if (r < 0) {
            log_error_errno(r, "reader '%s': cannot start", rd->name);
            rm_reader_free(rd);
            continue;
        }
        LIST_INSERT_HEAD(&m->readers, rd, link);
        m->n_readers++;
        n++;
        log_info("reader '%s' (%s%s%s)", rd->name, e->libpath, rd->poll_fn ? ", driver events" : "",
                 e->device ? "" : ", by channel");
    }
    if (dev->refs == 0) { /* no slot came up */
        dev->refs = 1;
        rm_device_unref(dev);
    }
    return n;
}

static char *
value_of(char *s)
{
    size_t n;

    s += strspn(s, " \t");
    n = strcspn(s, "\r\n");
    s[n] = '\0';
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static int
set_key(struct entry *e, const char *key, char *val)
{
    char **field = strcmp(key, "FRIENDLYNAME") == 0 ? &e->friendly
                 : strcmp(key, "DEVICENAME") == 0   ? &e->device
                 : strcmp(key, "LIBPATH") == 0      ? &e->libpath
                                                    : NULL;
    if (strcmp(key, "CHANNELID") == 0) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(val, &end, 0);
        if (errno || *end || end == val)
            return -EINVAL;
        e->channel = (DWORD)v;
        e->has_channel = true;
        return 0;
    }
    if (!field)
        return -EINVAL;
    free(*field);
    *field = strdup(val);
    return *field ? 0 : -ENOMEM;
}

static int
load_file(struct rm_manager *m, const char *path)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    struct entry e = {.file = path};
    char line[1024];
    unsigned lineno = 0;
    int n = 0, r;

    if (!f) {
        log_warning_errno(-errno, "cannot open '%s'", path);
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        char *s = line + strspn(line, " \t"), *key;
        lineno++;
        if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0')
            continue;
        key = s;
        s += strcspn(s, " \t\r\n");
        if (*s)
            *s++ = '\0';
        if (strcmp(key, "FRIENDLYNAME") == 0 && e.friendly) {
            r = add_entry(m, &e);
            n += r > 0 ? r : 0;
            entry_clear(&e);
        }
        if (!e.friendly)
            e.line = lineno;
        if (set_key(&e, key, value_of(s)) < 0)
            log_warning("%s:%u: unknown key or bad value '%s', ignored", path, lineno, key);
    }
    if (e.friendly || e.libpath) {
        r = add_entry(m, &e);
        n += r > 0 ? r : 0;
    }
    entry_clear(&e);
    return n;
}

static int
name_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int
rm_readers_load(struct rm_manager *m, const char *dir)
{
    struct dirent **list;
    int n, total = 0;

    n = scandir(dir, &list, name_filter, alphasort);
    if (n < 0)
        return log_warning_errno(-errno, "cannot read readers directory '%s'", dir);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name) < sizeof(path))
            total += load_file(m, path);
        free(list[i]);
    }
    free(list);
    return total;
}
