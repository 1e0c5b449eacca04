/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scard-vcard commands that need the card's secrets: create, generate, csr, change-pin,
 * change-puk, unblock, set-mgmt-key, reset. Except for create they open the card in-process
 * and drive its own PIV commands (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER,
 * management-key authentication, GENERATE, SET MANAGEMENT KEY, RESET), as a real tool would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/cleanup.h"
#include "common/secret.h"
#include "resmgr/vcard/keywrap.h"
#include "resmgr/vcard/piv.h"
#include "resmgr/vcard/scard-vcard.h"

DEFINE_CLEANUP_FUNC(X509_REQ *, X509_REQ_free)
DEFINE_CLEANUP_FUNC(X509_NAME *, X509_NAME_free)

struct session {
    char *dir;
    struct vc_card *card;
    struct piv_applet *applet;
    struct vc_store_handle handle;
};

static void
session_close(struct session *s)
{
    piv_applet_free(s->applet);
    vc_card_free(s->card);
    free(s->dir);
    *s = (struct session){0};
}

/* Send one APDU (chaining commands over 255 bytes, following 61 xx); returns SW or -errno. */
static int
session_apdu(struct session *s, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t len,
             uint8_t *out, size_t out_size, size_t *ret_len)
{
    uint8_t cmd[261], resp[PIV_RESPONSE_MAX];
    size_t n = 0, total = 0;
    int sw;

    do {
        size_t chunk = len > 255 ? 255 : len;
        cmd[0] = len > 255 ? 0x10 : 0x00;
        cmd[1] = ins, cmd[2] = p1, cmd[3] = p2, cmd[4] = (uint8_t)chunk;
        if (chunk)
            memcpy(cmd + 5, data, chunk);
        if (piv_applet_transmit(s->applet, cmd, chunk ? 5 + chunk : 4, resp, sizeof(resp), &n) < 0)
            return -EIO;
        data += chunk, len -= chunk;
    } while (len > 0 && resp[n - 2] == 0x90);
    for (;;) {
        sw = resp[n - 2] << 8 | resp[n - 1];
        if (out && total + n - 2 <= out_size)
            memcpy(out + total, resp, n - 2);
        total += n - 2;
        if ((sw & 0xff00) != 0x6100)
            break;
        cmd[0] = 0x00, cmd[1] = 0xc0, cmd[2] = 0, cmd[3] = 0, cmd[4] = (uint8_t)sw;
        if (piv_applet_transmit(s->applet, cmd, 5, resp, sizeof(resp), &n) < 0)
            return -EIO;
    }
    OPENSSL_cleanse(cmd, sizeof(cmd));
    OPENSSL_cleanse(resp, sizeof(resp));
    if (ret_len)
        *ret_len = total > out_size ? out_size : total;
    return sw;
}

static int
session_open(const struct args *a, struct session *s)
{
    static const uint8_t aid[] = {0xa0, 0x00, 0x00, 0x03, 0x08};
    int r = vcli_load_card(a, &s->dir, &s->card);

    if (r < 0)
        return r;
    s->handle = (struct vc_store_handle){.dir = s->dir, .lock_fd = -1};
    memcpy(s->handle.guid, s->card->guid, VC_GUID_LEN);
    if (piv_applet_new(s->card, &vc_store_piv_ops, &s->handle, &s->applet) < 0 ||
        session_apdu(s, 0xa4, 0x04, 0x00, aid, sizeof(aid), NULL, 0, NULL) != 0x9000) {
        session_close(s);
        return fail(-EIO, "cannot open card '%s'", a->name);
    }
    return 0;
}

