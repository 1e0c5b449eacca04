/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of resmgr/vcard/piv.c: the PIV applet driven with the APDUs OpenSC's PIV-II
 * driver sends (SELECT, GET DATA + GET RESPONSE, VERIFY, PUK unblock, CHANGE REFERENCE
 * DATA, GENERAL AUTHENTICATE with RSA/ECC/ECDH checked by OpenSSL, chaining, bad APDUs).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "resmgr/vcard/keywrap.h"
#include "resmgr/vcard/piv.h"

#define ITER 1000 /* cheap PBKDF2 for tests */

struct fixture {
    struct vc_card *card;
    struct piv_applet *applet;
    /* persistence hooks */
    int saves, locks, unlocks;
    unsigned card_saves;
    bool fail_save;
    struct vc_auth saved;
};

static int
hook_lock(void *u, struct vc_auth *auth)
{
    struct fixture *f = u;
    (void)auth;
    assert_int_equal(f->locks, f->unlocks); /* never nested */
    f->locks++;
    return 0;
}

static int
hook_save(void *u, const struct vc_auth *auth)
{
    struct fixture *f = u;
    assert_int_equal(f->locks, f->unlocks + 1); /* only under the lock */
    if (f->fail_save)
        return -EIO;
    f->saves++;
    f->saved = *auth;
    return 0;
}

static void
hook_unlock(void *u)
{
    struct fixture *f = u;
    f->unlocks++;
}

static int
hook_card_save(void *u, const struct vc_card *card, unsigned what)
{
    struct fixture *f = u;
    (void)card;
    if (f->fail_save)
        return -EIO;
    f->card_saves |= what;
    return 0;
}

static const struct piv_ops ops = {hook_lock, hook_save, hook_unlock, hook_card_save};

static void
self_signed(struct vc_card *card, enum vc_slot slot)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    uint8_t *der = NULL;
    int len;

    assert_non_null(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"test-piv", -1, -1, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, card->key[slot]);
    assert_true(X509_sign(x, card->key[slot], EVP_sha256()) > 0);
    len = i2d_X509(x, &der);
    assert_true(len > 300); /* must need GET RESPONSE chaining */
    assert_int_equal(vc_card_set_cert(card, slot, der, (size_t)len), 0);
    OPENSSL_free(der);
    X509_NAME_free(n);
    X509_free(x);
}

static void
set_ref(struct vc_ref *ref, const char *secret, unsigned tries)
{
    assert_int_equal(vc_secret_hash(secret, strlen(secret), ITER, ref->hash), 0);
    ref->tries_left = ref->tries_max = tries;
}

static int
setup(void **state)
{
    static EVP_PKEY *rsa, *ec; /* generated once: RSA keygen is slow */
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    if (!rsa) {
        assert_int_equal(vc_key_generate(VC_ALG_RSA2048, &rsa), 0);
        assert_int_equal(vc_key_generate(VC_ALG_ECCP256, &ec), 0);
    }
    f->card = vc_card_new();
    assert_non_null(f->card);
    f->card->alg = VC_ALG_RSA2048;
    memset(f->card->guid, 0xa5, VC_GUID_LEN);
    EVP_PKEY_up_ref(rsa);
    EVP_PKEY_up_ref(ec);
    f->card->key[VC_SLOT_9A] = rsa;
    f->card->key[VC_SLOT_9C] = ec;
    self_signed(f->card, VC_SLOT_9A);
    set_ref(&f->card->auth.pin, "123456", 5);
    set_ref(&f->card->auth.puk, "12345678", 3);
    assert_int_equal(piv_applet_new(f->card, &ops, f, &f->applet), 0);
    piv_applet_set_kdf_iterations(f->applet, ITER);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->locks, f->unlocks);
    piv_applet_free(f->applet);
    vc_card_free(f->card);
    free(f);
    return 0;
}

/* Send one APDU; returns SW, data in out (may be NULL). */
static uint16_t
tx(struct fixture *f, const uint8_t *cmd, size_t len, uint8_t *out, size_t *out_len)
{
    uint8_t resp[PIV_RESPONSE_MAX];
    size_t n;

    assert_int_equal(piv_applet_transmit(f->applet, cmd, len, resp, sizeof(resp), &n), 0);
    assert_true(n >= 2 && n <= PIV_RESPONSE_MAX);
    if (out) {
        memcpy(out, resp, n - 2);
        *out_len = n - 2;
    }
    return (uint16_t)(resp[n - 2] << 8 | resp[n - 1]);
}

/* Send and follow 61 xx with GET RESPONSE, gathering all data into out. */
static uint16_t
tx_all(struct fixture *f, const uint8_t *cmd, size_t len, uint8_t *out, size_t *out_len)
{
    size_t total = 0, n;
    uint16_t sw = tx(f, cmd, len, out, &n);

    total += n;
    while ((sw & 0xff00) == 0x6100) {
        uint8_t gr[5] = {0x00, 0xc0, 0x00, 0x00, (uint8_t)sw};
        sw = tx(f, gr, sizeof(gr), out + total, &n);
        total += n;
    }
    *out_len = total;
    return sw;
}

#define TX(f, ...)                                                                                 \
    ({                                                                                             \
        static const uint8_t _c[] = {__VA_ARGS__};                                                 \
        tx((f), _c, sizeof(_c), NULL, NULL);                                                       \
    })

/* SW announcing how much is left: 61 xx, 61 00 for 256 or more */
static uint16_t
sw_more(size_t rest)
{
    return (uint16_t)(0x6100 | (rest > 0xff ? 0 : rest));
}

static const uint8_t select_piv[] = {0x00, 0xa4, 0x04, 0x00, 0x09, 0xa0, 0x00, 0x00,
                                     0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00};

static void
do_select(struct fixture *f)
{
    assert_int_equal(tx(f, select_piv, sizeof(select_piv), NULL, NULL), 0x9000);
}

static void
pin_block(const char *pin, uint8_t block[8])
{
    memset(block, 0xff, 8);
    memcpy(block, pin, strlen(pin));
}

static uint16_t
verify(struct fixture *f, const char *pin)
{
    uint8_t cmd[13] = {0x00, 0x20, 0x00, 0x80, 0x08};
    if (!pin)
        return tx(f, cmd, 4, NULL, NULL);
    pin_block(pin, cmd + 5);
    return tx(f, cmd, sizeof(cmd), NULL, NULL);
}

