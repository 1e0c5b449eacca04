/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Request handlers of scardd: contexts, card handles, share modes, dispositions and
 * transactions. Requests that need the driver become jobs for the reader's worker and
 * are answered when the job comes back; requests from other handles while a
 * transaction is held wait in the reader's FIFO (transaction.c) and are re-dispatched on
 * release. A reset of the card is visible to every other handle at once (W_RESET_CARD).
 * Source: PC/SC Part 5 §3.1; windows.md §1.5–1.6; pcsc-lite winscard.c behaviour.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <reader.h>

#include "common/log.h"
#include "resmgr/daemon/apdu.h"
#include "resmgr/daemon/scardd.h"

#define ACTION_POWER_DOWN ((uint32_t)-1) /* JOB_POWER: power off and leave off */

struct req {
    struct rm_client *c;
    const struct rm_wire_msg *msg;
    const void *frame;
    size_t len;
};

static void
reply(const struct req *q, int status, const void *fixed, size_t fixed_len, const void *tail,
      size_t tail_len)
{
    rm_client_reply(q->c, q->msg->hdr.command, q->msg->hdr.seq, status, fixed, fixed_len, tail,
                    tail_len);
}

static void
reply_err(const struct req *q, int status)
{
    reply(q, status, NULL, 0, NULL, 0);
}

static struct rm_handle *
handle_find(struct rm_client *c, uint32_t id)
{
    struct rm_handle *h;
    LIST_FOREACH(h, &c->handles, link)
        if (h->id == id)
            return h;
    return NULL;
}

static struct rm_reader *
reader_find(struct rm_manager *m, const char *name)
{
    struct rm_reader *rd;
    LIST_FOREACH(rd, &m->readers, link)
        if (strcmp(rd->name, name) == 0)
            return rd;
    return NULL;
}

/* Another handle holds the transaction: park the request until it ends. */
static bool
park_if_locked(const struct req *q, struct rm_handle *h)
{
    return rm_tx_park(q->c, h, q->frame, q->len);
}

static void
handle_remove(struct rm_handle *h)
{
    struct rm_reader *rd = h->reader;
    bool wake = rd->tx_holder == h;

    LIST_REMOVE(h, link);
    rd->n_handles--;
    if (rd->exclusive == h)
        rd->exclusive = NULL;
    if (wake)
        rd->tx_holder = NULL;
    free(h);
    rd->m->state_changed = true;
    if (wake)
        rm_tx_release(rd);
}

/* W_REMOVED_CARD / W_RESET_CARD for a handle whose card went away or was reset. */
static int
card_check(const struct rm_handle *h)
{
    const struct rm_reader *rd = h->reader;

    if (h->share_mode == SCARD_SHARE_DIRECT)
        return 0;
    if (!rd->present || h->card_seq != rd->card_seq)
        return -ENXIO;
    if (h->reset_seq != rd->reset_seq)
        return -ESTALE;
    return 0;
}

static struct rm_job *
job_new(const struct req *q, enum rm_job_type type, const struct rm_handle *h)
{
    struct rm_job *job = calloc(1, sizeof(*job));

    if (!job) {
        reply_err(q, -ENOMEM);
        return NULL;
    }
    job->type = type;
    job->client_id = q->c->id;
    job->seq = q->msg->hdr.seq;
    job->cmd = q->msg->hdr.command;
    job->handle_id = h ? h->id : 0;
    return job;
}

/* Hand @p job to the worker of @p rd. A reset or power-down is the loop's truth from this
 * moment: handles other than the requester's see W_RESET_CARD on their next call, even
 * when it arrives before the worker has run the job (the worker runs jobs in order). */
static void
queue_job(struct rm_reader *rd, struct rm_job *job)
{
    if (job->type == JOB_POWER && job->action != SCARD_LEAVE_CARD)
        rd->reset_seq++;
    rd->jobs_inflight++;
    rm_reader_submit(rd, job);
}

static void
submit(const struct req *q, struct rm_reader *rd, struct rm_job *job)
{
    q->c->busy = true;
    queue_job(rd, job);
}

