/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The reader side of pam_scard, behind an ops struct so that tests (and later a
 * card-choice UI) can stand in: wait for a card through PC/SC, ask a PIV card how
 * many PIN tries are left, and log it out again.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct pamsc_args;
struct pamsc_reader;

struct pamsc_reader_ops {
    /**
     * Wait until a reader holds a card; say "Insert your smart card…" once when none is there.
     * Every reader holding a usable card at that moment is then in the set (->names()).
     * @param[in]  wait_usec   how long to wait (microseconds); 0 = only look
     * @param[out] ret_reader  new reader set, free with ->close(); untouched on failure
     * @return 0; -ECONNREFUSED resource manager not running; -ETIMEDOUT no card in time;
     *         -ENOMEM; -EIO other PC/SC failure (all logged)
     */
    int (*wait_card)(const struct pamsc_args *args, uint64_t wait_usec,
                     struct pamsc_reader **ret_reader);
    /** Names of the readers holding a card (≥ 1, *ret_n of them), owned by @p reader. */
    const char *const *(*names)(const struct pamsc_reader *reader, size_t *ret_n);
    /**
     * Number of PIN tries left on the card in reader @p name, without using one.
     * @return ≥0 tries (0 = blocked); -EALREADY the PIN is verified; -EOPNOTSUPP the card
     *         cannot tell; -ENOMEDIUM card removed; -EIO
     */
    int (*pin_tries_left)(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name);
    /**
     * Log the card in reader @p name out: reset the security status of its PIN, so that a
     * PIN verified by PKINIT does not leave the card open. NULL when the reader cannot; then
     * pam_scard verifies the PIN itself through PKCS#11 and logs out there.
     * @return 0; -EOPNOTSUPP the card refused; -ENOMEDIUM card removed; -EIO (logged)
     */
    int (*logout)(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name);
    /**
     * The card-event count of reader @p name: it changes whenever a card is removed or
     * inserted there (PC/SC: the upper 16 bits of SCARD_READERSTATE.dwEventState, as pcsc-lite
     * and scardd count). NULL when the reader cannot tell.
     * @return ≥0 the count; -ENOMEDIUM no card in the reader now; -ECONNREFUSED; -EIO (logged)
     */
    int (*card_events)(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name);
    /** Release the reader set and its resource-manager context (NULL allowed). */
    void (*close)(struct pamsc_reader *reader);
};

/** The real thing: PC/SC (winscard API) through the project's libscard. */
extern const struct pamsc_reader_ops pamsc_pcsc_reader_ops;

/**
 * Interpret the status word of a PIV VERIFY without data (NIST SP 800-73-4 Part 2 §3.2.1).
 * @param[in] sw  SW1SW2, e.g. 0x63C2
 * @return tries left: 0x63Cx → x; 0x6983 → 0 (blocked); 0x9000 → -EALREADY (already
 *         verified); anything else -EOPNOTSUPP
 */
int pamsc_piv_tries_from_sw(uint16_t sw);