static uint16_t
change(struct fixture *f, uint8_t ins, uint8_t ref, const char *old, const char *new)
{
    uint8_t cmd[21] = {0x00, ins, 0x00, ref, 0x10};
    pin_block(old, cmd + 5);
    pin_block(new, cmd + 13);
    return tx(f, cmd, sizeof(cmd), NULL, NULL);
}

static void
test_select(void **state)
{
    struct fixture *f = *state;
    uint8_t out[300];
    size_t n;
    static const uint8_t unknown[] = {0x00, 0xa4, 0x04, 0x00, 0x07, 0xa0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4b};
    static const uint8_t short_aid[] = {0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00};
    static const uint8_t pix[] = {0x4f, 0x06, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00};
    static const uint8_t algs[] = {0xac, 0x0c, 0x80, 0x01, 0x07, 0x80, 0x01, 0x11,
                                   0x80, 0x01, 0x14, 0x06, 0x01, 0x00};

    /* nothing selected after power-up: PIV commands are unknown */
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x03, 0x5c, 0x01, 0x7e, 0x00), 0x6d00);
    assert_int_equal(tx(f, unknown, sizeof(unknown), NULL, NULL), 0x6a82);
    assert_int_equal(tx(f, select_piv, sizeof(select_piv), out, &n), 0x9000);
    assert_int_equal(out[0], 0x61);
    assert_int_equal(out[1], n - 2);
    assert_memory_equal(out + 2, pix, sizeof(pix));
    assert_memory_equal(out + n - sizeof(algs), algs, sizeof(algs));
    for (size_t i = 0; i + 1 < n; i++) /* no SM algorithms (27 / 2E) advertised */
        assert_false(out[i] == 0x80 && out[i + 1] == 0x01 && i + 2 < n && (out[i + 2] == 0x27 || out[i + 2] == 0x2e));
    /* failed SELECT of another AID or of a file keeps PIV selected and verified */
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(tx(f, unknown, sizeof(unknown), NULL, NULL), 0x6a82);
    assert_int_equal(TX(f, 0x00, 0xa4, 0x00, 0x00, 0x02, 0x3f, 0x00), 0x6a82);
    assert_int_equal(verify(f, NULL), 0x9000);
    assert_int_equal(tx(f, short_aid, sizeof(short_aid), NULL, NULL), 0x9000);
    /* reset: deselected and PIN forgotten */
    piv_applet_reset(f->applet);
    assert_false(piv_applet_pin_verified(f->applet));
    assert_int_equal(TX(f, 0x00, 0x20, 0x00, 0x80), 0x6d00);
    do_select(f);
    assert_int_equal(verify(f, NULL), 0x63c5);
}

static void
test_get_data(void **state)
{
    struct fixture *f = *state;
    static const uint8_t discovery[] = {0x7e, 0x12, 0x4f, 0x0b, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00,
                                        0x10, 0x00, 0x01, 0x00, 0x5f, 0x2f, 0x02, 0x40, 0x00};
    static const uint8_t get_cert[] = {0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x05, 0x00};
    static const uint8_t get_chuid[] = {0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x02, 0x00};
    static const uint8_t get_disc[] = {0x00, 0xcb, 0x3f, 0xff, 0x03, 0x5c, 0x01, 0x7e, 0x00};
    uint8_t out[4096];
    size_t n, cl = f->card->cert_len[VC_SLOT_9A];

    do_select(f);
    assert_int_equal(tx_all(f, get_disc, sizeof(get_disc), out, &n), 0x9000);
    assert_int_equal(n, sizeof(discovery));
    assert_memory_equal(out, discovery, n);

    assert_int_equal(tx_all(f, get_chuid, sizeof(get_chuid), out, &n), 0x9000);
    assert_int_equal(out[0], 0x53);
    assert_int_equal(out[1], n - 2);
    assert_int_equal(out[2], 0x30);
    assert_int_equal(out[3], 25);
    assert_int_equal(out[29], 0x34);
    assert_int_equal(out[30], 16);
    assert_memory_equal(out + 31, f->card->guid, 16);
    assert_memory_equal(out + n - 4, "\x3e\x00\xfe\x00", 4);

    /* certificate: 53 82 LL LL { 70 82 LL LL cert ; 71 01 00 ; FE 00 }, > 256 bytes */
    assert_int_equal(tx(f, get_cert, sizeof(get_cert), out, &n), sw_more(cl + 13 - 256));
    assert_int_equal(n, 256);
    assert_int_equal(tx_all(f, get_cert, sizeof(get_cert), out, &n), 0x9000);
    assert_int_equal(n, cl + 4 + 4 + 3 + 2);
    assert_memory_equal(out, ((uint8_t[]){0x53, 0x82, (cl + 9) >> 8, (cl + 9) & 0xff, 0x70, 0x82, cl >> 8, cl & 0xff}), 8);
    assert_memory_equal(out + 8, f->card->cert[VC_SLOT_9A], cl);
    assert_memory_equal(out + 8 + cl, "\x71\x01\x00\xfe\x00", 5);

    /* GET RESPONSE with a smaller Le, then the rest */
    assert_int_equal(tx(f, get_cert, sizeof(get_cert), out, &n), sw_more(cl + 13 - 256));
    assert_int_equal(TX(f, 0x00, 0xc0, 0x00, 0x00, 0x10), sw_more(cl + 13 - 256 - 16));
    /* any other command drops the pending answer */
    assert_int_equal(tx(f, get_disc, sizeof(get_disc), out, &n), 0x9000);
    assert_int_equal(TX(f, 0x00, 0xc0, 0x00, 0x00, 0x00), 0x6985);

    /* absent objects: 9C has no certificate (key only), 9D/9E nothing, CCC, key history */
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x0a, 0x00), 0x6a82);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x0b, 0x00), 0x6a82);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x01, 0x00), 0x6a82);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x07, 0x00), 0x6a82);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x0c, 0x00), 0x6a82);
    /* bad P1P2, bad tag list */
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0x00, 0x03, 0x5c, 0x01, 0x7e, 0x00), 0x6a86);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x03, 0x5d, 0x01, 0x7e, 0x00), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x03, 0x5c, 0x05, 0x7e, 0x00), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x04, 0x5c, 0x01, 0x7e, 0x00, 0x00), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x06, 0x5c, 0x04, 0x5f, 0xc1, 0x05, 0x01, 0x00), 0x6a80);
}

