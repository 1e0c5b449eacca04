/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Wire protocol between scardd and libscard: a Unix stream socket carrying
 * length-prefixed frames (struct rm_wire_hdr + fixed per-command struct + optional
 * variable tail). Both peers are on the same host, so fields are in host byte order.
 * Compiled into the daemon and the client library alike.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RM_WIRE_MAGIC 0x53435244u /* "SCRD" */
#define RM_WIRE_VERSION_MAJOR 1   /* incompatible changes bump this; peers must agree */
#define RM_WIRE_VERSION_MINOR 1   /* compatible additions */
/* 1.1: per-handle requests (rm_wire_cmd_on_data_channel()) go on a data channel per card
 * handle: a SOCK_SEQPACKET socket whose client end comes with the CONNECT reply
 * (SCM_RIGHTS, RM_WIRE_F_FD), one frame per packet, same framing. A 1.0 peer can still say
 * HELLO, list readers and wait for changes; scardd refuses its CONNECT (-EPROTONOSUPPORT)
 * and libscard refuses a 1.0 daemon at the handshake. */
#define RM_WIRE_MINOR_DATA_CHANNEL 1

#define RM_WIRE_NAME_MAX 128      /* reader name field incl. NUL (pcsc-lite MAX_READERNAME) */
#define RM_WIRE_ATR_MAX 33        /* ISO 7816-3 ATR limit (pcsc-lite MAX_ATR_SIZE) */
#define RM_WIRE_APDU_MAX 65548    /* extended APDU buffer (pcsc-lite MAX_BUFFER_SIZE_EXTENDED) */
#define RM_WIRE_ATTR_MAX 264      /* attribute value (pcsc-lite MAX_BUFFER_SIZE) */
#define RM_WIRE_RSTATES_MAX 64    /* reader-state entries per SCardGetStatusChange */
#define RM_WIRE_READERS_MAX 64    /* readers in one LIST_READERS reply */

/** Every frame starts with this header. */
struct rm_wire_hdr {
    uint32_t length;  /* bytes after the header (fixed struct + tail) */
    uint16_t command; /* enum rm_wire_cmd */
    uint16_t flags;   /* RM_WIRE_F_REPLY on replies, 0 on requests */
    uint32_t seq;     /* chosen by the client, echoed in the reply */
    int32_t status;   /* replies: 0 or -errno; requests: 0 */
};
#define RM_WIRE_F_REPLY 0x0001u
#define RM_WIRE_F_FD 0x0002u /* successful CONNECT reply: the handle's data channel is attached */

enum rm_wire_cmd {
    RM_CMD_HELLO = 1,        /* version handshake, must be first */
    RM_CMD_ESTABLISH,        /* the connection becomes one SCARDCONTEXT */
    RM_CMD_LIST_READERS,     /* reply tail: multi-string of reader names */
    RM_CMD_GET_STATUS_CHANGE, /* tail: rm_wire_rstate[count]; waits server-side */
    RM_CMD_CANCEL,           /* one-way, no reply: ends a pending GET_STATUS_CHANGE */
    RM_CMD_CONNECT,
    RM_CMD_RECONNECT,
    RM_CMD_DISCONNECT,
    RM_CMD_BEGIN_TRANSACTION, /* queued FIFO server-side until granted */
    RM_CMD_END_TRANSACTION,
    RM_CMD_STATUS,
    RM_CMD_TRANSMIT,         /* tail: command APDU; reply tail: response APDU */
    RM_CMD_CONTROL,          /* tail: input; reply tail: output */
    RM_CMD_GET_ATTRIB,       /* reply tail: attribute value */
    RM_CMD_SET_ATTRIB,       /* tail: attribute value */
    RM_CMD_MAX_
};

struct rm_wire_hello {
    uint32_t magic; /* RM_WIRE_MAGIC */
    uint16_t major;
    uint16_t minor;
    uint32_t pid;      /* informational (logs) */
    uint32_t reserved; /* 0 */
};

struct rm_wire_establish {
    uint32_t scope; /* SCARD_SCOPE_* */
    uint32_t reserved;
};

struct rm_wire_count {
    uint32_t count;
    uint32_t reserved;
};

struct rm_wire_gsc_req {
    uint32_t timeout_ms; /* 0xFFFFFFFF = INFINITE */
    uint32_t count;      /* entries in the tail */
};

/** One SCARD_READERSTATE on the wire. */
struct rm_wire_rstate {
    char reader[RM_WIRE_NAME_MAX]; /* NUL-terminated */
    uint32_t current_state;
    uint32_t event_state;
    uint32_t atr_len;
    uint8_t atr[36]; /* RM_WIRE_ATR_MAX used, padded to a multiple of 4 */
};

struct rm_wire_connect_req {
    char reader[RM_WIRE_NAME_MAX];
    uint32_t share_mode;
    uint32_t protocols;
};

struct rm_wire_connect_rep {
    uint32_t handle;
    uint32_t protocol;
};

struct rm_wire_reconnect_req {
    uint32_t handle;
    uint32_t share_mode;
    uint32_t protocols;
    uint32_t initialization;
};

struct rm_wire_protocol {
    uint32_t protocol;
    uint32_t reserved;
};

struct rm_wire_handle_disp {
    uint32_t handle;
    uint32_t disposition; /* SCARD_LEAVE_CARD …; ignored by BEGIN/STATUS */
};

struct rm_wire_status_rep {
    char reader[RM_WIRE_NAME_MAX];
    uint32_t state;
    uint32_t protocol;
    uint32_t atr_len;
    uint8_t atr[36];
};

