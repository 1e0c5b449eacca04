/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The connection behind one SCARDCONTEXT: finding and connecting to scardd's socket,
 * the version handshake, and one request/reply exchange at a time. The library is
 * quiet unless $SCARD_DEBUG is set; then it logs to stderr.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "resmgr/client/client.h"
#include "resmgr/proto/conf.h"

static void
stderr_sink(void *userdata, int priority, const char *msg)
{
    (void)userdata;
    fprintf(stderr, "libscard[%d] <%d>: %s\n", (int)getpid(), priority, msg);
}

static struct sc_logger
make_logger(void)
{
    const char *e = getenv("SCARD_DEBUG");
    return (struct sc_logger){.sink = stderr_sink, .max_priority = e && *e ? LOG_DEBUG : -1};
}

/* $SCARD_SOCKET, else [resmgr] socket, else the built-in default. */
static int
socket_path(const struct sc_logger *lg, char *buf, size_t size)
{
    const char *env = getenv("SCARD_SOCKET");
    struct rm_conf conf;
    int r;

    if (env && *env) {
        r = snprintf(buf, size, "%s", env) < (int)size ? 0 : -ENAMETOOLONG;
        return r;
    }
    r = rm_conf_load(NULL, &conf, lg);
    if (r < 0)
        sc_log(lg, LOG_DEBUG, "configuration not usable, using the default socket");
    const char *p = r >= 0 && conf.socket ? conf.socket : SC_DEFAULT_SOCKET;
    r = snprintf(buf, size, "%s", p) < (int)size ? 0 : -ENAMETOOLONG;
    rm_conf_done(&conf);
    return r;
}

static int
write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return RMC_E_GONE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return RMC_E_GONE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Frame and send one request; called with send_lock held. */
static int
send_request(struct rmc_ctx *ctx, uint16_t cmd, uint32_t seq, const void *fixed, size_t fixed_len,
             const void *tail, size_t tail_len)
{
    size_t size = sizeof(struct rm_wire_hdr) + fixed_len + tail_len;
    _cleanup_free_ void *buf = malloc(size);
    ssize_t n;

    if (!buf)
        return -ENOMEM;
    n = rm_wire_encode(buf, size, cmd, false, seq, 0, fixed, fixed_len, tail, tail_len);
    if (n < 0)
        return (int)n;
    return write_all(ctx->fd, buf, (size_t)n);
}

/* Read the header of a reply; a file descriptor passed with it (SCM_RIGHTS, on the first
 * byte) goes to *@p ret_fd (close-on-exec), any extra one is closed. */
static int
read_header(int fd, struct rm_wire_hdr *h, int *ret_fd)
{
    uint8_t *p = (uint8_t *)h;
    size_t len = sizeof(*h);

    while (len > 0) {
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(int) * 4)];
        } ctl;
        struct iovec iov = {p, len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                            .msg_controllen = sizeof(ctl.space)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return RMC_E_GONE;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfd; i++) {
                int got;
                memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (*ret_fd < 0)
                    *ret_fd = got;
                else
                    close(got);
            }
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
recv_reply(struct rmc_ctx *ctx, uint16_t cmd, uint32_t seq, struct rmc_reply *ret)
{
    _cleanup_close_ int fd = -1;
    struct rm_wire_hdr h;
    uint8_t *buf;
    int r;

    r = read_header(ctx->fd, &h, &fd);
    if (r < 0)
        return r;
    r = rm_wire_check_header(&h, true);
    if (r < 0 || h.command != cmd || h.seq != seq)
        return -EPROTO;
    if (!!(h.flags & RM_WIRE_F_FD) != (fd >= 0))
        return -EPROTO; /* a data channel announced and missing, or one not announced */
    buf = malloc(sizeof(h) + h.length);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, &h, sizeof(h));
    r = read_all(ctx->fd, buf + sizeof(h), h.length);
    if (r == 0)
        r = rm_wire_decode(buf, sizeof(h) + h.length, true, &ret->msg);
    if (r < 0) {
        free(buf);
        return r == RMC_E_GONE ? r : -EPROTO;
    }
    ret->buf = buf;
    ret->fd = TAKE_FD(fd);
    return 0;
}

