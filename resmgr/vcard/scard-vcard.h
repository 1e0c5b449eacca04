/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared between scard-vcard's two files: scard-vcard.c (options, store-level commands:
 * import, insert/eject, list, destroy, reader-conf) and scard-vcard-card.c (commands that
 * drive the card's own PIV commands in-process: create, generate, csr, PIN/PUK, mgmt, reset).
 */
#pragma once

#include <stdbool.h>

#include <openssl/x509.h>

#include "common/log.h"
#include "resmgr/vcard/store.h"

/* Log a message that needs no strerror() (bad input, missing card) and return r. */
#define fail(r, ...) (log_error(__VA_ARGS__), (r))

struct args {
    unsigned seen;
    const char *store, *alg, *pin_file, *puk_file, *slot, *subject, *out, *cert, *friendly, *libpath;
    const char *mgmt_file, *new_mgmt_file, *key, *mgmt_alg, *new_pin_file, *pinpad;
    bool random;
    const char *name;
    const char *root; /* resolved store root */
};

int vcli_load_card(const struct args *a, char **ret_dir, struct vc_card **ret_card);
int vcli_parse_slot(const struct args *a, enum vc_slot *ret_slot);
char *vcli_cert_subject(X509 *x);

int vcli_create(const struct args *a);
int vcli_generate(const struct args *a);
int vcli_csr(const struct args *a);
int vcli_change_pin(const struct args *a);
int vcli_change_puk(const struct args *a);
int vcli_unblock(const struct args *a);
int vcli_set_mgmt_key(const struct args *a);
int vcli_reset(const struct args *a);
