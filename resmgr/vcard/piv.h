/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PIV card application (NIST SP 800-73-4 Part 2) as a pure APDU processor: card
 * state plus command bytes in, response bytes plus status word out. Persistence of the
 * PIN/PUK counters goes through an ops struct, so tests drive it without any I/O.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "resmgr/vcard/card.h"

/** Smallest response buffer piv_applet_transmit() accepts: 256 data bytes + SW1 SW2. */
#define PIV_RESPONSE_MAX 258

/** PIV AID (SP 800-73-4 Part 1 §2.2): A0 00 00 03 08 00 00 10 00 01 00. */
extern const uint8_t piv_aid[11];

/**
 * Where the applet keeps the PIN/PUK state durably. Any member may be NULL (no
 * persistence: the counters then live only in memory, as in most unit tests).
 * Every call pair is auth_lock → [auth_save …] → auth_unlock, within one APDU.
 */
struct piv_ops {
    /** Take the card's lock and refresh @p auth from durable storage. 0 or -errno. */
    int (*auth_lock)(void *userdata, struct vc_auth *auth);
    /** Write @p auth durably (fsync'd) before the answer leaves the card. 0 or -errno. */
    int (*auth_save)(void *userdata, const struct vc_auth *auth);
    /** Release the lock taken by a successful auth_lock. */
    void (*auth_unlock)(void *userdata);
    /**
     * Store the parts of @p card named by @p what (VC_SAVE_*) durably, each atomically, after
     * GENERATE, PUT DATA, SET MANAGEMENT KEY or RESET (called outside auth_lock). 0 or -errno;
     * on failure the card answers 65 81 and the caller re-reads the card at next power-up.
     */
    int (*card_save)(void *userdata, const struct vc_card *card, unsigned what);
};

/* What piv_ops.card_save must write. */
#define VC_SAVE_KEY(slot) (1u << (slot))       /* sealed private key + public key of a slot */
#define VC_SAVE_CERT(slot) (1u << (4 + (slot))) /* certificate of a slot (removed when NULL) */
#define VC_SAVE_OBJECTS (1u << 8)              /* every other PUT DATA object */
#define VC_SAVE_MGMT (1u << 9)                 /* management key */
#define VC_SAVE_ALL 0x3ffu

struct piv_applet;

/**
 * Create the applet for a card (state after power-up: nothing selected, PIN not verified).
 * @param[in]  card      the card; borrowed, must outlive the applet; its auth member is
 *                       updated in place by VERIFY / CHANGE / RESET RETRY COUNTER
 * @param[in]  ops       persistence hooks, may be NULL; borrowed
 * @param[in]  userdata  passed to every hook
 * @param[out] ret_applet  free with piv_applet_free(); untouched on failure
 * @return 0; -EINVAL card NULL; -ENOMEM
 * Not thread-safe: one APDU at a time per applet.
 */
int piv_applet_new(struct vc_card *card, const struct piv_ops *ops, void *userdata,
                   struct piv_applet **ret_applet);

/** Free the applet and any buffered response/chain data (wiped). Accepts NULL. */
void piv_applet_free(struct piv_applet *applet);

/** Cold/warm reset: deselect, forget PIN verification, drop chained and pending data. */
void piv_applet_reset(struct piv_applet *applet);

/**
 * Process one short command APDU (ISO 7816-4 §5.1; CLA 00 or 10 for chaining).
 * @param[in]  cmd        command bytes CLA INS P1 P2 [Lc data] [Le]
 * @param[in]  cmd_len    bytes in @p cmd
 * @param[out] resp       response data followed by SW1 SW2
 * @param[in]  resp_size  size of @p resp, at least PIV_RESPONSE_MAX
 * @param[out] ret_len    bytes written to @p resp (≥ 2)
 * @return 0 (a malformed APDU is answered with an error status word, not an error);
 *         -EINVAL NULL argument; -ENOBUFS @p resp_size below PIV_RESPONSE_MAX
 * Answers longer than 256 bytes are split with 61 xx and GET RESPONSE (00 C0).
 * Source: SP 800-73-4 Part 2 §3 and OpenSC card-piv.c, see linux-anchors.md §4.
 */
int piv_applet_transmit(struct piv_applet *applet, const uint8_t *cmd, size_t cmd_len, uint8_t *resp,
                        size_t resp_size, size_t *ret_len);

/**
 * PBKDF2 cost of PIN/PUK hashes written by CHANGE / RESET for in-memory cards that use
 * hashes (default VC_PBKDF2_ITERATIONS). Cards with wrapped keys keep the scrypt cost
 * recorded in their wraps.
 */
void piv_applet_set_kdf_iterations(struct piv_applet *applet, unsigned iterations);

/** True while the card management key (9B) is authenticated (until reset). */
bool piv_applet_mgmt_authenticated(const struct piv_applet *applet);

/** True while the PIV PIN is verified (for tests and diagnostics). */
bool piv_applet_pin_verified(const struct piv_applet *applet);
