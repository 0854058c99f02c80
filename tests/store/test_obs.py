"""The IMS object storage (`store/obs`) against one contract, on both kinds: a directory of
bucket directories, and an S3 service (the session's SeaweedFS). Objects are put the way a user
would: a plain file in the bucket's directory, or an ordinary S3 client's PUT."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiobotocore.session import get_session

from openims import errors
from openims.domain.obs import ObjectName, parse_object_url
from openims.store.obs import ObjectStorage, open_obs
from openims.store.obs.directory import DirectoryObjects
from openims.store.obs.s3 import S3Objects
from tests.support.seaweed import S3Server


@dataclass
class Backend:
    """An object storage and how a test puts an object into it behind its back."""

    storage: ObjectStorage
    make_bucket: Callable[[str], Awaitable[None]]
    put_raw: Callable[[str, str, bytes], Awaitable[None]]


def s3_client(server: S3Server):  # type: ignore[no-untyped-def]
    return get_session().create_client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
    )


@pytest.fixture(params=["dir", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "dir":
        root = tmp_path / "obs"
        root.mkdir()

        async def make_dir_bucket(bucket: str) -> None:
            (root / bucket).mkdir()

        async def put_file(bucket: str, key: str, data: bytes) -> None:
            path = root / bucket / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        yield Backend(DirectoryObjects(root), make_dir_bucket, put_file)
        return
    server: S3Server = request.getfixturevalue("s3_server")

    async def make_s3_bucket(bucket: str) -> None:
        async with s3_client(server) as client:
            await client.create_bucket(Bucket=bucket)

    async def put_object(bucket: str, key: str, data: bytes) -> None:
        async with s3_client(server) as client:
            await client.put_object(Bucket=bucket, Key=key, Body=data)

    storage = S3Objects(
        endpoint=server.endpoint,
        region=server.region,
        credentials=server.credentials,
        part_size=5 << 20,
    )
    yield Backend(storage, make_s3_bucket, put_object)


def bucket_name() -> str:
    return f"b-{uuid.uuid4().hex[:16]}"


def run(backend: Backend, body: Callable[[], Awaitable[None]]) -> None:
    async def go() -> None:
        try:
            await body()
        finally:
            await backend.storage.close()

    asyncio.run(go())


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def chunked(data: bytes, size: int = 1 << 16) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def code_of(error: pytest.ExceptionInfo[errors.ApiError]) -> str:
    return error.value.code


def test_read_what_a_user_put(backend: Backend) -> None:
    bucket = bucket_name()
    data = os.urandom(300_000)

    async def body() -> None:
        await backend.make_bucket(bucket)
        await backend.put_raw(bucket, "images/disk.qcow2", data)
        name = parse_object_url(f"{bucket}:images/disk.qcow2")
        assert await backend.storage.size(name) == len(data)
        assert await backend.storage.exists(name)
        read = await collect(backend.storage.read(name, chunk_size=65536))
        assert hashlib.sha256(read).digest() == hashlib.sha256(data).digest()

    run(backend, body)


def test_missing_bucket_and_object(backend: Backend) -> None:
    bucket = bucket_name()

    async def body() -> None:
        nowhere = ObjectName.of(bucket_name(), "x.qcow2")
        for call in (
            lambda: backend.storage.size(nowhere),
            lambda: collect(backend.storage.read(nowhere)),
            lambda: backend.storage.exists(nowhere),
            lambda: backend.storage.put(nowhere, chunked(b"abc")),
        ):
            with pytest.raises(errors.ApiError) as caught:
                await call()
            assert code_of(caught) == "IMG.0069"
        await backend.make_bucket(bucket)
        missing = ObjectName.of(bucket, "dir/missing.qcow2")
        for call in (
            lambda: backend.storage.size(missing),
            lambda: collect(backend.storage.read(missing)),
        ):
            with pytest.raises(errors.ApiError) as caught:
                await call()
            assert code_of(caught) == "IMG.0057"
        assert not await backend.storage.exists(missing)
        await backend.storage.delete(missing)  # no error

    run(backend, body)


def test_put_then_read_replace_and_delete(backend: Backend, tmp_path: Path) -> None:
    bucket = bucket_name()
    big = os.urandom((5 << 20) + 12345)  # more than one part of the S3 writer
    local = tmp_path / "converted.vhd"
    local.write_bytes(b"from a file" * 1000)

    async def body() -> None:
        await backend.make_bucket(bucket)
        name = ObjectName.of(bucket, "exports/a/disk.vhd")
        assert await backend.storage.put(name, chunked(big)) == len(big)
        assert await collect(backend.storage.read(name)) == big
        assert await backend.storage.put_file(name, local) == local.stat().st_size
        assert await collect(backend.storage.read(name)) == local.read_bytes()
        await backend.storage.delete(name)
        assert not await backend.storage.exists(name)

    run(backend, body)


def test_failed_put_leaves_nothing(backend: Backend) -> None:
    bucket = bucket_name()

    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(6 << 20)
        raise RuntimeError("the source broke")

    async def body() -> None:
        await backend.make_bucket(bucket)
        name = ObjectName.of(bucket, "half.vhd")
        await backend.put_raw(bucket, "half.vhd", b"old bytes")
        with pytest.raises(RuntimeError):
            await backend.storage.put(name, failing())
        assert await collect(backend.storage.read(name)) == b"old bytes"

    run(backend, body)


def test_directory_put_leaves_no_temporary(tmp_path: Path) -> None:
    root = tmp_path / "obs"
    (root / "bucket").mkdir(parents=True)
    storage = DirectoryObjects(root)

    async def failing() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise RuntimeError("the source broke")

    async def body() -> None:
        with pytest.raises(RuntimeError):
            await storage.put(ObjectName.of("bucket", "d/f.vhd"), failing())

    asyncio.run(body())
    assert [p.name for p in (root / "bucket" / "d").iterdir()] == []


def test_directory_stays_inside_its_buckets(tmp_path: Path) -> None:
    """A name never leaves the bucket: links an operator left are not followed out of it,
    a file is not a bucket, and names that escaped the domain are checked again."""
    root = tmp_path / "obs"
    (root / "bucket").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "bucket" / "link").symlink_to(outside)
    (root / "bucket" / "file-link").symlink_to(outside / "secret")
    (root / "plain-file").write_bytes(b"not a bucket")
    (root / "bucket" / "folder").mkdir()
    storage = DirectoryObjects(root)

    async def body() -> None:
        for key in ("link/secret", "file-link", "folder"):
            with pytest.raises(errors.ApiError) as caught:
                await collect(storage.read(ObjectName.of("bucket", key)))
            assert code_of(caught) == "IMG.0057"
        with pytest.raises(errors.ApiError) as caught:
            await storage.put(ObjectName.of("bucket", "link/new"), chunked(b"x"))
        assert code_of(caught) == "IMG.0057"
        with pytest.raises(errors.ApiError) as caught:
            await storage.size(ObjectName.of("plain-file", "x"))
        assert code_of(caught) == "IMG.0069"
        with pytest.raises(errors.ApiError) as caught:  # built around the checks
            await storage.size(ObjectName("bucket", "../../outside/secret"))
        assert code_of(caught) == "IMG.0017"
        with pytest.raises(errors.ApiError) as caught:
            await storage.put(ObjectName("..", "x"), chunked(b"x"))
        assert code_of(caught) == "IMG.0109"

    asyncio.run(body())
    assert not (outside / "new").exists()


def test_s3_refuses_unchecked_names(s3_server: S3Server) -> None:
    storage = S3Objects(
        endpoint=s3_server.endpoint, region=s3_server.region, credentials=s3_server.credentials
    )

    async def body() -> None:
        try:
            with pytest.raises(errors.ApiError) as caught:
                await storage.size(ObjectName(s3_server.bucket, "/abs"))
            assert code_of(caught) == "IMG.0017"
        finally:
            await storage.close()

    asyncio.run(body())


def test_unreachable_s3_is_a_503(s3_server: S3Server) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    storage = S3Objects(
        endpoint=f"http://127.0.0.1:{port}", region="r", credentials=s3_server.credentials
    )

    async def body() -> None:
        try:
            with pytest.raises(errors.ApiError) as caught:
                await storage.size(ObjectName.of("bucket", "x"))
            assert caught.value.status == 503
        finally:
            await storage.close()

    asyncio.run(body())


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("./data/obs", "dir"),
        ("/var/lib/obs", "dir"),
        ("file:///var/lib/obs", "dir"),
        ("file://./obs", "dir"),
        ("s3://?endpoint=http://127.0.0.1:8333&region=r1", "s3"),
        ("s3://", "s3"),
    ],
)
def test_open_obs(url: str, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert open_obs(url).kind == kind


@pytest.mark.parametrize(
    "url",
    [
        "",
        "s3://bucket?endpoint=http://x",
        "s3://?endpoint=ftp://x",
        "s3://?colour=blue",
        "s3://?region=",
        "file://host/x",
        "file:///x?y=1",
        "gopher://x",
    ],
)
def test_open_obs_refuses(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    with pytest.raises(ValueError, match="object storage"):
        open_obs(url)