static bool
valid_disposition(uint32_t d)
{
    return d == SCARD_LEAVE_CARD || d == SCARD_RESET_CARD || d == SCARD_UNPOWER_CARD ||
           d == SCARD_EJECT_CARD;
}

static void
do_hello(const struct req *q)
{
    const struct rm_wire_hello *in = q->msg->fixed;
    struct rm_wire_hello out = {RM_WIRE_MAGIC, RM_WIRE_VERSION_MAJOR, RM_WIRE_VERSION_MINOR,
                                (uint32_t)getpid(), 0};

    if (q->c->hello || rm_wire_hello_check(in) < 0) {
        log_warning("client %llu (pid %u): protocol version %u.%u not supported",
                    (unsigned long long)q->c->id, in->pid, in->major, in->minor);
        reply_err(q, -EPROTONOSUPPORT);
        rm_client_kill(q->c, "version mismatch");
        return;
    }
    if (q->c->refused < 0) { /* decided and logged at accept (manager.c) */
        reply_err(q, q->c->refused);
        rm_client_kill(q->c, q->c->refused == -EACCES ? "access refused" : "over a limit");
        return;
    }
    q->c->hello = true;
    reply(q, 0, &out, sizeof(out), NULL, 0);
}

static void
do_list_readers(const struct req *q)
{
    struct rm_manager *m = q->c->m;
    char buf[RM_WIRE_READERS_MAX * RM_WIRE_NAME_MAX + 1];
    const struct rm_reader *list[RM_WIRE_READERS_MAX];
    struct rm_wire_count cnt = {0};
    struct rm_reader *rd;
    size_t n = 0, off = 0;

    LIST_FOREACH(rd, &m->readers, link)
        if (n < RM_WIRE_READERS_MAX)
            list[n++] = rd;
    while (n > 0) { /* the list is newest first; answer in configuration order */
        size_t l = strlen(list[--n]->name) + 1;
        memcpy(buf + off, list[n]->name, l);
        off += l;
        cnt.count++;
    }
    if (off)
        buf[off++] = '\0';
    reply(q, 0, &cnt, sizeof(cnt), buf, off);
}

static unsigned
count_handles(const struct rm_client *c)
{
    const struct rm_handle *h;
    unsigned n = 0;

    LIST_FOREACH(h, &c->handles, link)
        n++;
    return n;
}

static bool
valid_share_mode(uint32_t share)
{
    return share == SCARD_SHARE_SHARED || share == SCARD_SHARE_EXCLUSIVE ||
           share == SCARD_SHARE_DIRECT;
}

/* DIRECT handles need neither a card nor a protocol; they count as users of the reader, so
 * EXCLUSIVE and DIRECT exclude each other as pcsc-lite does (Windows: DIRECT is exclusive). */
