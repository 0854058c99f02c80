"""What routes and HTTP plumbing ask of the application: the services, the settings and the
caller. This is the only module that reads `app.state`, which `api.app` fills."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from openims import errors
from openims.auth.caller import Authenticator
from openims.config import Settings
from openims.domain.access import Caller
from openims.domain.query import Params
from openims.service import Services

if TYPE_CHECKING:  # the console's package imports this module
    from openims.api.console.session import Sessions


async def services(request: Request) -> Services:
    """Async so FastAPI calls it inline instead of in its thread pool."""
    found: Services = request.app.state.services
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


async def caller(request: Request) -> Caller:
    """The caller `api.http.authentication` established before routing (it is also what the
    access log records). A route on a public path has none: asking for one there is refused."""
    who: Caller | None = request.scope.get("state", {}).get("caller")
    if who is None:
        raise errors.UNAUTHORIZED()
    return who


def query_pairs(request: Request) -> Params:
    """The query string as (name, value) pairs, repeats kept, blanks kept."""
    return request.query_params.multi_items()


def authenticator(request: Request) -> Authenticator:
    """The server's authenticator (the console's sign-in checks a token or key pair with it)."""
    found: Authenticator = request.app.state.authenticator
    return found


def console_sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.console_sessions
    return found
