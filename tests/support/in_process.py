"""The application served in the test process: the `Server` interface without a socket.

A test that looks only at requests and responses (status, headers, bodies, what is stored)
gets the same answers from `create_app(Settings(...))` called in-process as from an
`openims serve` process, without the cost of a TCP connection, HTTP parsing and a second
process per request. What it cannot show is what happens outside the application: the
HTTP protocol layer (`openims.api.http.protocol`: head limits and timeouts, slow clients), worker
processes, the server's log and `/metrics` (one registry per process, shared here by every
in-process server), crashes. Tests of those use `ServerProcess`.

The application runs on one event loop of its own in a background thread (as under uvicorn,
its database pool lives on one loop for its whole life); each request a client sends is
handed to that loop, so clients stay plain synchronous `httpx.Client`s and several test
threads may send requests at once."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from openims.api.app import create_app
from openims.config import Settings
from tests.support.servers import (
    TEST_QUOTAS,
    AuthServer,
    Server,
    obs_for,
    write_credentials,
)

# The address requests appear to come from, and the base URL clients send to: `.test` names
# resolve nowhere, so a request that bypasses the in-process transport fails at once.
CLIENT_ADDRESS = ("127.0.0.1", 50000)
BASE_URL = "http://openims.test"


class PortalTransport(httpx.BaseTransport):
    """Sends each request to an ASGI application running on `portal`'s event loop."""

    def __init__(self, portal: BlockingPortal, app: FastAPI) -> None:
        self.portal = portal
        # app exceptions become the 500 a server would answer, as uvicorn does
        self.asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=CLIENT_ADDRESS)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            response = await self.asgi.handle_async_request(copy)
            return response.status_code, response.headers.raw, await response.aread()

        status, headers, content = self.portal.call(send)
        return httpx.Response(status, headers=headers, content=content, request=request)


def settings(database_url: str, env: Mapping[str, str] | None = None, **values: Any) -> Settings:
    """The settings `openims serve --database URL` with `env` (OPENIMS_* variables) would run
    with: the same names and values, read by the same class (over the test servers' quota,
    `servers.TEST_QUOTAS`)."""
    given = {**TEST_QUOTAS, **(env or {})}
    fields = {k.removeprefix("OPENIMS_").lower(): v for k, v in given.items()}
    return Settings(**{**fields, "database_url": database_url, **values})


@dataclass
class InProcessServer(Server):
    """`create_app(settings)` on an event loop of its own, with its lifespan run."""

    app: FastAPI
    transport: PortalTransport
    _stack: ExitStack = field(repr=False)

    def connect(
        self, headers: Mapping[str, str] | None = None, timeout: float = 30
    ) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=self.transport
        )

    def stop(self) -> None:
        super().stop()
        self._stack.close()  # the lifespan's end (the pool closes), then the loop's


def start_in_process(
    database_url: str, env: Mapping[str, str] | None = None, *, no_auth: bool = True, **values: Any
) -> InProcessServer:
    """The application on `database_url` (migrated already, as the database fixtures are)."""
    with ExitStack() as stack:
        if "image_store" not in values and "OPENIMS_IMAGE_STORE" not in (env or {}):
            images = stack.enter_context(tempfile.TemporaryDirectory(prefix="openims-images-"))
            values["image_store"] = f"file://{images}"
        if "obs" not in values and "OPENIMS_OBS" not in (env or {}):
            # the IMS object storage every server of the database shares (`obs_for`), never
            # ./data/obs; tests put objects in `app.state.services.obs.root`
            values["obs"] = str(obs_for(database_url))
        app = create_app(settings(database_url, env, no_auth=no_auth, **values))
        portal = stack.enter_context(start_blocking_portal(backend_options={"use_uvloop": True}))
        stack.enter_context(portal.wrap_async_context_manager(app.router.lifespan_context(app)))
        transport = PortalTransport(portal, app)
        server = InProcessServer(BASE_URL, database_url, app, transport, stack.pop_all())
    return server


def start_in_process_auth(
    database_url: str, directory: Path, env: Mapping[str, str] | None = None
) -> AuthServer:
    """The application with authentication on, reading a fresh credentials file in
    `directory` that holds the secrets of every principal (as `start_server(auth=True)`)."""
    credentials = directory / "credentials.toml"
    keys, tokens = write_credentials(credentials)
    server = start_in_process(database_url, env, no_auth=False, credentials=credentials)
    return AuthServer(server, credentials, keys, tokens)
