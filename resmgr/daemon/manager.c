/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager: one epoll loop that owns the listening socket, the clients and their
 * buffers, signals (signalfd) and the readers' eventfds. Frames are length-checked
 * before any allocation; a malformed frame ends only the client that sent it.
 * Service life: the listening socket may come from systemd (socket activation), and a
 * timerfd, armed only while idle, ends the loop after [resmgr] auto_exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "resmgr/daemon/access.h"
#include "resmgr/daemon/scardd.h"

#define IN_MAX (sizeof(struct rm_wire_hdr) + RM_WIRE_PAYLOAD_MAX)

/* CLOCK_MONOTONIC in microseconds (auto-exit bookkeeping; vDSO, no system call). */
static uint64_t
mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
rm_source_add(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};
    return epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

static void
source_mod(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};
    (void)epoll_ctl(m->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev);
}

struct rm_client *
rm_client_find(struct rm_manager *m, uint64_t id)
{
    struct rm_client *c;
    LIST_FOREACH(c, &m->clients, link)
        if (c->id == id && !c->dead)
            return c;
    return NULL;
}

void
rm_client_kill(struct rm_client *c, const char *why)
{
    if (c->dead)
        return;
    log_debug("client %llu (pid %d): %s", (unsigned long long)c->id, (int)c->pid, why);
    c->dead = true;
}

static void
flush_out(struct rm_client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->sock.fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            rm_client_kill(c, "write failed");
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    bool want = c->out_len > 0;
    if (want != c->want_out) {
        c->want_out = want;
        source_mod(c->m, &c->sock, EPOLLIN | (want ? EPOLLOUT : 0));
    }
}

void
rm_client_reply(struct rm_client *c, uint16_t cmd, uint32_t seq, int status, const void *fixed,
                size_t fixed_len, const void *tail, size_t tail_len)
{
    size_t need = sizeof(struct rm_wire_hdr) + fixed_len + tail_len;
    ssize_t n;

    c->busy = false;
    if (c->dead)
        return;
    uint8_t *p = realloc(c->out, c->out_len + need);
    if (!p) {
        rm_client_kill(c, "out of memory");
        return;
    }
    c->out = p;
    n = rm_wire_encode(c->out + c->out_len, need, cmd, true, seq, status, fixed, fixed_len, tail,
                       tail_len);
    if (n < 0) {
        log_error_errno((int)n, "cannot encode %s reply", rm_wire_cmd_name(cmd));
        rm_client_kill(c, "internal encoding error");
        return;
    }
    c->out_len += (size_t)n;
    flush_out(c);
    c->m->state_changed = true; /* buffered frames may now be processed, see process_input */
}

void
rm_client_reply_fd(struct rm_client *c, uint16_t cmd, uint32_t seq, const void *fixed,
                   size_t fixed_len, int fd)
{
    uint8_t buf[sizeof(struct rm_wire_hdr) + sizeof(struct rm_wire_connect_rep)];
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl = {0};
    struct iovec iov = {buf, 0};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                        .msg_controllen = sizeof(ctl.space)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    struct rm_wire_hdr *h = (struct rm_wire_hdr *)buf;
    ssize_t n;

    c->busy = false;
    if (c->dead)
        return;
    n = rm_wire_encode(buf, sizeof(buf), cmd, true, seq, 0, fixed, fixed_len, NULL, 0);
    if (n < 0 || c->out_len > 0) { /* replies pending: the client pipelines, never libscard */
        rm_client_kill(c, n < 0 ? "internal encoding error" : "replies not read");
        return;
    }
    h->flags |= RM_WIRE_F_FD;
    iov.iov_len = (size_t)n;
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    do
        n = sendmsg(c->sock.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n <= 0) { /* even a full socket buffer: the client has not read its replies */
        rm_client_kill(c, "write failed");
        return;
    }
    if ((size_t)n < iov.iov_len) { /* the fd went with the first byte; queue the rest */
        uint8_t *p = realloc(c->out, iov.iov_len - (size_t)n);
        if (!p) {
            rm_client_kill(c, "out of memory");
            return;
        }
        c->out = p;
        memcpy(c->out, buf + n, iov.iov_len - (size_t)n);
        c->out_len = iov.iov_len - (size_t)n;
        flush_out(c);
    }
    c->m->state_changed = true;
}

