/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * USB hot-plug through libudev: at start every USB interface is enumerated, then the udev
 * monitor's socket sits in the event loop. An interface whose device a driver bundle's
 * Info.plist lists becomes a reader, opened with IFDHCreateChannelByName and pcsc-lite's
 * device name "usb:VVVV/PPPP:libudev:<interface>:<devnode>", which libccid parses; its
 * removal removes the reader. Source: pcsc-lite src/hotplug_libudev.c; libccid ccid_usb.c.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <libudev.h>

#include "common/log.h"
#include "resmgr/daemon/plist.h"
#include "resmgr/daemon/scardd.h"

#define NAME_MAX_LEN 200 /* friendly name with interface and serial, before " NN SS" */

struct rm_hotplug {
    struct udev *udev;
    struct udev_monitor *mon;
    struct rm_source src;
    struct rm_bundle **bundles;
    size_t n_bundles;
};

void
rm_hotplug_free(struct rm_hotplug *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_bundles; i++)
        rm_bundle_free(h->bundles[i]);
    free(h->bundles);
    if (h->mon)
        udev_monitor_unref(h->mon); /* closes its socket, which leaves epoll with it */
    if (h->udev)
        udev_unref(h->udev);
    free(h);
}

static int
bundle_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 7 && strcmp(d->d_name + n - 7, ".bundle") == 0;
}

/* Parse "<dir>/<name>.bundle/Contents/Info.plist" of every bundle; bad ones are logged, skipped. */
static int
load_bundles(struct rm_hotplug *h, const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, bundle_filter, alphasort);

    if (n < 0) {
        log_info("no USB driver bundles in '%s' (%s)", dir, strerror(errno));
        return 0;
    }
    h->bundles = calloc((size_t)n + 1, sizeof(*h->bundles));
    for (int i = 0; i < n; i++) {
        char bundle[PATH_MAX], plist[PATH_MAX + 32];
        struct rm_bundle *b;
        int r;
        snprintf(bundle, sizeof(bundle), "%s/%s", dir, list[i]->d_name);
        snprintf(plist, sizeof(plist), "%s/Contents/Info.plist", bundle);
        free(list[i]);
        if (!h->bundles)
            continue;
        r = rm_plist_parse(plist, bundle, &b);
        if (r < 0) {
            log_warning_errno(r, "driver bundle '%s' skipped, bad Info.plist", bundle);
            continue;
        }
        log_debug("driver bundle '%s': %zu USB devices, %s", bundle, b->n_devices, b->library);
        h->bundles[h->n_bundles++] = b;
    }
    free(list);
    return h->bundles ? (int)h->n_bundles : -ENOMEM;
}

static unsigned
hex_attr(struct udev_device *d, const char *name, bool *ok)
{
    const char *s = udev_device_get_sysattr_value(d, name);
    char *end;
    unsigned long v;

    if (!s) {
        *ok = false;
        return 0;
    }
    v = strtoul(s, &end, 16);
    *ok = *ok && end != s;
    return (unsigned)v;
}

/* "<ifdFriendlyName> [<interface>] (<serial>)", as pcsc-lite names hot-plugged readers. */
static void
friendly_name(char *buf, size_t size, const char *base, struct udev_device *intf,
              struct udev_device *usb)
{
    const char *iname = udev_device_get_sysattr_value(intf, "interface");
    const char *serial = udev_device_get_sysattr_value(usb, "serial");
    size_t n = (size_t)snprintf(buf, size, "%s", base);

    if (iname && n < size)
        n += (size_t)snprintf(buf + n, size - n, " [%s]", iname);
    if (serial && (!iname || !strstr(iname, serial)) && n < size)
        snprintf(buf + n, size - n, " (%s)", serial);
}

