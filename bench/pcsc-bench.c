/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PC/SC benchmark client: the same code is linked once against libscard (scardd) and once
 * against pcsc-lite's libpcsclite (pcscd), and bench/run.sh runs both against the same test
 * IFD handler. Sub-commands measure SCardTransmit round trips, contended transaction
 * throughput from N processes, and SCardGetStatusChange wake-up latency after card removal.
 * Output is "key value" lines for run.sh to parse; times are microseconds.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <winscard.h>

#include "common/clock.h"

#ifndef BENCH_STACK
#define BENCH_STACK "unknown"
#endif

/* The test driver's ECHO command (tests/drivers/ifd-test.c): data comes back with 90 00. */
static const BYTE echo_apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF};
static const BYTE echo_resp[] = {0xDE, 0xAD, 0xBE, 0xEF, 0x90, 0x00};

static void
sleep_usec(uint64_t usec)
{
    struct timespec ts = {(time_t)(usec / 1000000u), (long)(usec % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int
fail(const char *what, LONG rv)
{
    fprintf(stderr, "pcsc-bench (%s): %s: %s (0x%08lX)\n", BENCH_STACK, what,
            pcsc_stringify_error(rv), (unsigned long)rv);
    return -EIO;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort v and return the value at quantile q (0..1, nearest rank). */
static uint64_t
quantile(uint64_t *v, size_t n, double q)
{
    size_t i;

    qsort(v, n, sizeof(*v), cmp_u64);
    i = (size_t)(q * (double)n + 0.5);
    if (i > 0)
        i--;
    return v[i < n ? i : n - 1];
}

struct card {
    SCARDCONTEXT ctx;
    SCARDHANDLE handle;
    const SCARD_IO_REQUEST *pci; /* of the negotiated protocol */
};

/* Establish a context and connect SHARED to reader with T=0 or T=1. */
static int
open_card(const char *reader, struct card *ret)
{
    SCARDCONTEXT ctx = 0;
    SCARDHANDLE card = 0;
    DWORD proto = 0;
    LONG rv;

    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS)
        return fail("SCardEstablishContext", rv);
    rv = SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                      &card, &proto);
    if (rv != SCARD_S_SUCCESS) {
        SCardReleaseContext(ctx);
        return fail("SCardConnect", rv);
    }
    *ret = (struct card){ctx, card, proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1};
    return 0;
}

static void
close_card(const struct card *c)
{
    SCardDisconnect(c->handle, SCARD_LEAVE_CARD);
    SCardReleaseContext(c->ctx);
}

/* One ECHO APDU; 0 when the answer is the expected one. */
static int
echo(const struct card *c)
{
    BYTE rx[64];
    DWORD rxlen = sizeof(rx);
    LONG rv;

    rv = SCardTransmit(c->handle, c->pci, echo_apdu, sizeof(echo_apdu), NULL, rx, &rxlen);
    if (rv != SCARD_S_SUCCESS)
        return fail("SCardTransmit", rv);
    if (rxlen != sizeof(echo_resp) || memcmp(rx, echo_resp, rxlen) != 0) {
        fprintf(stderr, "pcsc-bench: unexpected ECHO answer (%lu bytes)\n", (unsigned long)rxlen);
        return -EPROTO;
    }
    return 0;
}

/* rtt READER N: N ECHO round trips on one handle (after a short warm-up). */
static int
cmd_rtt(const char *reader, long n)
{
    struct card card;
    uint64_t *t, sum = 0;
    int r = 0;

    if (n < 1 || !(t = calloc((size_t)n, sizeof(*t))))
        return -EINVAL;
    if ((r = open_card(reader, &card)) < 0)
        goto out;
    for (long i = 0; i < 50 && r == 0; i++)
        r = echo(&card);
    for (long i = 0; i < n && r == 0; i++) {
        uint64_t s = sc_now_usec();
        r = echo(&card);
        t[i] = sc_now_usec() - s;
        sum += t[i];
    }
    close_card(&card);
    if (r == 0) {
        printf("rtt_n %ld\nrtt_mean_usec %.1f\n", n, (double)sum / (double)n);
        printf("rtt_median_usec %llu\n", (unsigned long long)quantile(t, (size_t)n, 0.5));
        printf("rtt_p99_usec %llu\n", (unsigned long long)quantile(t, (size_t)n, 0.99));
    }
out:
    free(t);
    return r;
}

/*
 * One contending client (a child process): its own context and handle, then
 * Begin -> Transmit -> End for run_usec after the start byte arrives on go_fd. Writes its count to fd; exits 0 on success.
 */
static int
tps_client(const char *reader, int go_fd, int count_fd, uint64_t run_usec)
{
    struct card card;
    uint64_t count = 0, deadline;
    char go;
    LONG rv = SCARD_S_SUCCESS;
    int r;

    if ((r = open_card(reader, &card)) < 0)
        return r;
    if (read(go_fd, &go, 1) != 1) {
        close_card(&card);
        return -EPIPE;
    }
    deadline = sc_now_usec() + run_usec;
    while (sc_now_usec() < deadline) {
        rv = SCardBeginTransaction(card.handle);
        if (rv != SCARD_S_SUCCESS)
            break;
        r = echo(&card);
        rv = SCardEndTransaction(card.handle, SCARD_LEAVE_CARD);
        if (r < 0 || rv != SCARD_S_SUCCESS)
            break;
        count++;
    }
    close_card(&card);
    if (rv != SCARD_S_SUCCESS)
        return fail("transaction", rv);
    if (r < 0)
        return r;
    return write(count_fd, &count, sizeof(count)) == sizeof(count) ? 0 : -EPIPE;
}

/* Collect the children's counts and statuses; 0 when every child reported. */
static int
tps_collect(int n, int count_fd, const pid_t *pids, uint64_t *ret_total, uint64_t *ret_min,
            uint64_t *ret_max)
{
    uint64_t total = 0, min = UINT64_MAX, max = 0, c;
    int got = 0, bad = 0, st;

    while (got < n && read(count_fd, &c, sizeof(c)) == sizeof(c)) {
        got++;
        total += c;
        min = c < min ? c : min;
        max = c > max ? c : max;
    }
    for (int i = 0; i < n; i++)
        if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad++;
    if (got != n || bad) {
        fprintf(stderr, "pcsc-bench: %d of %d clients failed\n", n - got + bad, n);
        return -EIO;
    }
    *ret_total = total;
    *ret_min = min;
    *ret_max = max;
    return 0;
}

/* tps READER CLIENTS MSEC: CLIENTS processes contend for one card for MSEC milliseconds. */
static int
cmd_tps(const char *reader, int n, long msec)
{
    int go[2], counts[2], r;
    pid_t *pids;
    uint64_t total = 0, min = 0, max = 0, start, elapsed;

    if (n < 1 || n > 1024 || msec < 1 || !(pids = calloc((size_t)n, sizeof(*pids))))
        return -EINVAL;
    if (pipe(go) < 0 || pipe(counts) < 0) {
        free(pids);
        return -errno;
    }
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            close(counts[0]);
            _exit(tps_client(reader, go[0], counts[1], (uint64_t)msec * 1000u) < 0 ? 1 : 0);
        }
        if (pids[i] < 0) {
            n = i; /* the ones started get EOF on go and fail */
            break;
        }
    }
    close(go[0]);
    close(counts[1]);
    sleep_usec(200000u + (uint64_t)n * 10000u); /* let every client connect */
    start = sc_now_usec();
    for (int i = 0; i < n; i++)
        if (write(go[1], "g", 1) != 1)
            break;
    close(go[1]);
    r = tps_collect(n, counts[0], pids, &total, &min, &max);
    elapsed = sc_now_usec() - start;
    close(counts[0]);
    free(pids);
    if (r < 0)
        return r;
    printf("tps_clients %d\ntps_total %llu\n", n, (unsigned long long)total);
    printf("tps_per_sec %.1f\n", (double)total * 1e6 / (double)(elapsed ? elapsed : 1));
    printf("tps_client_min %llu\ntps_client_max %llu\n", (unsigned long long)min,
           (unsigned long long)max);
    return 0;
}

