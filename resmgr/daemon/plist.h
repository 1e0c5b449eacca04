/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * USB IFD handler bundles: the Info.plist of "<drivers_dir>/<name>.bundle" says which
 * USB devices the handler drives (ifdVendorID/ifdProductID/ifdFriendlyName, same index)
 * and which library to load (CFBundleExecutable). Source: pcsc-lite src/hotplug_libudev.c
 * and src/parser.h; Apple's Property List DTD 1.0.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** One USB device a bundle supports. */
struct rm_plist_device {
    uint16_t vendor, product; /* USB idVendor / idProduct */
    char *friendly;           /* ifdFriendlyName, malloc'd */
};

/** A parsed driver bundle. */
struct rm_bundle {
    char *library;      /* "<bundle>/Contents/Linux/<CFBundleExecutable>", malloc'd */
    char *name;         /* CFBundleName, malloc'd, NULL when absent */
    uint32_t capabilities; /* ifdCapabilities, 0 when absent */
    struct rm_plist_device *devices;
    size_t n_devices;
};

/**
 * Parse the Info.plist of one bundle with libxml2 (no network, no entity expansion).
 * @param[in]  plist       path of "<bundle>/Contents/Info.plist"
 * @param[in]  bundle_dir  path of the bundle directory, used to build the library path
 * @param[out] ret         new bundle, free with rm_bundle_free(); untouched on failure
 * @return 0; -ENOENT file missing; -EBADMSG not a plist, a missing CFBundleExecutable or
 *         ifdVendorID/ifdProductID/ifdFriendlyName arrays of different lengths or bad hex
 *         numbers; -ENOMEM
 * Thread-safe once rm_plist_init() ran (libxml2's own rule).
 */
int rm_plist_parse(const char *plist, const char *bundle_dir, struct rm_bundle **ret);

/** Free @p b (NULL allowed). */
void rm_bundle_free(struct rm_bundle *b);

/**
 * Find the device (@p vendor, @p product) in @p b.
 * @return the entry (owned by @p b), or NULL when @p b does not drive it.
 */
const struct rm_plist_device *rm_bundle_match(const struct rm_bundle *b, uint16_t vendor,
                                              uint16_t product);

/** Initialise libxml2 once per process (idempotent, call from the main thread). */
void rm_plist_init(void);
