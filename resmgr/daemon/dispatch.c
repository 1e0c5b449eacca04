/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Request handlers of scardd's context sockets: handshake, reader list, and the life of
 * card handles. Connect creates the handle's data channel (actor.c serves it);
 * Connect/Reconnect/Disconnect and a client's death become jobs for the reader's actor,
 * which owns share modes, dispositions and transactions, and are answered when the job
 * comes back. The loop keeps what GetStatusChange needs (tracking.c).
 * Source: PC/SC Part 5 §3.1; windows.md §1.5–1.6; pcsc-lite winscard.c behaviour.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <reader.h>

#include "common/log.h"
#include "resmgr/daemon/apdu.h"
#include "resmgr/daemon/scardd.h"

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

/* The loop's record of a handle goes (the actor's is dropped by the caller's job). */
static void
handle_remove(struct rm_handle *h)
{
    struct rm_reader *rd = h->reader;

    LIST_REMOVE(h, link);
    rd->n_handles--;
    if (rd->exclusive == h)
        rd->exclusive = NULL;
    free(h);
    rd->m->state_changed = true;
}

static struct rm_job *
job_new(const struct req *q, enum rm_job_type type, const struct rm_handle *h)
{
    struct rm_job *job = rm_job_new(type);

    if (!job) {
        reply_err(q, -ENOMEM);
        return NULL;
    }
    job->client_id = q->c->id;
    job->pid = q->c->pid;
    job->seq = q->msg->hdr.seq;
    job->cmd = q->msg->hdr.command;
    job->handle_id = h ? h->id : 0;
    return job;
}

/* Hand @p job to the actor of @p rd; the client waits for its answer. */
static void
submit(const struct req *q, struct rm_reader *rd, struct rm_job *job)
{
    q->c->busy = true;
    rm_reader_submit(rd, job);
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
    q->c->minor = in->minor;
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

/* The share-mode and card checks are the actor's (actor.c); here: the reader, the values,
 * the limit, and the data channel whose client end goes back with the reply. */
static void
do_connect(const struct req *q)
{
    const struct rm_wire_connect_req *in = q->msg->fixed;
    struct rm_manager *m = q->c->m;
    struct rm_reader *rd = reader_find(m, in->reader);
    uint32_t share = in->share_mode, want = in->protocols;
    struct rm_handle *h;
    struct rm_job *job;
    int sv[2];

    if (q->c->minor < RM_WIRE_MINOR_DATA_CHANNEL)
        return reply_err(q, -EPROTONOSUPPORT); /* it would not take the data channel */
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
    h = calloc(1, sizeof(*h));
    job = h ? job_new(q, JOB_CONNECT, NULL) : NULL;
    if (!job) {
        free(h);
        return h ? (void)0 : reply_err(q, -ENOMEM);
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        int r = -errno;
        free(h);
        rm_job_free(job);
        log_warning_errno(r, "client %llu: cannot create a data channel",
                          (unsigned long long)q->c->id);
        return reply_err(q, r == -EMFILE || r == -ENFILE ? -ENOMEM : r);
    }
    *h = (struct rm_handle){.id = ++m->next_handle_id, .client = q->c, .reader = rd,
                            .share_mode = share, .connecting = true};
    LIST_INSERT_HEAD(&q->c->handles, h, link);
    rd->n_handles++;
    if (share == SCARD_SHARE_EXCLUSIVE)
        rd->exclusive = h;
    m->state_changed = true;
    log_debug("client %llu: connect '%s' share %u protocols 0x%x", (unsigned long long)q->c->id,
              rd->name, share, want);
    job->handle_id = h->id;
    job->share_mode = share;
    job->protocols = want;
    job->fd = sv[0];
    job->peer_fd = sv[1];
    submit(q, rd, job);
}

static void
do_reconnect(const struct req *q)
{
    const struct rm_wire_reconnect_req *in = q->msg->fixed;
    struct rm_handle *h = handle_find(q->c, in->handle);
    struct rm_job *job;

    if (!h || h->connecting)
        return reply_err(q, -EBADF);
    if (!valid_share_mode(in->share_mode) || !valid_disposition(in->initialization))
        return reply_err(q, -ERANGE);
    job = job_new(q, JOB_RECONNECT, h);
    if (!job)
        return;
    job->share_mode = in->share_mode;
    job->protocols = in->protocols;
    job->action = in->initialization;
    submit(q, h->reader, job);
}

/* A defective reader's actor may be stuck in the driver: the handle goes at once. */
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
    rd = h->reader;
    job = job_new(q, rd->defective ? JOB_DROP : JOB_DISCONNECT, h);
    if (!job)
        return;
    job->action = in->disposition;
    if (!rd->defective)
        return submit(q, rd, job);
    job->no_reset = true;
    rm_reader_submit(rd, job);
    handle_remove(h);
    reply_err(q, in->disposition == SCARD_LEAVE_CARD ? 0 : -ENODEV);
}

