/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader worker threads: every blocking call into an IFD handler happens here, never
 * in the event loop. A worker runs queued jobs in order and, between jobs, checks
 * card presence every presence_poll_interval; a driver that offers
 * TAG_IFD_POLLING_THREAD_WITH_TIMEOUT gets a second thread that waits in the driver
 * instead. Results go back to the loop through the reader's eventfd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <reader.h>

#include "common/log.h"
#include "resmgr/daemon/scardd.h"

#define POLL_FN_TIMEOUT_MS 1000 /* bound on a driver's wait, so that stop is prompt */

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
        SCARD_IO_HEADER tx = {job->protocol, 0}, rx = {0, 0};
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

static void
run_job(struct rm_reader *rd, struct rm_job *job)
{
    pthread_mutex_lock(&rd->dev->lock);
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
    bool present;

    pthread_mutex_lock(&rd->dev->lock);
    present = rd->dev->ops.icc_presence(rd->lun) == IFD_ICC_PRESENT;
    if (present == rd->hw_present) {
        pthread_mutex_unlock(&rd->dev->lock);
        return;
    }
    rd->hw_present = present;
    rd->hw_protocol = 0;
    if (present)
        (void)power(rd, IFD_POWER_UP); /* a mute card stays present with no ATR */
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

static void *
worker_main(void *userdata)
{
    struct rm_reader *rd = userdata;
    struct timespec deadline;

    if (!rd->poll_fn)
        check_presence(rd);
    pthread_mutex_lock(&rd->lock);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    while (!rd->stop) {
        struct rm_job *job = TAILQ_FIRST(&rd->todo);
        if (job) {
            TAILQ_REMOVE(&rd->todo, job, link);
            pthread_mutex_unlock(&rd->lock);
            run_job(rd, job);
            post_done(rd, job);
            pthread_mutex_lock(&rd->lock);
            continue;
        }
        if (rd->poll_fn) {
            pthread_cond_wait(&rd->cond, &rd->lock);
            continue;
        }
        uint64_t ns = (uint64_t)deadline.tv_nsec + rd->poll_usec * 1000u;
        deadline.tv_sec += (time_t)(ns / 1000000000u);
        deadline.tv_nsec = (long)(ns % 1000000000u);
        while (!rd->stop && TAILQ_EMPTY(&rd->todo) &&
               pthread_cond_timedwait(&rd->cond, &rd->lock, &deadline) != ETIMEDOUT)
            ;
        if (rd->stop || !TAILQ_EMPTY(&rd->todo))
            continue; /* deadline kept: presence is checked once the queue is empty */
        pthread_mutex_unlock(&rd->lock);
        check_presence(rd);
        pthread_mutex_lock(&rd->lock);
        clock_gettime(CLOCK_MONOTONIC, &deadline);
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

    while (!stop) {
        check_presence(rd);
        (void)rd->poll_fn(rd->lun, POLL_FN_TIMEOUT_MS);
        pthread_mutex_lock(&rd->lock);
        stop = rd->stop;
        pthread_mutex_unlock(&rd->lock);
    }
    return NULL;
}

void
rm_reader_submit(struct rm_reader *rd, struct rm_job *job)
{
    pthread_mutex_lock(&rd->lock);
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
        rm_dispatch_job_done(m, rd, job);
        rm_job_free(job);
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
    if (rd->efd.fd < 0)
        return -errno;
    r = rm_source_add(m, &rd->efd, EPOLLIN);
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

void
rm_reader_stop(struct rm_reader *rd)
{
    pthread_mutex_lock(&rd->lock);
    rd->stop = true;
    pthread_cond_broadcast(&rd->cond);
    pthread_mutex_unlock(&rd->lock);
    if (rd->has_poller && rd->stop_poll_fn)
        (void)rd->stop_poll_fn(rd->lun);
    if (rd->has_worker)
        pthread_join(rd->worker, NULL);
    if (rd->has_poller)
        pthread_join(rd->poller, NULL);
    rd->has_worker = rd->has_poller = false;
}

void
rm_reader_free(struct rm_reader *rd)
{
    struct rm_job *job;
    struct rm_blocked *b;

    if (!rd)
        return;
    rm_reader_stop(rd);
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
    pthread_mutex_destroy(&rd->lock);
    pthread_cond_destroy(&rd->cond);
    rm_device_unref(rd->dev);
    free(rd);
}
