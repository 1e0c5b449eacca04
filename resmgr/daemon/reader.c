/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader worker threads and the driver: every blocking call into an IFD handler happens
 * in the reader's worker (the actor, actor.c), never in the event loop. The worker checks
 * card presence every presence_poll_interval; a driver that offers
 * TAG_IFD_POLLING_THREAD_WITH_TIMEOUT gets a second thread that waits in the driver
 * instead. Results go back to the loop through the reader's eventfd. Every driver call
 * carries a deadline (driver_hang_warning) checked by a timerfd in the loop: a call past
 * it, or IFDHICCPresence failing PRESENCE_FAILURES_MAX times in a row, marks the reader
 * defective (Windows events 619, 612/615) until it is re-plugged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <reader.h>

#include "common/clock.h"
#include "common/log.h"
#include "resmgr/daemon/scardd.h"

/* How long one call of a driver's event function may wait. A driver that can be interrupted
 * (TAG_IFD_STOP_POLLING_THREAD) waits long, so that an idle reader costs no wake-ups; one that
 * cannot is bounded at 1 s so that scardd still stops promptly. */
#define POLL_FN_TIMEOUT_MS 1000
#define POLL_FN_STOPPABLE_TIMEOUT_MS (10 * 60 * 1000)
#define PRESENCE_FAILURES_MAX 5 /* consecutive IFDHICCPresence errors that mark it defective */

