/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader configuration: every file in readers_dir is read in pcsc-lite's reader.conf
 * syntax (FRIENDLYNAME, DEVICENAME, LIBPATH, CHANNELID; '#' comments), the IFD handler
 * named by LIBPATH is dlopen'ed and its channel opened, and one reader per slot is
 * created and started. The directory is watched (inotify): files added, changed or removed
 * at run time add and remove their readers. Removed readers linger, unlisted, until no
 * handle refers to them. Source: pcsc-lite doc/reader.conf.5, src/PCSC/ifdhandler.h.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "resmgr/daemon/plist.h"
#include "resmgr/daemon/scardd.h"

#define MAX_SLOTS 64 /* slots of one device (libccid has at most a few) */

struct entry {
    char *friendly, *device, *libpath;
    DWORD channel;
    bool has_channel;
    const char *file;
    unsigned line;
    char *origin; /* "file:<path>|<friendly>|<libpath>|<device or #channel>" */
};

/* The entries of one file, in order. */
struct entries {
    struct entry *v;
    size_t n;
};

static void
entry_clear(struct entry *e)
{
    free(e->friendly);
    free(e->device);
    free(e->libpath);
    free(e->origin);
    *e = (struct entry){.file = e->file};
}

void
rm_device_unref(struct rm_device *dev)
{
    if (!dev || --dev->refs > 0)
        return;
    LIST_REMOVE(dev, link);
    /* like pcscd, every slot's channel is closed, slot 0 last (libccid counts them) */
    for (unsigned s = MAX_SLOTS; s-- > 0;)
        if (dev->ops.close_channel && (dev->slots_open & (1ull << s)))
            (void)dev->ops.close_channel(dev->lun_base | s);
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

/* Lowest device index >= 1 that no open device uses: Lun = index << 16 | slot. */
static unsigned
free_device_index(struct rm_manager *m)
{
    struct rm_device *d;
    unsigned idx = 1;
    bool used;

    do {
        used = false;
        LIST_FOREACH(d, &m->devices, link)
            used = used || d->index == idx;
    } while (used && ++idx < 0xffff);
    return idx;
}

/* pcscd opens the channel of every slot (Lun | slot) after slot 0; vpcd listens per slot,
 * libccid shares the device. A slot that fails is logged and left out. */
static void
open_slots(struct rm_device *dev, const struct rm_reader_spec *spec)
{
    for (unsigned s = 1; s < dev->slots; s++) {
        DWORD lun = dev->lun_base | s;
        RESPONSECODE rc = spec->device && dev->ops.create_channel_by_name
                              ? dev->ops.create_channel_by_name(lun, (LPSTR)spec->device)
                              : dev->ops.create_channel(lun, spec->device ? 0 : spec->channel);
        if (rc == IFD_SUCCESS)
            dev->slots_open |= 1ull << s;
        else
            log_error("%s: reader '%s': cannot open the channel of slot %u (IFD code %lu)",
                      spec->where, spec->friendly, s, (unsigned long)rc);
    }
}

static int
open_device(struct rm_manager *m, const struct rm_reader_spec *spec, struct rm_device **ret)
{
    struct rm_device *dev = calloc(1, sizeof(*dev));
    RESPONSECODE rc;
    int r;

    if (!dev)
        return -ENOMEM;
    pthread_mutex_init(&dev->lock, NULL);
    dev->refs = 1;
    dev->index = free_device_index(m);
    dev->lun_base = (DWORD)dev->index << 16;
    LIST_INSERT_HEAD(&m->devices, dev, link);
    dev->dl = dlopen(spec->libpath, RTLD_NOW | RTLD_LOCAL);
    if (!dev->dl) {
        log_error("%s: reader '%s' skipped, cannot load its IFD handler: %s", spec->where,
                  spec->friendly, dlerror());
        r = -ENOEXEC;
        goto fail;
    }
    r = load_symbols(dev, spec->libpath);
    if (r < 0)
        goto fail;
    if (spec->device && dev->ops.create_channel_by_name)
        rc = dev->ops.create_channel_by_name(dev->lun_base, (LPSTR)spec->device);
    else
        rc = dev->ops.create_channel(dev->lun_base, spec->device ? 0 : spec->channel);
    if (rc != IFD_SUCCESS) {
        log_error("%s: reader '%s' skipped, cannot open channel %s (IFD code %lu)", spec->where,
                  spec->friendly, spec->device ? spec->device : "by number", (unsigned long)rc);
        r = -ENODEV;
        goto fail;
    }
    dev->slots_open = 1;
    uint8_t slots = 1;
    DWORD len = sizeof(slots);
    if (dev->ops.get_capabilities(dev->lun_base, TAG_IFD_SLOTS_NUMBER, &len, &slots) !=
            IFD_SUCCESS ||
        slots == 0)
        slots = 1;
    dev->slots = slots > MAX_SLOTS ? MAX_SLOTS : slots;
    open_slots(dev, spec);
    *ret = dev;
    return 0;
fail:
    rm_device_unref(dev);
    return r;
}

/* NN for @p friendly among the readers present (pcsc-lite naming, see naming.c). */
static int
name_index(struct rm_manager *m, const char *friendly)
{
    const char **names = calloc(m->n_readers + 1, sizeof(*names));
    struct rm_reader *rd;
    size_t n = 0;
    int idx;

    if (!names)
        return -ENOMEM;
    LIST_FOREACH(rd, &m->readers, link)
        if (n < m->n_readers)
            names[n++] = rd->name;
    idx = rm_reader_name_index(friendly, names, n);
    free(names);
    return idx;
}

static int
start_slot(struct rm_manager *m, const struct rm_reader_spec *spec, struct rm_device *dev,
           unsigned idx, unsigned s)
{
    struct rm_reader *rd = calloc(1, sizeof(*rd));
    int r;

    if (!rd)
        return -ENOMEM;
    rd->efd.fd = rd->hang.fd = rd->wake_fd = rd->act_epoll = rd->act_tx_timer = -1;
    rd->running_fd = -1;
    rd->dev = dev;
    dev->refs++;
    rd->efd.fd = rd->hang.fd = -1;
    rd->lun = dev->lun_base | s;
    rd->origin = strdup(spec->origin);
    rm_reader_name_format(rd->name, sizeof(rd->name), spec->friendly, idx, s);
    rd->poll_fn = get_fn(dev, rd->lun, TAG_IFD_POLLING_THREAD_WITH_TIMEOUT);
    rd->stop_poll_fn = get_fn(dev, rd->lun, TAG_IFD_STOP_POLLING_THREAD);
    r = rd->origin ? rm_reader_start(m, rd) : -ENOMEM;
    if (r < 0) {
        log_error_errno(r, "reader '%s': cannot start", rd->name);
        rm_reader_free(rd);
        return r;
    }
    LIST_INSERT_HEAD(&m->readers, rd, link);
    m->n_readers++;
    m->readers_gen++;
    m->state_changed = true;
    log_info("reader '%s' added (%s%s%s)", rd->name, spec->libpath,
             rd->poll_fn ? ", driver events" : "", spec->device ? "" : ", by channel");
    return 0;
}

int
rm_readers_add(struct rm_manager *m, const struct rm_reader_spec *spec)
{
    struct rm_device *dev;
    int r, idx, n = 0;

    r = open_device(m, spec, &dev);
    if (r < 0)
        return r;
    dev->refs = 0;
    idx = name_index(m, spec->friendly);
    for (unsigned s = 0; idx >= 0 && s < dev->slots; s++)
        if ((dev->slots_open & (1ull << s)) && start_slot(m, spec, dev, (unsigned)idx, s) == 0)
            n++;
    if (idx < 0)
        log_error("%s: reader '%s' skipped, 256 readers of that name already", spec->where,
                  spec->friendly);
    if (dev->refs == 0) { /* no slot came up */
        dev->refs = 1;
        rm_device_unref(dev);
        return idx < 0 ? idx : -ENOMEM;
    }
    return n;
}

static void
remove_reader(struct rm_manager *m, struct rm_reader *rd)
{
    LIST_REMOVE(rd, link);
    m->n_readers--;
    m->readers_gen++;
    log_info("reader '%s' removed%s", rd->name,
             rd->n_handles ? ", its handles now see the card removed" : "");
    rm_reader_halt(rd);
    LIST_INSERT_HEAD(&m->gone_readers, rd, link);
}

/* Remove the readers whose origin is @p origin (@p prefix: starts with it). */
static int
remove_matching(struct rm_manager *m, const char *origin, bool prefix)
{
    struct rm_reader *rd, *next;
    size_t len = strlen(origin);
    int n = 0;

    for (rd = LIST_FIRST(&m->readers); rd; rd = next) {
        next = LIST_NEXT(rd, link);
        if (prefix ? strncmp(rd->origin, origin, len) == 0 : strcmp(rd->origin, origin) == 0) {
            remove_reader(m, rd);
            n++;
        }
    }
    return n;
}

int
rm_readers_remove(struct rm_manager *m, const char *origin)
{
    return remove_matching(m, origin, false);
}

void
rm_readers_reap(struct rm_manager *m)
{
    struct rm_reader *rd, *next;

    for (rd = LIST_FIRST(&m->gone_readers); rd; rd = next) {
        bool idle;
        next = LIST_NEXT(rd, link);
        if (rd->leaked) { /* a thread is still in the driver: never freed */
            LIST_REMOVE(rd, link);
            continue;
        }
        pthread_mutex_lock(&rd->lock);
        idle = TAILQ_EMPTY(&rd->done) && TAILQ_EMPTY(&rd->todo);
        pthread_mutex_unlock(&rd->lock);
        if (idle && rd->n_handles == 0) {
            LIST_REMOVE(rd, link);
            rm_reader_free(rd);
        }
    }
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

/* Keep a complete entry (moved into @p es); an incomplete one is logged and dropped. */
static int
keep_entry(struct entries *es, struct entry *e)
{
    struct entry *v;

    if (!e->friendly || !e->libpath || (!e->device && !e->has_channel)) {
        log_error("%s:%u: incomplete reader entry (FRIENDLYNAME, LIBPATH and DEVICENAME or "
                  "CHANNELID are needed), skipped", e->file, e->line);
        entry_clear(e);
        return 0;
    }
    if (asprintf(&e->origin, "file:%s|%s|%s|%s%lu", e->file, e->friendly, e->libpath,
                 e->device ? e->device : "#", e->device ? 0ul : (unsigned long)e->channel) < 0) {
        e->origin = NULL;
        entry_clear(e);
        return -ENOMEM;
    }
    v = realloc(es->v, (es->n + 1) * sizeof(*v));
    if (!v) {
        entry_clear(e);
        return -ENOMEM;
    }
    es->v = v;
    es->v[es->n++] = *e;
    *e = (struct entry){.file = e->file};
    return 0;
}

static void
entries_clear(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++)
        entry_clear(&es->v[i]);
    free(es->v);
    *es = (struct entries){NULL, 0};
}

/* Parse @p path into @p es. A missing file gives no entries. */
static int
parse_file(const char *path, struct entries *es)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    struct entry e = {.file = path};
    char line[1024];
    unsigned lineno = 0;
    int r = 0;

    if (!f)
        return errno == ENOENT ? 0 : log_warning_errno(-errno, "cannot open '%s'", path);
    while (r == 0 && fgets(line, sizeof(line), f)) {
        char *s = line + strspn(line, " \t"), *key;
        lineno++;
        if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0')
            continue;
        key = s;
        s += strcspn(s, " \t\r\n");
        if (*s)
            *s++ = '\0';
        if (strcmp(key, "FRIENDLYNAME") == 0 && e.friendly)
            r = keep_entry(es, &e);
        if (!e.friendly)
            e.line = lineno;
        if (set_key(&e, key, value_of(s)) < 0)
            log_warning("%s:%u: unknown key or bad value '%s', ignored", path, lineno, key);
    }
    if (r == 0 && (e.friendly || e.libpath))
        r = keep_entry(es, &e);
    entry_clear(&e);
    return r;
}

