/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PIV card application (SP 800-73-4 Part 2) answering what OpenSC's PIV-II driver sends
 * (linux-anchors.md §4): SELECT, GET DATA, VERIFY (opens the wrapped KEK), CHANGE REFERENCE
 * DATA, RESET RETRY COUNTER, GENERAL AUTHENTICATE with the slot keys, chaining, GET RESPONSE.
 * Management-key commands live in piv-admin.c. Pure: persistence goes through struct piv_ops.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/cleanup.h"
#include "resmgr/vcard/keywrap.h"
#include "resmgr/vcard/piv-internal.h"

const uint8_t piv_aid[11] = {0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00};

/* CHUID FASC-N: the "no agency" test value SP 800-73-4 cards without a FASC-N carry. */
static const uint8_t chuid_fascn[25] = {0xd4, 0xe7, 0x39, 0xda, 0x73, 0x9c, 0xed, 0x39, 0xce,
                                        0x73, 0x9d, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10,
                                        0x84, 0x21, 0xc8, 0x42, 0x10, 0xc3, 0xeb};

/* Discovery object: PIV AID, PIN usage policy 40 00 = PIV PIN only (SP 800-73-4 Part 1 §3.3.2). */
static const uint8_t discovery[] = {0x7e, 0x12, 0x4f, 0x0b, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00,
                                    0x00, 0x10, 0x00, 0x01, 0x00, 0x5f, 0x2f, 0x02, 0x40, 0x00};

/* GET DATA tags of the certificate containers, indexed by enum vc_slot. */
static const uint32_t cert_tags[VC_SLOT_MAX] = {0x5fc105, 0x5fc10a, 0x5fc10b, 0x5fc101};


void
piv_buf_wipe(struct buf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    *b = (struct buf){0};
}

