"""Project quotas enforced over HTTP, on SQLite and PostgreSQL (docs/quotas.md): creating an
image past the project's image quota and storing bytes past its byte quota are refused with
IMS's IMG.0015 (413 on the Glance face, as Glance answers a quota), changing nothing;
concurrent writers at the limit never both pass; the operator's per-project limits are what
`show_image_quota` reports; a job that asks `Quotas.require_room` fails with the code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from openims import errors
from openims.service.jobs import JobRun
from tests.support.fixtures import server_fixture
from tests.support.in_process import InProcessServer
from tests.support.jobs import register, submit, wait_for_job
from tests.support.servers import Server
from tests.support.uploads import create, image, put

IMAGES = 3
BYTES = 1000
server = server_fixture(
    "server",
    in_process=True,
    env={"OPENIMS_IMAGE_QUOTA": str(IMAGES), "OPENIMS_IMAGE_BYTES_QUOTA": str(BYTES)},
)


def services(server: Server) -> Any:
    assert isinstance(server, InProcessServer)
    return server.app.state.services


def call(server: Server, coroutine_function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a service call on the application's own event loop."""
    assert isinstance(server, InProcessServer)
    return server.transport.portal.call(lambda: coroutine_function(*args, **kwargs))


def glance_quota_error(r: httpx.Response, code: str = "IMG.0015") -> dict[str, Any]:
    assert r.status_code == 413, r.text
    body: dict[str, Any] = r.json()["error"]
    assert body["code"] == code and body["title"] == "Request Entity Too Large"
    return body


def used(c: httpx.Client) -> dict[str, Any]:
    r = c.get("/v1/cloudimages/quota")
    assert r.status_code == 200, r.text
    [resource] = r.json()["quotas"]["resources"]
    return dict(resource)


def test_creating_past_the_image_quota_is_refused(server: Server) -> None:
    c, other = server.client("p1"), server.client("p2")
    made = [create(c, name=f"n{i}")["id"] for i in range(IMAGES)]
    body = glance_quota_error(c.post("/v2/images", json={"name": "one too many"}))
    assert body["message"] == (
        f"The number of private images has reached the maximum allowed: project p1 owns "
        f"{IMAGES} of {IMAGES}."
    )
    assert used(c) == {"type": "image", "used": IMAGES, "quota": IMAGES, "min": 1, "max": 1000}
    assert len(c.get("/v2/images", params={"owner": "p1"}).json()["images"]) == IMAGES
    create(other)  # another project's quota is its own
    assert c.delete(f"/v2/images/{made[0]}").status_code == 204
    create(c)  # room again


def test_concurrent_creates_at_the_limit_pass_once(server: Server) -> None:
    c = server.client("p1")
    for i in range(IMAGES - 1):
        create(c, name=f"n{i}")
    start = threading.Barrier(8)

    def attempt(n: int) -> int:
        with server.connect({"X-Project-Id": "p1"}) as own:
            start.wait()
            return own.post("/v2/images", json={"name": f"race-{n}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [201] + [413] * 7
    assert used(c)["used"] == IMAGES


def test_the_operator_sets_a_projects_own_limits(server: Server) -> None:
    quotas = services(server).quotas
    call(server, quotas.set, "p1", images=5, size=None)
    try:
        c = server.client("p1")
        assert used(c)["quota"] == 5
        for i in range(5):
            create(c, name=f"n{i}")
        glance_quota_error(c.post("/v2/images", json={"name": "sixth"}))
        assert used(server.client("p2"))["quota"] == IMAGES  # the default for the others
        call(server, quotas.set, "p1", images=2000, size=None)
        assert used(c)["quota"] == 2000 and used(c)["max"] == 2000
    finally:
        call(server, quotas.unset, "p1")
    assert used(server.client("p1"))["quota"] == IMAGES


# --- bytes ---------------------------------------------------------------------------------
def chunks(data: bytes, size: int = 100) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_uploading_past_the_byte_quota_is_refused(server: Server, declared: bool) -> None:
    c = server.client("p1")
    first, second = create(c)["id"], create(c)["id"]
    assert put(c, first, b"a" * 600).status_code == 204
    content: Any = b"b" * 600 if declared else chunks(b"b" * 600)
    body = glance_quota_error(put(c, second, content))
    assert "400 bytes remaining" in body["message"]
    refused = image(c, second)
    assert refused["status"] == "queued" and refused["size"] is None
    assert c.get(f"/v2/images/{second}/file").status_code == 204  # no data
    assert put(c, second, b"c" * 400).status_code == 204  # what fits does
    assert image(c, second)["status"] == "active"


def test_concurrent_uploads_past_the_byte_quota_keep_one(server: Server) -> None:
    c = server.client("p1")
    ids = [create(c)["id"] for _ in range(2)]
    start = threading.Barrier(2)

    def send(image_id: str) -> int:
        def slow() -> Iterator[bytes]:
            start.wait()  # both have begun (each saw 1000 bytes of room) before any byte
            yield from chunks(b"x" * 600)

        with server.connect({"X-Project-Id": "p1"}) as own:
            return put(own, image_id, slow()).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(send, ids))
    assert statuses == [204, 413]
    states = sorted(image(c, i)["status"] for i in ids)
    assert states == ["active", "queued"]


def test_staging_counts_against_the_byte_quota(server: Server) -> None:
    c = server.client("p1")
    staged, uploaded = create(c)["id"], create(c)["id"]
    r = c.put(
        f"/v2/images/{staged}/stage",
        content=b"s" * 700,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 204, r.text
    glance_quota_error(put(c, uploaded, b"u" * 400))


# --- the service other use cases call -------------------------------------------------------
def test_a_job_refused_by_require_room_fails_with_the_ims_code(server: Server) -> None:
    quotas = services(server).quotas

    async def handler(run: JobRun) -> dict[str, Any]:
        await quotas.require_room(run.project_id, images=1, size=int(run.params["size"]))
        return {"image_id": "made"}

    register(server, "testQuotaJob", handler)
    c = server.client("p1")
    ok = wait_for_job(c, submit(server, "testQuotaJob", {"size": BYTES}, project_id="p1"))
    assert ok["status"] == "SUCCESS", ok
    too_big = wait_for_job(c, submit(server, "testQuotaJob", {"size": BYTES + 1}, project_id="p1"))
    assert too_big["status"] == "FAIL"
    assert too_big["error_code"] == "IMG.0015"
    for i in range(IMAGES):
        create(c, name=f"n{i}")
    full = wait_for_job(c, submit(server, "testQuotaJob", {"size": 0}, project_id="p1"))
    assert (full["status"], full["error_code"]) == ("FAIL", "IMG.0015")
    assert full["fail_reason"].startswith("The number of private images has reached")


def test_the_ims_face_answers_the_quota_with_400() -> None:
    err = errors.IMAGE_QUOTA_EXCEEDED(project_id="p", used=20, quota=20)
    assert errors.status(err, "/v2/cloudimages/action") == 400
    assert errors.status(err, "/v1/cloudimages/abc/copy") == 400
    assert errors.status(err, "/v2/images") == 413
    assert b'"title"' not in errors.body(err, "/v2/cloudimages/action")
