/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PC/SC test client for tests/integration/resmgr.sh, linked against libscard. Each
 * sub-command exercises one area of the API against a running scardd and the test IFD
 * handler; it prints what it saw and exits 0 only when every check held.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <reader.h>
#include <winscard.h>

#define PNP "\\\\?PnP?\\Notification"

static int failures;

static void
expect(LONG rv, LONG want, const char *what)
{
    if (rv != want) {
        fprintf(stderr, "FAIL %s: %s (0x%08lX), expected %s\n", what, pcsc_stringify_error(rv),
                (unsigned long)rv, pcsc_stringify_error(want));
        failures++;
    }
}

static void
check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL %s\n", what);
        failures++;
    }
}

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

static int
cmd_list(void)
{
    SCARDCONTEXT ctx = context();
    LPSTR readers = NULL;
    DWORD len = SCARD_AUTOALLOCATE, len2 = 0;
    char groups[64];
    DWORD glen = sizeof(groups);

    expect(SCardIsValidContext(ctx), SCARD_S_SUCCESS, "IsValidContext");
    expect(SCardListReaders(ctx, NULL, NULL, &len2), SCARD_S_SUCCESS, "ListReaders(size)");
    expect(SCardListReaders(ctx, NULL, (LPSTR)&readers, &len), SCARD_S_SUCCESS, "ListReaders");
    check(len == len2 && readers && readers[len - 1] == '\0', "reader list length");
    for (char *p = readers; p && *p; p += strlen(p) + 1)
        printf("%s\n", p);
    expect(SCardFreeMemory(ctx, readers), SCARD_S_SUCCESS, "FreeMemory");
    expect(SCardListReaderGroups(ctx, groups, &glen), SCARD_S_SUCCESS, "ListReaderGroups");
    expect(SCardReleaseContext(ctx), SCARD_S_SUCCESS, "ReleaseContext");
    expect(SCardIsValidContext(ctx), SCARD_E_INVALID_HANDLE, "IsValidContext after release");
    return failures ? 1 : 0;
}

