#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A KDC stand-in on 127.0.0.1 for tests/integration/pam-robust.sh, UDP and TCP on one port.

  kdc-proxy.py PORT                        black hole: reads every request, never answers
  kdc-proxy.py PORT --upstream P --delay S forwards to the KDC on 127.0.0.1:P and holds
                                           each answer S seconds (a slow KDC)

Prints "ready" once both sockets listen, and one line per request it sees.
"""
import argparse
import asyncio
import sys


def log(*args):
    print(*args, flush=True)


class Udp(asyncio.DatagramProtocol):
    def __init__(self, args):
        self.args = args
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        log(f"udp request {len(data)} bytes")
        if self.args.upstream:
            asyncio.ensure_future(self.forward(data, addr))

    async def forward(self, data, addr):
        loop = asyncio.get_running_loop()
        reply = loop.create_future()

        class Up(asyncio.DatagramProtocol):
            def datagram_received(self, d, a):
                if not reply.done():
                    reply.set_result(d)

        up, _ = await loop.create_datagram_endpoint(Up, remote_addr=("127.0.0.1", self.args.upstream))
        up.sendto(data)
        try:
            answer = await asyncio.wait_for(reply, 10)
        except asyncio.TimeoutError:
            return
        finally:
            up.close()
        await asyncio.sleep(self.args.delay)
        log(f"udp answer {len(answer)} bytes after {self.args.delay} s")
        self.transport.sendto(answer, addr)


async def tcp_client(reader, writer, args):
    try:
        while True:
            head = await reader.readexactly(4)
            body = await reader.readexactly(int.from_bytes(head, "big"))
            log(f"tcp request {len(body)} bytes")
            if not args.upstream:
                continue  # black hole: keep reading, never answer
            up_r, up_w = await asyncio.open_connection("127.0.0.1", args.upstream)
            up_w.write(head + body)
            await up_w.drain()
            rhead = await up_r.readexactly(4)
            rbody = await up_r.readexactly(int.from_bytes(rhead, "big"))
            up_w.close()
            await asyncio.sleep(args.delay)
            log(f"tcp answer {len(rbody)} bytes after {args.delay} s")
            writer.write(rhead + rbody)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("--upstream", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.0)
    args = p.parse_args()
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Udp(args), local_addr=("127.0.0.1", args.port))
    server = await asyncio.start_server(lambda r, w: tcp_client(r, w, args), "127.0.0.1", args.port)
    log("ready")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
