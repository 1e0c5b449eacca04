/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal objects of scardd: the manager (event loop and everything it owns),
 * clients (one connection = one SCARDCONTEXT), card handles, readers with their
 * worker threads, and the jobs that carry driver calls between loop and workers.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <ifdhandler.h>

#include "resmgr/proto/conf.h"
#include "resmgr/proto/wire.h"

struct rm_manager;

/** Something registered in epoll; the loop calls @c cb with the epoll events. */
struct rm_source {
    int fd;
    void (*cb)(struct rm_manager *m, struct rm_source *s, uint32_t events);
};

/* ---- driver (one dlopen'ed IFD handler instance = one reader.conf entry) ---- */

struct rm_driver_ops {
    RESPONSECODE (*create_channel_by_name)(DWORD, LPSTR);
    RESPONSECODE (*create_channel)(DWORD, DWORD);
    RESPONSECODE (*close_channel)(DWORD);
    RESPONSECODE (*get_capabilities)(DWORD, DWORD, PDWORD, PUCHAR);
    RESPONSECODE (*set_capabilities)(DWORD, DWORD, DWORD, PUCHAR);
    RESPONSECODE (*set_protocol_parameters)(DWORD, DWORD, UCHAR, UCHAR, UCHAR, UCHAR);
    RESPONSECODE (*power_icc)(DWORD, DWORD, PUCHAR, PDWORD);
    RESPONSECODE (*transmit_to_icc)(DWORD, SCARD_IO_HEADER, PUCHAR, DWORD, PUCHAR, PDWORD,
                                    PSCARD_IO_HEADER);
    RESPONSECODE (*control)(DWORD, DWORD, PUCHAR, DWORD, PUCHAR, DWORD, LPDWORD);
    RESPONSECODE (*icc_presence)(DWORD);
};

struct rm_device {
    void *dl;
    struct rm_driver_ops ops;
    pthread_mutex_t lock; /* serialises calls into the driver for all slots of the device */
    DWORD lun_base;       /* reader index << 16 */
    unsigned slots;
    unsigned refs;        /* readers (slots) using it */
    unsigned index;       /* lun_base >> 16, lowest free among open devices */
    uint64_t slots_open;  /* bit s = channel of slot s opened (pcscd opens each) */
    LIST_ENTRY(rm_device) link;
};

/* ---- jobs: loop ⇄ reader actor (the reader's worker thread, actor.c) ---- */

enum rm_job_type {
    JOB_PRESENCE,   /* actor → loop: card inserted (powered, ATR) or removed */
    JOB_CONNECT,    /* loop → actor: new handle with its data channel; power, negotiate */
    JOB_RECONNECT,  /* loop → actor, answered back: share mode, power per action, negotiate */
    JOB_DISCONNECT, /* loop → actor, answered back: disposition, the handle and channel go */
    JOB_DROP,       /* loop → actor: the handle's context went; reset as for a dead client */
    JOB_HALT,       /* loop → actor: reader removed, no more driver calls */
    JOB_GONE,       /* actor → loop: a handle's data channel closed or misbehaved */
    JOB_STATE,      /* actor → loop: a data-channel request powered, reset or unpowered */
    JOB_DEFECTIVE,  /* actor → loop: presence failed repeatedly (reader.c) */
};

struct rm_job {
    enum rm_job_type type;
    uint64_t client_id; /* 0: nobody waits for the reply */
    pid_t pid;          /* the client's, for log lines */
    uint32_t seq;
    uint16_t cmd;
    uint32_t handle_id;
    /* inputs */
    uint32_t share_mode; /* CONNECT, RECONNECT */
    uint32_t action;     /* RECONNECT: SCARD_LEAVE_CARD / RESET / UNPOWER; DISCONNECT: disposition */
    uint32_t protocols;  /* CONNECT, RECONNECT: preferred */
    bool no_reset;       /* DROP: the handle never finished connecting */
    int fd;              /* CONNECT: the actor's end of the data channel, -1 once taken */
    int peer_fd;         /* CONNECT: the client's end, sent with the reply by the loop */
    /* outputs, and the hardware state after the job (the actor is the source of truth) */
    int status;
    bool present, powered;
    uint32_t hw_protocol;
    uint8_t atr[RM_WIRE_ATR_MAX];
    size_t atr_len;
    TAILQ_ENTRY(rm_job) link;
};
TAILQ_HEAD(rm_job_queue, rm_job);

struct rm_chan;
struct rm_parked;

struct rm_reader {
    struct rm_manager *m;
    char name[RM_WIRE_NAME_MAX];
    struct rm_device *dev;
    DWORD lun;
    RESPONSECODE (*poll_fn)(DWORD, int);    /* TAG_IFD_POLLING_THREAD_WITH_TIMEOUT */
    RESPONSECODE (*stop_poll_fn)(DWORD);    /* TAG_IFD_STOP_POLLING_THREAD */