/* The actor's view of the card after a job is the truth; mirror it. */
static void
apply_hw(struct rm_reader *rd, const struct rm_job *job)
{
    if (rd->gone)
        return;
    rd->powered = job->powered;
    rd->protocol = job->hw_protocol;
    rd->atr_len = job->atr_len;
    memcpy(rd->atr, job->atr, job->atr_len);
    if (job->type == JOB_RECONNECT || (job->type == JOB_CONNECT &&
                                         job->share_mode != SCARD_SHARE_DIRECT))
        rd->mute = rd->present && !job->powered;
}

static void
presence_changed(struct rm_manager *m, struct rm_reader *rd, const struct rm_job *job)
{
    char hex[3 * RM_WIRE_ATR_MAX + 1] = "";

    if (rd->gone)
        return;
    rd->present = job->present;
    rd->powered = job->powered;
    rd->mute = job->present && !job->powered;
    rd->protocol = 0;
    rd->atr_len = job->atr_len;
    memcpy(rd->atr, job->atr, job->atr_len);
    rd->events++;
    for (size_t i = 0; i < rd->atr_len; i++)
        snprintf(hex + 3 * i, 4, "%02X%s", rd->atr[i], i + 1 < rd->atr_len ? " " : "");
    if (rd->present)
        log_info("reader '%s': card inserted, ATR %s%s", rd->name, hex, rd->mute ? "(mute)" : "");
    else
        log_info("reader '%s': card removed", rd->name);
    m->state_changed = true;
}

static void
connected(struct rm_client *c, struct rm_handle *h, struct rm_job *job)
{
    struct rm_wire_connect_rep out;

    if (job->status < 0) {
        handle_remove(h);
        rm_client_reply(c, job->cmd, job->seq, job->status, NULL, 0, NULL, 0);
        return;
    }
    h->connecting = false;
    out = (struct rm_wire_connect_rep){h->id, job->hw_protocol};
    rm_client_reply_fd(c, job->cmd, job->seq, &out, sizeof(out), job->peer_fd);
}

/* Find the loop's handle @p id of whichever client has it (JOB_GONE). */
static struct rm_handle *
handle_find_any(struct rm_manager *m, uint32_t id, struct rm_reader *rd)
{
    struct rm_client *c;
    struct rm_handle *h;

    LIST_FOREACH(c, &m->clients, link)
        if ((h = handle_find(c, id)) && h->reader == rd)
            return h;
    return NULL;
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
    if (job->type == JOB_GONE) { /* data channel closed or misbehaved: the handle is gone */
        if ((h = handle_find_any(m, job->handle_id, rd)))
            handle_remove(h);
        m->state_changed = true;
        return;
    }
    apply_hw(rd, job);
    m->state_changed = true;
    c = job->client_id && job->type != JOB_STATE ? rm_client_find(m, job->client_id) : NULL;
    if (!c)
        return;
    h = handle_find(c, job->handle_id);
    switch (job->type) {
    case JOB_CONNECT:
        if (h)
            return connected(c, h, job);
        return rm_client_reply(c, job->cmd, job->seq, -EBADF, NULL, 0, NULL, 0);
    case JOB_RECONNECT:
        if (h && h->share_mode != job->share_mode && st != -EBADF) {
            if (rd->exclusive == h && job->share_mode != SCARD_SHARE_EXCLUSIVE)
                rd->exclusive = NULL;
            else if (job->share_mode == SCARD_SHARE_EXCLUSIVE)
                rd->exclusive = h;
            h->share_mode = job->share_mode;
        }
        if (st < 0)
            return rm_client_reply(c, job->cmd, job->seq, st, NULL, 0, NULL, 0);
        return rm_client_reply(c, job->cmd, job->seq, 0, &proto, sizeof(proto), NULL, 0);
    case JOB_DISCONNECT:
        if (h)
            handle_remove(h);
        return rm_client_reply(c, job->cmd, job->seq, st, NULL, 0, NULL, 0);
    default:
        return;
    }
}

/* A context that goes without disconnecting (exit, crash, SCardReleaseContext) gets its
 * cards reset, as on Windows (windows.md §1.6) and pcscd (MSGRemoveContext): a card left
 * verified must not serve the next application. The actor decides (actor.c: DIRECT
 * handles and cards already reset or replaced are left alone) and logs it. */
void
rm_dispatch_client_gone(struct rm_client *c)
{
    struct rm_handle *h;

    while ((h = LIST_FIRST(&c->handles))) {
        struct rm_job *job = rm_job_new(JOB_DROP);
        if (job) {
            job->handle_id = h->id;
            job->client_id = c->id;
            job->no_reset = h->connecting;
            rm_reader_submit(h->reader, job);
        }
        handle_remove(h); /* without memory the actor still sees the channel close */
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
    if (rm_wire_cmd_on_data_channel(msg.hdr.command))
        return reply_err(&q, -EBADF); /* per-handle requests go on the handle's channel */
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
    default:
        return rm_client_kill(c, "unknown command");
    }
}
