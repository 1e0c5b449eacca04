/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of scardd's reader arrival helpers: Info.plist parsing (resmgr/daemon/plist.c)
 * on a trimmed copy of libccid's real file and on broken ones, and pcsc-lite reader naming
 * "<friendly> NN SS" (resmgr/daemon/naming.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "resmgr/daemon/plist.h"
#include "resmgr/daemon/scardd.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

/* Write @p text to a scratch file; its path goes into @p path (PATH_MAX bytes). */
static void
write_tmp(char *path, const char *text)
{
    FILE *f;

    snprintf(path, 64, "/tmp/test-readers-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
parse_text(const char *text, struct rm_bundle **ret)
{
    char path[64];
    int r;

    write_tmp(path, text);
    r = rm_plist_parse(path, "/drivers/x.bundle", ret);
    unlink(path);
    return r;
}

static void
test_ccid_plist(void **state)
{
    struct rm_bundle *b = NULL;
    const struct rm_plist_device *d;

    (void)state;
    assert_int_equal(rm_plist_parse(TEST_DATA_DIR "/ifd-ccid-Info.plist", "/d/ifd-ccid.bundle", &b),
                     0);
    assert_string_equal(b->library, "/d/ifd-ccid.bundle/Contents/Linux/libccid.so");
    assert_string_equal(b->name, "CCIDCLASSDRIVER");
    assert_int_equal(b->capabilities, 0);
    assert_int_equal(b->n_devices, 4);
    assert_int_equal(b->devices[0].vendor, 0x072F);
    assert_int_equal(b->devices[0].product, 0x90CC);
    assert_string_equal(b->devices[0].friendly, "ACS ACR 38U-CCID");
    d = rm_bundle_match(b, 0x09C3, 0x0014);
    assert_non_null(d);
    assert_string_equal(d->friendly, "ActivIdentity Activkey_Sim");
    assert_null(rm_bundle_match(b, 0x09C3, 0x0015));
    assert_null(rm_bundle_match(b, 0x1234, 0x90CC));
    rm_bundle_free(b);
}

#define HEAD "<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict>\n"
#define EXE "<key>CFBundleExecutable</key><string>libtest.so</string>\n"

static void
test_single_strings(void **state)
{
    struct rm_bundle *b = NULL;

    (void)state;
    /* a bundle for one reader may use plain strings instead of arrays */
    assert_int_equal(parse_text(HEAD EXE "<key>ifdCapabilities</key><string>0x00000001</string>"
                                "<key>ifdVendorID</key><string>0x1050</string>"
                                "<key>ifdProductID</key><string>0x0407</string>"
                                "<key>ifdFriendlyName</key><string>Yubico YubiKey</string>"
                                "</dict></plist>\n", &b), 0);
    assert_int_equal(b->n_devices, 1);
    assert_int_equal(b->capabilities, 1);
    assert_non_null(rm_bundle_match(b, 0x1050, 0x0407));
    assert_string_equal(b->library, "/drivers/x.bundle/Contents/Linux/libtest.so");
    assert_null(b->name);
    rm_bundle_free(b);
}

static void
test_bad_plists(void **state)
{
    struct rm_bundle *b = NULL;

    (void)state;
    assert_int_equal(rm_plist_parse("/nonexistent/Info.plist", "/x", &b), -ENOENT);
    assert_int_equal(parse_text("not xml at all <", &b), -EBADMSG);
    assert_int_equal(parse_text(HEAD "</dict></plist>", &b), -EBADMSG); /* no executable */
    assert_int_equal(parse_text(HEAD "<key>CFBundleExecutable</key><string>../../evil.so</string>"
                                "</dict></plist>", &b), -EBADMSG);
    /* arrays of different lengths */
    assert_int_equal(parse_text(HEAD EXE "<key>ifdVendorID</key><array><string>0x1</string>"
                                "<string>0x2</string></array>"
                                "<key>ifdProductID</key><array><string>0x1</string></array>"
                                "<key>ifdFriendlyName</key><array><string>a</string>"
                                "<string>b</string></array></dict></plist>", &b), -EBADMSG);
    /* not a hex number, a number too large */
    assert_int_equal(parse_text(HEAD EXE "<key>ifdVendorID</key><string>zz</string>"
                                "<key>ifdProductID</key><string>0x1</string>"
                                "<key>ifdFriendlyName</key><string>a</string></dict></plist>",
                                &b), -EBADMSG);
    assert_int_equal(parse_text(HEAD EXE "<key>ifdVendorID</key><string>0x10000</string>"
                                "<key>ifdProductID</key><string>0x1</string>"
                                "<key>ifdFriendlyName</key><string>a</string></dict></plist>",
                                &b), -EBADMSG);
    /* a key without a value */
    assert_int_equal(parse_text(HEAD EXE "<key>ifdVendorID</key></dict></plist>", &b), -EBADMSG);
    /* only some of the three arrays */
    assert_int_equal(parse_text(HEAD EXE "<key>ifdVendorID</key><string>0x1</string>"
                                "</dict></plist>", &b), -EBADMSG);
    assert_null(b);
}

static void
test_name_format(void **state)
{
    char name[RM_WIRE_NAME_MAX], longname[400];

    (void)state;
    rm_reader_name_format(name, sizeof(name), "Test Reader", 0, 0);
    assert_string_equal(name, "Test Reader 00 00");
    rm_reader_name_format(name, sizeof(name), "Test Reader", 0x1a, 0x0f);
    assert_string_equal(name, "Test Reader 1A 0F");
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    rm_reader_name_format(name, sizeof(name), longname, 1, 2);
    assert_int_equal(strlen(name), RM_WIRE_NAME_MAX - 1);
    assert_string_equal(name + strlen(name) - 6, " 01 02");
}

static void
test_name_index(void **state)
{
    const char *names[] = {"X 00 00", "X 00 01", "X 02 00", "X Y 01 00", "Other 01 00", "X 3 00"};
    char longname[400], n0[RM_WIRE_NAME_MAX];
    const char *one[1] = {n0};

    (void)state;
    assert_int_equal(rm_reader_name_index("X", NULL, 0), 0);
    /* 00 is taken by both slots of the first device, 02 by another; "X Y" is another name */
    assert_int_equal(rm_reader_name_index("X", names, 6), 1);
    assert_int_equal(rm_reader_name_index("X", names, 1), 1);
    assert_int_equal(rm_reader_name_index("X Y", names, 6), 0);
    assert_int_equal(rm_reader_name_index("Other", names, 6), 0);
    /* a truncated long name still finds its own index */
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    rm_reader_name_format(n0, sizeof(n0), longname, 0, 0);
    assert_int_equal(rm_reader_name_index(longname, one, 1), 1);
}

static void
test_name_full(void **state)
{
    static char store[256][16];
    const char *names[256];

    (void)state;
    for (unsigned i = 0; i < 256; i++) {
        rm_reader_name_format(store[i], sizeof(store[i]), "R", i, 0);
        names[i] = store[i];
    }
    assert_int_equal(rm_reader_name_index("R", names, 256), -ENOSPC);
    assert_int_equal(rm_reader_name_index("R", names + 1, 255), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ccid_plist),   cmocka_unit_test(test_single_strings),
        cmocka_unit_test(test_bad_plists),   cmocka_unit_test(test_name_format),
        cmocka_unit_test(test_name_index),   cmocka_unit_test(test_name_full),
    };
    rm_plist_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