/* Run complete frames from the input buffer while the client is not busy. */
static void
process_input(struct rm_client *c)
{
    size_t off = 0;

    while (!c->dead && c->in_len - off >= sizeof(struct rm_wire_hdr)) {
        struct rm_wire_hdr h;
        struct rm_wire_msg msg;
        int r;

        memcpy(&h, c->in + off, sizeof(h));
        r = rm_wire_check_header(&h, false);
        if (r < 0) {
            log_warning("client %llu (pid %d): malformed frame header (%s), disconnecting",
                        (unsigned long long)c->id, (int)c->pid, strerror(-r));
            rm_client_kill(c, "protocol error");
            break;
        }
        size_t len = sizeof(h) + h.length;
        if (c->in_len - off < len)
            break;
        if (c->busy && h.command != RM_CMD_CANCEL)
            break; /* one request at a time */
        r = rm_wire_decode(c->in + off, len, false, &msg);
        if (r < 0) {
            log_warning("client %llu (pid %d): malformed %s request (%s), disconnecting",
                        (unsigned long long)c->id, (int)c->pid, rm_wire_cmd_name(h.command),
                        strerror(-r));
            rm_client_kill(c, "protocol error");
            break;
        }
        /* copy: dispatch may keep the frame (blocked on a transaction) */
        _cleanup_free_ void *frame = malloc(len);
        if (!frame) {
            rm_client_kill(c, "out of memory");
            break;
        }
        memcpy(frame, c->in + off, len);
        off += len;
        rm_dispatch(c, frame, len);
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void
on_client(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct rm_client *c = (struct rm_client *)((char *)s - offsetof(struct rm_client, sock));
    ssize_t n;

    if (events & EPOLLOUT)
        flush_out(c);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->dead)
        return;
    if (c->in_len == IN_MAX) {
        rm_client_kill(c, "input overflow");
        return;
    }
    n = recv(c->sock.fd, c->in + c->in_len, IN_MAX - c->in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        rm_client_kill(c, n == 0 ? "disconnected" : "read error");
        return;
    }
    c->in_len += (size_t)n;
    m->last_activity_usec = mono_usec(); /* auto-exit counts from the last request */
    process_input(c);
}

static void
client_free(struct rm_client *c)
{
    rm_dispatch_client_gone(c);
    rm_gsc_drop(c);
    LIST_REMOVE(c, link);
    if (c->sock.fd >= 0)
        close(c->sock.fd);
    if (c->timer.fd >= 0)
        close(c->timer.fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* ---- admission: access policy and limits, decided once at accept ---------- */

#define REFUSED_PENDING_MAX 16 /* refused connections waiting for their HELLO to be answered */

static unsigned
refused_pending(struct rm_manager *m)
{
    struct rm_client *c;
    unsigned n = 0;

    LIST_FOREACH(c, &m->clients, link)
        n += !c->dead && c->refused < 0;
    return n;
}

/* @return 0 admitted; -EACCES access refused; -ENOMEM over max_clients or
 * max_contexts_per_uid (SCARD_E_NO_MEMORY, as pcscd). Logs the verdict once. */
static int
admit(struct rm_manager *m, const struct rm_client *c, const struct rm_peer *peer)
{
    const struct rm_access_policy policy = {.allow_all = m->conf.allow_all,
                                            .allow_local_seat = m->conf.allow_local_seat,
                                            .groups = m->conf.allowed_groups};
    unsigned total = 0, same_uid = 0;
    const struct rm_client *o;
    char why[300];

    if (rm_access_check(&policy, &rm_access_system_ops, peer, why, sizeof(why)) < 0) {
        log_notice("client %llu (pid %d, uid %u): access refused: %s", (unsigned long long)c->id,
                   (int)peer->pid, (unsigned)peer->uid, why);
        return -EACCES;
    }
    LIST_FOREACH(o, &m->clients, link) {
        if (o->dead || o->refused < 0)
            continue;
        total++;
        same_uid += o->uid == peer->uid;
    }
    if (total >= m->conf.max_clients || same_uid >= m->conf.max_contexts_per_uid) {
        log_warning("client %llu (pid %d, uid %u): refused, %s reached (%u)",
                    (unsigned long long)c->id, (int)peer->pid, (unsigned)peer->uid,
                    total >= m->conf.max_clients ? "max_clients" : "max_contexts_per_uid",
                    total >= m->conf.max_clients ? m->conf.max_clients
                                                 : m->conf.max_contexts_per_uid);
        return -ENOMEM;
    }
    log_debug("client %llu connected (pid %d, uid %u: %s)", (unsigned long long)c->id,
              (int)peer->pid, (unsigned)peer->uid, why);
    return 0;
}

static void
on_listen(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct rm_client *c;
    struct rm_peer peer;
    _cleanup_close_ int fd = -1;

    (void)events;
    fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    if (rm_peer_from_socket(fd, &peer) < 0 || refused_pending(m) >= REFUSED_PENDING_MAX) {
        log_warning("connection without credentials or in a flood of refused ones, closed");
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c || !(c->in = malloc(IN_MAX))) {
        free(c);
        log_error("out of memory accepting a client");
        return;
    }
    c->m = m;
    c->id = ++m->next_client_id;
    m->last_activity_usec = mono_usec();
    c->timer.fd = -1;
    c->pid = peer.pid;
    c->uid = peer.uid;
    c->gid = peer.gid;
    c->refused = admit(m, c, &peer); /* before the insertion: c is not counted */
    c->sock.fd = TAKE_FD(fd);
    c->sock.cb = on_client;
    LIST_INIT(&c->handles);
    LIST_INSERT_HEAD(&m->clients, c, link);
    if (rm_source_add(m, &c->sock, EPOLLIN) < 0)
        rm_client_kill(c, "epoll failed");
}

static void
on_signal(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    struct signalfd_siginfo si;

    (void)events;
    if (read(s->fd, &si, sizeof(si)) == sizeof(si)) {
        log_info("signal %u received, exiting", si.ssi_signo);
        m->quit = true;
    }
}

static int
make_parent(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    char *slash;

    if (!dir)
        return -ENOMEM;
    slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* ---- service life: systemd socket activation and auto-exit ---------------- */

int
rm_manager_socket_activated(void)
{
    int n = sd_listen_fds(0); /* keep LISTEN_* for listen_socket(), which unsets them */

    if (n <= 0)
        return 0;
    if (n > 1 || sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
        return -EINVAL;
    return 1;
}

/* Take the socket systemd passed. @return 1 taken; 0 none passed; -EINVAL unusable */
static int
take_activated_socket(struct rm_manager *m)
{
    struct sockaddr_un sa = {0};
    socklen_t len = sizeof(sa);
    int r = rm_manager_socket_activated();

    (void)sd_listen_fds(1); /* unset LISTEN_* so that nothing we start inherits them */
    if (r <= 0)
        return r;
    m->listen.fd = SD_LISTEN_FDS_START;
    m->socket_activated = true;
    if (fcntl(m->listen.fd, F_SETFL, fcntl(m->listen.fd, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(m->listen.fd, F_SETFD, FD_CLOEXEC) < 0)
        return log_error_errno(-errno, "socket passed by systemd");
    if (getsockname(m->listen.fd, (struct sockaddr *)&sa, &len) == 0 && sa.sun_path[0])
        log_info("socket activation: listening on %.*s", (int)sizeof(sa.sun_path), sa.sun_path);
    else
        log_info("socket activation: listening on the socket passed by systemd");
    return 1;
}

/* Idle = auto-exit on, no reader, and no client with a request in progress. */
static bool
is_idle(struct rm_manager *m)
{
    struct rm_client *c;

    if (m->conf.auto_exit_usec == 0 || !LIST_EMPTY(&m->readers))
        return false;
    LIST_FOREACH(c, &m->clients, link)
        if (c->busy || c->gsc_waiting)
            return false;
    return true;
}

/* Arm the one-shot timer for last_activity + auto_exit (absolute), or disarm it (0). */
static void
idle_timer_set(struct rm_manager *m, uint64_t at_usec)
{
    struct itimerspec its = {.it_value = {(time_t)(at_usec / 1000000u),
                                          (long)(at_usec % 1000000u) * 1000}};

    if (at_usec == 0 && !m->idle_armed)
        return;
    if (timerfd_settime(m->idle_timer.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        log_warning_errno(-errno, "cannot set the auto-exit timer");
        return;
    }
    m->idle_armed = at_usec != 0;
}

/* Called once per loop turn: on becoming idle (a long call such as GetStatusChange ended,
 * the last reader went) count auto_exit from now; disarm when busy. No wake-up otherwise. */
static void
idle_update(struct rm_manager *m)
{
    bool idle = is_idle(m);

    if (idle && !m->idle_armed) {
        m->last_activity_usec = mono_usec();
        idle_timer_set(m, m->last_activity_usec + m->conf.auto_exit_usec);
    } else if (!idle && m->idle_armed)
        idle_timer_set(m, 0);
}

/* A client waiting in the listen backlog is activity too: accept it rather than exit. */
static bool
connection_pending(struct rm_manager *m)
{
    struct pollfd p = {.fd = m->listen.fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static void
on_idle_timer(struct rm_manager *m, struct rm_source *s, uint32_t events)
{
    uint64_t expirations, due = m->last_activity_usec + m->conf.auto_exit_usec;

    (void)events;
    (void)!read(s->fd, &expirations, sizeof(expirations));
    m->idle_armed = false;
    if (!is_idle(m) || connection_pending(m))
        return; /* idle_update() re-arms when idle again */
    if (mono_usec() < due) {
        idle_timer_set(m, due); /* a request came in meanwhile */
        return;
    }
    log_info("no reader and no client for %llu s, exiting",
             (unsigned long long)(m->conf.auto_exit_usec / 1000000u));
    m->quit = true;
}

static int
idle_timer_init(struct rm_manager *m)
{
    m->last_activity_usec = mono_usec();
    if (m->conf.auto_exit_usec == 0)
        return 0;
    m->idle_timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (m->idle_timer.fd < 0)
        return log_error_errno(-errno, "timerfd_create");
    m->idle_timer.cb = on_idle_timer;
    return rm_source_add(m, &m->idle_timer, EPOLLIN);
}

static int
listen_socket(struct rm_manager *m)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = m->conf.socket;
    int r;

    r = take_activated_socket(m);
    if (r < 0)
        return log_error_errno(r, "unusable sockets passed by systemd (LISTEN_FDS)");
    if (r > 0)
        goto add;
    if (strlen(path) >= sizeof(sa.sun_path))
        return log_error_errno(-ENAMETOOLONG, "socket path '%s'", path);
    r = make_parent(path);
    if (r < 0)
        return log_error_errno(r, "cannot create the directory of '%s'", path);
    strcpy(sa.sun_path, path);
    m->listen.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (m->listen.fd < 0)
        return log_error_errno(-errno, "socket");
    (void)unlink(path);
    if (bind(m->listen.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return log_error_errno(-errno, "cannot bind '%s'", path);
    (void)chmod(path, 0666); /* every local user may use PC/SC, as with pcscd */
    if (listen(m->listen.fd, 64) < 0)
        return log_error_errno(-errno, "listen");
add:
    m->listen.cb = on_listen;
    return rm_source_add(m, &m->listen, EPOLLIN);
}

int
rm_manager_new(const struct rm_conf *conf, struct rm_manager **ret)
{
    struct rm_manager *m = calloc(1, sizeof(*m));
    sigset_t mask;
    int r;

    if (!m)
        return -ENOMEM;
    m->listen.fd = m->sig.fd = m->idle_timer.fd = -1;
    LIST_INIT(&m->clients);
    LIST_INIT(&m->readers);
    LIST_INIT(&m->devices);
    m->conf = *conf;
    m->conf.socket = strdup(conf->socket);
    m->conf.readers_dir = strdup(conf->readers_dir);
    /* own copy (main() frees its conf), idle timer not yet created */
    m->conf.allowed_groups = conf->allowed_groups ? strdup(conf->allowed_groups) : NULL;
    /* own copy of drivers_dir (freed by rm_conf_done); no readers_dir watch yet */
    m->conf.drivers_dir = conf->drivers_dir ? strdup(conf->drivers_dir) : NULL;
    m->readers_watch.fd = -1;
    m->next_handle_id = (uint32_t)getpid() << 12;
    m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (!m->conf.socket || !m->conf.readers_dir || m->epoll_fd < 0) {
        r = m->epoll_fd < 0 ? -errno : -ENOMEM;
        goto fail;
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before any worker thread exists */
    signal(SIGPIPE, SIG_IGN);
    m->sig.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    m->sig.cb = on_signal;
    r = m->sig.fd < 0 ? -errno : rm_source_add(m, &m->sig, EPOLLIN);
    if (r < 0)
        goto fail;
    r = listen_socket(m);
    if (r < 0)
        goto fail;
    r = rm_readers_load(m, m->conf.readers_dir);
    log_info("listening on %s, %d reader%s", m->socket_activated ? "the activated socket"
             : m->conf.socket, r > 0 ? r : 0, r == 1 ? "" : "s");
    r = idle_timer_init(m);
    if (r < 0)
        goto fail;
    *ret = m;
    return 0;
fail:
    rm_manager_free(m);
    return r;
}

static void
reap(struct rm_manager *m)
{
    struct rm_client *c, *next;

    for (c = LIST_FIRST(&m->clients); c; c = next) {
        next = LIST_NEXT(c, link);
        if (c->dead)
            client_free(c);
    }
}

int
rm_manager_run(struct rm_manager *m)
{
    struct epoll_event evs[32];

    while (!m->quit) {
        int n = epoll_wait(m->epoll_fd, evs, ELEMENTSOF(evs), -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return log_error_errno(-errno, "epoll_wait");
        for (int i = 0; i < n; i++) {
            struct rm_source *s = evs[i].data.ptr;
            s->cb(m, s, evs[i].events);
        }
        reap(m);
        while (m->state_changed) {
            struct rm_client *c;
            m->state_changed = false;
            rm_gsc_wake(m);
            LIST_FOREACH(c, &m->clients, link)
                if (!c->busy && !c->dead && c->in_len >= sizeof(struct rm_wire_hdr))
                    process_input(c);
            reap(m);
        }
        idle_update(m);
    }
    return 0;
}

void
rm_manager_free(struct rm_manager *m)
{
    struct rm_client *c;
    struct rm_reader *rd;

    if (!m)
        return;
    while ((c = LIST_FIRST(&m->clients)))
        client_free(c);
    while ((rd = LIST_FIRST(&m->readers))) {
        LIST_REMOVE(rd, link);
        rm_reader_free(rd);
    }
    rm_readers_done(m); /* inotify, udev, removed readers (after the clients) */
    if (m->listen.fd >= 0) {
        close(m->listen.fd);
        if (!m->socket_activated) /* systemd owns an activated socket and its path */
            (void)unlink(m->conf.socket);
    }
    if (m->idle_timer.fd >= 0)
        close(m->idle_timer.fd);
    if (m->sig.fd >= 0)
        close(m->sig.fd);
    if (m->epoll_fd >= 0)
        close(m->epoll_fd);
    rm_conf_done(&m->conf);
    free(m);
}
