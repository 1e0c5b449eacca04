/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PC/SC client for tests/integration/resmgr-service.sh, linked against libscard: service
 * life (auto-exit seen from a held context), fork refusal, threads, SCARD_AUTOALLOCATE and
 * SCardFreeMemory, reader groups. Each sub-command exits 0 only when every check held.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <reader.h>
#include <winscard.h>

#define PNP "\\\\?PnP?\\Notification"

static int failures;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void
expect_(LONG rv, LONG want, const char *what, int line)
{
    if (rv == want)
        return;
    pthread_mutex_lock(&out_lock);
    fprintf(stderr, "FAIL line %d %s: %s (0x%08lX), expected %s\n", line, what,
            pcsc_stringify_error(rv), (unsigned long)rv, pcsc_stringify_error(want));
    failures++;
    pthread_mutex_unlock(&out_lock);
}
#define expect(rv, want, what) expect_((rv), (want), (what), __LINE__)

static void
check_(bool ok, const char *what, int line)
{
    if (ok)
        return;
    pthread_mutex_lock(&out_lock);
    fprintf(stderr, "FAIL line %d %s\n", line, what);
    failures++;
    pthread_mutex_unlock(&out_lock);
}
#define check(ok, what) check_((ok), (what), __LINE__)

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static SCARDCONTEXT
context(void)
{
    SCARDCONTEXT ctx = 0;
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS) {
        fprintf(stderr, "SCardEstablishContext: %s\n", pcsc_stringify_error(rv));
        exit(rv == SCARD_E_NO_SERVICE ? 3 : 2);
    }
    return ctx;
}

static SCARDHANDLE
connect_t1(SCARDCONTEXT ctx, const char *reader)
{
    SCARDHANDLE card = 0;
    DWORD proto = 0;
    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto),
           SCARD_S_SUCCESS, "Connect");
    return card;
}

/* The test driver's echo command: 80 EE 00 00 Lc data → data 90 00. */
static bool
echo(SCARDHANDLE card, const char *text)
{
    BYTE cmd[300] = {0x80, 0xEE, 0x00, 0x00}, resp[300];
    DWORD n = strlen(text), rlen = sizeof(resp);
    LONG rv;

    cmd[4] = (BYTE)n;
    memcpy(cmd + 5, text, n);
    rv = SCardTransmit(card, SCARD_PCI_T1, cmd, 5 + n, NULL, resp, &rlen);
    expect(rv, SCARD_S_SUCCESS, "Transmit(echo)");
    return rv == SCARD_S_SUCCESS && rlen == n + 2 && memcmp(resp, text, n) == 0 &&
           resp[n] == 0x90;
}

/* No reader, then the daemon exits by itself: the held context sees it (windows.md §8.4-5). */
static int
cmd_idle_gone(long max_ms, bool expect_gone_for_good)
{
    SCARDCONTEXT ctx = context(), ctx2;
    SCARD_READERSTATE rs = {.szReader = PNP};
    DWORD len = 0;
    long start = now_ms(), waited;

    expect(SCardListReaders(ctx, NULL, NULL, &len), SCARD_E_NO_READERS_AVAILABLE,
           "ListReaders with no reader");
    while (SCardIsValidContext(ctx) == SCARD_S_SUCCESS && now_ms() - start < max_ms)
        usleep(20 * 1000);
    waited = now_ms() - start;
    printf("context invalid after %ld ms\n", waited);
    expect(SCardIsValidContext(ctx), SCARD_E_INVALID_HANDLE, "IsValidContext after auto-exit");
    expect(SCardListReaders(ctx, NULL, NULL, &len), SCARD_E_NO_SERVICE, "ListReaders after exit");
    expect(SCardGetStatusChange(ctx, 0, &rs, 1), SCARD_E_NO_SERVICE, "GSC after exit");
    if (expect_gone_for_good)
        expect(SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx2), SCARD_E_NO_SERVICE,
               "EstablishContext with the daemon gone");
    expect(SCardReleaseContext(ctx), SCARD_S_SUCCESS, "ReleaseContext after exit");
    return failures ? 1 : 0;
}

