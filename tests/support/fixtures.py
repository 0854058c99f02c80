"""Server fixtures, all built by `server_fixture`.

A server fixture gives each test a server on an empty database of the backend under test
(the `backend` parameter). The servers themselves live for the whole session, in the
session's `ServerPool`, one per database, authentication and settings: started on first use,
stopped when the session ends.

`conftest.py` declares `server` and `auth_server`; a test module that needs a server with
other settings declares its own fixture the same way:

    slow_server = server_fixture("slow_server", env={"OPENIMS_BODY_TIMEOUT": "3"})
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import empty
from tests.support.servers import AuthServer, Server, start_server

DATABASE_FIXTURES = {"sqlite": "sqlite_database", "postgres": "pg_database"}

Served = Server | AuthServer


class ServerPool:
    """The servers of one test session (one xdist worker)."""

    def __init__(self, directory: Callable[[str], Path]) -> None:
        self.directory = directory  # a new directory for each server's files
        self.servers: dict[tuple[object, ...], Served] = {}

    def get(self, database_url: str, *, auth: bool, env: Mapping[str, str] | None = None) -> Served:
        key = (database_url, auth, tuple(sorted((env or {}).items())))
        if key not in self.servers:
            directory = self.directory("auth" if auth else "server")
            self.servers[key] = start_server(database_url, directory, auth=auth, env=env)
        return self.servers[key]

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


def shared_server(
    request: pytest.FixtureRequest,
    backend: str,
    *,
    auth: bool,
    env: Mapping[str, str] | None = None,
) -> Served:
    """The session's server of this kind on the database of `backend`, emptied."""
    pool: ServerPool = request.getfixturevalue("servers")
    url: str = request.getfixturevalue(DATABASE_FIXTURES[backend])
    server = pool.get(url, auth=auth, env=env)
    empty(url)
    return server


def server_fixture(name: str, *, auth: bool = False, env: Mapping[str, str] | None = None) -> Any:
    """A function-scoped fixture called `name`: a server on an empty database of the backend
    under test, whose clients are closed after the test. Without `auth` it is a no-auth
    `Server`, with `auth` an `AuthServer` holding the secrets of every principal in
    `servers.PRINCIPALS`. `env` holds OPENIMS_* settings for it."""

    def fixture(backend: str, request: pytest.FixtureRequest) -> Iterator[Served]:
        server = shared_server(request, backend, auth=auth, env=env)
        yield server
        server.close_clients()

    fixture.__name__ = name
    return pytest.fixture(name=name)(fixture)