static void
arm_hang(struct rm_reader *rd, uint64_t deadline_usec)
{
    struct itimerspec its = {.it_value = {(time_t)(deadline_usec / 1000000u),
                                          (long)(deadline_usec % 1000000u) * 1000}};
    (void)timerfd_settime(rd->hang.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* A driver call starts (worker or poller): record it for the hang check. The timer is armed
 * only when it is not already, so a busy reader costs one timerfd_settime per period. */
static __thread unsigned call_slot; /* 0 in the worker, 1 in the poller thread */

static void
call_begin(struct rm_reader *rd, const char *name, uint64_t allowance_usec)
{
    uint64_t deadline = sc_now_usec() + rd->m->conf.driver_hang_usec + allowance_usec;

    pthread_mutex_lock(&rd->lock);
    rd->call_name[call_slot] = name;
    rd->call_deadline_usec[call_slot] = deadline;
    if (!rd->hang_armed && rd->hang.fd >= 0) {
        rd->hang_armed = true;
        arm_hang(rd, deadline);
    }
    pthread_mutex_unlock(&rd->lock);
}

static void
call_end(struct rm_reader *rd)
{
    pthread_mutex_lock(&rd->lock);
    rd->call_deadline_usec[call_slot] = 0;
    pthread_mutex_unlock(&rd->lock);
}

void
rm_reader_call_begin(struct rm_reader *rd, const char *name, int fd, uint16_t cmd, uint32_t seq)
{
    uint64_t deadline = sc_now_usec() + rd->m->conf.driver_hang_usec;

    pthread_mutex_lock(&rd->lock);
    rd->call_name[0] = name;
    rd->call_deadline_usec[0] = deadline;
    rd->running_fd = fd;
    rd->running_cmd = cmd;
    rd->running_seq = seq;
    rd->running_answered = false;
    if (!rd->hang_armed && rd->hang.fd >= 0) {
        rd->hang_armed = true;
        arm_hang(rd, deadline);
    }
    pthread_mutex_unlock(&rd->lock);
}

bool
rm_reader_call_end(struct rm_reader *rd)
{
    bool answered;

    pthread_mutex_lock(&rd->lock);
    rd->call_deadline_usec[0] = 0;
    rd->running_fd = -1;
    answered = rd->running_answered;
    rd->running_answered = false;
    pthread_mutex_unlock(&rd->lock);
    return answered;
}

int
rm_ifd_to_errno(RESPONSECODE rc)
{
    switch (rc) {
    case IFD_SUCCESS:
        return 0;
    case IFD_ERROR_TAG:
    case IFD_ERROR_NOT_SUPPORTED:
    case IFD_NOT_SUPPORTED:
        return -EOPNOTSUPP;
    case IFD_PROTOCOL_NOT_SUPPORTED:
    case IFD_ERROR_PTS_FAILURE:
        return -EPROTONOSUPPORT;
    case IFD_ERROR_INSUFFICIENT_BUFFER:
        return -ENOBUFS;
    case IFD_ICC_NOT_PRESENT:
        return -ENXIO;
    case IFD_NO_SUCH_DEVICE:
        return -ENODEV;
    case IFD_ERROR_POWER_ACTION:
        return -EREMOTEIO;
    case IFD_ERROR_VALUE_READ_ONLY:
    case IFD_ERROR_SET_FAILURE:
        return -ERANGE;
    default:
        return -EIO;
    }
}

struct rm_job *
rm_job_new(enum rm_job_type type)
{
    struct rm_job *job = calloc(1, sizeof(*job));

    if (!job)
        return NULL;
    job->type = type;
    job->fd = job->peer_fd = -1;
    return job;
}

void
rm_job_free(struct rm_job *job)
{
    if (!job)
        return;
    if (job->fd >= 0)
        close(job->fd);
    if (job->peer_fd >= 0)
        close(job->peer_fd);
    free(job);
}

/* Supported protocols and the default one, from the ATR (ISO 7816-3 §8.2). */
static uint32_t
atr_protocols(const uint8_t *atr, size_t len, uint32_t *ret_default)
{
    uint32_t offered = 0, first = 0;
    size_t i = 1;
    uint8_t y;

    if (len < 2) {
        *ret_default = SCARD_PROTOCOL_T0;
        return SCARD_PROTOCOL_T0;
    }
    y = atr[1] >> 4;
    while (y) {
        i += !!(y & 1) + !!(y & 2) + !!(y & 4); /* TAi, TBi, TCi */
        if (!(y & 8) || i + 1 >= len)
            break;
        i++;
        uint8_t td = atr[i];
        uint32_t p = (td & 0x0f) == 0 ? SCARD_PROTOCOL_T0 : (td & 0x0f) == 1 ? SCARD_PROTOCOL_T1 : 0;
        if (!first && p)
            first = p;
        offered |= p;
        y = td >> 4;
    }
    if (!offered)
        offered = first = SCARD_PROTOCOL_T0;
    *ret_default = first;
    return offered;
}

/* Called with dev->lock held. */
static int
power(struct rm_reader *rd, DWORD action)
{
    DWORD len = sizeof(rd->hw_atr);
    RESPONSECODE rc = rd->dev->ops.power_icc(rd->lun, action, rd->hw_atr, &len);

    rd->hw_protocol = 0;
    if (action == IFD_POWER_DOWN) {
        rd->hw_powered = false;
        rd->hw_atr_len = 0;
        return rm_ifd_to_errno(rc);
    }
    if (rc != IFD_SUCCESS || len > sizeof(rd->hw_atr)) {
        rd->hw_powered = false;
        rd->hw_atr_len = 0;
        return rc == IFD_ICC_NOT_PRESENT ? -ENOMEDIUM : -EREMOTEIO;
    }
    rd->hw_powered = true;
    rd->hw_atr_len = len;
    return 0;
}

static int
negotiate(struct rm_reader *rd, uint32_t wanted)
{
    uint32_t def, offered = atr_protocols(rd->hw_atr, rd->hw_atr_len, &def), p;
    RESPONSECODE rc;

    if (wanted == SCARD_PROTOCOL_RAW) {
        rd->hw_protocol = SCARD_PROTOCOL_RAW;
        return 0;
    }
    if (wanted & def)
        p = def;
    else if (wanted & offered & SCARD_PROTOCOL_T1)
        p = SCARD_PROTOCOL_T1;
    else if (wanted & offered & SCARD_PROTOCOL_T0)
        p = SCARD_PROTOCOL_T0;
    else
        return -EPROTONOSUPPORT;
    rc = rd->dev->ops.set_protocol_parameters(rd->lun, p, 0, 0, 0, 0);
    if (rc != IFD_SUCCESS && rc != IFD_NOT_SUPPORTED && rc != IFD_ERROR_NOT_SUPPORTED)
        return -EPROTONOSUPPORT;
    rd->hw_protocol = p;
    return 0;
}

int
rm_reader_power(struct rm_reader *rd, uint32_t action, uint32_t protocols)
{
    int r = 0;

    if (!rd->hw_present)
        return action == RM_ACTION_POWER_DOWN ? 0 : -ENOMEDIUM;
    call_begin(rd, "IFDHPowerICC", 0);
    if (action == RM_ACTION_POWER_DOWN) {
        r = power(rd, IFD_POWER_DOWN);
        rd->hw_reset_seq++;
    } else if (action == SCARD_RESET_CARD) {
        r = power(rd, IFD_RESET);
        rd->hw_reset_seq++;
    } else if (action == SCARD_UNPOWER_CARD) {
        (void)power(rd, IFD_POWER_DOWN);
        r = power(rd, IFD_POWER_UP);
        rd->hw_reset_seq++;
    } else if (!rd->hw_powered) {
        r = power(rd, IFD_POWER_UP);
    }
    if (action != SCARD_LEAVE_CARD)
        log_debug("reader '%s': card %s", rd->name,
                  action == SCARD_RESET_CARD ? "reset" : action == SCARD_UNPOWER_CARD
                                                         ? "power-cycled" : "powered down");
    if (r == 0 && protocols && action != RM_ACTION_POWER_DOWN && !rd->hw_protocol)
        r = negotiate(rd, protocols);
    else if (r == 0 && protocols && action != RM_ACTION_POWER_DOWN &&
             !(rd->hw_protocol & protocols))
        r = -EPROTONOSUPPORT;
    call_end(rd);
    return r;
}

/* SCARD_PROTOCOL_T0/T1 (bits 1, 2) → the T number 0/1 that IFDHTransmitToICC takes; RAW as is. */
DWORD
rm_ifd_protocol(uint32_t pcsc_protocol)
{
    if (pcsc_protocol == SCARD_PROTOCOL_T1)
        return 1;
    return pcsc_protocol == SCARD_PROTOCOL_RAW ? SCARD_PROTOCOL_RAW : 0;
}

void
rm_reader_post(struct rm_reader *rd, struct rm_job *job)
{
    uint64_t one = 1;

    pthread_mutex_lock(&rd->lock);
    TAILQ_INSERT_TAIL(&rd->done, job, link);
    pthread_mutex_unlock(&rd->lock);
    (void)!write(rd->efd.fd, &one, sizeof(one));
}

/* Ask the driver whether a card is there; on a change, power it up and tell the loop. */
void
rm_reader_check_presence(struct rm_reader *rd)
{
    struct rm_job *job;
    RESPONSECODE rc;
    bool present;

    pthread_mutex_lock(&rd->dev->lock);
    if (rd->halted) {
        pthread_mutex_unlock(&rd->dev->lock);
        return;
    }
    call_begin(rd, "IFDHICCPresence", 0);
    rc = rd->dev->ops.icc_presence(rd->lun);
    call_end(rd);
    if (rc != IFD_ICC_PRESENT && rc != IFD_ICC_NOT_PRESENT) {
        /* an error says nothing about the card: keep the last state, count it */
        bool give_up = ++rd->presence_failures == PRESENCE_FAILURES_MAX;
        pthread_mutex_unlock(&rd->dev->lock);
        log_debug("reader '%s': IFDHICCPresence failed (IFD code %lu), %u in a row", rd->name,
                  (unsigned long)rc, rd->presence_failures);
        if (give_up && (job = rm_job_new(JOB_DEFECTIVE))) {
            job->status = rm_ifd_to_errno(rc);
            rm_reader_post(rd, job);
        }
        return;
    }
    rd->presence_failures = 0;
    present = rc == IFD_ICC_PRESENT;
    if (present == rd->hw_present) {
        pthread_mutex_unlock(&rd->dev->lock);
        return;
    }
    rd->hw_present = present;
    rd->hw_protocol = 0;
    if (present) {
        rd->hw_card_seq++;
        call_begin(rd, "IFDHPowerICC", 0);
        (void)power(rd, IFD_POWER_UP); /* a mute card stays present with no ATR */
        call_end(rd);
    }
    else {
        rd->hw_powered = false;
        rd->hw_atr_len = 0;
    }
    job = rm_job_new(JOB_PRESENCE);
    if (job) {
        job->present = present;
        job->powered = rd->hw_powered;
        job->atr_len = rd->hw_atr_len;
        memcpy(job->atr, rd->hw_atr, rd->hw_atr_len);
    }
    pthread_mutex_unlock(&rd->dev->lock);
    if (job)
        rm_reader_post(rd, job);
}

/* The driver's own event thread (TAG_IFD_POLLING_THREAD_WITH_TIMEOUT). */
static void *
poller_main(void *userdata)
{
    struct rm_reader *rd = userdata;
    bool stop = false;
    int timeout_ms = rd->stop_poll_fn ? POLL_FN_STOPPABLE_TIMEOUT_MS : POLL_FN_TIMEOUT_MS;

    call_slot = 1;
    while (!stop) {
        rm_reader_check_presence(rd);
        /* the driver may legitimately wait that long: allow for it in the hang watchdog */
        call_begin(rd, "IFDHPolling", (uint64_t)timeout_ms * 1000u);
        (void)rd->poll_fn(rd->lun, timeout_ms);
        call_end(rd);
        pthread_mutex_lock(&rd->lock);
        stop = rd->stop || rd->stop_poller || rd->hw_defective;
        pthread_mutex_unlock(&rd->lock);
    }
    return NULL;
}

/* Answer @p job at once with -ENODEV (reader defective), through the done queue so that
 * the reply comes from the loop, never from inside the caller. The loop's mirror of the
 * card goes into the job, so that applying it changes nothing. With rd->lock held. */
static void
refuse_job(struct rm_reader *rd, struct rm_job *job)
{
    uint64_t one = 1;

    job->status = -ENODEV;
    job->present = rd->present;
    job->powered = rd->powered;
    job->hw_protocol = rd->protocol;
    job->atr_len = rd->atr_len;
    memcpy(job->atr, rd->atr, rd->atr_len);
    TAILQ_INSERT_TAIL(&rd->done, job, link);
    (void)!write(rd->efd.fd, &one, sizeof(one));
}

/* Requests a defective reader's actor may never run: answered at once instead. */
static bool
refusable(const struct rm_job *job)
{
    return job->type == JOB_CONNECT || job->type == JOB_RECONNECT;
}

void
rm_reader_submit(struct rm_reader *rd, struct rm_job *job)
{
    uint64_t one = 1;

    pthread_mutex_lock(&rd->lock);
    if (rd->defective && refusable(job))
        refuse_job(rd, job);
    else
        TAILQ_INSERT_TAIL(&rd->todo, job, link);
    pthread_mutex_unlock(&rd->lock);
    (void)!write(rd->wake_fd, &one, sizeof(one));
}

static void
on_efd(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct rm_reader *rd = (struct rm_reader *)((char *)s - offsetof(struct rm_reader, efd));
    struct rm_job_queue q = TAILQ_HEAD_INITIALIZER(q);
    uint64_t v;
    struct rm_job *job;

    (void)events;
    (void)!read(s->fd, &v, sizeof(v));
    pthread_mutex_lock(&rd->lock);
    TAILQ_CONCAT(&q, &rd->done, link);
    pthread_mutex_unlock(&rd->lock);
    while ((job = TAILQ_FIRST(&q))) {
        TAILQ_REMOVE(&q, job, link);
        if (job->type == JOB_DEFECTIVE) {
            char why[96];
            snprintf(why, sizeof(why), "IFDHICCPresence failed %d times in a row (%s)",
                     PRESENCE_FAILURES_MAX, strerror(-job->status));
            if (!rd->gone)
                rm_reader_set_defective(rd, why);
        } else {
            rm_dispatch_job_done(m, rd, job);
        }
        rm_job_free(job);
    }
    m->state_changed = true; /* e.g. a removed reader may now be freed (rm_readers_reap) */
}

/* Flag one reader defective; the caller holds nothing. */
static void
defective_one(struct rm_reader *rd)
{
    struct rm_job_queue q = TAILQ_HEAD_INITIALIZER(q);
    struct rm_job *job;
    uint64_t one = 1;

    if (rd->defective)
        return;
    rd->defective = true; /* UNAVAILABLE; the event counter stays that of card insert/remove */
    pthread_mutex_lock(&rd->lock);
    rd->hw_defective = true;
    /* the client of a stuck data-channel request gets its answer now (its late result is
     * dropped by the actor); queued connects are refused, the rest the actor still runs */
    rm_actor_answer_running(rd, -ENODEV);
    TAILQ_CONCAT(&q, &rd->todo, link);
    while ((job = TAILQ_FIRST(&q))) {
        TAILQ_REMOVE(&q, job, link);
        if (refusable(job))
            refuse_job(rd, job);
        else
            TAILQ_INSERT_TAIL(&rd->todo, job, link);
    }
    pthread_mutex_unlock(&rd->lock);
    (void)!write(rd->wake_fd, &one, sizeof(one));
    rd->m->state_changed = true;
}

void
rm_reader_set_defective(struct rm_reader *rd, const char *why)
{
    struct rm_reader *other;

    if (rd->defective)
        return;
    log_warning("reader '%s': %s; marked defective (unavailable) until re-plugged", rd->name,
                why);
    defective_one(rd);
    LIST_FOREACH(other, &rd->m->readers, link) /* the other slots share the device */
        if (other->dev && other->dev == rd->dev && other != rd) {
            log_warning("reader '%s': same device, marked defective too", other->name);
            defective_one(other);
        }
}

/* The hang timer: is a driver call past its deadline? Re-armed for the next deadline. */
static void
on_hang(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct rm_reader *rd = (struct rm_reader *)((char *)s - offsetof(struct rm_reader, hang));
    uint64_t v, now = sc_now_usec(), next = 0;
    const char *stuck = NULL;

    (void)m;
    (void)events;
    (void)!read(s->fd, &v, sizeof(v));
    pthread_mutex_lock(&rd->lock);
    for (unsigned i = 0; i < 2; i++) {
        uint64_t d = rd->call_deadline_usec[i];
        if (d && d <= now && !stuck)
            stuck = rd->call_name[i];
        else if (d && d > now && (!next || d < next))
            next = d;
    }
    rd->hang_armed = next != 0 && !stuck;
    if (rd->hang_armed)
        arm_hang(rd, next);
    pthread_mutex_unlock(&rd->lock);
    if (stuck && !rd->defective) {
        char why[128];
        snprintf(why, sizeof(why), "driver call %s has not returned after %llu s", stuck,
                 (unsigned long long)(rd->m->conf.driver_hang_usec / 1000000u));
        rm_reader_set_defective(rd, why);
    }
}

int
rm_reader_start(struct rm_manager *m, struct rm_reader *rd)
{
    int r;

    rd->m = m;
    rd->poll_usec = m->conf.presence_poll_usec;
    TAILQ_INIT(&rd->todo);
    TAILQ_INIT(&rd->done);
    pthread_mutex_init(&rd->lock, NULL);
    rd->efd.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    rd->efd.cb = on_efd;
    rd->hang.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    rd->hang.cb = on_hang;
    rd->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rd->efd.fd < 0 || rd->hang.fd < 0 || rd->wake_fd < 0)
        return -errno;
    r = rm_actor_init(rd);
    if (r == 0)
        r = rm_source_add(m, &rd->efd, EPOLLIN);
    if (r == 0)
        r = rm_source_add(m, &rd->hang, EPOLLIN);
    if (r < 0)
        return r;
    r = -pthread_create(&rd->worker, NULL, rm_actor_main, rd);
    if (r < 0)
        return r;
    rd->has_worker = true;
    if (rd->poll_fn) {
        r = -pthread_create(&rd->poller, NULL, poller_main, rd);
        if (r < 0)
            return r;
        rd->has_poller = true;
    }
    return 0;
}

#define STOP_WAIT_SEC 2 /* longest the loop waits for a thread inside the driver at stop */

/* Join @p t, waiting at most STOP_WAIT_SEC (none when @p stuck); else abandon it. */
static bool
join_bounded(pthread_t t, bool stuck)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += stuck ? 0 : STOP_WAIT_SEC;
    if (pthread_timedjoin_np(t, NULL, &deadline) == 0)
        return true;
    pthread_detach(t);
    return false;
}