    /* loop-owned mirror of the card for GetStatusChange, updated from job results */
    bool present, powered, mute;
    uint32_t protocol; /* negotiated, 0 = not yet */
    uint8_t atr[RM_WIRE_ATR_MAX];
    size_t atr_len;
    uint16_t events;    /* insert/remove counter, upper 16 bits of GSC states */
    unsigned n_handles; /* loop's handles (struct rm_handle) on this reader */
    struct rm_handle *exclusive;

    /* worker side */
    pthread_t worker, poller;
    bool has_worker, has_poller;
    pthread_mutex_t lock; /* protects todo, done, stop, the call bookkeeping below */
    struct rm_job_queue todo, done;
    bool stop, stop_poller;
    uint64_t poll_usec;
    struct rm_source efd; /* eventfd: worker → loop */
    int wake_fd;          /* eventfd: loop → worker (a job, or stop) */
    /* hardware state, under dev->lock, touched by worker/poller only */
    bool hw_present, hw_powered;
    uint32_t hw_protocol;
    uint8_t hw_atr[RM_WIRE_ATR_MAX];
    size_t hw_atr_len;
    uint64_t hw_card_seq;  /* ++ on each insertion (presence check) */
    uint64_t hw_reset_seq; /* ++ on each reset / power cycle (actor) */

    /* the actor (actor.c, worker thread only): handles, share modes, transactions */
    int act_epoll;                  /* wake_fd + data channels + tx_timer */
    int act_tx_timer;               /* timerfd: idle transaction deadline */
    LIST_HEAD(, rm_chan) chans;     /* this reader's card handles */
    unsigned n_chans;
    struct rm_chan *act_exclusive, *act_holder;
    TAILQ_HEAD(, rm_parked) parked; /* FIFO of requests waiting for the transaction */
    uint64_t tx_deadline_usec;      /* CLOCK_MONOTONIC, 0 = no transaction or timeout off */
    uint64_t tx_armed_usec;
    bool halted;                    /* JOB_HALT seen: the reader is gone */
    uint8_t *act_in, *act_out;      /* frame buffers, RM_WIRE frame size each */
    /* under lock: the data-channel request in the driver, answered by the loop on a hang */
    int running_fd;
    uint16_t running_cmd;
    uint32_t running_seq;
    bool running_answered;

    /* where the reader came from, removal, defect detection (reader.c) */
    char *origin;          /* "file:<path>|<entry>" or "usb:<syspath>", malloc'd */
    bool gone;             /* removed; kept (m->gone_readers) until its last handle and job go */
    bool defective;        /* loop: a driver call hung or presence failed: UNAVAILABLE */
    bool leaked;           /* a worker is stuck in the driver: never freed, never joined */
    struct rm_source hang; /* timerfd: deadline of the driver call in progress */
    /* under lock: the driver call in progress (worker or poller), for the hang check */
    const char *call_name[2];        /* [0] worker, [1] poller */
    uint64_t call_deadline_usec[2];  /* CLOCK_MONOTONIC, 0 = no call */
    bool hang_armed, hw_defective;
    struct rm_job *running;      /* job the worker is running */
    unsigned presence_failures;  /* worker only: consecutive IFDHICCPresence errors */

    LIST_ENTRY(rm_reader) link;
};

struct rm_client;

struct rm_handle {
    uint32_t id;
    struct rm_client *client;
    struct rm_reader *reader;
    uint32_t share_mode;
    uint32_t protocol;
    bool connecting;              /* CONNECT job not finished yet */
    LIST_ENTRY(rm_handle) link;
};

struct rm_client {
    struct rm_manager *m;
    struct rm_source sock;
    struct rm_source timer; /* GET_STATUS_CHANGE timeout */
    uint64_t id;
    pid_t pid;
    /* (access.c, manager.c): peer credentials and the admission verdict */
    uid_t uid;
    gid_t gid;
    int refused; /* 0, or -EACCES / -ENOMEM: HELLO is answered with it, then the link closed */
    bool hello, established, dead;
    uint16_t minor; /* the client's wire minor version (HELLO) */
    bool busy; /* one request in progress; further frames wait (CANCEL excepted) */
    uint8_t *in;
    size_t in_len;
    uint8_t *out;
    size_t out_len, out_off;
    bool want_out;
    /* pending GET_STATUS_CHANGE */
    bool gsc_waiting;
    uint32_t gsc_seq;
    struct rm_wire_rstate *gsc_states;
    uint32_t gsc_count;
    uint16_t gsc_readers_gen; /* m->readers_gen when the wait began (PnP) */
    LIST_HEAD(, rm_handle) handles;
    LIST_ENTRY(rm_client) link;
};

