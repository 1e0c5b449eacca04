/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Card administration through the PIV applet: card management key (9B) challenge–response
 * (SP 800-73-4 Part 2 §3.2.4 / Appendix A.1, 3DES and AES), GENERATE ASYMMETRIC KEY PAIR
 * and PUT DATA behind it, and the Yubico extensions provisioning tools send (GET SERIAL,
 * SET MANAGEMENT KEY, RESET); everything else proprietary is answered 6D 00.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "resmgr/vcard/keywrap.h"
#include "resmgr/vcard/piv-internal.h"

static const EVP_CIPHER *
mgmt_cipher(uint8_t alg)
{
    switch (alg) {
    case VC_MGMT_3DES:
        return EVP_des_ede3_ecb();
    case VC_MGMT_AES128:
        return EVP_aes_128_ecb();
    case VC_MGMT_AES192:
        return EVP_aes_192_ecb();
    case VC_MGMT_AES256:
        return EVP_aes_256_ecb();
    default:
        return NULL;
    }
}

/* One block of ECB with the card's management key; 3DES blocks are 8 bytes, AES 16. */
static int
mgmt_crypt(const struct vc_card *card, int enc, const uint8_t *in, uint8_t *out, size_t block)
{
    const uint8_t *key;
    uint8_t alg;
    size_t key_len;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, m = 0, r = -EIO;

    vc_card_mgmt_key(card, &alg, &key, &key_len);
    if (ctx && EVP_CipherInit_ex2(ctx, mgmt_cipher(alg), key, NULL, enc, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_CipherUpdate(ctx, out, &n, in, (int)block) == 1 &&
        EVP_CipherFinal_ex(ctx, out + n, &m) == 1 && (size_t)(n + m) == block)
        r = 0;
    EVP_CIPHER_CTX_free(ctx);
    return r;
}

static uint16_t
put_dyn(struct buf *out, uint8_t tag, const uint8_t *v, size_t len)
{
    if (piv_buf_put_header(out, 0x7c, len + 2) < 0 || piv_buf_put_tlv(out, tag, v, len) < 0)
        return SW_NO_SPACE;
    return SW_OK;
}

/*
 * 7C { 80 00 }            → card sends witness W encrypted: 7C { 80 E(W) }
 * 7C { 80 W' ; 81 C }     → W' == W: authenticated, answer 7C { 82 E(C) }   (mutual, yubico-piv-tool)
 * 7C { 81 00 }            → card sends challenge C: 7C { 81 C }             (also OpenSC's GET CHALLENGE)
 * 7C { 82 R }             → R == E(C): authenticated                        (external, piv-tool)
 */
uint16_t
piv_cmd_mgmt_auth(struct piv_applet *a, const struct apdu *c, struct buf *out)
{
    const uint8_t *p = c->data, *tmpl, *v, *witness = NULL, *chal = NULL, *resp = NULL;
    size_t left = c->lc, tmpl_len, len, wl = 0, cl = 0, rl = 0, block;
    uint8_t alg, req, buf[16], buf2[16], state = a->mgmt_state;
    const uint8_t *key;
    size_t key_len;
    uint32_t tag;
    uint16_t sw = SW_SECURITY_STATUS;

    vc_card_mgmt_key(a->card, &alg, &key, &key_len);
    req = c->p1 == 0x00 ? VC_MGMT_3DES : c->p1;
    if (!mgmt_cipher(req))
        return SW_WRONG_P1P2;
    block = req == VC_MGMT_3DES ? 8 : 16;
    if (piv_tlv_next(&p, &left, &tag, &tmpl, &tmpl_len) < 0 || tag != 0x7c || left != 0)
        return SW_WRONG_DATA;
    while (tmpl_len > 0) {
        if (piv_tlv_next(&tmpl, &tmpl_len, &tag, &v, &len) < 0)
            return SW_WRONG_DATA;
        if (tag == 0x80 && !witness)
            witness = v, wl = len;
        else if (tag == 0x81 && !chal)
            chal = v, cl = len;
        else if (tag == 0x82 && !resp)
            resp = v, rl = len;
        else
            return SW_WRONG_DATA;
    }
    a->mgmt_state = 0;
    a->mgmt_authenticated = false;
    if ((resp && rl == 0) || (!witness && !chal && !resp))
        return SW_WRONG_DATA;
    if (chal && cl == 0 && !witness && !resp) { /* challenge (any algorithm: also GET CHALLENGE) */
        if (RAND_bytes(a->mgmt_nonce, (int)block) != 1)
            return SW_UNKNOWN;
        a->mgmt_state = 0x81;
        a->mgmt_p1 = req;
        return put_dyn(out, 0x81, a->mgmt_nonce, block);
    }
    if (req != alg || (state && a->mgmt_p1 != req))
        return SW_WRONG_P1P2; /* not the card's management key algorithm */
    if (witness && wl == 0 && !chal && !resp) { /* step 1 of mutual authentication */
        if (RAND_bytes(a->mgmt_nonce, (int)block) != 1 || mgmt_crypt(a->card, 1, a->mgmt_nonce, buf, block) < 0)
            return SW_UNKNOWN;
        a->mgmt_state = 0x80;
        a->mgmt_p1 = req;
        return put_dyn(out, 0x80, buf, block);
    }
    if (witness && chal && !resp && state == 0x80 && wl == block && cl == block) {
        if (CRYPTO_memcmp(witness, a->mgmt_nonce, block) != 0)
            goto out;
        if (mgmt_crypt(a->card, 1, chal, buf, block) < 0) {
            sw = SW_UNKNOWN;
            goto out;
        }
        a->mgmt_authenticated = true;
        sw = put_dyn(out, 0x82, buf, block);
    } else if (resp && !witness && !chal && state == 0x81 && rl == block) {
        if (mgmt_crypt(a->card, 0, resp, buf2, block) < 0) {
            sw = SW_UNKNOWN;
            goto out;
        }
        if (CRYPTO_memcmp(buf2, a->mgmt_nonce, block) == 0) {
            a->mgmt_authenticated = true;
            sw = SW_OK;
        }
    } else if (!(witness || resp)) {
        sw = SW_WRONG_DATA;
    }
out:
    OPENSSL_cleanse(a->mgmt_nonce, sizeof(a->mgmt_nonce));
    OPENSSL_cleanse(buf2, sizeof(buf2));
    return sw;
}

/* 7F 49 { 81 n ; 82 e } for RSA, 7F 49 { 86 point } for EC (SP 800-73-4 Part 2 Table 11). */
static int
put_public_key(EVP_PKEY *key, struct buf *out)
{
    struct buf in = {0};
    BIGNUM *n = NULL, *e = NULL;
    uint8_t point[133], nb[512], eb[8];
    size_t plen = 0;
    int r = -EIO, nl, el;

    if (EVP_PKEY_is_a(key, "RSA")) {
        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
            EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
            goto out;
        nl = BN_bn2bin(n, nb);
        el = BN_num_bytes(e) <= (int)sizeof(eb) ? BN_bn2bin(e, eb) : -1;
        if (nl <= 0 || el <= 0)
            goto out;
        r = piv_buf_put_tlv(&in, 0x81, nb, (size_t)nl);
        if (r == 0)
            r = piv_buf_put_tlv(&in, 0x82, eb, (size_t)el);
    } else {
        if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point), &plen) != 1)
            goto out;
        r = piv_buf_put_tlv(&in, 0x86, point, plen);
    }
    if (r == 0)
        r = piv_buf_put_tlv(out, 0x7f49, in.p, in.len);
