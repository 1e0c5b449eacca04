/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Encoding and validation of wire-protocol frames. A table gives, per command and
 * direction, the size of the fixed struct and the kind and bound of the tail; decoding
 * checks every length and every embedded string before anyone looks at the content.
 */
#include <errno.h>
#include <string.h>

#include "resmgr/proto/wire.h"

enum tail_kind {
    TAIL_NONE,
    TAIL_BYTES,   /* opaque bytes up to max */
    TAIL_MULTISZ, /* "a\0b\0\0"-style multi-string */
    TAIL_RSTATES, /* struct rm_wire_rstate[count], count in the fixed part */
};

struct dir_info {
    uint32_t fixed;
    enum tail_kind tail;
    uint32_t tail_max;
};

struct cmd_info {
    const char *name;
    struct dir_info req, rep;
};

#define RSTATES_BYTES (RM_WIRE_RSTATES_MAX * (uint32_t)sizeof(struct rm_wire_rstate))
#define MULTISZ_BYTES (RM_WIRE_READERS_MAX * RM_WIRE_NAME_MAX + 1)

static const struct cmd_info cmds[RM_CMD_MAX_] = {
    [RM_CMD_HELLO] = {"HELLO", {sizeof(struct rm_wire_hello), TAIL_NONE, 0},
                      {sizeof(struct rm_wire_hello), TAIL_NONE, 0}},
    [RM_CMD_ESTABLISH] = {"ESTABLISH", {sizeof(struct rm_wire_establish), TAIL_NONE, 0},
                          {0, TAIL_NONE, 0}},
    [RM_CMD_LIST_READERS] = {"LIST_READERS", {0, TAIL_NONE, 0},
                             {sizeof(struct rm_wire_count), TAIL_MULTISZ, MULTISZ_BYTES}},
    [RM_CMD_GET_STATUS_CHANGE] = {"GET_STATUS_CHANGE",
                                  {sizeof(struct rm_wire_gsc_req), TAIL_RSTATES, RSTATES_BYTES},
                                  {sizeof(struct rm_wire_count), TAIL_RSTATES, RSTATES_BYTES}},
    [RM_CMD_CANCEL] = {"CANCEL", {0, TAIL_NONE, 0}, {0, TAIL_NONE, 0}},
    [RM_CMD_CONNECT] = {"CONNECT", {sizeof(struct rm_wire_connect_req), TAIL_NONE, 0},
                        {sizeof(struct rm_wire_connect_rep), TAIL_NONE, 0}},
    [RM_CMD_RECONNECT] = {"RECONNECT", {sizeof(struct rm_wire_reconnect_req), TAIL_NONE, 0},
                          {sizeof(struct rm_wire_protocol), TAIL_NONE, 0}},
    [RM_CMD_DISCONNECT] = {"DISCONNECT", {sizeof(struct rm_wire_handle_disp), TAIL_NONE, 0},
                           {0, TAIL_NONE, 0}},
    [RM_CMD_BEGIN_TRANSACTION] = {"BEGIN_TRANSACTION",
                                  {sizeof(struct rm_wire_handle_disp), TAIL_NONE, 0},
                                  {0, TAIL_NONE, 0}},
    [RM_CMD_END_TRANSACTION] = {"END_TRANSACTION",
                                {sizeof(struct rm_wire_handle_disp), TAIL_NONE, 0},
                                {0, TAIL_NONE, 0}},
    [RM_CMD_STATUS] = {"STATUS", {sizeof(struct rm_wire_handle_disp), TAIL_NONE, 0},
                       {sizeof(struct rm_wire_status_rep), TAIL_NONE, 0}},
    [RM_CMD_TRANSMIT] = {"TRANSMIT",
                         {sizeof(struct rm_wire_transmit_req), TAIL_BYTES, RM_WIRE_APDU_MAX},
                         {sizeof(struct rm_wire_protocol), TAIL_BYTES, RM_WIRE_APDU_MAX}},
    [RM_CMD_CONTROL] = {"CONTROL",
                        {sizeof(struct rm_wire_control_req), TAIL_BYTES, RM_WIRE_APDU_MAX},
                        {0, TAIL_BYTES, RM_WIRE_APDU_MAX}},
    [RM_CMD_GET_ATTRIB] = {"GET_ATTRIB", {sizeof(struct rm_wire_attrib_req), TAIL_NONE, 0},
                           {0, TAIL_BYTES, RM_WIRE_ATTR_MAX}},
    [RM_CMD_SET_ATTRIB] = {"SET_ATTRIB",
                           {sizeof(struct rm_wire_attrib_req), TAIL_BYTES, RM_WIRE_ATTR_MAX},
                           {0, TAIL_NONE, 0}},
};