/* Wait until the reader shows PRESENT (want_present) or EMPTY; print the ATR. */
static int
cmd_wait(const char *reader, bool want_present, DWORD timeout)
{
    SCARDCONTEXT ctx = context();
    SCARD_READERSTATE rs = {.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE};
    long deadline = now_ms() + (long)timeout;
    LONG rv;

    for (;;) {
        long left = deadline - now_ms();
        rv = SCardGetStatusChange(ctx, left > 0 ? (DWORD)left : 0, &rs, 1);
        if (rv != SCARD_S_SUCCESS)
            break;
        bool present = rs.dwEventState & SCARD_STATE_PRESENT;
        if (present == want_present && (rs.dwEventState & (want_present ? 0 : SCARD_STATE_EMPTY)) ==
                                           (want_present ? 0 : SCARD_STATE_EMPTY))
            break;
        rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
    }
    expect(rv, SCARD_S_SUCCESS, want_present ? "wait for card" : "wait for removal");
    if (rv == SCARD_S_SUCCESS) {
        printf("state 0x%lx ATR", (unsigned long)rs.dwEventState);
        for (DWORD i = 0; i < rs.cbAtr; i++)
            printf(" %02X", rs.rgbAtr[i]);
        printf("\n");
        check(!want_present || rs.cbAtr > 0, "ATR returned");
    }
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

static void
check_attribs(SCARDHANDLE card, const char *reader)
{
    BYTE atr[64], *vendor = NULL;
    DWORD len = sizeof(atr), vlen = SCARD_AUTOALLOCATE, n = 0;
    char name[256];

    expect(SCardGetAttrib(card, SCARD_ATTR_ATR_STRING, atr, &len), SCARD_S_SUCCESS, "ATR_STRING");
    check(len > 1 && atr[0] == 0x3B, "ATR attribute");
    expect(SCardGetAttrib(card, SCARD_ATTR_VENDOR_NAME, (LPBYTE)&vendor, &vlen), SCARD_S_SUCCESS,
           "VENDOR_NAME");
    check(vendor && strcmp((char *)vendor, "scard test driver") == 0, "vendor name");
    SCardFreeMemory(0, vendor);
    len = 3;
    expect(SCardGetAttrib(card, SCARD_ATTR_DEVICE_FRIENDLY_NAME_A, (LPBYTE)name, &len),
           SCARD_E_INSUFFICIENT_BUFFER, "FRIENDLY_NAME short buffer");
    len = sizeof(name);
    expect(SCardGetAttrib(card, SCARD_ATTR_DEVICE_FRIENDLY_NAME_A, (LPBYTE)name, &len),
           SCARD_S_SUCCESS, "FRIENDLY_NAME");
    check(strcmp(name, reader) == 0, "friendly name is the reader name");
    expect(SCardControl(card, CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, atr, sizeof(atr), &n),
           SCARD_S_SUCCESS, "Control(GET_FEATURE_REQUEST)");
    expect(SCardControl(card, SCARD_CTL_CODE(1), NULL, 0, atr, sizeof(atr), &n),
           SCARD_E_UNSUPPORTED_FEATURE, "Control(unknown)");
}

static LONG
echo(SCARDHANDLE card, DWORD proto, const char *text)
{
    BYTE cmd[300] = {0x80, 0xEE, 0x00, 0x00}, resp[300];
    DWORD n = strlen(text), rlen = sizeof(resp);
    const SCARD_IO_REQUEST *pci = proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
    LONG rv;

    cmd[4] = (BYTE)n;
    memcpy(cmd + 5, text, n);
    rv = SCardTransmit(card, pci, cmd, 5 + n, NULL, resp, &rlen);
    if (rv == SCARD_S_SUCCESS)
        check(rlen == n + 2 && memcmp(resp, text, n) == 0 && resp[n] == 0x90, "echo response");
    return rv;
}

static int
cmd_echo(const char *reader, const char *text)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE card;
    DWORD proto = 0, state, rproto, rlen = 0, alen = 0;
    BYTE verify[] = {0x00, 0x20, 0x00, 0x80, 0x06, '1', '2', '3', '4', '5', '6'}, resp[8];
    DWORD vlen = sizeof(resp);

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                        &card, &proto), SCARD_S_SUCCESS, "Connect");
    check(proto == SCARD_PROTOCOL_T1, "T=1 negotiated (the ATR offers only T=1)");
    expect(SCardStatus(card, NULL, &rlen, &state, &rproto, NULL, &alen), SCARD_S_SUCCESS, "Status");
    check(rlen == strlen(reader) + 1 && (state & SCARD_PRESENT) && rproto == proto && alen > 0,
          "Status values");
    expect(echo(card, proto, text), SCARD_S_SUCCESS, "Transmit(echo)");
    expect(echo(card, SCARD_PROTOCOL_T0, text), SCARD_E_PROTO_MISMATCH, "Transmit(wrong PCI)");
    expect(SCardTransmit(card, SCARD_PCI_T1, verify, sizeof(verify), NULL, resp, &vlen),
           SCARD_S_SUCCESS, "Transmit(VERIFY)");
    check(vlen == 2 && resp[0] == 0x90, "VERIFY accepted");
    check_attribs(card, reader);
    expect(SCardReconnect(card, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, SCARD_RESET_CARD, &proto),
           SCARD_S_SUCCESS, "Reconnect(RESET)");
    expect(echo(card, proto, text), SCARD_S_SUCCESS, "Transmit after reconnect");
    expect(SCardDisconnect(card, SCARD_UNPOWER_CARD), SCARD_S_SUCCESS, "Disconnect(UNPOWER)");
    expect(SCardDisconnect(card, SCARD_LEAVE_CARD), SCARD_E_INVALID_HANDLE, "Disconnect twice");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto),
           SCARD_S_SUCCESS, "Connect after unpower");
    expect(echo(card, proto, text), SCARD_S_SUCCESS, "Transmit after unpower");
    SCardReleaseContext(ctx); /* releases the handle too */
    printf("echo ok, protocol T=%d\n", proto == SCARD_PROTOCOL_T1 ? 1 : 0);
    return failures ? 1 : 0;
}

