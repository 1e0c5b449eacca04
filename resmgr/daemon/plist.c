/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Info.plist parsing for USB IFD handler bundles, with libxml2: the top-level <dict>
 * is walked as <key>/<value> pairs; the keys pcsc-lite uses are kept (CFBundleExecutable,
 * CFBundleName, ifdCapabilities, ifdVendorID/ifdProductID/ifdFriendlyName arrays).
 * Source: pcsc-lite src/hotplug_libudev.c HPReadBundleValues(); Apple plist DTD 1.0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "resmgr/daemon/plist.h"

/* The string arrays of the three per-device keys, before they are zipped together. */
struct arrays {
    xmlNode *vendor, *product, *friendly;
};

void
rm_plist_init(void)
{
    xmlInitParser();
}

void
rm_bundle_free(struct rm_bundle *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_devices; i++)
        free(b->devices[i].friendly);
    free(b->devices);
    free(b->library);
    free(b->name);
    free(b);
}

static bool
is_element(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0;
}

/* Next element sibling (skips text, comments). */
static xmlNode *
next_element(xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

/* Text of a <string> element as a malloc'd C string; NULL for anything else. */
static char *
string_of(xmlNode *n)
{
    xmlChar *t;
    char *s;

    if (!is_element(n, "string"))
        return NULL;
    t = xmlNodeGetContent(n);
    s = strdup(t ? (const char *)t : "");
    xmlFree(t);
    return s;
}

/* "0x072F" (hex, pcsc-lite writes it so) → value; -EBADMSG when not a number <= max. */
static int
hex_of(xmlNode *n, unsigned long max, unsigned long *ret)
{
    char *s = string_of(n), *end;
    unsigned long v;
    int r = -EBADMSG;

    if (!s)
        return is_element(n, "string") ? -ENOMEM : -EBADMSG;
    errno = 0;
    v = strtoul(s, &end, 16);
    if (errno == 0 && end != s && *end == '\0' && v <= max) {
        *ret = v;
        r = 0;
    }
    free(s);
    return r;
}

static size_t
count_elements(xmlNode *array)
{
    size_t n = 0;
    for (xmlNode *c = next_element(array->children); c; c = next_element(c->next))
        n++;
    return n;
}

/* Zip the three arrays into b->devices. A single <string> counts as a 1-entry array. */
static int
zip_devices(struct rm_bundle *b, const struct arrays *a)
{
    xmlNode *v, *p, *f;
    size_t n;

    if (!a->vendor || !a->product || !a->friendly)
        return a->vendor || a->product || a->friendly ? -EBADMSG : 0;
    n = is_element(a->vendor, "array") ? count_elements(a->vendor) : 1;
    if ((is_element(a->product, "array") ? count_elements(a->product) : 1) != n ||
        (is_element(a->friendly, "array") ? count_elements(a->friendly) : 1) != n)
        return -EBADMSG;
    b->devices = calloc(n ? n : 1, sizeof(*b->devices));
    if (!b->devices)
        return -ENOMEM;
    v = is_element(a->vendor, "array") ? next_element(a->vendor->children) : a->vendor;
    p = is_element(a->product, "array") ? next_element(a->product->children) : a->product;
    f = is_element(a->friendly, "array") ? next_element(a->friendly->children) : a->friendly;
    for (size_t i = 0; i < n; i++) {
        unsigned long vid, pid;
        int r = hex_of(v, 0xffff, &vid);
        if (r == 0)
            r = hex_of(p, 0xffff, &pid);
        if (r < 0)
            return r;
        b->devices[i].vendor = (uint16_t)vid;
        b->devices[i].product = (uint16_t)pid;
        b->devices[i].friendly = string_of(f);
        if (!b->devices[i].friendly)
            return is_element(f, "string") ? -ENOMEM : -EBADMSG;
        b->n_devices++;
        v = next_element(v->next);
        p = next_element(p->next);
        f = next_element(f->next);
    }
    return 0;
}

/* Walk the top-level <dict>: <key>K</key> followed by its value element. */
static int
walk_dict(struct rm_bundle *b, xmlNode *dict, const char *bundle_dir)
{
    struct arrays a = {NULL, NULL, NULL};
    char *exe = NULL;
    int r = 0;

    for (xmlNode *k = next_element(dict->children); k && r == 0;) {
        xmlNode *val = next_element(k->next);
        xmlChar *key;

        if (!is_element(k, "key") || !val) {
            r = -EBADMSG;
            break;
        }
        key = xmlNodeGetContent(k);
        const char *ks = key ? (const char *)key : "";
        if (strcmp(ks, "CFBundleExecutable") == 0) {
            free(exe);
            exe = string_of(val);
        } else if (strcmp(ks, "CFBundleName") == 0) {
            free(b->name);
            b->name = string_of(val);
        } else if (strcmp(ks, "ifdCapabilities") == 0) {
            unsigned long caps;
            r = hex_of(val, 0xffffffffu, &caps);
            b->capabilities = (uint32_t)caps;
        } else if (strcmp(ks, "ifdVendorID") == 0) {
            a.vendor = val;
        } else if (strcmp(ks, "ifdProductID") == 0) {
            a.product = val;
        } else if (strcmp(ks, "ifdFriendlyName") == 0) {
            a.friendly = val;
        }
        xmlFree(key);
        k = next_element(val->next);
    }
    if (r == 0 && (!exe || !*exe || strchr(exe, '/')))
        r = -EBADMSG; /* the library must live inside the bundle */
    if (r == 0 && asprintf(&b->library, "%s/Contents/Linux/%s", bundle_dir, exe) < 0) {
        b->library = NULL;
        r = -ENOMEM;
    }
    free(exe);
    return r < 0 ? r : zip_devices(b, &a);
}

int
rm_plist_parse(const char *plist, const char *bundle_dir, struct rm_bundle **ret)
{
    struct rm_bundle *b;
    xmlDoc *doc;
    xmlNode *root, *dict;
    int r;

    if (access(plist, R_OK) < 0)
        return -errno;
    /* NONET: never fetch the DTD; no NOENT: entities are not expanded */
    doc = xmlReadFile(plist, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return -EBADMSG;
    root = xmlDocGetRootElement(doc);
    dict = is_element(root, "plist") ? next_element(root->children) : NULL;
    b = calloc(1, sizeof(*b));
    if (!b)
        r = -ENOMEM;
    else if (!is_element(dict, "dict"))
        r = -EBADMSG;
    else
        r = walk_dict(b, dict, bundle_dir);
    xmlFreeDoc(doc);
    if (r < 0) {
        rm_bundle_free(b);
        return r;
    }
    *ret = b;
    return 0;
}

const struct rm_plist_device *
rm_bundle_match(const struct rm_bundle *b, uint16_t vendor, uint16_t product)
{
    for (size_t i = 0; i < b->n_devices; i++)
        if (b->devices[i].vendor == vendor && b->devices[i].product == product)
            return &b->devices[i];
    return NULL;
}
