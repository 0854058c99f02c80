"""Server fixtures, all built by `server_fixture`.

A server fixture gives each test a server on an empty database of the backend under test
(the `backend` parameter). The servers themselves live for the whole session, in the
session's `ServerPool`, one per kind (process or in-process), database, authentication and
settings: started on first use, stopped when the session ends.

`conftest.py` declares `server` and `auth_server` (`openims serve` processes). A test module
declares its own fixture of the same name to choose another kind of server for its tests: the
application in the test process (`tests.support.in_process`), for tests that only look at
requests and responses, or one with other settings:

    server = server_fixture("server", in_process=True)
    slow_server = server_fixture("slow_server", env={"OPENIMS_BODY_TIMEOUT": "3"})

`pytest --real-servers` serves the in-process ones from processes too (to check they agree)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from openims.store.blobs import BlobStore
from openims.store.blobs.files import FileStore
from tests.support.databases import empty
from tests.support.in_process import start_in_process, start_in_process_auth
from tests.support.seaweed import S3Server, seaweed_server
from tests.support.servers import AuthServer, Server, obs_for, start_server

DATABASE_FIXTURES = {"sqlite": "sqlite_database", "postgres": "pg_database"}
REAL_SERVERS_OPTION = "--real-servers"

Served = Server | AuthServer


class ServerPool:
    """The servers of one test session (one xdist worker)."""

    def __init__(self, directory: Callable[[str], Path], *, real_only: bool = False) -> None:
        self.directory = directory  # a new directory for each server's files
        self.real_only = real_only
        self.servers: dict[tuple[object, ...], Served] = {}

    def get(
        self,
        database_url: str,
        *,
        auth: bool,
        in_process: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> Served:
        in_process = in_process and not self.real_only
        key = (database_url, auth, in_process, tuple(sorted((env or {}).items())))
        if key not in self.servers:
            directory = self.directory("auth" if auth else "server")
            if not in_process:
                self.servers[key] = start_server(database_url, directory, auth=auth, env=env)
            elif auth:
                self.servers[key] = start_in_process_auth(database_url, directory, env)
            else:
                self.servers[key] = start_in_process(database_url, env)
        return self.servers[key]

    def stop(self) -> None:
        urls = {key[0] for key in self.servers}
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        for url in urls:  # the object storage the database's servers shared
            shutil.rmtree(obs_for(str(url)), ignore_errors=True)


def shared_server(
    request: pytest.FixtureRequest,
    backend: str,
    *,
    auth: bool,
    in_process: bool = False,
    env: Mapping[str, str] | None = None,
) -> Served:
    """The session's server of this kind on the database of `backend`, emptied."""
    pool: ServerPool = request.getfixturevalue("servers")
    url: str = request.getfixturevalue(DATABASE_FIXTURES[backend])
    server = pool.get(url, auth=auth, in_process=in_process, env=env)
    empty(url)
    return server


def server_fixture(
    name: str,
    *,
    auth: bool = False,
    in_process: bool = False,
    env: Mapping[str, str] | None = None,
) -> Any:
    """A function-scoped fixture called `name`: a server on an empty database of the backend
    under test, whose clients are closed after the test. Without `auth` it is a no-auth
    `Server`, with `auth` an `AuthServer` holding the secrets of every principal in
    `servers.PRINCIPALS`. `env` holds OPENIMS_* settings for it."""

    def fixture(backend: str, request: pytest.FixtureRequest) -> Iterator[Served]:
        server = shared_server(request, backend, auth=auth, in_process=in_process, env=env)
        yield server
        server.close_clients()

    fixture.__name__ = name
    return pytest.fixture(name=name)(fixture)


# Image data: the blob stores (openims.store.blobs), each kind against a real service.

BLOB_STORES = ["file", "s3"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The session's S3 server (SeaweedFS on loopback ports, `tests.support.seaweed`): its
    endpoint, bucket and keys; `.store(prefix)` opens an `S3Store` on it, `.env(prefix)` is
    the environment of an `openims serve` that keeps its data there. Started on first use."""
    with seaweed_server(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture(params=BLOB_STORES)
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A fresh, empty store of each kind: a `FileStore` in the test's directory, or an
    `S3Store` under a prefix of its own in the session's bucket."""
    if request.param == "file":
        return FileStore(tmp_path / "blobs")
    server: S3Server = request.getfixturevalue("s3_server")
    return server.store(prefix=f"test-{uuid.uuid4().hex}")
