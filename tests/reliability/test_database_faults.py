"""PostgreSQL out of reach: every request is answered at once with 503 in the API's error
format (no hang, no 500, no trace), `/healthz` says so, and the server recovers by itself when
the database is back. The same when the database hangs (connections open, no answer): a 503
once `OPENIMS_DATABASE_TIMEOUT` has passed. The database is cut off by a TCP proxy between the
server and the shared PostgreSQL server, which itself is never touched."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.reliability import consistency
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.databases import empty
from tests.support.servers import Server, ServerProcess, free_port, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UNAVAILABLE = {
    "message": "The service is unavailable: the database cannot be reached. Try again later.",
    "code": "IMG.0503",
}


@dataclass
class Setup:
    server: ServerProcess
    proxy: TcpProxy


def _behind_proxy(pg_database: str, tmp_path: Path, **env: str) -> Iterator[Setup]:
    empty(pg_database)
    real = sa.make_url(pg_database)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    port = proxy.start()
    url = real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    server = start_server(url, tmp_path, auth=False, env={"OPENIMS_LOG_LEVEL": "info", **env})
    yield Setup(server, proxy)
    server.stop()
    proxy.stop()


@pytest.fixture
def behind_proxy(pg_database: str, tmp_path: Path) -> Iterator[Setup]:
    yield from _behind_proxy(pg_database, tmp_path)


DATABASE_TIMEOUT = 1  # seconds; the default is 30


@pytest.fixture
def behind_proxy_short_timeout(pg_database: str, tmp_path: Path) -> Iterator[Setup]:
    yield from _behind_proxy(pg_database, tmp_path, OPENIMS_DATABASE_TIMEOUT=str(DATABASE_TIMEOUT))


def assert_unavailable(r: httpx.Response, *, ims: bool = False) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    error = r.json()["error"]
    assert error == (UNAVAILABLE if ims else {**UNAVAILABLE, "title": "Service Unavailable"})


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + 30
    while server.client().get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.2)


def test_unreachable_database_gives_503_and_the_server_recovers(behind_proxy: Setup) -> None:
    server, proxy = behind_proxy.server, behind_proxy.proxy
    c = server.client("p-faults")
    image = c.post("/v2/images", json={"name": "before"}).json()
    assert c.get(f"/v2/images/{image['id']}").status_code == 200

    proxy.cut()
    # every kind of request answers at once (the client would time out after 30 s otherwise)
    assert_unavailable(c.get(f"/v2/images/{image['id']}"))
    assert_unavailable(c.get("/v2/images"))
    assert_unavailable(c.get("/v2/cloudimages"), ims=True)
    assert_unavailable(c.post("/v2/images", json={"name": "during"}))
    assert_unavailable(c.put(f"/v2/images/{image['id']}/tags/during"))
    assert_unavailable(c.post(f"/v2/images/{image['id']}/members", json={"member": "p2"}))
    assert_unavailable(c.delete(f"/v2/images/{image['id']}"))
    health = c.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "unreachable"}
    # the parts that need no database still answer
    assert c.get("/v2/schemas/image").status_code == 200
    assert c.get("/metrics").status_code == 200

    proxy.restore()
    wait_healthy(server)
    after = c.get(f"/v2/images/{image['id']}")
    assert after.status_code == 200 and after.json() == image  # nothing changed meanwhile
    names = [i["name"] for i in c.get("/v2/images").json()["images"]]
    assert names == ["before"]
    assert c.post("/v2/images", json={"name": "after"}).status_code == 201
    log = server.log.read_text()
    assert "Traceback" not in log


def test_dropped_connections_cost_at_most_one_503(behind_proxy: Setup) -> None:
    """What a database restart looks like to the pool: every pooled connection is reset. The
    first use of a dead connection may fail (503); the pool then drops them all and
    reconnects, so the next requests succeed without any operator action."""
    server, proxy = behind_proxy.server, behind_proxy.proxy
    c = server.client("p-faults")
    image = c.post("/v2/images", json={"name": "restart"}).json()
    for round_ in range(3):
        # several pooled connections, all idle
        for _ in range(5):
            assert c.get(f"/v2/images/{image['id']}").status_code == 200
        before = proxy.connections
        proxy.drop_connections()
        statuses = []
        for _ in range(6):
            r = c.get(f"/v2/images/{image['id']}")
            if r.status_code == 503:
                assert_unavailable(r)
            statuses.append(r.status_code)
        assert statuses.count(503) <= 1, (round_, statuses)
        assert statuses[-5:] == [200] * 5, (round_, statuses)
        assert proxy.connections > before  # it did reconnect
    assert "Traceback" not in server.log.read_text()


def test_a_reset_of_several_pooled_connections_costs_one_503(behind_proxy: Setup) -> None:
    """Several connections in the pool (made by concurrent requests), all reset at once: the
    request that meets the first dead one gets a 503, and the pool replaces the others with it
    rather than answering 503 once per pooled connection."""
    server, proxy = behind_proxy.server, behind_proxy.proxy
    c = server.client("p-faults")
    image = c.post("/v2/images", json={"name": "restart"}).json()
    clients = [server.client("p-faults") for _ in range(4)]
    with ThreadPoolExecutor(len(clients)) as pool:
        for _ in range(5):
            got = pool.map(lambda k: k.get(f"/v2/images/{image['id']}").status_code, clients)
            assert set(got) == {200}
    before = proxy.connections
    proxy.drop_connections()
    statuses = [c.get(f"/v2/images/{image['id']}").status_code for _ in range(8)]
    assert statuses.count(503) <= 1 and statuses[-7:] == [200] * 7, statuses
    assert proxy.connections > before  # it did reconnect
    assert "Traceback" not in server.log.read_text()


def test_a_database_that_never_answers_gives_a_503_and_the_server_recovers(
    behind_proxy_short_timeout: Setup,
) -> None:
    """The connections stay open and new ones are accepted, but no byte comes back (a hung
    database, or a network that drops packets): each request gets its 503 once the database
    timeout has passed, well within the client's patience, instead of hanging with it."""
    server, proxy = behind_proxy_short_timeout.server, behind_proxy_short_timeout.proxy
    patience = 10 * DATABASE_TIMEOUT  # the client gives up after this: a hang fails the test
    c = httpx.Client(base_url=server.url, headers={"X-Project-Id": "p-faults"}, timeout=patience)
    image = c.post("/v2/images", json={"name": "before"}).json()
    for _ in range(3):  # pooled connections, now idle
        assert c.get(f"/v2/images/{image['id']}").status_code == 200

    proxy.stall()
    assert_unavailable(c.get(f"/v2/images/{image['id']}"))  # a pooled connection
    assert_unavailable(c.get("/v2/images"))
    assert_unavailable(c.get("/v2/cloudimages"), ims=True)
    assert_unavailable(c.post("/v2/images", json={"name": "during"}))
    assert_unavailable(c.put(f"/v2/images/{image['id']}/tags/during"))
    health = c.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "unreachable"}
    assert c.get("/v2/schemas/image").status_code == 200
    assert c.get("/metrics").status_code == 200

    proxy.resume()
    wait_healthy(server)
    # A write answered 503 has an unknown outcome (its COMMIT may have been on its way): it
    # is there whole or not at all, and nothing else changed.
    after = c.get(f"/v2/images/{image['id']}").json()
    assert after == image or (
        {k: v for k, v in after.items() if k not in ("tags", "updated_at")}
        == {k: v for k, v in image.items() if k not in ("tags", "updated_at")}
        and after["tags"] == ["during"]
    )
    names = sorted(i["name"] for i in c.get("/v2/images").json()["images"])
    assert names in (["before"], ["before", "during"])
    assert c.post("/v2/images", json={"name": "after"}).status_code == 201
    assert consistency.problems(server.database_url) == []
    c.close()
    assert "Traceback" not in server.log.read_text()


def test_a_server_starting_without_its_database_fails_clearly(
    pg_database: str, tmp_path: Path
) -> None:
    """Migrations run at start: with nothing listening, `openims serve` stops with a one-line
    message instead of serving requests it cannot answer."""
    real = sa.make_url(pg_database)
    nowhere = real.set(host="127.0.0.1", port=free_port()).render_as_string(hide_password=False)
    with pytest.raises(RuntimeError, match="server exited") as failed:
        start_server(nowhere, tmp_path, auth=False)
    assert "Error: cannot reach the database postgresql://" in str(failed.value)
    assert "Traceback" not in str(failed.value)