/* Hold a transaction for ms milliseconds; prints "<label> begin|end <ms>" for the shell. */
static int
cmd_hold(const char *reader, long ms, const char *label)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE card;
    DWORD proto;

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto),
           SCARD_S_SUCCESS, "Connect");
    expect(SCardBeginTransaction(card), SCARD_S_SUCCESS, "BeginTransaction");
    printf("%s begin %ld\n", label, now_ms());
    fflush(stdout);
    usleep((useconds_t)ms * 1000);
    expect(echo(card, proto, label), SCARD_S_SUCCESS, "Transmit in transaction");
    printf("%s end %ld\n", label, now_ms());
    fflush(stdout);
    expect(SCardEndTransaction(card, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "EndTransaction");
    expect(SCardEndTransaction(card, SCARD_LEAVE_CARD), SCARD_E_NOT_TRANSACTED, "End twice");
    SCardDisconnect(card, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

struct canceller {
    SCARDCONTEXT ctx;
};

static void *
cancel_later(void *p)
{
    struct canceller *c = p;
    usleep(300 * 1000);
    expect(SCardCancel(c->ctx), SCARD_S_SUCCESS, "Cancel");
    return NULL;
}

/* GetStatusChange: INFINITE wait interrupted by Cancel, timeout, unknown reader, PnP. */
static int
cmd_tracking(const char *reader)
{
    struct canceller c = {context()};
    SCARD_READERSTATE rs[2] = {{.szReader = reader}, {.szReader = "No Such Reader 00 00"}};
    pthread_t t;
    long start;

    expect(SCardGetStatusChange(c.ctx, 0, rs, 2), SCARD_S_SUCCESS, "GSC(UNAWARE)");
    check(rs[0].dwEventState & SCARD_STATE_CHANGED, "UNAWARE gives CHANGED");
    check(rs[1].dwEventState & SCARD_STATE_UNKNOWN, "unknown reader is UNKNOWN");
    rs[0].dwCurrentState = rs[0].dwEventState & ~SCARD_STATE_CHANGED;
    expect(SCardGetStatusChange(c.ctx, 200, rs, 1), SCARD_E_TIMEOUT, "GSC timeout");
    pthread_create(&t, NULL, cancel_later, &c);
    start = now_ms();
    expect(SCardGetStatusChange(c.ctx, INFINITE, rs, 1), SCARD_E_CANCELLED, "GSC cancelled");
    check(now_ms() - start < 5000, "cancel was prompt");
    pthread_join(t, NULL);
    SCARD_READERSTATE pnp = {.szReader = PNP, .dwCurrentState = SCARD_STATE_UNAWARE};
    expect(SCardGetStatusChange(c.ctx, 0, &pnp, 1), SCARD_E_TIMEOUT, "GSC(PnP) no change");
    check(!(pnp.dwEventState & SCARD_STATE_UNKNOWN), "PnP reader is known");
    SCardReleaseContext(c.ctx);
    return failures ? 1 : 0;
}

/* Exclusive use: a second context gets a sharing violation and sees EXCLUSIVE. */
static int
cmd_exclusive(const char *reader)
{
    SCARDCONTEXT a = context(), b = context();
    SCARDHANDLE ca, cb;
    DWORD proto;
    SCARD_READERSTATE rs = {.szReader = reader};

    expect(SCardConnect(a, reader, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T1, &ca, &proto),
           SCARD_S_SUCCESS, "Connect(EXCLUSIVE)");
    expect(SCardConnect(b, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &cb, &proto),
           SCARD_E_SHARING_VIOLATION, "Connect(SHARED) while exclusive");
    expect(SCardGetStatusChange(b, 0, &rs, 1), SCARD_S_SUCCESS, "GSC");
    check(rs.dwEventState & SCARD_STATE_EXCLUSIVE, "EXCLUSIVE flag");
    expect(SCardDisconnect(ca, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect");
    expect(SCardConnect(b, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &cb, &proto),
           SCARD_S_SUCCESS, "Connect(SHARED) after release");
    rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
    expect(SCardGetStatusChange(a, 1000, &rs, 1), SCARD_S_SUCCESS, "GSC sees INUSE");
    check(rs.dwEventState & SCARD_STATE_INUSE, "INUSE flag");
    SCardReleaseContext(a);
    SCardReleaseContext(b);
    return failures ? 1 : 0;
}

/* Connected while the card is pulled: W_REMOVED_CARD. Run with the card removed meanwhile. */
static int
cmd_removed(const char *reader, const char *file)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE card;
    DWORD proto;
    SCARD_READERSTATE rs = {.szReader = reader};

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto),
           SCARD_S_SUCCESS, "Connect");
    expect(SCardGetStatusChange(ctx, 0, &rs, 1), SCARD_S_SUCCESS, "GSC");
    rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
    check(unlink(file) == 0, "remove the card");
    expect(SCardGetStatusChange(ctx, 5000, &rs, 1), SCARD_S_SUCCESS, "GSC sees removal");
    check(rs.dwEventState & SCARD_STATE_EMPTY, "EMPTY after removal");
    expect(echo(card, proto, "x"), SCARD_W_REMOVED_CARD, "Transmit after removal");
    expect(SCardStatus(card, NULL, NULL, NULL, NULL, NULL, NULL), SCARD_W_REMOVED_CARD,
           "Status after removal");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto),
           SCARD_E_NO_SMARTCARD, "Connect without card");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* ---- sharing, resets, transactions, access and limits ---------------------- */

