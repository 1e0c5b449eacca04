/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the two halves of the card store: store.c (root, atomic files, create,
 * lock, presence, destroy) and store-card.c (the card's contents and its retry counters).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "resmgr/vcard/store.h"

#define VC_CARD_FORMAT 2 /* 1 = cleartext PKCS#8 keys (refused), 2 = keys sealed (keywrap.h) */

int vc_store_fsync_dir(const char *dir);
int vc_store_read_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);
/* "<root of dir>/.counters/<guid hex>" */
int vc_store_counter_path(const char *dir, const uint8_t guid[VC_GUID_LEN], char **ret_path);
/* Write every file of @p card into the (new, empty) directory @p dir, counters included. */
int vc_store_populate(const char *dir, const char *counter_dir_of, const struct vc_card *card);