out:
    piv_buf_wipe(&in);
    BN_free(n);
    BN_free(e);
    return r;
}

/* GENERATE ASYMMETRIC KEY PAIR 00 47 00 <slot>, data AC { 80 alg [AA pin policy] [AB touch] }. */
uint16_t
piv_cmd_generate(struct piv_applet *a, const struct apdu *c, struct buf *out)
{
    const uint8_t *p = c->data, *tmpl, *v;
    size_t left = c->lc, tmpl_len, len;
    uint32_t tag;
    int alg = -1, slot, r;
    EVP_PKEY *key = NULL;

    if (c->p1 != 0x00)
        return SW_WRONG_P1P2;
    slot = vc_slot_from_keyref(c->p2);
    if (slot < 0)
        return SW_REF_NOT_FOUND;
    if (piv_tlv_next(&p, &left, &tag, &tmpl, &tmpl_len) < 0 || tag != 0xac || left != 0)
        return SW_WRONG_DATA;
    while (tmpl_len > 0) {
        if (piv_tlv_next(&tmpl, &tmpl_len, &tag, &v, &len) < 0)
            return SW_WRONG_DATA;
        if (tag == 0x80 && len == 1)
            alg = v[0]; /* other members (Yubico PIN/touch policy) are accepted and ignored */
    }
    if (!a->mgmt_authenticated)
        return SW_SECURITY_STATUS;
    if (alg != VC_ALG_RSA2048 && alg != VC_ALG_ECCP256 && alg != VC_ALG_ECCP384)
        return SW_WRONG_DATA;
    if (vc_key_generate((enum vc_alg)alg, &key) < 0)
        return SW_UNKNOWN;
    EVP_PKEY_free(a->card->key[slot]);
    a->card->key[slot] = key;
    EVP_PKEY_free(a->card->pub[slot]);
    a->card->pub[slot] = NULL;
    free(a->card->sealed[slot]);
    a->card->sealed[slot] = NULL;
    r = 0;
    if (a->card->has_kek && (slot != VC_SLOT_9E || a->card->has_store_key))
        r = vc_card_seal_key(a->card, slot);
    if (r == 0)
        r = piv_card_save(a, VC_SAVE_KEY(slot));
    if (r < 0) {
        EVP_PKEY_free(a->card->key[slot]);
        a->card->key[slot] = NULL;
        return SW_MEMORY_FAILURE;
    }
    if (put_public_key(key, out) < 0)
        return SW_NO_SPACE;
    if (a->card->sealed[slot] && slot != VC_SLOT_9E && !a->kek_open) {
        EVP_PKEY_free(a->card->key[slot]); /* usable after the next VERIFY */
        a->card->key[slot] = NULL;
    }
    return SW_OK;
}