void
rm_reader_stop(struct rm_reader *rd)
{
    bool stuck, ok = true;

    uint64_t one = 1;

    pthread_mutex_lock(&rd->lock);
    rd->stop = true;
    stuck = rd->defective && (rd->call_deadline_usec[0] || rd->call_deadline_usec[1]);
    pthread_mutex_unlock(&rd->lock);
    if (rd->wake_fd >= 0)
        (void)!write(rd->wake_fd, &one, sizeof(one));
    if (rd->has_poller && rd->stop_poll_fn && !stuck)
        (void)rd->stop_poll_fn(rd->lun);
    if (rd->has_worker)
        ok = join_bounded(rd->worker, stuck);
    if (rd->has_poller)
        ok = join_bounded(rd->poller, stuck) && ok;
    rd->has_worker = rd->has_poller = false;
    if (!ok) {
        /* a thread is still inside the driver: its reader and device must outlive it */
        log_warning("reader '%s': a driver call is still pending, its thread is abandoned",
                    rd->name);
        rd->leaked = true;
    }
}

/* Stop the driver's event thread only (reader removal): the actor keeps serving the
 * reader's handles until they go. */
static void
poller_stop(struct rm_reader *rd)
{
    bool stuck;

    if (!rd->has_poller)
        return;
    pthread_mutex_lock(&rd->lock);
    rd->stop_poller = true;
    stuck = rd->defective && rd->call_deadline_usec[1];
    pthread_mutex_unlock(&rd->lock);
    if (rd->stop_poll_fn && !stuck)
        (void)rd->stop_poll_fn(rd->lun);
    rd->has_poller = false;
    if (!join_bounded(rd->poller, stuck)) {
        log_warning("reader '%s': a driver call is still pending, its thread is abandoned",
                    rd->name);
        rd->leaked = true;
    }
}

