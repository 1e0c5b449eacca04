/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The contents of a card directory (format 2) and the card's retry counters, which live
 * outside it in "<store>/.counters/<GUID>" so that copying a card directory back cannot
 * restore spent PIN tries. Private keys are only ever written sealed (keywrap.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/cleanup.h"
#include "resmgr/vcard/keywrap.h"
#include "resmgr/vcard/store-internal.h"

#define FILE_MAX 65536

static void
hex(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static int
unhex(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
    size_t n = strlen(s);

    if (n % 2 || n / 2 > max)
        return -EINVAL;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        out[i] = (uint8_t)v;
    }
    if (ret_len)
        *ret_len = n / 2;
    else if (n / 2 != max)
        return -EINVAL;
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
parse_ini(const char *path, ini_handler handler, void *user)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");

    if (!f)
        return -errno;
    return ini_parse_file(f, handler, user) == 0 ? 0 : -EINVAL;
}

static int
parse_ini_in(const char *dir, const char *name, ini_handler handler, void *user)
{
    _cleanup_free_ char *path = NULL;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    return parse_ini(path, handler, user);
}

int
vc_store_counter_path(const char *dir, const uint8_t guid[VC_GUID_LEN], char **ret_path)
{
    _cleanup_free_ char *copy = strdup(dir);
    char g[2 * VC_GUID_LEN + 1];

    if (!copy)
        return -ENOMEM;
    hex(guid, VC_GUID_LEN, g);
    if (asprintf(ret_path, "%s/.counters/%s", dirname(copy), g) < 0)
        return -ENOMEM;
    return 0;
}

/* --- store key: the machine secret for 9E and the management key ------------------------ */

/* Read "<root>/.store-key" (32 random bytes, 0600), creating it race-free when missing. */
static int
store_key(const char *dir_in_root, bool create, uint8_t key[32])
{
    _cleanup_free_ char *copy = strdup(dir_in_root), *path = NULL, *tmp = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r;

    if (!copy || asprintf(&path, "%s/.store-key", dirname(copy)) < 0)
        return -ENOMEM;
    r = vc_store_read_file(path, 64, &data, &len);
    if (r == -ENOENT && create) {
        uint8_t fresh[32];
        char *slash = strrchr(path, '/');
        *slash = '\0';
        r = RAND_bytes(fresh, sizeof(fresh)) == 1 ? 0 : -EIO;
        if (r == 0)
            r = vc_store_write_file(path, ".store-key.new", fresh, sizeof(fresh), 0600);
        *slash = '/';
        if (r == 0 && asprintf(&tmp, "%s.new", path) < 0)
            r = -ENOMEM;
        if (r == 0 && link(tmp, path) < 0 && errno != EEXIST) /* first creator wins */
            r = -errno;
        if (tmp)
            (void)unlink(tmp);
        OPENSSL_cleanse(fresh, sizeof(fresh));
        if (r == 0)
            r = vc_store_read_file(path, 64, &data, &len);
    }
    if (r < 0)
        return r;
    if (len != 32) {
        OPENSSL_cleanse(data, len);
        return -EINVAL;
    }
    memcpy(key, data, 32);
    OPENSSL_cleanse(data, len);
    return 0;
}

int
vc_store_prepare(const char *root, struct vc_card *card)
{
    _cleanup_free_ char *probe = NULL;

    if (asprintf(&probe, "%s/x", root) < 0)
        return -ENOMEM;
    if (mkdir(root, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (store_key(probe, true, card->store_key) < 0)
        return -EIO;
    card->has_store_key = true;
    return 0;
}

/* --- card.conf ------------------------------------------------------------------------------ */

struct card_conf {
    struct vc_card *card;
    unsigned format;
};

static int
card_conf_handler(void *user, const char *section, const char *name, const char *value)
{
    struct card_conf *cc = user;
    struct vc_card *card = cc->card;

    if (strcmp(section, "card") != 0)
        return 1;
    if (strcmp(name, "format") == 0)
        return parse_count(value, &cc->format) == 0;
    if (strcmp(name, "algorithm") == 0)
        return vc_alg_from_name(value, &card->alg) == 0;
    if (strcmp(name, "guid") == 0)
        return unhex(value, card->guid, VC_GUID_LEN, NULL) == 0;
    if (strcmp(name, "kek-public") == 0)
        return (card->has_kek = unhex(value, card->kek_pub, sizeof(card->kek_pub), NULL) == 0);
    if (strcmp(name, "pin-min") == 0)
        return parse_count(value, &card->pin_min) == 0 && card->pin_min >= 4 && card->pin_min <= 8;
    if (strcmp(name, "pin-max") == 0)
        return parse_count(value, &card->pin_max) == 0 && card->pin_max >= 4 && card->pin_max <= 8;
    return 1; /* unknown keys: newer minor versions */
}

static int
save_card_conf(const char *dir, const struct vc_card *card)
{
    char buf[512], guid[2 * VC_GUID_LEN + 1], kek[65];
    int n;

    hex(card->guid, VC_GUID_LEN, guid);
    hex(card->kek_pub, sizeof(card->kek_pub), kek);
    n = snprintf(buf, sizeof(buf),
                 "# scard virtual PIV card. kek-public is the X25519 key slot keys are sealed to;\n"
                 "# its private half is only in auth.conf, wrapped under the PIN and the PUK.\n"
                 "[card]\nformat = %d\nalgorithm = %s\nguid = %s\nkek-public = %s\npin-min = %u\npin-max = %u\n",
                 VC_CARD_FORMAT, vc_alg_name(card->alg), guid, kek,
                 card->pin_min ? card->pin_min : VC_PIN_MIN_DEFAULT, card->pin_max ? card->pin_max : VC_PIN_MAX_DEFAULT);
    return vc_store_write_file(dir, "card.conf", buf, (size_t)n, 0600);
}

/* --- auth.conf (wraps) and the counter file (tries left) ------------------------------------ */

static int
auth_conf_handler(void *user, const char *section, const char *name, const char *value)
{
    struct vc_auth *auth = user;
    struct vc_ref *ref = strcmp(section, "pin") == 0 ? &auth->pin : strcmp(section, "puk") == 0 ? &auth->puk : NULL;

    if (!ref)
        return 1;
    if (strcmp(name, "wrap") == 0)
        return unhex(value, ref->wrap, sizeof(ref->wrap), &ref->wrap_len) == 0;
    if (strcmp(name, "tries-max") == 0)
        return parse_count(value, &ref->tries_max) == 0;
    return 1;
}

static int
counter_handler(void *user, const char *section, const char *name, const char *value)
{
    struct vc_auth *auth = user;

    if (strcmp(section, "counters") != 0)
        return 1;
    if (strcmp(name, "pin-left") == 0)
        return parse_count(value, &auth->pin.tries_left) == 0;
    if (strcmp(name, "puk-left") == 0)
        return parse_count(value, &auth->puk.tries_left) == 0;
    return 1;
}

int
vc_store_load_auth(const char *dir, const uint8_t guid[VC_GUID_LEN], struct vc_auth *ret_auth)
{
    _cleanup_free_ char *counters = NULL;
    struct vc_auth auth = {0};
    int r = parse_ini_in(dir, "auth.conf", auth_conf_handler, &auth);

    if (r == 0)
        r = vc_store_counter_path(dir, guid, &counters);
    if (r == 0) {
        r = parse_ini(counters, counter_handler, &auth);
        if (r == -ENOENT) { /* no record: a copied or restored card counts as blocked */
            auth.pin.tries_left = auth.puk.tries_left = 0;
            r = 0;
        }
    }
    if (r == 0 && (!auth.pin.wrap_len || !auth.puk.wrap_len || auth.pin.tries_left > auth.pin.tries_max ||
                   auth.puk.tries_left > auth.puk.tries_max))
        r = -EINVAL;
    if (r == 0)
        *ret_auth = auth;
    OPENSSL_cleanse(&auth, sizeof(auth));
    return r;
}

static int
save_wraps(const char *dir, const struct vc_auth *auth)
{
    char buf[1024], pin[2 * sizeof(auth->pin.wrap) + 1], puk[2 * sizeof(auth->puk.wrap) + 1];
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *old = NULL;
    size_t old_len = 0;
    int n;

    hex(auth->pin.wrap, auth->pin.wrap_len, pin);
    hex(auth->puk.wrap, auth->puk.wrap_len, puk);
    n = snprintf(buf, sizeof(buf),
                 "# The card's key-encryption key wrapped under the PIN and under the PUK (scrypt +\n"
                 "# AES-256-GCM, keywrap.h). Tries left are kept outside the card directory.\n"
                 "[pin]\nwrap = %s\ntries-max = %u\n[puk]\nwrap = %s\ntries-max = %u\n",
                 pin, auth->pin.tries_max, puk, auth->puk.tries_max);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -EINVAL;
    if (asprintf(&path, "%s/auth.conf", dir) < 0)
        return -ENOMEM;
    if (vc_store_read_file(path, FILE_MAX, &old, &old_len) == 0 && old_len == (size_t)n && memcmp(old, buf, old_len) == 0)
        return 0; /* unchanged (VERIFY): only the counters move */
    return vc_store_write_file(dir, "auth.conf", buf, (size_t)n, 0600);
}

static int
save_counters(const char *dir, const uint8_t guid[VC_GUID_LEN], const struct vc_auth *auth)
{
    _cleanup_free_ char *path = NULL;
    char buf[128], *slash;
    int n, r;

    r = vc_store_counter_path(dir, guid, &path);
    if (r < 0)
        return r;
    n = snprintf(buf, sizeof(buf), "[counters]\npin-left = %u\npuk-left = %u\n", auth->pin.tries_left,
                 auth->puk.tries_left);
    slash = strrchr(path, '/');
    *slash = '\0';
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    r = vc_store_write_file(path, slash + 1, buf, (size_t)n, 0600);
    *slash = '/';
    return r;
}

int
vc_store_save_auth(const char *dir, const uint8_t guid[VC_GUID_LEN], const struct vc_auth *auth)
{
    int r = save_counters(dir, guid, auth); /* first: a try is spent before any comparison */

    return r < 0 ? r : save_wraps(dir, auth);
}

/* --- slot keys, certificates, objects, management key ---------------------------------------- */

static int
save_key(const char *dir, const struct vc_card *card, enum vc_slot slot)
{
    char name[32];
    _cleanup_free_ uint8_t *der = NULL;
    EVP_PKEY *pub = vc_card_slot_pub(card, slot);
    int len, r;

    snprintf(name, sizeof(name), "key-%s.sealed", vc_slot_name(slot));
    if (!card->sealed[slot] || !pub)
        return -EINVAL; /* never a private key in the clear */
    r = vc_store_write_file(dir, name, card->sealed[slot], card->sealed_len[slot], 0600);
    if (r < 0)
        return r;
    len = i2d_PUBKEY(pub, &der);
    if (len <= 0)
        return -EIO;
    snprintf(name, sizeof(name), "pub-%s.der", vc_slot_name(slot));
    return vc_store_write_file(dir, name, der, (size_t)len, 0600);
}

static int
remove_file(const char *dir, const char *name)
{
    _cleanup_free_ char *path = NULL;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    if (unlink(path) < 0)
        return errno == ENOENT ? 0 : -errno;
    return vc_store_fsync_dir(dir);
}

static int
remove_key(const char *dir, enum vc_slot slot)
{
    char name[32];
    int r;

    snprintf(name, sizeof(name), "key-%s.sealed", vc_slot_name(slot));
    r = remove_file(dir, name);
    snprintf(name, sizeof(name), "pub-%s.der", vc_slot_name(slot));
    return r < 0 ? r : remove_file(dir, name);
}

static int
load_key(const char *dir, struct vc_card *card, enum vc_slot slot)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *der = NULL;
    const uint8_t *p;
    size_t len = 0;
    EVP_PKEY *pub;
    int r;

    if (asprintf(&path, "%s/pub-%s.der", dir, vc_slot_name(slot)) < 0)
        return -ENOMEM;
    r = vc_store_read_file(path, FILE_MAX, &der, &len);
    if (r < 0)
        return r;
    p = der;
    pub = d2i_PUBKEY(NULL, &p, (long)len);
    if (!pub || vc_alg_of_key(pub) == VC_ALG_NONE) {
        EVP_PKEY_free(pub);
        return -EINVAL;
    }
    card->pub[slot] = pub;
    free(path);
    if (asprintf(&path, "%s/key-%s.sealed", dir, vc_slot_name(slot)) < 0)
        return -ENOMEM;
    r = vc_store_read_file(path, FILE_MAX, &card->sealed[slot], &card->sealed_len[slot]);
    return r == -ENOENT ? -EINVAL : r;
}

int
vc_store_save_cert(const char *dir, enum vc_slot slot, const uint8_t *der, size_t len)
{
    char name[32];

    snprintf(name, sizeof(name), "cert-%s.der", vc_slot_name(slot));
    if (der)
        return vc_store_write_file(dir, name, der, len, 0600);
    return remove_file(dir, name);
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
    r = vc_store_read_file(path, VC_CERT_MAX, &der, &len);
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

/* Objects: "obj-<tag hex>.bin" each; files of objects no longer present are removed. */
static int
save_objects(const char *dir, const struct vc_card *card)
{
    DIR *d;
    struct dirent *de;
    char name[32];
    int r = 0;

    for (size_t i = 0; r == 0 && i < card->n_obj; i++) {
        snprintf(name, sizeof(name), "obj-%06x.bin", (unsigned)card->obj[i].tag);
        r = vc_store_write_file(dir, name, card->obj[i].data, card->obj[i].len, 0600);
    }
    d = r == 0 ? opendir(dir) : NULL;
    while (d && (de = readdir(d))) {
        unsigned tag;
        if (sscanf(de->d_name, "obj-%6x.bin", &tag) == 1 && !vc_card_object(card, tag) && r == 0)
            r = remove_file(dir, de->d_name);
    }
    if (d)
        closedir(d);
    return r;
}

static int
load_objects(const char *dir, struct vc_card *card)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int r = 0;

    if (!d)
        return -errno;
    while (r == 0 && (de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0;
        unsigned tag;
        if (sscanf(de->d_name, "obj-%6x.bin", &tag) != 1)
            continue;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
            r = -ENOMEM;
        else if ((r = vc_store_read_file(path, VC_CERT_MAX, &data, &len)) == 0)
            r = vc_card_set_object(card, tag, data, len);
    }
    closedir(d);
    return r;
}

static void
mgmt_aad(const struct vc_card *card, uint8_t aad[VC_GUID_LEN + 4])
{
    memcpy(aad, card->guid, VC_GUID_LEN);
    memcpy(aad + VC_GUID_LEN, "mgmt", 4);
}

/* mgmt.sealed: alg ‖ key under the store key; absent = the default 3DES key. */
static int
save_mgmt(const char *dir, const struct vc_card *card)
{
    uint8_t plain[1 + VC_MGMT_KEY_MAX], aad[VC_GUID_LEN + 4];
    _cleanup_free_ uint8_t *blob = NULL;
    size_t len = 0;
    int r;

    if (!card->mgmt_alg)
        return remove_file(dir, "mgmt.sealed");
    if (!card->has_store_key)
        return -EACCES;
    plain[0] = card->mgmt_alg;
    memcpy(plain + 1, card->mgmt_key, card->mgmt_key_len);
    mgmt_aad(card, aad);
    r = vc_aead_seal(card->store_key, aad, sizeof(aad), plain, 1 + card->mgmt_key_len, &blob, &len);
    OPENSSL_cleanse(plain, sizeof(plain));
    return r < 0 ? r : vc_store_write_file(dir, "mgmt.sealed", blob, len, 0600);
}

static int
load_mgmt(const char *dir, struct vc_card *card)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *blob = NULL;
    uint8_t aad[VC_GUID_LEN + 4], *plain = NULL;
    size_t len = 0, plen = 0;
    int r;

    if (asprintf(&path, "%s/mgmt.sealed", dir) < 0)
        return -ENOMEM;
    r = vc_store_read_file(path, FILE_MAX, &blob, &len);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (!card->has_store_key)
        return 0; /* not readable here: management commands will fail authentication */
    mgmt_aad(card, aad);
    r = vc_aead_open(card->store_key, aad, sizeof(aad), blob, len, &plain, &plen);
    if (r < 0)
        return r;
    if (plen < 2 || vc_mgmt_key_len(plain[0]) != plen - 1) {
        OPENSSL_secure_clear_free(plain, plen);
        return -EINVAL;
    }
    card->mgmt_alg = plain[0];
    card->mgmt_key_len = plen - 1;
    memcpy(card->mgmt_key, plain + 1, plen - 1);
    OPENSSL_secure_clear_free(plain, plen);
    return 0;
}

int
vc_store_save(const char *dir, const struct vc_card *card, unsigned what)
{
    int r = 0;

    for (int s = 0; r == 0 && s < VC_SLOT_MAX; s++) {
        if (what & VC_SAVE_KEY(s))
            r = vc_card_slot_pub(card, s) ? save_key(dir, card, s) : remove_key(dir, s);
        if (r == 0 && (what & VC_SAVE_CERT(s)))
            r = vc_store_save_cert(dir, s, card->cert[s], card->cert_len[s]);
    }
    if (r == 0 && (what & VC_SAVE_OBJECTS))
        r = save_objects(dir, card);
    if (r == 0 && (what & VC_SAVE_MGMT))
        r = save_mgmt(dir, card);
    return r;
}

int
vc_store_populate(const char *dir, const char *counter_dir_of, const struct vc_card *card)
{
    int r;

    if (!card->has_kek)
        return -EINVAL; /* only cards with sealed keys are ever stored */
    r = save_card_conf(dir, card);
    if (r == 0)
        r = save_wraps(dir, &card->auth);
    if (r == 0)
        r = vc_store_save(dir, card, VC_SAVE_ALL);
    if (r == 0)
        r = save_counters(counter_dir_of, card->guid, &card->auth);
    return r;
}

int
vc_store_load(const char *dir, struct vc_card **ret_card)
{
    _cleanup_card_ struct vc_card *card = vc_card_new();
    _cleanup_free_ char *legacy = NULL;
    struct card_conf cc = {.card = card};
    int r;

    if (!card)
        return -ENOMEM;
    r = parse_ini_in(dir, "card.conf", card_conf_handler, &cc);
    if (r < 0)
        return r;
    if (asprintf(&legacy, "%s/key-9a.pem", dir) < 0)
        return -ENOMEM;
    if (cc.format == 1 || access(legacy, F_OK) == 0)
        return -EPROTONOSUPPORT; /* cleartext keys of format 1: re-create the card */
    if (cc.format != VC_CARD_FORMAT || card->alg == VC_ALG_NONE || !card->has_kek)
        return -EINVAL;
    r = vc_store_load_auth(dir, card->guid, &card->auth);
    if (r < 0)
        return r;
    card->has_store_key = store_key(dir, false, card->store_key) == 0;
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        r = load_key(dir, card, s);
        if (r < 0 && r != -ENOENT)
            return r;
        r = load_cert(dir, s, card);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    r = load_objects(dir, card);
    if (r == 0)
        r = load_mgmt(dir, card);
    if (r < 0)
        return r;
    if (card->sealed[VC_SLOT_9E] && card->has_store_key && (r = vc_card_unlock_9e(card)) < 0)
        return r;
    *ret_card = TAKE_PTR(card);
    return 0;
}

/* --- the applet's persistence hooks on a stored card ------------------------------------------ */

static int
hook_lock(void *userdata, struct vc_auth *auth)
{
    struct vc_store_handle *h = userdata;
    int r = vc_store_lock(h->dir, &h->lock_fd);

    if (r < 0)
        return r;
    r = vc_store_load_auth(h->dir, h->guid, auth); /* another process may have counted down */
    if (r < 0) {
        close(h->lock_fd);
        h->lock_fd = -1;
    }
    return r;
}

static int
hook_save(void *userdata, const struct vc_auth *auth)
{
    struct vc_store_handle *h = userdata;
    return vc_store_save_auth(h->dir, h->guid, auth);
}

static void
hook_unlock(void *userdata)
{
    struct vc_store_handle *h = userdata;
    if (h->lock_fd >= 0)
        close(h->lock_fd);
    h->lock_fd = -1;
}

static int
hook_card_save(void *userdata, const struct vc_card *card, unsigned what)
{
    struct vc_store_handle *h = userdata;
    _cleanup_close_ int fd = -1;
    int r = vc_store_lock(h->dir, &fd);

    return r < 0 ? r : vc_store_save(h->dir, card, what);
}

const struct piv_ops vc_store_piv_ops = {
    .auth_lock = hook_lock,
    .auth_save = hook_save,
    .auth_unlock = hook_unlock,
    .card_save = hook_card_save,
};
