"""How a request becomes a `Caller`. The server holds one `Authenticator`; the API's
authentication middleware (`api.authentication`) asks it about every request outside the few
public paths, before any route runs, and routes read the result through `api.deps.caller`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import Request

from openims.domain.access import Caller

NO_AUTH_DEFAULT_PROJECT = "demo"

# Reads the whole request body, size-limited; the route can still read it afterwards.
BodyReader = Callable[[], Awaitable[bytes]]


class Authenticator(Protocol):
    async def authenticate(self, request: Request, read_body: BodyReader) -> Caller:
        """The caller of `request`; raises ApiError (401) if it cannot be trusted. The body
        is read only through `read_body`, and only when a signature covers it."""
        ...


def roles_from_header(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset({"member"})
    return frozenset(r.strip().lower() for r in value.split(",") if r.strip())


class NoAuth:
    """Emulator mode: nothing is verified. The project comes from `X-Project-Id` (default
    `demo`) and the roles from `X-Roles` (default member), as a test harness sets them."""

    async def authenticate(self, request: Request, read_body: BodyReader) -> Caller:
        project = request.headers.get("x-project-id") or NO_AUTH_DEFAULT_PROJECT
        return Caller(project_id=project, roles=roles_from_header(request.headers.get("x-roles")))