void
rm_reader_halt(struct rm_reader *rd)
{
    struct rm_job *job = rm_job_new(JOB_HALT);

    rd->gone = true;
    poller_stop(rd);
    /* the actor makes no more driver calls; its handles see the card removed
     * (SCARD_W_REMOVED_CARD) or the reader unavailable (DIRECT); the device is closed when
     * the reader is freed, after its last handle */
    if (job)
        rm_reader_submit(rd, job);
    else
        rm_reader_stop(rd); /* no memory: stop the actor, its handles see EOF */
    rd->present = rd->powered = rd->mute = false;
    rd->atr_len = 0;
    rd->protocol = 0;
    rd->events++;
    rd->m->state_changed = true;
}

void
rm_reader_free(struct rm_reader *rd)
{
    struct rm_job *job;

    if (!rd)
        return;
    rm_reader_stop(rd);
    if (rd->leaked)
        return; /* a thread may still come back into it */
    while ((job = TAILQ_FIRST(&rd->todo))) {
        TAILQ_REMOVE(&rd->todo, job, link);
        rm_job_free(job);
    }
    while ((job = TAILQ_FIRST(&rd->done))) {
        TAILQ_REMOVE(&rd->done, job, link);
        rm_job_free(job);
    }
    rm_actor_done(rd);
    if (rd->efd.fd >= 0)
        close(rd->efd.fd);
    if (rd->hang.fd >= 0)
        close(rd->hang.fd);
    if (rd->wake_fd >= 0)
        close(rd->wake_fd);
    pthread_mutex_destroy(&rd->lock);
    rm_device_unref(rd->dev);
    free(rd->origin);
    free(rd);
}
