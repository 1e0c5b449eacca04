/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Virtual card store on disk: locating the store, creating a card atomically (built in a
 * hidden directory, then renamed into place), loading it, rewriting its PIN/PUK state and
 * certificates atomically, the "ejected" flag, and destruction with key overwrite.
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
#include "resmgr/vcard/store.h"

#define CARD_FORMAT 1
#define FILE_MAX 65536

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

static int
fsync_dir(const char *dir)
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
    return fsync_dir(dir);
}

static int
read_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
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

/* --- card.conf and auth.conf ------------------------------------------------------------- */

static int
parse_guid(const char *hex, uint8_t guid[VC_GUID_LEN])
{
    if (strlen(hex) != 2 * VC_GUID_LEN)
        return -EINVAL;
    for (size_t i = 0; i < VC_GUID_LEN; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        guid[i] = (uint8_t)v;
    }
    return 0;
}

static int
parse_count(const char *v, unsigned *ret)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || end == v || *end || n > 99)
        return -EINVAL;
    *ret = (unsigned)n;
    return 0;
}

static int
card_conf_handler(void *user, const char *section, const char *name, const char *value)
{
    struct vc_card *card = user;
    unsigned format;

    if (strcmp(section, "card") != 0)
        return 0;
    if (strcmp(name, "format") == 0)
        return parse_count(value, &format) == 0 && format == CARD_FORMAT;
    if (strcmp(name, "algorithm") == 0)
        return vc_alg_from_name(value, &card->alg) == 0;
    if (strcmp(name, "guid") == 0)
        return parse_guid(value, card->guid) == 0;
    return 0;
}

static int
auth_conf_handler(void *user, const char *section, const char *name, const char *value)
{
    struct vc_auth *auth = user;
    struct vc_ref *ref = strcmp(section, "pin") == 0 ? &auth->pin : strcmp(section, "puk") == 0 ? &auth->puk : NULL;

    if (!ref)
        return 0;
    if (strcmp(name, "hash") == 0)
        return snprintf(ref->hash, sizeof(ref->hash), "%s", value) < (int)sizeof(ref->hash);
    if (strcmp(name, "tries-left") == 0)
        return parse_count(value, &ref->tries_left) == 0;
    if (strcmp(name, "tries-max") == 0)
        return parse_count(value, &ref->tries_max) == 0;
    return 0;
}

static int
parse_ini(const char *dir, const char *name, ini_handler handler, void *user)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_fclose_ FILE *f = NULL;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    f = fopen(path, "re");
    if (!f)
        return -errno;
    return ini_parse_file(f, handler, user) == 0 ? 0 : -EINVAL;
}

int
vc_store_load_auth(const char *dir, struct vc_auth *ret_auth)
{
    struct vc_auth auth = {0};
    int r = parse_ini(dir, "auth.conf", auth_conf_handler, &auth);

    if (r == 0 && (!auth.pin.hash[0] || !auth.puk.hash[0] || auth.pin.tries_left > auth.pin.tries_max ||
                   auth.puk.tries_left > auth.puk.tries_max))
        r = -EINVAL;
    if (r == 0)
        *ret_auth = auth;
    OPENSSL_cleanse(&auth, sizeof(auth));
    return r;
}

int
vc_store_save_auth(const char *dir, const struct vc_auth *auth)
{
    char buf[2 * VC_HASH_MAX + 256];
    int n, r;

    n = snprintf(buf, sizeof(buf),
                 "# PIN (80) and PUK (81) reference data of a scard virtual PIV card: salted\n"
                 "# PBKDF2 hashes, never the secrets. Rewritten atomically by the card.\n"
                 "[pin]\nhash = %s\ntries-left = %u\ntries-max = %u\n"
                 "[puk]\nhash = %s\ntries-left = %u\ntries-max = %u\n",
                 auth->pin.hash, auth->pin.tries_left, auth->pin.tries_max, auth->puk.hash,
                 auth->puk.tries_left, auth->puk.tries_max);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -EINVAL;
    r = vc_store_write_file(dir, "auth.conf", buf, (size_t)n, 0600);
    OPENSSL_cleanse(buf, sizeof(buf));
    return r;
}

static int
save_card_conf(const char *dir, const struct vc_card *card)
{
    char buf[256], guid[2 * VC_GUID_LEN + 1];
    int n;

    for (size_t i = 0; i < VC_GUID_LEN; i++)
        snprintf(guid + 2 * i, 3, "%02x", card->guid[i]);
    n = snprintf(buf, sizeof(buf),
                 "# scard virtual PIV card, written once by scard-vcard create.\n"
                 "[card]\nformat = %d\nalgorithm = %s\nguid = %s\n",
                 CARD_FORMAT, vc_alg_name(card->alg), guid);
    return vc_store_write_file(dir, "card.conf", buf, (size_t)n, 0600);
}

