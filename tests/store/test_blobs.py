"""The blob stores (`store/blobs`) against one contract: all-or-nothing writes, byte-identical
reads, ranges, keys that cannot name anything but a blob, and the sweep of what a crash left.
`blob_store` gives each test a fresh, empty store of each kind: the file store, and the S3
store on a real S3 server (SeaweedFS, `s3_server`)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from openims.store.blobs import BlobStore, check_key, files, key, open_store
from openims.store.blobs.files import FileStore
from openims.store.blobs.s3 import (
    MAX_PARTS,
    PART_SIZE,
    PARTS_PER_STEP,
    S3Credentials,
    S3Store,
    part_size_of,
)
from tests.support.seaweed import S3Server

Body = Callable[[BlobStore], Awaitable[None]]


def drive(store: BlobStore, body: Body) -> None:
    """Run `body` on one event loop, and close the store on that loop."""

    async def go() -> None:
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(go())


def new_key(space: str = "images") -> str:
    return key(space, str(uuid.uuid4()))


def pattern(n: int, seed: int = 0) -> bytes:
    """`n` bytes that differ from chunk to chunk, so a misplaced part shows."""
    block = hashlib.sha512(seed.to_bytes(8, "big")).digest() * 2048  # 128 KiB
    return (block * (n // len(block) + 1))[:n]


async def put(store: BlobStore, name: str, data: bytes, chunk: int = 1 << 16) -> None:
    writer = await store.writer(name)
    for i in range(0, len(data), chunk):
        await writer.write(data[i : i + chunk])
    await writer.commit()


async def get(store: BlobStore, name: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(name, start, end)])


async def listed(store: BlobStore) -> list[str]:
    names = store.keys()  # (an async iterator, not a dict's keys)
    return [name async for name in names]


@pytest.mark.parametrize("n", [0, 1, 1 << 20, 20 << 20])
def test_written_bytes_read_back_identical(blob_store: BlobStore, n: int) -> None:
    async def body(store: BlobStore) -> None:
        name, data = new_key(), pattern(n, seed=n)
        await put(store, name, data, chunk=(1 << 20) + 17)  # chunks that straddle parts
        assert await store.size(name) == n
        assert await get(store, name) == data
        assert await listed(store) == [name]

    drive(blob_store, body)


def test_range_reads(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        name, data = new_key(), pattern(3 << 20)
        await put(store, name, data)
        for start, end in [
            (0, 1),
            (5, 5),
            (1000, 2_500_000),
            ((1 << 20) - 1, (2 << 20) + 1),
            (len(data) - 10, None),
            (len(data) - 10, len(data) + 100),  # clipped at the end
            (len(data), None),
            (len(data) + 5, None),
        ]:
            assert await get(store, name, start, end) == data[start:end], (start, end)

    drive(blob_store, body)


def test_missing_blob(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        name = new_key()
        with pytest.raises(FileNotFoundError):
            await get(store, name)
        with pytest.raises(FileNotFoundError):
            await get(store, name, 3, 10)
        assert await store.size(name) is None
        await store.delete(name)  # deleting what is not there is fine

    drive(blob_store, body)


def test_nothing_is_visible_before_commit_and_abort_leaves_nothing(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        name = new_key()
        writer = await store.writer(name)
        await writer.write(pattern(3 << 20))
        assert await store.size(name) is None
        assert await listed(store) == []
        await writer.abort()
        await writer.abort()  # twice is fine
        assert await store.size(name) is None
        assert await listed(store) == []
        assert await store.sweep(0) == 0  # no temporary left behind either
        with pytest.raises(RuntimeError):
            await writer.write(b"more")
        with pytest.raises(RuntimeError):
            await writer.commit()

    drive(blob_store, body)


def test_an_interrupted_write_aborted_leaves_nothing(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        name = new_key()
        writer = await store.writer(name)
        await writer.write(pattern(9 << 20))  # past one S3 part: an upload is under way

        async def big_write() -> None:
            await writer.write(pattern(32 << 20, seed=1))

        task = asyncio.create_task(big_write())
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await writer.abort()
        assert await store.size(name) is None
        assert await listed(store) == []
        assert await store.sweep(0) == 0

    drive(blob_store, body)


def test_commit_replaces(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        name = new_key("staging")
        await put(store, name, b"first version, longer than the second")
        await put(store, name, b"second")
        assert await get(store, name) == b"second"
        assert await listed(store) == [name]
        await store.delete(name)
        assert await store.size(name) is None
        assert await listed(store) == []

    drive(blob_store, body)


@pytest.mark.parametrize("n", [0, 1, 3 << 20])
def test_copy_makes_an_identical_blob_and_leaves_the_source(blob_store: BlobStore, n: int) -> None:
    async def body(store: BlobStore) -> None:
        source, target, data = new_key(), new_key(), pattern(n, seed=n + 1)
        await put(store, source, data)
        await put(store, target, b"replaced whole")
        await store.copy(source, target)
        assert await get(store, target) == data and await store.size(target) == n
        assert await get(store, source) == data
        await store.delete(source)
        assert await get(store, target) == data  # a copy, not a second name for the source
        assert sorted(await listed(store)) == [target]

    drive(blob_store, body)


def test_copy_of_a_missing_blob_leaves_nothing(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        target = new_key()
        with pytest.raises(FileNotFoundError):
            await store.copy(new_key(), target)
        assert await store.size(target) is None and await listed(store) == []
        with pytest.raises(ValueError, match="not a blob key"):
            await store.copy("images/../../etc/passwd", target)

    drive(blob_store, body)


def test_keys_lists_only_committed_blobs(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        committed = sorted([new_key("images"), new_key("images"), new_key("staging")])
        for name in committed:
            await put(store, name, name.encode())
        pending = await store.writer(new_key())
        await pending.write(b"not yet")
        aborted = await store.writer(new_key())
        await aborted.write(b"never")
        await aborted.abort()
        assert sorted(await listed(store)) == committed
        await pending.abort()

    drive(blob_store, body)


# (how long to wait, the sweep's age): S3 reports when an upload began to the second
SWEEP_TIMING = {"fs": (1.0, 0.5), "s3": (4.0, 2.5)}
# enough bytes that every store has begun its temporary (an S3 multipart upload)
SWEEP_BYTES = 17 << 20


def test_sweep_removes_idle_temporaries_and_not_live_ones(blob_store: BlobStore) -> None:
    wait, age = SWEEP_TIMING[blob_store.id]

    async def body(store: BlobStore) -> None:
        kept = new_key()
        await put(store, kept, b"committed")
        idle = await store.writer(new_key())
        await idle.write(pattern(SWEEP_BYTES))
        long_key, fresh_key = new_key(), new_key()
        long = await store.writer(long_key)  # begun as long ago, but still writing
        await long.write(pattern(SWEEP_BYTES, seed=2))
        await asyncio.sleep(wait)
        fresh = await store.writer(fresh_key)
        await fresh.write(pattern(SWEEP_BYTES, seed=1))
        await long.write(pattern(SWEEP_BYTES, seed=3))
        assert await store.sweep(3600) == 0
        assert await store.sweep(age) == 1
        assert await store.sweep(age) == 0
        await fresh.write(b"tail")
        await fresh.commit()  # the sweep left the fresh write whole
        assert await get(store, fresh_key) == pattern(SWEEP_BYTES, seed=1) + b"tail"
        await long.commit()
        long_data = pattern(SWEEP_BYTES, seed=2) + pattern(SWEEP_BYTES, seed=3)
        assert await get(store, long_key) == long_data
        assert sorted(await listed(store)) == sorted([kept, fresh_key, long_key])
        await idle.abort()  # its temporary is already gone: still fine

    drive(blob_store, body)


# one id for all: the keys are the tests' ids, which must be the same in every session
# (pytest-xdist's workers each collect the tests, and must find the same ones)
_AN_ID = "9eba960e-1ac3-4cd8-9ddf-f3cf354ade13"
BAD_KEYS = [
    "images/../../etc/passwd",
    "bucket:../../x",
    "/etc/passwd",
    "/images/" + _AN_ID,
    "images/" + _AN_ID + "/..",
    "images/" + _AN_ID + "\n",
    "other/" + _AN_ID,
    "images/",
    "images/.." + _AN_ID[2:],
    "",
]


@pytest.mark.parametrize("bad", BAD_KEYS)
def test_bad_keys_are_refused_before_any_io(blob_store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError, match="not a blob key"):
        check_key(bad)

    async def body(store: BlobStore) -> None:
        with pytest.raises(ValueError, match="not a blob key"):
            await store.writer(bad)
        with pytest.raises(ValueError, match="not a blob key"):
            store.read(bad)  # at the call, not at the first chunk
        with pytest.raises(ValueError, match="not a blob key"):
            await store.size(bad)
        with pytest.raises(ValueError, match="not a blob key"):
            await store.delete(bad)
        with pytest.raises(ValueError, match="not a blob key"):
            store.local_path(bad)
        assert await listed(store) == []

    drive(blob_store, body)


def test_key_refuses_what_is_not_a_space_and_an_id() -> None:
    image_id = str(uuid.uuid4())
    assert key("images", image_id) == f"images/{image_id}"
    for space, name in [("images", "../x"), ("tmp", image_id), ("images", image_id + "/x")]:
        with pytest.raises(ValueError, match="not a blob key"):
            key(space, name)


def test_concurrent_writers_last_commit_wins(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        name = new_key()
        versions = [pattern((1 << 20) + 1000 * i, seed=i) for i in range(4)]
        writers = [await store.writer(name) for _ in versions]

        async def feed(i: int) -> None:
            data = versions[i]
            for j in range(0, len(data), 1 << 16):
                await writers[i].write(data[j : j + (1 << 16)])
                await asyncio.sleep(0)

        await asyncio.gather(*(feed(i) for i in range(len(versions))))
        for i in (2, 0, 3, 1):
            await writers[i].commit()
            assert await get(store, name) == versions[i]
        assert await listed(store) == [name]

        # commits at the same moment: one whole version is left, never a mix
        writers = [await store.writer(name) for _ in versions]
        await asyncio.gather(*(feed(i) for i in range(len(versions))))
        await asyncio.gather(*(w.commit() for w in writers))
        assert await get(store, name) in versions
        assert await listed(store) == [name]
        assert await store.sweep(0) == 0

    drive(blob_store, body)


def test_reads_see_whole_versions_while_writers_commit(blob_store: BlobStore) -> None:
    async def body(store: BlobStore) -> None:
        name = new_key()
        versions = [pattern(512 << 10, seed=i) for i in range(6)]
        await put(store, name, versions[0])
        seen: list[bytes] = []

        async def reader() -> None:
            for _ in range(12):
                seen.append(await get(store, name))

        async def writer() -> None:
            for data in versions[1:]:
                await put(store, name, data)

        await asyncio.gather(reader(), writer(), reader())
        assert seen and all(data in versions for data in seen)
        assert await get(store, name) == versions[-1]

    drive(blob_store, body)


# the file store's own behaviour


def test_file_layout_and_local_path(tmp_path: Path) -> None:
    store = FileStore(tmp_path)

    async def body(_: BlobStore) -> None:
        name = new_key()
        await put(store, name, b"bytes")
        path = store.local_path(name)
        assert path == tmp_path / name and path.read_bytes() == b"bytes"
        assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [name.split("/")[1]]

    drive(store, body)


def test_file_writer_uses_a_temporary_in_the_same_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path)

    async def body(_: BlobStore) -> None:
        name = new_key("staging")
        writer = await store.writer(name)
        await writer.write(pattern(2 << 20))
        (temporary,) = (tmp_path / "staging").iterdir()
        assert temporary.name.startswith(f".{name.split('/')[1]}.")
        assert temporary.name.endswith(".tmp")
        await writer.commit()
        assert [p.name for p in (tmp_path / "staging").iterdir()] == [name.split("/")[1]]

    drive(store, body)


def test_file_writes_go_direct_in_aligned_pieces_and_keep_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_DIRECT writes (docs/image-data.md, "Stores"): blobs of unaligned sizes in chunks of
    every shape (small, straddling the aligned buffer, larger than it) come back identical;
    a slow writer's whole pages reach the file early; a file system that refuses the direct
    writes themselves gets buffered ones, nothing lost."""
    store = FileStore(tmp_path)
    sizes = [(1, 1), (4097, 100), ((2 << 20) + 3, (1 << 20) + 17), ((5 << 20) + 4095, 3 << 20)]

    async def body(_: BlobStore) -> None:
        for n, chunk in sizes:
            name, data = new_key(), pattern(n, seed=n)
            writer = await store.writer(name)
            assert writer._direct  # ext4 under the tests' tmp_path
            for i in range(0, n, chunk):
                await writer.write(data[i : i + chunk])
            await writer.commit()
            assert await get(store, name) == data

        # a slow client: every write flushes its whole pages (and only them) at once
        monkeypatch.setattr(files, "WRITE_INTERVAL", 0.0)
        name, data = new_key(), pattern(3 * 4096 + 5, seed=7)
        writer = await store.writer(name)
        await writer.write(data[:5000])
        (temporary,) = (tmp_path / "images").glob(".*.tmp")
        assert temporary.stat().st_size == 4096
        await writer.write(data[5000:])
        await writer.commit()
        assert await get(store, name) == data
        monkeypatch.setattr(files, "WRITE_INTERVAL", 5.0)

        # the file system takes the flag but refuses the writes: buffered from then on
        real_write = os.write

        def refuse_direct(fd: int, data: bytes) -> int:
            if os.get_blocking(fd) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                raise OSError(errno.EINVAL, "Invalid argument")
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", refuse_direct)
        name, data = new_key(), pattern((4 << 20) + 9, seed=9)
        await put(store, name, data, chunk=1 << 20)
        assert await get(store, name) == data

    drive(store, body)