static long
wall_ms(void) /* comparable with `date +%s%3N` in the shell */
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Share modes both ways, DIRECT beside SHARED, protocol negotiation and reconnect rules. */
static int
cmd_sharing(const char *reader)
{
    SCARDCONTEXT a = context(), b = context();
    SCARDHANDLE ha, hb, hd;
    DWORD pa, pb;

    expect(SCardConnect(a, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &ha, &pa),
           SCARD_S_SUCCESS, "Connect(SHARED)");
    expect(SCardConnect(b, reader, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T1, &hb, &pb),
           SCARD_E_SHARING_VIOLATION, "Connect(EXCLUSIVE) while shared");
    expect(SCardReconnect(ha, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T1, SCARD_LEAVE_CARD, &pa),
           SCARD_S_SUCCESS, "Reconnect(EXCLUSIVE) as the only user");
    expect(SCardConnect(b, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &hb, &pb),
           SCARD_E_SHARING_VIOLATION, "Connect(SHARED) while exclusive");
    expect(SCardConnect(b, reader, SCARD_SHARE_DIRECT, 0, &hd, &pb), SCARD_E_SHARING_VIOLATION,
           "Connect(DIRECT) while exclusive");
    expect(SCardReconnect(ha, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, SCARD_LEAVE_CARD, &pa),
           SCARD_S_SUCCESS, "Reconnect(SHARED)");
    expect(SCardConnect(b, reader, SCARD_SHARE_DIRECT, 0, &hd, &pb), SCARD_S_SUCCESS,
           "Connect(DIRECT) beside SHARED");
    expect(SCardConnect(b, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0, &hb, &pb),
           SCARD_E_PROTO_MISMATCH, "Connect(T=0 only) to a T=1 card");
    expect(SCardReconnect(ha, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0, SCARD_LEAVE_CARD, &pa),
           SCARD_E_PROTO_MISMATCH, "Reconnect without the current protocol");
    expect(SCardConnect(b, reader, SCARD_SHARE_SHARED, 0, &hb, &pb), SCARD_E_INVALID_VALUE,
           "Connect(SHARED, protocols 0)");
    expect(SCardDisconnect(hd, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect(DIRECT)");
    expect(SCardDisconnect(ha, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect(SHARED)");
    expect(SCardConnect(b, reader, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                        &hb, &pb), SCARD_S_SUCCESS, "Connect(EXCLUSIVE) when free");
    check(pb == SCARD_PROTOCOL_T1, "T=1 chosen from T=0|T=1");
    expect(SCardConnect(a, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &ha, &pa),
           SCARD_E_SHARING_VIOLATION, "Connect(SHARED) while exclusive, other context");
    expect(SCardDisconnect(hb, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect(EXCLUSIVE)");
    SCardReleaseContext(a);
    SCardReleaseContext(b);
    return failures ? 1 : 0;
}

/* DIRECT on a reader without a card: protocol UNDEFINED, driver reachable, no APDUs. */
static int
cmd_direct(const char *reader)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE h, h2;
    DWORD proto = 99, n = 0, vlen = 64;
    BYTE buf[64], apdu[] = {0x80, 0xEE, 0x00, 0x00, 0x01, 'x'};
    DWORD rlen = sizeof(buf);

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &h2, &proto),
           SCARD_E_NO_SMARTCARD, "Connect(SHARED) without a card");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_DIRECT, 0, &h, &proto), SCARD_S_SUCCESS,
           "Connect(DIRECT, 0) without a card");
    check(proto == SCARD_PROTOCOL_UNDEFINED, "DIRECT: protocol UNDEFINED");
    expect(SCardControl(h, CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, buf, sizeof(buf), &n),
           SCARD_S_SUCCESS, "Control through DIRECT");
    expect(SCardGetAttrib(h, SCARD_ATTR_VENDOR_NAME, buf, &vlen), SCARD_S_SUCCESS,
           "GetAttrib through DIRECT");
    check(SCardTransmit(h, SCARD_PCI_T1, apdu, sizeof(apdu), NULL, buf, &rlen) != SCARD_S_SUCCESS,
          "no Transmit without a card");
    expect(SCardDisconnect(h, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect(DIRECT)");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* A PIN_VERIFY_STRUCTURE for PIV (as OpenSC 0.23 builds it) around the template @p apdu. */
static DWORD
pin_verify_block(BYTE *buf, const BYTE *apdu, DWORD apdu_len)
{
    PIN_VERIFY_STRUCTURE h = {.bTimerOut = 30, .bTimerOut2 = 30, .bmFormatString = 0x82,
                              .bmPINBlockString = 0x08, .wPINMaxExtraDigit = 0x0408,
                              .bEntryValidationCondition = 0x02, .ulDataLength = apdu_len};

    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), apdu, apdu_len);
    return (DWORD)sizeof(h) + apdu_len;
}

/*
 * The vcard driver's simulated PIN pad through scardd (vcard-pinpad.sh). "pinpad READER yes":
 * GET_FEATURE_REQUEST lists VERIFY_PIN_DIRECT, IFD_PIN_PROPERTIES and GET_TLV_PROPERTIES;
 * malformed PIN_VERIFY_STRUCTUREs are refused with an error, a non-VERIFY template with 6B 80,
 * a too small answer buffer before the pad is read, and the driver answers afterwards; a
 * well-formed request is answered with a status word, printed as "verify SW xxxx".
 * "pinpad READER no": the reader has no control codes at all.
 */
static int
cmd_pinpad(const char *reader, bool want_pad)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE h;
    DWORD proto = 0, n = 0, len, verify = 0, props = 0;
    BYTE buf[300], in[300];
    static const BYTE verify_apdu[] = {0x00, 0x20, 0x00, 0x80, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const BYTE put_data[] = {0x00, 0xdb, 0x3f, 0xff, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    LONG rv;

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &h, &proto), SCARD_S_SUCCESS,
           "Connect(SHARED)");
    rv = SCardControl(h, CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, buf, sizeof(buf), &n);
    if (!want_pad) {
        expect(rv, SCARD_E_UNSUPPORTED_FEATURE, "no GET_FEATURE_REQUEST without a PIN pad");
        goto out;
    }
    expect(rv, SCARD_S_SUCCESS, "GET_FEATURE_REQUEST");
    check(rv != SCARD_S_SUCCESS || n % sizeof(PCSC_TLV_STRUCTURE) == 0, "feature TLVs are 6 bytes each");
    for (DWORD i = 0; rv == SCARD_S_SUCCESS && i + sizeof(PCSC_TLV_STRUCTURE) <= n; i += sizeof(PCSC_TLV_STRUCTURE)) {
        PCSC_TLV_STRUCTURE t;
        memcpy(&t, buf + i, sizeof(t));
        printf("feature %02X control code 0x%08X\n", t.tag, ntohl(t.value));
        if (t.tag == FEATURE_VERIFY_PIN_DIRECT)
            verify = ntohl(t.value);
        if (t.tag == FEATURE_IFD_PIN_PROPERTIES)
            props = ntohl(t.value);
    }
    check(verify != 0 && props != 0, "VERIFY_PIN_DIRECT and IFD_PIN_PROPERTIES offered");
    expect(SCardControl(h, props, NULL, 0, buf, sizeof(buf), &n), SCARD_S_SUCCESS, "IFD_PIN_PROPERTIES");
    check(n == sizeof(PIN_PROPERTIES_STRUCTURE) && buf[0] == 0 && buf[1] == 0, "PIN properties: no display");

    len = pin_verify_block(in, verify_apdu, sizeof(verify_apdu));
    check(SCardControl(h, verify, in, 10, buf, sizeof(buf), &n) != SCARD_S_SUCCESS, "truncated structure refused");
    check(SCardControl(h, verify, in, len - 1, buf, sizeof(buf), &n) != SCARD_S_SUCCESS,
          "ulDataLength beyond the input refused");
    expect(SCardControl(h, verify, in, len, buf, 1, &n), SCARD_E_INSUFFICIENT_BUFFER, "1-byte answer buffer");
    len = pin_verify_block(in, put_data, sizeof(put_data));
    expect(SCardControl(h, verify, in, len, buf, sizeof(buf), &n), SCARD_S_SUCCESS, "PUT DATA template");
    check(n == 2 && buf[0] == 0x6b && buf[1] == 0x80, "the PIN goes into no PUT DATA: 6B 80");
    expect(SCardControl(h, CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, buf, sizeof(buf), &n), SCARD_S_SUCCESS,
           "driver still answers");

    len = pin_verify_block(in, verify_apdu, sizeof(verify_apdu));
    rv = SCardControl(h, verify, in, len, buf, sizeof(buf), &n);
    expect(rv, SCARD_S_SUCCESS, "VERIFY_PIN_DIRECT");
    if (rv == SCARD_S_SUCCESS && n == 2)
        printf("verify SW %02X%02X\n", buf[0], buf[1]);
out:
    SCardDisconnect(h, SCARD_RESET_CARD);
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* Handle b sees every reset (RESET, UNPOWER, EJECT) by handle a and recovers by Reconnect. */
static int
cmd_reset_seen(const char *reader)
{
    static const DWORD disp[] = {SCARD_RESET_CARD, SCARD_UNPOWER_CARD, SCARD_EJECT_CARD};
    SCARDCONTEXT a = context(), b = context();
    SCARDHANDLE ha, hb;
    DWORD pa, pb;

    expect(SCardConnect(b, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &hb, &pb),
           SCARD_S_SUCCESS, "Connect b");
    for (size_t i = 0; i < 3; i++) {
        expect(SCardConnect(a, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &ha, &pa),
               SCARD_S_SUCCESS, "Connect a");
        if (i == 0)
            expect(SCardReconnect(ha, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, SCARD_RESET_CARD, &pa),
                   SCARD_S_SUCCESS, "a: Reconnect(RESET)");
        expect(SCardDisconnect(ha, disp[i]), SCARD_S_SUCCESS, "a: Disconnect(disposition)");
        expect(echo(hb, pb, "b"), SCARD_W_RESET_CARD, "b: Transmit after the reset");
        expect(SCardStatus(hb, NULL, NULL, NULL, NULL, NULL, NULL), SCARD_W_RESET_CARD,
               "b: Status after the reset");
        expect(SCardBeginTransaction(hb), SCARD_W_RESET_CARD, "b: BeginTransaction after the reset");
        expect(SCardReconnect(hb, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, SCARD_LEAVE_CARD, &pb),
               SCARD_S_SUCCESS, "b: Reconnect clears it");
        expect(echo(hb, pb, "b"), SCARD_S_SUCCESS, "b: Transmit after Reconnect");
        expect(SCardBeginTransaction(hb), SCARD_S_SUCCESS, "b: BeginTransaction after Reconnect");
        expect(SCardEndTransaction(hb, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "b: EndTransaction");
    }
    SCardReleaseContext(a);
    SCardReleaseContext(b);
    return failures ? 1 : 0;
}

/* Idle timeout of @p ms: calls inside the transaction restart it; idling past it resets. */
static int
cmd_idle(const char *reader, long ms)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE h;
    DWORD p;

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &h, &p),
           SCARD_S_SUCCESS, "Connect");
    expect(SCardBeginTransaction(h), SCARD_S_SUCCESS, "BeginTransaction");
    for (int i = 0; i < 3; i++) { /* 3 × 0.6 timeout: longer than one, each call restarts it */
        usleep((useconds_t)(ms * 600));
        expect(echo(h, p, "busy"), SCARD_S_SUCCESS, "Transmit within the idle timeout");
    }
    usleep((useconds_t)(ms * 1800));
    printf("idle %ld\n", wall_ms());
    expect(echo(h, p, "late"), SCARD_W_RESET_CARD, "Transmit after the idle timeout");
    expect(SCardEndTransaction(h, SCARD_LEAVE_CARD), SCARD_W_RESET_CARD,
           "EndTransaction after the idle timeout");
    expect(SCardReconnect(h, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, SCARD_LEAVE_CARD, &p),
           SCARD_S_SUCCESS, "Reconnect");
    expect(echo(h, p, "again"), SCARD_S_SUCCESS, "Transmit after Reconnect");
    expect(SCardBeginTransaction(h), SCARD_S_SUCCESS, "BeginTransaction again");
    expect(SCardEndTransaction(h, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "EndTransaction");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* Wait for the transaction; prints "<label> connected", then "<label> reset <ms>" when the
 * card was reset meanwhile (recovered by Reconnect) and "<label> begin <ms>" (wall clock). */
static int
cmd_wait_begin(const char *reader, const char *label)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE h;
    DWORD p;
    LONG rv;

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &h, &p),
           SCARD_S_SUCCESS, "Connect");
    printf("%s connected\n", label);
    fflush(stdout);
    rv = SCardBeginTransaction(h);
    if (rv == SCARD_W_RESET_CARD) {
        printf("%s reset %ld\n", label, wall_ms());
        expect(SCardReconnect(h, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, SCARD_LEAVE_CARD, &p),
               SCARD_S_SUCCESS, "Reconnect");
        rv = SCardBeginTransaction(h);
    }
    expect(rv, SCARD_S_SUCCESS, "BeginTransaction");
    printf("%s begin %ld\n", label, wall_ms());
    fflush(stdout);
    expect(echo(h, p, label), SCARD_S_SUCCESS, "Transmit in transaction");
    expect(SCardEndTransaction(h, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "EndTransaction");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* Exactly @p n contexts may be open at once (max_contexts_per_uid); the next is refused
 * with SCARD_E_NO_MEMORY until one is released. */
static int
cmd_contexts(long n)
{
    SCARDCONTEXT ctx[256], extra;

    if (n < 1 || n > 255)
        return 2;
    for (long i = 0; i < n; i++)
        expect(SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx[i]), SCARD_S_SUCCESS,
               "EstablishContext within the limit");
    expect(SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &extra), SCARD_E_NO_MEMORY,
           "EstablishContext over the limit");
    expect(SCardReleaseContext(ctx[0]), SCARD_S_SUCCESS, "ReleaseContext");
    expect(SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx[0]), SCARD_S_SUCCESS,
           "EstablishContext after a release");
    expect(SCardIsValidContext(ctx[1]), SCARD_S_SUCCESS, "other contexts undisturbed");
    for (long i = 0; i < n; i++)
        SCardReleaseContext(ctx[i]);
    return failures ? 1 : 0;
}