/* Explain a status word of VERIFY / CHANGE / RESET RETRY COUNTER / management commands. */
static int
sw_error(int sw, const char *what)
{
    if (sw == 0x9000)
        return 0;
    if (sw < 0)
        return log_error_errno(sw, "card I/O failed");
    if ((sw & 0xfff0) == 0x63c0)
        return fail(-EACCES, "wrong %s, %d tries left", what, sw & 0xf);
    if (sw == 0x6983)
        return fail(-EACCES, "the %s is blocked", what);
    if (sw == 0x6982)
        return fail(-EACCES, "%s: authentication failed", what);
    if (sw == 0x6a80)
        return fail(-EINVAL, "the card refused the new value (policy)");
    if (sw == 0x6985)
        return fail(-EPERM, "not allowed now (reset needs the management key or blocked PIN and PUK)");
    if (sw == 0x6581)
        return fail(-EIO, "the card could not store its new state; nothing changed");
    return fail(-EIO, "the card answered %04X to the %s", sw, what);
}

static void
pin_block(const char *s, uint8_t block[8])
{
    memset(block, 0xff, 8);
    memcpy(block, s, strlen(s) > 8 ? 8 : strlen(s));
}

/* Read a secret from @p file, or prompt (twice when @p confirm). Checked by @p valid if given. */
static int
read_secret(const char *file, const char *what, bool confirm, bool (*valid)(const struct vc_card *, const char *, size_t),
            const struct vc_card *card, const char *rule, char **ret)
{
    _cleanup_secret_ char *s = NULL, *again = NULL;
    char prompt[80];
    int r;

    snprintf(prompt, sizeof(prompt), "%s%s%s%s: ", what, rule ? " (" : "", rule ? rule : "", rule ? ")" : "");
    r = sc_secret_read(file, prompt, &s);
    if (r < 0)
        return log_error_errno(r, "cannot read the %s from %s", what,
                               !file ? "the terminal" : strcmp(file, "-") == 0 ? "standard input" : file);
    if (valid && !valid(card, s, strlen(s)))
        return fail(-EINVAL, "the %s must be %s", what, rule);
    if (!file && confirm) {
        snprintf(prompt, sizeof(prompt), "Repeat the %s: ", what);
        r = sc_secret_read(NULL, prompt, &again);
        if (r < 0)
            return log_error_errno(r, "cannot read the %s from the terminal", what);
        if (strcmp(s, again) != 0)
            return fail(-EINVAL, "the two entries differ");
    }
    *ret = TAKE_PTR(s);
    return 0;
}

static bool
pin_ok(const struct vc_card *card, const char *s, size_t len)
{
    return vc_card_pin_valid(card, s, len);
}

static bool
puk_ok(const struct vc_card *card, const char *s, size_t len)
{
    (void)card;
    return vc_puk_valid(s, len);
}

static int
verify_pin(struct session *s, const char *pin_file)
{
    _cleanup_secret_ char *pin = NULL;
    uint8_t block[8];
    int r = read_secret(pin_file, "PIN", false, NULL, NULL, NULL, &pin), sw;

    if (r < 0)
        return r;
    pin_block(pin, block);
    sw = session_apdu(s, 0x20, 0x00, 0x80, block, 8, NULL, 0, NULL);
    OPENSSL_cleanse(block, sizeof(block));
    return sw_error(sw, "PIN");
}

/* --- management key ------------------------------------------------------------------------- */

static int
mgmt_alg_parse(const char *name, size_t key_len, uint8_t *ret)
{
    if (!name)
        *ret = key_len == 16 ? VC_MGMT_AES128 : key_len == 32 ? VC_MGMT_AES256 : VC_MGMT_3DES;
    else if (strcmp(name, "3des") == 0)
        *ret = VC_MGMT_3DES;
    else if (strcmp(name, "aes128") == 0)
        *ret = VC_MGMT_AES128;
    else if (strcmp(name, "aes192") == 0)
        *ret = VC_MGMT_AES192;
    else if (strcmp(name, "aes256") == 0)
        *ret = VC_MGMT_AES256;
    else
        return -EINVAL;
    return key_len && vc_mgmt_key_len(*ret) != key_len ? -EINVAL : 0;
}

