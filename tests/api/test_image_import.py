"""Interoperable import on the Glance face (docs/image-data.md, "Interoperable import"), row
by row of the measured Glance 33 behaviour (../shared/spec/glance-data-behaviour.md, section
4), on SQLite and PostgreSQL; web-download against a web server of the test's own on loopback
(`tests.support.web`), which records every request it gets."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fixtures import server_fixture
from tests.support.servers import Server, ServerProcess, free_port, start_server
from tests.support.uploads import raw_bytes
from tests.support.web import SMALL, SMALL_MD5, SMALL_SHA512, STALL_SIZE, Web, web_server

WEB_PORT = free_port()
ALLOWED = f"http://127.0.0.1:{WEB_PORT}/allowed/"
CAP = 1024 * 1024  # OPENIMS_MAX_IMAGE_BYTES of the servers here
OCTETS = {"Content-Type": "application/octet-stream"}

# Requests and responses only: the application in this process serves them, with web-download
# allowed under the test web server's /allowed/ (`plain_server`: the defaults, web-download off).
server = server_fixture(
    "server",
    in_process=True,
    env={"OPENIMS_WEB_DOWNLOAD_ALLOW": ALLOWED, "OPENIMS_MAX_IMAGE_BYTES": str(CAP)},
)
plain_server = server_fixture("plain_server", in_process=True)


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    with web_server(WEB_PORT) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_web(request: pytest.FixtureRequest) -> None:
    if "web" in request.fixturenames:
        found: Web = request.getfixturevalue("web")
        found.requests.clear()
        found.release.clear()


def create(c: httpx.Client, disk_format: str = "raw", **fields: Any) -> str:
    r = c.post(
        "/v2/images",
        json={"name": "imp", "disk_format": disk_format, "container_format": "bare", **fields},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def show(c: httpx.Client, image_id: str) -> dict[str, Any]:
    r = c.get(f"/v2/images/{image_id}")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def wait_for(c: httpx.Client, image_id: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
    """The image once its status is one of `statuses` (and no import task is left running)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = show(c, image_id)
        if doc["status"] in statuses and "os_glance_import_task" not in doc:
            return doc
        assert time.monotonic() < deadline, f"still {doc['status']}: {doc}"
        time.sleep(0.05)


def stage(c: httpx.Client, image_id: str, data: bytes) -> httpx.Response:
    return c.put(f"/v2/images/{image_id}/stage", content=data, headers=OCTETS)


def import_(c: httpx.Client, image_id: str, body: dict[str, Any]) -> httpx.Response:
    return c.post(f"/v2/images/{image_id}/import", json=body)


def message(r: httpx.Response) -> str:
    return str(r.json()["error"]["message"])


def datadir(srv: Server) -> Path:
    """Where the server's file store keeps blobs (its admin-only store detail says)."""
    r = srv.admin().get("/v2/info/stores/detail")
    assert r.status_code == 200, r.text
    return Path(r.json()["stores"][0]["properties"]["datadir"])


def blob(srv: Server, space: str, image_id: str) -> Path:
    return datadir(srv) / space / image_id


GLANCE_DIRECT = {"method": {"name": "glance-direct"}}


def web_download(uri: str | None) -> dict[str, Any]:
    method: dict[str, Any] = {"name": "web-download"}
    if uri is not None:
        method["uri"] = uri
    return {"method": method}


# --- discovery -------------------------------------------------------------------------------
def test_discovery_offers_glance_direct_and_no_web_download_by_default(
    plain_server: Server,
) -> None:
    c = plain_server.client("p1")
    r = c.get("/v2/info/import")
    assert r.status_code == 200
    assert r.json() == {
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": ["glance-direct"],
        }
    }
    assert c.get("/v2/info/stores").json() == {"stores": [{"id": "fs", "default": "true"}]}
    created = c.post("/v2/images", json={"name": "x"})
    assert created.headers["OpenStack-image-import-methods"] == "glance-direct"
    assert created.headers["OpenStack-image-store-ids"] == "fs"
    image_id = created.json()["id"]
    r = import_(c, image_id, web_download(ALLOWED + "small.raw"))
    assert r.status_code == 400
    assert message(r) == "Unknown import method name 'web-download'."


def test_discovery_offers_web_download_once_allowed(server: Server) -> None:
    c = server.client("p1")
    assert c.get("/v2/info/import").json()["import-methods"]["value"] == [
        "glance-direct",
        "web-download",
    ]
    created = c.post("/v2/images", json={"name": "x"})
    assert created.headers["OpenStack-image-import-methods"] == "glance-direct,web-download"


