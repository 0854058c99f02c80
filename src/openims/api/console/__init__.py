"""The web console at `/console` (docs/console.md): server-rendered pages over the same
services as the APIs. `pages` holds the routes, `views` what the pages show, `session` the
signed session cookie and the checks of every state-changing request; the templates and the
stylesheet and script they load are files of this package."""

from __future__ import annotations

import secrets

from openims.api.console.pages import router
from openims.api.console.session import Sessions
from openims.config import Settings


def open_sessions(settings: Settings) -> Sessions:
    """The console's sessions, signed with the configured key or, without one (an
    application made in a test, or a command other than `serve`), with a random one."""
    secret = settings.console_secret or secrets.token_urlsafe(32)
    return Sessions(secret, hours=settings.console_session_hours)


__all__ = ["open_sessions", "router"]