/* A management key as hex (48 = 3DES / AES-192, 32 = AES-128, 64 = AES-256) from a file or the terminal. */
static int
read_mgmt_key(const char *file, const char *what, uint8_t key[VC_MGMT_KEY_MAX], size_t *ret_len)
{
    _cleanup_secret_ char *hex = NULL;
    size_t n;
    int r = read_secret(file, what, false, NULL, NULL, "hex", &hex);

    if (r < 0)
        return r;
    n = strlen(hex);
    if (n != 32 && n != 48 && n != 64)
        return fail(-EINVAL, "the %s must be 32, 48 or 64 hex digits", what);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return fail(-EINVAL, "the %s must be hex digits", what);
        key[i] = (uint8_t)v;
    }
    *ret_len = n / 2;
    return 0;
}

static int
mgmt_authenticate(struct session *s, const struct args *a)
{
    static const uint8_t ask[] = {0x7c, 0x02, 0x81, 0x00};
    uint8_t key[VC_MGMT_KEY_MAX], alg, out[64], reply[20] = {0x7c, 0, 0x82, 0}, enc[16];
    const uint8_t *card_key;
    size_t key_len, card_len, n = 0, block;
    EVP_CIPHER_CTX *ctx = NULL;
    int sw, m = 0, r;

    vc_card_mgmt_key(s->card, &alg, &card_key, &card_len);
    if (!a->mgmt_file && !s->card->mgmt_alg) {
        memcpy(key, vc_mgmt_default, sizeof(vc_mgmt_default)); /* the card still has the default key */
        key_len = sizeof(vc_mgmt_default);
    } else if ((r = read_mgmt_key(a->mgmt_file, "management key", key, &key_len)) < 0) {
        return r;
    }
    block = alg == VC_MGMT_3DES ? 8 : 16;
    sw = session_apdu(s, 0x87, alg, 0x9b, ask, sizeof(ask), out, sizeof(out), &n);
    r = sw != 0x9000 || n != 4 + block ? -EIO : 0;
    ctx = EVP_CIPHER_CTX_new();
    if (r == 0 && (key_len != vc_mgmt_key_len(alg) || !ctx ||
                   EVP_EncryptInit_ex2(ctx, alg == VC_MGMT_3DES ? EVP_des_ede3_ecb() : alg == VC_MGMT_AES128 ? EVP_aes_128_ecb()
                                            : alg == VC_MGMT_AES192 ? EVP_aes_192_ecb() : EVP_aes_256_ecb(),
                                       key, NULL, NULL) != 1 ||
                   EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 || EVP_EncryptUpdate(ctx, enc, &m, out + 4, (int)block) != 1))
        r = -EACCES;
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof(key));
    if (r == -EIO)
        return sw_error(sw, "management key challenge");
    if (r < 0)
        return fail(r, "the management key does not fit the card's (%s)", alg == VC_MGMT_3DES ? "3DES" : "AES");
    reply[1] = (uint8_t)(2 + block), reply[3] = (uint8_t)block;
    memcpy(reply + 4, enc, block);
    sw = session_apdu(s, 0x87, alg, 0x9b, reply, 4 + block, NULL, 0, NULL);
    return sw == 0x9000 ? 0 : fail(-EACCES, "wrong management key");
}

/* --- create --------------------------------------------------------------------------------- */

static int
random_digits(char *out, size_t n)
{
    uint8_t b;
    for (size_t i = 0; i < n; i++) {
        do {
            if (RAND_bytes(&b, 1) != 1)
                return -EIO;
        } while (b >= 250); /* no modulo bias */
        out[i] = (char)('0' + b % 10);
    }
    out[n] = '\0';
    return 0;
}

static unsigned
kdf_cost(void)
{
    const char *e = getenv("SCARD_VCARD_KDF_LOG2N"); /* a cost, not a secret: tests lower it */
    unsigned long v = e ? strtoul(e, NULL, 10) : 0;

    if (v < VC_SCRYPT_LOG2N_MIN || v > VC_SCRYPT_LOG2N_MAX)
        return VC_SCRYPT_LOG2N_DEFAULT;
    if (v < VC_SCRYPT_LOG2N_DEFAULT) /* never silently: it makes offline PIN guessing cheaper */
        fprintf(stderr, "scard-vcard: SCARD_VCARD_KDF_LOG2N=%lu: the PIN and PUK wraps get scrypt "
                        "N=2^%lu instead of 2^%u, %lu times cheaper to guess offline\n",
                v, v, VC_SCRYPT_LOG2N_DEFAULT, 1ul << (VC_SCRYPT_LOG2N_DEFAULT - v));
    return (unsigned)v;
}

