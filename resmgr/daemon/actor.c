/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The reader actor: a reader's worker thread owns that reader's card handles, share modes
 * and transaction, and serves each handle's data channel (SOCK_SEQPACKET, one frame per
 * packet) itself, with the driver call inline: a Transmit is client → worker → client.
 * The loop sends it Connect/Reconnect/Disconnect/client-gone as jobs and learns from it
 * what GetStatusChange needs. Waiters for the transaction queue first-come first-served.
 * Source: PC/SC Part 5 §3.1; windows.md §1.5–1.6; pcsc-lite winscard.c behaviour.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <reader.h>

#include "common/clock.h"
#include "common/log.h"
#include "resmgr/daemon/apdu.h"
#include "resmgr/daemon/scardd.h"

#define FRAME_MAX (sizeof(struct rm_wire_hdr) + RM_WIRE_PAYLOAD_MAX)
#define OUT_MAX RM_WIRE_APDU_MAX /* driver output buffer */

/** A card handle as its reader's actor sees it. */
struct rm_chan {
    struct rm_reader *rd;
    int fd;                       /* the actor's end of the data channel */
    uint32_t id;
    uint64_t client_id;
    pid_t pid;
    uint32_t share_mode, protocol;
    uint64_t card_seq, reset_seq; /* hw values when last (re)connected */
    bool parked;                  /* a request of it waits for the transaction: not read */
    bool dead, dead_reset;        /* dropped at the end of this turn (reset the card?) */
    const char *dead_why;
    LIST_ENTRY(rm_chan) link;
};

/** A request waiting for another handle's transaction to end. */
struct rm_parked {
    struct rm_chan *chan;
    void *frame;        /* data-channel frame, or NULL for a job of the loop */
    size_t len;
    struct rm_job *job; /* RECONNECT / DISCONNECT */
    TAILQ_ENTRY(rm_parked) link;
};

static void handle_frame(struct rm_reader *rd, struct rm_chan *ch, const void *frame, size_t len);
static void run_job(struct rm_reader *rd, struct rm_job *job);

/* ---- replies ------------------------------------------------------------------------ */

/* Send one reply frame on @p ch's data channel (header built here, the parts gathered by
 * sendmsg: no copy of the response). A channel that cannot take it (the client sends
 * without reading) is dropped. */
static void
chan_reply(struct rm_reader *rd, struct rm_chan *ch, uint16_t cmd, uint32_t seq, int status,
           const void *fixed, size_t fixed_len, const void *tail, size_t tail_len)
{
    struct rm_wire_hdr h = {.length = (uint32_t)(fixed_len + tail_len), .command = cmd,
                            .flags = RM_WIRE_F_REPLY, .seq = seq, .status = status};
    struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)fixed, fixed_len}, {(void *)tail, tail_len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};

    (void)rd;
    if (ch->dead)
        return;
    if (sendmsg(ch->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(sizeof(h) + h.length)) {
        ch->dead = true;
        ch->dead_reset = true;
        ch->dead_why = "its data channel does not take replies";
    }
}