struct rm_manager {
    int epoll_fd;
    struct rm_source sig;
    struct rm_source listen;
    struct rm_conf conf;
    bool quit;
    bool state_changed; /* re-check GET_STATUS_CHANGE waiters at the end of this turn */
    uint64_t next_client_id;
    uint32_t next_handle_id;
    uint16_t readers_gen; /* reader list changes, upper 16 bits for \\?PnP?\Notification */
    unsigned n_readers;
    LIST_HEAD(, rm_client) clients;
    LIST_HEAD(, rm_reader) readers;
    LIST_HEAD(, rm_device) devices;
    /* readers arrival and removal (readerconf.c, hotplug.c) */
    LIST_HEAD(, rm_reader) gone_readers; /* removed while handles or jobs still refer to them */
    struct rm_source readers_watch;      /* inotify on readers_dir; fd -1 = none */
    struct rm_hotplug *hotplug;          /* libudev monitor; NULL = off */
    /* service life (manager.c): socket activation and auto-exit */
    bool socket_activated;       /* listen.fd came from systemd: never unlink the socket */
    struct rm_source idle_timer; /* timerfd, armed only while idle (no reader, no busy client) */
    bool idle_armed;
    uint64_t last_activity_usec; /* CLOCK_MONOTONIC of the last client request or connection */
};

/* manager.c */
int rm_manager_new(const struct rm_conf *conf, struct rm_manager **ret);
void rm_manager_free(struct rm_manager *m);
int rm_manager_run(struct rm_manager *m);
/** Listening socket passed by systemd (LISTEN_FDS) for this process? @return 1 yes, 0 no,
 *  -EINVAL more than one, or not a Unix stream listening socket. */
int rm_manager_socket_activated(void);
int rm_source_add(struct rm_manager *m, struct rm_source *s, uint32_t events);
struct rm_client *rm_client_find(struct rm_manager *m, uint64_t id);
/** Queue a reply frame to @p c (ignored when @p c is dead). Clears c->busy. */
void rm_client_reply(struct rm_client *c, uint16_t cmd, uint32_t seq, int status,
                     const void *fixed, size_t fixed_len, const void *tail, size_t tail_len);
/** Send a successful reply with @p fd attached (SCM_RIGHTS, RM_WIRE_F_FD): the CONNECT
 *  reply carrying the handle's data channel. @p fd stays the caller's (close it after).
 *  Kills @p c if its output is not drained (it pipelines without reading). */
void rm_client_reply_fd(struct rm_client *c, uint16_t cmd, uint32_t seq, const void *fixed,
                        size_t fixed_len, int fd);
/** Mark @p c for removal at the end of this loop turn. */
void rm_client_kill(struct rm_client *c, const char *why);

/* dispatch.c */
/** Handle one validated request frame from @p c. */
void rm_dispatch(struct rm_client *c, const void *frame, size_t len);
/** A job came back from a reader's worker. */
void rm_dispatch_job_done(struct rm_manager *m, struct rm_reader *rd, struct rm_job *job);
/** Release everything @p c holds: each handle's actor resets its card (as for a dead
 *  client) and closes its data channel. */
void rm_dispatch_client_gone(struct rm_client *c);

/* tracking.c */
void rm_gsc_start(struct rm_client *c, uint32_t seq, const struct rm_wire_gsc_req *req,
                  const struct rm_wire_rstate *states);
void rm_gsc_cancel(struct rm_client *c);
void rm_gsc_wake(struct rm_manager *m);
void rm_gsc_drop(struct rm_client *c);

/* reader.c */
int rm_reader_start(struct rm_manager *m, struct rm_reader *rd);
void rm_reader_stop(struct rm_reader *rd);
void rm_reader_free(struct rm_reader *rd);
/** New job of @p type (fds -1), or NULL (-ENOMEM). Free with rm_job_free(). */
struct rm_job *rm_job_new(enum rm_job_type type);
/** Queue @p job for the actor (takes ownership). On a defective reader CONNECT and
 *  RECONNECT are answered -ENODEV through the done queue instead. */
void rm_reader_submit(struct rm_reader *rd, struct rm_job *job);
void rm_job_free(struct rm_job *job);
/** Convert an IFD handler response code to -errno. */
int rm_ifd_to_errno(RESPONSECODE rc);

/* reader.c, for the actor (worker thread) */
/** Hand @p job to the loop (done queue + eventfd). */
void rm_reader_post(struct rm_reader *rd, struct rm_job *job);
/** Ask the driver for the card; on a change power it up and post JOB_PRESENCE. */
void rm_reader_check_presence(struct rm_reader *rd);
/** Record the driver call @p name for the hang check; with @p fd >= 0 it serves the data
 *  channel request @p cmd/@p seq, which the loop answers -ENODEV if it hangs. */
