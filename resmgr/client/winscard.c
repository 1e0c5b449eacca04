/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PC/SC API of libscard.so.1 with pcsc-lite's prototypes (<PCSC/winscard.h>):
 * argument checks, buffer conventions (NULL buffer = length query, SCARD_AUTOALLOCATE,
 * see buffers.c) and translation to wire requests. Source: PC/SC Part 5; windows.md
 * §1.7-1.10; pcsc-lite winscard_clnt.c behaviour where the specification leaves room.
 * Every function is thread-safe; handles of a context made before fork() are refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <reader.h>
#include <winscard.h>

#include "resmgr/client/client.h"

EXPORT const SCARD_IO_REQUEST g_rgSCardT0Pci = {SCARD_PROTOCOL_T0, sizeof(SCARD_IO_REQUEST)};
EXPORT const SCARD_IO_REQUEST g_rgSCardT1Pci = {SCARD_PROTOCOL_T1, sizeof(SCARD_IO_REQUEST)};
EXPORT const SCARD_IO_REQUEST g_rgSCardRawPci = {SCARD_PROTOCOL_RAW, sizeof(SCARD_IO_REQUEST)};

#define PNP_READER "\\\\?PnP?\\Notification"

/* One request on a context; the reply is left in @p rep for the caller. */
static LONG
ctx_call(SCARDCONTEXT h, uint16_t cmd, const void *fixed, size_t fixed_len, const void *tail,
         size_t tail_len, struct rmc_reply *rep)
{
    struct rmc_ctx *ctx;
    int r;

    *rep = (struct rmc_reply){.fd = -1};
    if (rmc_handle_get(h, false, &ctx, NULL, NULL) < 0)
        return SCARD_E_INVALID_HANDLE;
    r = rmc_call(ctx, cmd, fixed, fixed_len, tail, tail_len, rep);
    rmc_ctx_unref(ctx);
    /* SCardReleaseContext from another thread cut the connection (e.g. under a blocked
     * SCardGetStatusChange): the context is what is gone, not the service. */
    if (r == RMC_E_GONE && rmc_handle_get(h, false, &ctx, NULL, NULL) < 0)
        return SCARD_E_INVALID_HANDLE;
    if (r == RMC_E_GONE)
        rmc_ctx_unref(ctx);
    return rmc_to_scard(r);
}

/* One request on a card handle; @p fixed starts with the uint32_t server handle, set here.
 * Per-handle requests go on the handle's data channel (straight to the reader's actor),
 * the rest (Reconnect, Disconnect) on the context's socket. @p reply_tail_max bounds the
 * reply's variable part (data channel only). */
static LONG
card_call(SCARDHANDLE h, uint16_t cmd, void *fixed, size_t fixed_len, const void *tail,
          size_t tail_len, size_t reply_tail_max, struct rmc_reply *rep)
{
    struct rmc_chan *ch = NULL;
    struct rmc_ctx *ctx;
    uint32_t sh;
    int r;

    *rep = (struct rmc_reply){.fd = -1};
    if (rmc_handle_get(h, true, &ctx, &sh, &ch) < 0)
        return SCARD_E_INVALID_HANDLE;
    memcpy(fixed, &sh, sizeof(sh));
    if (!rm_wire_cmd_on_data_channel(cmd)) {
        r = rmc_call(ctx, cmd, fixed, fixed_len, tail, tail_len, rep);
    } else {
        r = rmc_chan_call(ch, cmd, fixed, fixed_len, tail, tail_len, reply_tail_max, rep);
        /* closed under us: disconnected by another thread, dropped by the daemon (the handle
         * is no more), or the daemon went away (the context says so) */
        if (r == RMC_E_GONE && rmc_ctx_check(ctx) == 0)
            r = -EBADF;
    }
    rmc_chan_unref(ch);
    rmc_ctx_unref(ctx);
    return rmc_to_scard(r);
}

