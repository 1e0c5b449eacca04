/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PIN change of pam_sm_chauthtok: the PIN of the card of this user (PIV slot 9A
 * certificate mapping to the PAM user) is changed on the card itself; every other case is
 * left to the password modules of the stack.
 */
#pragma once

struct pamsc_args;
struct pamsc_reader_ops;

/* pam_set_data() key: set by the PAM_PRELIM_CHECK pass when the card is this user's */
#define PAMSC_DATA_CHAUTHTOK "pam_scard.chauthtok" /* char *: reader name */

/**
 * One pass of pam_sm_chauthtok. The card is only looked for, never waited for (no
 * "Insert your smart card" for users who change a password).
 * PAM_PRELIM_CHECK: a card must be present, hold a 9A certificate mapping to the user and not
 * be blocked. PAM_UPDATE_AUTHTOK (only after a PRELIM pass that found the card): asks
 * "Current PIN", "New PIN", "Repeat new PIN" (echo off), checks the new PIN (6 to 8 digits,
 * FIPS 201 / SP 800-73-4 Part 1 §2.4.3) and changes it on the card (C_SetPIN → PIV CHANGE
 * REFERENCE DATA). PAM_OLDAUTHTOK and PAM_AUTHTOK are neither read nor set: the PINs never
 * reach other modules. Every PIN copy is wiped.
 * @param[in] rops   reader back-end (pamsc_pcsc_reader_ops outside tests)
 * @param[in] flags  the pam_sm_chauthtok flags (PAM_PRELIM_CHECK, PAM_UPDATE_AUTHTOK,
 *                   PAM_CHANGE_EXPIRED_AUTHTOK)
 * @return 0; 1 not ours (no card, not this user's card, only expired tokens asked for);
 *         -EACCES wrong current PIN; -EKEYREVOKED PIN blocked; -EINVAL the two new PINs
 *         differ; -ERANGE new PIN refused (policy); -ENODEV card gone or changed between the
 *         passes; -EBADMSG conversation failed; -ENOMEM; -EIO. The user has been told why.
 *         Map with pamsc_chauthtok_pam_code().
 */
int pamsc_chauthtok(const struct pamsc_args *args, const struct pamsc_reader_ops *rops, int flags);

/**
 * The PAM code of pamsc_chauthtok()'s result (pam_sm_chauthtok(3) codes).
 * @return PAM_SUCCESS 0; PAM_IGNORE 1; PAM_AUTHTOK_RECOVERY_ERR -EACCES, -EKEYREVOKED (the
 *         current PIN could not be used); PAM_CONV_ERR -EBADMSG; PAM_BUF_ERR -ENOMEM;
 *         PAM_AUTHTOK_ERR otherwise (new PINs differ, new PIN refused, card gone, card error)
 */
int pamsc_chauthtok_pam_code(int err);