struct rm_wire_transmit_req {
    uint32_t handle;
    uint32_t protocol; /* pioSendPci->dwProtocol */
    uint32_t recv_max; /* caller's buffer size in bytes */
    uint32_t reserved;
};

struct rm_wire_control_req {
    uint32_t handle;
    uint32_t code;
    uint32_t recv_max;
    uint32_t reserved;
};

struct rm_wire_attrib_req {
    uint32_t handle;
    uint32_t attr_id;
};

_Static_assert(sizeof(struct rm_wire_hdr) == 16, "header layout");
_Static_assert(offsetof(struct rm_wire_hdr, seq) == 8, "header layout");
_Static_assert(offsetof(struct rm_wire_hdr, status) == 12, "header layout");
_Static_assert(sizeof(struct rm_wire_hello) == 16, "hello layout");
_Static_assert(sizeof(struct rm_wire_establish) == 8, "establish layout");
_Static_assert(sizeof(struct rm_wire_count) == 8, "count layout");
_Static_assert(sizeof(struct rm_wire_gsc_req) == 8, "gsc layout");
_Static_assert(sizeof(struct rm_wire_rstate) == 176, "rstate layout");
_Static_assert(offsetof(struct rm_wire_rstate, atr) == 140, "rstate layout");
_Static_assert(sizeof(struct rm_wire_connect_req) == 136, "connect layout");
_Static_assert(sizeof(struct rm_wire_connect_rep) == 8, "connect reply layout");
_Static_assert(sizeof(struct rm_wire_reconnect_req) == 16, "reconnect layout");
_Static_assert(sizeof(struct rm_wire_protocol) == 8, "protocol layout");
_Static_assert(sizeof(struct rm_wire_handle_disp) == 8, "handle layout");
_Static_assert(sizeof(struct rm_wire_status_rep) == 176, "status layout");
_Static_assert(offsetof(struct rm_wire_status_rep, atr) == 140, "status layout");
_Static_assert(sizeof(struct rm_wire_transmit_req) == 16, "transmit layout");
_Static_assert(sizeof(struct rm_wire_control_req) == 16, "control layout");
_Static_assert(sizeof(struct rm_wire_attrib_req) == 8, "attrib layout");

/** Largest payload (bytes after the header) any frame may carry. */
#define RM_WIRE_PAYLOAD_MAX (16u + RM_WIRE_APDU_MAX)

/** A decoded frame; pointers point into the caller's buffer. */
struct rm_wire_msg {
    struct rm_wire_hdr hdr;
    const void *fixed; /* the command's fixed struct (NULL when it has none) */
    size_t fixed_len;
    const void *tail;  /* variable part (NULL when empty) */
    size_t tail_len;
};

/**
 * Check a received header before reading its payload.
 * @param[in] hdr       header as read from the socket
 * @param[in] reply     true when the receiver expects a reply (client side)
 * @return 0; -EPROTO unknown command or wrong direction flag; -EMSGSIZE length above what
 *         that command may carry (the caller must drop the connection, never allocate)
 */
int rm_wire_check_header(const struct rm_wire_hdr *hdr, bool reply);

/**
 * Validate and split one complete frame.
 * @param[in]  buf    header + payload, @p len bytes (host order)
 * @param[in]  reply  see rm_wire_check_header()
 * @param[out] ret    views into @p buf; untouched on failure
 * @return 0; -EBADMSG truncated frame, fixed part of the wrong size, tail too long or
 *         malformed (unterminated name, multi-string or ATR length out of range, count that
 *         does not match the tail); -EPROTO/-EMSGSIZE as rm_wire_check_header()
 * Error replies (status < 0) may omit the fixed part; then ret->fixed is NULL.
 */
int rm_wire_decode(const void *buf, size_t len, bool reply, struct rm_wire_msg *ret);

/**
 * Build one frame into @p buf.
 * @param[out] buf      destination, @p size bytes
 * @param[in]  cmd      enum rm_wire_cmd
 * @param[in]  reply    true for a reply (sets RM_WIRE_F_REPLY)
 * @param[in]  seq      sequence number
 * @param[in]  status   0 or -errno (replies only)
 * @param[in]  fixed    fixed struct of @p cmd (NULL with fixed_len 0 for an error reply)
 * @param[in]  tail     variable part, may be NULL when tail_len is 0
 * @return frame length in bytes; -EINVAL sizes that the command does not allow;
 *         -ENOBUFS @p size too small
 */
ssize_t rm_wire_encode(void *buf, size_t size, uint16_t cmd, bool reply, uint32_t seq,
                       int32_t status, const void *fixed, size_t fixed_len, const void *tail,
                       size_t tail_len);

/**
 * Version check of a peer's HELLO (either direction).
 * @return 0 same major version (minor may differ); -EPROTO bad magic;
 *         -EPROTONOSUPPORT other major version
 */
int rm_wire_hello_check(const struct rm_wire_hello *hello);

/**
 * Does @p cmd travel on a card handle's data channel (TRANSMIT, CONTROL, STATUS,
 * BEGIN/END_TRANSACTION, GET/SET_ATTRIB) rather than on the context socket?
 * On the data channel the handle field of the fixed struct must be the channel's handle.
 */
bool rm_wire_cmd_on_data_channel(uint16_t cmd);

/** Name of a command for logs ("?" when unknown). */
const char *rm_wire_cmd_name(uint16_t cmd);