/* Exactly @p n handles per context (max_handles_per_context). */
static int
cmd_handles(const char *reader, long n)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE h[256], extra;
    DWORD p;

    if (n < 1 || n > 255)
        return 2;
    for (long i = 0; i < n; i++)
        expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &h[i], &p),
               SCARD_S_SUCCESS, "Connect within the limit");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &extra, &p),
           SCARD_E_NO_MEMORY, "Connect over the limit");
    expect(echo(h[n - 1], p, "still"), SCARD_S_SUCCESS, "existing handles undisturbed");
    expect(SCardDisconnect(h[0], SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &h[0], &p),
           SCARD_S_SUCCESS, "Connect after a disconnect");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* EstablishContext as a user the access policy refuses; prints the code. */
static int
cmd_refused(void)
{
    SCARDCONTEXT ctx;
    LONG rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &ctx);

    printf("EstablishContext: %s (0x%08lX)\n", pcsc_stringify_error(rv), (unsigned long)rv);
    expect(rv, SCARD_E_NO_ACCESS, "EstablishContext refused with SCARD_E_NO_ACCESS");
    return failures ? 1 : 0;
}

/* ---- readers added and removed at run time, defective readers ---- */

/* Wait for \\?PnP?\Notification (a reader added or removed during the wait); prints the
 * reader count of the upper 16 bits. Exit 0 when CHANGED came, 1 on timeout. */