int
rmc_call(struct rmc_ctx *ctx, uint16_t cmd, const void *fixed, size_t fixed_len, const void *tail,
         size_t tail_len, struct rmc_reply *ret)
{
    uint32_t seq;
    int r;

    *ret = (struct rmc_reply){.fd = -1};
    pthread_mutex_lock(&ctx->io_lock);
    if (atomic_load(&ctx->broken)) {
        r = RMC_E_GONE;
        goto out;
    }
    seq = ++ctx->seq;
    pthread_mutex_lock(&ctx->send_lock);
    r = send_request(ctx, cmd, seq, fixed, fixed_len, tail, tail_len);
    pthread_mutex_unlock(&ctx->send_lock);
    if (r == 0)
        r = recv_reply(ctx, cmd, seq, ret);
    if (r == RMC_E_GONE || r == -EPROTO) {
        sc_log(&ctx->log, LOG_DEBUG, "%s: connection to scardd lost (%s)", rm_wire_cmd_name(cmd),
               strerror(-r));
        atomic_store(&ctx->broken, true);
        goto out;
    }
    if (r == 0)
        r = ret->msg.hdr.status;
    if (r < 0)
        sc_log(&ctx->log, LOG_DEBUG, "%s: %s", rm_wire_cmd_name(cmd), strerror(-r));
out:
    pthread_mutex_unlock(&ctx->io_lock);
    return r;
}

void
rmc_reply_done(struct rmc_reply *r)
{
    free(r->buf);
    if (r->fd >= 0)
        close(r->fd);
    *r = (struct rmc_reply){.fd = -1};
}

/* ---- data channels ----------------------------------------------------------------- */

int
rmc_chan_new(int fd, struct rmc_chan **ret)
{
    struct rmc_chan *ch = calloc(1, sizeof(*ch));

    if (!ch) {
        close(fd);
        return -ENOMEM;
    }
    ch->fd = fd;
    ch->pid = getpid();
    atomic_init(&ch->refs, 1);
    atomic_init(&ch->broken, false);
    pthread_mutex_init(&ch->lock, NULL);
    *ret = ch;
    return 0;
}