/* A pending GetStatusChange counts as a client at work: the daemon waits for it. */
static int
cmd_pnp_wait(DWORD ms)
{
    SCARDCONTEXT ctx = context();
    SCARD_READERSTATE rs = {.szReader = PNP};

    expect(SCardGetStatusChange(ctx, 0, &rs, 1), SCARD_E_TIMEOUT, "GSC(PnP) now");
    rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
    expect(SCardGetStatusChange(ctx, ms, &rs, 1), SCARD_E_TIMEOUT, "GSC(PnP) wait");
    expect(SCardIsValidContext(ctx), SCARD_S_SUCCESS, "IsValidContext after the wait");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* Context works: prints the reader count (0 when none). */
static int
cmd_alive(void)
{
    SCARDCONTEXT ctx = context();
    DWORD len = 0;
    LONG rv = SCardListReaders(ctx, NULL, NULL, &len);

    check(rv == SCARD_S_SUCCESS || rv == SCARD_E_NO_READERS_AVAILABLE, "ListReaders");
    expect(SCardReleaseContext(ctx), SCARD_S_SUCCESS, "ReleaseContext");
    printf("alive\n");
    return failures ? 1 : 0;
}

struct waiter {
    SCARDCONTEXT ctx;
    LONG rv;
};

/* Blocks in GetStatusChange(INFINITE) for a reader arrival or removal (none comes). */
static void *
wait_forever(void *p)
{
    struct waiter *w = p;
    SCARD_READERSTATE rs = {.szReader = PNP};

    (void)SCardGetStatusChange(w->ctx, 0, &rs, 1);
    rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
    w->rv = SCardGetStatusChange(w->ctx, INFINITE, &rs, 1);
    return NULL;
}

/* Child: every parent handle refused; its own new context works. @return exit status */
static int
forked_child(SCARDCONTEXT ctx, SCARDHANDLE card, const char *reader)
{
    SCARDHANDLE c2;
    DWORD len = 0, proto;
    BYTE resp[8];
    DWORD rlen = sizeof(resp);
    static const BYTE apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x01, 'x'};

    expect(SCardIsValidContext(ctx), SCARD_E_INVALID_HANDLE, "child: IsValidContext");
    expect(SCardListReaders(ctx, NULL, NULL, &len), SCARD_E_INVALID_HANDLE, "child: ListReaders");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &c2, &proto),
           SCARD_E_INVALID_HANDLE, "child: Connect");
    expect(SCardTransmit(card, SCARD_PCI_T1, apdu, sizeof(apdu), NULL, resp, &rlen),
           SCARD_E_INVALID_HANDLE, "child: Transmit on the parent's card");
    expect(SCardCancel(ctx), SCARD_E_INVALID_HANDLE, "child: Cancel");
    expect(SCardDisconnect(card, SCARD_LEAVE_CARD), SCARD_E_INVALID_HANDLE, "child: Disconnect");
    expect(SCardReleaseContext(ctx), SCARD_E_INVALID_HANDLE, "child: ReleaseContext");
    SCARDCONTEXT own = context();
    SCARDHANDLE oc = connect_t1(own, reader);
    check(echo(oc, "child"), "child: echo on its own context");
    expect(SCardDisconnect(oc, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "child: Disconnect(own)");
    expect(SCardReleaseContext(own), SCARD_S_SUCCESS, "child: ReleaseContext(own)");
    return failures ? 1 : 0;
}

/* fork(): the child may not use the parent's context; the parent's keeps working. */
static int
cmd_fork(const char *reader)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE card = connect_t1(ctx, reader);
    struct waiter w = {context(), 0};
    pthread_t t;
    int status = 0;
    pid_t pid;

    check(echo(card, "before fork"), "echo before fork");
    pthread_create(&t, NULL, wait_forever, &w); /* a call in progress in another thread */
    usleep(100 * 1000);
    pid = fork();
    if (pid == 0)
        _exit(forked_child(ctx, card, reader));
    check(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/waitpid");
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child checks");
    expect(SCardIsValidContext(ctx), SCARD_S_SUCCESS, "parent: IsValidContext after the child");
    check(echo(card, "after fork"), "parent: echo after the child exited");
    expect(SCardCancel(w.ctx), SCARD_S_SUCCESS, "parent: Cancel the waiter");
    pthread_join(t, NULL);
    expect(w.rv, SCARD_E_CANCELLED, "parent: waiter cancelled");
    SCardReleaseContext(w.ctx);
    SCardReleaseContext(ctx);
    printf("fork ok\n");
    return failures ? 1 : 0;
}

