/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PC/SC side of pam_scard: wait (event-driven, SCardGetStatusChange on every reader
 * plus \\?PnP?\Notification) for a card, read the PIV PIN retry counter with
 * SELECT + empty VERIFY and reset the PIN status with VERIFY P1=FF (NIST SP 800-73-4
 * Part 2 §3.1.1, §3.2.1).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <PCSC/winscard.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "pam_scard/args.h"
#include "pam_scard/card.h"
#include "pam_scard/errmap.h"

#define PNP_READER "\\\\?PnP?\\Notification"

struct pamsc_reader {
    SCARDCONTEXT ctx;
    char **names; /* readers holding a usable card, nnames entries */
    size_t nnames;
};

/* Reader names as a multi-string ("a\0b\0\0"); an empty list when there is no reader. */
static int
list_readers(SCARDCONTEXT ctx, char **ret_multi)
{
    _cleanup_free_ char *multi = NULL;
    DWORD len = 0;
    LONG rc;

    rc = SCardListReaders(ctx, NULL, NULL, &len);
    if (rc == SCARD_S_SUCCESS && len > 0) {
        multi = malloc(len);
        if (!multi)
            return -ENOMEM;
        rc = SCardListReaders(ctx, NULL, multi, &len);
    }
    if (rc == SCARD_E_NO_READERS_AVAILABLE || (rc == SCARD_S_SUCCESS && len == 0)) {
        free(multi);
        multi = calloc(2, 1);
        if (!multi)
            return -ENOMEM;
        rc = SCARD_S_SUCCESS;
    }
    if (rc != SCARD_S_SUCCESS)
        return pamsc_errno_from_scard(rc);
    *ret_multi = TAKE_PTR(multi);
    return 0;
}

static bool
usable_card(const SCARD_READERSTATE *st)
{
    return (st->dwEventState & SCARD_STATE_PRESENT) &&
           !(st->dwEventState & (SCARD_STATE_MUTE | SCARD_STATE_EXCLUSIVE));
}

