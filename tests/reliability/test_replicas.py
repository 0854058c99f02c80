"""Several replicas: two `openims serve` processes on one database. A write through one is seen
through the other at once, and concurrent changes of one image through both lose nothing.

PostgreSQL is the deployment this is for; SQLite (one file, several processes) is held to the
same promise."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.reliability import consistency
from tests.reliability.scale import SCALE, TIMEOUT
from tests.reliability.writes import UPDATE_KINDS, Ack, Refused, missing
from tests.support.databases import empty
from tests.support.servers import Server, start_server

pytestmark = [pytest.mark.slow, TIMEOUT]

THREADS_PER_REPLICA = 3
WRITES_PER_THREAD = SCALE.replica_writes  # of each kind, per thread (default 2 x 3 x 10 = 60)


def _start_pair(url: str, log_dir: Path) -> Iterator[tuple[Server, Server]]:
    """Both started at once: their migrations race, and must not trip over each other."""
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: start_server(url, log_dir, auth=False), range(2))
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module")
def sqlite_replicas(
    sqlite_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    yield from _start_pair(sqlite_database, tmp_path_factory.mktemp("replicas"))


@pytest.fixture(scope="module")
def pg_replicas(
    pg_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    yield from _start_pair(pg_database, tmp_path_factory.mktemp("replicas"))


@pytest.fixture
def replicas(backend: str, request: pytest.FixtureRequest) -> tuple[Server, Server]:
    """Two servers on one empty database of the backend under test."""
    pair: tuple[Server, Server] = request.getfixturevalue(
        "pg_replicas" if backend == "postgres" else "sqlite_replicas"
    )
    empty(pair[0].database_url)
    return pair


def test_a_write_through_one_replica_is_seen_through_the_other(
    replicas: tuple[Server, Server],
) -> None:
    a, b = (srv.client("p-replica") for srv in replicas)
    created = a.post("/v2/images", json={"name": "shared", "os": "linux"})
    assert created.status_code == 201
    image_id = created.json()["id"]
    seen = b.get(f"/v2/images/{image_id}")
    assert seen.status_code == 200 and seen.content == created.content
    assert [i["id"] for i in b.get("/v2/images", params={"os": "linux"}).json()["images"]] == [
        image_id
    ]
    assert b.put(f"/v2/images/{image_id}/tags/from-b").status_code == 204
    assert a.get(f"/v2/images/{image_id}").json()["tags"] == ["from-b"]
    assert a.post(f"/v2/images/{image_id}/members", json={"member": "p2"}).status_code == 200
    assert [m["member_id"] for m in b.get(f"/v2/images/{image_id}/members").json()["members"]] == [
        "p2"
    ]
    shared = b.get("/v2/cloudimages", params={"visibility": "shared"}).json()["images"]
    assert [i["id"] for i in shared] == [image_id]
    assert b.delete(f"/v2/images/{image_id}").status_code == 204
    assert a.get(f"/v2/images/{image_id}").status_code == 404


@pytest.mark.parametrize("kind", sorted(UPDATE_KINDS))
def test_concurrent_changes_through_both_replicas_lose_nothing(
    replicas: tuple[Server, Server], kind: str
) -> None:
    first = replicas[0].client("p-replica")
    image_id = first.post("/v2/images", json={"name": "contended"}).json()["id"]
    acks: list[Ack] = []
    refused: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(2 * THREADS_PER_REPLICA)

    def writer(server: Server, n: int) -> None:
        with httpx.Client(
            base_url=server.url, headers={"X-Project-Id": "p-replica"}, timeout=60
        ) as client:
            start.wait()
            for i in range(WRITES_PER_THREAD):
                try:
                    ack = UPDATE_KINDS[kind](client, image_id, f"{server.url[-5:]}-{n}-{i}")
                except Refused as exc:
                    refused.append(str(exc))
                    return
                with lock:
                    acks.append(ack)

    threads = [
        threading.Thread(target=writer, args=(srv, n))
        for srv in replicas
        for n in range(THREADS_PER_REPLICA)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert refused == []
    assert len(acks) == 2 * THREADS_PER_REPLICA * WRITES_PER_THREAD
    for srv in replicas:  # every write, through either replica
        assert missing(srv.client("p-replica"), acks) == []
    doc = first.get(f"/v2/images/{image_id}").json()
    if kind == "add_tag":
        assert sorted(doc["tags"]) == sorted(a.value for a in acks)
    if kind == "patch":  # exactly the patched properties, and the last v2.1 patch's mark
        assert sorted(k for k in doc if k.startswith("p-")) == sorted(f"p-{a.value}" for a in acks)
        assert doc["last_patch"] in {a.value for a in acks}
    assert consistency.problems(replicas[0].database_url) == []


def test_signing_out_of_the_console_ends_the_session_on_every_replica(
    db_url: str, tmp_path: Path
) -> None:
    """Two replicas with one console key (as behind one address): a session signed in
    through one is honoured by the other; signed out through the first, its cookie names no
    one on the second either (the sign-out is in the database, not in a process's memory)."""
    from openims.api.console.session import COOKIE
    from tests.api.test_console import csrf_of
    from tests.support import catalogs

    doc = catalogs.private("someone", name="of-someone")
    catalogs.load(db_url, [doc])
    env = {"OPENIMS_CONSOLE_SECRET": "k" * 40}
    for n in (1, 2):
        (tmp_path / f"r{n}").mkdir()
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(
            lambda n: start_server(db_url, tmp_path / f"r{n}", auth=False, env=env), (1, 2)
        )
    try:

        def browser(server: Server) -> httpx.Client:
            client = server.open({"Origin": server.url, "Accept": "text/html"})
            client.follow_redirects = False
            return client

        page = f"/console/images/{doc['id']}"
        through_a = browser(a)
        form = through_a.get("/console/sign-in")
        chosen = through_a.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form), "project_id": "someone", "role": "member"},
        )
        assert chosen.status_code == 303
        copied = through_a.cookies[COOKIE]
        through_b = browser(b)
        through_b.cookies.set(COOKIE, copied)
        assert "of-someone" in through_b.get(page).text  # one key: B honours A's session

        listing = through_a.get("/console/images")
        out = through_a.post("/console/sign-out", data={"csrf_token": csrf_of(listing)})
        assert out.status_code == 303
        assert through_b.get(page).status_code == 404  # B: no one, i.e. the default project
    finally:
        a.stop()
        b.stop()
