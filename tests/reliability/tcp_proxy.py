"""A TCP proxy the tests control, put between a server and PostgreSQL to cut the database off
without touching the PostgreSQL server other tests share.

It runs its own event loop in a thread. `cut()` stops listening and resets every open
connection (the database is unreachable: connects are refused, queries in flight fail);
`restore()` listens again on the same port; `drop_connections()` resets the open connections
but keeps listening (what a database restart looks like to a connection pool). `stall()` keeps
every connection open and accepts new ones but passes no byte either way (a database that
hangs, or a network that drops packets without a reset) until `resume()`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0  # accepted so far
        self.flowing: asyncio.Event | None = None  # set while bytes pass; made on the loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def start(self) -> int:
        self.thread.start()
        self._run(self._listen())
        return self.port

    async def _listen(self) -> None:
        if self.flowing is None:
            self.flowing = asyncio.Event()
            self.flowing.set()
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.writers |= {client_w, upstream_w}
        await asyncio.gather(self._pipe(client_r, upstream_w), self._pipe(upstream_r, client_w))
        self.writers -= {client_w, upstream_w}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                assert self.flowing is not None
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _reset_all(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()  # RST, as a dead server or a cut network gives
        self.writers.clear()

    async def _close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()  # stop listening: connects are refused from now on
        await self._reset_all()
        if server is not None:
            await asyncio.wait_for(server.wait_closed(), 10)

    def cut(self) -> None:
        self._run(self._close())

    def restore(self) -> None:
        self._run(self._listen())

    def drop_connections(self) -> None:
        self._run(self._reset_all())

    async def _set_flowing(self, flowing: bool) -> None:
        assert self.flowing is not None
        if flowing:
            self.flowing.set()
        else:
            self.flowing.clear()

    def stall(self) -> None:
        self._run(self._set_flowing(False))

    def resume(self) -> None:
        self._run(self._set_flowing(True))

    def stop(self) -> None:
        self._run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