static void
test_verify(void **state)
{
    struct fixture *f = *state;

    do_select(f);
    assert_int_equal(verify(f, NULL), 0x63c5);
    assert_int_equal(verify(f, "654321"), 0x63c4);
    /* the decremented counter was saved (before the answer) */
    assert_int_equal(f->saved.pin.tries_left, 4);
    assert_int_equal(verify(f, NULL), 0x63c4);
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(f->saved.pin.tries_left, 5);
    assert_true(piv_applet_pin_verified(f->applet));
    assert_int_equal(verify(f, NULL), 0x9000);
    /* C_Logout: 00 20 FF 80 */
    assert_int_equal(TX(f, 0x00, 0x20, 0xff, 0x80), 0x9000);
    assert_int_equal(verify(f, NULL), 0x63c5);
    /* a wrong PIN after a right one drops the verification */
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(verify(f, "000000"), 0x63c4);
    assert_false(piv_applet_pin_verified(f->applet));
    /* malformed: wrong length, FF inside, bad reference, bad P1: no try used */
    assert_int_equal(TX(f, 0x00, 0x20, 0x00, 0x80, 0x06, '1', '2', '3', '4', '5', '6'), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x20, 0x00, 0x80, 0x08, '1', 0xff, '3', '4', '5', '6', 0xff, 0xff), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x20, 0x00, 0x80, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x20, 0x00, 0x81), 0x6a88);
    assert_int_equal(TX(f, 0x00, 0x20, 0x01, 0x80), 0x6a86);
    assert_int_equal(verify(f, NULL), 0x63c4);
}

static void
test_verify_blocked(void **state)
{
    struct fixture *f = *state;

    do_select(f);
    assert_int_equal(verify(f, "111111"), 0x63c4);
    assert_int_equal(verify(f, "111111"), 0x63c3);
    assert_int_equal(verify(f, "111111"), 0x63c2);
    assert_int_equal(verify(f, "111111"), 0x63c1);
    assert_int_equal(verify(f, "111111"), 0x63c0);
    assert_int_equal(f->saved.pin.tries_left, 0);
    assert_int_equal(verify(f, "123456"), 0x6983);
    assert_int_equal(verify(f, NULL), 0x6983);
    /* a power cycle does not help */
    piv_applet_reset(f->applet);
    do_select(f);
    assert_int_equal(verify(f, "123456"), 0x6983);
    assert_false(piv_applet_pin_verified(f->applet));
}

static void
test_puk_unblock(void **state)
{
    struct fixture *f = *state;

    do_select(f);
    for (int i = 0; i < 5; i++)
        verify(f, "000000");
    assert_int_equal(verify(f, NULL), 0x6983);
    /* invalid new PIN (too short / letters): refused before the PUK is tried */
    assert_int_equal(change(f, 0x2c, 0x80, "12345678", "12345"), 0x6a80);
    assert_int_equal(change(f, 0x2c, 0x80, "12345678", "abcdef"), 0x6a80);
    assert_int_equal(f->card->auth.puk.tries_left, 3);
    assert_int_equal(change(f, 0x2c, 0x80, "87654321", "654321"), 0x63c2);
    assert_int_equal(change(f, 0x2c, 0x80, "12345678", "654321"), 0x9000);
    assert_int_equal(f->saved.pin.tries_left, 5);
    assert_int_equal(f->saved.puk.tries_left, 3);
    assert_false(piv_applet_pin_verified(f->applet));
    assert_int_equal(verify(f, "123456"), 0x63c4);
    assert_int_equal(verify(f, "654321"), 0x9000);
    /* PUK blocked after 3 wrong tries */
    assert_int_equal(change(f, 0x2c, 0x80, "00000000", "111111"), 0x63c2);
    assert_int_equal(change(f, 0x2c, 0x80, "00000000", "111111"), 0x63c1);
    assert_int_equal(change(f, 0x2c, 0x80, "00000000", "111111"), 0x63c0);
    assert_int_equal(change(f, 0x2c, 0x80, "12345678", "111111"), 0x6983);
    /* RESET RETRY COUNTER only for the PIN */
    assert_int_equal(change(f, 0x2c, 0x81, "12345678", "11111111"), 0x6a88);
}

static void
test_change_reference(void **state)
{
    struct fixture *f = *state;

    do_select(f);
    assert_int_equal(change(f, 0x24, 0x80, "000000", "222222"), 0x63c4);
    assert_int_equal(change(f, 0x24, 0x80, "123456", "2222"), 0x6a80);
    assert_int_equal(change(f, 0x24, 0x80, "123456", "22222222"), 0x9000);
    assert_true(piv_applet_pin_verified(f->applet));
    assert_int_equal(f->saved.pin.tries_left, 5);
    assert_int_equal(TX(f, 0x00, 0x20, 0xff, 0x80), 0x9000);
    assert_int_equal(verify(f, "123456"), 0x63c4);
    assert_int_equal(verify(f, "22222222"), 0x9000);
    /* PUK change: 8 digits */
    assert_int_equal(change(f, 0x24, 0x81, "12345678", "1234567"), 0x6a80);
    assert_int_equal(change(f, 0x24, 0x81, "12345678", "87654321"), 0x9000);
    assert_int_equal(change(f, 0x2c, 0x80, "12345678", "333333"), 0x63c2);
    assert_int_equal(change(f, 0x2c, 0x80, "87654321", "333333"), 0x9000);
    assert_int_equal(change(f, 0x24, 0x82, "12345678", "87654321"), 0x6a88);
}

/* A wrong old PIN in CHANGE REFERENCE DATA is a try against the PIN: it must end an earlier
 * verification, or a card blocked that way would still sign (found by tests/fuzz/fuzz-piv.c). */
static void
test_change_wrong_pin_unverifies(void **state)
{
    struct fixture *f = *state;

    do_select(f);
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(change(f, 0x24, 0x80, "000000", "222222"), 0x63c4);
    assert_false(piv_applet_pin_verified(f->applet));
    assert_int_equal(verify(f, NULL), 0x63c4);
    assert_int_equal(verify(f, "123456"), 0x9000);
    for (int i = 4; i >= 0; i--)
        assert_int_equal(change(f, 0x24, 0x80, "000000", "222222"), 0x63c0 + i);
    assert_int_equal(change(f, 0x24, 0x80, "123456", "222222"), 0x6983);
    assert_int_equal(verify(f, NULL), 0x6983);
    assert_false(piv_applet_pin_verified(f->applet));
}

