/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the PIV applet (resmgr/vcard/piv.c): one input is a session of
 * APDUs sent to one card instance, so chaining, GET RESPONSE, the PIN state and the retry
 * counters carry over from one command to the next. Besides ASan/UBSan it checks the
 * applet's promises: answer sizes, counters that only go up on success, no PIN left
 * verified once blocked, the auth lock balanced, and no success without a durable decrement.
 * Build: ./configure CC=clang --enable-fuzz && make tests/fuzz/fuzz-piv
 *
 * Input: byte 0 = options (below), then records of a 2-byte big-endian length and that many
 * command bytes (a short last record takes what is left); length 0 = card reset; with the
 * management-key applet, FFFF / FFFE = the harness authenticates with the card's management
 * key (yubico-piv-tool's mutual / OpenSC's external authentication), no bytes follow.
 *   bit 0  every auth_save (and card_save) fails (no durable decrement: nothing may succeed)
 *   bit 1  every auth_lock fails
 *   bits 2-4  initial PIN tries: 0 = 5 (default), n = n - 1 (so 1 = blocked)
 *   bit 5  PUK blocked
 * A fresh card per input: RSA-2048 in 9A (certificate > 256 bytes, to need GET RESPONSE),
 * P-256 in 9C, 9D and 9E, PIN 123456, PUK 12345678. Fixed test keys: a crash reproduces;
 * PIN hashes with 1 PBKDF2 iteration, so VERIFY costs microseconds (RSA signing dominates).
 * FUZZ_PIV_IGNORE=blocked-pin in the environment turns off the blocked-but-verified check
 * (to look for other bugs while that one is open).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "resmgr/vcard/piv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPT_SAVE_FAILS 0x01
#define OPT_LOCK_FAILS 0x02
#define OPT_PUK_BLOCKED 0x20

/* Test-only keys, public on purpose; never use them for anything else. */
static const char rsa_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDAmbpaS0fTuHjT\n"
    "54BlkNQTM1izZhHZXrmEdO3aRwKDkJzYIOTWWR0Pnw3OAEotF2yIYgufUlZu7kSA\n"
    "P1tP7+7NzeEnjjwJiIALZ9YlBK7krOB6ONE3tADVbc5QjvPyj4SwcII9ZXHZxSP9\n"
    "vWXc5pYQVPmgPqQIRegSgMnoWwfJTDbITZGaNvhfqqhu+EP/9nvNaWWN0egJOCir\n"
    "2BkxrHKAdWPFqSYutzUpY+TvyrJT+bccDTuyQOw+wdU0UeoXpYLJHmwYKeJ8Nio2\n"
    "3LEvacYuKXn4YF1AkaVN4BXNSFkKxnWfhnNfeotFGeP/7NzPUb6L63D1PDXVlIB7\n"
    "SP45hPl/AgMBAAECggEADycJBjmN+RY2S1WXQGZYiPotLFAHb3aIWedpHxcfF4K1\n"
    "FDviRQrVwnjc+SwEqe+B1mkASRSNQET2lrBlWrChtQdRg28pQga/LCaLLnZj3BHN\n"
    "x0/ZBezfc+sjpCra/mZUJh1z4aitgFiGMFxKO0rY24gT64uCFDSLwYjoWaNvxWJa\n"
    "XctlUBgc4BLrTRHpaMraPl6+IxmeW0DH/03KuLUX9/I+pE17Wv9AlkIM3rDGEhZo\n"
    "iqh9BHlcSm90bXxxJvB0vDllZ1T227oZIeFrYPF3xmjHm8SUB0R0SQErjx8bD6d/\n"
    "iWiRetyjG/wCFvbZOUaBM9MZj57mqSMST9hUjzwdYQKBgQD9i0gfy+idculsJoK8\n"
    "tf3LrUfqF0ELZwbqTe6Obwm/OTcguwyYq6HnyVLVc8Oz0mIphMwNpARICJdY59jB\n"
    "BsRGnhu9KEq6THNTanm7bSoz80R0jOjwM5NcLpKpoZGN9MHa37mfaVnMvHKSV8d0\n"
    "maB36LEfr2b8qGQ2kibtV5PLCwKBgQDCd1K+4685v66ZCA0jdKiAALPT8udhdMFE\n"
    "t8p1lY/Mpd4CXmqFi0uKqzTaONFVWj6lkaR/b28/VMN3fEsm6Xn6MqZzUd1Cw98y\n"
    "Ww5K16fNa4ZivHzMY1ylANgFFL4IhB2rMDRbCkfFdD3B6zpASMWb6+bVzg1QnB88\n"
    "dZz7QaKz3QKBgQDud7n2bgrzS8lP90ivxVxX3TruacC7wMM4TOQ7AyTfviijmEpY\n"
    "rdUx9KD8Mk23LAE3m7dwfPup5Kq07BtqMbsZ0Eu2tdbTMmSl6FdmeV5gTkXseTv9\n"
    "8ASBhyxab6Q/KB3MhvBHhwb3EaeRDQ6EFJphLXKqoobyzE61JPGH+f7/0QKBgBdO\n"
    "0/UbNxJV3ihrZZ+9SMDm1KbvsznkE5IX8UU8otqlesGP7XaKJoi9Un1hV/3B7kZL\n"
    "+Ypooc3WbAMzO5KzYzJQxdCGnF13OpY/gawIww0E+Tt2WgLpWd5RBpM9VDWTGDc/\n"
    "dNcAmW+aKhjHB9lSn5S7ppQzuTbTL49AjYsz57tlAoGBAPef+X/sVJAahAHa8Wwm\n"
    "/APs/EouDKu0H1Krt3LiH4LiajOxBBZe+EB9TkRt1iIxemJNkJiwIK2tSjregN4w\n"
    "WY0/Q7PTf8ifKhxgc4GrSLy387kJLSaLNiSYuUzuyILdKmh9rYAGXWBc5X/2mZPi\n"
    "y9JMYkVd6sq98BlWPmaxBByM\n"
    "-----END PRIVATE KEY-----\n"
    ;