EXPORT LONG
SCardEstablishContext(DWORD dwScope, LPCVOID pvReserved1, LPCVOID pvReserved2,
                      LPSCARDCONTEXT phContext)
{
    struct rmc_ctx *ctx;
    long id;
    int r;

    (void)pvReserved1;
    (void)pvReserved2;
    if (!phContext)
        return SCARD_E_INVALID_PARAMETER;
    if (dwScope != SCARD_SCOPE_USER && dwScope != SCARD_SCOPE_TERMINAL &&
        dwScope != SCARD_SCOPE_SYSTEM && dwScope != SCARD_SCOPE_GLOBAL)
        return SCARD_E_INVALID_VALUE;
    r = rmc_ctx_new((uint32_t)dwScope, &ctx);
    if (r < 0)
        return rmc_to_scard(r);
    r = rmc_handle_add(ctx, false, 0, NULL, &id);
    rmc_ctx_unref(ctx);
    if (r < 0)
        return rmc_to_scard(r);
    *phContext = id;
    return SCARD_S_SUCCESS;
}

EXPORT LONG
SCardReleaseContext(SCARDCONTEXT hContext)
{
    struct rmc_ctx *ctx;

    if (rmc_handle_get(hContext, false, &ctx, NULL, NULL) < 0)
        return SCARD_E_INVALID_HANDLE;
    (void)rmc_handle_remove_context(hContext);
    rmc_ctx_unref(ctx); /* the daemon releases everything when the socket closes */
    return SCARD_S_SUCCESS;
}

/* Unknown, released, another process's, or the service has gone (windows.md §1.9, §8.5). */
EXPORT LONG
SCardIsValidContext(SCARDCONTEXT hContext)
{
    struct rmc_ctx *ctx;
    int r;

    if (rmc_handle_get(hContext, false, &ctx, NULL, NULL) < 0)
        return SCARD_E_INVALID_HANDLE;
    r = rmc_ctx_check(ctx);
    rmc_ctx_unref(ctx);
    return r < 0 ? SCARD_E_INVALID_HANDLE : SCARD_S_SUCCESS;
}

EXPORT LONG
SCardListReaders(SCARDCONTEXT hContext, LPCSTR mszGroups, LPSTR mszReaders, LPDWORD pcchReaders)
{
    struct rmc_reply rep;
    LONG rv;

    if (!pcchReaders)
        return SCARD_E_INVALID_PARAMETER;
    rv = ctx_call(hContext, RM_CMD_LIST_READERS, NULL, 0, NULL, 0, &rep);
    /* every reader is in each well-known group; only unknown groups select none */
    if (rv == SCARD_S_SUCCESS && (rep.msg.tail_len <= 1 || !rmc_groups_select_all(mszGroups)))
        rv = SCARD_E_NO_READERS_AVAILABLE;
    if (rv == SCARD_S_SUCCESS)
        rv = rmc_put_out(rep.msg.tail, rep.msg.tail_len, mszReaders, pcchReaders, true);
    rmc_reply_done(&rep);
    return rv;
}

EXPORT LONG
SCardListReaderGroups(SCARDCONTEXT hContext, LPSTR mszGroups, LPDWORD pcchGroups)
{
    static const char groups[] = "SCard$DefaultReaders\0"; /* + the literal's NUL: "\0\0" */
    struct rmc_ctx *ctx;
    int r;

    if (rmc_handle_get(hContext, false, &ctx, NULL, NULL) < 0)
        return SCARD_E_INVALID_HANDLE;
    r = rmc_ctx_check(ctx);
    rmc_ctx_unref(ctx);
    if (r < 0)
        return rmc_to_scard(r);
    return rmc_put_out(groups, sizeof(groups), mszGroups, pcchGroups, true);
}

/*
 * Free a block that SCARD_AUTOALLOCATE handed out, and nothing else: any other non-NULL
 * pointer gives SCARD_E_INVALID_PARAMETER and is left alone. As with pcsc-lite the memory
 * is not tied to @p hContext, so it may be freed after SCardReleaseContext too.
 */
EXPORT LONG
SCardFreeMemory(SCARDCONTEXT hContext, LPCVOID pvMem)
{
    (void)hContext;
    return rmc_mem_free(pvMem) < 0 ? SCARD_E_INVALID_PARAMETER : SCARD_S_SUCCESS;
}