/* Wait until reader's state has (want) or lacks (!want) SCARD_STATE_PRESENT. */
static int
wait_presence(SCARDCONTEXT ctx, const char *reader, bool want, DWORD timeout_ms)
{
    SCARD_READERSTATE rs = {.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE};
    uint64_t deadline = sc_now_usec() + (uint64_t)timeout_ms * 1000u;

    for (;;) {
        LONG rv = SCardGetStatusChange(ctx, timeout_ms < 1000 ? timeout_ms : 1000, &rs, 1);
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
            return fail("SCardGetStatusChange", rv);
        if (!!(rs.dwEventState & SCARD_STATE_PRESENT) == want)
            return 0;
        if (sc_now_usec() > deadline)
            return -ETIMEDOUT;
        rs.dwCurrentState = rs.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    }
}

struct remover {
    const char *path;
    uint64_t delay_usec;
    uint64_t at_usec; /* when the card file was removed */
};

static void *
remover_main(void *p)
{
    struct remover *rm = p;

    sleep_usec(rm->delay_usec);
    rm->at_usec = sc_now_usec();
    if (unlink(rm->path) < 0)
        perror("pcsc-bench: unlink");
    return NULL;
}

/* One removal: returns the wake-up latency in usec, or a negative errno. */
static int64_t
removal_once(SCARDCONTEXT ctx, const char *reader, const char *path, uint64_t delay_usec)
{
    SCARD_READERSTATE rs = {.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE};
    struct remover rm = {.path = path, .delay_usec = delay_usec};
    pthread_t th;
    uint64_t woke = 0, deadline;
    LONG rv;

    rv = SCardGetStatusChange(ctx, 0, &rs, 1);
    if (rv != SCARD_S_SUCCESS || !(rs.dwEventState & SCARD_STATE_PRESENT))
        return rv != SCARD_S_SUCCESS ? fail("SCardGetStatusChange", rv) : -EAGAIN;
    rs.dwCurrentState = rs.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    if (pthread_create(&th, NULL, remover_main, &rm) != 0)
        return -EAGAIN;
    deadline = sc_now_usec() + 10000000u;
    do {
        rv = SCardGetStatusChange(ctx, 10000, &rs, 1);
        woke = sc_now_usec();
        rs.dwCurrentState = rs.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    } while ((rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT) &&
             (rs.dwEventState & SCARD_STATE_PRESENT) && woke < deadline);
    pthread_join(th, NULL);
    if (rv != SCARD_S_SUCCESS)
        return fail("SCardGetStatusChange (removal)", rv);
    if (rs.dwEventState & SCARD_STATE_PRESENT)
        return -ETIMEDOUT;
    return woke > rm.at_usec ? (int64_t)(woke - rm.at_usec) : 0;
}

