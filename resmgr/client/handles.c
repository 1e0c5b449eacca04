/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The process-wide map from SCARDCONTEXT / SCARDHANDLE values to connections.
 * This table and its mutex are the only shared mutable state of libscard: the PC/SC
 * API hands out integers, so something must turn them back into objects safely
 * (an unknown or released value gives SCARD_E_INVALID_HANDLE, never a crash).
 * After fork() the child refuses the parent's handles and closes its copies of their
 * sockets, so that it can neither talk on the parent's connections nor keep them open.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resmgr/client/client.h"

struct entry {
    long id;
    bool card;
    uint32_t server_handle;
    struct rmc_ctx *ctx;   /* one reference per entry */
    struct rmc_chan *chan; /* cards: the data channel, one reference */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries;
static size_t n_entries, n_alloc;

static struct entry *
find(long id, bool card)
{
    for (size_t i = 0; i < n_entries; i++)
        if (entries[i].id == id && entries[i].card == card)
            return &entries[i];
    return NULL;
}

static void
reg_atfork_prepare(void)
{
    pthread_mutex_lock(&reg_lock);
}

static void
reg_atfork_parent(void)
{
    pthread_mutex_unlock(&reg_lock);
}

/* In the child (one thread): every context is the parent's. Close our copies of their
 * sockets (close() only, never shutdown(), which would cut the parent's connection too). */
static void
reg_atfork_child(void)
{
    for (size_t i = 0; i < n_entries; i++) {
        struct rmc_ctx *ctx = entries[i].ctx;
        struct rmc_chan *ch = entries[i].chan;
        if (ctx->fd >= 0 && ctx->pid != getpid()) {
            (void)close(ctx->fd);
            ctx->fd = -1;
        }
        if (ch && ch->fd >= 0 && ch->pid != getpid()) {
            (void)close(ch->fd);
            ch->fd = -1;
            atomic_store(&ch->broken, true);
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

__attribute__((constructor)) static void
reg_init(void)
{
    (void)pthread_atfork(reg_atfork_prepare, reg_atfork_parent, reg_atfork_child);
}

static long
new_id(void)
{
    for (;;) {
        uint32_t v = 0;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
            v = (uint32_t)random();
        long id = (long)(v & 0x7fffffffu);
        bool used = false;
        for (size_t i = 0; i < n_entries && !used; i++)
            used = entries[i].id == id;
        if (id != 0 && !used)
            return id;
    }
}

int
rmc_handle_add(struct rmc_ctx *ctx, bool card, uint32_t server_handle, struct rmc_chan *chan,
               long *ret_id)
{
    int r = 0;

    pthread_mutex_lock(&reg_lock);
    if (n_entries == n_alloc) {
        size_t n = n_alloc ? n_alloc * 2 : 16;
        struct entry *e = realloc(entries, n * sizeof(*e));
        if (!e) {
            r = -ENOMEM;
            goto out;
        }
        entries = e;
        n_alloc = n;
    }
    atomic_fetch_add(&ctx->refs, 1);
    entries[n_entries] = (struct entry){new_id(), card, server_handle, ctx, chan};
    chan = NULL;
    *ret_id = entries[n_entries++].id;
out:
    pthread_mutex_unlock(&reg_lock);
    rmc_chan_unref(chan); /* only on failure */
    return r;
}

int
rmc_handle_get(long id, bool card, struct rmc_ctx **ret_ctx, uint32_t *ret_server_handle,
               struct rmc_chan **ret_chan)
{
    struct entry *e;
    int r = -EBADF;

    pthread_mutex_lock(&reg_lock);
    e = find(id, card);
    if (e && e->ctx->pid != getpid())
        e = NULL; /* created before fork(): the parent's, refused here */
    if (e) {
        atomic_fetch_add(&e->ctx->refs, 1);
        *ret_ctx = e->ctx;
        if (ret_server_handle)
            *ret_server_handle = e->server_handle;
        if (ret_chan) {
            *ret_chan = e->chan;
            if (e->chan)
                atomic_fetch_add(&e->chan->refs, 1);
        }
        r = 0;
    }
    pthread_mutex_unlock(&reg_lock);
    return r;
}

/* Remove entry i; returns its context reference (and data channel) for the caller to drop
 * outside the lock. The data channel is shut down, so that a call blocked on it in another
 * thread returns. */
static struct rmc_ctx *
take(size_t i, struct rmc_chan **ret_chan)
{
    struct rmc_ctx *ctx = entries[i].ctx;
    *ret_chan = entries[i].chan;
    entries[i] = entries[--n_entries];
    return ctx;
}

int
rmc_handle_remove_card(long id)
{
    struct rmc_ctx *ctx = NULL;
    struct rmc_chan *ch = NULL;

    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < n_entries; i++)
        if (entries[i].id == id && entries[i].card) {
            ctx = take(i, &ch);
            break;
        }
    pthread_mutex_unlock(&reg_lock);
    if (!ctx)
        return -EBADF;
    rmc_chan_unref(ch);
    rmc_ctx_unref(ctx);
    return 0;
}

int
rmc_handle_remove_context(long id)
{
    struct rmc_ctx *ctx, **drop = NULL;
    struct rmc_chan **drop_ch = NULL;
    size_t n_drop = 0;
    struct entry *e;

    pthread_mutex_lock(&reg_lock);
    e = find(id, false);
    if (!e || e->ctx->pid != getpid()) {
        pthread_mutex_unlock(&reg_lock);
        return -EBADF;
    }
    ctx = e->ctx;
    drop = calloc(n_entries, sizeof(*drop));
    drop_ch = calloc(n_entries, sizeof(*drop_ch));
    for (size_t i = 0; i < n_entries;) {
        if (entries[i].ctx != ctx) {
            i++;
            continue;
        }
        struct rmc_chan *ch;
        struct rmc_ctx *c = take(i, &ch);
        if (ch) /* wake a call blocked on the card in another thread */
            (void)shutdown(ch->fd, SHUT_RDWR);
        if (drop && drop_ch) {
            drop_ch[n_drop] = ch;
            drop[n_drop++] = c;
        } else {
            atomic_fetch_sub(&c->refs, 1); /* never the last: the caller holds one */
            rmc_chan_unref(ch);            /* under the lock, but it only closes an fd */
        }
    }
    pthread_mutex_unlock(&reg_lock);
    /* Wake a call blocked in another thread (e.g. SCardGetStatusChange(INFINITE)). */
    (void)shutdown(ctx->fd, SHUT_RDWR);
    for (size_t i = 0; i < n_drop; i++) {
        rmc_chan_unref(drop_ch[i]);
        rmc_ctx_unref(drop[i]);
    }
    free(drop);
    free(drop_ch);
    return 0;
}
