/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of libscard shared by its files: one connection per SCARDCONTEXT
 * (conn.c), the process-wide handle registry (handles.c) and the conversion of
 * wire status (-errno) into SCARD_* codes (errors.c). Nothing here is exported.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <winscard.h>

#include "common/log.h"
#include "resmgr/proto/wire.h"

/* Marks the PC/SC entry points; everything else is hidden (and the version script agrees). */
#define EXPORT __attribute__((visibility("default")))

/* Status for "the daemon went away / never answered": becomes SCARD_E_NO_SERVICE. */
#define RMC_E_GONE (-ESHUTDOWN)

/** One SCARDCONTEXT: a connection to scardd. Reference counted; see handles.c. */
struct rmc_ctx {
    int fd;
    pthread_mutex_t io_lock;   /* one request/reply exchange at a time */
    pthread_mutex_t send_lock; /* serialises writes; SCardCancel takes only this one */
    atomic_uint refs;
    uint32_t seq;              /* under io_lock */
    bool broken;               /* under io_lock: transport failed, every call fails */
    struct sc_logger log;      /* quiet unless $SCARD_DEBUG */
};

/** A reply, owning its buffer; msg points into buf. */
struct rmc_reply {
    struct rm_wire_msg msg;
    void *buf;
};

/**
 * Connect to scardd, do the version handshake and ESTABLISH.
 * Socket: $SCARD_SOCKET, else [resmgr] socket of the configuration, else SC_DEFAULT_SOCKET.
 * @param[in]  scope  SCARD_SCOPE_*
 * @param[out] ret    new context with one reference; free with rmc_ctx_unref()
 * @return 0; RMC_E_GONE no daemon listening; -EPROTO version mismatch; -ENOMEM; other -errno
 */
int rmc_ctx_new(uint32_t scope, struct rmc_ctx **ret);
void rmc_ctx_unref(struct rmc_ctx *ctx);

/**
 * Send a request and wait for its reply (the GET_STATUS_CHANGE wait happens in the daemon).
 * @param[out] ret  reply, free with rmc_reply_done() whatever the result; msg.fixed may be
 *                  NULL when the status is negative
 * @return the reply status (0 or the daemon's -errno); RMC_E_GONE transport failure;
 *         -EPROTO malformed reply
 */
int rmc_call(struct rmc_ctx *ctx, uint16_t cmd, const void *fixed, size_t fixed_len,
             const void *tail, size_t tail_len, struct rmc_reply *ret);
void rmc_reply_done(struct rmc_reply *r);

/** Send the one-way CANCEL (does not wait for io_lock). @return 0; RMC_E_GONE */
int rmc_cancel(struct rmc_ctx *ctx);

/* handles.c: SCARDCONTEXT / SCARDHANDLE values ↔ objects. */

/**
 * Register a context or card handle; the registry takes its own reference on @p ctx.
 * @param[in]  server_handle  daemon's card handle (cards only)
 * @param[out] ret_id         new nonzero positive value, unique in this process
 * @return 0; -ENOMEM
 */
int rmc_handle_add(struct rmc_ctx *ctx, bool card, uint32_t server_handle, long *ret_id);

/**
 * Look up a handle. @param[out] ret_ctx referenced context (rmc_ctx_unref() it)
 * @return 0; -EBADF unknown id
 */
int rmc_handle_get(long id, bool card, struct rmc_ctx **ret_ctx, uint32_t *ret_server_handle);

/** Forget a card handle. @return 0; -EBADF */
int rmc_handle_remove_card(long id);

/**
 * Forget a context and all its card handles, and shut its socket down so that a call
 * blocked in another thread returns. @return 0; -EBADF
 */
int rmc_handle_remove_context(long id);

/* errors.c */

/** Convert a status from rmc_call() into SCARD_*. */
LONG rmc_to_scard(int status);
