/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the card store (store.c, store-card.c): root precedence, atomic creation,
 * load/save round trips, file modes, the ejected flag, destroy, and keys at rest: no private
 * key bytes in any file, the PIN opens the keys and a wrong one does not, counters survive a
 * copied-back card directory, old cleartext cards are refused, failed writes leave no trace.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "resmgr/vcard/keywrap.h"
#include "resmgr/vcard/piv.h"
#include "resmgr/vcard/store.h"

static char root[64];

static int
setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/test-vcard-store.XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct vc_card *
make_card(void)
{
    struct vc_card *c = vc_card_new();
    assert_non_null(c);
    c->alg = VC_ALG_ECCP256;
    for (int i = 0; i < VC_GUID_LEN; i++)
        c->guid[i] = (uint8_t)i;
    assert_int_equal(vc_key_generate(VC_ALG_ECCP256, &c->key[VC_SLOT_9A]), 0);
    assert_int_equal(vc_store_prepare(root, c), 0);
    c->auth.puk.tries_max = 3;
    assert_int_equal(vc_card_provision(c, "123456", 6, "12345678", 8, VC_SCRYPT_LOG2N_MIN), 0);
    return c;
}

static int
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void
test_create_load(void **state)
{
    _cleanup_card_ struct vc_card *c = make_card(), *l = NULL;
    char dir[128], path[160];
    struct stat st;
    (void)state;

    assert_int_equal(vc_store_create(root, "alice", c), 0);
    assert_int_equal(count_entries(root), 3); /* alice .counters .store-key: no temporary directory */
    assert_int_equal(vc_store_create(root, "alice", c), -EEXIST);
    assert_int_equal(count_entries(root), 3);
    assert_int_equal(vc_store_create(root, "../evil", c), -EINVAL);
    assert_int_equal(vc_store_create(root, ".hidden", c), -EINVAL);

    snprintf(dir, sizeof(dir), "%s/alice", root);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/key-9a.sealed", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/auth.conf", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(vc_store_load(dir, &l), 0);
    assert_int_equal(l->alg, VC_ALG_ECCP256);
    assert_memory_equal(l->guid, c->guid, VC_GUID_LEN);
    assert_null(l->key[VC_SLOT_9A]); /* sealed until the PIN opens it */
    assert_int_equal(EVP_PKEY_eq(l->pub[VC_SLOT_9A], c->key[VC_SLOT_9A]), 1);
    assert_null(vc_card_slot_pub(l, VC_SLOT_9C));
    assert_null(l->cert[VC_SLOT_9A]);
    assert_int_equal(l->auth.puk.tries_left, 3);
    assert_int_equal(l->auth.pin.tries_left, 5);
    {
        uint8_t kek[32];
        assert_int_equal(vc_card_open_ref(l, false, "654321", 6, kek), -EACCES);
        assert_int_equal(vc_card_open_ref(l, true, "123456", 6, kek), -EACCES);
        assert_int_equal(vc_card_open_ref(l, false, "123456", 6, kek), 0);
        assert_int_equal(vc_card_unlock(l, kek), 0);
        assert_int_equal(EVP_PKEY_eq(l->key[VC_SLOT_9A], c->key[VC_SLOT_9A]), 1);
        vc_card_lock(l);
        assert_null(l->key[VC_SLOT_9A]);
        /* the same card's PUK also opens the KEK */
        assert_int_equal(vc_card_open_ref(l, true, "12345678", 8, kek), 0);
        OPENSSL_cleanse(kek, sizeof(kek));
    }
    assert_int_equal(vc_store_load("/nonexistent/x", &l), -ENOENT);
}

static void
test_auth_and_flags(void **state)
{
    _cleanup_card_ struct vc_card *c = make_card();
    struct vc_auth a;
    char dir[128];
    int fd;
    (void)state;

    assert_int_equal(vc_store_create(root, "bob", c), 0);
    snprintf(dir, sizeof(dir), "%s/bob", root);
    c->auth.pin.tries_left = 2;
    assert_int_equal(vc_store_save_auth(dir, c->guid, &c->auth), 0);
    assert_int_equal(vc_store_load_auth(dir, c->guid, &a), 0);
    assert_int_equal(a.pin.tries_left, 2);
    assert_int_equal(a.pin.tries_max, 5);
    assert_int_equal(count_entries(dir), 4); /* card.conf auth.conf key-9a.sealed pub-9a.der */

    assert_int_equal(vc_store_lock(dir, &fd), 0);
    assert_true(fd >= 0);
    close(fd);

    assert_int_equal(vc_store_present(dir), 1);
    assert_int_equal(vc_store_set_ejected(dir, true), 0);
    assert_int_equal(vc_store_present(dir), 0);
    assert_int_equal(vc_store_set_ejected(dir, true), 0);
    assert_int_equal(vc_store_set_ejected(dir, false), 0);
    assert_int_equal(vc_store_present(dir), 1);
    assert_int_equal(vc_store_present("/nonexistent/card"), -ENOENT);
    assert_int_equal(vc_store_set_ejected("/nonexistent/card", true), -ENOENT);

    /* a certificate file that is not DER makes the card unloadable, not half-loaded */
    assert_int_equal(vc_store_write_file(dir, "cert-9a.der", "junk", 4, 0600), 0);
    struct vc_card *bad = NULL;
    assert_int_equal(vc_store_load(dir, &bad), -EINVAL);
    assert_null(bad);
    assert_int_equal(vc_store_save_cert(dir, VC_SLOT_9A, NULL, 0), 0);
    assert_int_equal(vc_store_load(dir, &bad), 0);
    vc_card_free(bad);

    assert_int_equal(vc_store_destroy(root, "bob"), 0);
    assert_int_equal(count_entries(root), 2); /* .store-key and an empty .counters */
    snprintf(dir, sizeof(dir), "%s/.counters", root);
    assert_int_equal(count_entries(dir), 0);
    assert_int_equal(vc_store_destroy(root, "bob"), -ENOENT);
}