static void
do_connect(const struct req *q)
{
    const struct rm_wire_connect_req *in = q->msg->fixed;
    struct rm_manager *m = q->c->m;
    struct rm_reader *rd = reader_find(m, in->reader);
    uint32_t share = in->share_mode, want = in->protocols;
    struct rm_handle *h;
    struct rm_job *job;

    if (!rd)
        return reply_err(q, -ENOENT);
    if (!valid_share_mode(share))
        return reply_err(q, -ERANGE);
    if (share != SCARD_SHARE_DIRECT && !(want & (SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_RAW)))
        return reply_err(q, -ERANGE);
    if (count_handles(q->c) >= m->conf.max_handles_per_context) {
        log_warning("client %llu (pid %d, uid %u): more than %u card handles, refused "
                    "(max_handles_per_context)", (unsigned long long)q->c->id, (int)q->c->pid,
                    (unsigned)q->c->uid, m->conf.max_handles_per_context);
        return reply_err(q, -ENOMEM); /* SCARD_E_NO_MEMORY, as pcscd */
    }
    if (rd->exclusive || (share == SCARD_SHARE_EXCLUSIVE && rd->n_handles > 0))
        return reply_err(q, -EBUSY);
    if (share != SCARD_SHARE_DIRECT) {
        if (!rd->present)
            return reply_err(q, -ENOMEDIUM);
        if (rd->protocol && !(rd->protocol & want))
            return reply_err(q, -EPROTONOSUPPORT);
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return reply_err(q, -ENOMEM);
    *h = (struct rm_handle){.id = ++m->next_handle_id, .client = q->c, .reader = rd,
                            .share_mode = share, .card_seq = rd->card_seq,
                            .reset_seq = rd->reset_seq, .connecting = share != SCARD_SHARE_DIRECT};
    LIST_INSERT_HEAD(&q->c->handles, h, link);
    rd->n_handles++;
    if (share == SCARD_SHARE_EXCLUSIVE)
        rd->exclusive = h;
    m->state_changed = true;
    log_debug("client %llu: connect '%s' share %u protocols 0x%x", (unsigned long long)q->c->id,
              rd->name, share, want);
    if (share == SCARD_SHARE_DIRECT) {
        struct rm_wire_connect_rep out = {h->id, SCARD_PROTOCOL_UNDEFINED};
        return reply(q, 0, &out, sizeof(out), NULL, 0);
    }
    job = job_new(q, JOB_POWER, h);
    if (!job)
        return handle_remove(h);
    job->action = SCARD_LEAVE_CARD;
    job->protocols = want;
    submit(q, rd, job);
}

/* EJECT: no IFD handler v3 can eject, so it unpowers, as pcsc-lite does. */
static uint32_t
power_action(uint32_t disposition)
{
    return disposition == SCARD_EJECT_CARD ? SCARD_UNPOWER_CARD : disposition;
}

/* The protocol in use must stay among the preferred ones unless the card is reset for a
 * sole user (windows.md §1.6: "must include the current protocol"). */
static bool
reconnect_protocol_ok(const struct rm_reader *rd, const struct rm_wire_reconnect_req *in)
{
    if (in->share_mode == SCARD_SHARE_DIRECT && !in->protocols)
        return true;
    if (!rd->protocol || (in->protocols & rd->protocol))
        return true;
    return in->initialization != SCARD_LEAVE_CARD && rd->n_handles == 1;
}

static void
do_reconnect(const struct req *q)
{
    const struct rm_wire_reconnect_req *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    struct rm_reader *rd;
    struct rm_job *job;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    if (park_if_locked(q, h))
        return;
    rd = h->reader;
    if (!valid_share_mode(in->share_mode) || !valid_disposition(in->initialization))
        return reply_err(q, -ERANGE);
    if (in->share_mode == SCARD_SHARE_EXCLUSIVE && rd->n_handles > 1)
        return reply_err(q, -EBUSY);
    if (!rd->present)
        return reply_err(q, -ENOMEDIUM);
    if (!reconnect_protocol_ok(rd, in))
        return reply_err(q, -EPROTONOSUPPORT);
    if (rd->exclusive == h && in->share_mode != SCARD_SHARE_EXCLUSIVE)
        rd->exclusive = NULL;
    else if (in->share_mode == SCARD_SHARE_EXCLUSIVE)
        rd->exclusive = h;
    h->share_mode = in->share_mode;
    rd->m->state_changed = true;
    job = job_new(q, JOB_POWER, h);
    if (!job)
        return;
    job->action = power_action(in->initialization);
    job->protocols = in->protocols;
    submit(q, rd, job);
}

/* RESET / UNPOWER (EJECT) of the card on behalf of a handle that is going away (or of
 * nobody); NULL when there is nothing to do: LEAVE, card gone, replaced or unpowered. */
static struct rm_job *
disposition_job(const struct req *q, struct rm_handle *h, uint32_t disposition)
{
    struct rm_reader *rd = h->reader;
    struct rm_job *job;

    disposition = power_action(disposition);
    if ((disposition != SCARD_RESET_CARD && disposition != SCARD_UNPOWER_CARD) || !rd->present ||
        h->card_seq != rd->card_seq || !rd->powered)
        return NULL;
    job = q ? job_new(q, JOB_POWER, h) : calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->type = JOB_POWER;
    job->action = disposition == SCARD_RESET_CARD ? SCARD_RESET_CARD : ACTION_POWER_DOWN;
    return job;
}

static void
do_disconnect(const struct req *q)
{
    const struct rm_wire_handle_disp *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    struct rm_reader *rd;
    struct rm_job *job;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    if (!valid_disposition(in->disposition))
        return reply_err(q, -ERANGE);
    if (in->disposition != SCARD_LEAVE_CARD && park_if_locked(q, h))
        return;
    rd = h->reader;
    job = disposition_job(q, h, in->disposition);
    log_debug("client %llu: disconnect '%s' disposition %u", (unsigned long long)q->c->id,
              rd->name, in->disposition);
    if (job)
        submit(q, rd, job); /* queued before anything the release below wakes up */
    handle_remove(h);
    if (!job)
        reply(q, 0, NULL, 0, NULL, 0);
}

static void
do_begin(const struct req *q)
{
    const struct rm_wire_handle_disp *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    int r;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    if (park_if_locked(q, h))
        return;
    r = card_check(h); /* reset by another party: W_RESET_CARD (Windows 8+, windows.md §1.5) */
    if (r < 0)
        return reply_err(q, r);
    if (h->reader->tx_holder != h)
        rm_tx_begin(h);
    reply(q, 0, NULL, 0, NULL, 0);
}

/* W_RESET_CARD from End means the transaction was released (Windows 8+): also after the
 * idle timeout ended it, the holder learns it here or from its next call. */
static void
do_end(const struct req *q)
{
    const struct rm_wire_handle_disp *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    struct rm_reader *rd;
    struct rm_job *job = NULL;
    int r;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    if (!valid_disposition(in->disposition))
        return reply_err(q, -ERANGE);
    rd = h->reader;
    r = card_check(h);
    if (rd->tx_holder != h)
        return reply_err(q, r < 0 ? r : -ENOLCK);
    rd->tx_holder = NULL;
    if (r == 0)
        job = disposition_job(q, h, in->disposition);
    if (job) {
        job->action = job->action == SCARD_RESET_CARD ? SCARD_RESET_CARD : SCARD_UNPOWER_CARD;
        job->protocols = h->protocol;
        submit(q, rd, job); /* before the waiters: they find the card reset */
    } else {
        reply(q, r, NULL, 0, NULL, 0);
    }
    log_debug("reader '%s': transaction ends (client %llu)", rd->name, (unsigned long long)q->c->id);
    rm_tx_release(rd);
}

static void
do_status(const struct req *q)
{
    const struct rm_wire_handle_disp *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    struct rm_wire_status_rep out = {0};
    struct rm_reader *rd;
    int r;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    r = card_check(h);
    if (r < 0)
        return reply_err(q, r);
    rd = h->reader;
    snprintf(out.reader, sizeof(out.reader), "%s", rd->name);
    if (!rd->present)
        out.state = SCARD_ABSENT;
    else if (!rd->powered)
        out.state = SCARD_PRESENT | SCARD_SWALLOWED;
    else
        out.state = SCARD_PRESENT | SCARD_POWERED | (rd->protocol ? SCARD_SPECIFIC : SCARD_NEGOTIABLE);
    out.protocol = h->protocol;
    if (rd->present) {
        out.atr_len = (uint32_t)rd->atr_len;
        memcpy(out.atr, rd->atr, rd->atr_len);
    }
    reply(q, 0, &out, sizeof(out), NULL, 0);
}

/* APDU trace: at LOG_INFO with trace_apdus, else at LOG_DEBUG (--debug). The data of PIN
 * commands never reaches the log (apdu.c). */
static int
trace_priority(const struct rm_manager *m)
{
    if (m->conf.trace_apdus)
        return LOG_INFO;
    return sc_log_default()->max_priority >= LOG_DEBUG ? LOG_DEBUG : -1;
}

static void
trace_apdu(const struct rm_reader *rd, const uint8_t *apdu, size_t len)
{
    char hex[RM_APDU_TRACE_BUF];
    int prio = trace_priority(rd->m);

    if (prio < 0)
        return;
    rm_apdu_format(hex, sizeof(hex), apdu, len, rm_apdu_is_pin_command(apdu, len));
    sc_log(NULL, prio, "reader '%s': > %s (%zu bytes)", rd->name, hex, len);
}

static void
trace_response(const struct rm_reader *rd, const struct rm_job *job)
{
    char hex[RM_APDU_TRACE_BUF];
    int prio = trace_priority(rd->m);

    if (prio < 0 || job->out_len < 2)
        return;
    if (prio == LOG_DEBUG) /* --debug alone: the status word only */
        rm_apdu_format(hex, sizeof(hex), job->out + job->out_len - 2, 2, false);
    else
        rm_apdu_format(hex, sizeof(hex), job->out, job->out_len, false);
    sc_log(NULL, prio, "reader '%s': < %s (%zu bytes)", rd->name, hex, job->out_len);
}

static void
do_transmit(const struct req *q)
{
    const struct rm_wire_transmit_req *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    struct rm_reader *rd;
    struct rm_job *job;
    int r;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    if (park_if_locked(q, h))
        return;
    r = card_check(h);
    if (r < 0)
        return reply_err(q, r);
    rd = h->reader;
    if (!rd->present)
        return reply_err(q, -ENOMEDIUM);
    if (!rd->powered)
        return reply_err(q, -ENOLINK);
    if (!q->msg->tail_len)
        return reply_err(q, -EINVAL);
    if (!rd->protocol || !(in->protocol & rd->protocol))
        return reply_err(q, -EPROTONOSUPPORT);
    job = job_new(q, JOB_TRANSMIT, h);
    if (!job)
        return;
    job->protocol = rd->protocol;
    job->recv_max = in->recv_max;
    job->in = malloc(q->msg->tail_len);
    if (!job->in) {
        rm_job_free(job);
        return reply_err(q, -ENOMEM);
    }
    memcpy(job->in, q->msg->tail, q->msg->tail_len);
    job->in_len = q->msg->tail_len;
    trace_apdu(rd, job->in, job->in_len);
    submit(q, rd, job);
}

/* CONTROL, GET_ATTRIB (driver-side attributes) and SET_ATTRIB. */
static void
do_driver_io(const struct req *q, enum rm_job_type type, uint32_t handle, uint32_t code,
             uint32_t recv_max)
{
    struct rm_handle *h = handle_find(q->c, handle);
    struct rm_job *job;
    int r;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    if (park_if_locked(q, h))
        return;
    r = card_check(h);
    if (r < 0)
        return reply_err(q, r);
    job = job_new(q, type, h);
    if (!job)
        return;
    job->code = code;
    job->recv_max = recv_max;
    if (q->msg->tail_len) {
        job->in = malloc(q->msg->tail_len);
        if (!job->in) {
            rm_job_free(job);
            return reply_err(q, -ENOMEM);
        }
        memcpy(job->in, q->msg->tail, q->msg->tail_len);
        job->in_len = q->msg->tail_len;
    }
    submit(q, h->reader, job);
}

static void
do_get_attrib(const struct req *q)
{
    const struct rm_wire_attrib_req *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    struct rm_reader *rd;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    rd = h->reader;
    switch (in->attr_id) {
    case SCARD_ATTR_DEVICE_FRIENDLY_NAME_A:
    case SCARD_ATTR_DEVICE_SYSTEM_NAME_A:
        return reply(q, 0, NULL, 0, rd->name, strlen(rd->name) + 1);
    case SCARD_ATTR_ATR_STRING:
        if (!rd->present || !rd->atr_len)
            return reply_err(q, -ENOMEDIUM);
        return reply(q, 0, NULL, 0, rd->atr, rd->atr_len);
    default:
        return do_driver_io(q, JOB_GET_ATTR, in->handle, in->attr_id, RM_WIRE_ATTR_MAX);
    }
}

/* The worker's view of the card after a job is the truth; mirror it. Resets were counted
 * when the job was queued (queue_job). */
static void
apply_hw(struct rm_reader *rd, const struct rm_job *job)
{
    if (job->type == JOB_POWER && job->did_reset)
        log_debug("reader '%s': card %s", rd->name,
                  job->action == SCARD_RESET_CARD ? "reset" : "power-cycled");
    rd->powered = job->powered;
    rd->protocol = job->hw_protocol;
    rd->atr_len = job->atr_len;
    memcpy(rd->atr, job->atr, job->atr_len);
    if (job->type == JOB_POWER && job->action != ACTION_POWER_DOWN)
        rd->mute = rd->present && !job->powered;
}

static void
presence_changed(struct rm_manager *m, struct rm_reader *rd, const struct rm_job *job)
{
    char hex[3 * RM_WIRE_ATR_MAX + 1] = "";

    rd->present = job->present;
    rd->powered = job->powered;
    rd->mute = job->present && !job->powered;
    rd->protocol = 0;
    rd->atr_len = job->atr_len;
    memcpy(rd->atr, job->atr, job->atr_len);
    rd->events++;
    if (rd->present)
        rd->card_seq++;
    for (size_t i = 0; i < rd->atr_len; i++)
        snprintf(hex + 3 * i, 4, "%02X%s", rd->atr[i], i + 1 < rd->atr_len ? " " : "");
    if (rd->present)
        log_info("reader '%s': card inserted, ATR %s%s", rd->name, hex, rd->mute ? "(mute)" : "");
    else
        log_info("reader '%s': card removed", rd->name);
    m->state_changed = true;
}

static void
connected(struct rm_client *c, struct rm_handle *h, const struct rm_job *job)
{
    struct rm_wire_connect_rep out;

    if (job->status < 0) {
        handle_remove(h);
        rm_client_reply(c, job->cmd, job->seq, job->status, NULL, 0, NULL, 0);
        return;
    }
    h->connecting = false;
    h->protocol = job->hw_protocol;
    h->card_seq = h->reader->card_seq;
    h->reset_seq = h->reader->reset_seq;
    out = (struct rm_wire_connect_rep){h->id, h->protocol};
    rm_client_reply(c, job->cmd, job->seq, 0, &out, sizeof(out), NULL, 0);
}

void
rm_dispatch_job_done(struct rm_manager *m, struct rm_reader *rd, struct rm_job *job)
{
    struct rm_wire_protocol proto = {job->hw_protocol, 0};
    struct rm_client *c;
    struct rm_handle *h;
    int st = job->status;

    if (job->type == JOB_PRESENCE)
        return presence_changed(m, rd, job);
    if (rd->jobs_inflight > 0)
        rd->jobs_inflight--;
    apply_hw(rd, job);
    m->state_changed = true;
    c = job->client_id ? rm_client_find(m, job->client_id) : NULL;
    if (!c)
        return;
    h = handle_find(c, job->handle_id);
    if (h && h->reader->tx_holder == h)
        rm_tx_touch(rd); /* the end of a long call on the card is activity too */
    if (h && st == 0 && (job->cmd == RM_CMD_RECONNECT || job->cmd == RM_CMD_END_TRANSACTION)) {
        h->card_seq = rd->card_seq;
        h->reset_seq = rd->reset_seq;
        h->protocol = job->hw_protocol ? job->hw_protocol : h->protocol;
    }
    switch (job->cmd) {
    case RM_CMD_CONNECT:
        if (h)
            return connected(c, h, job);
        return rm_client_reply(c, job->cmd, job->seq, -EBADF, NULL, 0, NULL, 0);
    case RM_CMD_RECONNECT:
    case RM_CMD_TRANSMIT:
        if (st == 0 && job->cmd == RM_CMD_TRANSMIT)
            trace_response(rd, job);
        if (st < 0)
            return rm_client_reply(c, job->cmd, job->seq, st, NULL, 0, NULL, 0);
        return rm_client_reply(c, job->cmd, job->seq, 0, &proto, sizeof(proto), job->out,
                               job->out_len);
    case RM_CMD_CONTROL:
    case RM_CMD_GET_ATTRIB:
        return rm_client_reply(c, job->cmd, job->seq, st, NULL, 0, job->out,
                               st == 0 ? job->out_len : 0);
    default: /* DISCONNECT, END_TRANSACTION, SET_ATTRIB */
        return rm_client_reply(c, job->cmd, job->seq, st, NULL, 0, NULL, 0);
    }
}

bool
rm_dispatch_reset_card(struct rm_handle *h)
{
    struct rm_job *job = disposition_job(NULL, h, SCARD_RESET_CARD);

    if (!job)
        return false;
    queue_job(h->reader, job);
    return true;
}

/* A context that goes without disconnecting (exit, crash, SCardReleaseContext) gets its
 * cards reset, as on Windows (windows.md §1.6) and pcscd (MSGRemoveContext): a card left
 * verified must not serve the next application. DIRECT handles and cards already reset
 * or replaced since the handle connected are left alone. */
void
rm_dispatch_client_gone(struct rm_client *c)
{
    struct rm_handle *h;

    while ((h = LIST_FIRST(&c->handles))) {
        struct rm_reader *rd = h->reader;
        bool holder = rd->tx_holder == h || rd->exclusive == h;

        if (!h->connecting && h->share_mode != SCARD_SHARE_DIRECT && card_check(h) == 0 &&
            rm_dispatch_reset_card(h))
            sc_log(NULL, holder ? LOG_NOTICE : LOG_INFO,
                   "reader '%s': client %llu (pid %d) gone %s, resetting the card", rd->name,
                   (unsigned long long)c->id, (int)c->pid,
                   rd->tx_holder == h ? "inside a transaction"
                   : rd->exclusive == h ? "holding the card exclusively"
                   : "without disconnecting");
        handle_remove(h); /* queued after the reset: the next waiter finds the card reset */
    }
}

void
rm_dispatch(struct rm_client *c, const void *frame, size_t len)
{
    struct rm_wire_msg msg;
    struct req q = {c, &msg, frame, len};

    if (c->dead || rm_wire_decode(frame, len, false, &msg) < 0)
        return;
    if (msg.hdr.command == RM_CMD_CANCEL)
        return rm_gsc_cancel(c);
    if (!c->hello && msg.hdr.command != RM_CMD_HELLO)
        return rm_client_kill(c, "request before HELLO");
    if (!c->established && msg.hdr.command > RM_CMD_ESTABLISH)
        return reply_err(&q, -EBADF);
    if (msg.hdr.command >= RM_CMD_RECONNECT && msg.fixed_len >= sizeof(uint32_t)) {
        /* every request on a card handle starts with the handle: Windows restarts the idle
         * timer of a transaction on any call on its card (windows.md §1.5) */
        uint32_t id;
        memcpy(&id, msg.fixed, sizeof(id));
        struct rm_handle *h = handle_find(c, id);
        if (h && h->reader->tx_holder == h)
            rm_tx_touch(h->reader);
    }
    switch (msg.hdr.command) {
    case RM_CMD_HELLO:
        return do_hello(&q);
    case RM_CMD_ESTABLISH:
        c->established = true;
        return reply(&q, 0, NULL, 0, NULL, 0);
    case RM_CMD_LIST_READERS:
        return do_list_readers(&q);
    case RM_CMD_GET_STATUS_CHANGE:
        return rm_gsc_start(c, msg.hdr.seq, msg.fixed, msg.tail);
    case RM_CMD_CONNECT:
        return do_connect(&q);
    case RM_CMD_RECONNECT:
        return do_reconnect(&q);
    case RM_CMD_DISCONNECT:
        return do_disconnect(&q);
    case RM_CMD_BEGIN_TRANSACTION:
        return do_begin(&q);
    case RM_CMD_END_TRANSACTION:
        return do_end(&q);
    case RM_CMD_STATUS:
        return do_status(&q);
    case RM_CMD_TRANSMIT:
        return do_transmit(&q);
    case RM_CMD_CONTROL: {
        const struct rm_wire_control_req *in = msg.fixed;
        return do_driver_io(&q, JOB_CONTROL, in->handle, in->code, in->recv_max);
    }
    case RM_CMD_GET_ATTRIB:
        return do_get_attrib(&q);
    case RM_CMD_SET_ATTRIB: {
        const struct rm_wire_attrib_req *in = msg.fixed;
        return do_driver_io(&q, JOB_SET_ATTR, in->handle, in->attr_id, 0);
    }
    default:
        return rm_client_kill(c, "unknown command");
    }
}