static bool
has_origin(const struct entries *es, const char *origin)
{
    for (size_t i = 0; i < es->n; i++)
        if (strcmp(es->v[i].origin, origin) == 0)
            return true;
    return false;
}

/* Bring the readers of @p path in line with its content: entries gone (or whose reader is
 * defective: editing the file re-plugs it) are removed, new ones added. Unchanged entries
 * keep their readers and handles. @return readers added. */
static int
sync_file(struct rm_manager *m, const char *path)
{
    struct entries es = {NULL, 0};
    _cleanup_free_ char *prefix = NULL;
    struct rm_reader *rd, *next;
    int n = 0;

    if (parse_file(path, &es) < 0 || asprintf(&prefix, "file:%s|", path) < 0) {
        prefix = NULL;
        entries_clear(&es);
        return 0;
    }
    for (rd = LIST_FIRST(&m->readers); rd; rd = next) {
        next = LIST_NEXT(rd, link);
        if (strncmp(rd->origin, prefix, strlen(prefix)) == 0 &&
            (rd->defective || !has_origin(&es, rd->origin)))
            remove_reader(m, rd);
    }
    for (size_t i = 0; i < es.n; i++) {
        struct entry *e = &es.v[i];
        char where[PATH_MAX + 16];
        bool present = false;
        LIST_FOREACH(rd, &m->readers, link)
            present = present || strcmp(rd->origin, e->origin) == 0;
        if (present)
            continue;
        snprintf(where, sizeof(where), "%s:%u", e->file, e->line);
        struct rm_reader_spec spec = {e->friendly, e->device, e->libpath, e->channel, e->origin,
                                      where};
        int r = rm_readers_add(m, &spec);
        n += r > 0 ? r : 0;
    }
    entries_clear(&es);
    return n;
}