/* PKCS#1 v1.5 block for SHA-256, as OpenSC builds it on the host side. */
static void
pkcs1_block(const uint8_t hash[32], uint8_t block[256])
{
    static const uint8_t prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    size_t t = sizeof(prefix) + 32;
    block[0] = 0x00;
    block[1] = 0x01;
    memset(block + 2, 0xff, 256 - t - 3);
    block[256 - t - 1] = 0x00;
    memcpy(block + 256 - t, prefix, sizeof(prefix));
    memcpy(block + 256 - 32, hash, 32);
}

static void
test_general_authenticate_rsa(void **state)
{
    struct fixture *f = *state;
    static const char msg[] = "sign me";
    uint8_t hash[32], block[256], cmd[300], out[600];
    unsigned hash_len;
    size_t n;
    EVP_PKEY_CTX *ctx;

    EVP_Digest(msg, sizeof(msg) - 1, hash, &hash_len, EVP_sha256(), NULL);
    pkcs1_block(hash, block);
    /* 7C 82 01 06 { 82 00 ; 81 82 01 00 <256> } in two chained APDUs, exactly like OpenSC */
    memcpy(cmd, "\x7c\x82\x01\x06\x82\x00\x81\x82\x01\x00", 10);
    memcpy(cmd + 10, block, 256);
    uint8_t first[5 + 255] = {0x10, 0x87, 0x07, 0x9a, 0xff};
    uint8_t last[5 + 11 + 1] = {0x00, 0x87, 0x07, 0x9a, 0x0b};
    memcpy(first + 5, cmd, 255);
    memcpy(last + 5, cmd + 255, 11);

    do_select(f);
    /* PIN needed */
    assert_int_equal(tx(f, first, sizeof(first), NULL, NULL), 0x9000);
    assert_int_equal(tx(f, last, sizeof(last), NULL, NULL), 0x6982);
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(tx(f, first, sizeof(first), NULL, NULL), 0x9000);
    assert_int_equal(tx(f, last, sizeof(last), out, &n), 0x6108);
    assert_int_equal(n, 256);
    assert_int_equal(TX(f, 0x00, 0xc0, 0x00, 0x00, 0x08), 0x9000);
    assert_int_equal(tx(f, first, sizeof(first), NULL, NULL), 0x9000);
    assert_int_equal(tx_all(f, last, sizeof(last), out, &n), 0x9000);
    assert_int_equal(n, 264);
    assert_memory_equal(out, "\x7c\x82\x01\x04\x82\x82\x01\x00", 8);
    /* the signature verifies as RSASSA-PKCS1-v1_5 with SHA-256 */
    ctx = EVP_PKEY_CTX_new(f->card->key[VC_SLOT_9A], NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_verify(ctx, out + 8, 256, hash, 32), 1);
    EVP_PKEY_CTX_free(ctx);

    /* challenge from the management key (OpenSC's C_GenerateRandom): no PIN needed */
    assert_int_equal(TX(f, 0x00, 0x87, 0x00, 0x9b, 0x04, 0x7c, 0x02, 0x81, 0x00, 0x00), 0x9000);
    assert_int_equal(tx(f, (const uint8_t *)"\x00\x87\x00\x9b\x04\x7c\x02\x81\x00\x00", 10, out, &n), 0x9000);
    assert_int_equal(n, 12);
    assert_memory_equal(out, "\x7c\x0a\x81\x08", 4);
    assert_int_equal(tx(f, (const uint8_t *)"\x00\x87\x0c\x9b\x04\x7c\x02\x81\x00\x00", 10, out, &n), 0x9000);
    assert_int_equal(n, 20);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9b, 0x04, 0x7c, 0x02, 0x81, 0x00, 0x00), 0x6a86);
    assert_int_equal(TX(f, 0x00, 0x87, 0x00, 0x9b, 0x04, 0x7c, 0x02, 0x82, 0x00, 0x00), 0x6a80);

    /* wrong algorithm for the key, empty slot, unknown key reference */
    assert_int_equal(TX(f, 0x00, 0x87, 0x11, 0x9a, 0x04, 0x7c, 0x02, 0x82, 0x00), 0x6a86);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9d, 0x04, 0x7c, 0x02, 0x82, 0x00), 0x6a88);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x95, 0x04, 0x7c, 0x02, 0x82, 0x00), 0x6a86);
    /* bad templates: no challenge, wrong outer tag, trailing byte, truncated, short block */
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9a, 0x04, 0x7c, 0x02, 0x82, 0x00), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9a, 0x06, 0x7d, 0x04, 0x82, 0x00, 0x81, 0x00), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9a, 0x07, 0x7c, 0x04, 0x82, 0x00, 0x81, 0x00, 0x00), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9a, 0x05, 0x7c, 0x04, 0x82, 0x00, 0x81), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9a, 0x08, 0x7c, 0x06, 0x82, 0x00, 0x81, 0x02, 0x01, 0x02), 0x6a80);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9a, 0x06, 0x7c, 0x84, 0x82, 0x00, 0x81, 0x00), 0x6a80);
}

static void
test_general_authenticate_ecc(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *key = f->card->key[VC_SLOT_9C], *peer = NULL;
    uint8_t hash[32], cmd[64] = {0x00, 0x87, 0x11, 0x9c, 0x26, 0x7c, 0x24, 0x82, 0x00, 0x81, 0x20};
    uint8_t out[300], point[65], shared[32];
    size_t n, point_len, shared_len = sizeof(shared);
    EVP_PKEY_CTX *ctx;

    RAND_bytes(hash, sizeof(hash));
    memcpy(cmd + 11, hash, 32);
    do_select(f);
    assert_int_equal(tx(f, cmd, 44, NULL, NULL), 0x6982);
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(tx(f, cmd, 44, out, &n), 0x9000);
    assert_int_equal(out[0], 0x7c);
    assert_int_equal(out[1], n - 2);
    assert_int_equal(out[2], 0x82);
    assert_int_equal(out[3], n - 4);
    assert_int_equal(out[4], 0x30); /* DER SEQUENCE { r, s } */
    ctx = EVP_PKEY_CTX_new(key, NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_verify(ctx, out + 4, n - 4, hash, 32), 1);
    EVP_PKEY_CTX_free(ctx);
    /* 20-byte hash (SHA-1) is accepted too */
    cmd[4] = 0x1a, cmd[6] = 0x18, cmd[10] = 0x14;
    assert_int_equal(tx(f, cmd, 5 + 0x1a, out, &n), 0x9000);

    /* ECDH: 7C { 82 00 ; 85 41 04||X||Y } → 82 20 <X of the shared point> */
    assert_int_equal(vc_key_generate(VC_ALG_ECCP256, &peer), 0);
    assert_int_equal(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
                                                     &point_len),
                     1);
    assert_int_equal(point_len, 65);
    uint8_t ecdh[5 + 4 + 2 + 65] = {0x00, 0x87, 0x11, 0x9c, 71, 0x7c, 69, 0x82, 0x00, 0x85, 0x41};
    memcpy(ecdh + 11, point, 65);
    assert_int_equal(tx(f, ecdh, sizeof(ecdh), out, &n), 0x9000);
    assert_int_equal(n, 36);
    assert_memory_equal(out, "\x7c\x22\x82\x20", 4);
    ctx = EVP_PKEY_CTX_new(peer, NULL);
    assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(ctx, key), 1);
    assert_int_equal(EVP_PKEY_derive(ctx, shared, &shared_len), 1);
    assert_memory_equal(out + 4, shared, 32);
    EVP_PKEY_CTX_free(ctx);
    /* a point not on the curve is refused */
    ecdh[11 + 64] ^= 1;
    assert_int_equal(tx(f, ecdh, sizeof(ecdh), NULL, NULL), 0x6a80);
    EVP_PKEY_free(peer);
}

