"""The routes the application serves, read from the app itself, so tests can walk them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from openims.api.app import create_app
from openims.config import Settings


def routes_of_the_app() -> list[tuple[str, str]]:
    """(method, path template) of every route, HEAD left out. Building the app opens no
    database connection, so the URL names a file that is never created."""
    never_opened = Path(tempfile.gettempdir()) / "openims-route-listing-never-opened.db"
    app = create_app(Settings(no_auth=True, database_url=f"sqlite:///{never_opened}"))
    try:
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before route contexts: app.routes is flat
        routes = list(app.routes)
    found = {
        (method, route.path)
        for route in routes
        for method in route.methods or ()
        if method != "HEAD"
    }
    return sorted(found)


def serves(method: str, path: str) -> bool:
    return (method, path) in routes_of_the_app()
