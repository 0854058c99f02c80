"""The HTTP/1.1 protocol `openims serve` runs: uvicorn's httptools protocol with bounds on the
request head, and zero-copy file bodies.

uvicorn's own parser buffers a request line and headers of any size and waits for them for ever.
This protocol refuses a head over the limits of `api.limits` as soon as the bytes arrive (414 or
431), and a head that does not arrive within `header_timeout` seconds (408), so one slow or
hostile client costs a socket for a bounded time and a bounded number of bytes. Every refusal,
and every request the parser cannot read at all, is answered in the API's error format.

It also offers the ASGI `http.response.zerocopysend` extension (`ZeroCopySend`): an image
download hands over an open file and a byte range, and the kernel copies them from the page
cache to the socket with `sendfile(2)`, never through Python. Reading and writing the bytes in
Python caps a download at a fraction of what the machine can serve.

The body of an upload (a PUT of at least `FAST_BODY_MIN` bytes with a Content-Length) is read
by the kernel straight into the upload pipeline's blocks (`blocks.BodyBlocks`, through
`_BlockReader`), with no copy in this process; a new parser then takes the connection's next
request.

A client that ends its side of the connection (a half-close) still gets its answer: uvicorn
would close the connection at once, and an upload cut short would then end with no word to the
client. When the body was not complete, the application hears its rest as a disconnect (an
upload is refused with 400, in the error format, nothing kept) while its answer still goes
out; either way the connection closes after it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from openims import errors, metrics
from openims.api.http.blocks import READY_BLOCKS, BodyBlocks
from openims.api.http.files import CHUNK_BYTES, ZEROCOPY, FileShorter
from openims.api.http.limits import MAX_PATH_BYTES, HeadLimits, split_target
from openims.config import Settings
from openims.errors import ApiError

log = logging.getLogger("openims.http")

# Bytes of a head beyond its path, query and header limits: the request line's method and
# version, and the ": " and CRLF around every header.
HEAD_SLACK_BYTES = 8192
LINGER_SECONDS = 2.0
# Bytes of a request body read from the socket ahead of the application. uvicorn stops reading
# at 64 KiB, so an upload's socket went quiet whenever the application was busy hashing and
# writing a block, and the next block only began to arrive afterwards; with a few MiB read
# ahead, receiving overlaps that work. Gathered as the pieces the parser gives (`_Pieces`).
BODY_READ_AHEAD = 2 * 1024 * 1024


class _Pieces:
    """A request body's bytes as they arrived, joined only when the application takes them.

    uvicorn gathers them in a bytearray and hands `bytes(bytearray)` over: two copies of every
    byte of an upload before the application sees it. Here a piece that is taken alone (the
    application was waiting for it) is handed over as it is, and pieces that gathered while it
    was busy are joined once. uvicorn's `receive` calls `bytes()` on the body and puts an empty
    bytearray in its place; `on_body` turns that back into pieces."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, piece: bytes) -> None:
        self.pieces.append(piece)
        self.size += len(piece)

    def __bytes__(self) -> bytes:
        pieces = self.pieces
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


# A request body at least this large, sent with a Content-Length (an image upload or staging),
# is read by the kernel straight into blocks of the upload pipeline's size (`BodyBlocks`). Smaller
# ones take the parser's way. Larger than one read of the event loop (256 KiB), so a fast body
# never ends in the read that brought its head.
FAST_BODY_MIN = 1024 * 1024
# Where the rest of a fast body goes once the request is answered (nobody reads it).
_dropped = memoryview(bytearray(256 * 1024))


class _Refused(Exception):
    """Raised inside a parser callback; httptools turns it into a parser error, and uvicorn
    then calls `send_400_response`, which answers with the refusal recorded here."""


@functools.cache
def _settings() -> tuple[HeadLimits, float]:
    settings = Settings()  # workers read their settings from the environment
    return HeadLimits.from_settings(settings), settings.header_timeout