/* removal READER CARDFILE N: re-insert, wait for the card, remove at a spread-out moment. */
static int
cmd_removal(const char *reader, const char *path, int n)
{
    SCARDCONTEXT ctx = 0;
    uint64_t *t;
    int r = 0;
    LONG rv;

    if (n < 1 || !(t = calloc((size_t)n, sizeof(*t))))
        return -EINVAL;
    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS) {
        free(t);
        return fail("SCardEstablishContext", rv);
    }
    for (int i = 0; i < n && r == 0; i++) {
        FILE *f = fopen(path, "w");
        int64_t lat;
        if (!f) {
            r = -errno;
            break;
        }
        fclose(f);
        if ((r = wait_presence(ctx, reader, true, 5000)) < 0)
            break;
        /* spread the removal over a 400 ms presence-poll period */
        lat = removal_once(ctx, reader, path, 20000u + (uint64_t)(i * 37 % 400) * 1000u);
        if (lat < 0)
            r = (int)lat;
        else
            t[i] = (uint64_t)lat;
    }
    SCardReleaseContext(ctx);
    if (r == 0) {
        printf("removal_n %d\n", n);
        printf("removal_median_usec %llu\n", (unsigned long long)quantile(t, (size_t)n, 0.5));
        printf("removal_max_usec %llu\n", (unsigned long long)quantile(t, (size_t)n, 1.0));
    }
    free(t);
    return r;
}

/* present READER MSEC: exit 0 once a card is present (the daemon is ready), 1 on timeout. */
static int
cmd_present(const char *reader, long msec)
{
    SCARDCONTEXT ctx = 0;
    LONG rv;
    int r;

    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS)
        return fail("SCardEstablishContext", rv);
    r = wait_presence(ctx, reader, true, (DWORD)(msec > 0 ? msec : 0));
    SCardReleaseContext(ctx);
    return r;
}

static int
usage(void)
{
    fprintf(stderr, "usage: pcsc-bench rtt READER N\n"
                    "       pcsc-bench tps READER CLIENTS MSEC\n"
                    "       pcsc-bench removal READER CARDFILE N\n"
                    "       pcsc-bench present READER MSEC\n"
                    "(linked with %s; scardd: SCARD_SOCKET/SCARD_CONF, pcscd: "
                    "PCSCLITE_CSOCK_NAME)\n",
                    BENCH_STACK);
    return 2;
}

int
main(int argc, char **argv)
{
    int r;

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "rtt") == 0)
        r = cmd_rtt(argv[2], atol(argv[3]));
    else if (argc == 5 && strcmp(argv[1], "tps") == 0)
        r = cmd_tps(argv[2], atoi(argv[3]), atol(argv[4]));
    else if (argc == 5 && strcmp(argv[1], "removal") == 0)
        r = cmd_removal(argv[2], argv[3], atoi(argv[4]));
    else if (argc == 4 && strcmp(argv[1], "present") == 0)
        r = cmd_present(argv[2], atol(argv[3]));
    else
        return usage();
    if (r < 0) {
        fprintf(stderr, "pcsc-bench (%s) %s: %s\n", BENCH_STACK, argv[1], strerror(-r));
        return 1;
    }
    printf("stack %s\n", BENCH_STACK);
    return 0;
}