def test_store_detail_is_for_admins_and_shows_no_secret(server: Server) -> None:
    r = server.client("p1").get("/v2/info/stores/detail")
    assert r.status_code == 403
    assert message(r) == "You are not authorized to complete stores_info_detail action."
    r = server.admin().get("/v2/info/stores/detail")
    assert r.status_code == 200
    (store,) = r.json()["stores"]
    assert store["id"] == "fs" and store["default"] == "true"
    assert store["type"] == "file" and store["weight"] == 0
    assert set(store["properties"]) == {"datadir"}


# --- staging -----------------------------------------------------------------------------------
def test_stage_then_glance_direct_import(server: Server) -> None:
    c = server.client("p1")
    image_id = create(c)
    data = raw_bytes(1024)
    r = stage(c, image_id, data)
    assert r.status_code == 204, r.text
    staged = show(c, image_id)
    assert staged["status"] == "uploading"
    assert staged["size"] == 1024 and staged["checksum"] is None  # as Glance shows it
    assert blob(server, "staging", image_id).read_bytes() == data
    assert c.get(f"/v2/images/{image_id}/file").status_code == 204
    r = import_(c, image_id, GLANCE_DIRECT)
    assert r.status_code == 202 and r.content == b""
    done = wait_for(c, image_id, "active")
    assert done["size"] == 1024 and done["virtual_size"] == 1024
    assert done["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert done["os_hash_algo"] == "sha512"
    assert done["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert done["stores"] == "fs"
    # Glance leaves these two, empty, once the import succeeded; the task is gone
    assert done["os_glance_importing_to_stores"] == ""
    assert done["os_glance_failed_import"] == ""
    assert "os_glance_import_task" not in done
    assert c.get(f"/v2/images/{image_id}/file").content == data
    assert not blob(server, "staging", image_id).exists()
    # the properties are the server's: a client may not write them, but may patch the image
    r = c.patch(
        f"/v2/images/{image_id}",
        json=[{"op": "add", "path": "/team", "value": "blue"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert r.status_code == 200, r.text
    r = c.patch(
        f"/v2/images/{image_id}",
        json=[{"op": "remove", "path": "/os_glance_failed_import"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert r.status_code == 403
    # importing again
    r = import_(c, image_id, GLANCE_DIRECT)
    assert r.status_code == 409
    assert message(r) == "Image with status active cannot be target for import"


def test_stage_chunked(server: Server) -> None:
    c = server.client("p1")
    image_id = create(c)
    parts = [raw_bytes(40000), raw_bytes(30000)]

    def body() -> Iterator[bytes]:
        yield from parts

    r = c.put(f"/v2/images/{image_id}/stage", content=body(), headers=OCTETS)
    assert r.status_code == 204, r.text
    assert show(c, image_id)["size"] == 70000
    assert import_(c, image_id, GLANCE_DIRECT).status_code == 202
    assert wait_for(c, image_id, "active")["checksum"] == (
        hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    )


def test_stage_refusals(server: Server) -> None:
    c = server.client("p1")
    image_id = create(c)
    r = c.put(
        f"/v2/images/{image_id}/stage", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 415
    assert show(c, image_id)["status"] == "queued"
    r = stage(c, image_id, b"\0" * (CAP + 1))
    assert r.status_code == 413
    assert show(c, image_id)["status"] == "queued"
    assert not blob(server, "staging", image_id).exists()
    # chunked past the cap: refused as it streams
    r = c.put(
        f"/v2/images/{image_id}/stage",
        content=iter([b"\0" * 65536] * (CAP // 65536 + 1)),
        headers=OCTETS,
    )
    assert r.status_code == 413
    assert show(c, image_id)["status"] == "queued"
    assert not blob(server, "staging", image_id).exists()
    # no inspection at stage time: random bytes declared qcow2 are staged
    qcow = create(c, disk_format="qcow2")
    assert stage(c, qcow, raw_bytes(4096)).status_code == 204
    r = stage(c, qcow, b"again")
    assert r.status_code == 409
    assert message(r) == "Image status transition from uploading to uploading is not allowed"
    # an upload to a staged image is refused as Glance refuses it
    r = c.put(f"/v2/images/{qcow}/file", content=b"x", headers=OCTETS)
    assert r.status_code == 409
    assert message(r) == "Image status transition from uploading to saving is not allowed"
    # someone else's image is not there; a member may not stage
    assert stage(server.client("p2"), image_id, b"x").status_code == 404
    # deleting a staged image drops the staged bytes
    assert c.delete(f"/v2/images/{qcow}").status_code == 204
    assert not blob(server, "staging", qcow).exists()


# --- import refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 400, "Import request requires a 'method' field."),
        ({"method": {}}, 400, "Import request requires a 'name' field."),
        ({"method": {"name": "bogus"}}, 400, "Unknown import method name 'bogus'."),
        ({"method": {"name": "copy-image"}}, 400, "Unknown import method name 'copy-image'."),
        (web_download(None), 400, "URI for web-download does not pass filtering: None"),
        (GLANCE_DIRECT, 409, "Image needs to be staged before 'glance-direct' method can be used"),
        ({"method": "glance-direct"}, 400, "'method' must be an object"),
        ({**GLANCE_DIRECT, "all_stores": "yes"}, 400, "'all_stores' must be a boolean value"),
    ],
)
def test_import_refusals_on_a_queued_image(
    server: Server, body: dict[str, Any], status: int, words: str
) -> None:
    c = server.client("p1")
    image_id = create(c)
    r = import_(c, image_id, body)
    assert r.status_code == status, r.text
    assert message(r) == words
    doc = show(c, image_id)
    assert doc["status"] == "queued" and "os_glance_import_task" not in doc


def test_import_refusals_on_a_staged_image(server: Server) -> None:
    c = server.client("p1")
    image_id = create(c)
    assert stage(c, image_id, b"x" * 100).status_code == 204
    r = import_(c, image_id, {**GLANCE_DIRECT, "stores": ["nope"]})
    assert r.status_code == 409
    assert message(r) == "Store for identifier nope not found"
    assert show(c, image_id)["status"] == "uploading"
    r = import_(c, image_id, web_download(ALLOWED + "small.raw"))
    assert r.status_code == 409
    assert message(r) == "Image needs to be in 'queued' state to use 'web-download' method"
    # another tenant does not see the image; a reader of the owner's project may not import
    r = import_(server.client("p2"), image_id, GLANCE_DIRECT)
    assert r.status_code == 404
    assert message(r) == f"No image found with ID {image_id}"
    r = import_(server.client("p1", roles="reader"), image_id, GLANCE_DIRECT)
    assert r.status_code == 403
    assert show(c, image_id)["status"] == "uploading"
    # this store named, or all stores: accepted
    assert import_(c, image_id, {**GLANCE_DIRECT, "stores": ["fs"]}).status_code == 202
    assert wait_for(c, image_id, "active")["size"] == 100


def test_import_of_an_unknown_image(server: Server) -> None:
    r = import_(server.client("p1"), "00000000-0000-4000-8000-000000000000", GLANCE_DIRECT)
    assert r.status_code == 404


# --- failed glance-direct imports: back to queued, not stuck in importing (unlike Glance) ------
def test_glance_direct_of_bad_data_goes_back_to_queued(server: Server) -> None:
    c = server.client("p1")
    image_id = create(c, disk_format="qcow2")
    assert stage(c, image_id, raw_bytes(65536)).status_code == 204
    assert import_(c, image_id, GLANCE_DIRECT).status_code == 202
    doc = wait_for(c, image_id, "queued")
    assert doc["os_glance_failed_import"] == "fs"
    assert doc["os_glance_importing_to_stores"] == ""
    assert doc["size"] is None and doc["checksum"] is None and "stores" not in doc
    assert not blob(server, "staging", image_id).exists()
    assert not blob(server, "images", image_id).exists()
    assert c.get(f"/v2/images/{image_id}/file").status_code == 204
    # the image can take good bytes now
    good = qcow2_bytes()
    assert stage(c, image_id, good).status_code == 204
    assert import_(c, image_id, GLANCE_DIRECT).status_code == 202
    done = wait_for(c, image_id, "active", "queued")
    assert done["status"] == "active", done
    assert done["virtual_size"] == 1024 * 1024
    assert done["os_glance_failed_import"] == ""


def test_glance_direct_of_a_qcow2_with_a_backing_file_goes_back_to_queued(server: Server) -> None:
    c = server.client("p1")
    image_id = create(c, disk_format="qcow2")
    assert stage(c, image_id, qcow2_bytes(backing="/etc/passwd")).status_code == 204
    assert import_(c, image_id, GLANCE_DIRECT).status_code == 202
    doc = wait_for(c, image_id, "queued")
    assert doc["os_glance_failed_import"] == "fs"
    assert not blob(server, "staging", image_id).exists()
    assert not blob(server, "images", image_id).exists()


def qcow2_bytes(backing: str | None = None) -> bytes:
    """A small qcow2 (1 MiB virtual) made by qemu-img, optionally with a backing file."""
    qemu = shutil.which("qemu-img")
    if qemu is None:
        if os.environ.get("CI") == "true":
            pytest.fail("qemu-img is missing (scripts/ensure-qemu-img installs it)")
        pytest.skip("qemu-img is missing")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "disk.qcow2"
        args = [qemu, "create", "-f", "qcow2"]
        if backing is not None:
            args += ["-F", "raw", "-b", backing, "-u"]
        subprocess.run([*args, str(path), "1M"], check=True, capture_output=True)
        return path.read_bytes()


# --- web-download ---------------------------------------------------------------------------------
def test_web_download(server: Server, web: Web) -> None:
    c = server.client("p1")
    image_id = create(c)
    r = import_(c, image_id, web_download(ALLOWED + "small.raw"))
    assert r.status_code == 202 and r.content == b""
    done = wait_for(c, image_id, "active", "queued")
    assert done["status"] == "active", done
    assert done["size"] == len(SMALL)
    assert done["checksum"] == SMALL_MD5 and done["os_hash_value"] == SMALL_SHA512
    assert done["os_glance_failed_import"] == ""
    assert c.get(f"/v2/images/{image_id}/file").content == SMALL
    ((path, agent),) = web.requests
    assert path == "/allowed/small.raw" and agent.startswith("OpenIMS/")


def test_web_download_follows_a_redirect_inside_the_allow_list(server: Server, web: Web) -> None:
    c = server.client("p1")
    image_id = create(c)
    assert import_(c, image_id, web_download(ALLOWED + "redirect-in")).status_code == 202
    assert wait_for(c, image_id, "active", "queued")["checksum"] == SMALL_MD5
    assert web.paths() == ["/allowed/redirect-in", "/allowed/small.raw"]


@pytest.mark.parametrize(
    ("path", "requested"),
    [
        ("redirect-out", ["/allowed/redirect-out"]),  # the hop is re-checked, never taken
        ("missing", ["/allowed/missing"]),  # 404
        ("redirect-loop", ["/allowed/redirect-loop"] * 6),  # bounded hops
    ],
)
def test_web_download_failures_put_the_image_back_to_queued(
    server: Server, web: Web, path: str, requested: list[str]
) -> None:
    c = server.client("p1")
    image_id = create(c)
    assert import_(c, image_id, web_download(ALLOWED + path)).status_code == 202
    doc = wait_for(c, image_id, "queued", "active")
    assert doc["status"] == "queued"
    assert doc["os_glance_failed_import"] == "fs"
    assert doc["os_glance_importing_to_stores"] == ""
    assert doc["size"] is None and doc["checksum"] is None
    assert web.paths() == requested
    assert not blob(server, "images", image_id).exists()
    # and a good import works afterwards
    assert import_(c, image_id, web_download(ALLOWED + "small.raw")).status_code == 202
    assert wait_for(c, image_id, "active", "queued")["status"] == "active"


def test_web_download_of_refused_content(server: Server, web: Web) -> None:
    c = server.client("p1")
    web.files["random.qcow2"] = raw_bytes(8192)
    web.files["big.raw"] = b"\0" * (CAP + 1)
    for name, disk_format in (("random.qcow2", "qcow2"), ("big.raw", "raw")):
        image_id = create(c, disk_format=disk_format)
        r = import_(c, image_id, web_download(f"{ALLOWED}files/{name}"))
        assert r.status_code == 202
        doc = wait_for(c, image_id, "queued", "active")
        assert doc["status"] == "queued" and doc["os_glance_failed_import"] == "fs"
        assert not blob(server, "images", image_id).exists()


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        f"ftp://127.0.0.1:{WEB_PORT}/allowed/small.raw",
        f"gopher://127.0.0.1:{WEB_PORT}/allowed/small.raw",
        f"http://127.0.0.1:{WEB_PORT}/private/small.raw",  # outside the allow-list
        f"http://localhost:{WEB_PORT}/allowed/small.raw",  # the list compares the host
        f"http://127.0.0.1:{WEB_PORT + 1}/allowed/small.raw",  # another port
        f"https://127.0.0.1:{WEB_PORT}/allowed/small.raw",  # another scheme
        f"http://127.0.0.1:{WEB_PORT}/allowed/../private/small.raw",
        f"http://127.0.0.1:{WEB_PORT}/allowed/%2e%2e/private/small.raw",
        f"http://user:secret@127.0.0.1:{WEB_PORT}/allowed/small.raw",
        f"http://127.0.0.1:{WEB_PORT}@evil.example/allowed/small.raw",
        f"http://127.0.0.1:{WEB_PORT}\\@evil.example/allowed/small.raw",
        f"http://127.0.0.1:{WEB_PORT}/allowed/small raw",
        "http://127.0.0.1:notaport/allowed/small.raw",
        "/allowed/small.raw",
        "",
    ],
    # the port is free on this run's machine: ids without it are the same in every session
    # (pytest-xdist's workers each collect the tests, and must find the same ones)
    ids=lambda uri: uri.replace(f":{WEB_PORT + 1}", ":OTHER").replace(f":{WEB_PORT}", ":PORT"),
)
def test_refused_uris_are_a_400_and_never_fetched(server: Server, web: Web, uri: str) -> None:
    c = server.client("p1")
    image_id = create(c)
    r = import_(c, image_id, web_download(uri))
    assert r.status_code == 400, r.text
    assert message(r) == f"URI for web-download does not pass filtering: {uri}"
    doc = show(c, image_id)
    assert doc["status"] == "queued"
    assert "os_glance_import_task" not in doc and "os_glance_failed_import" not in doc
    time.sleep(0.1)
    assert web.requests == []


def test_web_download_statuses_while_it_runs(server: Server, web: Web) -> None:
    """A slow download shows the import as Glance does: `importing`, the task and the store
    named; the image takes no upload or other import meanwhile, and serves no bytes."""
    c = server.client("p1")
    image_id = create(c)
    assert import_(c, image_id, web_download(ALLOWED + "stall")).status_code == 202
    deadline = time.monotonic() + 10
    while "/allowed/stall" not in web.paths():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    doc = show(c, image_id)
    assert doc["status"] == "importing"
    assert doc["os_glance_import_task"] and doc["os_glance_importing_to_stores"] == "fs"
    assert doc["os_glance_failed_import"] == ""
    assert c.get(f"/v2/images/{image_id}/file").status_code == 204
    r = c.put(f"/v2/images/{image_id}/file", content=b"x", headers=OCTETS)
    assert r.status_code == 409
    r = import_(c, image_id, web_download(ALLOWED + "small.raw"))
    assert r.status_code == 409
    r = stage(c, image_id, b"x")
    assert r.status_code == 409
    web.release.set()
    done = wait_for(c, image_id, "active", "queued")
    assert done["status"] == "active" and done["size"] == STALL_SIZE


def test_deleting_an_image_while_it_imports(server: Server, web: Web) -> None:
    c = server.client("p1")
    image_id = create(c)
    assert import_(c, image_id, web_download(ALLOWED + "stall")).status_code == 202
    deadline = time.monotonic() + 10
    while "/allowed/stall" not in web.paths():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert c.delete(f"/v2/images/{image_id}").status_code == 204
    web.release.set()
    time.sleep(0.5)
    assert c.get(f"/v2/images/{image_id}").status_code == 404
    assert not blob(server, "images", image_id).exists()


# --- a server killed in the middle of an import --------------------------------------------------
def test_an_import_of_a_killed_server_is_undone_by_the_sweep(
    db_url: str, tmp_path: Path, web: Web
) -> None:
    env = {
        "OPENIMS_WEB_DOWNLOAD_ALLOW": ALLOWED,
        "OPENIMS_UPLOAD_LEASE": "1",
    }
    first = start_server(db_url, tmp_path, auth=False, env=env)
    try:
        c = first.client("p1")
        image_id = create(c)
        staged = create(c)
        assert stage(c, staged, b"y" * 5000).status_code == 204
        assert import_(c, image_id, web_download(ALLOWED + "stall")).status_code == 202
        deadline = time.monotonic() + 10
        while "/allowed/stall" not in web.paths():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert show(c, image_id)["status"] == "importing"
        first.process.kill()
        first.process.wait(10)
    finally:
        first.stop()
    second: ServerProcess = start_server(db_url, tmp_path, auth=False, env=env)
    try:
        c = second.client("p1")
        doc = wait_for(c, image_id, "queued", timeout=20)
        assert doc["os_glance_failed_import"] == "fs"
        assert doc["os_glance_importing_to_stores"] == ""
        assert not blob(second, "images", image_id).exists()
        # the staged image of the dead server keeps its staged bytes, and imports here
        assert show(c, staged)["status"] == "uploading"
        assert blob(second, "staging", staged).exists()
        assert import_(c, staged, GLANCE_DIRECT).status_code == 202
        assert wait_for(c, staged, "active", "queued")["size"] == 5000
        # a new web-download of the image works
        web.release.set()
        assert import_(c, image_id, web_download(ALLOWED + "small.raw")).status_code == 202
        assert wait_for(c, image_id, "active", "queued")["status"] == "active"
    finally:
        second.stop()