int
piv_buf_put(struct buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        uint8_t *p;
        while (cap < b->len + n)
            cap *= 2;
        p = malloc(cap); /* not realloc: the old copy must be wiped, it may hold a PIN */
        if (!p)
            return -ENOMEM;
        if (b->len)
            memcpy(p, b->p, b->len);
        if (b->p) {
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* BER-TLV header: tag of 1–3 bytes, definite length of 1–3 bytes (ISO 7816-4 §5.2). */
int
piv_buf_put_header(struct buf *b, uint32_t tag, size_t len)
{
    uint8_t h[6];
    size_t n = 0;

    if (tag > 0xffff)
        h[n++] = (uint8_t)(tag >> 16);
    if (tag > 0xff)
        h[n++] = (uint8_t)(tag >> 8);
    h[n++] = (uint8_t)tag;
    if (len > 0xffff)
        return -E2BIG;
    if (len > 0xff) {
        h[n++] = 0x82;
        h[n++] = (uint8_t)(len >> 8);
    } else if (len > 0x7f) {
        h[n++] = 0x81;
    }
    h[n++] = (uint8_t)len;
    return piv_buf_put(b, h, n);
}

int
piv_buf_put_tlv(struct buf *b, uint32_t tag, const void *value, size_t len)
{
    int r = piv_buf_put_header(b, tag, len);
    return r < 0 ? r : piv_buf_put(b, value, len);
}

/* Read one BER-TLV from [*p, *p + *left); advances. -EINVAL when it does not fit. */
int
piv_tlv_next(const uint8_t **p, size_t *left, uint32_t *ret_tag, const uint8_t **ret_value, size_t *ret_len)
{
    const uint8_t *s = *p;
    size_t n = *left, i = 0, len;
    uint32_t tag;

    if (n < 2)
        return -EINVAL;
    tag = s[i++];
    if ((tag & 0x1f) == 0x1f) {
        do {
            if (i >= n || i > 2)
                return -EINVAL;
            tag = tag << 8 | s[i];
        } while (s[i++] & 0x80);
    }
    if (i >= n)
        return -EINVAL;
    len = s[i++];
    if (len == 0x81 || len == 0x82) {
        size_t k = len & 0x7f;
        if (i + k > n)
            return -EINVAL;
        len = k == 1 ? s[i] : (size_t)s[i] << 8 | s[i + 1];
        i += k;
    } else if (len > 0x7f) {
        return -EINVAL;
    }
    if (len > n - i)
        return -EINVAL;
    *ret_tag = tag;
    *ret_value = s + i;
    *ret_len = len;
    *p = s + i + len;
    *left = n - i - len;
    return 0;
}

/* Short APDU cases 1–4 (ISO 7816-3 §12.1.3); extended length is not supported. */
static int
apdu_parse(const uint8_t *b, size_t n, struct apdu *a)
{
    if (n < 4)
        return -EINVAL;
    *a = (struct apdu){.cla = b[0], .ins = b[1], .p1 = b[2], .p2 = b[3], .le = 256};
    if (n == 4)
        return 0;
    if (n == 5) {
        a->le = b[4] ? b[4] : 256;
        return 0;
    }
    if (b[4] == 0) /* extended length */
        return -EINVAL;
    a->lc = b[4];
    a->data = b + 5;
    if (n == 5 + a->lc)
        return 0;
    if (n == 6 + a->lc) {
        a->le = b[n - 1] ? b[n - 1] : 256;
        return 0;
    }
    return -EINVAL;
}

/* A PIN/PUK block: 8 bytes, ASCII, right-padded with FF (SP 800-73-4 Part 2 §3.2.1). */
static int
unpad_secret(const uint8_t *block, size_t *ret_len)
{
    size_t len = 8;
    while (len > 0 && block[len - 1] == 0xff)
        len--;
    for (size_t i = 0; i < len; i++)
        if (block[i] == 0xff)
            return -EINVAL;
    if (len == 0)
        return -EINVAL;
    *ret_len = len;
    return 0;
}

/* --- PIN / PUK reference data --------------------------------------------------------- */

uint16_t
piv_auth_begin(struct piv_applet *a)
{
    if (a->ops && a->ops->auth_lock) {
        if (a->ops->auth_lock(a->userdata, &a->card->auth) < 0)
            return SW_MEMORY_FAILURE;
        a->locked = true;
    }
    return SW_OK;
}

void
piv_auth_end(struct piv_applet *a)
{
    if (a->locked && a->ops->auth_unlock)
        a->ops->auth_unlock(a->userdata);
    a->locked = false;
}

int
piv_auth_save(struct piv_applet *a)
{
    if (a->ops && a->ops->auth_save)
        return a->ops->auth_save(a->userdata, &a->card->auth);
    return 0;
}

int
piv_card_save(struct piv_applet *a, unsigned what)
{
    if (a->ops && a->ops->card_save)
        return a->ops->card_save(a->userdata, a->card, what);
    return 0;
}

void
piv_pin_forget(struct piv_applet *a)
{
    a->pin_verified = false;
    if (a->kek_open)
        vc_card_lock(a->card);
    a->kek_open = false;
    OPENSSL_cleanse(a->kek, sizeof(a->kek));
}

static uint16_t
sw_tries(const struct vc_ref *ref)
{
    if (ref->tries_left == 0)
        return SW_AUTH_BLOCKED;
    return SW_VERIFY_FAIL | (ref->tries_left > 15 ? 15 : ref->tries_left);
}

/*
 * Try a secret against a reference (caller holds the auth lock). The decremented counter
 * is on disk before the secret is even compared, so pulling the plug cannot buy a free try.
 * On success the counter is reset in memory only; the caller saves. For a stored card the
 * check is opening the wrapped KEK, which lands in @p kek (wipe it).
 */
static uint16_t
ref_try(struct piv_applet *a, bool puk, const uint8_t *secret, size_t len, uint8_t kek[32])
{
    struct vc_ref *ref = puk ? &a->card->auth.puk : &a->card->auth.pin;
    int r;

    if (ref->tries_left == 0)
        return SW_AUTH_BLOCKED;
    if (!ref->wrap_len && !ref->hash[0])
        return SW_REF_DATA_UNUSABLE;
    ref->tries_left--;
    if (piv_auth_save(a) < 0)
        return SW_MEMORY_FAILURE;
    if (ref->wrap_len)
        r = vc_card_open_ref(a->card, puk, (const char *)secret, len, kek);
    else
        r = vc_secret_check(ref->hash, secret, len);
    if (r == -EACCES)
        return sw_tries(ref) == SW_AUTH_BLOCKED ? SW_VERIFY_FAIL : sw_tries(ref);
    if (r < 0)
        return SW_UNKNOWN;
    ref->tries_left = ref->tries_max;
    return SW_OK;
}

/* PIN verified: keep the KEK for the card session and open the sealed slot keys. */
static uint16_t
pin_accept(struct piv_applet *a, const uint8_t kek[32])
{
    a->pin_verified = true;
    if (!a->card->auth.pin.wrap_len)
        return SW_OK;
    memcpy(a->kek, kek, sizeof(a->kek));
    a->kek_open = true;
    if (vc_card_unlock(a->card, a->kek) < 0) {
        piv_pin_forget(a);
        return SW_MEMORY_FAILURE; /* the PIN was right but a key blob is damaged */
    }
    return SW_OK;
}

static uint16_t
cmd_verify(struct piv_applet *a, const struct apdu *c)
{
    uint8_t kek[32];
    size_t len = 0;
    uint16_t sw;

    if (c->p1 == 0xff && c->p2 == KEYREF_PIN) { /* reset the security status */
        if (c->lc)
            return SW_WRONG_DATA;
        piv_pin_forget(a);
        return SW_OK;
    }
    if (c->p1 != 0x00)
        return SW_WRONG_P1P2;
    if (c->p2 != KEYREF_PIN)
        return SW_REF_NOT_FOUND;
    if (c->lc != 0 && (c->lc != 8 || unpad_secret(c->data, &len) < 0))
        return SW_WRONG_DATA;
    sw = piv_auth_begin(a);
    if (sw != SW_OK)
        return sw;
    if (c->lc == 0) { /* status query */
        sw = a->card->auth.pin.tries_left == 0 ? SW_AUTH_BLOCKED : a->pin_verified ? SW_OK
                                                                                 : sw_tries(&a->card->auth.pin);
    } else {
        piv_pin_forget(a);
        sw = ref_try(a, false, c->data, len, kek);
        if (sw == SW_OK && piv_auth_save(a) < 0)
            sw = SW_MEMORY_FAILURE;
        if (sw == SW_OK)
            sw = pin_accept(a, kek);
    }
    piv_auth_end(a);
    OPENSSL_cleanse(kek, sizeof(kek));
    return sw;
}

/* New reference data for @p target: a wrap of the KEK (stored card) or a PBKDF2 hash. */
static int
ref_set(struct piv_applet *a, bool puk, const uint8_t *secret, size_t len, const uint8_t kek[32])
{
    struct vc_ref *target = puk ? &a->card->auth.puk : &a->card->auth.pin;
    struct vc_ref *other = puk ? &a->card->auth.pin : &a->card->auth.puk;
    unsigned cost = vc_pw_wrap_cost(target->wrap_len ? target->wrap : other->wrap,
                                    target->wrap_len ? target->wrap_len : other->wrap_len);

    if (cost)
        return vc_card_rewrap(a->card, puk, (const char *)secret, len, kek, cost);
    return vc_secret_hash(secret, len, a->kdf_iterations, target->hash);
}

/* CHANGE REFERENCE DATA (old ‖ new) and RESET RETRY COUNTER (PUK ‖ new PIN), 16 bytes. */
static uint16_t
cmd_change(struct piv_applet *a, const struct apdu *c)
{
    bool reset = c->ins == INS_RESET_RETRY_COUNTER;
    bool puk_target = c->p2 == KEYREF_PUK;
    struct vc_ref *target, saved;
    size_t old_len, new_len;
    uint8_t kek[32] = {0};
    uint16_t sw;

    if (c->p1 != 0x00)
        return SW_WRONG_P1P2;
    if (c->p2 != KEYREF_PIN && (reset || c->p2 != KEYREF_PUK))
        return SW_REF_NOT_FOUND;
    if (c->lc != 16 || unpad_secret(c->data, &old_len) < 0 || unpad_secret(c->data + 8, &new_len) < 0)
        return SW_WRONG_DATA;
    if (puk_target ? !vc_puk_valid((const char *)c->data + 8, new_len)
                   : !vc_card_pin_valid(a->card, (const char *)c->data + 8, new_len))
        return SW_WRONG_DATA;
    target = puk_target ? &a->card->auth.puk : &a->card->auth.pin;
    sw = piv_auth_begin(a);
    if (sw != SW_OK)
        return sw;
    if (!reset && !puk_target)
        piv_pin_forget(a); /* a try against the PIN ends the verified state, as VERIFY does */
    sw = ref_try(a, reset || puk_target, c->data, old_len, kek);
    if (sw == SW_OK) {
        saved = *target;
        if (ref_set(a, puk_target, c->data + 8, new_len, kek) < 0) {
            *target = saved;
            sw = SW_UNKNOWN;
        } else {
            target->tries_left = target->tries_max;
            if (piv_auth_save(a) < 0) {
                *target = saved;
                sw = SW_MEMORY_FAILURE;
            }
        }
        OPENSSL_cleanse(&saved, sizeof(saved));
        if (sw == SW_OK && !reset && !puk_target)
            sw = pin_accept(a, kek);
        else if (sw == SW_OK && reset)
            piv_pin_forget(a);
    }
    piv_auth_end(a);
    OPENSSL_cleanse(kek, sizeof(kek));
    return sw;
}

/* --- data objects ----------------------------------------------------------------------- */

static uint16_t
put_chuid(const struct vc_card *card, struct buf *out)
{
    static const uint8_t expiry[8] = {'2', '0', '9', '9', '1', '2', '3', '1'};
    struct buf in = {0};
    int r = piv_buf_put_tlv(&in, 0x30, chuid_fascn, sizeof(chuid_fascn));

    if (r == 0)
        r = piv_buf_put_tlv(&in, 0x34, card->guid, VC_GUID_LEN);
    if (r == 0)
        r = piv_buf_put_tlv(&in, 0x35, expiry, sizeof(expiry));
    if (r == 0)
        r = piv_buf_put_tlv(&in, 0x3e, NULL, 0); /* issuer signature: unsigned card */
    if (r == 0)
        r = piv_buf_put_tlv(&in, 0xfe, NULL, 0);
    if (r == 0)
        r = piv_buf_put_tlv(out, 0x53, in.p, in.len);
    piv_buf_wipe(&in);
    return r < 0 ? SW_NO_SPACE : SW_OK;
}

static uint16_t
put_cert(const struct vc_card *card, enum vc_slot slot, struct buf *out)
{
    static const uint8_t uncompressed = 0x00;
    size_t n = card->cert_len[slot];
    size_t inner;
    int r;

    if (!card->cert[slot])
        return SW_NOT_FOUND;
    /* 70 cert ; 71 01 00 (not compressed) ; FE 00 (error detection code) */
    inner = 1 + (n > 0xff ? 3 : n > 0x7f ? 2 : 1) + n + 3 + 2;
    r = piv_buf_put_header(out, 0x53, inner);
    if (r == 0)
        r = piv_buf_put_tlv(out, 0x70, card->cert[slot], n);
    if (r == 0)
        r = piv_buf_put_tlv(out, 0x71, &uncompressed, 1);
    if (r == 0)
        r = piv_buf_put_tlv(out, 0xfe, NULL, 0);
    return r < 0 ? SW_NO_SPACE : SW_OK;
}

static uint16_t
cmd_get_data(struct piv_applet *a, const struct apdu *c, struct buf *out)
{
    const uint8_t *p = c->data, *v;
    size_t left = c->lc, len;
    uint32_t tag, obj = 0;

    if (c->p1 != 0x3f || c->p2 != 0xff)
        return SW_WRONG_P1P2;
    if (piv_tlv_next(&p, &left, &tag, &v, &len) < 0 || tag != 0x5c || left != 0 || len < 1 || len > 3)
        return SW_WRONG_DATA;
    for (size_t i = 0; i < len; i++)
        obj = obj << 8 | v[i];
    /* fingerprints, printed information, facial image, Yubico's PIN-protected data: PIN */
    if ((obj == 0x5fc103 || obj == 0x5fc108 || obj == 0x5fc109 || obj == 0x5fff01) && !a->pin_verified)
        return SW_SECURITY_STATUS;
    for (int s = 0; s < VC_SLOT_MAX; s++)
        if (obj == cert_tags[s])
            return put_cert(a->card, s, out);
    if (vc_card_object(a->card, obj)) {
        const struct vc_object *o = vc_card_object(a->card, obj);
        return piv_buf_put_tlv(out, 0x53, o->data, o->len) < 0 ? SW_NO_SPACE : SW_OK;
    }
    if (obj == 0x7e)
        return piv_buf_put(out, discovery, sizeof(discovery)) < 0 ? SW_NO_SPACE : SW_OK;
    if (obj == 0x5fc102)
        return put_chuid(a->card, out);
    return SW_NOT_FOUND; /* CCC, Key History, Printed Information, … are absent */
}

static uint16_t
cmd_select(struct piv_applet *a, const struct apdu *c, struct buf *out)
{
    static const uint8_t label[] = "scard virtual PIV";
    static const uint8_t algs[] = {0x80, 0x01, VC_ALG_RSA2048, 0x80, 0x01, VC_ALG_ECCP256,
                                   0x80, 0x01, VC_ALG_ECCP384, 0x06, 0x01, 0x00};
    static const uint8_t pix[] = {0x00, 0x00, 0x10, 0x00, 0x01, 0x00};
    static const uint8_t authority[] = {0x4f, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08};
    struct buf in = {0};
    int r;

    /* Unknown AIDs (and SELECT FILE by id) must fail, or other OpenSC drivers grab us. */
    if (c->p1 != 0x04 || c->lc < 5 || c->lc > sizeof(piv_aid) || memcmp(c->data, piv_aid, c->lc) != 0)
        return SW_NOT_FOUND;
    a->selected = true;
    /* 61 { 4F PIX ; 79 { 4F RID } ; 50 label ; AC { 80 07 ; 80 11 ; 06 00 } } — no SM algorithms */
    r = piv_buf_put_tlv(&in, 0x4f, pix, sizeof(pix));
    if (r == 0)
        r = piv_buf_put_tlv(&in, 0x79, authority, sizeof(authority));
    if (r == 0)
        r = piv_buf_put_tlv(&in, 0x50, label, sizeof(label) - 1);
    if (r == 0)
        r = piv_buf_put_tlv(&in, 0xac, algs, sizeof(algs));
    if (r == 0)
        r = piv_buf_put_tlv(out, 0x61, in.p, in.len);
    piv_buf_wipe(&in);
    return r < 0 ? SW_NO_SPACE : SW_OK;
}

/* --- GENERAL AUTHENTICATE --------------------------------------------------------------- */

/* Raw RSA private operation m^d mod n on a block of modulus size (padding done by the host). */
static int
rsa_raw(EVP_PKEY *key, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int r = -EINVAL;

    if ((size_t)EVP_PKEY_get_size(key) == len && ctx && EVP_PKEY_decrypt_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 &&
        EVP_PKEY_decrypt(ctx, out, out_len, in, len) == 1 && *out_len == len)
        r = 0;
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* ECDSA over a hash the host computed; DER Ecdsa-Sig-Value (SEQUENCE { r, s }). */
static int
ecdsa_sign(EVP_PKEY *key, const uint8_t *hash, size_t len, uint8_t *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int r = -EINVAL;

    if (len >= 1 && len <= 64 && ctx && EVP_PKEY_sign_init(ctx) == 1 &&
        EVP_PKEY_sign(ctx, out, out_len, hash, len) == 1)
        r = 0;
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* ECDH with the peer's uncompressed point; the shared secret is the X coordinate. */
static int
ecdh_derive(EVP_PKEY *key, const uint8_t *point, size_t len, uint8_t *out, size_t *out_len)
{
    char group[32];
    EVP_PKEY_CTX *pctx = NULL, *dctx = NULL;
    EVP_PKEY *peer = NULL;
    int r = -EINVAL;

    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
        return -EINVAL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, len),
        OSSL_PARAM_construct_end(),
    };
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto out;
    dctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (dctx && EVP_PKEY_derive_init(dctx) == 1 && EVP_PKEY_derive_set_peer(dctx, peer) == 1 &&
        EVP_PKEY_derive(dctx, out, out_len) == 1)
        r = 0;
out:
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(peer);
    return r;
}

static uint16_t
cmd_general_authenticate(struct piv_applet *a, const struct apdu *c, struct buf *out)
{
    const uint8_t *p = c->data, *tmpl, *v, *challenge = NULL, *point = NULL;
    size_t left = c->lc, tmpl_len, len, challenge_len = 0, point_len = 0, res_len;
    bool want_response = false;
    uint8_t res[512];
    uint32_t tag;
    EVP_PKEY *key;
    int slot, r;
    uint16_t sw = SW_OK;

    if (c->p2 == 0x9b)
        return piv_cmd_mgmt_auth(a, c, out);
    slot = vc_slot_from_keyref(c->p2);
    if (slot < 0)
        return SW_WRONG_P1P2;
    if (!vc_card_slot_pub(a->card, slot))
        return SW_REF_NOT_FOUND;
    if (c->p1 != vc_alg_of_key(vc_card_slot_pub(a->card, slot)))
        return SW_WRONG_P1P2;
    if (slot != VC_SLOT_9E && !a->pin_verified)
        return SW_SECURITY_STATUS;
    key = a->card->key[slot];
    if (!key)
        return SW_SECURITY_STATUS; /* sealed and not opened (9E without the store key) */
    /* 7C { 82 00 ; 81 challenge | 85 peer point } and nothing after it */
    if (piv_tlv_next(&p, &left, &tag, &tmpl, &tmpl_len) < 0 || tag != 0x7c || left != 0)
        return SW_WRONG_DATA;
    while (tmpl_len > 0) {
        if (piv_tlv_next(&tmpl, &tmpl_len, &tag, &v, &len) < 0)
            return SW_WRONG_DATA;
        if (tag == 0x82 && len == 0)
            want_response = true;
        else if (tag == 0x81 && !challenge)
            challenge = v, challenge_len = len;
        else if (tag == 0x85 && !point)
            point = v, point_len = len;
        else
            return SW_WRONG_DATA; /* witness 80 (mutual auth) is for the management key */
    }
    if (!want_response || !challenge == !point)
        return SW_WRONG_DATA;
    res_len = sizeof(res);
    if (point)
        r = c->p1 != VC_ALG_RSA2048 ? ecdh_derive(key, point, point_len, res, &res_len) : -EINVAL;
    else if (c->p1 == VC_ALG_RSA2048)
        r = rsa_raw(key, challenge, challenge_len, res, &res_len);
    else
        r = ecdsa_sign(key, challenge, challenge_len, res, &res_len);
    if (r < 0)
        sw = SW_WRONG_DATA;
    else if (piv_buf_put_header(out, 0x7c, res_len + 2 + (res_len > 0xff ? 2 : res_len > 0x7f ? 1 : 0)) < 0 ||
             piv_buf_put_tlv(out, 0x82, res, res_len) < 0)
        sw = SW_NO_SPACE;
    OPENSSL_cleanse(res, sizeof(res)); /* a decrypted block or shared secret */
    return sw;
}

/* --- dispatch --------------------------------------------------------------------------- */

static uint16_t
dispatch(struct piv_applet *a, const struct apdu *c, struct buf *out)
{
    if (c->ins == INS_SELECT)
        return cmd_select(a, c, out);
    if (!a->selected)
        return SW_INS_NOT_SUPPORTED;
    switch (c->ins) {
    case INS_GET_DATA:
        return cmd_get_data(a, c, out);
    case INS_VERIFY:
        return cmd_verify(a, c);
    case INS_CHANGE_REFERENCE_DATA:
    case INS_RESET_RETRY_COUNTER:
        return cmd_change(a, c);
    case INS_GENERAL_AUTHENTICATE:
        return cmd_general_authenticate(a, c, out);
    case INS_GENERATE:
        return piv_cmd_generate(a, c, out);
    case INS_PUT_DATA:
        return piv_cmd_put_data(a, c);
    default:
        return piv_cmd_yubico(a, c, out); /* or 6D 00 */
    }
}

/* Copy the next piece of the pending answer (at most le bytes) and the status word. */
static void
emit(struct piv_applet *a, size_t le, uint16_t sw, uint8_t *resp, size_t *ret_len)
{
    size_t n = 0, rest;

    if (sw == SW_OK) {
        rest = a->out.len - a->out_pos;
        n = rest < le ? rest : le;
        if (n)
            memcpy(resp, a->out.p + a->out_pos, n);
        a->out_pos += n;
        rest -= n;
        if (rest)
            sw = SW_MORE_DATA | (rest > 0xff ? 0x00 : rest);
    }
    if ((sw & 0xff00) != SW_MORE_DATA) { /* answer complete, or an error: nothing pending */
        piv_buf_wipe(&a->out);
        a->out_pos = 0;
    }
    resp[n] = (uint8_t)(sw >> 8);
    resp[n + 1] = (uint8_t)sw;
    *ret_len = n + 2;
}

/* Gather chained data (CLA 10); returns true when the APDU in *c is complete. */
static bool
chain_step(struct piv_applet *a, struct apdu *c, uint16_t *ret_sw)
{
    bool more = c->cla & 0x10;
    bool same = a->chaining && c->ins == a->chain_ins && c->p1 == a->chain_p1 && c->p2 == a->chain_p2;

    if (a->chaining && !same) { /* a different command breaks the chain: drop it */
        piv_buf_wipe(&a->chain);
        a->chaining = false;
    }
    if (!more && !a->chaining)
        return true;
    if (a->chain.len + c->lc > CHAIN_MAX || piv_buf_put(&a->chain, c->data, c->lc) < 0) {
        piv_buf_wipe(&a->chain);
        a->chaining = false;
        *ret_sw = SW_NO_SPACE;
        return false;
    }
    if (more) {
        a->chaining = true;
        a->chain_ins = c->ins, a->chain_p1 = c->p1, a->chain_p2 = c->p2;
        *ret_sw = SW_OK;
        return false;
    }
    c->data = a->chain.p;
    c->lc = a->chain.len;
    a->chaining = false; /* a->chain is freed by the caller after dispatch */
    return true;
}

int
piv_applet_transmit(struct piv_applet *a, const uint8_t *cmd, size_t cmd_len, uint8_t *resp,
                    size_t resp_size, size_t *ret_len)
{
    struct apdu c;
    uint16_t sw;

    if (!a || !cmd || !resp || !ret_len)
        return -EINVAL;
    if (resp_size < PIV_RESPONSE_MAX)
        return -ENOBUFS;
    if (apdu_parse(cmd, cmd_len, &c) < 0) {
        piv_buf_wipe(&a->chain);
        a->chaining = false;
        emit(a, 0, SW_WRONG_LENGTH, resp, ret_len);
        return 0;
    }
    if (c.ins == INS_GET_RESPONSE && c.cla == 0x00 && !a->chaining) {
        sw = c.p1 || c.p2 ? SW_WRONG_P1P2 : a->out_pos < a->out.len ? SW_OK : SW_CONDITIONS;
        emit(a, c.le, sw, resp, ret_len);
        return 0;
    }
    piv_buf_wipe(&a->out); /* any other command discards an answer not fetched */
    a->out_pos = 0;
    if ((c.cla & ~0x10) != 0x00) {
        sw = SW_CLA_NOT_SUPPORTED; /* secure messaging, logical channels, proprietary */
    } else if (chain_step(a, &c, &sw)) {
        sw = dispatch(a, &c, &a->out);
        piv_buf_wipe(&a->chain);
    }
    emit(a, c.le, sw, resp, ret_len);
    return 0;
}

int
piv_applet_new(struct vc_card *card, const struct piv_ops *ops, void *userdata, struct piv_applet **ret_applet)
{
    struct piv_applet *a;

    if (!card || !ret_applet)
        return -EINVAL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->card = card;
    a->ops = ops;
    a->userdata = userdata;
    a->kdf_iterations = VC_PBKDF2_ITERATIONS;
    *ret_applet = a;
    return 0;
}

void
piv_applet_set_kdf_iterations(struct piv_applet *a, unsigned iterations)
{
    if (a && iterations)
        a->kdf_iterations = iterations;
}

void
piv_applet_reset(struct piv_applet *a)
{
    if (!a)
        return;
    a->selected = false;
    piv_pin_forget(a);
    a->mgmt_authenticated = false;
    a->mgmt_state = 0;
    OPENSSL_cleanse(a->mgmt_nonce, sizeof(a->mgmt_nonce));
    a->chaining = false;
    piv_buf_wipe(&a->chain);
    piv_buf_wipe(&a->out);
    a->out_pos = 0;
}

void
piv_applet_free(struct piv_applet *a)
{
    if (!a)
        return;
    piv_applet_reset(a);
    free(a);
}

bool
piv_applet_pin_verified(const struct piv_applet *a)
{
    return a && a->pin_verified;
}

bool
piv_applet_mgmt_authenticated(const struct piv_applet *a)
{
    return a && a->mgmt_authenticated;
}

uint32_t
piv_cert_tag(enum vc_slot slot)
{
    return (unsigned)slot < VC_SLOT_MAX ? cert_tags[slot] : 0;
}
