#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Time one sign-in from "PIN entered" to "done", as a user at a terminal sees it.

usage: pin-to-tgt.py PINFILE CMD [ARG...]

Runs CMD on a new pseudo-terminal, waits for a PIN prompt (a line containing "PIN", any
case, ending in ':' plus optional blanks) and for the terminal's echo to be off (the program
is then reading the PIN; input typed before that may be flushed), types the PIN from PINFILE,
and waits for CMD to exit. Prints two numbers of milliseconds: prompt-to-exit (PIN entered → TGT stored and the
process gone) and start-to-exit. Exit status: CMD's, or 2 when no prompt came within 30 s.
The PIN is never printed; CMD's output is discarded.
"""
import os
import pty
import re
import select
import sys
import termios
import time

PROMPT = re.compile(rb"pin[^\n]*:\s*$", re.IGNORECASE)


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 64
    with open(sys.argv[1], "rb") as f:
        pin = f.readline().rstrip(b"\r\n")
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(sys.argv[2], sys.argv[2:])
        finally:
            os._exit(127)
    seen, typed_at = b"", None
    deadline = start + 30
    while True:
        timeout = max(0.0, deadline - time.monotonic()) if typed_at is None else None
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            sys.stderr.write("pin-to-tgt: no PIN prompt within 30 s\n")
            return 2
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal (exited)
            chunk = b""
        if not chunk:
            break
        if typed_at is None:
            seen = (seen + chunk)[-512:]
            if PROMPT.search(seen):
                while termios.tcgetattr(fd)[3] & termios.ECHO:
                    if time.monotonic() > deadline:
                        os.kill(pid, 9)
                        os.waitpid(pid, 0)
                        sys.stderr.write("pin-to-tgt: the terminal's echo stayed on\n")
                        return 2
                    time.sleep(0.0005)
                typed_at = time.monotonic()
                os.write(fd, pin + b"\n")
    _, status = os.waitpid(pid, 0)
    end = time.monotonic()
    if typed_at is None:
        sys.stderr.write("pin-to-tgt: the command exited without asking for a PIN\n")
        return 2
    print(f"{(end - typed_at) * 1000:.1f} {(end - start) * 1000:.1f}")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