/* A certificate container's value: 70 cert ; 71 info (00 = not compressed) ; FE (EDC). */
static uint16_t
store_cert(struct piv_applet *a, enum vc_slot slot, const uint8_t *v, size_t len)
{
    const uint8_t *cert = NULL, *val, *d;
    size_t cert_len = 0, vl;
    uint32_t tag;
    X509 *x;

    while (len > 0) {
        if (piv_tlv_next(&v, &len, &tag, &val, &vl) < 0)
            return SW_WRONG_DATA;
        if (tag == 0x70)
            cert = val, cert_len = vl;
        else if (tag == 0x71 && vl == 1 && val[0] != 0x00)
            return SW_WRONG_DATA; /* gzip-compressed certificates are not supported */
    }
    if (cert) {
        d = cert;
        x = d2i_X509(NULL, &d, (long)cert_len);
        X509_free(x);
        if (!x || d != cert + cert_len)
            return SW_WRONG_DATA;
    }
    if (vc_card_set_cert(a->card, slot, cert, cert_len) < 0)
        return SW_NO_SPACE;
    return piv_card_save(a, VC_SAVE_CERT(slot)) < 0 ? SW_MEMORY_FAILURE : SW_OK;
}

/* PUT DATA 00 DB 3F FF, data 5C <tag> 53 <value> (SP 800-73-4 Part 2 §3.3.2). */
uint16_t
piv_cmd_put_data(struct piv_applet *a, const struct apdu *c)
{
    const uint8_t *p = c->data, *t, *v;
    size_t left = c->lc, tl, vl;
    uint32_t tag, obj = 0;

    if (c->p1 != 0x3f || c->p2 != 0xff)
        return SW_WRONG_P1P2;
    if (piv_tlv_next(&p, &left, &tag, &t, &tl) < 0 || tag != 0x5c || tl < 1 || tl > 3)
        return SW_WRONG_DATA;
    for (size_t i = 0; i < tl; i++)
        obj = obj << 8 | t[i];
    if (piv_tlv_next(&p, &left, &tag, &v, &vl) < 0 || tag != 0x53 || left != 0)
        return SW_WRONG_DATA;
    if (!a->mgmt_authenticated)
        return SW_SECURITY_STATUS;
    for (int s = 0; s < VC_SLOT_MAX; s++)
        if (obj == piv_cert_tag(s))
            return store_cert(a, s, v, vl);
    if ((obj >> 8) != 0x5fc1 && (obj >> 8) != 0x5fff)
        return SW_NOT_FOUND; /* Discovery and BIT groups are fixed */
    if (vc_card_set_object(a->card, obj, vl ? v : NULL, vl) < 0)
        return SW_NO_SPACE;
    return piv_card_save(a, VC_SAVE_OBJECTS) < 0 ? SW_MEMORY_FAILURE : SW_OK;
}