static int
create_secrets(const struct args *a, struct vc_card *card, char **pin, char **puk)
{
    int r;

    if (a->random) {
        *pin = calloc(1, 9), *puk = calloc(1, 9);
        if (!*pin || !*puk)
            return -ENOMEM;
        if (random_digits(*pin, 8) < 0 || random_digits(*puk, 8) < 0)
            return fail(-EIO, "no random numbers (OpenSSL)");
        card->mgmt_alg = VC_MGMT_3DES;
        card->mgmt_key_len = 24;
        if (RAND_bytes(card->mgmt_key, 24) != 1)
            return fail(-EIO, "no random numbers (OpenSSL)");
        return 0;
    }
    r = read_secret(a->pin_file, "New PIN", true, pin_ok, card, "6 to 8 digits", pin);
    if (r == 0)
        r = read_secret(a->puk_file, "New PUK", true, puk_ok, card, "8 digits", puk);
    if (r == 0 && a->mgmt_file) {
        r = read_mgmt_key(a->mgmt_file, "management key", card->mgmt_key, &card->mgmt_key_len);
        if (r == 0 && mgmt_alg_parse(a->mgmt_alg, card->mgmt_key_len, &card->mgmt_alg) < 0)
            r = fail(-EINVAL, "--mgmt-alg does not fit a %zu-byte key", card->mgmt_key_len);
    }
    return r;
}

int
vcli_create(const struct args *a)
{
    _cleanup_card_ struct vc_card *card = vc_card_new();
    _cleanup_secret_ char *pin = NULL, *puk = NULL;
    enum vc_alg alg = VC_ALG_RSA2048;
    int r;

    if (!card)
        return fail(-ENOMEM, "out of memory");
    if (!vc_store_name_valid(a->name))
        return fail(-EINVAL, "invalid card name '%s' (1-64 of A-Z a-z 0-9 . _ -)", a->name);
    if (a->alg && vc_alg_from_name(a->alg, &alg) < 0)
        return fail(-EINVAL, "unknown algorithm '%s' (expected rsa2048, eccp256 or eccp384)", a->alg);
    if (a->random && (a->pin_file || a->puk_file || a->mgmt_file))
        return fail(-EINVAL, "--random generates PIN, PUK and management key; give no files with it");
    r = create_secrets(a, card, &pin, &puk);
    if (r < 0)
        return r;
    card->alg = alg;
    r = vc_store_prepare(a->root, card);
    if (r < 0)
        return log_error_errno(r, "cannot prepare the card store %s", a->root);
    if (RAND_bytes(card->guid, VC_GUID_LEN) != 1 || vc_key_generate(alg, &card->key[VC_SLOT_9A]) < 0)
        return fail(-EIO, "cannot generate the card's GUID and key (OpenSSL)");
    if (vc_card_provision(card, pin, strlen(pin), puk, strlen(puk), kdf_cost()) < 0)
        return fail(-EIO, "cannot wrap the card's keys (OpenSSL)");
    r = vc_store_create(a->root, a->name, card);
    if (r == -EEXIST)
        return fail(r, "a card named '%s' already exists in %s", a->name, a->root);
    if (r < 0)
        return log_error_errno(r, "cannot create card '%s' in %s", a->name, a->root);
    printf("Created card '%s' (%s, slot 9a key) in %s/%s\n", a->name, vc_alg_name(alg), a->root, a->name);
    if (a->random) {
        printf("PIN: %s\nPUK: %s\nManagement key (3DES): ", pin, puk);
        for (size_t i = 0; i < card->mgmt_key_len; i++)
            printf("%02x", card->mgmt_key[i]);
        printf("\nWrite these down now: they are not stored anywhere and not shown again.\n");
    }
    return 0;
}

/* --- generate, csr ------------------------------------------------------------------------------ */

