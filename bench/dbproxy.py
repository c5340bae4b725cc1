"""A TCP proxy on 127.0.0.1 between bot processes and PostgreSQL that can fail on demand.

``make chaos`` puts it in the bot processes' ``BOT_DATABASE_URL`` to stage two database faults:

- ``blackhole(seconds)``: nothing is forwarded either way (bytes sent meanwhile are held, and
  new connections are accepted but get no answer), while every socket stays open: what a
  client sees when a firewall, a failing network path or a frozen server drops its packets.
  Forwarding resumes afterwards, held bytes first;
- ``reset()``: every connection is cut at once (an abort, not a goodbye), as when the database
  restarts or fails over; new connections work at once.

It runs on the caller's event loop and does no parsing: bytes in, the same bytes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class DatabaseProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.resets = 0
        self.blackholes = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._open.set()
        if self._server is not None:
            self._server.close()
        self.reset()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    @property
    def blackholed(self) -> bool:
        return not self._open.is_set()

    def blackhole(self, seconds: float) -> None:
        """Stop forwarding for ``seconds``, keeping every socket open."""
        self.blackholes += 1
        self._open.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._open.set)

    def reset(self) -> None:
        """Cut every connection now (RST: no orderly close)."""
        self.resets += 1
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    # Linger 0: the kernel sends RST instead of FIN.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._open.wait()  # a new connection during a black hole: accepted, no answer
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                await self._open.wait()
                if writer.transport.is_closing():
                    return
                writer.write(data)
                await writer.drain()
