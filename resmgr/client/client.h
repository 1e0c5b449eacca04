/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of libscard shared by its files: one connection per SCARDCONTEXT
 * (conn.c), the process-wide handle registry (handles.c), output buffers and
 * SCARD_AUTOALLOCATE (buffers.c) and the conversion of wire status (-errno) into
 * SCARD_* codes (errors.c). Nothing here is exported.
 *
 * Threads: any call may come from any thread. Each context has its own locks (io_lock for
 * one exchange at a time, send_lock for writes so that SCardCancel never waits behind a
 * blocked SCardGetStatusChange); the two process-wide tables (handles, auto-allocated
 * blocks) have mutexes that are never held across I/O. Fork: a context belongs to the
 * process that created it; in a child every handle of it is refused (SCARD_E_INVALID_HANDLE)
 * and its sockets (context and data channels) closed in the child only, so the parent's
 * connections are untouched. Each card handle has its own data channel and lock, so calls
 * on different cards never wait for each other or for the context.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
    atomic_bool broken;        /* set under io_lock: transport failed, every call fails */
    pid_t pid;                 /* creator; any other process is refused (fork) */
    struct sc_logger log;      /* quiet unless $SCARD_DEBUG */
};

/** A card handle's data channel (SOCK_SEQPACKET to the reader's actor in scardd): the
 *  per-handle calls (rm_wire_cmd_on_data_channel()) go here. Reference counted. */
struct rmc_chan {
    int fd;
    pthread_mutex_t lock; /* one request/reply exchange at a time */
    atomic_uint refs;
    uint32_t seq;         /* under lock */
    atomic_bool broken;   /* the daemon dropped the handle or went away */
    pid_t pid;            /* creator (fork) */
};

/** A reply, owning its buffer; msg points into buf. */
struct rmc_reply {
    struct rm_wire_msg msg;
    void *buf;
    int fd; /* CONNECT: the data channel received with it (RM_WIRE_F_FD), else -1 */
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

/** Wrap the data channel @p fd (taken over, also on failure) of a new card handle.
 *  @return 0; -ENOMEM */
int rmc_chan_new(int fd, struct rmc_chan **ret);
void rmc_chan_unref(struct rmc_chan *ch);

/**
 * One request/reply exchange on a card handle's data channel.
 * @param[in]  reply_tail_max  largest reply tail expected (bytes), bounds the receive buffer
 * @param[out] ret  as rmc_call()
 * @return the reply status; RMC_E_GONE the channel is closed (handle dropped by the daemon,
 *         disconnected, or daemon gone); -EPROTO malformed reply (the channel is then broken)
 */
int rmc_chan_call(struct rmc_chan *ch, uint16_t cmd, const void *fixed, size_t fixed_len,
                  const void *tail, size_t tail_len, size_t reply_tail_max,
                  struct rmc_reply *ret);

/** Send the one-way CANCEL (does not wait for io_lock). @return 0; RMC_E_GONE */
int rmc_cancel(struct rmc_ctx *ctx);

/**
 * Is the connection still usable? Does not wait for io_lock and sends nothing: a broken
 * transport or a daemon that closed its end (exit, auto-exit) means no.
 * @return 0 usable; RMC_E_GONE
 */
int rmc_ctx_check(struct rmc_ctx *ctx);

/* handles.c: SCARDCONTEXT / SCARDHANDLE values ↔ objects. */

/**
 * Register a context or card handle; the registry takes its own reference on @p ctx and
 * takes over the caller's reference on @p chan (cards; NULL for contexts), also on failure.
 * @param[in]  server_handle  daemon's card handle (cards only)
 * @param[out] ret_id         new nonzero positive value, unique in this process
 * @return 0; -ENOMEM
 */
int rmc_handle_add(struct rmc_ctx *ctx, bool card, uint32_t server_handle, struct rmc_chan *chan,
                   long *ret_id);

/**
 * Look up a handle. @param[out] ret_ctx referenced context (rmc_ctx_unref() it)
 * @param[out] ret_chan  card handles: referenced data channel (rmc_chan_unref() it); may be
 *                       NULL when not wanted
 * @return 0; -EBADF unknown id, or a context created by another process (before fork())
 */
int rmc_handle_get(long id, bool card, struct rmc_ctx **ret_ctx, uint32_t *ret_server_handle,
                   struct rmc_chan **ret_chan);

/** Forget a card handle. @return 0; -EBADF */
int rmc_handle_remove_card(long id);

/**
 * Forget a context and all its card handles, and shut its socket down so that a call
 * blocked in another thread returns. @return 0; -EBADF
 */
int rmc_handle_remove_context(long id);

/* buffers.c: PC/SC output buffers. */

/**
 * Hand @p len bytes to the caller following the PC/SC output-buffer rules:
 * @p may_alloc and *pcb == SCARD_AUTOALLOCATE → *(void **)buf gets a malloc'd copy that
 * SCardFreeMemory (rmc_mem_free()) releases; buf == NULL → only the length;
 * *pcb too small → SCARD_E_INSUFFICIENT_BUFFER with *pcb = @p len.
 * @return SCARD_S_SUCCESS (*pcb = len); SCARD_E_INVALID_PARAMETER pcb NULL, or
 *         AUTOALLOCATE with buf NULL; SCARD_E_INSUFFICIENT_BUFFER; SCARD_E_NO_MEMORY
 */
LONG rmc_put_out(const void *data, size_t len, void *buf, LPDWORD pcb, bool may_alloc);

/** Take back what a successful rmc_put_out() gave (when a later output of the same call
 *  fails): frees an auto-allocated block and restores *pcb to @p saved_pcb. */
void rmc_put_out_undo(void *buf, LPDWORD pcb, DWORD saved_pcb);

/** Free a block handed out under SCARD_AUTOALLOCATE. @return 0 (also for NULL); -EINVAL
 *  @p p is not such a block (nothing is freed) */
int rmc_mem_free(const void *p);

/** Number of auto-allocated blocks not yet freed (tests). */
size_t rmc_mem_count(void);

/** Does the group multi-string @p groups (NULL or empty = all) select the readers? Every
 *  reader is in SCard$AllReaders, $DefaultReaders, $LocalReaders and $SystemReaders;
 *  unknown names are ignored (windows.md §1.8). */
bool rmc_groups_select_all(const char *groups);

/* errors.c */

/** Convert a status from rmc_call() into SCARD_*. */
LONG rmc_to_scard(int status);

