/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only memory scan for scard-login --selfcheck-secret: the writable mappings of
 * /proc/self/maps, read in chunks through /proc/self/mem, searched for a secret held
 * XOR-masked. The chunk buffer is static and left out of the scan; it is wiped afterwards.
 * A copy right after the same bytes written as "%02X " groups is the ASCII column of a hex
 * dump (OpenSC's _sc_debug_hex() formats every APDU, the PIN's VERIFY too, even with its
 * logging off, and frees the text unwiped): those are counted apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "tools/secret-scan.h"

#define MAX_REGIONS 4096
#define MAX_REPORTED 32
#define CHUNK (256 * 1024)

struct region {
    uintptr_t start, end;
    char name[80]; /* path, [heap], [stack] or "anon" */
};

static struct region regions[MAX_REGIONS];
static uint8_t chunk[CHUNK + SECRET_SCAN_MAX];
static uint8_t before[3 * SECRET_SCAN_MAX + 64]; /* what precedes a copy (hex dump check) */

int
secret_needle_load(const char *path, struct secret_needle *ret_needle)
{
    uint8_t buf[SECRET_SCAN_MAX];
    struct secret_needle n = {0};
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got;
    size_t len;

    if (fd < 0)
        return -errno;
    got = read(fd, buf, sizeof(buf));
    if (got < 0)
        return -errno;
    for (len = 0; len < (size_t)got && buf[len] != '\n' && buf[len] != '\r'; len++)
        ;
    if (len == 0 || len == sizeof(buf)) {
        explicit_bzero(buf, sizeof(buf));
        return len == 0 ? -ENODATA : -E2BIG;
    }
    if (getrandom(n.mask, len, 0) != (ssize_t)len) {
        explicit_bzero(buf, sizeof(buf));
        return -EIO;
    }
    for (size_t i = 0; i < len; i++) {
        if (n.mask[i] == 0)
            n.mask[i] = 0xA5;
        n.masked[i] = buf[i] ^ n.mask[i];
    }
    explicit_bzero(buf, sizeof(buf));
    n.len = len;
    *ret_needle = n;
    explicit_bzero(&n, sizeof(n));
    return 0;
}

/* The readable and writable mappings, minus the kernel's [vvar]/[vsyscall]. */
static int
read_regions(size_t *ret_n)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    size_t n = 0;

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f) && n < MAX_REGIONS) {
        uintptr_t start, end;
        char perms[8], path[256] = "";
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %*s %*s %*s %255[^\n]", &start, &end, perms, path) < 3)
            continue;
        if (perms[0] != 'r' || perms[1] != 'w')
            continue;
        if (strcmp(path, "[vvar]") == 0 || strcmp(path, "[vsyscall]") == 0)
            continue;
        regions[n] = (struct region){.start = start, .end = end};
        snprintf(regions[n].name, sizeof(regions[n].name), "%s", *path ? path : "anon");
        n++;
    }
    *ret_n = n;
    return 0;
}

static bool
match_at(const uint8_t *p, const struct secret_needle *nd)
{
    for (size_t j = 0; j < nd->len; j++)
        if ((uint8_t)(p[j] ^ nd->mask[j]) != nd->masked[j])
            return false;
    return true;
}

static bool
hex_digits_at(const uint8_t *p, uint8_t byte)
{
    static const char hex[] = "0123456789ABCDEF";
    return p[0] == hex[byte >> 4] && p[1] == hex[byte & 15] && p[2] == ' ';
}

/* Is the copy at @p addr the ASCII column of a hex dump line, i.e. are the secret's bytes
 * written as "%02X " groups shortly before it? The first group may be gone: a freed chunk's
 * first 16 bytes hold malloc's free-list links, and an APDU's 5-byte header takes 15 of them. */
static bool
in_hex_dump(int mem, uintptr_t addr, const struct secret_needle *nd)
{
    size_t want = 3 * nd->len + 64, first = nd->len >= 4 ? 1 : 0;
    uintptr_t from = addr > want ? addr - want : 0;
    ssize_t got = pread(mem, before, addr - from, (off_t)from);
    bool yes = false;

    for (ssize_t s = 0; got > 0 && !yes && s + 3 * (ssize_t)nd->len <= got; s++) {
        size_t j = first;
        while (j < nd->len && hex_digits_at(before + s + 3 * j, nd->masked[j] ^ nd->mask[j]))
            j++;
        yes = j == nd->len;
    }
    explicit_bzero(before, sizeof(before));
    return yes;
}

/* Count the secret in [start, end) of this process, reading it through @p mem. */
static int
scan_range(int mem, uintptr_t start, uintptr_t end, const struct region *reg,
           const struct secret_needle *nd, FILE *report, struct secret_scan *found)
{
    uintptr_t pos = start;

    while (pos < end) {
        size_t want = end - pos > CHUNK ? CHUNK : end - pos;
        size_t tail = end - pos - want < nd->len - 1 ? end - pos - want : nd->len - 1;
        ssize_t got = pread(mem, chunk, want + tail, (off_t)pos);

        if (got < 0) {
            if (errno == EIO || errno == EFAULT) { /* a page that cannot be read: skip it */
                pos += 4096;
                continue;
            }
            return -errno;
        }
        if (got == 0)
            break;
        if ((size_t)got < want) /* a short read: go on after what was read */
            want = (size_t)got;
        for (size_t i = 0; i + nd->len <= (size_t)got && i < want; i++)
            if (match_at(chunk + i, nd)) {
                bool dump = in_hex_dump(mem, pos + i, nd);
                if (report && found->copies < MAX_REPORTED)
                    fprintf(report, "secret-copy: %#" PRIxPTR " %s+%#" PRIxPTR "%s\n", pos + i, reg->name,
                            pos + i - reg->start, dump ? " (hex dump)" : "");
                found->copies++;
                found->in_hex_dumps += dump;
            }
        pos += want;
    }
    return 0;
}

int
secret_scan_count(const struct secret_needle *needle, FILE *report, struct secret_scan *ret_scan)
{
    const uintptr_t own_start = (uintptr_t)chunk, own_end = own_start + sizeof(chunk);
    struct secret_scan found = {0};
    _cleanup_close_ int mem = -1;
    size_t n = 0;
    int r;

    if (needle->len == 0)
        return -EINVAL;
    r = read_regions(&n);
    if (r < 0)
        return r;
    mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    if (mem < 0)
        return -errno;
    for (size_t i = 0; i < n && r == 0; i++) {
        const struct region *reg = &regions[i];
        if (own_end <= reg->start || own_start >= reg->end) {
            r = scan_range(mem, reg->start, reg->end, reg, needle, report, &found);
            continue;
        }
        if (reg->start < own_start) /* the parts around our own chunk buffer */
            r = scan_range(mem, reg->start, own_start, reg, needle, report, &found);
        if (r == 0 && own_end < reg->end)
            r = scan_range(mem, own_end, reg->end, reg, needle, report, &found);
    }
    explicit_bzero(chunk, sizeof(chunk));
    if (r < 0)
        return r;
    *ret_scan = found;
    return 0;
}
