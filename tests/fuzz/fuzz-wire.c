/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the frame decoder that scardd runs on every byte a client sends
 * (rm_wire_check_header, rm_wire_decode; resmgr/proto/wire.c), in both directions, fed
 * the way manager.c's process_input() feeds it: header check first, then whole frames.
 * Build: ./configure CC=clang --enable-fuzz && make tests/fuzz/fuzz-wire
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resmgr/proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (size - off >= sizeof(struct rm_wire_hdr)) {
        struct rm_wire_hdr h;
        struct rm_wire_msg msg;
        bool reply = data[off] & 1; /* exercise both directions */

        memcpy(&h, data + off, sizeof(h));
        if (rm_wire_check_header(&h, reply) < 0)
            break;
        size_t len = sizeof(h) + h.length;
        if (size - off < len)
            break;
        /* a private copy, as the daemon makes, so that ASan sees any read past the frame */
        uint8_t *frame = malloc(len);
        if (!frame)
            break;
        memcpy(frame, data + off, len);
        if (rm_wire_decode(frame, len, reply, &msg) == 0) {
            const uint8_t *end = frame + len;
            if (msg.fixed && ((const uint8_t *)msg.fixed + msg.fixed_len > end))
                abort();
            if (msg.tail && ((const uint8_t *)msg.tail + msg.tail_len > end))
                abort();
            (void)rm_wire_cmd_name(msg.hdr.command);
        }
        free(frame);
        off += len;
    }
    return 0;
}