def test_file_commit_syncs_the_file_then_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    async def body(_: BlobStore) -> None:
        name = new_key()
        writer = await store.writer(name)
        await writer.write(b"durable")
        assert synced == []
        await writer.commit()
        assert synced == ["file", "directory"]

    drive(store, body)


def test_file_sweep_removes_stale_temporaries_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    images = tmp_path / "images"

    async def body(_: BlobStore) -> None:
        kept = new_key()
        await put(store, kept, b"committed")
        old = await store.writer(new_key())
        await old.write(b"left by a crash")
        (stale,) = images.glob(".*.tmp")
        an_hour_ago = time.time() - 3600
        os.utime(stale, (an_hour_ago, an_hour_ago))
        fresh = await store.writer(new_key())
        await fresh.write(b"still being written")
        assert await store.sweep(600) == 1
        assert not stale.exists() and len(list(images.glob(".*.tmp"))) == 1
        assert await listed(store) == [kept]
        await fresh.commit()
        await old.abort()  # its temporary is already gone: still fine
        assert await store.sweep(0) == 0
        (images / "README").write_text("an operator's note")
        assert len(await listed(store)) == 2  # a stray file is not a key

    drive(store, body)


def test_file_sweep_of_a_missing_root(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "never-made")

    async def body(_: BlobStore) -> None:
        assert await store.sweep(0) == 0
        assert await listed(store) == []

    drive(store, body)