static int
cmd_pnp_wait(DWORD timeout)
{
    SCARDCONTEXT ctx = context();
    SCARD_READERSTATE pnp = {.szReader = PNP, .dwCurrentState = SCARD_STATE_UNAWARE};
    LONG rv = SCardGetStatusChange(ctx, timeout, &pnp, 1);

    expect(rv, SCARD_S_SUCCESS, "GSC(PnP) sees a reader come or go");
    check(rv != SCARD_S_SUCCESS || (pnp.dwEventState & SCARD_STATE_CHANGED), "PnP CHANGED");
    printf("pnp readers=%lu\n", (unsigned long)(pnp.dwEventState >> 16));
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* Print the reader's state words, e.g. "state present events=1". */
static int
cmd_state(const char *reader)
{
    SCARDCONTEXT ctx = context();
    SCARD_READERSTATE rs = {.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE};
    LONG rv = SCardGetStatusChange(ctx, 0, &rs, 1);
    DWORD e = rs.dwEventState;

    expect(rv, SCARD_S_SUCCESS, "GSC(UNAWARE)");
    printf("state%s%s%s%s%s events=%lu\n", e & SCARD_STATE_UNKNOWN ? " unknown" : "",
           e & SCARD_STATE_UNAVAILABLE ? " unavailable" : "", e & SCARD_STATE_EMPTY ? " empty" : "",
           e & SCARD_STATE_PRESENT ? " present" : "", e & SCARD_STATE_MUTE ? " mute" : "",
           (unsigned long)(e >> 16));
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

/* Connect and echo once; print the first failing call's code ("rc 0x80100017") or "rc 0". */
static int
cmd_echo_rc(const char *reader)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE card;
    DWORD proto;
    LONG rv = SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto);

    if (rv == SCARD_S_SUCCESS)
        rv = echo(card, proto, "x");
    printf("rc 0x%08lX\n", (unsigned long)rv);
    SCardReleaseContext(ctx);
    return 0;
}