EXPORT LONG
SCardGetStatusChange(SCARDCONTEXT hContext, DWORD dwTimeout, SCARD_READERSTATE *rgReaderStates,
                     DWORD cReaders)
{
    struct rm_wire_gsc_req req = {.timeout_ms = (uint32_t)dwTimeout, .count = (uint32_t)cReaders};
    struct rm_wire_rstate *ws;
    struct rmc_reply rep;
    LONG rv;

    if (cReaders > 0 && !rgReaderStates)
        return SCARD_E_INVALID_PARAMETER;
    if (cReaders > RM_WIRE_RSTATES_MAX)
        return SCARD_E_INVALID_VALUE;
    if (dwTimeout > 0xffffffffu)
        req.timeout_ms = 0xffffffffu;
    ws = calloc(cReaders ? cReaders : 1, sizeof(*ws));
    if (!ws)
        return SCARD_E_NO_MEMORY;
    for (DWORD i = 0; i < cReaders; i++) {
        const char *name = rgReaderStates[i].szReader;
        if (!name) {
            free(ws);
            return SCARD_E_INVALID_VALUE;
        }
        if (strlen(name) < sizeof(ws[i].reader)) /* longer: sent empty, reported UNKNOWN */
            strcpy(ws[i].reader, name);
        ws[i].current_state = (uint32_t)rgReaderStates[i].dwCurrentState;
    }
    rv = ctx_call(hContext, RM_CMD_GET_STATUS_CHANGE, &req, sizeof(req), ws,
                  cReaders * sizeof(*ws), &rep);
    if ((rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT) &&
        rep.msg.tail_len == cReaders * sizeof(*ws)) {
        const struct rm_wire_rstate *out = rep.msg.tail;
        for (DWORD i = 0; i < cReaders; i++) {
            rgReaderStates[i].dwEventState = out[i].event_state;
            rgReaderStates[i].cbAtr = out[i].atr_len;
            memcpy(rgReaderStates[i].rgbAtr, out[i].atr, out[i].atr_len);
        }
    }
    rmc_reply_done(&rep);
    free(ws);
    return rv;
}

EXPORT LONG
SCardCancel(SCARDCONTEXT hContext)
{
    struct rmc_ctx *ctx;
    int r;

    if (rmc_handle_get(hContext, false, &ctx, NULL, NULL) < 0)
        return SCARD_E_INVALID_HANDLE;
    r = rmc_cancel(ctx);
    rmc_ctx_unref(ctx);
    return rmc_to_scard(r);
}

EXPORT LONG
SCardConnect(SCARDCONTEXT hContext, LPCSTR szReader, DWORD dwShareMode,
             DWORD dwPreferredProtocols, LPSCARDHANDLE phCard, LPDWORD pdwActiveProtocol)
{
    struct rm_wire_connect_req req = {.share_mode = (uint32_t)dwShareMode,
                                      .protocols = (uint32_t)dwPreferredProtocols};
    struct rmc_reply rep;
    struct rmc_ctx *ctx;
    long id;
    int r;

    if (!szReader || !phCard || !pdwActiveProtocol)
        return SCARD_E_INVALID_PARAMETER;
    if (strlen(szReader) >= sizeof(req.reader))
        return SCARD_E_INVALID_VALUE;
    strcpy(req.reader, szReader);
    if (rmc_handle_get(hContext, false, &ctx, NULL, NULL) < 0)
        return SCARD_E_INVALID_HANDLE;
    r = rmc_call(ctx, RM_CMD_CONNECT, &req, sizeof(req), NULL, 0, &rep);
    if (r == 0) {
        const struct rm_wire_connect_rep *c = rep.msg.fixed;
        struct rmc_chan *ch;
        r = rmc_chan_new(rep.fd, &ch);
        rep.fd = -1; /* taken over */
        if (r == 0)
            r = rmc_handle_add(ctx, true, c->handle, ch, &id);
        if (r == 0) {
            *phCard = id;
            *pdwActiveProtocol = c->protocol;
        }
    }
    rmc_reply_done(&rep);
    rmc_ctx_unref(ctx);
    return rmc_to_scard(r);
}