static int
name_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* inotify on readers_dir: a file written, moved in, removed or moved out. */
static void
on_readers_dir(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t len;

    (void)events;
    while ((len = read(s->fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            char path[PATH_MAX];
            p += sizeof(*ev) + ev->len;
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                log_warning("readers directory '%s' went away, no longer watched",
                            m->conf.readers_dir);
                continue;
            }
            if (!ev->len || ev->name[0] == '.' ||
                (size_t)snprintf(path, sizeof(path), "%s/%s", m->conf.readers_dir, ev->name) >=
                    sizeof(path))
                continue;
            log_debug("readers directory: '%s' %s", ev->name,
                      ev->mask & (IN_DELETE | IN_MOVED_FROM) ? "removed" : "changed");
            (void)sync_file(m, path); /* a removed file has no entries: its readers go */
        }
    }
}

static void
watch_dir(struct rm_manager *m, const char *dir)
{
    m->readers_watch.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    m->readers_watch.cb = on_readers_dir;
    if (m->readers_watch.fd < 0 ||
        inotify_add_watch(m->readers_watch.fd, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR) < 0 ||
        rm_source_add(m, &m->readers_watch, EPOLLIN) < 0) {
        log_warning_errno(-errno, "cannot watch readers directory '%s', changes need a restart",
                          dir);
        if (m->readers_watch.fd >= 0)
            close(m->readers_watch.fd);
        m->readers_watch.fd = -1;
    }
}

int
rm_readers_load(struct rm_manager *m, const char *dir)
{
    struct dirent **list;
    int n, total = 0;

    m->readers_watch.fd = -1;
    rm_plist_init();
    if (m->conf.hotplug)
        (void)rm_hotplug_start(m);
    n = scandir(dir, &list, name_filter, alphasort);
    if (n < 0)
        return log_warning_errno(-errno, "cannot read readers directory '%s'", dir);
    watch_dir(m, dir);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name) < sizeof(path))
            total += sync_file(m, path);
        free(list[i]);
    }
    free(list);
    return total;
}

void
rm_readers_done(struct rm_manager *m)
{
    struct rm_reader *rd;

    if (m->readers_watch.fd >= 0)
        close(m->readers_watch.fd);
    m->readers_watch.fd = -1;
    rm_hotplug_free(m->hotplug);
    m->hotplug = NULL;
    while ((rd = LIST_FIRST(&m->gone_readers))) {
        LIST_REMOVE(rd, link);
        rm_reader_free(rd);
    }
}