static void
test_chaining(void **state)
{
    struct fixture *f = *state;

    do_select(f);
    /* a chain broken by another command is dropped; the new command runs normally */
    assert_int_equal(TX(f, 0x10, 0x87, 0x07, 0x9a, 0x02, 0x7c, 0x82), 0x9000);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x03, 0x5c, 0x01, 0x7e, 0x00), 0x9000);
    assert_int_equal(TX(f, 0x00, 0x87, 0x07, 0x9a, 0x02, 0x01, 0x00), 0x6982);
    /* chained GET DATA gathers its tag list */
    assert_int_equal(TX(f, 0x10, 0xcb, 0x3f, 0xff, 0x02, 0x5c, 0x01), 0x9000);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x01, 0x7e, 0x00), 0x9000);
    /* a chain longer than the card accepts */
    uint8_t big[5 + 255] = {0x10, 0xcb, 0x3f, 0xff, 0xff};
    uint16_t sw = 0x9000;
    for (int i = 0; i < 100 && sw == 0x9000; i++)
        sw = tx(f, big, sizeof(big), NULL, NULL);
    assert_int_equal(sw, 0x6a84);
}

static void
test_malformed(void **state)
{
    struct fixture *f = *state;
    uint8_t cmd[300], resp[PIV_RESPONSE_MAX];
    size_t n;

    assert_int_equal(TX(f, 0x00, 0xa4, 0x04), 0x6700);
    assert_int_equal(tx(f, select_piv, 0, NULL, NULL), 0x6700);
    /* Lc larger / smaller than the data */
    assert_int_equal(TX(f, 0x00, 0xa4, 0x04, 0x00, 0x09, 0xa0, 0x00, 0x00), 0x6700);
    assert_int_equal(TX(f, 0x00, 0xa4, 0x04, 0x00, 0x02, 0xa0, 0x00, 0x00, 0x03, 0x08), 0x6700);
    /* extended length is not supported */
    assert_int_equal(TX(f, 0x00, 0xa4, 0x04, 0x00, 0x00, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08), 0x6700);
    do_select(f);
    assert_int_equal(TX(f, 0x80, 0xcb, 0x3f, 0xff, 0x03, 0x5c, 0x01, 0x7e, 0x00), 0x6e00);
    assert_int_equal(TX(f, 0x0c, 0xcb, 0x3f, 0xff, 0x03, 0x5c, 0x01, 0x7e, 0x00), 0x6e00);
    assert_int_equal(TX(f, 0x00, 0xfd, 0x00, 0x00, 0x03), 0x6d00); /* YubiKey GET VERSION */
    assert_int_equal(TX(f, 0x00, 0x47, 0x00, 0x9a, 0x05, 0xac, 0x03, 0x80, 0x01, 0x07), 0x6982); /* no 9B auth */
    assert_int_equal(TX(f, 0x00, 0xc0, 0x01, 0x00, 0x00), 0x6a86);
    assert_int_equal(piv_applet_transmit(f->applet, cmd, 4, resp, PIV_RESPONSE_MAX - 1, &n), -ENOBUFS);
    /* random APDUs: always a status word, never a crash (ASan/valgrind catch overreads) */
    for (int i = 0; i < 20000; i++) {
        uint8_t len;
        RAND_bytes(&len, 1);
        RAND_bytes(cmd, sizeof(cmd));
        cmd[0] &= 0x10;
        if (i % 2)
            cmd[1] = (uint8_t[]){0x20, 0x24, 0x2c, 0x87, 0xa4, 0xc0, 0xcb}[i % 7];
        if (i % 3 == 0)
            cmd[4] = (uint8_t)(len > 5 ? len - 5 : 0);
        assert_int_equal(piv_applet_transmit(f->applet, cmd, len, resp, sizeof(resp), &n), 0);
        assert_true(n >= 2);
        if (i % 1000 == 0)
            do_select(f);
    }
}

static void
test_persist_failure(void **state)
{
    struct fixture *f = *state;

    do_select(f);
    f->fail_save = true;
    /* the counter cannot be written: no PIN comparison at all, not verified */
    assert_int_equal(verify(f, "123456"), 0x6581);
    assert_false(piv_applet_pin_verified(f->applet));
    assert_int_equal(verify(f, "000000"), 0x6581);
    f->fail_save = false;
    assert_int_equal(verify(f, "123456"), 0x9000);
}

static void
test_secret_hash(void **state)
{
    char rec[VC_HASH_MAX], rec2[VC_HASH_MAX];
    (void)state;

    assert_int_equal(vc_secret_hash("123456", 6, ITER, rec), 0);
    assert_int_equal(vc_secret_hash("123456", 6, ITER, rec2), 0);
    assert_string_not_equal(rec, rec2); /* salted */
    assert_null(strstr(rec, "123456"));
    assert_int_equal(vc_secret_check(rec, "123456", 6), 0);
    assert_int_equal(vc_secret_check(rec, "123457", 6), -EACCES);
    assert_int_equal(vc_secret_check(rec, "1234567", 7), -EACCES);
    assert_int_equal(vc_secret_check("pbkdf2-sha256$x$00$00", "1", 1), -EINVAL);
    assert_int_equal(vc_secret_check("md5$1$2", "1", 1), -EINVAL);
    assert_int_equal(vc_secret_hash("1", 1, 0, rec), -EINVAL);
    assert_true(vc_pin_valid("123456", 6));
    assert_true(vc_pin_valid("12345678", 8));
    assert_false(vc_pin_valid("12345", 5));
    assert_false(vc_pin_valid("123456789", 9));
    assert_false(vc_pin_valid("12345a", 6));
    assert_true(vc_puk_valid("12345678", 8));
    assert_false(vc_puk_valid("1234567", 7));
}


