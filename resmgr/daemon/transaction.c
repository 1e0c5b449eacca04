/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transactions of scardd: requests from other handles wait in the reader's FIFO while a
 * transaction is held and are re-dispatched, in arrival order, the moment it ends — no
 * polling. A transaction with no call on its card for transaction_idle_timeout is ended
 * and the card reset (Windows 8+); one timerfd serves the deadlines of every reader.
 * Source: windows.md §1.5; linux-anchors.md §1A A8–A10.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "resmgr/daemon/scardd.h"

static uint64_t
now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Arm the timer for the absolute CLOCK_MONOTONIC time @p at_usec (0 = disarm). */
static void
timer_arm(struct rm_manager *m, uint64_t at_usec)
{
    struct itimerspec its = {.it_value = {(time_t)(at_usec / 1000000u),
                                          (long)(at_usec % 1000000u) * 1000}};

    if (m->tx_timer.fd < 0)
        return;
    if (timerfd_settime(m->tx_timer.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        log_warning_errno(-errno, "cannot set the transaction idle timer");
        return;
    }
    m->tx_armed_usec = at_usec;
}

/* The transaction of @p rd was idle too long: end it, reset the card, wake the waiters. */
static void
expire(struct rm_reader *rd)
{
    struct rm_handle *h = rd->tx_holder;

    log_notice("reader '%s': transaction of client %llu (pid %d) idle for more than %llu s, "
               "ending it and resetting the card", rd->name,
               (unsigned long long)h->client->id, (int)h->client->pid,
               (unsigned long long)(rd->m->conf.tx_idle_usec / 1000000u));
    rd->tx_holder = NULL;
    rd->tx_deadline_usec = 0;
    (void)rm_dispatch_reset_card(h); /* the holder's next call gets SCARD_W_RESET_CARD */
    rd->m->state_changed = true;
    rm_tx_release(rd);
}

static void
on_timer(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    uint64_t expirations, now = now_usec(), next = 0;
    struct rm_reader *rd;

    (void)events;
    (void)!read(s->fd, &expirations, sizeof(expirations));
    m->tx_armed_usec = 0;
    LIST_FOREACH(rd, &m->readers, link) {
        if (!rd->tx_holder || !rd->tx_deadline_usec || rd->tx_deadline_usec > now)
            continue;
        if (rd->jobs_inflight > 0)
            rd->tx_deadline_usec = now + m->conf.tx_idle_usec; /* the card is busy, not idle */
        else
            expire(rd); /* may hand the card to a waiter, whose deadline starts now */
    }
    LIST_FOREACH(rd, &m->readers, link)
        if (rd->tx_holder && rd->tx_deadline_usec && (!next || rd->tx_deadline_usec < next))
            next = rd->tx_deadline_usec;
    timer_arm(m, next); /* also when expire() armed it already: next is the earliest */
}

int
rm_tx_init(struct rm_manager *m)
{
    m->tx_armed_usec = 0;
    if (m->conf.tx_idle_usec == 0) {
        log_debug("transaction idle timeout off");
        return 0;
    }
    m->tx_timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (m->tx_timer.fd < 0)
        return log_error_errno(-errno, "timerfd_create");
    m->tx_timer.cb = on_timer;
    return rm_source_add(m, &m->tx_timer, EPOLLIN);
}

void
rm_tx_done(struct rm_manager *m)
{
    if (m->tx_timer.fd >= 0)
        close(m->tx_timer.fd);
    m->tx_timer.fd = -1;
}

void
rm_tx_touch(struct rm_reader *rd)
{
    struct rm_manager *m = rd->m;

    if (!rd->tx_holder || m->tx_timer.fd < 0)
        return;
    rd->tx_deadline_usec = now_usec() + m->conf.tx_idle_usec;
    /* a later deadline needs no re-arming: on_timer() finds it and sleeps again */
    if (!m->tx_armed_usec || rd->tx_deadline_usec < m->tx_armed_usec)
        timer_arm(m, rd->tx_deadline_usec);
}

void
rm_tx_begin(struct rm_handle *h)
{
    h->reader->tx_holder = h;
    rm_tx_touch(h->reader);
    log_debug("reader '%s': transaction begins (client %llu)", h->reader->name,
              (unsigned long long)h->client->id);
}

bool
rm_tx_park(struct rm_client *c, struct rm_handle *h, const void *frame, size_t len)
{
    struct rm_reader *rd = h->reader;
    struct rm_blocked *b;

    if (!rd->tx_holder || rd->tx_holder == h)
        return false;
    b = calloc(1, sizeof(*b));
    if (b)
        b->frame = malloc(len);
    if (!b || !b->frame) {
        free(b);
        const struct rm_wire_hdr *hdr = frame;
        rm_client_reply(c, hdr->command, hdr->seq, -ENOMEM, NULL, 0, NULL, 0);
        return true;
    }
    memcpy(b->frame, frame, len);
    b->len = len;
    b->client_id = c->id;
    TAILQ_INSERT_TAIL(&rd->blocked, b, link);
    c->busy = true;
    log_debug("reader '%s': %s from client %llu waits for the transaction", rd->name,
              rm_wire_cmd_name(((const struct rm_wire_hdr *)frame)->command),
              (unsigned long long)c->id);
    return true;
}

void
rm_tx_release(struct rm_reader *rd)
{
    TAILQ_HEAD(, rm_blocked) q = TAILQ_HEAD_INITIALIZER(q);
    struct rm_blocked *b;

    rd->tx_deadline_usec = 0;
    /* Re-dispatch in arrival order: the first BEGIN takes the card, and everything behind
     * it parks again, in the same order, at the tail of the (now empty) FIFO. */
    TAILQ_CONCAT(&q, &rd->blocked, link);
    while ((b = TAILQ_FIRST(&q))) {
        TAILQ_REMOVE(&q, b, link);
        struct rm_client *c = rm_client_find(rd->m, b->client_id);
        if (c) {
            c->busy = false;
            rm_dispatch(c, b->frame, b->len);
        }
        free(b->frame);
        free(b);
    }
}
