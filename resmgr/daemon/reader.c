/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader worker threads: every blocking call into an IFD handler happens here, never
 * in the event loop. A worker runs queued jobs in order and, between jobs, checks
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

#include "common/log.h"
#include "resmgr/daemon/scardd.h"

/* How long one call of a driver's event function may wait. A driver that can be interrupted
 * (TAG_IFD_STOP_POLLING_THREAD) waits long, so that an idle reader costs no wake-ups; one that
 * cannot is bounded at 1 s so that scardd still stops promptly. */
#define POLL_FN_TIMEOUT_MS 1000
#define POLL_FN_STOPPABLE_TIMEOUT_MS (10 * 60 * 1000)
#define PRESENCE_FAILURES_MAX 5 /* consecutive IFDHICCPresence errors that mark it defective */

static uint64_t
now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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
    uint64_t deadline = now_usec() + rd->m->conf.driver_hang_usec + allowance_usec;

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

void
rm_job_free(struct rm_job *job)
{
    if (!job)
        return;
    if (job->in)
        explicit_bzero(job->in, job->in_len); /* may hold a PIN (VERIFY) */
    if (job->out)
        explicit_bzero(job->out, job->out_len);
    free(job->in);
    free(job->out);
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

static int
run_power(struct rm_reader *rd, struct rm_job *job)
{
    int r = 0;

    if (!rd->hw_present)
        return -ENOMEDIUM;
    if (job->action == SCARD_RESET_CARD) {
        r = power(rd, IFD_RESET);
        job->did_reset = true;
    } else if (job->action == SCARD_UNPOWER_CARD) {
        (void)power(rd, IFD_POWER_DOWN);
        r = power(rd, IFD_POWER_UP);
        job->did_reset = true;
    } else if (!rd->hw_powered) {
        r = power(rd, IFD_POWER_UP);
    }
    if (r == 0 && job->protocols && !rd->hw_protocol)
        r = negotiate(rd, job->protocols);
    else if (r == 0 && job->protocols && !(rd->hw_protocol & job->protocols))
        r = -EPROTONOSUPPORT;
    return r;
}

/* Disconnect dispositions: power down without powering up again. */
static int
run_unpower(struct rm_reader *rd, struct rm_job *job)
{
    job->did_reset = true;
    return rd->hw_present ? power(rd, IFD_POWER_DOWN) : 0;
}

/* SCARD_PROTOCOL_T0/T1 (bits 1, 2) → the T number 0/1 that IFDHTransmitToICC takes; RAW as is. */
static DWORD
ifd_protocol(uint32_t pcsc_protocol)
{
    if (pcsc_protocol == SCARD_PROTOCOL_T1)
        return 1;
    return pcsc_protocol == SCARD_PROTOCOL_RAW ? SCARD_PROTOCOL_RAW : 0;
}

static int
run_io(struct rm_reader *rd, struct rm_job *job)
{
    struct rm_driver_ops *o = &rd->dev->ops;
    DWORD n = job->recv_max;
    RESPONSECODE rc;

    job->out = malloc(n ? n : 1);
    if (!job->out)
        return -ENOMEM;
    switch (job->type) {
    case JOB_TRANSMIT: {
        /* the driver wants the T number (ifdhandler.h, IFDHTransmitToICC), not the PC/SC bit */
        SCARD_IO_HEADER tx = {ifd_protocol(job->protocol), 0}, rx = {0, 0};
        if (!rd->hw_present)
            return -ENXIO;
        rc = o->transmit_to_icc(rd->lun, tx, job->in, job->in_len, job->out, &n, &rx);
        break;
    }
    case JOB_CONTROL:
        rc = o->control(rd->lun, job->code, job->in, job->in_len, job->out, job->recv_max, &n);
        break;
    case JOB_GET_ATTR:
        rc = o->get_capabilities(rd->lun, job->code, &n, job->out);
        break;
    default:
        n = 0;
        rc = o->set_capabilities(rd->lun, job->code, job->in_len, job->in);
        break;
    }
    if (rc != IFD_SUCCESS)
        return rm_ifd_to_errno(rc);
    if (n > job->recv_max)
        return -EIO; /* driver claims more than the buffer */
    job->out_len = n;
    return 0;
}

static const char *
job_call_name(const struct rm_job *job)
{
    switch (job->type) {
    case JOB_POWER:
        return "IFDHPowerICC";
    case JOB_TRANSMIT:
        return "IFDHTransmitToICC";
    case JOB_CONTROL:
        return "IFDHControl";
    case JOB_GET_ATTR:
        return "IFDHGetCapabilities";
    default:
        return "IFDHSetCapabilities";
    }
}

static void
run_job(struct rm_reader *rd, struct rm_job *job)
{
    pthread_mutex_lock(&rd->dev->lock);
    call_begin(rd, job_call_name(job), 0);
    if (job->type == JOB_POWER && job->action == (uint32_t)-1)
        job->status = run_unpower(rd, job);
    else if (job->type == JOB_POWER)
        job->status = run_power(rd, job);
    else
        job->status = run_io(rd, job);
    job->present = rd->hw_present;
    job->powered = rd->hw_powered;
    job->hw_protocol = rd->hw_protocol;
    job->atr_len = rd->hw_atr_len;
    memcpy(job->atr, rd->hw_atr, rd->hw_atr_len);
    call_end(rd);
    pthread_mutex_unlock(&rd->dev->lock);
}

static void
post_done(struct rm_reader *rd, struct rm_job *job)
{
    uint64_t one = 1;

    pthread_mutex_lock(&rd->lock);
    TAILQ_INSERT_TAIL(&rd->done, job, link);
    pthread_mutex_unlock(&rd->lock);
    (void)!write(rd->efd.fd, &one, sizeof(one));
}

/* Ask the driver whether a card is there; on a change, power it up and tell the loop. */
static void
check_presence(struct rm_reader *rd)
{
    struct rm_job *job;
    RESPONSECODE rc;
    bool present;

    pthread_mutex_lock(&rd->dev->lock);
    call_begin(rd, "IFDHICCPresence", 0);
    rc = rd->dev->ops.icc_presence(rd->lun);
    call_end(rd);
    if (rc != IFD_ICC_PRESENT && rc != IFD_ICC_NOT_PRESENT) {
        /* an error says nothing about the card: keep the last state, count it */
        bool give_up = ++rd->presence_failures == PRESENCE_FAILURES_MAX;
        pthread_mutex_unlock(&rd->dev->lock);
        log_debug("reader '%s': IFDHICCPresence failed (IFD code %lu), %u in a row", rd->name,
                  (unsigned long)rc, rd->presence_failures);
        if (give_up && (job = calloc(1, sizeof(*job)))) {
            job->type = JOB_DEFECTIVE;
            job->status = rm_ifd_to_errno(rc);
            post_done(rd, job);
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
        call_begin(rd, "IFDHPowerICC", 0);
        (void)power(rd, IFD_POWER_UP); /* a mute card stays present with no ATR */
        call_end(rd);
    }
    else {
        rd->hw_powered = false;
        rd->hw_atr_len = 0;
    }
    job = calloc(1, sizeof(*job));
    if (job) {
        job->type = JOB_PRESENCE;
        job->present = present;
        job->powered = rd->hw_powered;
        job->atr_len = rd->hw_atr_len;
        memcpy(job->atr, rd->hw_atr, rd->hw_atr_len);
    }
    pthread_mutex_unlock(&rd->dev->lock);
    if (job)
        post_done(rd, job);
}

/* @p deadline = now + presence_poll_interval, on CLOCK_MONOTONIC (the condvar's clock). */
static void
next_poll(const struct rm_reader *rd, struct timespec *deadline)
{
    uint64_t ns;

    clock_gettime(CLOCK_MONOTONIC, deadline);
    ns = (uint64_t)deadline->tv_nsec + rd->poll_usec * 1000u;
    deadline->tv_sec += (time_t)(ns / 1000000000u);
    deadline->tv_nsec = (long)(ns % 1000000000u);
}

static void *
worker_main(void *userdata)
{
    struct rm_reader *rd = userdata;
    struct timespec deadline;

    if (!rd->poll_fn)
        check_presence(rd);
    pthread_mutex_lock(&rd->lock);
    next_poll(rd, &deadline);
    while (!rd->stop) {
        struct rm_job *job = TAILQ_FIRST(&rd->todo);
        if (job) {
            TAILQ_REMOVE(&rd->todo, job, link);
            rd->running = job;
            pthread_mutex_unlock(&rd->lock);
            run_job(rd, job);
            pthread_mutex_lock(&rd->lock);
            rd->running = NULL;
            pthread_mutex_unlock(&rd->lock);
            post_done(rd, job);
            pthread_mutex_lock(&rd->lock);
            continue;
        }
        if (rd->poll_fn || rd->hw_defective) {
            pthread_cond_wait(&rd->cond, &rd->lock);
            continue;
        }
        /* Woken early (a job, stop, or spuriously): the deadline stays where it is, so that
         * a stream of jobs never pushes the next presence check further away. */
        if (pthread_cond_timedwait(&rd->cond, &rd->lock, &deadline) != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&rd->lock);
        check_presence(rd);
        pthread_mutex_lock(&rd->lock);
        next_poll(rd, &deadline);
    }
    pthread_mutex_unlock(&rd->lock);
    return NULL;
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
        check_presence(rd);
        /* the driver may legitimately wait that long: allow for it in the hang watchdog */
        call_begin(rd, "IFDHPolling", (uint64_t)timeout_ms * 1000u);
        (void)rd->poll_fn(rd->lun, timeout_ms);
        call_end(rd);
        pthread_mutex_lock(&rd->lock);
        stop = rd->stop || rd->hw_defective;
        pthread_mutex_unlock(&rd->lock);
    }
    return NULL;
}

/* Answer @p job at once with -ENODEV (reader gone or defective), through the done queue so
 * that the reply comes from the loop, never from inside the caller. The loop's mirror of the
 * card goes into the job, so that applying it changes nothing. */
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
    job->did_reset = false;
    TAILQ_INSERT_TAIL(&rd->done, job, link);
    (void)!write(rd->efd.fd, &one, sizeof(one));
}