/* A USB interface appeared (or was there at start): add it when a bundle drives it. */
static void
add_interface(struct rm_manager *m, struct udev_device *intf)
{
    struct rm_hotplug *h = m->hotplug;
    struct udev_device *usb;
    const struct rm_plist_device *match = NULL;
    const struct rm_bundle *b = NULL;
    const char *devnode, *devtype = udev_device_get_devtype(intf);
    char device[PATH_MAX + 64], friendly[NAME_MAX_LEN], origin[PATH_MAX + 8];
    unsigned vid, pid, iface;
    bool ok = true;

    if (!devtype || strcmp(devtype, "usb_interface") != 0)
        return;
    usb = udev_device_get_parent_with_subsystem_devtype(intf, "usb", "usb_device");
    devnode = usb ? udev_device_get_devnode(usb) : NULL;
    if (!devnode)
        return;
    vid = hex_attr(usb, "idVendor", &ok);
    pid = hex_attr(usb, "idProduct", &ok);
    iface = hex_attr(intf, "bInterfaceNumber", &ok);
    for (size_t i = 0; ok && !match && i < h->n_bundles; i++) {
        b = h->bundles[i];
        match = rm_bundle_match(b, (uint16_t)vid, (uint16_t)pid);
    }
    if (!match)
        return;
    snprintf(origin, sizeof(origin), "usb:%s", udev_device_get_syspath(intf));
    snprintf(device, sizeof(device), "usb:%04x/%04x:libudev:%u:%s", vid, pid, iface, devnode);
    friendly_name(friendly, sizeof(friendly), match->friendly, intf, usb);
    log_info("USB device %04x:%04x interface %u at %s: '%s', driver %s", vid, pid, iface,
             devnode, friendly, b->library);
    struct rm_reader_spec spec = {friendly, device, b->library, 0, origin, "USB device"};
    (void)rm_readers_add(m, &spec); /* failures are logged there; the rest carry on */
}

static void
on_udev(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct udev_device *d;

    (void)s;
    (void)events;
    while ((d = udev_monitor_receive_device(m->hotplug->mon))) {
        const char *action = udev_device_get_action(d);
        char origin[PATH_MAX + 8];
        if (action && strcmp(action, "add") == 0) {
            add_interface(m, d);
        } else if (action && strcmp(action, "remove") == 0) {
            snprintf(origin, sizeof(origin), "usb:%s", udev_device_get_syspath(d));
            if (rm_readers_remove(m, origin) > 0)
                log_info("USB device %s unplugged", udev_device_get_syspath(d));
        }
        udev_device_unref(d);
    }
}

/* Add the readers of the interfaces present now. */
static void
enumerate(struct rm_manager *m)
{
    struct udev_enumerate *en = udev_enumerate_new(m->hotplug->udev);
    struct udev_list_entry *e;

    if (!en || udev_enumerate_add_match_subsystem(en, "usb") < 0 ||
        udev_enumerate_scan_devices(en) < 0) {
        log_warning("cannot enumerate USB devices through udev");
        udev_enumerate_unref(en);
        return;
    }
    udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en)) {
        struct udev_device *d = udev_device_new_from_syspath(m->hotplug->udev,
                                                             udev_list_entry_get_name(e));
        if (d) {
            add_interface(m, d);
            udev_device_unref(d);
        }
    }
    udev_enumerate_unref(en);
}

int
rm_hotplug_start(struct rm_manager *m)
{
    struct rm_hotplug *h = calloc(1, sizeof(*h));
    int r;

    if (!h || !m->conf.drivers_dir) {
        free(h);
        return -ENOMEM;
    }
    m->hotplug = h;
    r = load_bundles(h, m->conf.drivers_dir);
    if (r <= 0) {
        m->hotplug = NULL;
        rm_hotplug_free(h);
        return r == -ENOMEM ? r : 0;
    }
    h->udev = udev_new();
    if (h->udev)
        h->mon = udev_monitor_new_from_netlink(h->udev, "udev");
    if (h->mon && (udev_monitor_filter_add_match_subsystem_devtype(h->mon, "usb",
                                                                   "usb_interface") < 0 ||
                   udev_monitor_enable_receiving(h->mon) < 0)) {
        udev_monitor_unref(h->mon);
        h->mon = NULL;
    }
    if (h->mon) {
        h->src.fd = udev_monitor_get_fd(h->mon);
        h->src.cb = on_udev;
        if (rm_source_add(m, &h->src, EPOLLIN) < 0) {
            udev_monitor_unref(h->mon);
            h->mon = NULL;
        }
    }
    if (!h->mon || access("/run/udev/control", F_OK) < 0)
        log_info("udev is not running here (container?): USB readers present now are used, "
                 "readers plugged later are not seen");
    if (h->udev)
        enumerate(m);
    log_info("USB hot-plug: %zu driver bundle%s in %s", h->n_bundles,
             h->n_bundles == 1 ? "" : "s", m->conf.drivers_dir);
    return 0;
}