# Bytes per sendfile(2) call: the call returns as soon as the socket's buffer is full, but with
# a client that drains as fast as the kernel fills, one unbounded call would hold the event loop
# for the whole file. Between calls the other connections of the worker get their turn.
SENDFILE_BYTES = 4 * 1024 * 1024
_LOST = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class ZeroCopySend(HttpToolsProtocol):
    """uvicorn's protocol with the ASGI `http.response.zerocopysend` extension.

    uvicorn has no send-side extensions, and uvloop's transports refuse `loop.sendfile`, so the
    message is handled here, between the application and uvicorn's `send`, on the transport's
    own socket:

    - the head uvicorn wrote is flushed first (the transport's buffer is emptied, waiting for
      the client as uvicorn's own flow control does), so the body never overtakes it;
    - `sendfile(2)` then writes from the file straight to the non-blocking socket; when the
      socket is full, a writer callback on a duplicate of its descriptor (the transport keeps
      the original registered for itself) says when to go on;
    - the bytes count against `Content-Length` as uvicorn's own writes do, and the response
      is completed through uvicorn's `send`, so keep-alive, pipelining and `Connection: close`
      work as for any other response;
    - a client gone mid-body (EPIPE, ECONNRESET, or the transport reporting the loss) closes
      the connection and ends the send quietly, as uvicorn's `send` does on a lost connection;
    - a file that ends early cuts the connection and raises `FileShorter` to the application.

    The middleware sees the message pass like any other, and the request ends (log line,
    metrics) when the last byte has been handed to the kernel."""

    _writable: asyncio.Future[None] | None = None  # set while a send waits for the socket

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.scheme == "http":  # TLS encrypts in user space: there is nothing to sendfile
            self.scope["extensions"] = {ZEROCOPY: {}}

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        waiter = self._writable
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # the send in progress sees `disconnected` and ends

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        super()._start_asgi_task(cycle, self._with_zerocopy(cycle, app))

    def _with_zerocopy(self, cycle: RequestResponseCycle, app: ASGIApp) -> ASGIApp:
        async def run(scope: Any, receive: Any, send: Any) -> None:
            async def send_or_sendfile(message: Any) -> None:
                if message["type"] == ZEROCOPY:
                    await self._zerocopy(cycle, message)
                else:
                    await send(message)

            await app(scope, receive, send_or_sendfile)

        return run

    async def _zerocopy(self, cycle: RequestResponseCycle, message: Any) -> None:
        if not cycle.response_started or cycle.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{ZEROCOPY}' outside a response body.")
        file = message["file"]
        fd: int = file if isinstance(file, int) else file.fileno()
        offset: int | None = message.get("offset")
        count: int | None = message.get("count")
        more_body = bool(message.get("more_body", False))
        follow_position = offset is None  # the spec: from the file's position, which moves on
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        if count is None:
            count = max(0, os.fstat(fd).st_size - offset)
        if cycle.disconnected:
            return
        if cycle.chunked_encoding or cycle.scope["method"] == "HEAD":
            await self._copy(cycle, fd, offset, count, more_body)  # bodies uvicorn frames
            return
        if count > cycle.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        if not await self._sendfile(cycle, fd, offset, count):
            return
        if follow_position:
            os.lseek(fd, offset + count, os.SEEK_SET)
        cycle.expected_content_length -= count
        # completes the response as uvicorn does (keep-alive, pipelining, Connection: close)
        await cycle.send({"type": "http.response.body", "body": b"", "more_body": more_body})

    async def _sendfile(
        self, cycle: RequestResponseCycle, fd: int, offset: int, count: int
    ) -> bool:
        """Send `count` bytes of `fd` from `offset`; False if the client went away first."""
        if not await self._flushed(cycle):
            return False
        end = offset + count
        out = os.dup(self.transport.get_extra_info("socket").fileno())
        try:
            while offset < end:
                wanted = min(end - offset, SENDFILE_BYTES)
                try:
                    sent = os.sendfile(out, fd, offset, wanted)
                except BlockingIOError:
                    sent = -1
                except _LOST:
                    return self._lost(cycle)
                except OSError:
                    if self.transport.is_closing():  # closed under us, e.g. on shutdown
                        return self._lost(cycle)
                    raise
                if sent == 0:
                    self._lost(cycle)  # cut: the client must not take a short body for whole
                    raise FileShorter(end, offset)
                if sent > 0:
                    offset += sent
                if sent == wanted:
                    await asyncio.sleep(0)  # let the worker's other connections run
                else:
                    await self._until_writable(out)
                if cycle.disconnected or self.transport.is_closing():
                    return self._lost(cycle)
        finally:
            os.close(out)
        return True

    async def _flushed(self, cycle: RequestResponseCycle) -> bool:
        """Wait until uvicorn's head (and anything else buffered) has reached the socket."""
        if self.flow.write_paused:
            await self.flow.drain()
        if self.transport.get_write_buffer_size():
            # pause_writing now, resume_writing only once the buffer is empty
            self.transport.set_write_buffer_limits(high=0, low=0)
            try:
                await self.flow.drain()
            finally:
                if not self.transport.is_closing():
                    self.transport.set_write_buffer_limits()
        return not cycle.disconnected and not self.transport.is_closing()

    async def _until_writable(self, out: int) -> None:
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._writable = waiter

        def writable() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self.loop.add_writer(out, writable)
        try:
            await waiter
        finally:
            self.loop.remove_writer(out)
            self._writable = None

    def _lost(self, cycle: RequestResponseCycle) -> bool:
        cycle.disconnected = True  # later sends are no-ops, as after any lost connection
        cycle.keep_alive = False
        self.transport.close()
        return False

    async def _copy(
        self, cycle: RequestResponseCycle, fd: int, offset: int, count: int, more_body: bool
    ) -> None:
        """The bytes through uvicorn's own `send`, for bodies it must frame (chunked) or drop
        (HEAD)."""
        end = offset + count
        while offset < end and cycle.scope["method"] != "HEAD":
            data = await self.loop.run_in_executor(
                None, os.pread, fd, min(CHUNK_BYTES, end - offset), offset
            )
            if not data:
                self._lost(cycle)
                raise FileShorter(end, offset)
            offset += len(data)
            await cycle.send({"type": "http.response.body", "body": data, "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b"", "more_body": more_body})


class BoundedHttpProtocol(ZeroCopySend):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits, self.header_timeout = _settings()
        self.max_head_bytes = (
            MAX_PATH_BYTES
            + self.limits.max_query_bytes
            + self.limits.max_header_bytes
            + HEAD_SLACK_BYTES
        )
        self.refusal: ApiError | None = None
        self.head_bytes = 0  # bytes received while a head is awaited, as sent
        self.header_bytes = 0  # header names and values of the current request
        self.head_started = False
        self.head_timer: asyncio.TimerHandle | None = None
        self.lingering = False
        self.cut_short: RequestResponseCycle | None = None  # its body will never be complete
        self.body: BodyBlocks | None = None  # a body read straight into blocks, while it is read
        self.next_body: BodyBlocks | None = None  # the same, for the cycle about to start

    # --- a head is awaited from the connection's start, and from a request's first byte ------

    def on_body(self, body: bytes) -> None:
        """uvicorn's, with `BODY_READ_AHEAD` in place of its 64 KiB high-water mark, and the
        body kept as `_Pieces`."""
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        fast = self.body
        if fast is not None:  # the body's first bytes, which came with the head
            if fast.copy_in(body):
                self._block_ready(fast)
            if not fast.remaining:  # the parser saw it all (not with FAST_BODY_MIN): it goes on
                self.body = None
                self.transport.set_protocol(self)
            return
        gathered: Any = cycle.body  # uvicorn's bytearray, or our pieces (read with bytes())
        if type(gathered) is not _Pieces:
            pieces = _Pieces()
            if gathered:
                pieces.add(bytes(gathered))
            cycle.body = pieces  # type: ignore[assignment]
            gathered = pieces
        gathered.add(body)
        if len(gathered) > BODY_READ_AHEAD:
            self.flow.pause_reading()
        cycle.message_event.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override] # asyncio.Protocol's contract
        """The client ended its side. With a request still unanswered, keep our side open for
        the answer (see the module's docstring); else close, as uvicorn does."""
        cycle = self.cycle
        if self.lingering or cycle is None or cycle.response_complete:
            return None
        cycle.keep_alive = False  # close once the answer is out
        if cycle.more_body:
            self.cut_short = cycle
            cycle.message_event.set()  # a `receive` waiting for more body wakes up
        return True

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        fast, self.next_body = self.next_body, None
        self.body = fast

        async def run(scope: Any, receive: Any, send: Any) -> None:
            async def receive_until_cut() -> Any:
                if fast is not None:
                    return await self._receive_block(cycle, fast)
                if self.cut_short is cycle and not cycle.body:
                    return {"type": "http.disconnect"}
                return await receive()

            await app(scope, receive_until_cut, send)

        super()._start_asgi_task(cycle, run)

    # --- bodies read straight into blocks (`BodyBlocks`) --------------------------------------
    def _block_ready(self, body: BodyBlocks) -> None:
        self.cycle.message_event.set()
        if len(body.ready) >= READY_BLOCKS:
            self.flow.pause_reading()

    def _fast_length(self) -> int | None:
        """The Content-Length of the request whose head just ended, if its body is to be read
        straight into blocks: a PUT (uploads and staging) of at least FAST_BODY_MIN bytes,
        not chunked, that starts at once (not queued behind another request)."""
        if self.parser.get_method() != b"PUT" or self.parser.should_upgrade():
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # pipelined behind a request still being answered
        length: int | None = None
        for name, value in self.headers:
            if name == b"transfer-encoding":
                return None
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
        return length if length is not None and length >= FAST_BODY_MIN else None

    def _fast_body_read(self) -> None:
        """The whole body is read, past the parser (which still waits for it): a new parser
        takes the connection's next request, and this protocol reads again. Nothing beyond the
        body was read (`_BlockReader` asks for no more), so a request sent behind it is next."""
        self.body = None
        self.parser = _parser(self)
        self.transport.set_protocol(self)
        cycle = self.cycle
        if not cycle.response_complete:
            cycle.more_body = False
            cycle.message_event.set()
        elif not self.transport.is_closing():  # answered first: idle from now on
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    async def _receive_block(self, cycle: RequestResponseCycle, body: BodyBlocks) -> Any:
        """uvicorn's `receive`, for a body read into blocks: each message carries one block."""
        if cycle.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        while True:
            if cycle.disconnected or cycle.response_complete:
                return {"type": "http.disconnect"}
            if self.cut_short is cycle:
                body.cut()
            if body.ready:
                block = body.ready.popleft()
                if len(body.ready) < READY_BLOCKS:
                    self.flow.resume_reading()
                more = bool(body.ready) or body.remaining > 0
                body.ended = not more
                return {"type": "http.request", "body": block, "more_body": more}
            if self.cut_short is cycle:  # the client ended its side before the body's end
                return {"type": "http.disconnect"}
            if not body.remaining and not body.ended:
                body.ended = True
                return {"type": "http.request", "body": b"", "more_body": False}
            self.flow.resume_reading()
            await cycle.message_event.wait()
            cycle.message_event.clear()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the answer is sent: what the client still sends is dropped
        if self.head_timer is not None:
            # Every earlier chunk was all head (the head would have ended otherwise), and
            # httptools keeps a header's pieces until the header ends: bound them here.
            if self.head_bytes > self.max_head_bytes:
                self._refuse(errors.HEADERS_TOO_LARGE(limit=self.limits.max_header_bytes))
                return
            self.head_bytes += len(data)
        super().data_received(data)

    def _await_head(self) -> None:
        if self.head_timer is None:
            self.head_bytes = 0
            self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _head_arrived(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a response is on its way: close after it
        elif self.head_started:
            self._refuse(errors.REQUEST_TIMEOUT(part="headers", seconds=self.header_timeout))
        else:  # nothing was sent at all: close quietly, as an idle keep-alive connection is
            self.transport.close()

    # --- parser callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0
        self.head_started = True
        self._await_head()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._check(self.limits.target_error(*split_target(self.url)))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        self._check(self.limits.headers_error(self.header_bytes))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_arrived()
        self.head_started = False
        length = self._fast_length()
        self.next_body = BodyBlocks(length) if length is not None else None
        super().on_headers_complete()  # starts the cycle: `_start_asgi_task` takes `next_body`
        self.next_body = None
        if self.body is not None:  # the next reads go straight into its blocks
            self.transport.set_protocol(_BlockReader(self))

    def _check(self, refusal: ApiError | None) -> None:
        if refusal is not None:
            self.refusal = refusal
            raise _Refused

    # --- answers given before the application is reached -----------------------------------
    def send_400_response(self, msg: str) -> None:
        self._refuse(self.refusal or errors.MALFORMED_REQUEST())

    def _refuse(self, err: ApiError) -> None:
        self._head_arrived()
        path = (getattr(self, "url", None) or b"").partition(b"?")[0].decode("latin-1")
        body = errors.body(err, path)
        fields = {
            **errors.headers(err),
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "close",
        }
        head = [STATUS_LINE[err.status], *(f"{k}: {v}\r\n".encode() for k, v in fields.items())]
        log.warning("request refused before routing: %s", err.message)
        metrics.record_refusal(err.status)
        self.transport.write(b"".join(head) + b"\r\n" + body)
        # Closing with unread bytes would reset the connection and could destroy the answer
        # before the client reads it: end our side, drop what still arrives, close shortly.
        self.lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def _parser(protocol: BoundedHttpProtocol) -> httptools.HttpRequestParser:
    """A parser for `protocol`'s connection, as uvicorn makes one."""
    parser = httptools.HttpRequestParser(protocol)
    parser.set_dangerous_leniencies(lenient_data_after_close=True)
    return parser


class _BlockReader(asyncio.BufferedProtocol):
    """The connection's protocol while the body of a request is read into blocks
    (`BodyBlocks`): the event loop reads into the blocks it offers (`get_buffer`), never past
    the body's end, and it tells the HTTP protocol what happens to the connection. uvloop
    offers the buffered reads only to a protocol that is not an `asyncio.Protocol`, which
    uvicorn's is; hence a protocol of its own. Once the body is read, the HTTP protocol takes
    the connection back (`BoundedHttpProtocol._fast_body_read`)."""

    def __init__(self, http: BoundedHttpProtocol) -> None:
        self.http = http

    def get_buffer(self, sizehint: int) -> memoryview:
        http, body = self.http, self.http.body
        assert body is not None  # the HTTP protocol took the connection back at its end
        if http.cycle.response_complete or http.cycle.disconnected:  # answered: dropped
            return _dropped[: min(len(_dropped), body.remaining)]
        return body.space()

    def buffer_updated(self, nbytes: int) -> None:
        http, body = self.http, self.http.body
        assert body is not None
        http._unset_keepalive_if_required()
        cycle = http.cycle
        if cycle.response_complete or cycle.disconnected:
            body.remaining -= nbytes
        elif body.took(nbytes):
            http._block_ready(body)
        if not body.remaining:
            http._fast_body_read()

    def eof_received(self) -> bool | None:
        return self.http.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.http.connection_lost(exc)

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()