void
rmc_chan_unref(struct rmc_chan *ch)
{
    if (!ch || atomic_fetch_sub(&ch->refs, 1) != 1)
        return;
    if (ch->fd >= 0)
        close(ch->fd);
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

/* Send one request packet: header and fixed part from the stack, the tail gathered. */
static int
chan_send(struct rmc_chan *ch, uint16_t cmd, uint32_t seq, const void *fixed, size_t fixed_len,
          const void *tail, size_t tail_len)
{
    uint8_t head[sizeof(struct rm_wire_hdr) + 32];
    struct rm_wire_hdr h = {.length = (uint32_t)(fixed_len + tail_len), .command = cmd, .seq = seq};
    struct iovec iov[2] = {{head, sizeof(h) + fixed_len}, {(void *)tail, tail_len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n;

    if (fixed_len > sizeof(head) - sizeof(h) || tail_len > RM_WIRE_APDU_MAX)
        return -EINVAL;
    memcpy(head, &h, sizeof(h));
    memcpy(head + sizeof(h), fixed, fixed_len);
    do
        n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)(sizeof(h) + fixed_len + tail_len) ? 0 : RMC_E_GONE;
}

static int
chan_recv(struct rmc_chan *ch, uint16_t cmd, uint32_t seq, size_t tail_max,
          struct rmc_reply *ret)
{
    /* the largest fixed part of a data-channel reply is STATUS's */
    size_t size = sizeof(struct rm_wire_hdr) + sizeof(struct rm_wire_status_rep) + tail_max;
    uint8_t *buf = malloc(size);
    ssize_t n;
    int r;

    if (!buf)
        return -ENOMEM;
    do
        n = recv(ch->fd, buf, size, MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        free(buf);
        return RMC_E_GONE;
    }
    if ((size_t)n > size) { /* longer than any reply to this request */
        free(buf);
        return -EPROTO;
    }
    r = rm_wire_decode(buf, (size_t)n, true, &ret->msg);
    if (r < 0 || ret->msg.hdr.command != cmd || ret->msg.hdr.seq != seq) {
        free(buf);
        return -EPROTO;
    }
    ret->buf = buf;
    return 0;
}

int
rmc_chan_call(struct rmc_chan *ch, uint16_t cmd, const void *fixed, size_t fixed_len,
              const void *tail, size_t tail_len, size_t reply_tail_max, struct rmc_reply *ret)
{
    uint32_t seq;
    int r;

    *ret = (struct rmc_reply){.fd = -1};
    pthread_mutex_lock(&ch->lock);
    if (atomic_load(&ch->broken)) {
        r = RMC_E_GONE;
        goto out;
    }
    seq = ++ch->seq;
    r = chan_send(ch, cmd, seq, fixed, fixed_len, tail, tail_len);
    if (r == 0)
        r = chan_recv(ch, cmd, seq, reply_tail_max, ret);
    if (r == RMC_E_GONE || r == -EPROTO) {
        atomic_store(&ch->broken, true);
        goto out;
    }
    if (r == 0)
        r = ret->msg.hdr.status;
out:
    pthread_mutex_unlock(&ch->lock);
    return r;
}

int
rmc_ctx_check(struct rmc_ctx *ctx)
{
    struct pollfd p = {.fd = ctx->fd, .events = POLLRDHUP};

    if (atomic_load(&ctx->broken))
        return RMC_E_GONE;
    /* No request of ours is outstanding unless another thread is in a call; either way the
     * daemon only ever closes its end when it goes, which sets POLLRDHUP/POLLHUP. */
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
        return RMC_E_GONE;
    return 0;
}

int
rmc_cancel(struct rmc_ctx *ctx)
{
    int r;

    pthread_mutex_lock(&ctx->send_lock);
    r = send_request(ctx, RM_CMD_CANCEL, 0, NULL, 0, NULL, 0);
    pthread_mutex_unlock(&ctx->send_lock);
    return r;
}

static int
connect_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return errno == ENOENT || errno == ECONNREFUSED || errno == EACCES ? RMC_E_GONE : -errno;
    return TAKE_FD(fd);
}

static int
handshake(struct rmc_ctx *ctx, uint32_t scope)
{
    struct rm_wire_hello hello = {RM_WIRE_MAGIC, RM_WIRE_VERSION_MAJOR, RM_WIRE_VERSION_MINOR,
                                  (uint32_t)getpid(), 0};
    struct rm_wire_establish est = {.scope = scope};
    struct rmc_reply rep;
    int r;

    r = rmc_call(ctx, RM_CMD_HELLO, &hello, sizeof(hello), NULL, 0, &rep);
    if (r == 0) {
        const struct rm_wire_hello *h = rep.msg.fixed;
        if (!h || rm_wire_hello_check(h) < 0 || h->minor < RM_WIRE_MINOR_DATA_CHANNEL)
            r = -EPROTO; /* a 1.0 daemon serves handles on the context socket only */
    }
    rmc_reply_done(&rep);
    if (r < 0) {
        sc_log(&ctx->log, LOG_DEBUG, "handshake with scardd failed: %s", strerror(-r));
        return r;
    }
    r = rmc_call(ctx, RM_CMD_ESTABLISH, &est, sizeof(est), NULL, 0, &rep);
    rmc_reply_done(&rep);
    return r;
}

int
rmc_ctx_new(uint32_t scope, struct rmc_ctx **ret)
{
    char path[PATH_MAX] = "";
    struct rmc_ctx *ctx;
    int r;

    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -ENOMEM;
    ctx->fd = -1;
    ctx->pid = getpid();
    ctx->log = make_logger();
    atomic_init(&ctx->refs, 1);
    atomic_init(&ctx->broken, false);
    pthread_mutex_init(&ctx->io_lock, NULL);
    pthread_mutex_init(&ctx->send_lock, NULL);
    r = socket_path(&ctx->log, path, sizeof(path));
    if (r >= 0)
        r = ctx->fd = connect_socket(path);
    if (r < 0)
        sc_log(&ctx->log, LOG_DEBUG, "cannot connect to scardd at '%s': %s", path,
               strerror(r == RMC_E_GONE ? ECONNREFUSED : -r));
    else
        r = handshake(ctx, scope);
    if (r < 0) {
        rmc_ctx_unref(ctx);
        return r;
    }
    *ret = ctx;
    return 0;
}

void
rmc_ctx_unref(struct rmc_ctx *ctx)
{
    if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1)
        return;
    if (ctx->fd >= 0)
        close(ctx->fd);
    pthread_mutex_destroy(&ctx->io_lock);
    pthread_mutex_destroy(&ctx->send_lock);
    free(ctx);
}