static const char ec_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6SfgVLsVc8ltLqLI\n"
    "gLEOrJYzP5E3pKeaUMSBpYYxkWGhRANCAAR8d/fkZlp2klog+/eobmf+3YM4xKFi\n"
    "OrqGWcmMRW7tz6FCapUTQjMpHIg0sFiwU0NBbHegmj1e0Q60ZE23GAJA\n"
    "-----END PRIVATE KEY-----\n"
    ;
static const char ec2_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgepqVPKJOa6TiaRYO\n"
    "Npc8aCIJQdTos+ZmKkYXmrX16V6hRANCAAT++r8EHBlX1guqPNa3PdQNqKh9nAXf\n"
    "JGTYNR5G4ljMGotUAz4OlEAZD0yjFvCxPyWeziAGYmy7wHCRGhnFY0y/\n"
    "-----END PRIVATE KEY-----\n"
    ;

#define check(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz-piv: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* Built once: keys, certificates (DER), PIN/PUK hashes. Every input gets a fresh card of them. */
static EVP_PKEY *keys[VC_SLOT_MAX];
static uint8_t *certs[VC_SLOT_MAX];
static int cert_lens[VC_SLOT_MAX];
static struct vc_auth initial_auth;
static bool ignore_blocked_pin;
static bool trace; /* FUZZ_PIV_TRACE=1: print every command's status word (seed debugging) */

/* "Durable storage" of the hooks: what auth_lock reads back and auth_save writes. */
static struct {
    struct vc_auth stored;
    bool save_fails, lock_fails;
    unsigned locks, unlocks, saves;
} disk;

static int
hook_lock(void *u, struct vc_auth *auth)
{
    (void)u;
    check(disk.locks == disk.unlocks); /* never nested, never left held */
    if (disk.lock_fails)
        return -EIO;
    disk.locks++;
    *auth = disk.stored;
    return 0;
}

static int
hook_save(void *u, const struct vc_auth *auth)
{
    (void)u;
    check(disk.locks == disk.unlocks + 1); /* only under the lock */
    if (disk.save_fails)
        return -EIO;
    check(auth->pin.tries_left <= auth->pin.tries_max && auth->puk.tries_left <= auth->puk.tries_max);
    disk.stored = *auth;
    disk.saves++;
    return 0;
}

static void
hook_unlock(void *u)
{
    (void)u;
    disk.unlocks++;
}

