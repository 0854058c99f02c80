"""Shared fixtures: every storage and API test runs on SQLite and on PostgreSQL.

- `db_url` is a fresh, migrated database of each backend (PostgreSQL: a database of its own
  on the server named by OPENIMS_TEST_PG_URL, emptied between tests).
- `server` is a real `openims serve --no-auth` process on that database, reached over HTTP;
  `auth_server` one with authentication on (see `tests.support.fixtures`).

Without OPENIMS_TEST_PG_URL the PostgreSQL half is skipped locally; `.ci/run` always sets it,
and there an unreachable PostgreSQL fails the run. What the fixtures are made of lives in
`tests/support`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import databases
from tests.support.fixtures import (
    DATABASE_FIXTURES,
    REAL_SERVERS_OPTION,
    ServerPool,
    blob_store,  # noqa: F401 (a fixture: the blob stores, file and s3)
    s3_server,  # noqa: F401 (a fixture: the session's SeaweedFS)
    server_fixture,
)
from tests.support.uploads import store  # noqa: F401 (a fixture: the image store under test)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        REAL_SERVERS_OPTION,
        action="store_true",
        help="serve the tests that chose the in-process application from openims serve processes",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if databases.PG_URL:
        return
    skip = pytest.mark.skip(reason="OPENIMS_TEST_PG_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session, migrated once."""
    with databases.postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database of this test session, migrated once."""
    return databases.sqlite_database(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(params=databases.BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def own_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of the test's own, for a test whose servers run jobs it writes:
    the session's servers of the shared database run jobs too and would claim them."""
    if backend == "sqlite":
        yield databases.sqlite_database(tmp_path_factory.mktemp("own-db"))
    else:
        with databases.postgres_database() as url:
            yield url


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str:
    """An empty, migrated database of the backend under test."""
    url: str = request.getfixturevalue(DATABASE_FIXTURES[backend])
    databases.empty(url)
    return url


@pytest.fixture(scope="session")
def servers(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ServerPool]:
    """The servers of this session, each started on first use."""
    real_only = bool(pytestconfig.getoption(REAL_SERVERS_OPTION))
    pool = ServerPool(tmp_path_factory.mktemp, real_only=real_only)
    yield pool
    pool.stop()


server = server_fixture("server")
auth_server = server_fixture("auth_server", auth=True)