# open_store


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file:///var/lib/openims", "/var/lib/openims"),
        ("file://localhost/var/lib/openims", "/var/lib/openims"),
        ("file:///with%20space", "/with space"),
        ("file://./data/images", "data/images"),
        ("file://../elsewhere", "../elsewhere"),
        ("./data/images", "data/images"),
        ("/srv/images", "/srv/images"),
        ("relative", "relative"),
    ],
)
def test_open_store_file_urls(url: str, path: str) -> None:
    store = open_store(url)
    assert isinstance(store, FileStore) and store.id == "fs"
    assert store.root == Path(path).absolute()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "file://",
        "file://host/path",
        "file:///path?x=1",
        "http://example.com/images",
        "s3://",
        "s3://b",
        "s3://bucket?endpoint=ftp://x",
        "s3://bucket?endpoint=",
        "s3://bucket?region=a&region=b",
        "s3://bucket?colour=blue",
        "s3://bucket?endpoint",
        "s3://bucket/a/../b",
        "s3://bucket#frag",
    ],
)
def test_open_store_refuses_bad_urls_in_one_line(url: str) -> None:
    with pytest.raises(ValueError, match="image store") as caught:
        open_store(url)
    assert "\n" not in str(caught.value)


# the S3 store's own behaviour


async def uploads(store: S3Store) -> list[str]:
    """The unfinished multipart uploads under the store's prefix."""
    client = await store.client()
    found = await client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix + "/")
    return [upload.get("Key", "") for upload in found.get("Uploads", [])]


