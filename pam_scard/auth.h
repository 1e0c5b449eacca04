/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_sm_authenticate behind the entry point: card → PIN → PKINIT, and what it leaves
 * for setcred/open_session in the PAM handle (pam_set_data keys below).
 */
#pragma once

struct pamsc_args;
struct pamsc_reader_ops;

/* pam_set_data() keys shared by auth.c and session.c */
#define PAMSC_DATA_TGT "pam_scard.tgt"       /* struct pamsc_tgt *, freed by the handle */
#define PAMSC_DATA_TOKEN "pam_scard.token"   /* char *: token label */
#define PAMSC_DATA_READER "pam_scard.reader" /* char *: PC/SC reader name */
#define PAMSC_DATA_CCACHE "pam_scard.ccache" /* char *: the user's ccache name, once written */

/**
 * Authenticate the PAM user with the smart card.
 * @param[in] rops  reader back-end (pamsc_pcsc_reader_ops outside tests)
 * @return 0; -ECONNREFUSED resource manager down; -ETIMEDOUT no card in time;
 *         -ENODEV/-ENOKEY no token / no sign-in certificate; -EACCES wrong PIN or PKINIT
 *         refused; -EKEYREVOKED PIN blocked; -EHOSTUNREACH KDC unreachable; -ENOENT
 *         principal unknown; -EBADMSG conversation failed; -ENOMEM; others for setup errors.
 *         The user has been told why; the log has the details. Map with pamsc_pam_code().
 * Source: flow of windows.md §2.6 steps 2–9 with Kerberos PKINIT (RFC 4556) via MIT krb5.
 */
int pamsc_authenticate(const struct pamsc_args *args, const struct pamsc_reader_ops *rops);

/** True when pam_sm_authenticate of this module succeeded in this PAM handle. */
int pamsc_authenticated(const struct pamsc_args *args);