void
rm_reader_submit(struct rm_reader *rd, struct rm_job *job)
{
    pthread_mutex_lock(&rd->lock);
    if (rd->gone || rd->defective)
        refuse_job(rd, job);
    else
        TAILQ_INSERT_TAIL(&rd->todo, job, link);
    pthread_cond_signal(&rd->cond);
    pthread_mutex_unlock(&rd->lock);
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

    if (rd->defective)
        return;
    rd->defective = true; /* UNAVAILABLE; the event counter stays that of card insert/remove */
    pthread_mutex_lock(&rd->lock);
    rd->hw_defective = true;
    TAILQ_CONCAT(&q, &rd->todo, link);
    /* the client of a stuck job gets its answer now; the job's late result goes to nobody */
    if (rd->running && rd->running->client_id) {
        struct rm_client *c = rm_client_find(rd->m, rd->running->client_id);
        if (c)
            rm_client_reply(c, rd->running->cmd, rd->running->seq, -ENODEV, NULL, 0, NULL, 0);
        rd->running->client_id = 0;
    }
    while ((job = TAILQ_FIRST(&q))) {
        TAILQ_REMOVE(&q, job, link);
        refuse_job(rd, job);
    }
    pthread_cond_broadcast(&rd->cond);
    pthread_mutex_unlock(&rd->lock);
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
    uint64_t v, now = now_usec(), next = 0;
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
    TAILQ_INIT(&rd->blocked);
    pthread_mutex_init(&rd->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rd->cond, &ca);
    pthread_condattr_destroy(&ca);
    rd->efd.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    rd->efd.cb = on_efd;
    rd->hang.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    rd->hang.cb = on_hang;
    if (rd->efd.fd < 0 || rd->hang.fd < 0)
        return -errno;
    r = rm_source_add(m, &rd->efd, EPOLLIN);
    if (r == 0)
        r = rm_source_add(m, &rd->hang, EPOLLIN);
    if (r < 0)
        return r;
    r = -pthread_create(&rd->worker, NULL, worker_main, rd);
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

    pthread_mutex_lock(&rd->lock);
    rd->stop = true;
    pthread_cond_broadcast(&rd->cond);
    stuck = rd->defective && (rd->call_deadline_usec[0] || rd->call_deadline_usec[1]);
    pthread_mutex_unlock(&rd->lock);
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

void
rm_reader_halt(struct rm_reader *rd)
{
    struct rm_job *job;

    rd->gone = true;
    rm_reader_stop(rd);
    pthread_mutex_lock(&rd->lock);
    while ((job = TAILQ_FIRST(&rd->todo))) {
        TAILQ_REMOVE(&rd->todo, job, link);
        refuse_job(rd, job);
    }
    pthread_mutex_unlock(&rd->lock);
    /* handles see the card removed (SCARD_W_REMOVED_CARD), GSC sees the reader UNKNOWN */
    rd->present = rd->powered = rd->mute = false;
    rd->atr_len = 0;
    rd->protocol = 0;
    rd->events++;
    if (!rd->leaked) {
        rm_device_unref(rd->dev); /* closes the channel with the last slot */
        rd->dev = NULL;
    }
    rd->m->state_changed = true;
}

void
rm_reader_free(struct rm_reader *rd)
{
    struct rm_job *job;
    struct rm_blocked *b;

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
    while ((b = TAILQ_FIRST(&rd->blocked))) {
        TAILQ_REMOVE(&rd->blocked, b, link);
        free(b->frame);
        free(b);
    }
    if (rd->efd.fd >= 0)
        close(rd->efd.fd);
    if (rd->hang.fd >= 0)
        close(rd->hang.fd);
    pthread_mutex_destroy(&rd->lock);
    pthread_cond_destroy(&rd->cond);
    rm_device_unref(rd->dev);
    free(rd->origin);
    free(rd);
}