int
vcli_generate(const struct args *a)
{
    struct session s = {0};
    enum vc_slot slot;
    enum vc_alg alg;
    uint8_t tmpl[5] = {0xac, 0x03, 0x80, 0x01, 0}, out[600];
    size_t n = 0;
    int r, sw;

    r = vcli_parse_slot(a, &slot);
    if (r < 0 || (r = session_open(a, &s)) < 0)
        return r;
    alg = s.card->alg;
    if (a->alg && vc_alg_from_name(a->alg, &alg) < 0) {
        session_close(&s);
        return fail(-EINVAL, "unknown algorithm '%s' (expected rsa2048, eccp256 or eccp384)", a->alg);
    }
    tmpl[4] = (uint8_t)alg;
    r = mgmt_authenticate(&s, a);
    if (r == 0) {
        sw = session_apdu(&s, 0x47, 0x00, vc_slot_keyref(slot), tmpl, sizeof(tmpl), out, sizeof(out), &n);
        r = sw_error(sw, "GENERATE");
    }
    if (r == 0)
        printf("Generated a %s key in slot %s of card '%s' (its old certificate, if any, no longer matches)\n",
               vc_alg_name(alg), vc_slot_name(slot), a->name);
    session_close(&s);
    return r;
}

/* "/CN=alice/O=Example" (openssl req -subj syntax; "\/" escapes a slash) → X509_NAME. */
static int
parse_subject(const char *subject, X509_NAME **ret_name)
{
    _cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
    _cleanup_free_ char *buf = malloc(strlen(subject) + 1);
    const char *p = subject;

    if (!name || !buf)
        return -ENOMEM;
    if (*p++ != '/')
        return -EINVAL;
    while (*p) {
        char *field = buf, *w = buf, *value;
        while (*p && *p != '/') {
            if (*p == '\\' && p[1])
                p++;
            *w++ = *p++;
        }
        *w = '\0';
        if (*p == '/')
            p++;
        value = strchr(field, '=');
        if (!value || value == field || !value[1])
            return -EINVAL;
        *value++ = '\0';
        if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0) != 1)
            return -EINVAL;
    }
    if (X509_NAME_entry_count(name) == 0)
        return -EINVAL;
    *ret_name = TAKE_PTR(name);
    return 0;
}