void rm_reader_call_begin(struct rm_reader *rd, const char *name, int fd, uint16_t cmd,
                          uint32_t seq);
/** The call is back. @return true when the loop has answered its request already */
bool rm_reader_call_end(struct rm_reader *rd);
/** Power the card per @p action (SCARD_LEAVE_CARD: up if off; SCARD_RESET_CARD;
 *  SCARD_UNPOWER_CARD: down and up; RM_ACTION_POWER_DOWN: down only), then negotiate one of
 *  @p protocols (0: none) if not yet. With dev->lock held, in the worker.
 *  @return 0; -ENOMEDIUM no card; -EREMOTEIO mute; -EPROTONOSUPPORT; -EOPNOTSUPP … */
int rm_reader_power(struct rm_reader *rd, uint32_t action, uint32_t protocols);
#define RM_ACTION_POWER_DOWN ((uint32_t)-1)
/** Convert the PC/SC protocol bit to the IFD handler's T number. */
DWORD rm_ifd_protocol(uint32_t pcsc_protocol);

/* actor.c: the reader's worker thread owns its handles, card and transaction state */
/** Thread body of a reader's worker. */
void *rm_actor_main(void *userdata);
/** Allocate the actor's epoll, timer and buffers. @return 0; -errno */
int rm_actor_init(struct rm_reader *rd);
/** Free what the actor owns (after the worker thread ended). */
void rm_actor_done(struct rm_reader *rd);
/** Answer the data-channel request stuck in the driver with @p status (hang watchdog,
 *  loop thread). Called with rd->lock held. */
void rm_actor_answer_running(struct rm_reader *rd, int status);

/* readerconf.c (arrival and removal) */
/** What a reader is made from: one reader.conf entry or one USB interface. */
struct rm_reader_spec {
    const char *friendly; /* FRIENDLYNAME / ifdFriendlyName (+ interface, serial) */
    const char *device;   /* DEVICENAME for IFDHCreateChannelByName, NULL = by channel */
    const char *libpath;  /* IFD handler */
    DWORD channel;        /* CHANNELID when device is NULL */
    const char *origin;   /* key for removal, see rm_reader.origin */
    const char *where;    /* for log lines: "file:line" or "USB device" */
};
/** Open the device of @p spec and start one reader per slot, named "<friendly> NN SS".
 *  @return readers started (>0); -ENOEXEC driver not loadable; -ENODEV channel not opened;
 *  -ENOMEM. Failures are logged. */
int rm_readers_add(struct rm_manager *m, const struct rm_reader_spec *spec);
/** Remove every reader whose origin equals @p origin. @return how many. */
int rm_readers_remove(struct rm_manager *m, const char *origin);
/** Free removed readers nothing refers to any more (called once per loop turn). */
void rm_readers_reap(struct rm_manager *m);
/** Stop watching readers_dir and USB (inotify, udev); readers stay. For rm_manager_free(). */
void rm_readers_done(struct rm_manager *m);
/** Lowest "NN" (0..255) that no name in @p names uses as "<friendly> NN SS" (pcsc-lite).
 *  @return NN; -ENOSPC all 256 taken. Pure (naming.c). */
int rm_reader_name_index(const char *friendly, const char *const *names, size_t n_names);
/** Write "<friendly> NN SS" (NN, SS two hex digits; friendly cut so that it fits) into
 *  @p buf of @p size bytes (>= 8). Pure (naming.c). */
void rm_reader_name_format(char *buf, size_t size, const char *friendly, unsigned nn,
                           unsigned slot);

/* hotplug.c */
/** Enumerate USB interfaces, add the readers a bundle in conf.drivers_dir drives, and watch
 *  udev for more. Without udev (containers) logs once and returns 0. @return 0; -ENOMEM */
int rm_hotplug_start(struct rm_manager *m);
void rm_hotplug_free(struct rm_hotplug *h);

/* reader.c */
/** Take @p rd out of service: threads stopped (not when stuck in the driver), queued jobs
 *  answered -ENODEV, device closed; handles see the card removed. */
void rm_reader_halt(struct rm_reader *rd);
/** Mark @p rd (and the other slots of its device) defective; @p why for the log line. */
void rm_reader_set_defective(struct rm_reader *rd, const char *why);

/** Load every reader.conf-style file of @p dir and start its readers; bad entries are logged
 *  and skipped. @return number of readers; -errno only when @p dir cannot be read. */
int rm_readers_load(struct rm_manager *m, const char *dir);
void rm_device_unref(struct rm_device *dev);