@pytest.fixture
def s3_store(s3_server: S3Server) -> S3Store:
    return s3_server.store(prefix=f"test-{uuid.uuid4().hex}")


def test_s3_large_blobs_go_up_in_parts_and_abort_removes_them(s3_store: S3Store) -> None:
    async def body(_: BlobStore) -> None:
        name = new_key()
        writer = await s3_store.writer(name)
        await writer.write(pattern(PART_SIZE + 1))
        assert await uploads(s3_store) == [f"{s3_store.prefix}/{name}"]
        assert await s3_store.size(name) is None  # an upload is not an object
        await writer.abort()
        assert await uploads(s3_store) == []

        small = await s3_store.writer(name)
        await small.write(b"within one part")
        assert await uploads(s3_store) == []  # a small blob is one PUT, at commit
        await small.commit()
        assert await get(s3_store, name) == b"within one part"

    drive(s3_store, body)


def test_s3_copy_of_more_than_one_copy_part_goes_part_by_part(s3_server: S3Server) -> None:
    store = s3_server.store(prefix=f"test-{uuid.uuid4().hex}", copy_part=5 << 20)

    async def body(_: BlobStore) -> None:
        source, target, data = new_key(), new_key(), pattern((11 << 20) + 3, seed=7)
        await put(store, source, data, chunk=1 << 20)
        await store.copy(source, target)  # three UploadPartCopy ranges: 5, 5 and 1 MiB + 3
        assert await get(store, target) == data
        assert await uploads(store) == []

    drive(store, body)


