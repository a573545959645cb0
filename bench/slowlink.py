"""slowlink.py PORT_FILE TARGET_HOST:PORT DELAY_MS RATE_BYTES_PER_S - a slow,
narrow TCP link for the benchmarks (bench/region.sh). Standard library only.

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and
forwards every connection to TARGET as a plain byte stream (any protocol).
Like `tc netem delay DELAY/2 rate RATE` on both ends of a wire:

- the bytes of each direction are delivered DELAY_MS/2 after they were
  sent, so a request and its answer cost one DELAY_MS round trip; a new
  connection also pays one round trip (the TCP handshake) before its first
  bytes can leave;
- per direction, all connections together share RATE bytes per second (one
  token bucket each way, with a 64 KiB burst): bytes are admitted to the
  wire at that rate, then delayed.

It streams: at most max(8 MiB, 4 x the bandwidth-delay product) is held per
connection and direction; past that it stops reading and TCP pushes back on
the sender. RATE 0 means no cap; DELAY_MS 0 no delay.
"""
import asyncio
import os
import socket
import sys
import time

CHUNK = 256 << 10
BURST = 64 << 10


class Bucket:
    """A token bucket shared by every connection of one direction. Takers
    debit what they send and wait off their debt, so concurrent senders
    are served in turn and their sum never exceeds the rate."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = float(BURST)
        self.t = time.monotonic()

    async def take(self, n):
        if self.rate <= 0:
            return
        now = time.monotonic()
        self.tokens = min(float(BURST), self.tokens + (now - self.t) * self.rate)
        self.t = now
        self.tokens -= n
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


async def pump(reader, writer, bucket, delay, hold, not_before):
    """Copy reader to writer: admitted by the bucket, delivered `delay`
    seconds later; at most `hold` bytes in flight."""
    q = asyncio.Queue()
    room = asyncio.Event()
    room.set()
    inflight = 0

    async def deliver():
        nonlocal inflight
        try:
            while True:
                due, data = await q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
                inflight -= len(data)
                if inflight <= hold:
                    room.set()
        except (ConnectionError, OSError):
            return
        finally:
            room.set()  # never leave the reader waiting on a dead writer

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(CHUNK)
            if data:
                await bucket.take(len(data))
            sent = max(time.monotonic(), not_before)
            if not data:
                q.put_nowait((sent + delay, None))
                break
            inflight += len(data)
            q.put_nowait((sent + delay, data))
            if inflight > hold:
                room.clear()
                await room.wait()
            if task.done():  # the other end is gone
                break
    except (ConnectionError, OSError):
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def main():
    port_file, target = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) / 1000 / 2
    rate = float(sys.argv[4])
    thost, tport = target.rsplit(":", 1)
    if thost.startswith("http://"):
        thost = thost[len("http://"):]
    up, down = Bucket(rate), Bucket(rate)
    hold = max(8 << 20, int(4 * rate * 2 * delay)) if rate > 0 else 8 << 20

    async def handle(creader, cwriter):
        # the handshake: the client's first bytes leave one round trip after it connected
        first = time.monotonic() + 2 * delay
        try:
            treader, twriter = await asyncio.open_connection(thost, int(tport), limit=1 << 20)
        except OSError:
            cwriter.close()
            return
        for w in (cwriter, twriter):
            s = w.get_extra_info("socket")
            if s is not None:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(pump(creader, twriter, up, delay, hold, first),
                                 pump(treader, cwriter, down, delay, hold, 0.0))
        finally:
            for w in (cwriter, twriter):
                w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 20, backlog=256)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
