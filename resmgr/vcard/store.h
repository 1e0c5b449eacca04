/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The virtual card store: one directory per card under a store root, every file written
 * atomically (temp + fsync + rename + fsync of the directory). Layout (all 0600, dirs 0700):
 *   .store-key            32 random bytes: seals 9E keys and management keys (machine secret)
 *   .counters/<GUID>      [counters] pin-left, puk-left — outside the card directory, so a
 *                         copied-back card cannot roll them back; missing = blocked
 *   <name>/card.conf      [card] format 2, algorithm, guid, kek-public, pin-min, pin-max
 *   <name>/auth.conf      [pin]/[puk] wrap (KEK private half under scrypt(PIN/PUK)), tries-max
 *   <name>/key-9a.sealed  private key sealed to the KEK (9e: under .store-key), never clear
 *   <name>/pub-9a.der     its public key (SubjectPublicKeyInfo)
 *   <name>/cert-9a.der    X.509 certificate, DER
 *   <name>/obj-5fc102.bin other PUT DATA objects (value of the 53 wrapper)
 *   <name>/mgmt.sealed    management key (alg ‖ key) under .store-key; absent = default 3DES
 *   <name>/ejected        present while the card is "out of the reader"
 *   <name>/lock           flock(2) target serialising updates across processes
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "resmgr/vcard/card.h"
#include "resmgr/vcard/piv.h"

#define VC_STORE_DEFAULT "/var/lib/scard/vcards"
#define VC_NAME_MAX 64

/**
 * Resolve the store root: @p option, else $SCARD_VCARD_STORE, else "[vcard] store" of the
 * configuration file (common/config.h: $SCARD_CONF or /etc/scard/scard.conf), else
 * VC_STORE_DEFAULT.
 * @param[in]  option    value of --store, may be NULL
 * @param[out] ret_root  malloc'd path, free(); untouched on failure
 * @return 0; -EINVAL/-ENOENT/-EIO configuration errors (logged with file:line); -ENOMEM
 */
int vc_store_root(const char *option, char **ret_root);

/** True for a usable card name: 1–64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool vc_store_name_valid(const char *name);

/**
 * Path of a card's directory (existing or not).
 * @param[out] ret_dir  malloc'd "<root>/<name>", free()
 * @return 0; -EINVAL bad name; -ENOMEM
 */
int vc_store_card_dir(const char *root, const char *name, char **ret_dir);

/**
 * Create the store root (0700) if needed and load (or create, once) its store key into
 * @p card (has_store_key), so that 9E keys and the management key can be sealed.
 * @return 0; -errno from the file system; -EIO
 */
int vc_store_prepare(const char *root, struct vc_card *card);

/**
 * Create a card directory from @p card (sealed keys, certificates, wraps, GUID, algorithm,
 * objects, management key) all at once: it is assembled in a hidden temporary directory and
 * renamed into place, so a failure leaves nothing behind; the counter record is written too.
 * @return 0; -EEXIST a card of that name exists; -EINVAL bad name or card without a KEK
 *         (vc_card_provision() first); -errno from the file system; -EIO
 */
int vc_store_create(const char *root, const char *name, const struct vc_card *card);

/**
 * Load a whole card from its directory: public keys and sealed private keys (9A/9C/9D stay
 * sealed until VERIFY; 9E and the management key are opened when the store key is readable),
 * certificates, objects, wraps, and the tries left from the counter record.
 * @param[in]  dir       card directory
 * @param[out] ret_card  new card, free with vc_card_free(); untouched on failure
 * @return 0; -ENOENT not a card directory; -EPROTONOSUPPORT a format-1 card with cleartext keys
 *         (re-create it); -EINVAL corrupt file; -EACCES a sealed blob does not open; -ENOMEM; -EIO
 */
int vc_store_load(const char *dir, struct vc_card **ret_card);

/**
 * Read the wraps (auth.conf) and the tries left ("<root>/.counters/<GUID>") into @p ret_auth.
 * A missing counter record reads as 0 tries left for PIN and PUK (blocked).
 * @return 0; -ENOENT no auth.conf; -EINVAL corrupt; -EIO
 */
int vc_store_load_auth(const char *dir, const uint8_t guid[VC_GUID_LEN], struct vc_auth *ret_auth);

/** Atomically write the counter record, then auth.conf if the wraps changed. 0 or -errno. */
int vc_store_save_auth(const char *dir, const uint8_t guid[VC_GUID_LEN], const struct vc_auth *auth);

/** Write the parts of @p card named by @p what (VC_SAVE_*, piv.h), each file atomically. 0 or -errno. */
int vc_store_save(const char *dir, const struct vc_card *card, unsigned what);

/** Userdata of vc_store_piv_ops: the card directory, its GUID and the lock being held. */
struct vc_store_handle {
    const char *dir;
    uint8_t guid[VC_GUID_LEN];
    int lock_fd; /* -1 when not locked */
};

/** piv_ops that persist a card loaded with vc_store_load() (userdata: struct vc_store_handle). */
extern const struct piv_ops vc_store_piv_ops;

/**
 * Take the card's exclusive lock (flock on "<dir>/lock", blocking).
 * @param[out] ret_fd  descriptor holding the lock; close() it to release
 * @return 0 or -errno
 */
int vc_store_lock(const char *dir, int *ret_fd);

/** Atomically write (der != NULL) or remove (der == NULL) the certificate of @p slot. 0 or -errno. */
int vc_store_save_cert(const char *dir, enum vc_slot slot, const uint8_t *der, size_t len);

/** Mark the card ejected (creates "ejected") or inserted (removes it); durable. 0 or -errno. */
int vc_store_set_ejected(const char *dir, bool ejected);

/** 1 = card present (inserted); 0 = ejected; -ENOENT no card in @p dir; other -errno. */
int vc_store_present(const char *dir);

/**
 * Destroy a card: its counter record is removed, the directory renamed out of sight, the
 * sealed key files and wraps overwritten with zeros and fsync'd, then everything is removed. Overwriting is
 * best-effort on copy-on-write or journaling-data file systems.
 * @return 0; -ENOENT no such card; -EINVAL bad name; -errno
 */
int vc_store_destroy(const char *root, const char *name);

/**
 * Write a file atomically: "<dir>/.<name>.XXXXXX" is written, fsync'd, renamed over
 * "<dir>/<name>", and the directory fsync'd. On failure the temporary file is removed and
 * the old file is untouched.
 * @return 0 or -errno
 */
int vc_store_write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode);