/* Yubico SET MANAGEMENT KEY: 00 FF FF FF|FE, data <alg> 9B <len> <key>. */
static uint16_t
set_mgmt_key(struct piv_applet *a, const struct apdu *c)
{
    struct vc_card *card = a->card;
    uint8_t old_alg = card->mgmt_alg, old_key[VC_MGMT_KEY_MAX];
    size_t old_len = card->mgmt_key_len, klen;

    if (c->p1 != 0xff || (c->p2 != 0xff && c->p2 != 0xfe))
        return SW_WRONG_P1P2;
    if (c->lc < 3 || c->data[1] != 0x9b)
        return SW_WRONG_DATA;
    klen = vc_mgmt_key_len(c->data[0]);
    if (!klen || c->data[2] != klen || c->lc != 3 + klen)
        return SW_WRONG_DATA;
    if (!a->mgmt_authenticated)
        return SW_SECURITY_STATUS;
    memcpy(old_key, card->mgmt_key, sizeof(old_key));
    card->mgmt_alg = c->data[0];
    memcpy(card->mgmt_key, c->data + 3, klen);
    card->mgmt_key_len = klen;
    if (piv_card_save(a, VC_SAVE_MGMT) < 0) {
        card->mgmt_alg = old_alg;
        memcpy(card->mgmt_key, old_key, sizeof(old_key));
        card->mgmt_key_len = old_len;
        OPENSSL_cleanse(old_key, sizeof(old_key));
        return SW_MEMORY_FAILURE;
    }
    OPENSSL_cleanse(old_key, sizeof(old_key));
    return SW_OK;
}

/*
 * Yubico RESET: only when both PIN and PUK are blocked (as a YubiKey), or — this card's
 * addition, as Windows virtual cards allow — after management-key authentication. Keys,
 * certificates and objects go; PIN 123456, PUK 12345678, default management key.
 */
static uint16_t
reset_card(struct piv_applet *a)
{
    struct vc_card *card = a->card;
    unsigned cost;
    uint16_t sw = piv_auth_begin(a); /* fresh counters; held across the whole reset */
    int r;

    if (sw != SW_OK)
        return sw;
    if (!a->mgmt_authenticated && (card->auth.pin.tries_left || card->auth.puk.tries_left)) {
        piv_auth_end(a);
        return SW_CONDITIONS;
    }
    cost = vc_pw_wrap_cost(card->auth.pin.wrap, card->auth.pin.wrap_len);
    piv_pin_forget(a);
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        EVP_PKEY_free(card->key[s]);
        EVP_PKEY_free(card->pub[s]);
        free(card->sealed[s]);
        card->key[s] = card->pub[s] = NULL;
        card->sealed[s] = NULL;
        (void)vc_card_set_cert(card, s, NULL, 0);
    }
    while (card->n_obj)
        (void)vc_card_set_object(card, card->obj[0].tag, NULL, 0);
    card->mgmt_alg = 0;
    card->mgmt_key_len = 0;
    OPENSSL_cleanse(card->mgmt_key, sizeof(card->mgmt_key));
    if (card->has_kek)
        r = vc_card_provision(card, "123456", 6, "12345678", 8, cost ? cost : VC_SCRYPT_LOG2N_DEFAULT);
    else
        r = vc_secret_hash("123456", 6, a->kdf_iterations, card->auth.pin.hash) < 0 ||
                    vc_secret_hash("12345678", 8, a->kdf_iterations, card->auth.puk.hash) < 0
                ? -EIO
                : 0;
    card->auth.pin.tries_left = card->auth.pin.tries_max;
    card->auth.puk.tries_left = card->auth.puk.tries_max;
    if (r == 0)
        r = piv_auth_save(a);
    piv_auth_end(a);
    if (r == 0)
        r = piv_card_save(a, VC_SAVE_ALL);
    a->mgmt_authenticated = false;
    return r < 0 ? SW_MEMORY_FAILURE : SW_OK;
}

uint16_t
piv_cmd_yubico(struct piv_applet *a, const struct apdu *c, struct buf *out)
{
    uint8_t serial[4];

    switch (c->ins) {
    case INS_YK_SERIAL: /* 4 bytes, big-endian; ours comes from the GUID (never 0) */
        memcpy(serial, a->card->guid, sizeof(serial));
        serial[0] &= 0x7f;
        serial[3] |= 0x01;
        return piv_buf_put(out, serial, sizeof(serial)) < 0 ? SW_NO_SPACE : SW_OK;
    case INS_YK_SET_MGMKEY:
        return set_mgmt_key(a, c);
    case INS_YK_RESET:
        return c->p1 || c->p2 || c->lc ? SW_WRONG_P1P2 : reset_card(a);
    default:
        return SW_INS_NOT_SUPPORTED; /* GET VERSION, GET METADATA, IMPORT, ATTEST: not a YubiKey */
    }
}