/* --- keys and certificates ---------------------------------------------------------------- */

/*
 * The private key is stored as cleartext PKCS#8 PEM, protected only by mode 0600 and the
 * 0700 directory. A later change wraps it under a key derived from the PIN (and the
 * management key); the file name then changes, so old and new cards cannot be confused.
 */
static int
save_key(const char *dir, enum vc_slot slot, EVP_PKEY *key)
{
    char name[32];
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data;
    long len;
    int r = -EIO;

    if (!bio)
        return -ENOMEM;
    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 &&
        (len = BIO_get_mem_data(bio, &data)) > 0) {
        snprintf(name, sizeof(name), "key-%s.pem", vc_slot_name(slot));
        r = vc_store_write_file(dir, name, data, (size_t)len, 0600);
    }
    BIO_free(bio); /* secure heap: wiped */
    return r;
}

static int
load_key(const char *dir, enum vc_slot slot, EVP_PKEY **ret_key)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_fclose_ FILE *f = NULL;
    EVP_PKEY *key;

    if (asprintf(&path, "%s/key-%s.pem", dir, vc_slot_name(slot)) < 0)
        return -ENOMEM;
    f = fopen(path, "re");
    if (!f)
        return -errno;
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (!key || vc_alg_of_key(key) == VC_ALG_NONE) {
        EVP_PKEY_free(key);
        return -EINVAL;
    }
    *ret_key = key;
    return 0;
}

int
vc_store_save_cert(const char *dir, enum vc_slot slot, const uint8_t *der, size_t len)
{
    _cleanup_free_ char *path = NULL;
    char name[32];

    snprintf(name, sizeof(name), "cert-%s.der", vc_slot_name(slot));
    if (der)
        return vc_store_write_file(dir, name, der, len, 0600);
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return fsync_dir(dir);
}

static int
load_cert(const char *dir, enum vc_slot slot, struct vc_card *card)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *der = NULL;
    const uint8_t *p;
    size_t len = 0;
    X509 *x;
    bool ok;
    int r;

    if (asprintf(&path, "%s/cert-%s.der", dir, vc_slot_name(slot)) < 0)
        return -ENOMEM;
    r = read_file(path, VC_CERT_MAX, &der, &len);
    if (r < 0)
        return r;
    p = der;
    x = d2i_X509(NULL, &p, (long)len);
    ok = x && p == der + len;
    X509_free(x);
    if (!ok)
        return -EINVAL;
    return vc_card_set_cert(card, slot, der, len);
}

int
vc_store_load(const char *dir, struct vc_card **ret_card)
{
    _cleanup_card_ struct vc_card *card = vc_card_new();
    int r;

    if (!card)
        return -ENOMEM;
    r = parse_ini(dir, "card.conf", card_conf_handler, card);
    if (r < 0)
        return r;
    if (card->alg == VC_ALG_NONE)
        return -EINVAL;
    r = vc_store_load_auth(dir, &card->auth);
    if (r < 0)
        return r;
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        r = load_key(dir, s, &card->key[s]);
        if (r < 0 && r != -ENOENT)
            return r;
        r = load_cert(dir, s, card);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    *ret_card = TAKE_PTR(card);
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

static int
populate(const char *dir, const struct vc_card *card)
{
    int r = save_card_conf(dir, card);

    if (r == 0)
        r = vc_store_save_auth(dir, &card->auth);
    for (int s = 0; r == 0 && s < VC_SLOT_MAX; s++) {
        if (card->key[s])
            r = save_key(dir, s, card->key[s]);
        if (r == 0 && card->cert[s])
            r = vc_store_save_cert(dir, s, card->cert[s], card->cert_len[s]);
    }
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
    r = populate(tmp, card);
    if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0)
        r = -errno;
    if (r < 0) {
        (void)remove_tree(tmp);
        return r;
    }
    return fsync_dir(root);
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
    return fsync_dir(dir);
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
    _cleanup_free_ char *dir = NULL, *gone = NULL;
    char key[32];
    int r;

    r = vc_store_card_dir(root, name, &dir);
    if (r < 0)
        return r;
    r = vc_store_present(dir);
    if (r < 0)
        return r;
    if (asprintf(&gone, "%s/.destroy-%s.%ld.%ld", root, name, (long)getpid(), (long)time(NULL)) < 0)
        return -ENOMEM;
    if (renameat2(AT_FDCWD, dir, AT_FDCWD, gone, RENAME_NOREPLACE) < 0)
        return -errno;
    (void)fsync_dir(root);
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        snprintf(key, sizeof(key), "key-%s.pem", vc_slot_name(s));
        wipe_file(gone, key);
    }
    r = remove_tree(gone);
    (void)fsync_dir(root);
    return r;
}