/* Copy the names of the readers of @p st that hold a usable card; 0 when there is none. */
static int
collect_cards(const SCARD_READERSTATE *st, size_t n, struct pamsc_reader *reader)
{
    for (size_t i = 0; i < n; i++) {
        if (!usable_card(&st[i]))
            continue;
        char **grown = realloc(reader->names, (reader->nnames + 1) * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        reader->names = grown;
        if (!(reader->names[reader->nnames] = strdup(st[i].szReader)))
            return -ENOMEM;
        reader->nnames++;
    }
    return reader->nnames > 0;
}

/*
 * Watch the current reader set until a card is usable (returns 1 with the names of every
 * reader holding one in @p reader), the set of readers changes (returns 0: list again) or
 * the deadline passes.
 */
static int
watch_readers(const struct pamsc_args *args, struct pamsc_reader *reader, uint64_t deadline_usec,
              bool *told)
{
    SCARDCONTEXT ctx = reader->ctx;
    _cleanup_free_ char *multi = NULL;
    _cleanup_free_ SCARD_READERSTATE *st = NULL;
    size_t n = 0, i = 0;
    LONG rc;
    int r;

    r = list_readers(ctx, &multi);
    if (r < 0)
        return r;
    if (!multi)
        return -EIO;
    for (const char *p = multi; *p; p += strlen(p) + 1)
        n++;
    st = calloc(n + 1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    for (const char *p = multi; *p; p += strlen(p) + 1)
        st[i++].szReader = p;
    st[n].szReader = PNP_READER;
    rc = SCardGetStatusChange(ctx, 0, st, (DWORD)(n + 1)); /* snapshot */
    if (rc != SCARD_S_SUCCESS && rc != SCARD_E_TIMEOUT)
        return rc == SCARD_E_UNKNOWN_READER ? 0 : pamsc_errno_from_scard(rc);
    for (;;) {
        r = collect_cards(st, n, reader);
        if (r != 0)
            return r;
        uint64_t now = sc_now_usec();
        if (now >= deadline_usec)
            return -ETIMEDOUT;
        if (!*told) {
            pamsc_info(args, "Insert your smart card...");
            *told = true;
        }
        for (i = 0; i <= n; i++)
            st[i].dwCurrentState = st[i].dwEventState & ~SCARD_STATE_CHANGED;
        uint64_t wait_ms = (deadline_usec - now + 999) / 1000;
        rc = SCardGetStatusChange(ctx, (DWORD)(wait_ms > 86400000 ? 86400000 : wait_ms), st, (DWORD)(n + 1));
        if (rc == SCARD_E_TIMEOUT)
            return -ETIMEDOUT;
        if (rc == SCARD_E_UNKNOWN_READER)
            return 0; /* a reader went away: list again */
        if (rc != SCARD_S_SUCCESS)
            return pamsc_errno_from_scard(rc);
        if (st[n].dwEventState & SCARD_STATE_CHANGED)
            return 0; /* readers came or went */
    }
}

static void
pcsc_close(struct pamsc_reader *reader)
{
    if (!reader)
        return;
    if (reader->ctx)
        (void)SCardReleaseContext(reader->ctx);
    for (size_t i = 0; i < reader->nnames; i++)
        free(reader->names[i]);
    free(reader->names);
    free(reader);
}
DEFINE_CLEANUP_FUNC(struct pamsc_reader *, pcsc_close)

static int
pcsc_wait_card(const struct pamsc_args *args, uint64_t wait_usec, struct pamsc_reader **ret_reader)
{
    _cleanup_(pcsc_closep) struct pamsc_reader *reader = calloc(1, sizeof(*reader));
    uint64_t deadline = sc_now_usec() + wait_usec;
    bool told = false;
    LONG rc;
    int r;

    if (!reader)
        return -ENOMEM;
    rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &reader->ctx);
    if (rc != SCARD_S_SUCCESS) {
        reader->ctx = 0;
        r = pamsc_errno_from_scard(rc);
        return sc_log_errno(&args->log, LOG_ERR, r, "cannot reach the smart-card resource manager (%s)",
                            pcsc_stringify_error(rc));
    }
    do
        r = watch_readers(args, reader, deadline, &told);
    while (r == 0);
    if (r == -ETIMEDOUT && wait_usec == 0)
        return r; /* only looked */
    if (r == -ETIMEDOUT) {
        sc_log(&args->log, LOG_NOTICE, "no smart card inserted within %llu s",
               (unsigned long long)(wait_usec / 1000000u));
        return r;
    }
    if (r < 0)
        return sc_log_errno(&args->log, LOG_ERR, r, "waiting for a smart card failed");
    for (size_t i = 0; i < reader->nnames; i++)
        sc_log(&args->log, LOG_DEBUG, "card found in reader '%s'", reader->names[i]);
    *ret_reader = TAKE_PTR(reader);
    return 0;
}

static const char *const *
pcsc_names(const struct pamsc_reader *reader, size_t *ret_n)
{
    *ret_n = reader->nnames;
    return (const char *const *)reader->names;
}

int
pamsc_piv_tries_from_sw(uint16_t sw)
{
    if ((sw & 0xFFF0) == 0x63C0)
        return sw & 0x000F;
    if (sw == 0x6983)
        return 0;
    if (sw == 0x9000)
        return -EALREADY;
    return -EOPNOTSUPP;
}

static int
transmit(SCARDHANDLE h, DWORD proto, const BYTE *apdu, DWORD len, uint16_t *ret_sw)
{
    BYTE resp[258];
    DWORD resp_len = sizeof(resp);
    LONG rc;

    rc = SCardTransmit(h, proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1, apdu, len, NULL,
                       resp, &resp_len);
    if (rc != SCARD_S_SUCCESS)
        return pamsc_errno_from_scard(rc);
    if (resp_len < 2)
        return -EIO;
    *ret_sw = (uint16_t)(resp[resp_len - 2] << 8 | resp[resp_len - 1]);
    return 0;
}

/* SELECT the PIV application by its AID (without version), then send @p apdu in the same
 * transaction; its status word in *ret_sw. */
static int
piv_command(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name, const BYTE *apdu,
            DWORD len, uint16_t *ret_sw)
{
    static const BYTE select_piv[] = {0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00,
                                      0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00};
    SCARDHANDLE h;
    DWORD proto;
    uint16_t sw = 0;
    LONG rc;
    int r;

    rc = SCardConnect(reader->ctx, name, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                      &h, &proto);
    if (rc != SCARD_S_SUCCESS)
        return sc_log_errno(&args->log, LOG_WARNING, pamsc_errno_from_scard(rc),
                            "cannot connect to '%s' for the PIN status", name);
    rc = SCardBeginTransaction(h);
    if (rc != SCARD_S_SUCCESS) {
        r = pamsc_errno_from_scard(rc);
        goto out;
    }
    r = transmit(h, proto, select_piv, sizeof(select_piv), &sw);
    if (r == 0 && sw != 0x9000 && (sw & 0xFF00) != 0x6100)
        r = -EOPNOTSUPP; /* not a PIV card */
    if (r == 0)
        r = transmit(h, proto, apdu, len, ret_sw);
    (void)SCardEndTransaction(h, SCARD_LEAVE_CARD);
out:
    (void)SCardDisconnect(h, SCARD_LEAVE_CARD);
    return r;
}

static int
pcsc_pin_tries_left(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name)
{
    /* VERIFY with no data for the PIV Card Application PIN (key reference 80): status only */
    static const BYTE verify_status[] = {0x00, 0x20, 0x00, 0x80};
    uint16_t sw = 0;
    int r;

    r = piv_command(args, reader, name, verify_status, sizeof(verify_status), &sw);
    if (r == 0)
        r = pamsc_piv_tries_from_sw(sw);
    sc_log(&args->log, LOG_DEBUG, "PIN counter of the card in '%s': %d (SW %04X)", name, r, sw);
    return r;
}

static int
pcsc_logout(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name)
{
    /* VERIFY with P1 = FF: reset the security status of the PIN (SP 800-73-4 Part 2 §3.2.1) */
    static const BYTE verify_reset[] = {0x00, 0x20, 0xFF, 0x80};
    uint16_t sw = 0;
    int r;

    r = piv_command(args, reader, name, verify_reset, sizeof(verify_reset), &sw);
    if (r == 0 && sw != 0x9000)
        r = -EOPNOTSUPP;
    sc_log(&args->log, r < 0 ? LOG_WARNING : LOG_DEBUG, "logging out the card in '%s': %d (SW %04X)",
           name, r, sw);
    return r;
}

static int
pcsc_card_events(const struct pamsc_args *args, struct pamsc_reader *reader, const char *name)
{
    SCARD_READERSTATE st = {.szReader = name, .dwCurrentState = SCARD_STATE_UNAWARE};
    LONG rc = SCardGetStatusChange(reader->ctx, 0, &st, 1);

    if (rc != SCARD_S_SUCCESS && rc != SCARD_E_TIMEOUT)
        return sc_log_errno(&args->log, LOG_WARNING, pamsc_errno_from_scard(rc),
                            "cannot read the state of reader '%s' (%s)", name, pcsc_stringify_error(rc));
    if (!(st.dwEventState & SCARD_STATE_PRESENT))
        return -ENOMEDIUM;
    return (int)(st.dwEventState >> 16);
}

const struct pamsc_reader_ops pamsc_pcsc_reader_ops = {
    .wait_card = pcsc_wait_card,
    .names = pcsc_names,
    .pin_tries_left = pcsc_pin_tries_left,
    .logout = pcsc_logout,
    .card_events = pcsc_card_events,
    .close = pcsc_close,
};