/* Connected to READER while its reader.conf FILE is deleted: GSC sees the reader go
 * (UNKNOWN), the handle sees the card removed, Disconnect still works. */
static int
cmd_reader_removed(const char *reader, const char *file)
{
    SCARDCONTEXT ctx = context();
    SCARDHANDLE card, direct;
    DWORD proto;
    SCARD_READERSTATE rs = {.szReader = reader};
    BYTE buf[64];
    DWORD n = 0;

    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto),
           SCARD_S_SUCCESS, "Connect");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_DIRECT, 0, &direct, &proto), SCARD_S_SUCCESS,
           "Connect(DIRECT)");
    expect(SCardGetStatusChange(ctx, 0, &rs, 1), SCARD_S_SUCCESS, "GSC");
    rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
    check(unlink(file) == 0, "remove the reader's file");
    expect(SCardGetStatusChange(ctx, 5000, &rs, 1), SCARD_S_SUCCESS, "GSC sees the reader go");
    check(rs.dwEventState & SCARD_STATE_UNKNOWN, "UNKNOWN after removal");
    expect(echo(card, proto, "x"), SCARD_W_REMOVED_CARD, "Transmit after reader removal");
    expect(SCardControl(direct, CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, buf, sizeof(buf), &n),
           SCARD_E_READER_UNAVAILABLE, "Control(DIRECT) after reader removal");
    expect(SCardDisconnect(card, SCARD_RESET_CARD), SCARD_S_SUCCESS, "Disconnect after removal");
    expect(SCardDisconnect(direct, SCARD_LEAVE_CARD), SCARD_S_SUCCESS, "Disconnect(DIRECT)");
    expect(SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &proto),
           SCARD_E_UNKNOWN_READER, "Connect to a removed reader");
    SCardReleaseContext(ctx);
    return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";

    if (strcmp(c, "list") == 0)
        return cmd_list();
    if (strcmp(c, "wait-present") == 0 && argc == 4)
        return cmd_wait(argv[2], true, (DWORD)atol(argv[3]));
    if (strcmp(c, "wait-empty") == 0 && argc == 4)
        return cmd_wait(argv[2], false, (DWORD)atol(argv[3]));
    if (strcmp(c, "echo") == 0 && argc == 4)
        return cmd_echo(argv[2], argv[3]);
    if (strcmp(c, "hold") == 0 && argc == 5)
        return cmd_hold(argv[2], atol(argv[3]), argv[4]);
    if (strcmp(c, "tracking") == 0 && argc == 3)
        return cmd_tracking(argv[2]);
    if (strcmp(c, "exclusive") == 0 && argc == 3)
        return cmd_exclusive(argv[2]);
    if (strcmp(c, "removed") == 0 && argc == 4)
        return cmd_removed(argv[2], argv[3]);
    if (strcmp(c, "sharing") == 0 && argc == 3)
        return cmd_sharing(argv[2]);
    if (strcmp(c, "pinpad") == 0 && argc == 4)
        return cmd_pinpad(argv[2], strcmp(argv[3], "yes") == 0);
    if (strcmp(c, "direct") == 0 && argc == 3)
        return cmd_direct(argv[2]);
    if (strcmp(c, "reset-seen") == 0 && argc == 3)
        return cmd_reset_seen(argv[2]);
    if (strcmp(c, "idle") == 0 && argc == 4)
        return cmd_idle(argv[2], atol(argv[3]));
    if (strcmp(c, "wait-begin") == 0 && argc == 4)
        return cmd_wait_begin(argv[2], argv[3]);
    if (strcmp(c, "contexts") == 0 && argc == 3)
        return cmd_contexts(atol(argv[2]));
    if (strcmp(c, "handles") == 0 && argc == 4)
        return cmd_handles(argv[2], atol(argv[3]));
    if (strcmp(c, "refused") == 0)
        return cmd_refused();
    if (strcmp(c, "pnp-wait") == 0 && argc == 3)
        return cmd_pnp_wait((DWORD)atol(argv[2]));
    if (strcmp(c, "state") == 0 && argc == 3)
        return cmd_state(argv[2]);
    if (strcmp(c, "echo-rc") == 0 && argc == 3)
        return cmd_echo_rc(argv[2]);
    if (strcmp(c, "reader-removed") == 0 && argc == 4)
        return cmd_reader_removed(argv[2], argv[3]);
    if (strcmp(c, "noservice") == 0) {
        SCARDCONTEXT ctx;
        expect(SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &ctx), SCARD_E_NO_SERVICE,
               "EstablishContext without daemon");
        return failures ? 1 : 0;
    }
    fprintf(stderr, "usage: pcsc-client list | wait-present|wait-empty READER MS | echo READER TEXT"
                    " | hold READER MS LABEL | tracking READER | exclusive READER"
                    " | removed READER FILE | noservice | sharing|direct|reset-seen READER"
                    " | idle READER MS | wait-begin READER LABEL | contexts N"
                    " | handles READER N | refused | pinpad READER yes|no\n");
    return 2;
}