void
rm_actor_answer_running(struct rm_reader *rd, int status)
{
    uint8_t buf[sizeof(struct rm_wire_hdr)];
    ssize_t n;

    if (rd->running_fd < 0 || rd->running_answered)
        return;
    n = rm_wire_encode(buf, sizeof(buf), rd->running_cmd, true, rd->running_seq, status, NULL, 0,
                       NULL, 0);
    if (n > 0)
        (void)!send(rd->running_fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    rd->running_answered = true;
}

/* The reply to a job of the loop carries the card state after it. */
static void
job_reply(struct rm_reader *rd, struct rm_job *job, int status)
{
    job->status = status;
    job->present = rd->hw_present;
    job->powered = rd->hw_powered;
    job->hw_protocol = job->hw_protocol ? job->hw_protocol : rd->hw_protocol;
    job->atr_len = rd->hw_atr_len;
    memcpy(job->atr, rd->hw_atr, rd->hw_atr_len);
    rm_reader_post(rd, job);
}

/* A data-channel request powered, reset or unpowered the card: the loop's mirror follows. */
static void
post_state(struct rm_reader *rd)
{
    struct rm_job *job = rm_job_new(JOB_STATE);

    if (job)
        job_reply(rd, job, 0);
}

/* ---- card state (dev->lock held) ---------------------------------------------------- */

/* W_REMOVED_CARD / W_RESET_CARD for a handle whose card went away or was reset. */
static int
card_check(const struct rm_chan *ch)
{
    const struct rm_reader *rd = ch->rd;

    if (ch->share_mode == SCARD_SHARE_DIRECT)
        return 0;
    if (!rd->hw_present || ch->card_seq != rd->hw_card_seq)
        return -ENXIO;
    if (ch->reset_seq != rd->hw_reset_seq)
        return -ESTALE;
    return 0;
}

static void
chan_resync(struct rm_chan *ch)
{
    ch->card_seq = ch->rd->hw_card_seq;
    ch->reset_seq = ch->rd->hw_reset_seq;
}

/* May the actor call the driver? Not once the reader is gone or defective. */
static int
driver_usable(struct rm_reader *rd)
{
    bool defective;

    if (rd->halted)
        return -ENODEV;
    pthread_mutex_lock(&rd->lock);
    defective = rd->hw_defective;
    pthread_mutex_unlock(&rd->lock);
    return defective ? -ENODEV : 0;
}

/* Reset (or power down) the card on behalf of a handle that goes or of nobody; nothing
 * when the card is gone, replaced or unpowered. @return true the card was touched */
static bool
dispose(struct rm_reader *rd, const struct rm_chan *ch, uint32_t disposition, int *ret)
{
    uint32_t action = disposition == SCARD_RESET_CARD ? SCARD_RESET_CARD : RM_ACTION_POWER_DOWN;

    *ret = 0;
    if ((disposition != SCARD_RESET_CARD && disposition != SCARD_UNPOWER_CARD &&
         disposition != SCARD_EJECT_CARD) || !rd->hw_present || ch->card_seq != rd->hw_card_seq ||
        !rd->hw_powered)
        return false;
    *ret = driver_usable(rd);
    if (*ret == 0)
        *ret = rm_reader_power(rd, action, 0);
    return *ret == 0;
}

/* ---- transactions ------------------------------------------------------------------- */

static void
tx_arm(struct rm_reader *rd, uint64_t at_usec)
{
    struct itimerspec its = {.it_value = {(time_t)(at_usec / 1000000u),
                                          (long)(at_usec % 1000000u) * 1000}};

    if (rd->act_tx_timer < 0)
        return;
    (void)timerfd_settime(rd->act_tx_timer, TFD_TIMER_ABSTIME, &its, NULL);
    rd->tx_armed_usec = at_usec;
}

/* Any call on the holder's card restarts the idle timer; the timerfd is re-armed lazily. */
static void
tx_touch(struct rm_reader *rd)
{
    if (!rd->act_holder || rd->m->conf.tx_idle_usec == 0)
        return;
    rd->tx_deadline_usec = sc_now_usec() + rd->m->conf.tx_idle_usec;
    if (!rd->tx_armed_usec)
        tx_arm(rd, rd->tx_deadline_usec);
}

/* Another handle holds the transaction: park the request until it ends. */
static bool
park(struct rm_reader *rd, struct rm_chan *ch, const void *frame, size_t len, struct rm_job *job)
{
    struct rm_parked *p;

    if (!rd->act_holder || rd->act_holder == ch)
        return false;
    p = calloc(1, sizeof(*p));
    if (p && frame && !(p->frame = malloc(len))) {
        free(p);
        p = NULL;
    }
    if (!p) {
        ch->dead = ch->dead_reset = true;
        ch->dead_why = "out of memory";
        if (job)
            job_reply(rd, job, -ENOMEM);
        return true;
    }
    if (frame)
        memcpy(p->frame, frame, len);
    p->len = len;
    p->chan = ch;
    p->job = job;
    ch->parked = frame != NULL; /* its data channel has a request pending */
    TAILQ_INSERT_TAIL(&rd->parked, p, link);
    log_debug("reader '%s': %s from client %llu waits for the transaction", rd->name,
              rm_wire_cmd_name(frame ? ((const struct rm_wire_hdr *)frame)->command : job->cmd),
              (unsigned long long)ch->client_id);
    return true;
}

/* The transaction ends (End, disconnect, death, timeout): run the parked requests in
 * arrival order; the first BEGIN takes the card, everything behind parks again. */
static void
tx_release(struct rm_reader *rd)
{
    TAILQ_HEAD(, rm_parked) q = TAILQ_HEAD_INITIALIZER(q);
    struct rm_parked *p;

    rd->act_holder = NULL;
    rd->tx_deadline_usec = 0;
    TAILQ_CONCAT(&q, &rd->parked, link);
    while ((p = TAILQ_FIRST(&q))) {
        TAILQ_REMOVE(&q, p, link);
        if (p->frame)
            p->chan->parked = false;
        if (p->job)
            run_job(rd, p->job);
        else if (!p->chan->dead)
            handle_frame(rd, p->chan, p->frame, p->len);
        if (p->frame)
            explicit_bzero(p->frame, p->len); /* may hold a PIN (VERIFY) */
        free(p->frame);
        free(p);
    }
}

static void
tx_expire(struct rm_reader *rd)
{
    struct rm_chan *ch = rd->act_holder;
    int r;

    log_notice("reader '%s': transaction of client %llu (pid %d) idle for more than %llu s, "
               "ending it and resetting the card", rd->name, (unsigned long long)ch->client_id,
               (int)ch->pid, (unsigned long long)(rd->m->conf.tx_idle_usec / 1000000u));
    pthread_mutex_lock(&rd->dev->lock);
    if (dispose(rd, ch, SCARD_RESET_CARD, &r)) /* the holder's next call: W_RESET_CARD */
        post_state(rd);
    pthread_mutex_unlock(&rd->dev->lock);
    tx_release(rd);
}

static void
on_tx_timer(struct rm_reader *rd)
{
    uint64_t v, now = sc_now_usec();

    (void)!read(rd->act_tx_timer, &v, sizeof(v));
    rd->tx_armed_usec = 0;
    if (!rd->act_holder || !rd->tx_deadline_usec)
        return;
    if (rd->tx_deadline_usec > now)
        tx_arm(rd, rd->tx_deadline_usec);
    else
        tx_expire(rd);
}

/* ---- data-channel requests ---------------------------------------------------------- */

struct dreq {
    struct rm_reader *rd;
    struct rm_chan *ch;
    const struct rm_wire_msg *msg;
    const void *frame;
    size_t len;
};

static void
reply(const struct dreq *q, int status, const void *fixed, size_t fixed_len, const void *tail,
      size_t tail_len)
{
    chan_reply(q->rd, q->ch, q->msg->hdr.command, q->msg->hdr.seq, status, fixed, fixed_len, tail,
               tail_len);
}

static bool
valid_disposition(uint32_t d)
{
    return d == SCARD_LEAVE_CARD || d == SCARD_RESET_CARD || d == SCARD_UNPOWER_CARD ||
           d == SCARD_EJECT_CARD;
}

static void
do_begin(const struct dreq *q)
{
    int r = card_check(q->ch); /* reset by another party: W_RESET_CARD (Windows 8+) */

    if (r == 0 && q->rd->act_holder != q->ch) {
        q->rd->act_holder = q->ch;
        tx_touch(q->rd);
        log_debug("reader '%s': transaction begins (client %llu)", q->rd->name,
                  (unsigned long long)q->ch->client_id);
    }
    reply(q, r, NULL, 0, NULL, 0);
}

/* W_RESET_CARD from End means the transaction was released (Windows 8+): also after the
 * idle timeout ended it, the holder learns it here or from its next call. */
static void
do_end(const struct dreq *q)
{
    const struct rm_wire_handle_disp *in = q->msg->fixed;
    struct rm_reader *rd = q->rd;
    int r;

    if (!valid_disposition(in->disposition))
        return reply(q, -ERANGE, NULL, 0, NULL, 0);
    r = card_check(q->ch);
    if (rd->act_holder != q->ch)
        return reply(q, r < 0 ? r : -ENOLCK, NULL, 0, NULL, 0);
    if (r == 0 && in->disposition != SCARD_LEAVE_CARD && rd->hw_powered) {
        uint32_t action = in->disposition == SCARD_RESET_CARD ? SCARD_RESET_CARD
                                                              : SCARD_UNPOWER_CARD;
        r = driver_usable(rd);
        if (r == 0)
            r = rm_reader_power(rd, action, q->ch->protocol);
        if (r == 0) {
            chan_resync(q->ch);
            q->ch->protocol = rd->hw_protocol ? rd->hw_protocol : q->ch->protocol;
        }
        post_state(rd);
    }
    reply(q, r, NULL, 0, NULL, 0);
    log_debug("reader '%s': transaction ends (client %llu)", rd->name,
              (unsigned long long)q->ch->client_id);
    rd->act_holder = NULL; /* released by the caller, after the card lock */
}

static void
do_status(const struct dreq *q)
{
    struct rm_wire_status_rep out = {0};
    struct rm_reader *rd = q->rd;
    int r = card_check(q->ch);

    if (r < 0)
        return reply(q, r, NULL, 0, NULL, 0);
    snprintf(out.reader, sizeof(out.reader), "%s", rd->name);
    if (!rd->hw_present)
        out.state = SCARD_ABSENT;
    else if (!rd->hw_powered)
        out.state = SCARD_PRESENT | SCARD_SWALLOWED;
    else
        out.state = SCARD_PRESENT | SCARD_POWERED |
                    (rd->hw_protocol ? SCARD_SPECIFIC : SCARD_NEGOTIABLE);
    out.protocol = q->ch->protocol;
    if (rd->hw_present) {
        out.atr_len = (uint32_t)rd->hw_atr_len;
        memcpy(out.atr, rd->hw_atr, rd->hw_atr_len);
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
trace(const struct rm_reader *rd, const uint8_t *apdu, size_t len, bool response)
{
    char hex[RM_APDU_TRACE_BUF];
    int prio = trace_priority(rd->m);

    if (prio < 0 || (response && len < 2))
        return;
    if (!response)
        rm_apdu_format(hex, sizeof(hex), apdu, len, rm_apdu_is_pin_command(apdu, len));
    else if (prio == LOG_DEBUG) /* --debug alone: the status word only */
        rm_apdu_format(hex, sizeof(hex), apdu + len - 2, 2, false);
    else
        rm_apdu_format(hex, sizeof(hex), apdu, len, false);
    sc_log(NULL, prio, "reader '%s': %s %s (%zu bytes)", rd->name, response ? "<" : ">", hex,
           len);
}

static const char *
call_name(uint16_t cmd)
{
    switch (cmd) {
    case RM_CMD_TRANSMIT:
        return "IFDHTransmitToICC";
    case RM_CMD_CONTROL:
        return "IFDHControl";
    case RM_CMD_GET_ATTRIB:
        return "IFDHGetCapabilities";
    default:
        return "IFDHSetCapabilities";
    }
}

/* TRANSMIT, CONTROL, GET_ATTRIB and SET_ATTRIB: one driver call, inline. */
static void
driver_io(const struct dreq *q, uint32_t code, uint32_t recv_max)
{
    struct rm_reader *rd = q->rd;
    struct rm_driver_ops *o = &rd->dev->ops;
    uint16_t cmd = q->msg->hdr.command;
    uint8_t *out = rd->act_out;
    uint8_t *in = (uint8_t *)q->msg->tail;
    DWORD in_len = (DWORD)q->msg->tail_len, n = recv_max;
    struct rm_wire_protocol proto = {q->ch->protocol, 0};
    RESPONSECODE rc;
    int r = driver_usable(rd);

    if (r < 0)
        return reply(q, r, NULL, 0, NULL, 0);
    rm_reader_call_begin(rd, call_name(cmd), q->ch->fd, cmd, q->msg->hdr.seq);
    if (cmd == RM_CMD_TRANSMIT) {
        /* the driver wants the T number (IFDHTransmitToICC), not the PC/SC bit */
        SCARD_IO_HEADER tx = {rm_ifd_protocol(rd->hw_protocol), 0}, rx = {0, 0};
        rc = o->transmit_to_icc(rd->lun, tx, in, in_len, out, &n, &rx);
    } else if (cmd == RM_CMD_CONTROL) {
        rc = o->control(rd->lun, code, in, in_len, out, recv_max, &n);
    } else if (cmd == RM_CMD_GET_ATTRIB) {
        rc = o->get_capabilities(rd->lun, code, &n, out);
    } else {
        n = 0;
        rc = o->set_capabilities(rd->lun, code, in_len, in);
    }
    if (rm_reader_call_end(rd))
        return; /* hung, answered -ENODEV by the loop meanwhile */
    r = rm_ifd_to_errno(rc);
    if (r == 0 && n > recv_max)
        r = -EIO; /* driver claims more than the buffer */
    if (r < 0)
        return reply(q, r, NULL, 0, NULL, 0);
    if (cmd == RM_CMD_TRANSMIT) {
        trace(rd, out, n, true);
        reply(q, 0, &proto, sizeof(proto), out, n);
    } else {
        reply(q, 0, NULL, 0, out, n);
    }
    explicit_bzero(out, n); /* responses may carry secrets */
}

static void
do_transmit(const struct dreq *q)
{
    const struct rm_wire_transmit_req *in = q->msg->fixed;
    struct rm_reader *rd = q->rd;
    int r = card_check(q->ch);

    if (r == 0 && !rd->hw_present)
        r = -ENOMEDIUM;
    else if (r == 0 && !rd->hw_powered)
        r = -ENOLINK;
    else if (r == 0 && !q->msg->tail_len)
        r = -EINVAL;
    else if (r == 0 && (!rd->hw_protocol || !(in->protocol & rd->hw_protocol)))
        r = -EPROTONOSUPPORT;
    if (r < 0)
        return reply(q, r, NULL, 0, NULL, 0);
    trace(rd, q->msg->tail, q->msg->tail_len, false);
    driver_io(q, 0, in->recv_max);
}

static void
do_get_attrib(const struct dreq *q)
{
    const struct rm_wire_attrib_req *in = q->msg->fixed;
    struct rm_reader *rd = q->rd;
    int r;

    switch (in->attr_id) {
    case SCARD_ATTR_DEVICE_FRIENDLY_NAME_A:
    case SCARD_ATTR_DEVICE_SYSTEM_NAME_A:
        return reply(q, 0, NULL, 0, rd->name, strlen(rd->name) + 1);
    case SCARD_ATTR_ATR_STRING:
        if (!rd->hw_present || !rd->hw_atr_len)
            return reply(q, -ENOMEDIUM, NULL, 0, NULL, 0);
        return reply(q, 0, NULL, 0, rd->hw_atr, rd->hw_atr_len);
    default:
        break;
    }
    r = card_check(q->ch);
    if (r < 0)
        return reply(q, r, NULL, 0, NULL, 0);
    driver_io(q, in->attr_id, RM_WIRE_ATTR_MAX);
}

/* Requests that wait while another handle holds the transaction. */
static bool
parks(uint16_t cmd, uint32_t attr_id)
{
    if (cmd == RM_CMD_GET_ATTRIB)
        return attr_id != SCARD_ATTR_DEVICE_FRIENDLY_NAME_A &&
               attr_id != SCARD_ATTR_DEVICE_SYSTEM_NAME_A && attr_id != SCARD_ATTR_ATR_STRING;
    return cmd != RM_CMD_STATUS && cmd != RM_CMD_END_TRANSACTION;
}

/* One validated frame from @p ch (read now, or parked before). */
static void
handle_frame(struct rm_reader *rd, struct rm_chan *ch, const void *frame, size_t len)
{
    struct rm_wire_msg msg;
    struct dreq q = {rd, ch, &msg, frame, len};
    uint32_t code = 0;
    bool ended;

    if (rm_wire_decode(frame, len, false, &msg) < 0)
        return;
    if (msg.hdr.command == RM_CMD_GET_ATTRIB || msg.hdr.command == RM_CMD_SET_ATTRIB)
        code = ((const struct rm_wire_attrib_req *)msg.fixed)->attr_id;
    else if (msg.hdr.command == RM_CMD_CONTROL)
        code = ((const struct rm_wire_control_req *)msg.fixed)->code;
    if (rd->act_holder == ch)
        tx_touch(rd); /* Windows restarts the idle timer on any call on its card */
    if (parks(msg.hdr.command, code) && park(rd, ch, frame, len, NULL))
        return;
    pthread_mutex_lock(&rd->dev->lock);
    switch (msg.hdr.command) {
    case RM_CMD_BEGIN_TRANSACTION:
        do_begin(&q);
        break;
    case RM_CMD_END_TRANSACTION:
        do_end(&q);
        break;
    case RM_CMD_STATUS:
        do_status(&q);
        break;
    case RM_CMD_TRANSMIT:
        do_transmit(&q);
        break;
    case RM_CMD_GET_ATTRIB:
        do_get_attrib(&q);
        break;
    default: { /* CONTROL, SET_ATTRIB */
        int r = card_check(ch);
        if (r < 0)
            reply(&q, r, NULL, 0, NULL, 0);
        else
            driver_io(&q, code, msg.hdr.command == RM_CMD_CONTROL
                                    ? ((const struct rm_wire_control_req *)msg.fixed)->recv_max
                                    : 0);
        break;
    }
    }
    pthread_mutex_unlock(&rd->dev->lock);
    ended = msg.hdr.command == RM_CMD_END_TRANSACTION && !rd->act_holder;
    if (rd->act_holder == ch)
        tx_touch(rd); /* the end of a long call on the card is activity too */
    if (ended)
        tx_release(rd);
}

/* ---- handles: connect, reconnect, disconnect, drop (jobs of the loop) ----------------- */

static struct rm_chan *
chan_find(struct rm_reader *rd, uint32_t id)
{
    struct rm_chan *ch;
    LIST_FOREACH(ch, &rd->chans, link)
        if (ch->id == id)
            return ch;
    return NULL;
}

/* DIRECT handles need neither a card nor a protocol; they count as users of the reader, so
 * EXCLUSIVE and DIRECT exclude each other as pcsc-lite does (Windows: DIRECT is exclusive). */
static int
connect_card(struct rm_reader *rd, struct rm_job *job, uint32_t *ret_protocol)
{
    int r;

    if (rd->act_exclusive || (job->share_mode == SCARD_SHARE_EXCLUSIVE && rd->n_chans > 0))
        return -EBUSY;
    *ret_protocol = SCARD_PROTOCOL_UNDEFINED;
    if (job->share_mode == SCARD_SHARE_DIRECT)
        return 0;
    if (!rd->hw_present)
        return -ENOMEDIUM;
    if (rd->hw_protocol && !(rd->hw_protocol & job->protocols))
        return -EPROTONOSUPPORT;
    r = driver_usable(rd);
    if (r == 0)
        r = rm_reader_power(rd, SCARD_LEAVE_CARD, job->protocols);
    *ret_protocol = rd->hw_protocol;
    return r;
}

static void
do_connect(struct rm_reader *rd, struct rm_job *job)
{
    struct epoll_event ev = {.events = EPOLLIN};
    struct rm_chan *ch;
    uint32_t protocol = 0;
    int r;

    pthread_mutex_lock(&rd->dev->lock);
    r = rd->halted ? -ENODEV : connect_card(rd, job, &protocol);
    ch = r == 0 ? calloc(1, sizeof(*ch)) : NULL;
    if (r == 0 && !ch)
        r = -ENOMEM;
    if (ch) {
        *ch = (struct rm_chan){.rd = rd, .fd = job->fd, .id = job->handle_id,
                               .client_id = job->client_id, .pid = job->pid,
                               .share_mode = job->share_mode, .protocol = protocol};
        chan_resync(ch);
        ev.data.ptr = ch;
        if (epoll_ctl(rd->act_epoll, EPOLL_CTL_ADD, ch->fd, &ev) < 0) {
            r = -errno;
            free(ch);
            ch = NULL;
        }
    }
    if (ch) {
        job->fd = -1; /* the channel owns it now */
        LIST_INSERT_HEAD(&rd->chans, ch, link);
        rd->n_chans++;
        if (ch->share_mode == SCARD_SHARE_EXCLUSIVE)
            rd->act_exclusive = ch;
    }
    job->hw_protocol = protocol;
    job_reply(rd, job, r);
    pthread_mutex_unlock(&rd->dev->lock);
}

/* The protocol in use must stay among the preferred ones unless the card is reset for a
 * sole user (windows.md §1.6: "must include the current protocol"). */
static bool
reconnect_protocol_ok(const struct rm_reader *rd, const struct rm_job *job)
{
    if (job->share_mode == SCARD_SHARE_DIRECT && !job->protocols)
        return true;
    if (!rd->hw_protocol || (job->protocols & rd->hw_protocol))
        return true;
    return job->action != SCARD_LEAVE_CARD && rd->n_chans == 1;
}

static int
reconnect(struct rm_reader *rd, struct rm_chan *ch, struct rm_job *job)
{
    int r;

    if (job->share_mode == SCARD_SHARE_EXCLUSIVE && rd->n_chans > 1)
        return -EBUSY;
    if (!rd->hw_present)
        return rd->halted ? -ENODEV : -ENOMEDIUM;
    if (!reconnect_protocol_ok(rd, job))
        return -EPROTONOSUPPORT;
    if (rd->act_exclusive == ch && job->share_mode != SCARD_SHARE_EXCLUSIVE)
        rd->act_exclusive = NULL;
    else if (job->share_mode == SCARD_SHARE_EXCLUSIVE)
        rd->act_exclusive = ch;
    ch->share_mode = job->share_mode;
    r = driver_usable(rd);
    if (r == 0)
        /* EJECT: no IFD handler v3 can eject, so it unpowers, as pcsc-lite does */
        r = rm_reader_power(rd, job->action == SCARD_EJECT_CARD ? SCARD_UNPOWER_CARD
                                                                : job->action,
                            job->protocols);
    if (r == 0) {
        chan_resync(ch);
        ch->protocol = rd->hw_protocol ? rd->hw_protocol : ch->protocol;
    }
    return r;
}

static void
do_reconnect(struct rm_reader *rd, struct rm_job *job)
{
    struct rm_chan *ch = chan_find(rd, job->handle_id);
    int r;

    if (!ch || ch->dead)
        return job_reply(rd, job, -EBADF);
    if (rd->act_holder == ch)
        tx_touch(rd);
    if (park(rd, ch, NULL, 0, job))
        return;
    pthread_mutex_lock(&rd->dev->lock);
    r = reconnect(rd, ch, job);
    job->share_mode = ch->share_mode;
    job->hw_protocol = ch->protocol;
    job_reply(rd, job, r);
    pthread_mutex_unlock(&rd->dev->lock);
}

/* Take @p ch out: its parked requests go, the channel closes, the transaction (if it held
 * it) is released. With @p reset the card is reset first, as for a dead client. Only at
 * the end of a turn (reap()), so that nothing in progress still points at @p ch. */
static void
chan_free(struct rm_reader *rd, struct rm_chan *ch, bool reset)
{
    struct rm_parked *p, *next;
    bool holder = rd->act_holder == ch;
    int r;

    pthread_mutex_lock(&rd->dev->lock);
    if (reset && ch->share_mode != SCARD_SHARE_DIRECT && card_check(ch) == 0 &&
        dispose(rd, ch, SCARD_RESET_CARD, &r)) {
        sc_log(NULL, holder || rd->act_exclusive == ch ? LOG_NOTICE : LOG_INFO,
               "reader '%s': client %llu (pid %d) %s %s, resetting the card", rd->name,
               (unsigned long long)ch->client_id, (int)ch->pid,
               ch->dead_why ? ch->dead_why : "gone",
               holder ? "inside a transaction"
               : rd->act_exclusive == ch ? "holding the card exclusively"
               : "without disconnecting");
        post_state(rd);
    }
    pthread_mutex_unlock(&rd->dev->lock);
    for (p = TAILQ_FIRST(&rd->parked); p; p = next) {
        next = TAILQ_NEXT(p, link);
        if (p->chan != ch)
            continue;
        TAILQ_REMOVE(&rd->parked, p, link);
        if (p->job)
            job_reply(rd, p->job, -EBADF);
        if (p->frame)
            explicit_bzero(p->frame, p->len);
        free(p->frame);
        free(p);
    }
    LIST_REMOVE(ch, link);
    rd->n_chans--;
    if (rd->act_exclusive == ch)
        rd->act_exclusive = NULL;
    (void)epoll_ctl(rd->act_epoll, EPOLL_CTL_DEL, ch->fd, NULL);
    close(ch->fd);
    free(ch);
    if (holder)
        tx_release(rd);
}

static void
do_disconnect(struct rm_reader *rd, struct rm_job *job)
{
    struct rm_chan *ch = chan_find(rd, job->handle_id);
    int r = 0;

    if (!ch || ch->dead)
        return job_reply(rd, job, ch ? 0 : -EBADF); /* dead: going anyway */
    if (job->action != SCARD_LEAVE_CARD && park(rd, ch, NULL, 0, job))
        return;
    pthread_mutex_lock(&rd->dev->lock);
    if (dispose(rd, ch, job->action, &r) || r < 0)
        post_state(rd);
    pthread_mutex_unlock(&rd->dev->lock);
    log_debug("client %llu: disconnect '%s' disposition %u", (unsigned long long)ch->client_id,
              rd->name, job->action);
    job_reply(rd, job, r); /* before the waiters the release wakes: they find the card reset */
    ch->dead = true; /* freed, and the transaction released, at the end of this turn */
    ch->dead_reset = false;
    ch->dead_why = NULL;
}

/* The loop's view of @p ch must go too (channel closed, or a bad frame on it). */
static void
post_gone(struct rm_reader *rd, uint32_t id)
{
    struct rm_job *job = rm_job_new(JOB_GONE);

    if (job) {
        job->handle_id = id;
        rm_reader_post(rd, job);
    }
}

static void
run_job(struct rm_reader *rd, struct rm_job *job)
{
    struct rm_chan *ch;

    switch (job->type) {
    case JOB_CONNECT:
        return do_connect(rd, job);
    case JOB_RECONNECT:
        return do_reconnect(rd, job);
    case JOB_DISCONNECT:
        return do_disconnect(rd, job);
    case JOB_DROP:
        ch = chan_find(rd, job->handle_id);
        if (ch && !ch->dead) {
            ch->dead = true;
            ch->dead_reset = !job->no_reset;
        }
        if (rd->halted) /* the loop may now free the reader */
            post_gone(rd, job->handle_id);
        break;
    case JOB_HALT:
        pthread_mutex_lock(&rd->dev->lock);
        rd->halted = true;
        rd->hw_present = rd->hw_powered = false;
        rd->hw_atr_len = 0;
        rd->hw_protocol = 0;
        pthread_mutex_unlock(&rd->dev->lock);
        break;
    default:
        break;
    }
    rm_job_free(job);
}

/* ---- the thread ---------------------------------------------------------------------- */

/* Drop the channels marked dead this turn (closed, bad frame, client gone). */
static void
reap(struct rm_reader *rd)
{
    struct rm_chan *ch;
    bool again = true;

    while (again) {
        again = false;
        LIST_FOREACH(ch, &rd->chans, link) {
            if (!ch->dead)
                continue;
            if (ch->dead_why && strcmp(ch->dead_why, "gone") != 0)
                log_warning("reader '%s': client %llu (pid %d) handle dropped: %s", rd->name,
                            (unsigned long long)ch->client_id, (int)ch->pid, ch->dead_why);
            if (ch->dead_why) /* not the loop's doing: it must forget the handle too */
                post_gone(rd, ch->id);
            chan_free(rd, ch, ch->dead_reset);
            again = true; /* the list changed (and the release may have marked others) */
            break;
        }
    }
}

/* Read one packet from @p ch: one request, checked before anything looks at it. A packet
 * that is not a valid data-channel request drops this handle only. */
static void
on_chan(struct rm_reader *rd, struct rm_chan *ch, uint32_t events)
{
    struct iovec iov = {rd->act_in, FRAME_MAX};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    struct rm_wire_msg msg;
    uint32_t id;
    ssize_t n;

    if (ch->dead)
        return;
    if (ch->parked) { /* a second request while the first waits: libscard never does that */
        ch->dead = ch->dead_reset = true;
        ch->dead_why = events & EPOLLIN ? "request while another is pending" : "gone";
        return;
    }
    n = recvmsg(ch->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && !(events & (EPOLLHUP | EPOLLERR)))
        return;
    if (n <= 0) {
        ch->dead = ch->dead_reset = true;
        ch->dead_why = "gone";
        return;
    }
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        rm_wire_decode(rd->act_in, (size_t)n, false, &msg) < 0 ||
        !rm_wire_cmd_on_data_channel(msg.hdr.command) || msg.fixed_len < sizeof(id) ||
        (memcpy(&id, msg.fixed, sizeof(id)), id != ch->id)) {
        ch->dead = ch->dead_reset = true;
        ch->dead_why = "malformed frame on the data channel";
        return;
    }
    handle_frame(rd, ch, rd->act_in, (size_t)n);
}

static void
on_wake(struct rm_reader *rd, bool *stop)
{
    struct rm_job_queue q = TAILQ_HEAD_INITIALIZER(q);
    struct rm_job *job;
    uint64_t v;

    (void)!read(rd->wake_fd, &v, sizeof(v));
    pthread_mutex_lock(&rd->lock);
    TAILQ_CONCAT(&q, &rd->todo, link);
    *stop = rd->stop;
    pthread_mutex_unlock(&rd->lock);
    while ((job = TAILQ_FIRST(&q))) {
        TAILQ_REMOVE(&q, job, link);
        if (*stop)
            rm_job_free(job);
        else
            run_job(rd, job);
    }
}

/* Milliseconds to the next presence check (polled drivers); -1 none. */
static int
poll_timeout(struct rm_reader *rd, uint64_t next_poll_usec)
{
    uint64_t now;
    bool defective;

    if (rd->poll_fn || rd->halted)
        return -1;
    pthread_mutex_lock(&rd->lock);
    defective = rd->hw_defective;
    pthread_mutex_unlock(&rd->lock);
    if (defective)
        return -1;
    now = sc_now_usec();
    return next_poll_usec <= now ? 0 : (int)((next_poll_usec - now + 999) / 1000);
}

void *
rm_actor_main(void *userdata)
{
    struct rm_reader *rd = userdata;
    struct epoll_event evs[16];
    uint64_t next_poll = 0;
    bool stop = false;

    while (!stop) {
        int n, timeout = poll_timeout(rd, next_poll);

        if (timeout == 0) {
            /* a stream of requests never pushes the next presence check further away */
            rm_reader_check_presence(rd);
            next_poll = sc_now_usec() + rd->poll_usec;
            continue;
        }
        n = epoll_wait(rd->act_epoll, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
        for (int i = 0; i < n && !stop; i++) {
            void *p = evs[i].data.ptr;
            if (p == &rd->wake_fd)
                on_wake(rd, &stop);
            else if (p == &rd->act_tx_timer)
                on_tx_timer(rd);
            else
                on_chan(rd, p, evs[i].events);
        }
        if (!stop)
            reap(rd);
    }
    return NULL;
}

static int
watch(struct rm_reader *rd, int fd, void *ptr)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ptr};
    return epoll_ctl(rd->act_epoll, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int
rm_actor_init(struct rm_reader *rd)
{
    int r;

    LIST_INIT(&rd->chans);
    TAILQ_INIT(&rd->parked);
    rd->running_fd = -1;
    rd->act_in = malloc(FRAME_MAX);
    rd->act_out = malloc(OUT_MAX);
    if (!rd->act_in || !rd->act_out)
        return -ENOMEM;
    rd->act_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (rd->act_epoll < 0)
        return -errno;
    r = watch(rd, rd->wake_fd, &rd->wake_fd);
    if (r < 0 || rd->m->conf.tx_idle_usec == 0)
        return r;
    rd->act_tx_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (rd->act_tx_timer < 0)
        return -errno;
    return watch(rd, rd->act_tx_timer, &rd->act_tx_timer);
}

void
rm_actor_done(struct rm_reader *rd)
{
    struct rm_parked *p;
    struct rm_chan *ch;

    while ((p = TAILQ_FIRST(&rd->parked))) {
        TAILQ_REMOVE(&rd->parked, p, link);
        rm_job_free(p->job);
        free(p->frame);
        free(p);
    }
    while ((ch = LIST_FIRST(&rd->chans))) {
        LIST_REMOVE(ch, link);
        close(ch->fd);
        free(ch);
    }
    if (rd->act_epoll >= 0)
        close(rd->act_epoll);
    if (rd->act_tx_timer >= 0)
        close(rd->act_tx_timer);
    rd->act_epoll = rd->act_tx_timer = -1;
    free(rd->act_in);
    free(rd->act_out);
    rd->act_in = rd->act_out = NULL;
}