struct worker {
    SCARDCONTEXT ctx; /* 0: establish its own */
    const char *reader;
    int id, count;
    int ok;
};

static void *
transmit_loop(void *p)
{
    struct worker *wk = p;
    bool own = wk->ctx == 0;
    SCARDCONTEXT ctx = own ? context() : wk->ctx;
    SCARDHANDLE card = connect_t1(ctx, wk->reader);
    char text[32];

    for (int i = 0; i < wk->count; i++) {
        snprintf(text, sizeof(text), "t%d-%d", wk->id, i);
        wk->ok += echo(card, text);
    }
    expect(SCardDisconnect(card, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect");
    if (own)
        expect(SCardReleaseContext(ctx), SCARD_S_SUCCESS, "ReleaseContext");
    return NULL;
}

/*
 * N threads with a context each and N threads sharing one context (each with its own card
 * handle: calls on one context are serialised by the library, no caller mutex needed), all
 * transmitting at once, while another thread waits in GetStatusChange and is cancelled,
 * and a third context is released under a blocked GetStatusChange.
 */
static int
cmd_threads(const char *reader, int n, int count)
{
    struct worker *wk = calloc((size_t)(2 * n), sizeof(*wk));
    pthread_t *t = calloc((size_t)(2 * n), sizeof(*t)), wt, rt;
    SCARDCONTEXT shared = context();
    struct waiter w = {context(), 0}, r = {context(), 0};
    long start, ms;
    int total = 0;

    pthread_create(&wt, NULL, wait_forever, &w);
    pthread_create(&rt, NULL, wait_forever, &r);
    start = now_ms();
    for (int i = 0; i < 2 * n; i++) {
        wk[i] = (struct worker){i < n ? 0 : shared, reader, i, count, 0};
        pthread_create(&t[i], NULL, transmit_loop, &wk[i]);
    }
    for (int i = 0; i < 2 * n; i++) {
        pthread_join(t[i], NULL);
        total += wk[i].ok;
    }
    ms = now_ms() - start;
    check(total == 2 * n * count, "every echo came back right");
    printf("%d transmits in %ld ms from %d threads (%.0f/s)\n", total, ms, 2 * n,
           ms > 0 ? total * 1000.0 / (double)ms : 0.0);
    start = now_ms();
    expect(SCardCancel(w.ctx), SCARD_S_SUCCESS, "Cancel from another thread");
    pthread_join(wt, NULL);
    expect(w.rv, SCARD_E_CANCELLED, "GetStatusChange cancelled");
    expect(SCardReleaseContext(r.ctx), SCARD_S_SUCCESS, "ReleaseContext under a blocked wait");
    pthread_join(rt, NULL);
    expect(r.rv, SCARD_E_INVALID_HANDLE, "GetStatusChange of a released context");
    check(now_ms() - start < 3000, "cancel and release were prompt");
    expect(SCardReleaseContext(w.ctx), SCARD_S_SUCCESS, "ReleaseContext(waiter)");
    expect(SCardReleaseContext(shared), SCARD_S_SUCCESS, "ReleaseContext(shared)");
    free(wk);
    free(t);
    return failures ? 1 : 0;
}

static void
check_groups(SCARDCONTEXT ctx)
{
    static const char want[] = "SCard$DefaultReaders\0";
    char small[8], *groups = NULL;
    DWORD len = 0;

    expect(SCardListReaderGroups(ctx, NULL, &len), SCARD_S_SUCCESS, "ListReaderGroups(size)");
    check(len == sizeof(want), "group list size");
    len = sizeof(small);
    expect(SCardListReaderGroups(ctx, small, &len), SCARD_E_INSUFFICIENT_BUFFER,
           "ListReaderGroups(short buffer)");
    len = SCARD_AUTOALLOCATE;
    expect(SCardListReaderGroups(ctx, (LPSTR)&groups, &len), SCARD_S_SUCCESS,
           "ListReaderGroups(AUTOALLOCATE)");
    check(groups && len == sizeof(want) && memcmp(groups, want, sizeof(want)) == 0,
          "SCard$DefaultReaders\\0\\0");
    expect(SCardFreeMemory(ctx, groups), SCARD_S_SUCCESS, "FreeMemory(groups)");
    len = 0;
    expect(SCardListReaders(ctx, "SCard$DefaultReaders\0", NULL, &len), SCARD_S_SUCCESS,
           "ListReaders(SCard$DefaultReaders)");
    expect(SCardListReaders(ctx, "SCard$AllReaders\0", NULL, &len), SCARD_S_SUCCESS,
           "ListReaders(SCard$AllReaders)");
    expect(SCardListReaders(ctx, "No Such Group\0SCard$LocalReaders\0", NULL, &len),
           SCARD_S_SUCCESS, "ListReaders(unknown + LocalReaders)");
    expect(SCardListReaders(ctx, "No Such Group\0", NULL, &len), SCARD_E_NO_READERS_AVAILABLE,
           "ListReaders(unknown group)");
}

static void
check_status_alloc(SCARDCONTEXT ctx, const char *reader)
{
    SCARDHANDLE card = connect_t1(ctx, reader);
    char *name = NULL;
    BYTE *atr = NULL, small[2], rbuf[8];
    DWORD nlen = SCARD_AUTOALLOCATE, alen = SCARD_AUTOALLOCATE, state, proto, rlen;
    static const BYTE apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x01, 'x'};

    expect(SCardStatus(card, (LPSTR)&name, &nlen, &state, &proto, (LPBYTE)&atr, &alen),
           SCARD_S_SUCCESS, "Status(AUTOALLOCATE name and ATR)");
    check(name && strcmp(name, reader) == 0 && nlen == strlen(reader) + 1, "Status name");
    check(atr && alen > 1 && atr[0] == 0x3B, "Status ATR");
    expect(SCardFreeMemory(ctx, name), SCARD_S_SUCCESS, "FreeMemory(name)");
    expect(SCardFreeMemory(ctx, atr), SCARD_S_SUCCESS, "FreeMemory(ATR)");
    name = NULL;
    nlen = SCARD_AUTOALLOCATE;
    alen = sizeof(small);
    expect(SCardStatus(card, (LPSTR)&name, &nlen, &state, &proto, small, &alen),
           SCARD_E_INSUFFICIENT_BUFFER, "Status(ATR buffer too short)");
    check(name == NULL && nlen == SCARD_AUTOALLOCATE, "no name handed out on failure");
    alen = SCARD_AUTOALLOCATE;
    expect(SCardGetAttrib(card, SCARD_ATTR_ATR_STRING, (LPBYTE)&atr, &alen), SCARD_S_SUCCESS,
           "GetAttrib(AUTOALLOCATE)");
    check(atr && alen > 1 && atr[0] == 0x3B, "ATR attribute");
    expect(SCardFreeMemory(ctx, atr), SCARD_S_SUCCESS, "FreeMemory(attribute)");
    rlen = SCARD_AUTOALLOCATE;
    expect(SCardTransmit(card, SCARD_PCI_T1, apdu, sizeof(apdu), NULL, rbuf, &rlen),
           SCARD_E_INVALID_PARAMETER, "Transmit(AUTOALLOCATE) refused");
    SCardDisconnect(card, SCARD_LEAVE_CARD);
}

/* SCARD_AUTOALLOCATE wherever allowed; SCardFreeMemory frees exactly those blocks. */
static int
cmd_alloc(const char *reader)
{
    SCARDCONTEXT ctx = context();
    char *list = NULL, small[4], stack[4];
    DWORD len = SCARD_AUTOALLOCATE, size = 0;
    void *foreign = malloc(16);

    expect(SCardListReaders(ctx, NULL, NULL, &size), SCARD_S_SUCCESS, "ListReaders(size)");
    expect(SCardListReaders(ctx, NULL, (LPSTR)&list, &len), SCARD_S_SUCCESS,
           "ListReaders(AUTOALLOCATE)");
    check(list && len == size && list[len - 1] == '\0' && list[len - 2] == '\0',
          "reader multi-string");
    check(list && strstr(list, reader) == list, "first reader");
    expect(SCardFreeMemory(ctx, list), SCARD_S_SUCCESS, "FreeMemory(readers)");
    expect(SCardFreeMemory(ctx, list), SCARD_E_INVALID_PARAMETER, "FreeMemory twice");
    len = sizeof(small);
    expect(SCardListReaders(ctx, NULL, small, &len), SCARD_E_INSUFFICIENT_BUFFER,
           "ListReaders(short buffer)");
    check(len == size, "short buffer: needed size returned");
    len = SCARD_AUTOALLOCATE;
    expect(SCardListReaders(ctx, NULL, NULL, &len), SCARD_E_INVALID_PARAMETER,
           "ListReaders(AUTOALLOCATE, NULL)");
    check_groups(ctx);
    check_status_alloc(ctx, reader);
    expect(SCardFreeMemory(ctx, NULL), SCARD_S_SUCCESS, "FreeMemory(NULL)");
    expect(SCardFreeMemory(ctx, stack), SCARD_E_INVALID_PARAMETER, "FreeMemory(stack)");
    expect(SCardFreeMemory(ctx, foreign), SCARD_E_INVALID_PARAMETER, "FreeMemory(foreign)");
    free(foreign);
    expect(SCardReleaseContext(ctx), SCARD_S_SUCCESS, "ReleaseContext");
    printf("alloc ok\n");
    return failures ? 1 : 0;
}

/* windows.md §8 item 9: UNAWARE returns at once; UNKNOWN comes with CHANGED|IGNORE. */
static int
cmd_gsc_rules(const char *reader)
{
    SCARDCONTEXT ctx = context();
    SCARD_READERSTATE rs[2] = {{.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE},
                               {.szReader = "No Such Reader 00 00"}};
    const DWORD unknown = SCARD_STATE_UNKNOWN | SCARD_STATE_CHANGED | SCARD_STATE_IGNORE;
    long start = now_ms();

    expect(SCardGetStatusChange(ctx, INFINITE, rs, 1), SCARD_S_SUCCESS, "GSC(UNAWARE, INFINITE)");
    check(now_ms() - start < 1000, "UNAWARE returned at once");
    check(rs[0].dwEventState & SCARD_STATE_CHANGED, "UNAWARE: CHANGED");
    check(rs[0].dwEventState & SCARD_STATE_PRESENT, "UNAWARE: the card is PRESENT");
    rs[0].dwCurrentState = rs[0].dwEventState & ~SCARD_STATE_CHANGED;
    start = now_ms();
    expect(SCardGetStatusChange(ctx, INFINITE, rs, 2), SCARD_S_SUCCESS, "GSC(unknown reader)");
    check(now_ms() - start < 1000, "unknown reader returned at once");
    check((rs[1].dwEventState & unknown) == unknown, "UNKNOWN comes with CHANGED|IGNORE");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "idle-gone") == 0 && argc == 4)
        return cmd_idle_gone(atol(argv[2]), strcmp(argv[3], "gone") == 0);
    if (strcmp(cmd, "pnp-wait") == 0 && argc == 3)
        return cmd_pnp_wait((DWORD)atol(argv[2]));
    if (strcmp(cmd, "alive") == 0 && argc == 2)
        return cmd_alive();
    if (strcmp(cmd, "fork") == 0 && argc == 3)
        return cmd_fork(argv[2]);
    if (strcmp(cmd, "threads") == 0 && argc == 5)
        return cmd_threads(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (strcmp(cmd, "alloc") == 0 && argc == 3)
        return cmd_alloc(argv[2]);
    if (strcmp(cmd, "gsc-rules") == 0 && argc == 3)
        return cmd_gsc_rules(argv[2]);
    fprintf(stderr, "usage: service-client idle-gone MAX_MS gone|restart | pnp-wait MS | alive\n"
                    "       | fork READER | threads READER N COUNT | alloc READER\n"
                    "       | gsc-rules READER\n");
    return 2;
}
