"""Image data under crashes and replicas.

- SIGKILL of a server in the middle of several uploads, a restart on the same database and
  store, and a wait past the upload lease: every image is then `active` with exactly the bytes
  whose MD5 and SHA-512 it records, or `queued` without a trace of data (never `saving` for
  ever); `openims gc` then leaves no orphan file and no temporary in the store, and never
  removes an active image's file. The same on an S3 store: no object that no active image
  owns and no unfinished multipart upload under the store's prefix after
  `openims gc --temporaries-idle 0`.
- Two replicas (two `openims serve` processes on one PostgreSQL database and one store, a
  directory or an S3 bucket): an
  image uploaded through one downloads byte-identical through the other, and of two concurrent
  uploads to one image, one through each, exactly one is taken and the other gets 409."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability.scale import TIMEOUT
from tests.support.databases import empty
from tests.support.seaweed import S3Server
from tests.support.servers import Server, ServerProcess, start_server
from tests.support.uploads import (
    OCTET,
    Digests,
    StoreView,
    assert_no_data,
    create,
    image,
    raw_bytes,
    upload,
)

pytestmark = [pytest.mark.slow, TIMEOUT]

KIB = 1024
MIB = 1024 * KIB
LEASE = 2.0  # seconds without a heartbeat before an upload counts as abandoned
LEASED = {"OPENIMS_UPLOAD_LEASE": str(LEASE)}


@dataclass
class Upload:
    """One upload sent in pieces, a pause after each, from a thread of its own."""

    image_id: str
    data: bytes
    pause: float
    fast: int = 0  # bytes sent first without a pause
    answer: int | None = None  # the status the client got, if any
    thread: threading.Thread = field(init=False)

    def pieces(self) -> Iterator[bytes]:
        for i in range(0, len(self.data), 64 * KIB):
            yield self.data[i : i + 64 * KIB]
            if i + 64 * KIB > self.fast:
                time.sleep(self.pause)

    def start(self, server: Server) -> None:
        def send() -> None:
            headers = {"X-Project-Id": "p-crash", **OCTET}
            if len(self.data) % 2:  # half chunked, half with a Content-Length
                headers["Content-Length"] = str(len(self.data))
            try:
                r = httpx.put(
                    f"{server.url}/v2/images/{self.image_id}/file",
                    content=self.pieces(),
                    headers=headers,
                    timeout=30,
                )
                self.answer = r.status_code
            except httpx.TransportError:
                pass  # the server died first: no answer

        self.thread = threading.Thread(target=send, daemon=True)
        self.thread.start()


def gc(database_url: str, store: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "openims", "gc"),
            *("--database", database_url, "--image-store", store, *args),
        ],
        env={**os.environ, **LEASED, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def settled(client: httpx.Client, ids: list[str], timeout: float) -> dict[str, dict[str, object]]:
    """The images once none is `saving` any more."""
    deadline = time.monotonic() + timeout
    while True:
        docs = {i: image(client, i) for i in ids}
        if all(d["status"] != "saving" for d in docs.values()):
            return docs
        assert time.monotonic() < deadline, {i: d["status"] for i, d in docs.items()}
        time.sleep(0.25)


def test_uploads_survive_sigkill(db_url: str, tmp_path: Path) -> None:
    root = tmp_path / "images"
    store = f"file://{root}"
    env = {**LEASED, "OPENIMS_IMAGE_STORE": store}
    server = start_server(db_url, tmp_path, auth=False, env=env)
    try:
        c = server.client("p-crash")
        uploads = [
            # done before the kill
            *(Upload(create(c)["id"], raw_bytes(20 * KIB + n), 0.0) for n in range(2)),
            # cut at various points: 16 to 32 pieces of 64 KiB, a piece every 50-100 ms
            *(
                Upload(create(c)["id"], raw_bytes((16 + 4 * n) * 64 * KIB + n), 0.05 + n / 100)
                for n in range(5)
            ),
        ]
        untouched = create(c)["id"]
        for u in uploads:
            u.start(server)
        deadline = time.monotonic() + 20
        while not all(u.answer == 204 for u in uploads[:2]):
            assert time.monotonic() < deadline, [u.answer for u in uploads]
            time.sleep(0.05)
        time.sleep(0.4)  # every slow upload is well under way
        assert isinstance(server, ServerProcess)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        for u in uploads:
            u.thread.join(30)
        server.stop()
        assert [u.answer for u in uploads[2:]] == [None] * 5, "no upload was cut"

        # orphans a crash may leave: the committed file of an image whose row never turned
        # active (killed between commit and activation), a file of no image at all, and a
        # temporary of a write that never ended
        orphan_of_queued = root / "images" / untouched
        orphan_of_nothing = root / "images" / str(uuid.uuid4())
        stale_temporary = root / "images" / f".{uuid.uuid4()}.0123456789abcdef.tmp"
        for path in (orphan_of_queued, orphan_of_nothing, stale_temporary):
            path.write_bytes(b"left by a crash")
        assert len(StoreView(root=root).temporaries()) == 1 + 5  # the cut uploads left theirs too

        time.sleep(LEASE + 0.5)  # every heartbeat of the dead server is stale now
        report = gc(db_url, store)  # no server runs: gc alone puts everything right
        assert "Undid 5 abandoned uploads; removed 2 unowned objects." in report, report
        done = sorted(f"images/{u.image_id}" for u in uploads[:2])
        # temporaries stay until idle for an hour (a slow live upload's may look dead): an
        # hour later, the next gc removes them
        assert len(StoreView(root=root).temporaries()) == 1 + 5
        an_hour_ago = time.time() - 3700
        for name in StoreView(root=root).temporaries():
            os.utime(root / name, (an_hour_ago, an_hour_ago))
        gc(db_url, store)
        assert StoreView(root=root).files() == done
        for u in uploads[:2]:
            assert (root / "images" / u.image_id).read_bytes() == u.data

        server = start_server(db_url, tmp_path, auth=False, env=env)
        c = server.client("p-crash")
        ids = [u.image_id for u in uploads]
        docs = settled(c, ids, timeout=5)
        active = []
        for u in uploads:
            doc = docs[u.image_id]
            if u.answer == 204:
                assert doc["status"] == "active", doc
            if doc["status"] == "active":
                assert Digests.of(u.data).recorded_in(doc), u.image_id
                assert c.get(f"/v2/images/{u.image_id}/file").content == u.data
                active.append(u.image_id)
            else:
                assert_no_data(doc)
                assert c.get(f"/v2/images/{u.image_id}/file").status_code == 204
        # the uploads cut short can be taken again, and the untouched image still can be
        for u in uploads:
            if u.image_id not in active:
                upload(c, u.image_id, u.data)
                active.append(u.image_id)
        assert len(active) == len(uploads)

        gc(db_url, store)  # again, while the server runs, as it may
        assert StoreView(root=root).files() == sorted(f"images/{i}" for i in active)
        assert StoreView(root=root).temporaries() == []
        for u in uploads:  # every active image's file untouched
            got = c.get(f"/v2/images/{u.image_id}/file")
            assert got.status_code == 200 and got.content == u.data
        assert_no_data(image(c, untouched))
    finally:
        server.stop()


def leave_on_s3(s3: S3Server, prefix: str, image_ids: list[str]) -> None:
    """What a crash may leave in an S3 store besides the cut uploads: the committed object of
    each of `image_ids`, and an unfinished multipart upload of no image with one part sent."""
    store = s3.store(prefix=prefix)

    async def leave() -> None:
        try:
            for image_id in image_ids:
                writer = await store.writer(f"images/{image_id}")
                await writer.write(b"left by a crash")
                await writer.commit()
            client = await store.client()
            key = f"{prefix}/images/{uuid.uuid4()}"
            begun = await client.create_multipart_upload(Bucket=s3.bucket, Key=key)
            await client.upload_part(
                Bucket=s3.bucket,
                Key=key,
                UploadId=begun["UploadId"],
                PartNumber=1,
                Body=b"left by a crash",
            )
        finally:
            await store.close()

    asyncio.run(leave())


def test_uploads_survive_sigkill_on_s3(db_url: str, tmp_path: Path, s3_server: S3Server) -> None:
    """As on a file store; the temporaries are the unfinished multipart uploads, of which the
    cut uploads leave one each once the server has sent their first part (8 MiB)."""
    prefix = f"crash-{uuid.uuid4().hex}"
    store, env = s3_server.url(prefix), {**LEASED, **s3_server.env(prefix)}
    view = StoreView(s3=s3_server, prefix=prefix)
    server = start_server(db_url, tmp_path, auth=False, env=env)
    try:
        c = server.client("p-crash")
        uploads = [
            # done before the kill
            *(Upload(create(c)["id"], raw_bytes(20 * KIB + n), 0.0) for n in range(2)),
            # cut before any part reached S3
            Upload(create(c)["id"], raw_bytes(MIB + 1), 0.5),
            # cut after their first part did: 10 MiB at once, then 64 KiB every 100 ms
            *(Upload(create(c)["id"], raw_bytes(13 * MIB + n), 0.1, 10 * MIB) for n in range(2)),
        ]
        untouched = create(c)["id"]
        for u in uploads:
            u.start(server)
        deadline = time.monotonic() + 20
        while not all(u.answer == 204 for u in uploads[:2]) or len(view.temporaries()) < 2:
            assert time.monotonic() < deadline, ([u.answer for u in uploads], view.files())
            time.sleep(0.1)
        assert isinstance(server, ServerProcess)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        for u in uploads:
            u.thread.join(30)
        server.stop()
        assert [u.answer for u in uploads[2:]] == [None] * 3, "no upload was cut"

        leave_on_s3(s3_server, prefix, [untouched, str(uuid.uuid4())])
        assert len(view.temporaries()) == 1 + 2

        time.sleep(LEASE + 0.5)  # every heartbeat of the dead server is stale now
        # no server runs: gc alone puts everything right, and clears every temporary at once
        # (the file store's test shows the default idle time sparing them)
        report = gc(db_url, store, "--temporaries-idle", "0", env=env)
        assert "Undid 3 abandoned uploads; removed 2 unowned objects." in report, report
        assert view.files() == sorted(f"images/{u.image_id}" for u in uploads[:2])

        server = start_server(db_url, tmp_path, auth=False, env=env)
        c = server.client("p-crash")
        docs = settled(c, [u.image_id for u in uploads], timeout=5)
        active = []
        for u in uploads:
            doc = docs[u.image_id]
            if u.answer == 204:
                assert doc["status"] == "active", doc
            if doc["status"] == "active":
                assert Digests.of(u.data).recorded_in(doc), u.image_id
                assert c.get(f"/v2/images/{u.image_id}/file").content == u.data
                active.append(u.image_id)
            else:
                assert_no_data(doc)
                assert c.get(f"/v2/images/{u.image_id}/file").status_code == 204
        assert sorted(active) == sorted(u.image_id for u in uploads[:2])
        upload(c, uploads[2].image_id, uploads[2].data)  # a cut upload can be taken again
        active.append(uploads[2].image_id)

        assert view.files() == sorted(f"images/{i}" for i in active)
        for u in uploads[:3]:  # every active image's object untouched
            got = c.get(f"/v2/images/{u.image_id}/file")
            assert got.status_code == 200 and got.content == u.data
            assert Digests.of(u.data).recorded_in(image(c, u.image_id))
        for image_id in (*(u.image_id for u in uploads[3:]), untouched):
            assert_no_data(image(c, image_id))
    finally:
        server.stop()


# --- replicas --------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["file", "s3"])
def replicas(
    request: pytest.FixtureRequest, pg_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """Two servers on one PostgreSQL database and one image store (a directory, or a prefix
    of the session's S3 bucket)."""
    directory = tmp_path_factory.mktemp("data-replicas")
    if request.param == "file":
        env = {"OPENIMS_IMAGE_STORE": f"file://{directory / 'images'}"}
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        env = s3.env(f"replicas-{uuid.uuid4().hex}")
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(
            lambda _: start_server(pg_database, directory, auth=False, env=env), range(2)
        )
    yield a, b
    a.stop()
    b.stop()


@pytest.mark.postgres
def test_an_upload_through_one_replica_downloads_through_the_other(
    replicas: tuple[Server, Server],
) -> None:
    empty(replicas[0].database_url)
    a, b = (srv.client("p-replica") for srv in replicas)
    for size in (1, 200 * KIB + 3):
        doc = create(a)
        data = raw_bytes(size)
        upload(a, doc["id"], data)
        got = b.get(f"/v2/images/{doc['id']}/file")
        assert got.status_code == 200 and got.content == data
        assert Digests.of(data).recorded_in(image(b, doc["id"]))
        assert b.delete(f"/v2/images/{doc['id']}").status_code == 204
        assert a.get(f"/v2/images/{doc['id']}/file").status_code == 404


@pytest.mark.postgres
def test_concurrent_uploads_to_one_image_through_both_replicas(
    replicas: tuple[Server, Server],
) -> None:
    empty(replicas[0].database_url)
    image_id = create(replicas[0].client("p-replica"))["id"]
    datas = [raw_bytes(512 * KIB), raw_bytes(512 * KIB + 1)]
    start = threading.Barrier(2)

    def send(n: int) -> int:
        def pieces() -> Iterator[bytes]:
            for i in range(0, len(datas[n]), 128 * KIB):
                yield datas[n][i : i + 128 * KIB]
                time.sleep(0.05)  # both uploads overlap

        with replicas[n].connect({"X-Project-Id": "p-replica", **OCTET}) as client:
            start.wait()
            return client.put(f"/v2/images/{image_id}/file", content=pieces()).status_code

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(send, range(2)))
    assert sorted(answers) == [204, 409], answers
    winner = answers.index(204)
    for srv in replicas:
        client = srv.client("p-replica")
        assert Digests.of(datas[winner]).recorded_in(image(client, image_id))
        assert client.get(f"/v2/images/{image_id}/file").content == datas[winner]