/* Does any file under @p dir (recursively) contain @p needle? */
static bool
tree_contains(const char *dir, const void *needle, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    assert_non_null(d);
    while (!found && (de = readdir(d))) {
        char path[512];
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        assert_int_equal(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            found = tree_contains(path, needle, len);
        } else if (S_ISREG(st.st_mode) && (size_t)st.st_size >= len) {
            FILE *f = fopen(path, "rb");
            uint8_t *buf = malloc((size_t)st.st_size);
            assert_non_null(f);
            assert_non_null(buf);
            assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
            fclose(f);
            for (size_t i = 0; !found && i + len <= (size_t)st.st_size; i++)
                found = memcmp(buf + i, needle, len) == 0;
            free(buf);
        }
    }
    closedir(d);
    return found;
}

static void
assert_key_absent(EVP_PKEY *key)
{
    uint8_t *der = NULL, *p8der = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    int len = i2d_PrivateKey(key, &der), p8len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &p8der) : -1;

    assert_true(len > 32 && p8len > 32);
    assert_false(tree_contains(root, der, (size_t)len));
    assert_false(tree_contains(root, p8der, (size_t)p8len));
    { /* the secret number itself: EC private scalar, RSA private exponent */
        BIGNUM *bn = NULL;
        uint8_t raw[512];
        int n;
        assert_int_equal(EVP_PKEY_get_bn_param(key, EVP_PKEY_is_a(key, "RSA") ? OSSL_PKEY_PARAM_RSA_D
                                                                              : OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
        n = BN_bn2bin(bn, raw);
        assert_true(n >= 32);
        assert_false(tree_contains(root, raw, (size_t)n));
        OPENSSL_cleanse(raw, sizeof(raw));
        BN_clear_free(bn);
    }
    OPENSSL_clear_free(der, (size_t)len);
    OPENSSL_clear_free(p8der, (size_t)p8len);
    PKCS8_PRIV_KEY_INFO_free(p8);
}

static void
test_no_cleartext_keys(void **state)
{
    _cleanup_card_ struct vc_card *c = make_card();
    (void)state;

    assert_int_equal(vc_key_generate(VC_ALG_RSA2048, &c->key[VC_SLOT_9C]), 0);
    assert_int_equal(vc_key_generate(VC_ALG_ECCP384, &c->key[VC_SLOT_9E]), 0);
    assert_int_equal(vc_card_seal_key(c, VC_SLOT_9C), 0);
    assert_int_equal(vc_card_seal_key(c, VC_SLOT_9E), 0);
    assert_int_equal(vc_store_create(root, "carol", c), 0);
    for (int s = 0; s < VC_SLOT_MAX; s++)
        if (c->key[s])
            assert_key_absent(c->key[s]);
    assert_false(tree_contains(root, "PRIVATE KEY", 11));
    assert_false(tree_contains(root, "123456", 6)); /* neither PIN nor PUK */
}

static uint16_t
send(struct piv_applet *a, const uint8_t *cmd, size_t len)
{
    uint8_t resp[PIV_RESPONSE_MAX];
    size_t n;
    assert_int_equal(piv_applet_transmit(a, cmd, len, resp, sizeof(resp), &n), 0);
    return (uint16_t)(resp[n - 2] << 8 | resp[n - 1]);
}

/* Power up the stored card under the store's hooks, SELECT, VERIFY @p pin; returns the SW. */
static uint16_t
stored_verify(const char *dir, const char *pin)
{
    static const uint8_t sel[] = {0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08};
    uint8_t cmd[13] = {0x00, 0x20, 0x00, 0x80, 0x08};
    struct vc_card *card = NULL;
    struct piv_applet *a = NULL;
    struct vc_store_handle h = {.dir = dir, .lock_fd = -1};
    uint16_t sw;

    assert_int_equal(vc_store_load(dir, &card), 0);
    memcpy(h.guid, card->guid, VC_GUID_LEN);
    assert_int_equal(piv_applet_new(card, &vc_store_piv_ops, &h, &a), 0);
    assert_int_equal(send(a, sel, sizeof(sel)), 0x9000);
    memset(cmd + 5, 0xff, 8);
    memcpy(cmd + 5, pin, strlen(pin));
    sw = send(a, cmd, sizeof(cmd));
    if (sw == 0x9000)
        assert_non_null(card->key[VC_SLOT_9A]); /* the PIN opened the key */
    else
        assert_null(card->key[VC_SLOT_9A]);
    piv_applet_free(a);
    assert_null(card->key[VC_SLOT_9A]); /* power-down forgets it */
    vc_card_free(card);
    return sw;
}

static void
test_counter_rollback(void **state)
{
    _cleanup_card_ struct vc_card *c = make_card();
    char dir[128], cmd[512], counters[256];
    (void)state;

    assert_int_equal(vc_store_create(root, "dave", c), 0);
    snprintf(dir, sizeof(dir), "%s/dave", root);
    assert_int_equal(stored_verify(dir, "123456"), 0x9000);
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s.copy'", dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(stored_verify(dir, "000000"), 0x63c4);
    assert_int_equal(stored_verify(dir, "000000"), 0x63c3);
    assert_int_equal(stored_verify(dir, "000000"), 0x63c2);
    assert_int_equal(stored_verify(dir, "000000"), 0x63c1);
    assert_int_equal(stored_verify(dir, "000000"), 0x63c0);
    assert_int_equal(stored_verify(dir, "123456"), 0x6983);
    /* copy the old directory back: the counter lives outside it, still blocked */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s.copy' '%s'", dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(stored_verify(dir, "123456"), 0x6983);
    /* a missing counter record (card copied to another store) reads as blocked */
    snprintf(counters, sizeof(counters), "%s/.counters", root);
    snprintf(cmd, sizeof(cmd), "rm -f '%s'/*", counters);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(stored_verify(dir, "123456"), 0x6983);
}

static void
test_refused_and_atomic(void **state)
{
    _cleanup_card_ struct vc_card *c = make_card(), *plain = vc_card_new(), *l = NULL;
    char dir[128], path[160];
    (void)state;

    /* a card without a KEK (keys would be in the clear) is never stored */
    assert_non_null(plain);
    plain->alg = VC_ALG_ECCP256;
    assert_int_equal(vc_store_create(root, "plain", plain), -EINVAL);
    assert_int_equal(count_entries(root), 1); /* just .store-key: nothing half-written */
    /* an old format-1 card with a cleartext key file is refused */
    snprintf(dir, sizeof(dir), "%s/old", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(vc_store_write_file(dir, "card.conf", "[card]\nformat = 1\n", 18, 0600), 0);
    assert_int_equal(vc_store_write_file(dir, "key-9a.pem", "x", 1, 0600), 0);
    assert_int_equal(vc_store_load(dir, &l), -EPROTONOSUPPORT);
    /* a write that cannot be renamed into place leaves the old file and no temporary */
    assert_int_equal(vc_store_create(root, "erin", c), 0);
    snprintf(dir, sizeof(dir), "%s/erin", root);
    snprintf(path, sizeof(path), "%s/cert-9a.der", dir);
    assert_int_equal(mkdir(path, 0700), 0); /* rename(2) of a file over a directory fails */
    assert_int_equal(vc_store_write_file(dir, "cert-9a.der", "x", 1, 0600), -EISDIR);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(count_entries(dir), 4);
    assert_int_equal(vc_store_load(dir, &l), 0);
}

static void
test_root(void **state)
{
    char conf[128], *r = NULL;
    FILE *f;
    (void)state;

    snprintf(conf, sizeof(conf), "%s/scard.conf", root);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "[vcard]\nstore = /from/config\n");
    fclose(f);
    setenv("SCARD_CONF", conf, 1);
    unsetenv("SCARD_VCARD_STORE");
    assert_int_equal(vc_store_root(NULL, &r), 0);
    assert_string_equal(r, "/from/config");
    free(r);
    setenv("SCARD_VCARD_STORE", "/from/env", 1);
    assert_int_equal(vc_store_root(NULL, &r), 0);
    assert_string_equal(r, "/from/env");
    free(r);
    assert_int_equal(vc_store_root("/from/option", &r), 0);
    assert_string_equal(r, "/from/option");
    free(r);
    unsetenv("SCARD_VCARD_STORE");
    f = fopen(conf, "w");
    fprintf(f, "[vcard]\n");
    fclose(f);
    assert_int_equal(vc_store_root(NULL, &r), 0);
    assert_string_equal(r, VC_STORE_DEFAULT);
    free(r);
    setenv("SCARD_CONF", "/nonexistent/scard.conf", 1);
    assert_int_equal(vc_store_root(NULL, &r), -ENOENT);
    unsetenv("SCARD_CONF");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cleartext_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
