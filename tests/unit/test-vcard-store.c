/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of resmgr/vcard/store.c: store root precedence, atomic card creation,
 * load/save round trips, file modes, the ejected flag, and destroy.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

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
    assert_int_equal(vc_secret_hash("123456", 6, 1000, c->auth.pin.hash), 0);
    assert_int_equal(vc_secret_hash("12345678", 8, 1000, c->auth.puk.hash), 0);
    c->auth.pin.tries_left = c->auth.pin.tries_max = 5;
    c->auth.puk.tries_left = c->auth.puk.tries_max = 3;
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
    assert_int_equal(count_entries(root), 1); /* no temporary directory left */
    assert_int_equal(vc_store_create(root, "alice", c), -EEXIST);
    assert_int_equal(count_entries(root), 1);
    assert_int_equal(vc_store_create(root, "../evil", c), -EINVAL);
    assert_int_equal(vc_store_create(root, ".hidden", c), -EINVAL);

    snprintf(dir, sizeof(dir), "%s/alice", root);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/key-9a.pem", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/auth.conf", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(vc_store_load(dir, &l), 0);
    assert_int_equal(l->alg, VC_ALG_ECCP256);
    assert_memory_equal(l->guid, c->guid, VC_GUID_LEN);
    assert_int_equal(EVP_PKEY_eq(l->key[VC_SLOT_9A], c->key[VC_SLOT_9A]), 1);
    assert_null(l->key[VC_SLOT_9C]);
    assert_null(l->cert[VC_SLOT_9A]);
    assert_string_equal(l->auth.pin.hash, c->auth.pin.hash);
    assert_int_equal(l->auth.puk.tries_left, 3);
    assert_int_equal(vc_secret_check(l->auth.pin.hash, "123456", 6), 0);
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
    assert_int_equal(vc_store_save_auth(dir, &c->auth), 0);
    assert_int_equal(vc_store_load_auth(dir, &a), 0);
    assert_int_equal(a.pin.tries_left, 2);
    assert_int_equal(a.pin.tries_max, 5);
    assert_int_equal(count_entries(dir), 3); /* card.conf auth.conf key-9a.pem */

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
    assert_int_equal(count_entries(root), 0);
    assert_int_equal(vc_store_destroy(root, "bob"), -ENOENT);
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
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
