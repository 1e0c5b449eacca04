/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The virtual card store: one directory per card under a store root, every file written
 * atomically (temp + fsync + rename + fsync of the directory). Layout (all 0600, dir 0700):
 *   card.conf      [card] format, algorithm, guid              (written once, at create)
 *   auth.conf      [pin]/[puk] hash, tries-left, tries-max     (rewritten by VERIFY etc.)
 *   key-9a.pem     PKCS#8 private key, cleartext for now       (see the comment in store.c)
 *   cert-9a.der    X.509 certificate, DER
 *   ejected        present while the card is "out of the reader"
 *   lock           flock(2) target serialising PIN/PUK updates across processes
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "resmgr/vcard/card.h"

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
 * Create a card directory from @p card (keys, certificates, auth, GUID, algorithm) all at
 * once: it is assembled in a hidden temporary directory and renamed into place, so a
 * failure leaves nothing behind. Creates the root (0700) when missing.
 * @return 0; -EEXIST a card of that name exists; -EINVAL bad name; -errno from the file system;
 *         -EIO OpenSSL could not encode a key
 */
int vc_store_create(const char *root, const char *name, const struct vc_card *card);

/**
 * Load a whole card from its directory.
 * @param[in]  dir       card directory
 * @param[out] ret_card  new card, free with vc_card_free(); untouched on failure
 * @return 0; -ENOENT not a card directory; -EINVAL corrupt file (format, key, certificate);
 *         -EACCES; -ENOMEM; -EIO
 */
int vc_store_load(const char *dir, struct vc_card **ret_card);

/** Read auth.conf into @p ret_auth. 0; -ENOENT; -EINVAL corrupt; -EIO. */
int vc_store_load_auth(const char *dir, struct vc_auth *ret_auth);

/** Atomically replace auth.conf (fsync'd before return). 0 or -errno. */
int vc_store_save_auth(const char *dir, const struct vc_auth *auth);

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
 * Destroy a card: the directory is first renamed out of sight, the key files are
 * overwritten with zeros and fsync'd, then everything is removed. Overwriting is
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
