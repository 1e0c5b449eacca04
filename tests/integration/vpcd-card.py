#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A tiny test card for vsmartcard's vpcd reader driver (protocol: virtualsmartcard/doc/api.txt):
# it connects to vpcd's TCP port (the card is "inserted" while connected) and answers frames of
# 2-byte big-endian length + payload. Control bytes: 00 power off, 01 power on, 02 reset,
# 04 get ATR; anything else is an APDU. SELECT -> 90 00, ECHO (80 EE) -> data + 90 00.
"""vpcd test card: python3 vpcd-card.py [--host H] [--port P] [--log FILE]; SIGTERM removes it."""

import argparse
import signal
import socket
import struct
import sys
import time

# T=0 only, no interface bytes (so no TCK), historical bytes "vpcd1"
ATR = bytes.fromhex("3B0576706364 31".replace(" ", ""))
SW_OK = b"\x90\x00"


def answer(apdu: bytes) -> bytes:
    """The card's response to one command APDU."""
    if len(apdu) < 4:
        return b"\x67\x00"  # wrong length
    cla, ins = apdu[0], apdu[1]
    if ins == 0xA4:  # SELECT anything
        return SW_OK
    if cla == 0x80 and ins == 0xEE:  # ECHO: Lc data back
        if len(apdu) < 5 or apdu[4] != len(apdu) - 5:
            return b"\x67\x00"
        return apdu[5:] + SW_OK
    if ins == 0xCA:  # GET DATA: nothing here
        return b"\x6A\x88"
    return b"\x6D\x00"  # instruction not supported


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
        # answer vpcd's two-part sends at once instead of after a delayed ACK
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    return buf


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """Connect to vpcd, retrying while its listening socket is not up yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(sock: socket.socket, log) -> None:
    powered = False
    while True:
        (n,) = struct.unpack(">H", recv_exact(sock, 2))
        msg = recv_exact(sock, n) if n else b""
        if n == 1 and msg[0] in (0x00, 0x01, 0x02, 0x04):
            ctl = msg[0]
            print(f"control {ctl:02x}", file=log, flush=True)
            if ctl == 0x00:
                powered = False
            elif ctl in (0x01, 0x02):
                powered = True
            else:
                send_frame(sock, ATR)
            continue
        resp = answer(msg) if powered else b"\x6F\x00"
        print(f"apdu {msg.hex()} -> {resp.hex()}", file=log, flush=True)
        send_frame(sock, resp)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0x8C7B)
    p.add_argument("--log", default=None, help="APDU log file (default: stderr)")
    p.add_argument("--connect-timeout", type=float, default=10.0)
    args = p.parse_args()
    log = open(args.log, "a") if args.log else sys.stderr
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # closes the socket: card removed
    sock = connect(args.host, args.port, args.connect_timeout)
    print(f"connected to {args.host}:{args.port}", file=log, flush=True)
    try:
        serve(sock, log)
    except (EOFError, ConnectionError):
        print("vpcd closed the connection", file=log, flush=True)
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
