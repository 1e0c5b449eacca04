/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals shared by the PIV applet's files: piv.c (parsing, SELECT, GET DATA, PIN/PUK,
 * GENERAL AUTHENTICATE with the slot keys, chaining) and piv-admin.c (management key,
 * GENERATE, PUT DATA, Yubico extensions). Not installed, not for other components.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resmgr/vcard/piv.h"

/* Status words (ISO 7816-4 §5.1.3, SP 800-73-4 Part 2 Table 6). */
enum {
    SW_OK = 0x9000,
    SW_MORE_DATA = 0x6100,
    SW_VERIFY_FAIL = 0x63c0,
    SW_MEMORY_FAILURE = 0x6581,
    SW_WRONG_LENGTH = 0x6700,
    SW_SECURITY_STATUS = 0x6982,
    SW_AUTH_BLOCKED = 0x6983,
    SW_REF_DATA_UNUSABLE = 0x6984,
    SW_CONDITIONS = 0x6985,
    SW_WRONG_DATA = 0x6a80,
    SW_NOT_FOUND = 0x6a82,
    SW_NO_SPACE = 0x6a84,
    SW_WRONG_P1P2 = 0x6a86,
    SW_REF_NOT_FOUND = 0x6a88,
    SW_INS_NOT_SUPPORTED = 0x6d00,
    SW_CLA_NOT_SUPPORTED = 0x6e00,
    SW_UNKNOWN = 0x6f00,
};

enum {
    INS_VERIFY = 0x20,
    INS_CHANGE_REFERENCE_DATA = 0x24,
    INS_RESET_RETRY_COUNTER = 0x2c,
    INS_GENERAL_AUTHENTICATE = 0x87,
    INS_SELECT = 0xa4,
    INS_GET_RESPONSE = 0xc0,
    INS_GET_DATA = 0xcb,
    INS_GENERATE = 0x47,
    INS_PUT_DATA = 0xdb,
    INS_YK_SET_MGMKEY = 0xff,
    INS_YK_RESET = 0xfb,
    INS_YK_VERSION = 0xfd,
    INS_YK_SERIAL = 0xf8,
    INS_YK_METADATA = 0xf7,
    INS_YK_IMPORT = 0xfe,
};

#define KEYREF_PIN 0x80
#define KEYREF_PUK 0x81
#define CHAIN_MAX 20000u /* bytes gathered over chained commands (room for PUT DATA of a cert) */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

struct apdu {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;
    size_t le; /* 1..256; 256 when absent or 00 */
};

struct piv_applet {
    struct vc_card *card;
    const struct piv_ops *ops;
    void *userdata;
    unsigned kdf_iterations;
    bool selected;
    bool pin_verified;
    bool locked;
    bool kek_open;             /* kek[] holds the KEK private half (PIN verified on a stored card) */
    uint8_t kek[32];
    bool mgmt_authenticated;   /* 9B authenticated since the last reset */
    uint8_t mgmt_state;        /* 0, 0x80 witness sent, 0x81 challenge sent */
    uint8_t mgmt_nonce[16];    /* the witness or challenge sent, one block */
    uint8_t mgmt_p1;
    /* command chaining (CLA bit 0x10): header of the chain and the data gathered so far */
    bool chaining;
    uint8_t chain_ins, chain_p1, chain_p2;
    struct buf chain;
    /* response not yet fetched with GET RESPONSE */
    struct buf out;
    size_t out_pos;
};

/* Growable byte buffer whose old copies are wiped (may hold PINs and shared secrets). */
void piv_buf_wipe(struct buf *b);
int piv_buf_put(struct buf *b, const void *data, size_t n);
/* BER-TLV header: tag of 1–3 bytes, definite length of 1–3 bytes (ISO 7816-4 §5.2). */
int piv_buf_put_header(struct buf *b, uint32_t tag, size_t len);
int piv_buf_put_tlv(struct buf *b, uint32_t tag, const void *value, size_t len);
/* Read one BER-TLV from [*p, *p + *left); advances. -EINVAL when it does not fit. */
int piv_tlv_next(const uint8_t **p, size_t *left, uint32_t *ret_tag, const uint8_t **ret_value, size_t *ret_len);
/* Take / release the auth lock around PIN, PUK and counter changes. */
uint16_t piv_auth_begin(struct piv_applet *a);
void piv_auth_end(struct piv_applet *a);
int piv_auth_save(struct piv_applet *a);
/* Persist parts of the card (VC_SAVE_*); 0 without hooks. */
int piv_card_save(struct piv_applet *a, unsigned what);
/* Forget the PIN verification and the KEK (keys sealed at rest leave memory). */
void piv_pin_forget(struct piv_applet *a);
/* GET DATA tag of a slot's certificate container. */
uint32_t piv_cert_tag(enum vc_slot slot);

/* piv-admin.c */
uint16_t piv_cmd_mgmt_auth(struct piv_applet *a, const struct apdu *c, struct buf *out);
uint16_t piv_cmd_generate(struct piv_applet *a, const struct apdu *c, struct buf *out);
uint16_t piv_cmd_put_data(struct piv_applet *a, const struct apdu *c);
uint16_t piv_cmd_yubico(struct piv_applet *a, const struct apdu *c, struct buf *out);