#ifdef VC_SAVE_ALL /* the applet with management-key commands (PUT DATA, GENERATE, …) */
static int
hook_card_save(void *u, const struct vc_card *c, unsigned what)
{
    (void)u, (void)c;
    check(disk.locks == disk.unlocks); /* outside the auth lock */
    check(what != 0 && (what & ~VC_SAVE_ALL) == 0);
    return disk.save_fails ? -EIO : 0;
}
#endif

static const struct piv_ops ops = {
    .auth_lock = hook_lock,
    .auth_save = hook_save,
    .auth_unlock = hook_unlock,
#ifdef VC_SAVE_ALL
    .card_save = hook_card_save,
#endif
};

static EVP_PKEY *
load_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    check(key);
    return key;
}

/* A certificate for the key of @p slot, signed by the 9A key, fixed dates: same bytes every run. */
static void
make_cert(enum vc_slot slot, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *subject = X509_NAME_new(), *issuer = X509_NAME_new();

    check(x && subject && issuer);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_UTF8, (const unsigned char *)"fuzz-piv 9a", -1, -1, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x9a00 + slot);
    X509_set_subject_name(x, subject);
    X509_set_issuer_name(x, issuer);
    ASN1_TIME_set_string(X509_getm_notBefore(x), "20250101000000Z");
    ASN1_TIME_set_string(X509_getm_notAfter(x), "20350101000000Z");
    X509_set_pubkey(x, keys[slot]);
    check(X509_sign(x, keys[VC_SLOT_9A], EVP_sha256()) > 0);
    cert_lens[slot] = i2d_X509(x, &certs[slot]);
    check(cert_lens[slot] > 0);
    X509_NAME_free(issuer);
    X509_NAME_free(subject);
    X509_free(x);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *ignore = getenv("FUZZ_PIV_IGNORE");

    (void)argc, (void)argv;
    keys[VC_SLOT_9A] = load_key(rsa_pem);
    keys[VC_SLOT_9C] = load_key(ec_pem);
    keys[VC_SLOT_9D] = load_key(ec2_pem);
    keys[VC_SLOT_9E] = load_key(ec_pem);
    make_cert(VC_SLOT_9A, "fuzz-piv 9a");
    make_cert(VC_SLOT_9C, "fuzz-piv 9c");
    make_cert(VC_SLOT_9E, "fuzz-piv 9e"); /* 9D left without a certificate: 6A 82 */
    check(cert_lens[VC_SLOT_9A] > 256);
    /* 1 iteration: VERIFY must cost microseconds, not the 60 ms of the real KDF */
    check(vc_secret_hash("123456", 6, 1, initial_auth.pin.hash) == 0);
    check(vc_secret_hash("12345678", 8, 1, initial_auth.puk.hash) == 0);
    initial_auth.pin.tries_left = initial_auth.pin.tries_max = VC_PIN_TRIES_DEFAULT;
    initial_auth.puk.tries_left = initial_auth.puk.tries_max = VC_PUK_TRIES_DEFAULT;
    ignore_blocked_pin = ignore && strstr(ignore, "blocked-pin");
    trace = getenv("FUZZ_PIV_TRACE") != NULL;
    return 0;
}

/* A fresh card for one input (cheap: keys are shared, only references are taken). */
static struct vc_card *
card_new(uint8_t opt)
{
    struct vc_card *card = vc_card_new();
    unsigned tries = opt >> 2 & 7;

    check(card);
    card->alg = VC_ALG_RSA2048;
    memset(card->guid, 0x5a, VC_GUID_LEN);
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        check(EVP_PKEY_up_ref(keys[s]) == 1);
        card->key[s] = keys[s];
        if (certs[s])
            check(vc_card_set_cert(card, s, certs[s], (size_t)cert_lens[s]) == 0);
    }
    card->auth = initial_auth;
    if (tries != 0)
        card->auth.pin.tries_left = tries - 1 < VC_PIN_TRIES_DEFAULT ? tries - 1 : VC_PIN_TRIES_DEFAULT;
    if (opt & OPT_PUK_BLOCKED)
        card->auth.puk.tries_left = 0;
    return card;
}

