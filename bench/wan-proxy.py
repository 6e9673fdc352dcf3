#!/usr/bin/env python3
"""A TCP proxy that behaves like a long link: every chunk is delayed by half the round-trip time in each
direction, and each direction is paced to the link's rate (shared by all connections, as one link is). This
machine's kernel has no netem; this stands in for it in bench/wan-bench.sh.

    wan-proxy.py --listen 127.0.0.1:PORT --to 127.0.0.1:SSHD_PORT [--rtt-ms 50] [--rate-mbit 200]

Each direction holds at most --queue-kib of data in flight inside the proxy (as a router's buffer): a sender
that outruns the link waits, so TCP sees the link's bandwidth and delay rather than loopback's.
"""
import argparse
import asyncio
import collections
import signal
import time

CHUNK = 64 * 1024


class Link:
    """One direction of the link: when its wire is next free."""

    def __init__(self, rate_bytes: float):
        self.rate = rate_bytes
        self.free_at = 0.0

    def reserve(self, ready: float, size: int) -> float:
        """Returns when a chunk of `size` bytes, ready at `ready`, has crossed the wire."""
        start = max(ready, self.free_at)
        self.free_at = start + size / self.rate
        return self.free_at


class Pipe:
    """Bytes of one connection in one direction, on their way across the link."""

    def __init__(self, link: Link, delay: float, queue_bytes: int):
        self.link = link
        self.delay = delay
        self.queue_bytes = queue_bytes
        self.chunks = collections.deque()
        self.held = 0
        self.changed = asyncio.Event()

    async def pump_in(self, reader: asyncio.StreamReader):
        while True:
            while self.held >= self.queue_bytes:
                self.changed.clear()
                await self.changed.wait()
            data = await reader.read(CHUNK)
            # Serialized onto the wire when read, delivered half a round trip after it left the wire.
            due = self.link.reserve(time.monotonic(), len(data)) + self.delay if data else None
            self.chunks.append((due, data))
            self.held += len(data)
            self.changed.set()
            if not data:
                return

    async def pump_out(self, writer: asyncio.StreamWriter):
        try:
            while True:
                while not self.chunks:
                    self.changed.clear()
                    await self.changed.wait()
                due, data = self.chunks.popleft()
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
                self.held -= len(data)
                self.changed.set()
        except (ConnectionError, OSError):
            pass


async def serve(args):
    rate = args.rate_mbit * 1e6 / 8
    up, down = Link(rate), Link(rate)
    delay = args.rtt_ms / 2000.0
    queue = args.queue_kib * 1024
    host, port = args.to.rsplit(":", 1)

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        # The connection itself takes a round trip, as it would on the long link.
        await asyncio.sleep(2 * delay)
        outbound, inbound = Pipe(up, delay, queue), Pipe(down, delay, queue)
        tasks = [asyncio.create_task(t) for t in (outbound.pump_in(client_reader), outbound.pump_out(server_writer),
                                                  inbound.pump_in(server_reader), inbound.pump_out(client_writer))]
        try:
            await asyncio.gather(*tasks)
        except (ConnectionError, OSError):
            pass
        finally:
            for t in tasks:
                t.cancel()
            for w in (client_writer, server_writer):
                try:
                    w.close()
                except Exception:
                    pass

    listen_host, listen_port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(handle, listen_host, int(listen_port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", required=True, help="HOST:PORT to accept connections on")
    p.add_argument("--to", required=True, help="HOST:PORT to forward them to")
    p.add_argument("--rtt-ms", type=float, default=50, help="round-trip time added (default 50)")
    p.add_argument("--rate-mbit", type=float, default=200, help="bandwidth of each direction (default 200)")
    p.add_argument("--queue-kib", type=int, default=4096, help="bytes held per connection and direction (default 4096)")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