EXPORT LONG
SCardReconnect(SCARDHANDLE hCard, DWORD dwShareMode, DWORD dwPreferredProtocols,
               DWORD dwInitialization, LPDWORD pdwActiveProtocol)
{
    struct rm_wire_reconnect_req req = {0, (uint32_t)dwShareMode, (uint32_t)dwPreferredProtocols,
                                        (uint32_t)dwInitialization};
    struct rmc_reply rep;
    LONG rv;

    if (!pdwActiveProtocol)
        return SCARD_E_INVALID_PARAMETER;
    rv = card_call(hCard, RM_CMD_RECONNECT, &req, sizeof(req), NULL, 0, 0, &rep);
    if (rv == SCARD_S_SUCCESS)
        *pdwActiveProtocol = ((const struct rm_wire_protocol *)rep.msg.fixed)->protocol;
    rmc_reply_done(&rep);
    return rv;
}

EXPORT LONG
SCardDisconnect(SCARDHANDLE hCard, DWORD dwDisposition)
{
    struct rm_wire_handle_disp req = {0, (uint32_t)dwDisposition};
    struct rmc_reply rep;
    LONG rv;

    rv = card_call(hCard, RM_CMD_DISCONNECT, &req, sizeof(req), NULL, 0, 0, &rep);
    rmc_reply_done(&rep);
    if (rv != SCARD_E_INVALID_HANDLE && rv != SCARD_E_INVALID_VALUE)
        (void)rmc_handle_remove_card(hCard); /* the daemon dropped it, or is gone */
    return rv;
}

EXPORT LONG
SCardBeginTransaction(SCARDHANDLE hCard)
{
    struct rm_wire_handle_disp req = {0};
    struct rmc_reply rep;
    LONG rv = card_call(hCard, RM_CMD_BEGIN_TRANSACTION, &req, sizeof(req), NULL, 0, 0, &rep);
    rmc_reply_done(&rep);
    return rv;
}

EXPORT LONG
SCardEndTransaction(SCARDHANDLE hCard, DWORD dwDisposition)
{
    struct rm_wire_handle_disp req = {0, (uint32_t)dwDisposition};
    struct rmc_reply rep;
    LONG rv = card_call(hCard, RM_CMD_END_TRANSACTION, &req, sizeof(req), NULL, 0, 0, &rep);
    rmc_reply_done(&rep);
    return rv;
}

EXPORT LONG
SCardStatus(SCARDHANDLE hCard, LPSTR szReaderName, LPDWORD pcchReaderLen, LPDWORD pdwState,
            LPDWORD pdwProtocol, LPBYTE pbAtr, LPDWORD pcbAtrLen)
{
    struct rm_wire_handle_disp req = {0};
    const struct rm_wire_status_rep *s;
    struct rmc_reply rep;
    DWORD saved = pcchReaderLen ? *pcchReaderLen : 0;
    LONG rv = SCARD_S_SUCCESS, rv2 = SCARD_S_SUCCESS;

    rv = card_call(hCard, RM_CMD_STATUS, &req, sizeof(req), NULL, 0, 0, &rep);
    if (rv != SCARD_S_SUCCESS) {
        rmc_reply_done(&rep);
        return rv;
    }
    s = rep.msg.fixed;
    if (pdwState)
        *pdwState = s->state;
    if (pdwProtocol)
        *pdwProtocol = s->protocol;
    if (pcchReaderLen)
        rv = rmc_put_out(s->reader, strlen(s->reader) + 1, szReaderName, pcchReaderLen, true);
    if (pcbAtrLen)
        rv2 = rmc_put_out(s->atr, s->atr_len, pbAtr, pcbAtrLen, true);
    if (rv == SCARD_S_SUCCESS && rv2 != SCARD_S_SUCCESS && pcchReaderLen)
        rmc_put_out_undo(szReaderName, pcchReaderLen, saved); /* no half-delivered output */
    rmc_reply_done(&rep);
    return rv != SCARD_S_SUCCESS ? rv : rv2;
}