static int
write_csr(const struct args *a, EVP_PKEY *key, X509_NAME *subject)
{
    _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
    _cleanup_fclose_ FILE *out = NULL;

    if (!req || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 || X509_REQ_set_subject_name(req, subject) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1 || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        return fail(-EIO, "cannot build the certificate request (OpenSSL)");
    out = a->out ? fopen(a->out, "we") : NULL;
    if (a->out && !out)
        return log_error_errno(-errno, "cannot write %s", a->out);
    if (PEM_write_X509_REQ(out ? out : stdout, req) != 1 || fflush(out ? out : stdout) != 0)
        return fail(-EIO, "cannot write the certificate request");
    return 0;
}

int
vcli_csr(const struct args *a)
{
    _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
    struct session s = {0};
    enum vc_slot slot = VC_SLOT_9A;
    int r;

    if (parse_subject(a->subject, &subject) < 0)
        return fail(-EINVAL, "invalid subject '%s' (expected /CN=alice/O=Example)", a->subject);
    r = vcli_parse_slot(a, &slot);
    if (r < 0 || (r = session_open(a, &s)) < 0)
        return r;
    if (!vc_card_slot_pub(s.card, slot))
        r = fail(-ENOENT, "slot %s of card '%s' has no key", vc_slot_name(slot), a->name);
    else if (slot != VC_SLOT_9E)
        r = verify_pin(&s, a->pin_file); /* opens the slot keys */
    if (r == 0 && !s.card->key[slot])
        r = fail(-EACCES, "the key in slot %s cannot be opened here", vc_slot_name(slot));
    if (r == 0)
        r = write_csr(a, s.card->key[slot], subject);
    session_close(&s);
    return r;
}

/* --- PIN, PUK, management key, reset --------------------------------------------------------------- */

static int
change(const struct args *a, uint8_t ins, uint8_t ref)
{
    _cleanup_secret_ char *old = NULL, *new = NULL;
    struct session s = {0};
    uint8_t data[16];
    bool puk_old = ins == 0x2c || ref == 0x81;
    int r = session_open(a, &s), sw;

    if (r < 0)
        return r;
    r = read_secret(puk_old ? a->puk_file : a->pin_file, puk_old ? "PUK" : "PIN", false, NULL, NULL, NULL, &old);
    if (r == 0)
        r = ref == 0x81 ? read_secret(a->new_pin_file, "New PUK", true, puk_ok, s.card, "8 digits", &new)
                        : read_secret(a->new_pin_file, "New PIN", true, pin_ok, s.card, "the card's PIN length, digits", &new);
    if (r == 0) {
        pin_block(old, data);
        pin_block(new, data + 8);
        sw = session_apdu(&s, ins, 0x00, ref, data, sizeof(data), NULL, 0, NULL);
        OPENSSL_cleanse(data, sizeof(data));
        r = sw_error(sw, puk_old ? "PUK" : "PIN");
    }
    if (r == 0)
        printf("%s of card '%s' %s\n", ref == 0x81 ? "PUK" : "PIN", a->name, ins == 0x2c ? "unblocked and set" : "changed");
    session_close(&s);
    return r;
}

int
vcli_change_pin(const struct args *a)
{
    return change(a, 0x24, 0x80);
}

int
vcli_change_puk(const struct args *a)
{
    return change(a, 0x24, 0x81);
}

int
vcli_unblock(const struct args *a)
{
    return change(a, 0x2c, 0x80);
}

int
vcli_set_mgmt_key(const struct args *a)
{
    struct session s = {0};
    uint8_t data[3 + VC_MGMT_KEY_MAX], key[VC_MGMT_KEY_MAX], alg = 0;
    size_t len = 0;
    int r, sw;

    if (a->random && a->new_mgmt_file)
        return fail(-EINVAL, "give either --random or --new-mgmt-key-file");
    if (a->random) {
        r = mgmt_alg_parse(a->mgmt_alg, 0, &alg);
        len = vc_mgmt_key_len(alg);
        if (r == 0 && RAND_bytes(key, (int)len) != 1)
            r = -EIO;
    } else {
        r = read_mgmt_key(a->new_mgmt_file, "new management key", key, &len);
        if (r == 0 && mgmt_alg_parse(a->mgmt_alg, len, &alg) < 0)
            r = fail(-EINVAL, "--mgmt-alg does not fit a %zu-byte key", len);
    }
    if (r < 0 || (r = session_open(a, &s)) < 0)
        goto out;
    r = mgmt_authenticate(&s, a);
    if (r == 0) {
        data[0] = alg, data[1] = 0x9b, data[2] = (uint8_t)len;
        memcpy(data + 3, key, len);
        sw = session_apdu(&s, 0xff, 0xff, 0xff, data, 3 + len, NULL, 0, NULL);
        r = sw_error(sw, "SET MANAGEMENT KEY");
    }
    if (r == 0 && a->random) {
        printf("New management key: ");
        for (size_t i = 0; i < len; i++)
            printf("%02x", key[i]);
        printf("\nWrite it down now: it is not shown again.\n");
    } else if (r == 0) {
        printf("Management key of card '%s' changed\n", a->name);
    }
    session_close(&s);
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(data, sizeof(data));
    return r;
}

int
vcli_reset(const struct args *a)
{
    struct session s = {0};
    bool blocked;
    int r = session_open(a, &s), sw;

    if (r < 0)
        return r;
    blocked = s.card->auth.pin.tries_left == 0 && s.card->auth.puk.tries_left == 0;
    if (!blocked || a->mgmt_file)
        r = mgmt_authenticate(&s, a);
    if (r == 0) {
        sw = session_apdu(&s, 0xfb, 0x00, 0x00, NULL, 0, NULL, 0, NULL);
        r = sw_error(sw, "RESET");
    }
    if (r == 0)
        printf("Card '%s' wiped: no keys, PIN 123456, PUK 12345678, default management key\n", a->name);
    session_close(&s);
    return r;
}