/* --- management key, GENERATE, PUT DATA, P-384, keys at rest, Yubico RESET ------------------ */

static const EVP_CIPHER *
mgmt_cipher(uint8_t alg)
{
    return alg == 0x03 ? EVP_des_ede3_ecb() : alg == 0x08 ? EVP_aes_128_ecb() : alg == 0x0a ? EVP_aes_192_ecb()
                                                                                         : EVP_aes_256_ecb();
}

static void
ecb(uint8_t alg, const uint8_t *key, int enc, const uint8_t *in, uint8_t *out, size_t block)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    assert_int_equal(EVP_CipherInit_ex2(ctx, mgmt_cipher(alg), key, NULL, enc, NULL), 1);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    assert_int_equal(EVP_CipherUpdate(ctx, out, &n, in, (int)block), 1);
    assert_int_equal((size_t)n, block);
    EVP_CIPHER_CTX_free(ctx);
}

/* Mutual authentication as yubico-piv-tool does it: witness, then witness ‖ challenge. */
static uint16_t
mgmt_mutual(struct fixture *f, uint8_t alg, const uint8_t *key)
{
    size_t block = alg == 0x03 ? 8 : 16, n;
    uint8_t cmd[64] = {0x00, 0x87, alg, 0x9b, 0x04, 0x7c, 0x02, 0x80, 0x00}, out[64], w[16], chal[16], e[16];
    uint16_t sw = tx(f, cmd, 9, out, &n);

    if (sw != 0x9000)
        return sw;
    assert_int_equal(n, 4 + block);
    assert_int_equal(out[2], 0x80);
    ecb(alg, key, 0, out + 4, w, block);
    memset(chal, 0x5a, sizeof(chal));
    cmd[4] = (uint8_t)(4 + 2 * block + 2);
    cmd[5] = 0x7c, cmd[6] = (uint8_t)(4 + 2 * block);
    cmd[7] = 0x80, cmd[8] = (uint8_t)block;
    memcpy(cmd + 9, w, block);
    cmd[9 + block] = 0x81, cmd[10 + block] = (uint8_t)block;
    memcpy(cmd + 11 + block, chal, block);
    sw = tx(f, cmd, 11 + 2 * block, out, &n);
    if (sw != 0x9000)
        return sw;
    ecb(alg, key, 1, chal, e, block); /* the card proves it has the key too */
    assert_int_equal(n, 4 + block);
    assert_memory_equal(out + 4, e, block);
    return sw;
}

/* External authentication as OpenSC's piv-tool: challenge, then its encryption. */
static uint16_t
mgmt_external(struct fixture *f, uint8_t alg, const uint8_t *key)
{
    size_t block = alg == 0x03 ? 8 : 16, n;
    uint8_t cmd[64] = {0x00, 0x87, alg, 0x9b, 0x04, 0x7c, 0x02, 0x81, 0x00}, out[64];
    uint16_t sw = tx(f, cmd, 9, out, &n);

    assert_int_equal(sw, 0x9000);
    cmd[4] = (uint8_t)(block + 4);
    cmd[5] = 0x7c, cmd[6] = (uint8_t)(block + 2), cmd[7] = 0x82, cmd[8] = (uint8_t)block;
    ecb(alg, key, 1, out + 4, cmd + 9, block);
    return tx(f, cmd, 9 + block, NULL, NULL);
}

static void
test_mgmt_auth(void **state)
{
    static const struct {
        uint8_t alg;
        size_t len;
    } algs[] = {{0x03, 24}, {0x08, 16}, {0x0a, 24}, {0x0c, 32}};
    struct fixture *f = *state;
    uint8_t key[32], wrong[32];

    do_select(f);
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (i == 0) {
            memcpy(key, vc_mgmt_default, 24); /* a new card has the well-known 3DES key */
        } else {
            assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
            f->card->mgmt_alg = algs[i].alg;
            memcpy(f->card->mgmt_key, key, algs[i].len);
            f->card->mgmt_key_len = algs[i].len;
        }
        memcpy(wrong, key, sizeof(wrong));
        wrong[0] ^= 0x02; /* not 0x01: the low bit of a DES key byte is parity */
        assert_int_equal(mgmt_mutual(f, algs[i].alg, wrong), 0x6982);
        assert_false(piv_applet_mgmt_authenticated(f->applet));
        assert_int_equal(mgmt_external(f, algs[i].alg, wrong), 0x6982);
        assert_int_equal(mgmt_mutual(f, algs[i].alg, key), 0x9000);
        assert_true(piv_applet_mgmt_authenticated(f->applet));
        assert_int_equal(mgmt_external(f, algs[i].alg, key), 0x9000);
        assert_true(piv_applet_mgmt_authenticated(f->applet));
        /* the other algorithm numbers do not fit this card's key */
        {
            uint8_t other[9] = {0x00, 0x87, algs[(i + 1) % 4].alg, 0x9b, 0x04, 0x7c, 0x02, 0x80, 0x00};
            assert_int_equal(tx(f, other, sizeof(other), NULL, NULL), 0x6a86);
        }
        /* a witness answer without a witness sent is refused */
        {
            uint8_t early[27] = {0x00, 0x87, algs[i].alg, 0x9b, 0x16, 0x7c, 0x14, 0x80, 0x08};
            early[17] = 0x81, early[18] = 0x08;
            if (algs[i].alg == 0x03)
                assert_int_equal(tx(f, early, sizeof(early), NULL, NULL), 0x6982);
        }
        piv_applet_reset(f->applet);
        assert_false(piv_applet_mgmt_authenticated(f->applet));
        do_select(f);
    }
}

