"""Authentication in front of every route: a request outside the public paths reaches the
router only once the server's `Authenticator` has named its caller.

It is middleware rather than a per-route dependency so that it is closed by default: a route
added tomorrow is protected without anyone remembering to ask for a caller. The body is read
only when a signature covers it, through a recorder that hands the same bytes to the route
afterwards (so the route reads it however it likes), and never beyond `max_body_bytes`."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openims.api.http import body
from openims.api.http import errors as api_errors
from openims.auth.caller import Authenticator
from openims.errors import ApiError

# Version discovery, liveness, metrics and the API description: what clients and load
# balancers read before they hold credentials. Everything else needs a caller.
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/v2",
        "/v2/",
        "/versions",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
    }
)


# One API version (`GET /v2.1`, `GET /v1`: the IMS SDK's `show_version`).
VERSION_PATH = re.compile(r"/v[0-9]+(\.[0-9]+)?/?")
# The files of the API reference page (`api.routes.meta`).
PUBLIC_PREFIXES = ("/docs/assets/",)
# The web console names its caller from its own session cookie (`api.console.session`), never
# from API credentials: each of its routes asks for the session itself.
CONSOLE_PATH = "/console"


def is_console(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


def is_public(path: str) -> bool:
    return (
        path in PUBLIC_PATHS
        or path.startswith(PUBLIC_PREFIXES)
        or VERSION_PATH.fullmatch(path) is not None
    )


class _Recorder:
    """Wraps `receive`: what the authenticator reads is recorded, then replayed to the app
    before the app reads on from the client."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._recorded: list[Message] = []

    async def record(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._recorded.append(message)
        return message

    async def replay(self) -> Message:
        if self._recorded:
            return self._recorded.pop(0)
        return await self._receive()


class Authenticate:
    def __init__(self, app: ASGIApp, *, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]) or is_console(scope["path"]):
            await self.app(scope, receive, send)
            return
        recorder = _Recorder(receive)
        request = Request(scope, recorder.record)

        async def read_body() -> bytes:
            return await body.read(request)

        try:
            caller = await self.authenticator.authenticate(request, read_body)
        except ApiError as err:
            response = api_errors.response(err, scope["path"])
            await response(scope, receive, send)
            return
        except ClientDisconnect:
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["caller"] = caller
        await self.app(scope, recorder.replay, send)
