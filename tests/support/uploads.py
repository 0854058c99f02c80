"""Image data in tests: creating images and putting bytes into them, raw uploads over a socket
(bodies shorter than their Content-Length, no Content-Type), disk images made with `qemu-img`,
and a look at what a server's image store holds.

The data tests' servers come from `data_server_fixture`, on the file store and on S3 (the
`store` parameter); `view(server)` lists what the server's store holds."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
import pytest

from tests.support.fixtures import shared_server
from tests.support.seaweed import S3Server
from tests.support.servers import Server, ServerProcess, image_store_for

OCTET_STREAM = "application/octet-stream"
OCTET = {"Content-Type": OCTET_STREAM}
# The cap on one image of the data tests' servers (OPENIMS_MAX_IMAGE_BYTES): small, so a test
# passes it cheaply, and the same for every module, so they share their servers.
CAP = 6 * 1024 * 1024
CAPPED = {"OPENIMS_MAX_IMAGE_BYTES": str(CAP)}
QEMU_IMG = shutil.which("qemu-img") or "/usr/bin/qemu-img"


def raw_bytes(size: int) -> bytes:
    """`size` random bytes that no format inspector takes for a disk image, as the data of
    a raw image. `os.urandom` alone gives the MBR signature (0x55AA at byte 510, all that
    the inspector's GPT match asks) once in 65,536 calls, and a raw image whose partition
    table then fails the MBR checks is refused (IMG.0315): the tests' uploads failed so."""
    data = bytearray(os.urandom(size))
    if data[510:512] == b"\x55\xaa":
        data[510] ^= 0xFF
    return bytes(data)


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """A new image (raw, bare unless `fields` say otherwise)."""
    body = {"name": "data", "disk_format": "raw", "container_format": "bare", **fields}
    r = client.post("/v2/images", json=body)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def put(client: httpx.Client, image_id: str, content: Any, **headers: str) -> httpx.Response:
    """`PUT /v2/images/{id}/file` with `content` (bytes, or an iterator: chunked)."""
    return client.put(f"/v2/images/{image_id}/file", content=content, headers={**OCTET, **headers})


def upload(client: httpx.Client, image_id: str, data: bytes) -> None:
    r = put(client, image_id, data)
    assert r.status_code == 204, r.text


def image(client: httpx.Client, image_id: str) -> dict[str, Any]:
    r = client.get(f"/v2/images/{image_id}")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def md5(data: bytes) -> str:
    """The checksum Glance records (an integrity check, not a security one)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Digests:
    size: int
    md5: str
    sha512: str

    @classmethod
    def of(cls, data: bytes) -> Digests:
        return cls(len(data), md5(data), hashlib.sha512(data).hexdigest())

    def recorded_in(self, doc: dict[str, Any]) -> bool:
        return (doc["size"], doc["checksum"], doc["os_hash_algo"], doc["os_hash_value"]) == (
            self.size,
            self.md5,
            "sha512",
            self.sha512,
        )


def assert_no_data(doc: dict[str, Any]) -> None:
    """`doc` is a queued image without a trace of data, as before any upload."""
    assert doc["status"] == "queued", doc
    for name in ("size", "checksum", "os_hash_algo", "os_hash_value", "virtual_size"):
        assert doc.get(name) is None, (name, doc)
    assert "stores" not in doc, doc


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> str:
    """The API's error format (Glance face): `{"error": {message, code, title}}`."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert set(err) == {"message", "code", "title"}, err
    if code is not None:
        assert err["code"] == code, err
    return str(err["message"])


# --- the store --------------------------------------------------------------------------------
# Every data test runs on both stores: a file store (a directory) and an S3 store (a prefix of
# the session's SeaweedFS bucket). `data_server_fixture` gives a server of the store under test
# (the `store` parameter) and records where its data lives, which `view(server)` shows.
STORES = ["file", "s3"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass(frozen=True)
class StoreView:
    """What a server's store holds: committed blobs (`images/<id>`) and temporaries (a file
    store's `.<id>.<random>.tmp`, an S3 store's unfinished multipart uploads)."""

    root: Path | None = None  # a file store's directory
    s3: S3Server | None = None
    prefix: str = ""  # an S3 store's prefix in the bucket

    def _s3_listing(self) -> tuple[list[str], list[str]]:
        assert self.s3 is not None
        store = self.s3.store(prefix=self.prefix)

        async def listing() -> tuple[list[str], list[str]]:
            try:
                client = await store.client()
                objects = await client.list_objects_v2(
                    Bucket=store.bucket, Prefix=f"{self.prefix}/"
                )
                uploads = await client.list_multipart_uploads(
                    Bucket=store.bucket, Prefix=f"{self.prefix}/"
                )
            finally:
                await store.close()
            cut = len(self.prefix) + 1
            return (
                sorted(o["Key"][cut:] for o in objects.get("Contents", [])),
                sorted(f"{u['Key'][cut:]}.upload" for u in uploads.get("Uploads", [])),
            )

        return asyncio.run(listing())

    def files(self) -> list[str]:
        """Everything the store holds, committed or not."""
        if self.root is None:
            committed, unfinished = self._s3_listing()
            return sorted(committed + unfinished)
        if not self.root.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())

    def temporaries(self) -> list[str]:
        if self.root is None:
            return self._s3_listing()[1]
        return [name for name in self.files() if name.endswith(".tmp")]

    def traces(self, image_id: str) -> list[str]:
        """Whatever the store holds of `image_id`: its blobs and any temporary of them."""
        return [name for name in self.files() if image_id in name]


_VIEWS: dict[int, StoreView] = {}


def view(server: Server) -> StoreView:
    """The store of a server `data_server_fixture` gave."""
    return _VIEWS[id(server)]


def data_server_fixture(name: str, *, in_process: bool = False) -> Any:
    """A function-scoped fixture `name`: a no-auth server (capped at `CAP`) on an empty
    database of the backend under test, keeping its image data in the store under test."""

    def fixture(backend: str, store: str, request: pytest.FixtureRequest) -> Iterator[Server]:
        env = dict(CAPPED)
        if store == "file":
            server = shared_server(request, backend, auth=False, in_process=in_process, env=env)
            assert isinstance(server, Server)
            app = getattr(server, "app", None)
            if app is not None:
                url = str(app.state.settings.image_store)
            else:
                assert isinstance(server, ServerProcess)
                url = image_store_for(server.database_url, server.log.parent)
            found = StoreView(root=Path(unquote(urlsplit(url).path)))
        else:
            s3: S3Server = request.getfixturevalue("s3_server")
            prefix = f"{name}-{backend}-{'in' if in_process else 'out'}"
            s3_env = s3.env(prefix)
            env["OPENIMS_IMAGE_STORE"] = s3_env.pop("OPENIMS_IMAGE_STORE")
            if in_process:  # the credentials come from the environment when the app starts
                saved = {k: os.environ.get(k) for k in s3_env}
                os.environ.update(s3_env)
                try:
                    server = shared_server(request, backend, auth=False, in_process=True, env=env)
                finally:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
            else:
                env.update(s3_env)
                server = shared_server(request, backend, auth=False, env=env)
            assert isinstance(server, Server)
            found = StoreView(s3=s3, prefix=prefix)
        _VIEWS[id(server)] = found
        yield server
        server.close_clients()

    fixture.__name__ = name
    return pytest.fixture(name=name)(fixture)


# --- raw HTTP ---------------------------------------------------------------------------------
def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def raw_put(
    server: Server,
    image_id: str,
    body: bytes,
    *,
    project: str = "p1",
    content_length: int | None = None,
    content_type: str | None = OCTET_STREAM,
    half_close: bool = True,
) -> tuple[int, dict[str, Any] | None]:
    """An upload sent as bytes: `content_length` may claim more than `body`; with
    `half_close` the client shuts its side after the body, as a client that gave up does.
    The answer's status and JSON body (None when it has none)."""
    head = [
        f"PUT /v2/images/{image_id}/file HTTP/1.1",
        "Host: openims",
        f"X-Project-Id: {project}",
        f"Content-Length: {len(body) if content_length is None else content_length}",
        "Connection: close",
    ]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    with socket.create_connection(address(server), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split()[1])
    return status, (orjson.loads(payload) if payload.strip() else None)


# --- disk images ------------------------------------------------------------------------------
def qemu_img(*args: str) -> None:
    subprocess.run([QEMU_IMG, *args], check=True, capture_output=True, timeout=60)


def qcow2(path: Path, size: str = "1M", *options: str) -> bytes:
    """A qcow2 image made by qemu-img (`options` go to `create`)."""
    qemu_img("create", "-f", "qcow2", *options, str(path), size)
    return path.read_bytes()
