"""Shared fixtures: every storage and API test runs on SQLite and on PostgreSQL.

- `db_url` is a fresh, migrated database of each backend (PostgreSQL: a database of its own
  on the server named by OPENIMS_TEST_PG_URL, emptied between tests).
- `server` is a real `openims serve --no-auth` process on that database, reached over HTTP.

Without OPENIMS_TEST_PG_URL the PostgreSQL half is skipped locally; `.ci/run` always sets it,
and there an unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from openims.store import migrate
from openims.store.engine import create_engine
from openims.store.tables import metadata

PG_URL = os.environ.get("OPENIMS_TEST_PG_URL")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="OPENIMS_TEST_PG_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _execute(url: str, *statements: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            for stmt in statements:
                await conn.execute(sa.text(stmt))
            await conn.commit()
    finally:
        await engine.dispose()


def empty(url: str) -> None:
    """Delete every row, keeping the schema."""
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    if url.startswith("postgresql"):
        run(_execute(url, f"TRUNCATE {', '.join(tables)} CASCADE"))
    else:
        run(_execute(url, *(f"DELETE FROM {t}" for t in tables)))  # noqa: S608 - table names


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session, migrated once."""
    assert PG_URL, "OPENIMS_TEST_PG_URL is not set"
    name = f"openims_test_{uuid.uuid4().hex[:12]}"
    admin = sa.make_url(PG_URL)
    run(_execute_autocommit(admin, f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    run(_execute_autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute_autocommit(url: sa.URL, statement: str) -> None:
    engine = create_engine(url.render_as_string(hide_password=False), pool_size=1)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "openims.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str:
    """An empty, migrated database of the backend under test."""
    url: str = request.getfixturevalue(
        "pg_database" if backend == "postgres" else "sqlite_database"
    )
    empty(url)
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# One TLS context for every test client: building one per client (loading the CA bundle)
# costs 50 ms, more than most requests.
_TLS = ssl.create_default_context()


@dataclass
class Server:
    """A running `openims serve` process."""

    url: str
    database_url: str
    process: subprocess.Popen[bytes]
    log: Path
    clients: list[httpx.Client] = field(default_factory=list)

    def client(
        self, project: str = "demo", roles: str | None = None, **headers: str
    ) -> httpx.Client:
        """An HTTP client acting as `project` (no-auth mode trusts these headers)."""
        sent = {"X-Project-Id": project, **headers}
        if roles:
            sent["X-Roles"] = roles
        c = httpx.Client(base_url=self.url, headers=sent, timeout=30, verify=_TLS)
        self.clients.append(c)
        return c

    def admin(self) -> httpx.Client:
        return self.client("admin-project", roles="admin")

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(
    database_url: str,
    log_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Server:
    """Start `openims serve` and wait until /healthz answers."""
    port = port or free_port()
    log = log_dir / f"server-{port}.log"
    full_env = {**os.environ, "OPENIMS_LOG_LEVEL": "warning", **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openims",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--database",
                database_url,
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, database_url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


@pytest.fixture(scope="session")
def sqlite_server(
    sqlite_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = start_server(sqlite_database, tmp_path_factory.mktemp("logs"), "--no-auth")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(pg_database, tmp_path_factory.mktemp("logs"), "--no-auth")
    yield server
    server.stop()


@pytest.fixture
def server(backend: str, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A no-auth server on an empty database of the backend under test."""
    srv: Server = request.getfixturevalue("pg_server" if backend == "postgres" else "sqlite_server")
    empty(srv.database_url)
    yield srv
    for c in srv.clients:
        c.close()
    srv.clients.clear()


# --- servers with authentication on ---------------------------------------------------------
# A real `openims serve --credentials FILE` process per backend. The file (mode 600) holds an
# AK/SK pair and a static token for each principal below; `auth_server` empties the database
# before each test, like `server`.

PRINCIPALS = {  # name -> (project, roles)
    "t1": ("tenant-a", ()),
    "t2": ("tenant-b", ()),
    "t3": ("tenant-c", ()),
    "admin": ("admin-project", ("admin",)),
    "reader": ("tenant-a", ("reader",)),
}


@dataclass
class AuthServer:
    """A running server with authentication on, and the secrets it accepts."""

    server: Server
    credentials_file: Path
    keys: dict[str, Any]  # principal -> auth.credentials.Credential
    tokens: dict[str, Any]  # principal -> auth.credentials.Token

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def log(self) -> Path:
        return self.server.log

    def project(self, who: str) -> str:
        return PRINCIPALS[who][0]

    def client(self, who: str | None = None, **headers: str) -> httpx.Client:
        """An HTTP client sending `who`'s static token (no credentials when None)."""
        sent = dict(headers)
        if who is not None:
            sent["X-Auth-Token"] = self.tokens[who].token
        c = httpx.Client(base_url=self.url, headers=sent, timeout=30)
        self.server.clients.append(c)
        return c


def write_credentials(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh credentials file with a key and a token for every principal."""
    from openims.auth.credentials import add_credential, add_token

    keys, tokens = {}, {}
    for who, (project, roles) in PRINCIPALS.items():
        keys[who] = add_credential(path, project, frozenset(roles))
        tokens[who] = add_token(path, project, frozenset(roles))
    return keys, tokens


def _start_auth_server(database_url: str, directory: Path) -> AuthServer:
    path = directory / "credentials.toml"
    keys, tokens = write_credentials(path)
    server = start_server(database_url, directory, "--credentials", str(path))
    return AuthServer(server, path, keys, tokens)


@pytest.fixture(scope="session")
def sqlite_auth_server(
    sqlite_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    srv = _start_auth_server(sqlite_database, tmp_path_factory.mktemp("auth"))
    yield srv
    srv.server.stop()


@pytest.fixture(scope="session")
def pg_auth_server(
    pg_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    srv = _start_auth_server(pg_database, tmp_path_factory.mktemp("auth"))
    yield srv
    srv.server.stop()


@pytest.fixture
def auth_server(backend: str, request: pytest.FixtureRequest) -> Iterator[AuthServer]:
    """A server with authentication on, on an empty database of the backend under test."""
    srv: AuthServer = request.getfixturevalue(
        "pg_auth_server" if backend == "postgres" else "sqlite_auth_server"
    )
    empty(srv.server.database_url)
    yield srv
    for c in srv.server.clients:
        c.close()
    srv.server.clients.clear()