_Static_assert(16u + RM_WIRE_APDU_MAX >= RSTATES_BYTES + 8u, "payload bound covers rstates");
_Static_assert(16u + RM_WIRE_APDU_MAX >= MULTISZ_BYTES + 8u, "payload bound covers names");

const char *
rm_wire_cmd_name(uint16_t cmd)
{
    return cmd > 0 && cmd < RM_CMD_MAX_ ? cmds[cmd].name : "?";
}

int
rm_wire_hello_check(const struct rm_wire_hello *hello)
{
    if (hello->magic != RM_WIRE_MAGIC)
        return -EPROTO;
    return hello->major == RM_WIRE_VERSION_MAJOR ? 0 : -EPROTONOSUPPORT;
}

bool
rm_wire_cmd_on_data_channel(uint16_t cmd)
{
    switch (cmd) {
    case RM_CMD_BEGIN_TRANSACTION:
    case RM_CMD_END_TRANSACTION:
    case RM_CMD_STATUS:
    case RM_CMD_TRANSMIT:
    case RM_CMD_CONTROL:
    case RM_CMD_GET_ATTRIB:
    case RM_CMD_SET_ATTRIB:
        return true;
    default:
        return false;
    }
}

static const struct dir_info *
dir_of(uint16_t cmd, bool reply)
{
    if (cmd == 0 || cmd >= RM_CMD_MAX_)
        return NULL;
    return reply ? &cmds[cmd].rep : &cmds[cmd].req;
}

int
rm_wire_check_header(const struct rm_wire_hdr *hdr, bool reply)
{
    const struct dir_info *d = dir_of(hdr->command, reply);

    uint16_t allowed = RM_WIRE_F_REPLY;

    if (reply && hdr->command == RM_CMD_CONNECT && hdr->status == 0)
        allowed |= RM_WIRE_F_FD;
    if (!d || !!(hdr->flags & RM_WIRE_F_REPLY) != reply || (hdr->flags & ~allowed))
        return -EPROTO;
    if (!reply && hdr->status != 0)
        return -EPROTO;
    if (reply && hdr->command == RM_CMD_CANCEL)
        return -EPROTO; /* CANCEL is one-way */
    if ((uint64_t)hdr->length > (uint64_t)d->fixed + d->tail_max)
        return -EMSGSIZE;
    return 0;
}

