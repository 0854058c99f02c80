"""The HTTP/1.1 protocol `openims serve` runs: uvicorn's httptools protocol with bounds on the
request head.

uvicorn's own parser buffers a request line and headers of any size and waits for them for ever.
This protocol refuses a head over the limits of `api.limits` as soon as the bytes arrive (414 or
431), and a head that does not arrive within `header_timeout` seconds (408), so one slow or
hostile client costs a socket for a bounded time and a bounded number of bytes. Every refusal,
and every request the parser cannot read at all, is answered in the API's error format.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from openims import errors, metrics
from openims.api.http.limits import MAX_PATH_BYTES, HeadLimits, split_target
from openims.config import Settings
from openims.errors import ApiError

log = logging.getLogger("openims.http")

# Bytes of a head beyond its path, query and header limits: the request line's method and
# version, and the ": " and CRLF around every header.
HEAD_SLACK_BYTES = 8192
LINGER_SECONDS = 2.0


class _Refused(Exception):
    """Raised inside a parser callback; httptools turns it into a parser error, and uvicorn
    then calls `send_400_response`, which answers with the refusal recorded here."""


@functools.cache
def _settings() -> tuple[HeadLimits, float]:
    settings = Settings()  # workers read their settings from the environment
    return HeadLimits.from_settings(settings), settings.header_timeout


class BoundedHttpProtocol(HttpToolsProtocol):
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

    # --- a head is awaited from the connection's start, and from a request's first byte ------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

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
        super().on_headers_complete()

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
