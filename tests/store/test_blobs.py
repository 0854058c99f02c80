"""The blob stores (`store/blobs`) against one contract: all-or-nothing writes, byte-identical
reads, ranges, keys that cannot name anything but a blob, and the sweep of what a crash left.
`blob_store` gives each test a fresh, empty store of each kind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from openims.store.blobs import BlobStore, check_key, key, open_store
from openims.store.blobs.files import FileStore

Body = Callable[[BlobStore], Awaitable[None]]


@pytest.fixture(params=["file"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return FileStore(tmp_path / "blobs")


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
SWEEP_TIMING = {"fs": (0.3, 0.15), "s3": (3.5, 2.0)}
# enough bytes that every store has begun its temporary (an S3 multipart upload)
SWEEP_BYTES = 17 << 20


def test_sweep_removes_stale_temporaries_and_not_fresh_ones(blob_store: BlobStore) -> None:
    wait, age = SWEEP_TIMING[blob_store.id]

    async def body(store: BlobStore) -> None:
        kept = new_key()
        await put(store, kept, b"committed")
        old = await store.writer(new_key())
        await old.write(pattern(SWEEP_BYTES))
        await asyncio.sleep(wait)
        fresh_key = new_key()
        fresh = await store.writer(fresh_key)
        await fresh.write(pattern(SWEEP_BYTES, seed=1))
        assert await store.sweep(3600) == 0
        assert await store.sweep(age) == 1
        assert await store.sweep(age) == 0
        await fresh.write(b"tail")
        await fresh.commit()  # the sweep left the fresh write whole
        assert await get(store, fresh_key) == pattern(SWEEP_BYTES, seed=1) + b"tail"
        assert sorted(await listed(store)) == sorted([kept, fresh_key])
        await old.abort()  # its temporary is already gone: still fine

    drive(blob_store, body)


BAD_KEYS = [
    "images/../../etc/passwd",
    "bucket:../../x",
    "/etc/passwd",
    "/images/" + str(uuid.uuid4()),
    "images/" + str(uuid.uuid4()) + "/..",
    "images/" + str(uuid.uuid4()) + "\n",
    "other/" + str(uuid.uuid4()),
    "images/",
    "images/.." + str(uuid.uuid4())[2:],
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
