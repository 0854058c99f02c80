"""No lost updates: many clients patch one image at once, against a real two-worker server (so
the writers are separate processes as well as separate connections), on SQLite and PostgreSQL.

Without the row lock of `ImageStore.image_for_update` (PostgreSQL `FOR UPDATE`, SQLite `BEGIN
IMMEDIATE`), each PATCH would read the document, change it and write it back over whatever
another writer wrote in between."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.reliability.scale import SCALE, TIMEOUT
from tests.support.catalogs import load, private
from tests.support.databases import BACKENDS, empty
from tests.support.servers import Server, start_server

V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"
CLIENTS = SCALE.patch_clients
ROUNDS = SCALE.patch_rounds  # patches per client
pytestmark = TIMEOUT


@pytest.fixture(scope="module", params=BACKENDS)
def two_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One two-worker server per backend for this module; each test makes its own image."""
    db_url: str = request.getfixturevalue(
        "pg_database" if request.param == "postgres" else "sqlite_database"
    )
    empty(db_url)
    server = start_server(db_url, tmp_path_factory.mktemp("logs"), auth=False, workers=2)
    yield server
    server.stop()


def run_together(server: Server, work: Callable[[httpx.Client, int], list[int]]) -> list[int]:
    """Run `work(client, n)` for n in range(CLIENTS), all released at once; their statuses."""
    start = threading.Barrier(CLIENTS)

    def one(n: int) -> list[int]:
        with httpx.Client(base_url=server.url, headers={"X-Project-Id": "p1"}, timeout=60) as c:
            start.wait(timeout=60)
            return work(c, n)

    with ThreadPoolExecutor(CLIENTS) as pool:
        sent = [status for statuses in pool.map(one, range(CLIENTS)) for status in statuses]
    print(f"{CLIENTS} clients at once on one image: {len(sent)} requests, statuses", end=" ")
    print({status: sent.count(status) for status in sorted(set(sent))})
    return sent


def send(c: httpx.Client, image_id: str, ops: list[dict[str, Any]], media: str = V21) -> int:
    r = c.patch(f"/v2/images/{image_id}", content=json.dumps(ops), headers={"Content-Type": media})
    return r.status_code


def test_concurrent_patches_of_different_attributes_all_survive(two_workers: Server) -> None:
    owner = two_workers.client("p1")
    image_id = owner.post("/v2/images", json={"name": "hot"}).json()["id"]

    def work(c: httpx.Client, n: int) -> list[int]:
        statuses = [
            send(c, image_id, [{"op": "add", "path": f"/prop_{n}", "value": f"round-{r}"}])
            for r in range(ROUNDS)
        ]
        statuses.append(c.put(f"/v2/images/{image_id}/tags/tag-{n}").status_code)
        return statuses

    statuses = run_together(two_workers, work)
    assert statuses.count(200) == CLIENTS * ROUNDS and statuses.count(204) == CLIENTS
    doc = owner.get(f"/v2/images/{image_id}").json()
    assert {n: doc.get(f"prop_{n}") for n in range(CLIENTS)} == {
        n: f"round-{ROUNDS - 1}" for n in range(CLIENTS)
    }
    assert sorted(doc["tags"]) == sorted(f"tag-{n}" for n in range(CLIENTS))


def test_concurrent_patches_of_one_attribute_end_with_one_written_value(
    two_workers: Server,
) -> None:
    owner = two_workers.client("p1")
    created = owner.post("/v2/images", json={"name": "hot", "__description": "start"})
    image_id = created.json()["id"]
    written = {f"n-{n}-{r}" for n in range(CLIENTS) for r in range(ROUNDS)}

    def work(c: httpx.Client, n: int) -> list[int]:
        statuses = []
        for r in range(ROUNDS):
            value = f"n-{n}-{r}"
            if n % 2:  # half the clients speak v2.0
                ops = [
                    {"replace": "/name", "value": value},
                    {"replace": "/__description", "value": value},
                ]
                statuses.append(send(c, image_id, ops, V20))
            else:
                ops = [
                    {"op": "replace", "path": "/name", "value": value},
                    {"op": "replace", "path": "/__description", "value": value},
                ]
                statuses.append(send(c, image_id, ops))
        return statuses

    assert run_together(two_workers, work) == [200] * (CLIENTS * ROUNDS)
    doc = owner.get(f"/v2/images/{image_id}").json()
    assert doc["name"] in written
    assert doc["__description"] == doc["name"]  # the two halves of one patch, never a mix


def test_the_ims_update_and_glance_patches_share_the_lock(two_workers: Server) -> None:
    """Both faces write through `ImageStore.image_for_update`: concurrent IMS updates and Glance
    patches of one image lose nothing, and `updated_at` never moves back."""
    target = private("p1", name="hot")
    load(two_workers.database_url, [target])
    image_id = target["id"]

    def work(c: httpx.Client, n: int) -> list[int]:
        statuses = []
        for r in range(ROUNDS):
            op = [{"op": "add", "path": f"/prop_{n}", "value": f"round-{r}"}]
            if n % 2:
                ims = c.patch(
                    f"/v2/cloudimages/{image_id}",
                    content=json.dumps(op),
                    headers={"Content-Type": "application/json"},
                )
                statuses.append(ims.status_code)
            else:
                statuses.append(send(c, image_id, op))
        return statuses

    assert run_together(two_workers, work) == [200] * (CLIENTS * ROUNDS)
    doc = two_workers.client("p1").get(f"/v2/images/{image_id}").json()
    assert {n: doc.get(f"prop_{n}") for n in range(CLIENTS)} == {
        n: f"round-{ROUNDS - 1}" for n in range(CLIENTS)
    }
    assert doc["updated_at"] > target["updated_at"]
