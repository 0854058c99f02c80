"""Responses whose body is a byte range of a local file: image downloads from the file store.

`send_file` (and `FileSlice`, the same as a Starlette response a route can return) answers with
bytes [start, end) of a file and a `Content-Length` saying so. Under `openims serve` it hands the
open file to the server through the ASGI `http.response.zerocopysend` extension, and the kernel
moves the bytes from the page cache to the socket (`BoundedHttpProtocol`, `sendfile(2)`): no
Python loop touches them, which is what lets a download run at the machine's speed (a stock
Starlette `FileResponse` reads and writes 64 KiB at a time from Python, at a fifth of it).
Elsewhere (tests calling the application in-process, other ASGI servers) it streams chunks of
`CHUNK_BYTES`, each read in a worker thread while the previous one is sent.

The file is opened once, before the response starts, and read through that descriptor only: a
store that replaces files by renaming new ones into place, or deletes them, cannot mix two
versions into one answer. What it cannot survive is a file that shrinks (its bytes no longer
those recorded): then `FileShorter` is raised, before the response starts if the file is short
already when opened, else mid-body, after the connection has been cut (or with the server left
to cut it, as every ASGI server does when an application fails mid-response) — never a body
shorter than its `Content-Length` on a connection that goes on. The caller logs and counts it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

# The ASGI extension (https://asgi.readthedocs.io/en/latest/extensions.html#zero-copy-send):
# advertised in scope["extensions"] by a server that sends `{"type": ZEROCOPY, "file": <file
# with a descriptor>, "offset": int, "count": int, "more_body": bool}` with sendfile(2).
ZEROCOPY = "http.response.zerocopysend"
# Chunks of the streamed fallback: large enough that the per-chunk cost (a thread hop, an ASGI
# message, a transport write) is small against the copy, small enough to bound memory to two.
CHUNK_BYTES = 1024 * 1024


class FileShorter(Exception):
    """The file ended at `position`, before `end`, the byte the response promised to reach."""

    def __init__(self, end: int, position: int, path: str | None = None) -> None:
        self.end = end
        self.position = position
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}the file ends at byte {position}, the response needs {end}")


async def send_file(
    scope: Scope,
    receive: Receive,
    send: Send,
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    end: int | None = None,
    status: int = 200,
    headers: Mapping[str, str] | list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with bytes [`start`, `end`) of `path` (`end` None: to the end of the file),
    with `status` and `headers` (str pairs, or raw lowercase byte pairs as ASGI sends them) and
    a `Content-Length` this adds. Raises `FileShorter` if the file does not reach `end`."""
    # a thread: the store may be a network filesystem, where even an open can wait
    file = await asyncio.to_thread(open, path, "rb", buffering=0)
    with file:
        size = os.fstat(file.fileno()).st_size
        if end is None:
            end = size
        if not 0 <= start <= end:
            raise ValueError(f"bad byte range [{start}, {end})")
        if size < end:
            raise FileShorter(end, size, os.fspath(path))
        length = end - start
        raw = _raw_headers(headers)
        raw.append((b"content-length", str(length).encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if length == 0 or scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        try:
            if ZEROCOPY in (scope.get("extensions") or {}):
                await send(
                    {
                        "type": ZEROCOPY,
                        "file": file,
                        "offset": start,
                        "count": length,
                        "more_body": False,
                    }
                )
            else:
                await _stream(send, file.fileno(), start, end)
        except FileShorter as exc:
            raise FileShorter(exc.end, exc.position, os.fspath(path)) from None


async def _stream(send: Send, fd: int, position: int, end: int) -> None:
    """The fallback: chunks read in a thread, the next one read while this one is sent."""
    loop = asyncio.get_running_loop()

    def read(at: int) -> asyncio.Future[bytes]:
        return loop.run_in_executor(None, os.pread, fd, min(CHUNK_BYTES, end - at), at)

    pending: asyncio.Future[bytes] | None = read(position)
    try:
        while pending is not None:
            data = await pending
            pending = None
            if not data:
                raise FileShorter(end, position)
            position += len(data)
            if position < end:
                pending = read(position)
            await send({"type": "http.response.body", "body": data, "more_body": position < end})
    finally:
        # the descriptor is closed once this returns: no thread may still be reading it
        if pending is not None:
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved, so that asyncio does not report it


def _raw_headers(
    headers: Mapping[str, str] | list[tuple[bytes, bytes]] | None,
) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    if isinstance(headers, list):
        return [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in headers.items()
        if k.lower() != "content-length"
    ]


class FileSlice(Response):
    """`send_file` as a response a route returns: bytes [`start`, `end`) of `path`. Headers
    set on it (`.headers`, or the `headers` argument) are sent; `Content-Length` is computed.
    A `FileShorter` raised while sending is handed to `on_short` (where the route logs and
    counts it, as it cannot catch what its returned response raises) and then propagates out
    of the application, as any failure mid-response does."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start: int = 0,
        end: int | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = "application/octet-stream",
        background: BackgroundTask | None = None,
        on_short: Callable[[FileShorter], None] | None = None,
    ) -> None:
        self.path = path
        self.on_short = on_short
        self.start = start
        self.end = end
        self.status_code = status_code
        self.media_type = media_type
        self.background = background
        self.body = b""
        self.init_headers(headers)  # its Content-Length of 0 is replaced by send_file's

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send_file(
                scope,
                receive,
                send,
                self.path,
                start=self.start,
                end=self.end,
                status=self.status_code,
                headers=self.raw_headers,
            )
        except FileShorter as exc:
            if self.on_short is not None:
                self.on_short(exc)
            raise
        if self.background is not None:
            await self.background()


__all__ = ["CHUNK_BYTES", "ZEROCOPY", "FileShorter", "FileSlice", "send_file"]
