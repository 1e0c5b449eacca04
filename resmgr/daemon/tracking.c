/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SCardGetStatusChange, evaluated in the daemon: the caller's view (dwCurrentState)
 * is compared with the readers' state; the request waits (timerfd for the timeout)
 * until a card or reader change, a timeout or SCardCancel. Upper 16 bits carry the
 * reader's insert/remove counter; \\?PnP?\Notification carries the number of readers
 * (as pcsc-lite) and is CHANGED when a reader came or went during the wait, or when the
 * caller's count (upper 16 bits, 0 = none yet) differs. A defective reader is UNAVAILABLE.
 * Source: PC/SC Part 5 §3.1.3 (SCardGetStatusChange); windows.md §1.7; pcsc-lite.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/log.h"
#include "resmgr/daemon/scardd.h"

#define PNP_READER "\\\\?PnP?\\Notification"
#define COMPARED_BITS                                                                              \
    (SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE | SCARD_STATE_EMPTY | SCARD_STATE_PRESENT |     \
     SCARD_STATE_EXCLUSIVE | SCARD_STATE_INUSE | SCARD_STATE_MUTE)

static struct rm_reader *
reader_by_name(struct rm_manager *m, const char *name)
{
    struct rm_reader *rd;
    LIST_FOREACH(rd, &m->readers, link)
        if (strcmp(rd->name, name) == 0)
            return rd;
    return NULL;
}

static uint32_t
reader_state(const struct rm_reader *rd)
{
    uint32_t s = (uint32_t)rd->events << 16;

    if (rd->defective) /* pcsc-lite: a reader whose driver fails is UNAVAILABLE */
        return s | SCARD_STATE_UNAVAILABLE;
    if (!rd->present)
        return s | SCARD_STATE_EMPTY;
    s |= SCARD_STATE_PRESENT;
    if (rd->mute)
        s |= SCARD_STATE_MUTE;
    if (rd->exclusive)
        s |= SCARD_STATE_EXCLUSIVE;
    else if (rd->n_handles > 0)
        s |= SCARD_STATE_INUSE;
    return s;
}

/* Fill event_state/ATR of every entry; true when any entry has CHANGED. @p since_gen is
 * m->readers_gen when the wait began. */
static bool
evaluate(struct rm_manager *m, struct rm_wire_rstate *st, uint32_t count, uint16_t since_gen)
{
    bool any = false;

    for (uint32_t i = 0; i < count; i++) {
        uint32_t cur = st[i].current_state, ev;
        bool changed;
        struct rm_reader *rd;

        st[i].atr_len = 0;
        if (strcmp(st[i].reader, PNP_READER) == 0) {
            ev = (uint32_t)(m->n_readers & 0xffffu) << 16;
            changed = m->readers_gen != since_gen ||
                      ((cur >> 16) != 0 && (cur >> 16) != (ev >> 16));
        } else if (cur & SCARD_STATE_IGNORE) {
            ev = SCARD_STATE_IGNORE;
            changed = false;
        } else if (!(rd = reader_by_name(m, st[i].reader))) {
            ev = SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE;
            changed = !(cur & SCARD_STATE_UNKNOWN);
        } else {
            ev = reader_state(rd);
            changed = cur == SCARD_STATE_UNAWARE || (cur & COMPARED_BITS) != (ev & COMPARED_BITS) ||
                      ((cur >> 16) != 0 && (cur >> 16) != (ev >> 16));
            if (rd->present) {
                st[i].atr_len = (uint32_t)rd->atr_len;
                memcpy(st[i].atr, rd->atr, rd->atr_len);
            }
        }
        st[i].event_state = ev | (changed ? SCARD_STATE_CHANGED : 0);
        any = any || changed;
    }
    return any;
}

static void
finish(struct rm_client *c, int status)
{
    struct rm_wire_count cnt = {.count = c->gsc_count};
    struct itimerspec off = {{0, 0}, {0, 0}};

    if (c->timer.fd >= 0)
        (void)timerfd_settime(c->timer.fd, 0, &off, NULL);
    c->gsc_waiting = false;
    (void)evaluate(c->m, c->gsc_states, c->gsc_count, c->gsc_readers_gen);
    rm_client_reply(c, RM_CMD_GET_STATUS_CHANGE, c->gsc_seq, status, &cnt, sizeof(cnt),
                    c->gsc_states, c->gsc_count * sizeof(*c->gsc_states));
    free(c->gsc_states);
    c->gsc_states = NULL;
    c->gsc_count = 0;
}

static void
on_timer(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct rm_client *c = (struct rm_client *)((char *)s - offsetof(struct rm_client, timer));
    uint64_t v;

    (void)m;
    (void)events;
    (void)!read(s->fd, &v, sizeof(v));
    if (c->gsc_waiting && !c->dead)
        finish(c, -ETIMEDOUT);
}

static int
arm_timer(struct rm_client *c, uint32_t timeout_ms)
{
    struct itimerspec its = {.it_value = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000}};
    int r;

    if (c->timer.fd < 0) {
        c->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (c->timer.fd < 0)
            return -errno;
        c->timer.cb = on_timer;
        r = rm_source_add(c->m, &c->timer, EPOLLIN);
        if (r < 0)
            return r;
    }
    return timerfd_settime(c->timer.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void
rm_gsc_start(struct rm_client *c, uint32_t seq, const struct rm_wire_gsc_req *req,
             const struct rm_wire_rstate *states)
{
    size_t size = (size_t)req->count * sizeof(*states);
    int r;

    c->gsc_states = malloc(size ? size : 1);
    if (!c->gsc_states) {
        rm_client_reply(c, RM_CMD_GET_STATUS_CHANGE, seq, -ENOMEM, NULL, 0, NULL, 0);
        return;
    }
    if (size)
        memcpy(c->gsc_states, states, size);
    c->gsc_count = req->count;
    c->gsc_seq = seq;
    c->gsc_waiting = true;
    c->gsc_readers_gen = c->m->readers_gen;
    if (evaluate(c->m, c->gsc_states, c->gsc_count, c->gsc_readers_gen)) {
        finish(c, 0);
        return;
    }
    if (req->timeout_ms == 0) {
        finish(c, -ETIMEDOUT);
        return;
    }
    if (req->timeout_ms != 0xffffffffu) {
        r = arm_timer(c, req->timeout_ms);
        if (r < 0) {
            finish(c, r);
            return;
        }
    }
    c->busy = true; /* the reply comes later */
}

void
rm_gsc_cancel(struct rm_client *c)
{
    if (c->gsc_waiting)
        finish(c, -ECANCELED);
}

void
rm_gsc_wake(struct rm_manager *m)
{
    struct rm_client *c;

    rm_readers_reap(m); /* removed readers whose last handle went this turn */
    LIST_FOREACH(c, &m->clients, link) {
        if (!c->gsc_waiting || c->dead)
            continue;
        if (evaluate(m, c->gsc_states, c->gsc_count, c->gsc_readers_gen))
            finish(c, 0);
    }
}

void
rm_gsc_drop(struct rm_client *c)
{
    c->gsc_waiting = false;
    free(c->gsc_states);
    c->gsc_states = NULL;
    c->gsc_count = 0;
}
