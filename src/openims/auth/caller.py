"""How a request becomes a `Caller`. The server holds one `Authenticator`; routes that need a
caller ask for it through `api.deps.caller`, which hands over the request."""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request

from openims.domain.access import Caller

NO_AUTH_DEFAULT_PROJECT = "demo"


class Authenticator(Protocol):
    async def authenticate(self, request: Request) -> Caller:
        """The caller of `request`; raises ApiError (401/403) if it cannot be trusted."""
        ...


def roles_from_header(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset({"member"})
    return frozenset(r.strip().lower() for r in value.split(",") if r.strip())


class NoAuth:
    """Emulator mode: nothing is verified. The project comes from `X-Project-Id` (default
    `demo`) and the roles from `X-Roles` (default member), as a test harness sets them."""

    async def authenticate(self, request: Request) -> Caller:
        project = request.headers.get("x-project-id") or NO_AUTH_DEFAULT_PROJECT
        return Caller(project_id=project, roles=roles_from_header(request.headers.get("x-roles")))