static void
transmit(struct piv_applet *a, const uint8_t *cmd, size_t n, uint8_t *resp, size_t *ret_len)
{
    check(piv_applet_transmit(a, cmd, n, resp, PIV_RESPONSE_MAX, ret_len) == 0);
    check(*ret_len >= 2 && *ret_len <= PIV_RESPONSE_MAX);
    if (trace)
        fprintf(stderr, "fuzz-piv: %02X %02X %02X %02X (%zu bytes) -> %zu bytes, %02X %02X\n",
                n > 0 ? cmd[0] : 0, n > 1 ? cmd[1] : 0, n > 2 ? cmd[2] : 0, n > 3 ? cmd[3] : 0, n,
                *ret_len - 2, resp[*ret_len - 2], resp[*ret_len - 1]);
}

#ifdef VC_SAVE_ALL
/* ECB encryption (@p decrypt false) or decryption of one block with the card's management key. */
static bool
mgmt_block(const struct vc_card *card, bool decrypt, const uint8_t *in, size_t n, uint8_t *out)
{
    const uint8_t *key;
    size_t key_len;
    uint8_t alg;
    const EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok;

    vc_card_mgmt_key(card, &alg, &key, &key_len);
    cipher = alg == VC_MGMT_AES128   ? EVP_aes_128_ecb()
             : alg == VC_MGMT_AES192 ? EVP_aes_192_ecb()
             : alg == VC_MGMT_AES256 ? EVP_aes_256_ecb()
                                     : EVP_des_ede3_ecb();
    ok = ctx && (size_t)EVP_CIPHER_get_block_size(cipher) == n &&
         (size_t)EVP_CIPHER_get_key_length(cipher) == key_len &&
         EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, decrypt ? 0 : 1) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1 &&
         (size_t)len == n;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/*
 * Management-key authentication done by the harness, which knows the key (the fuzzer cannot
 * answer a random challenge): @p mutual = yubico-piv-tool's witness + challenge exchange,
 * else OpenSC piv-tool's external authentication (card challenge, host encrypts it).
 * Whatever the card answers is fine; this only opens the gate to the commands behind it.
 */
static void
mgmt_authenticate(struct piv_applet *a, const struct vc_card *card, bool mutual, uint8_t *resp)
{
    uint8_t cmd[5 + 4 + 2 * 18], alg, block[16], answer[16];
    const uint8_t *key;
    size_t key_len, bs, len;

    vc_card_mgmt_key(card, &alg, &key, &key_len);
    bs = alg == VC_MGMT_3DES || alg == 0 ? 8 : 16;
    /* 00 87 alg 9B 04 7C 02 (80 | 81) 00 */
    memcpy(cmd, (const uint8_t[]){0x00, 0x87, alg ? alg : VC_MGMT_3DES, 0x9b, 0x04, 0x7c, 0x02,
                                  mutual ? 0x80 : 0x81, 0x00}, 9);
    transmit(a, cmd, 9, resp, &len);
    if (len != 2 + 4 + bs || resp[0] != 0x7c || resp[2] != (mutual ? 0x80 : 0x81) || resp[3] != bs)
        return;
    memcpy(block, resp + 4, bs);
    if (!mgmt_block(card, mutual, block, bs, answer))
        return;
    cmd[4] = (uint8_t)(2 + 2 * (2 + bs));
    cmd[5] = 0x7c;
    cmd[6] = (uint8_t)(2 * (2 + bs));
    if (mutual) { /* 80 decrypted witness ; 81 our challenge */
        cmd[7] = 0x80, cmd[8] = (uint8_t)bs;
        memcpy(cmd + 9, answer, bs);
        cmd[9 + bs] = 0x81, cmd[10 + bs] = (uint8_t)bs;
        memset(cmd + 11 + bs, 0x42, bs);
    } else { /* 82 encrypted challenge, nothing else */
        cmd[4] = (uint8_t)(2 + 2 + bs);
        cmd[6] = (uint8_t)(2 + bs);
        cmd[7] = 0x82, cmd[8] = (uint8_t)bs;
        memcpy(cmd + 9, answer, bs);
    }
    transmit(a, cmd, 5u + cmd[4], resp, &len);
}
#endif