/* GENERATE → 7F 49 public key; returns the public key as an EVP_PKEY matching the card's. */
static void
generate(struct fixture *f, uint8_t slot, uint8_t alg, uint16_t want)
{
    uint8_t cmd[10] = {0x00, 0x47, 0x00, slot, 0x05, 0xac, 0x03, 0x80, 0x01, alg}, out[600];
    size_t n = 0;
    int s = vc_slot_from_keyref(slot);

    assert_int_equal(tx_all(f, cmd, sizeof(cmd), out, &n), want);
    if (want != 0x9000)
        return;
    assert_int_equal(out[0], 0x7f);
    assert_int_equal(out[1], 0x49);
    assert_non_null(vc_card_slot_pub(f->card, s));
    assert_int_equal(vc_alg_of_key(vc_card_slot_pub(f->card, s)), alg);
    if (alg != VC_ALG_RSA2048) { /* 7F 49 L 86 L 04 X Y */
        uint8_t point[100];
        size_t len = 0;
        assert_int_equal(EVP_PKEY_get_octet_string_param(vc_card_slot_pub(f->card, s), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                         point, sizeof(point), &len), 1);
        assert_int_equal(out[3], 0x86);
        assert_int_equal(out[4], len);
        assert_memory_equal(out + 5, point, len);
    } else {
        assert_int_equal(out[5], 0x81);
    }
    assert_true(f->card_saves & (1u << s));
}

static void
test_generate_put_data(void **state)
{
    struct fixture *f = *state;
    uint8_t cmd[300], out[600];
    size_t n;
    uint8_t hash[48], sig[200];
    EVP_PKEY_CTX *ctx;

    do_select(f);
    generate(f, 0x9c, VC_ALG_ECCP384, 0x6982);
    /* PUT DATA of a CHUID-like object without authentication */
    assert_int_equal(TX(f, 0x00, 0xdb, 0x3f, 0xff, 0x09, 0x5c, 0x03, 0x5f, 0xc1, 0x09, 0x53, 0x02, 0x01, 0x00), 0x6982);
    assert_int_equal(mgmt_mutual(f, 0x03, vc_mgmt_default), 0x9000);
    generate(f, 0x9c, VC_ALG_ECCP384, 0x9000);
    generate(f, 0x9d, VC_ALG_ECCP384, 0x9000);
    generate(f, 0x9e, VC_ALG_ECCP256, 0x9000);
    generate(f, 0x9a, 0x05, 0x6a80); /* RSA-3072: not offered */
    generate(f, 0x9b, VC_ALG_ECCP256, 0x6a88);
    /* PUT DATA: printed information (PIN-protected on read), a certificate, deletion */
    assert_int_equal(TX(f, 0x00, 0xdb, 0x3f, 0xff, 0x09, 0x5c, 0x03, 0x5f, 0xc1, 0x09, 0x53, 0x02, 0x01, 0x00), 0x9000);
    assert_true(f->card_saves & VC_SAVE_OBJECTS);
    assert_int_equal(TX(f, 0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x09, 0x00), 0x6982);
    assert_int_equal(verify(f, "123456"), 0x9000);
    n = 0;
    assert_int_equal(tx(f, (const uint8_t *)"\x00\xcb\x3f\xff\x05\x5c\x03\x5f\xc1\x09\x00", 11, out, &n), 0x9000);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\x53\x02\x01\x00", 4);
    assert_int_equal(TX(f, 0x00, 0xdb, 0x3f, 0xff, 0x05, 0x5c, 0x01, 0x7e, 0x53, 0x00), 0x6a82); /* Discovery fixed */
    /* certificate for 9A: 53 { 70 cert ; 71 00 ; FE 00 }, chained */
    {
        size_t clen = f->card->cert_len[VC_SLOT_9A], len = 0;
        uint8_t *body = malloc(clen + 32), *p;
        assert_non_null(body);
        p = body;
        *p++ = 0x5c, *p++ = 0x03, *p++ = 0x5f, *p++ = 0xc1, *p++ = 0x0a; /* into 9C's container */
        *p++ = 0x53, *p++ = 0x82, *p++ = (uint8_t)((clen + 9) >> 8), *p++ = (uint8_t)(clen + 9);
        *p++ = 0x70, *p++ = 0x82, *p++ = (uint8_t)(clen >> 8), *p++ = (uint8_t)clen;
        memcpy(p, f->card->cert[VC_SLOT_9A], clen);
        p += clen;
        *p++ = 0x71, *p++ = 0x01, *p++ = 0x00, *p++ = 0xfe, *p++ = 0x00;
        len = (size_t)(p - body);
        for (size_t off = 0; off < len; off += 255) {
            size_t chunk = len - off > 255 ? 255 : len - off;
            cmd[0] = off + chunk < len ? 0x10 : 0x00, cmd[1] = 0xdb, cmd[2] = 0x3f, cmd[3] = 0xff;
            cmd[4] = (uint8_t)chunk;
            memcpy(cmd + 5, body + off, chunk);
            assert_int_equal(tx(f, cmd, 5 + chunk, NULL, NULL), 0x9000);
        }
        free(body);
        assert_int_equal(f->card->cert_len[VC_SLOT_9C], clen);
        assert_true(f->card_saves & VC_SAVE_CERT(VC_SLOT_9C));
    }
    /* a corrupt certificate is refused */
    assert_int_equal(TX(f, 0x00, 0xdb, 0x3f, 0xff, 0x0b, 0x5c, 0x03, 0x5f, 0xc1, 0x05, 0x53, 0x04, 0x70, 0x02, 0x30, 0x00),
                     0x6a80);
    /* P-384 signature by 9C, checked by OpenSSL */
    assert_int_equal(RAND_bytes(hash, sizeof(hash)), 1);
    memcpy(cmd, "\x00\x87\x14\x9c\x36\x7c\x34\x82\x00\x81\x30", 11);
    memcpy(cmd + 11, hash, 48);
    cmd[59] = 0x00;
    n = 0;
    assert_int_equal(tx_all(f, cmd, 60, sig, &n), 0x9000);
    assert_int_equal(sig[0], 0x7c);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, vc_card_slot_pub(f->card, VC_SLOT_9C), NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_verify(ctx, sig + 4, sig[3], hash, 48), 1);
    EVP_PKEY_CTX_free(ctx);
    /* P-384 ECDH with 9D: the card's secret equals ours */
    {
        EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        uint8_t point[100], mine[48];
        size_t plen = 0, mlen = sizeof(mine);
        assert_int_equal(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point), &plen), 1);
        assert_int_equal(plen, 97);
        memcpy(cmd, "\x00\x87\x14\x9d\x67\x7c\x65\x82\x00\x85\x61", 11);
        memcpy(cmd + 11, point, 97);
        cmd[108] = 0x00;
        n = 0;
        assert_int_equal(tx_all(f, cmd, 109, out, &n), 0x9000);
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
        assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
        assert_int_equal(EVP_PKEY_derive_set_peer(ctx, vc_card_slot_pub(f->card, VC_SLOT_9D)), 1);
        assert_int_equal(EVP_PKEY_derive(ctx, mine, &mlen), 1);
        assert_int_equal(out[3], 48);
        assert_memory_equal(out + 4, mine, 48);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(peer);
    }
}

