/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kerberos PKINIT (RFC 4556) with MIT libkrb5: the smart card's certificate and key,
 * named by a PKCS11: identity, get a TGT into a MEMORY ccache. The PIN goes to
 * libkrb5 only as the answer to PKINIT's hidden pre-authentication prompt, never through
 * the environment.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <krb5/krb5.h>

struct pamsc_args;

/** A TGT held in memory between pam_sm_authenticate and pam_sm_setcred. */
struct pamsc_tgt {
    krb5_context ctx;
    krb5_ccache cc;   /* MEMORY: ccache holding the client principal and the TGT */
    char *principal;  /* unparsed client principal, malloc'd */
};

/**
 * Build MIT's X509_user_identity for one certificate on one token.
 * @param[in]  module      PKCS#11 module path; must not contain ':' (MIT cannot escape it)
 * @param[in]  slot_id     PKCS#11 slot id (written in decimal, as MIT parses it)
 * @param[in]  cert_id     CKA_ID, @p id_len bytes (written in hex)
 * @param[out] ret_identity "PKCS11:module_name=M:slotid=N:certid=HEX", free with free()
 * @return 0; -EINVAL ':' in the module path or empty id; -ENOMEM
 * Source: MIT krb5 doc/admin/conf_files/krb5_conf.rst, "PKCS11:" identities.
 */
int pamsc_pkinit_identity(const char *module, unsigned long slot_id, const uint8_t *cert_id,
                          size_t id_len, char **ret_identity);

/*
 * Where PKINIT's PIN comes from: given in advance (@pin set), or asked when libkrb5's
 * "pkinit" responder question arrives (@ask), i.e. after the KDC asked for pre-authentication
 * and the PKCS#11 module found the certificate, as kinit asks it. The PIN is asked once per
 * request; later questions get the same answer.
 */
struct pamsc_pin_request {
    int (*ask)(void *userdata, char **ret_pin); /* 0 with a PIN (sc_secret_free()) or -errno */
    void *userdata;
    char *pin;     /* the PIN; set by ask() (then owned and wiped here) or by the caller */
    bool asked;    /* ask() was called */
    int ask_error; /* what ask() returned when it failed, else 0 */
};

/**
 * Get a TGT for @p user by PKINIT, then check it against the host keytab as the
 * verify_ticket option says (krb5_verify_init_creds with the keytab option or libkrb5's
 * default keytab; "require" sets ap_req_nofail, "if_keytab" accepts a missing keytab or one
 * without a host/ key, "no" skips).
 * @param[in]  user          principal or PAM user, parsed with krb5_parse_name (default realm
 *                           of krb5.conf; KRB5_CONFIG is honoured as libkrb5 does, i.e. not
 *                           when setuid)
 * @param[in]  identity      X509_user_identity from pamsc_pkinit_identity()
 * @param[in,out] pin        where the PIN comes from; the answer to PKINIT's PIN prompt only
 *                           (a prompter that refuses every other prompt). A PIN asked here is
 *                           wiped and freed before return.
 * @param[out] ret_tgt       new TGT, free with pamsc_tgt_free(); untouched on failure
 * @return 0; -EHOSTUNREACH/-ETIMEDOUT KDC unreachable; -ENOENT principal unknown to the KDC;
 *         -EACCES pre-authentication refused, or the TGT failed verify_ticket (a KDC that
 *         does not know the host key); -EINVAL malformed name or configuration (also an
 *         unknown verify_ticket word, or a keytab name libkrb5 cannot resolve); -ECANCELED
 *         ask() failed (its error in pin->ask_error); -ENOMEM; -EIO (all logged with
 *         libkrb5's message)
 * Source: RFC 4556; MIT krb5 krb5_init_creds_*(3), krb5_responder_pkinit_*(3).
 */
int pamsc_pkinit_get_tgt(const struct pamsc_args *args, const char *user, const char *identity,
                         struct pamsc_pin_request *pin, struct pamsc_tgt **ret_tgt);

/** Destroy the MEMORY ccache and free @p tgt (NULL allowed). */
void pamsc_tgt_free(struct pamsc_tgt *tgt);