/* The promises one APDU must keep, given the durable state before (@p was) and after it. */
static void
check_answer(const struct piv_applet *a, const struct vc_card *card, const uint8_t *cmd, size_t n,
             const uint8_t *resp, size_t len, const struct vc_auth *was, bool was_admin)
{
    const struct vc_auth *now = &disk.stored;
    uint16_t sw = (uint16_t)(resp[len - 2] << 8 | resp[len - 1]);
    uint8_t ins = n >= 2 ? cmd[1] : 0;
    bool auth_cmd = ins == 0x20 || ins == 0x24 || ins == 0x2c;
    bool done = sw == 0x9000 || (sw & 0xff00) == 0x6100;

    check(len == 2 || done); /* data only with success */
    if (n == 5 && len > 2) /* case 2: never more than Le */
        check(len - 2 <= (cmd[4] ? cmd[4] : 256u));
    check(disk.locks == disk.unlocks);
    check(now->pin.tries_left <= now->pin.tries_max && now->puk.tries_left <= now->puk.tries_max);
#ifdef VC_SAVE_ALL
    /* GENERATE, PUT DATA, import and set-management-key only behind the management key */
    if (done && (ins == 0x47 || ins == 0xdb || ins == 0xfe || ins == 0xff) && (cmd[0] & 0x10) == 0)
        check(was_admin);
#else
    (void)was_admin;
#endif
    if (ins == 0xfb) /* YubiKey RESET wipes the card: counters start again */
        return;
    /* a counter goes up only by a successful VERIFY / CHANGE / RESET RETRY COUNTER */
    if (now->pin.tries_left > was->pin.tries_left || now->puk.tries_left > was->puk.tries_left)
        check(auth_cmd && sw == 0x9000);
    /* and down by one at most, only by those commands */
    check(now->pin.tries_left + 1 >= was->pin.tries_left && now->puk.tries_left + 1 >= was->puk.tries_left);
    if (now->pin.tries_left < was->pin.tries_left || now->puk.tries_left < was->puk.tries_left)
        check(auth_cmd);
    /* no try is free: without a durable decrement nothing authenticates (a chained part and
     * the VERIFY reset 00 20 FF 80 answer 90 00 without checking anything) */
    if ((disk.save_fails || disk.lock_fails) && auth_cmd && !(cmd[0] & 0x10) &&
        !(ins == 0x20 && n >= 3 && cmd[2] == 0xff))
        check(sw != 0x9000);
    /* a blocked PIN is not a verified PIN (the status query already answers 69 83) */
    if (!ignore_blocked_pin)
        check(!(piv_applet_pin_verified(a) && card->auth.pin.tries_left == 0));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct piv_applet *a = NULL;
    struct vc_card *card;
    uint8_t *resp;
    size_t off = 1;

    if (size < 1)
        return 0;
    resp = malloc(PIV_RESPONSE_MAX); /* exactly the minimum: ASan sees any overrun */
    check(resp);
    card = card_new(data[0]);
    disk = (typeof(disk)){.stored = card->auth, .save_fails = data[0] & OPT_SAVE_FAILS,
                          .lock_fails = data[0] & OPT_LOCK_FAILS};
    check(piv_applet_new(card, &ops, NULL, &a) == 0);
    piv_applet_set_kdf_iterations(a, 1);
    while (off + 2 <= size) {
        size_t n = (size_t)data[off] << 8 | data[off + 1], len = 0;
        struct vc_auth was = disk.stored;
        bool was_admin = false;
        uint8_t *cmd;

        off += 2;
        if (n == 0) {
            piv_applet_reset(a);
            check(!piv_applet_pin_verified(a));
            continue;
        }
#ifdef VC_SAVE_ALL
        if (n == 0xffff || n == 0xfffe) {
            mgmt_authenticate(a, card, n == 0xffff, resp);
            continue;
        }
        was_admin = piv_applet_mgmt_authenticated(a);
#endif
        if (n > size - off)
            n = size - off;
        cmd = malloc(n); /* a private copy of exactly n bytes, so reads past the APDU are caught */
        check(cmd);
        memcpy(cmd, data + off, n);
        off += n;
        transmit(a, cmd, n, resp, &len);
        check_answer(a, card, cmd, n, resp, len, &was, was_admin);
        free(cmd);
    }
    piv_applet_free(a);
    vc_card_free(card);
    free(resp);
    return 0;
}