static void
test_keys_at_rest(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *a9 = f->card->key[VC_SLOT_9A];

    /* give the in-memory card a KEK: keys sealed, PIN/PUK are wraps (cheap scrypt) */
    EVP_PKEY_up_ref(a9);
    f->card->auth.puk.tries_max = 5;
    assert_int_equal(vc_card_provision(f->card, "123456", 6, "12345678", 8, VC_SCRYPT_LOG2N_MIN), 0);
    assert_null(strchr(f->card->auth.pin.hash, '$'));
    assert_non_null(f->card->sealed[VC_SLOT_9A]);
    vc_card_lock(f->card);
    assert_null(f->card->key[VC_SLOT_9A]);
    do_select(f);
    assert_int_equal(verify(f, "654321"), 0x63c4);
    assert_null(f->card->key[VC_SLOT_9A]);
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(EVP_PKEY_eq(f->card->key[VC_SLOT_9A], a9), 1);
    assert_int_equal(TX(f, 0x00, 0x20, 0xff, 0x80), 0x9000); /* logout: key leaves memory */
    assert_null(f->card->key[VC_SLOT_9A]);
    /* CHANGE REFERENCE DATA re-wraps: the new PIN opens the key, the old one no longer */
    assert_int_equal(change(f, 0x24, 0x80, "123456", "24681357"), 0x9000);
    assert_non_null(f->card->key[VC_SLOT_9A]);
    piv_applet_reset(f->applet);
    do_select(f);
    assert_int_equal(verify(f, "123456"), 0x63c4);
    assert_int_equal(verify(f, "24681357"), 0x9000);
    /* PUK: unblock opens the KEK with the PUK and wraps it under the new PIN */
    for (int i = 0; i < 5; i++)
        verify(f, "000000");
    assert_int_equal(verify(f, NULL), 0x6983);
    assert_int_equal(change(f, 0x2c, 0x80, "12345678", "11223344"), 0x9000);
    assert_int_equal(verify(f, "11223344"), 0x9000);
    assert_int_equal(EVP_PKEY_eq(f->card->key[VC_SLOT_9A], a9), 1);
    /* CHANGE of the PUK re-wraps too */
    assert_int_equal(change(f, 0x24, 0x81, "12345678", "87654321"), 0x9000);
    assert_int_equal(change(f, 0x2c, 0x80, "87654321", "55667788"), 0x9000);
    EVP_PKEY_free(a9);
}

static void
test_policy_and_reset(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(VC_PIN_TRIES_DEFAULT, 5);
    assert_int_equal(VC_PUK_TRIES_DEFAULT, 5);
    do_select(f);
    /* default policy 6-8 digits; a card made with 4-8 accepts a 4-digit PIN */
    assert_int_equal(change(f, 0x24, 0x80, "123456", "1234"), 0x6a80);
    f->card->pin_min = 4;
    assert_int_equal(change(f, 0x24, 0x80, "123456", "1234"), 0x9000);
    assert_int_equal(verify(f, "1234"), 0x9000);
    f->card->pin_max = 6;
    assert_int_equal(change(f, 0x24, 0x80, "1234", "1234567"), 0x6a80);
    /* Yubico RESET: refused while PIN or PUK works, unless 9B is authenticated */
    assert_int_equal(TX(f, 0x00, 0xfb, 0x00, 0x00), 0x6985);
    for (int i = 0; i < 5; i++)
        verify(f, "000000");
    assert_int_equal(TX(f, 0x00, 0xfb, 0x00, 0x00), 0x6985); /* PUK still usable */
    for (int i = 0; i < 3; i++)
        change(f, 0x2c, 0x80, "00000000", "111111");
    assert_int_equal(f->card->auth.puk.tries_left, 0);
    assert_int_equal(TX(f, 0x00, 0xfb, 0x00, 0x00), 0x9000);
    assert_null(vc_card_slot_pub(f->card, VC_SLOT_9A));
    assert_null(f->card->cert[VC_SLOT_9A]);
    assert_int_equal(verify(f, "123456"), 0x9000);
    assert_int_equal(change(f, 0x24, 0x81, "12345678", "11112222"), 0x9000);
    /* with the management key, RESET works at any time */
    assert_int_equal(mgmt_mutual(f, 0x03, vc_mgmt_default), 0x9000);
    assert_int_equal(TX(f, 0x00, 0xfb, 0x00, 0x00), 0x9000);
    assert_false(piv_applet_mgmt_authenticated(f->applet));
    assert_int_equal(f->card_saves & VC_SAVE_ALL, VC_SAVE_ALL);
    /* SET MANAGEMENT KEY (AES-128) needs 9B; the new key then authenticates */
    assert_int_equal(TX(f, 0x00, 0xff, 0xff, 0xff, 0x13, 0x08, 0x9b, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                        15, 16),
                     0x6982);
    assert_int_equal(mgmt_external(f, 0x03, vc_mgmt_default), 0x9000);
    assert_int_equal(TX(f, 0x00, 0xff, 0xff, 0xff, 0x12, 0x08, 0x9b, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                        15),
                     0x6a80);
    assert_int_equal(TX(f, 0x00, 0xff, 0xff, 0xff, 0x13, 0x08, 0x9b, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                        15, 16),
                     0x9000);
    assert_int_equal(mgmt_mutual(f, 0x08, (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"),
                     0x9000);
    /* GET SERIAL answers, other Yubico commands do not */
    assert_int_equal(TX(f, 0x00, 0xf8, 0x00, 0x00, 0x00), 0x9000);
    assert_int_equal(TX(f, 0x00, 0xf7, 0x00, 0x9b, 0x00), 0x6d00);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_blocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_puk_unblock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_wrong_pin_unverifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_general_authenticate_rsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_general_authenticate_ecc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chaining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persist_failure, setup, teardown),
        cmocka_unit_test(test_secret_hash),
        cmocka_unit_test_setup_teardown(test_mgmt_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_put_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_and_reset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