static bool
name_ok(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

static int
check_multisz(const char *s, size_t len)
{
    /* empty, or names each NUL-terminated followed by one final NUL */
    if (len == 0)
        return 0;
    if (len < 2 || s[len - 1] != '\0' || s[len - 2] != '\0')
        return len == 1 && s[0] == '\0' ? 0 : -EBADMSG;
    for (size_t i = 0; i + 1 < len;) {
        size_t n = strnlen(s + i, len - i);
        if (n == 0 || n >= RM_WIRE_NAME_MAX)
            return -EBADMSG;
        i += n + 1;
    }
    return 0;
}

static int
check_rstates(const void *fixed, const void *tail, size_t len, bool reply)
{
    uint32_t count = reply ? ((const struct rm_wire_count *)fixed)->count
                           : ((const struct rm_wire_gsc_req *)fixed)->count;
    const struct rm_wire_rstate *rs = tail;

    if (len % sizeof(*rs) != 0 || count != len / sizeof(*rs))
        return -EBADMSG;
    for (uint32_t i = 0; i < count; i++) {
        if (!name_ok(rs[i].reader, sizeof(rs[i].reader)) || rs[i].atr_len > RM_WIRE_ATR_MAX)
            return -EBADMSG;
    }
    return 0;
}

/* Checks on the fixed parts that carry strings or lengths. */
static int
check_fixed(uint16_t cmd, bool reply, const void *fixed)
{
    if (cmd == RM_CMD_CONNECT && !reply) {
        const struct rm_wire_connect_req *c = fixed;
        return name_ok(c->reader, sizeof(c->reader)) ? 0 : -EBADMSG;
    }
    if (cmd == RM_CMD_STATUS && reply) {
        const struct rm_wire_status_rep *s = fixed;
        return name_ok(s->reader, sizeof(s->reader)) && s->atr_len <= RM_WIRE_ATR_MAX ? 0 : -EBADMSG;
    }
    if (cmd == RM_CMD_HELLO) {
        const struct rm_wire_hello *h = fixed;
        return h->magic == RM_WIRE_MAGIC ? 0 : -EPROTO;
    }
    return 0;
}

int
rm_wire_decode(const void *buf, size_t len, bool reply, struct rm_wire_msg *ret)
{
    const struct dir_info *d;
    struct rm_wire_msg m = {0};
    const uint8_t *p = buf;
    size_t payload;
    int r;

    if (!buf || len < sizeof(m.hdr))
        return -EBADMSG;
    memcpy(&m.hdr, buf, sizeof(m.hdr));
    r = rm_wire_check_header(&m.hdr, reply);
    if (r < 0)
        return r;
    payload = len - sizeof(m.hdr);
    if (payload != m.hdr.length)
        return -EBADMSG;
    d = dir_of(m.hdr.command, reply);
    if (!d)
        return -EPROTO;
    p += sizeof(m.hdr);
    if (reply && m.hdr.status < 0 && payload == 0) {
        *ret = m; /* bare error reply */
        return 0;
    }
    if (reply && m.hdr.status > 0)
        return -EBADMSG;
    if (payload < d->fixed)
        return -EBADMSG;
    if (d->fixed) {
        m.fixed = p;
        m.fixed_len = d->fixed;
        r = check_fixed(m.hdr.command, reply, p);
        if (r < 0)
            return r;
    }
    m.tail_len = payload - d->fixed;
    m.tail = m.tail_len ? p + d->fixed : NULL;
    if (m.tail_len > d->tail_max)
        return -EBADMSG;
    if (d->tail == TAIL_MULTISZ)
        r = check_multisz(m.tail, m.tail_len);
    else if (d->tail == TAIL_RSTATES)
        r = check_rstates(m.fixed, m.tail, m.tail_len, reply);
    if (r < 0)
        return r;
    *ret = m;
    return 0;
}

ssize_t
rm_wire_encode(void *buf, size_t size, uint16_t cmd, bool reply, uint32_t seq, int32_t status,
               const void *fixed, size_t fixed_len, const void *tail, size_t tail_len)
{
    const struct dir_info *d = dir_of(cmd, reply);
    struct rm_wire_hdr h = {
        .command = cmd,
        .flags = reply ? RM_WIRE_F_REPLY : 0,
        .seq = seq,
        .status = reply ? status : 0,
    };
    size_t total;

    if (!d || status > 0 || (!reply && status != 0))
        return -EINVAL;
    if (fixed_len != d->fixed && !(reply && status < 0 && fixed_len == 0 && tail_len == 0))
        return -EINVAL;
    if ((fixed_len && !fixed) || (tail_len && !tail) || tail_len > d->tail_max)
        return -EINVAL;
    total = sizeof(h) + fixed_len + tail_len;
    if (total > size)
        return -ENOBUFS;
    h.length = (uint32_t)(fixed_len + tail_len);
    memcpy(buf, &h, sizeof(h));
    if (fixed_len)
        memcpy((uint8_t *)buf + sizeof(h), fixed, fixed_len);
    if (tail_len)
        memcpy((uint8_t *)buf + sizeof(h) + fixed_len, tail, tail_len);
    return (ssize_t)total;
}