EXPORT LONG
SCardTransmit(SCARDHANDLE hCard, const SCARD_IO_REQUEST *pioSendPci, LPCBYTE pbSendBuffer,
              DWORD cbSendLength, SCARD_IO_REQUEST *pioRecvPci, LPBYTE pbRecvBuffer,
              LPDWORD pcbRecvLength)
{
    struct rm_wire_transmit_req req = {0};
    struct rmc_reply rep;
    LONG rv;

    if (!pioSendPci || !pbSendBuffer || !pbRecvBuffer || !pcbRecvLength)
        return SCARD_E_INVALID_PARAMETER;
    if (cbSendLength == 0 || cbSendLength > RM_WIRE_APDU_MAX || *pcbRecvLength == SCARD_AUTOALLOCATE)
        return SCARD_E_INVALID_PARAMETER;
    req.protocol = (uint32_t)pioSendPci->dwProtocol;
    req.recv_max = *pcbRecvLength > RM_WIRE_APDU_MAX ? RM_WIRE_APDU_MAX : (uint32_t)*pcbRecvLength;
    rv = card_call(hCard, RM_CMD_TRANSMIT, &req, sizeof(req), pbSendBuffer, cbSendLength,
                   req.recv_max, &rep);
    if (rv == SCARD_S_SUCCESS) {
        rv = rmc_put_out(rep.msg.tail, rep.msg.tail_len, pbRecvBuffer, pcbRecvLength, false);
        if (rv == SCARD_S_SUCCESS && pioRecvPci) {
            pioRecvPci->dwProtocol = ((const struct rm_wire_protocol *)rep.msg.fixed)->protocol;
            pioRecvPci->cbPciLength = sizeof(*pioRecvPci);
        }
    }
    rmc_reply_done(&rep);
    return rv;
}

EXPORT LONG
SCardControl(SCARDHANDLE hCard, DWORD dwControlCode, LPCVOID pbSendBuffer, DWORD cbSendLength,
             LPVOID pbRecvBuffer, DWORD cbRecvLength, LPDWORD lpBytesReturned)
{
    struct rm_wire_control_req req = {.code = (uint32_t)dwControlCode};
    struct rmc_reply rep;
    DWORD got = cbRecvLength;
    LONG rv;

    if ((cbSendLength && !pbSendBuffer) || (cbRecvLength && !pbRecvBuffer) ||
        cbSendLength > RM_WIRE_APDU_MAX)
        return SCARD_E_INVALID_PARAMETER;
    req.recv_max = cbRecvLength > RM_WIRE_APDU_MAX ? RM_WIRE_APDU_MAX : (uint32_t)cbRecvLength;
    rv = card_call(hCard, RM_CMD_CONTROL, &req, sizeof(req), pbSendBuffer, cbSendLength,
                   req.recv_max, &rep);
    if (rv == SCARD_S_SUCCESS) {
        rv = rmc_put_out(rep.msg.tail, rep.msg.tail_len, pbRecvBuffer, &got, false);
        if (lpBytesReturned)
            *lpBytesReturned = rv == SCARD_S_SUCCESS ? got : 0;
    }
    rmc_reply_done(&rep);
    return rv;
}

EXPORT LONG
SCardGetAttrib(SCARDHANDLE hCard, DWORD dwAttrId, LPBYTE pbAttr, LPDWORD pcbAttrLen)
{
    struct rm_wire_attrib_req req = {.attr_id = (uint32_t)dwAttrId};
    struct rmc_reply rep;
    LONG rv;

    if (!pcbAttrLen)
        return SCARD_E_INVALID_PARAMETER;
    rv = card_call(hCard, RM_CMD_GET_ATTRIB, &req, sizeof(req), NULL, 0, RM_WIRE_ATTR_MAX, &rep);
    if (rv == SCARD_S_SUCCESS)
        rv = rmc_put_out(rep.msg.tail, rep.msg.tail_len, pbAttr, pcbAttrLen, true);
    rmc_reply_done(&rep);
    return rv;
}

EXPORT LONG
SCardSetAttrib(SCARDHANDLE hCard, DWORD dwAttrId, LPCBYTE pbAttr, DWORD cbAttrLen)
{
    struct rm_wire_attrib_req req = {.attr_id = (uint32_t)dwAttrId};
    struct rmc_reply rep;
    LONG rv;

    if (!pbAttr || cbAttrLen == 0 || cbAttrLen > RM_WIRE_ATTR_MAX)
        return SCARD_E_INVALID_PARAMETER;
    rv = card_call(hCard, RM_CMD_SET_ATTRIB, &req, sizeof(req), pbAttr, cbAttrLen, 0, &rep);
    rmc_reply_done(&rep);
    return rv;
}