def test_s3_part_sizes_reach_past_a_tebibyte() -> None:
    sizes = [part_size_of(n) for n in range(1, MAX_PARTS + 1)]
    assert sizes[0] == PART_SIZE and sizes[PARTS_PER_STEP - 1] == PART_SIZE
    assert sizes[PARTS_PER_STEP] == 2 * PART_SIZE
    assert sum(sizes) > 1 << 40 and max(sizes) <= 5 << 30  # S3's largest part is 5 GiB
    assert all(size >= 5 << 20 for size in sizes)


def test_s3_store_from_its_url(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    for name, value in s3_server.env(prefix).items():
        monkeypatch.setenv(name, value)
    store = open_store(s3_server.url(prefix))
    assert isinstance(store, S3Store) and store.id == "s3"
    assert (store.bucket, store.endpoint, store.prefix) == (
        s3_server.bucket,
        s3_server.endpoint,
        prefix,
    )

    async def body(store: BlobStore) -> None:
        name = new_key()
        await put(store, name, b"through the URL")
        assert await get(store, name) == b"through the URL"
        assert store.local_path(name) is None

    drive(store, body)


def test_s3_wrong_keys_are_refused(s3_server: S3Server) -> None:
    store = S3Store(
        s3_server.bucket,
        endpoint=s3_server.endpoint,
        credentials=S3Credentials(s3_server.access_key, "not-the-secret"),
    )

    async def body(store: BlobStore) -> None:
        name = new_key()
        with pytest.raises(ClientError, match="403"):  # not "no such blob"
            await store.size(name)
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            await get(store, name)
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            await put(store, name, b"refused")

    drive(store, body)


def test_s3_secrets_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    secret, token = "s3cr3t-" + uuid.uuid4().hex, "t0ken-" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    store = open_store("s3://bucket?endpoint=http://127.0.0.1:9&region=r")
    assert isinstance(store, S3Store)
    credentials = S3Credentials.from_env()
    server = S3Server("http://127.0.0.1:9", "bucket", "AKIDEXAMPLE", secret)
    for shown in (repr(store), str(store), repr(credentials), repr(server)):
        assert secret not in shown and token not in shown
    assert "AKIDEXAMPLE" in repr(credentials)


def test_s3_store_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="AWS_ACCESS_KEY_ID") as caught:
        open_store("s3://bucket?endpoint=http://127.0.0.1:9")
    assert "\n" not in str(caught.value)
