/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Virtual card store on disk: locating the store, atomic file writes, creating a card
 * atomically (built in a hidden directory, then renamed into place), the card lock, the
 * "ejected" flag, and destruction with overwrite. The card's contents: store-card.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/cleanup.h"
#include "common/config.h"
#include "resmgr/vcard/store-internal.h"


struct store_conf {
    char *store;
};

static const struct sc_conf_key store_keys[] = {
    {"vcard", "store", SC_CONF_STRING, offsetof(struct store_conf, store), 0, 0},
    {NULL, NULL, 0, 0, 0, 0},
};

int
vc_store_root(const char *option, char **ret_root)
{
    struct store_conf conf = {0};
    const char *env = getenv("SCARD_VCARD_STORE");
    char *root;
    int r;

    if (option && *option)
        root = strdup(option);
    else if (env && *env)
        root = strdup(env);
    else {
        r = sc_conf_load(NULL, store_keys, &conf, NULL);
        if (r < 0) {
            sc_conf_free(store_keys, &conf);
            return r;
        }
        root = conf.store && *conf.store ? TAKE_PTR(conf.store) : strdup(VC_STORE_DEFAULT);
        sc_conf_free(store_keys, &conf);
    }
    if (!root)
        return -ENOMEM;
    *ret_root = root;
    return 0;
}

bool
vc_store_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > VC_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

int
vc_store_card_dir(const char *root, const char *name, char **ret_dir)
{
    char *dir;

    if (!root || !vc_store_name_valid(name))
        return -EINVAL;
    if (asprintf(&dir, "%s/%s", root, name) < 0)
        return -ENOMEM;
    *ret_dir = dir;
    return 0;
}

int
vc_store_fsync_dir(const char *dir)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

static int
write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
vc_store_write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
    _cleanup_free_ char *tmp = NULL, *path = NULL;
    int fd, r;

    if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0 || asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = fchmod(fd, mode) < 0 ? -errno : 0;
    if (r == 0)
        r = write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return r;
    }
    return vc_store_fsync_dir(dir);
}

int
vc_store_read_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    _cleanup_free_ uint8_t *buf = NULL;
    struct stat st;
    size_t len = 0;

    if (fd < 0 || fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max)
        return -EINVAL;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret_data = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

/* --- whole-card operations ----------------------------------------------------------------- */

static int
mkdir_parents(const char *root)
{
    _cleanup_free_ char *p = strdup(root);

    if (!p)
        return -ENOMEM;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Remove the files of a card directory (no subdirectories exist) and the directory. */
static int
remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int r = 0;

    if (!d)
        return -errno;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0)
            r = -errno;
    closedir(d);
    if (rmdir(dir) < 0 && r == 0)
        r = -errno;
    return r;
}

int
vc_store_create(const char *root, const char *name, const struct vc_card *card)
{
    _cleanup_free_ char *dir = NULL, *tmp = NULL;
    struct stat st;
    int r;

    r = vc_store_card_dir(root, name, &dir);
    if (r < 0)
        return r;
    r = mkdir_parents(root);
    if (r < 0)
        return r;
    if (lstat(dir, &st) == 0)
        return -EEXIST;
    if (asprintf(&tmp, "%s/.new-%s.XXXXXX", root, name) < 0)
        return -ENOMEM;
    if (!mkdtemp(tmp)) /* mode 0700 */
        return -errno;
    (void)chmod(root, 0700);
    r = vc_store_populate(tmp, dir, card); /* counters go to <root>/.counters, beside dir */
    if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0)
        r = -errno;
    if (r < 0) {
        _cleanup_free_ char *counters = NULL;
        (void)remove_tree(tmp);
        if (vc_store_counter_path(dir, card->guid, &counters) == 0)
            (void)unlink(counters);
        return r;
    }
    return vc_store_fsync_dir(root);
}

int
vc_store_lock(const char *dir, int *ret_fd)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;

    if (asprintf(&path, "%s/lock", dir) < 0)
        return -ENOMEM;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return -errno;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int
vc_store_present(const char *dir)
{
    _cleanup_free_ char *conf = NULL, *flag = NULL;

    if (asprintf(&conf, "%s/card.conf", dir) < 0 || asprintf(&flag, "%s/ejected", dir) < 0)
        return -ENOMEM;
    if (access(conf, F_OK) < 0)
        return errno == ENOTDIR ? -ENOENT : -errno;
    if (access(flag, F_OK) == 0)
        return 0;
    return errno == ENOENT ? 1 : -errno;
}

int
vc_store_set_ejected(const char *dir, bool ejected)
{
    _cleanup_free_ char *flag = NULL;
    int r = vc_store_present(dir);

    if (r < 0)
        return r;
    if (asprintf(&flag, "%s/ejected", dir) < 0)
        return -ENOMEM;
    if (ejected) {
        _cleanup_close_ int fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return -errno;
    } else if (unlink(flag) < 0 && errno != ENOENT) {
        return -errno;
    }
    return vc_store_fsync_dir(dir);
}

/* Overwrite a key file with zeros in place and flush it (best effort against recovery). */
static void
wipe_file(const char *dir, const char *name)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    static const uint8_t zeros[4096];
    struct stat st;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return;
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0)
        return;
    for (off_t done = 0; done < st.st_size;) {
        size_t n = (size_t)(st.st_size - done) < sizeof(zeros) ? (size_t)(st.st_size - done) : sizeof(zeros);
        if (write_all(fd, zeros, n) < 0)
            return;
        done += (off_t)n;
    }
    (void)fsync(fd);
}

int
vc_store_destroy(const char *root, const char *name)
{
    _cleanup_free_ char *dir = NULL, *gone = NULL, *counters = NULL;
    _cleanup_card_ struct vc_card *card = NULL;
    char key[32];
    int r;

    r = vc_store_card_dir(root, name, &dir);
    if (r < 0)
        return r;
    r = vc_store_present(dir);
    if (r < 0)
        return r;
    if (vc_store_load(dir, &card) == 0 && vc_store_counter_path(dir, card->guid, &counters) == 0)
        (void)unlink(counters);
    if (asprintf(&gone, "%s/.destroy-%s.%ld.%ld", root, name, (long)getpid(), (long)time(NULL)) < 0)
        return -ENOMEM;
    if (renameat2(AT_FDCWD, dir, AT_FDCWD, gone, RENAME_NOREPLACE) < 0)
        return -errno;
    (void)vc_store_fsync_dir(root);
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        snprintf(key, sizeof(key), "key-%s.sealed", vc_slot_name(s));
        wipe_file(gone, key);
        snprintf(key, sizeof(key), "key-%s.pem", vc_slot_name(s)); /* format 1 */
        wipe_file(gone, key);
    }
    wipe_file(gone, "auth.conf");
    wipe_file(gone, "mgmt.sealed");
    r = remove_tree(gone);
    (void)vc_store_fsync_dir(root);
    return r;
}
