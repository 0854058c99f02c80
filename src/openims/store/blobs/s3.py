"""The S3 store: each blob an object `<prefix>/<space>/<image id>` of one bucket, on any
S3-compatible service (Huawei OBS, Ceph RGW, MinIO, SeaweedFS, AWS).

Writes are multipart uploads, so a blob of any size goes through a bounded buffer: a writer
keeps at most one part in memory and sends it before it takes more. A blob that ends within the
first part is one PUT instead. Nothing is visible under the key before `commit()` (the
completion of the upload), `abort()` aborts the upload (the service drops its parts), and an
upload a crash left unfinished is what `sweep()` aborts, found by ListMultipartUploads. That
call is why the client is aiobotocore: obstore (object_store) has neither it nor an abort a
caller can reach, and would leave a killed server's parts in the bucket until a lifecycle rule
removes them (docs/image-data.md, "Stores").

Credentials are the usual `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional
`AWS_SESSION_TOKEN`, read once and passed to the client explicitly: botocore's own search
would go on to the instance-metadata address when they are missing, and a store must fail at
start-up with a clear message instead. They appear in no repr and no log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from openims.store.blobs import SPACES, check_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

log = logging.getLogger(__name__)

PART_SIZE = 8 << 20  # bounded memory per writer; S3's minimum part (but the last) is 5 MiB
# S3 allows 10,000 parts; a writer does not know its blob's size in advance, so the part size
# doubles every PARTS_PER_STEP parts: 8 MiB parts up to ~9.8 GiB, then 16 MiB up to ~29 GiB,
# ... (a 1 TiB blob ends with 512 MiB parts; below ~9.8 GiB a writer holds at most 8 MiB)
PARTS_PER_STEP = 1250
MAX_PARTS = 10_000
READ_CHUNK = 1 << 20
# CopyObject copies up to 5 GiB in one call; a larger object is copied as a multipart upload
# of UploadPartCopy ranges of COPY_PART bytes (at most 5 GiB; 1 GiB keeps a retry cheap), and
# so is any object larger than one COPY_PART
COPY_OBJECT_LIMIT = 5 << 30
COPY_PART = 1 << 30
NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})

_session: AioSession | None = None


def _shared_session() -> AioSession:
    """One botocore session for every store: it caches the S3 service model, whose loading
    is most of the cost of making a client. It holds no connections (the clients do)."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


@dataclass(frozen=True)
class S3Credentials:
    """An access key pair (and session token); the secret parts never show in a repr."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> S3Credentials:
        """The credentials in `AWS_*` variables; a ValueError of one line when they are not."""
        env = dict(os.environ) if env is None else env
        access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not access or not secret:
            raise ValueError(
                "s3 image store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                " (and AWS_SESSION_TOKEN for temporary credentials)"
            )
        return cls(access, secret, env.get("AWS_SESSION_TOKEN") or None)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def part_size_of(number: int, base: int = PART_SIZE) -> int:
    """The size of part `number` (from 1): see PARTS_PER_STEP."""
    return base << ((number - 1) // PARTS_PER_STEP)


class PartTarget(Protocol):
    """Where an `S3Writer` writes: a bucket, its part size and a client (an `S3Store`, or one
    bucket of the IMS object storage, `store/obs/s3.py`)."""

    bucket: str
    part_size: int

    async def client(self) -> S3Client: ...


class S3Writer:
    """One all-or-nothing write of a blob (see `BlobWriter`): a multipart upload begun with
    the first full part, or a single PUT at commit for a blob smaller than one part."""

    def __init__(self, store: PartTarget, name: str) -> None:
        self._store = store
        self._name = name  # the object's name in the bucket
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._state = "open"  # then "committed", "aborted" or "failed"

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"writer of {self._name} is already {self._state}")

    async def _send_part(self, data: bytes) -> None:
        client = await self._store.client()
        if self._upload_id is None:
            started = await client.create_multipart_upload(
                Bucket=self._store.bucket, Key=self._name
            )
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"{self._name}: more than {MAX_PARTS} parts")
        sent = await client.upload_part(
            Bucket=self._store.bucket,
            Key=self._name,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def write(self, chunk: bytes) -> None:
        self._check_open()
        self._buffer += chunk
        try:
            while len(self._buffer) >= (
                size := part_size_of(len(self._parts) + 1, self._store.part_size)
            ):
                with memoryview(self._buffer) as view:
                    data = bytes(view[:size])  # one copy (a bytearray slice would be two)
                del self._buffer[:size]
                await self._send_part(data)
        except BaseException:
            self._state = "failed"
            raise

    async def commit(self) -> None:
        self._check_open()
        client = await self._store.client()
        data, self._buffer = bytes(self._buffer), bytearray()
        try:
            if self._upload_id is None:
                await client.put_object(Bucket=self._store.bucket, Key=self._name, Body=data)
            else:
                if data:
                    await self._send_part(data)
                await client.complete_multipart_upload(
                    Bucket=self._store.bucket,
                    Key=self._name,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except BaseException:
            self._state = "failed"
            raise
        self._state = "committed"

    async def abort(self) -> None:
        """Abort the multipart upload, if one was begun. A failure to reach the service is
        logged, not raised (the caller is usually handling another error already): the upload
        is then left for `sweep()`. After a completed commit it does nothing: the object is
        then an orphan that `openims gc` removes."""
        self._buffer = bytearray()
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            client = await self._store.client()
            await client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._name, UploadId=upload_id
            )
        except ClientError as error:
            if _code(error) != "NoSuchUpload":  # completed, or swept already
                log.warning("s3 store: abort of an upload of %s failed: %s", self._name, error)
        except (BotoCoreError, OSError) as error:
            log.warning("s3 store: abort of an upload of %s failed: %s", self._name, error)


class S3Connection:
    """One client of an S3 endpoint, made on first use on the running event loop (a client
    belongs to its loop) and released by `close()`. The image store and the IMS object
    storage (`store/obs/s3.py`) each hold one."""

    def __init__(
        self, *, endpoint: str | None, region: str | None, credentials: S3Credentials
    ) -> None:
        self.endpoint = endpoint
        self.region = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        ) or "us-east-1"
        self._credentials = credentials
        self._client: S3Client | None = None
        self._context: Any = None  # the client's async context manager, exited by close()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def client(self) -> S3Client:
        """The client of the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        if self._opening is None or self._loop is not loop:
            self._opening, self._loop, self._client = asyncio.Lock(), loop, None
        async with self._opening:
            if self._client is None:
                config = AioConfig(
                    # a custom endpoint (OBS, RGW, MinIO, SeaweedFS) is addressed by path: no
                    # DNS name per bucket needed
                    s3={"addressing_style": "path" if self.endpoint else "auto"},
                    retries={"max_attempts": 4, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=120,
                    max_pool_connections=64,
                    # the newer default CRC checksums are not understood by every S3-compatible
                    # service; the image service hashes the bytes itself
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                self._context = _shared_session().create_client(
                    "s3",
                    endpoint_url=self.endpoint,
                    region_name=self.region,
                    aws_access_key_id=self._credentials.access_key,
                    aws_secret_access_key=self._credentials.secret_key,
                    aws_session_token=self._credentials.session_token,
                    config=config,
                )
                self._client = await self._context.__aenter__()
        assert self._client is not None
        return self._client

    async def close(self) -> None:
        """Release the client's connections (a later call makes a new client)."""
        context, self._context, self._client = self._context, None, None
        if context is not None:
            await context.__aexit__(None, None, None)


class S3Store:
    """Blobs as objects of one bucket (see the module's docstring). The client is made on
    first use, on the running event loop, and `close()` releases its connections."""

    id = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        prefix: str = "",
        credentials: S3Credentials | None = None,
        part_size: int = PART_SIZE,
        copy_part: int = COPY_PART,
    ) -> None:
        if part_size < 5 << 20 or copy_part < 5 << 20:
            raise ValueError("s3 image store: parts are at least 5 MiB")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        # copies of more than one `copy_part` (at most 5 GiB) go part by part
        self.copy_part = min(copy_part, COPY_OBJECT_LIMIT)
        self._connection = S3Connection(
            endpoint=endpoint, region=region, credentials=credentials or S3Credentials.from_env()
        )
        self.endpoint = endpoint
        self.region = self._connection.region

    def __repr__(self) -> str:
        return (
            f"S3Store(bucket={self.bucket!r}, endpoint={self.endpoint!r}, "
            f"region={self.region!r}, prefix={self.prefix!r})"
        )

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, name: str) -> str | None:
        """The key of the object `name`, if it is one of ours."""
        if self.prefix:
            if not name.startswith(self.prefix + "/"):
                return None
            name = name[len(self.prefix) + 1 :]
        try:
            return check_key(name)
        except ValueError:
            return None

    async def client(self) -> S3Client:
        """The client of the running event loop (made on first use)."""
        return await self._connection.client()

    async def writer(self, key: str) -> S3Writer:
        return S3Writer(self, self._name(key))

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        name = self._name(key)  # a bad key fails here, at the call, not at the first chunk
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"bad range {start}..{end}")
        return self._read(name, start, end)

    async def _read(self, name: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        client = await self.client()
        if end == start:  # S3 has no empty range: only say whether the blob exists
            await self._head(name)
            return
        try:
            if start == 0 and end is None:
                response = await client.get_object(Bucket=self.bucket, Key=name)
            else:
                last = "" if end is None else str(end - 1)
                response = await client.get_object(
                    Bucket=self.bucket, Key=name, Range=f"bytes={start}-{last}"
                )
        except ClientError as error:
            if _code(error) in NOT_FOUND:
                raise FileNotFoundError(name) from None
            if _code(error) == "InvalidRange":  # begins at or past the end: nothing to read
                return
            raise
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk
        finally:
            body.close()

    async def _head(self, name: str) -> int:
        client = await self.client()
        try:
            return (await client.head_object(Bucket=self.bucket, Key=name))["ContentLength"]
        except ClientError as error:
            if _code(error) in NOT_FOUND:
                raise FileNotFoundError(name) from None
            raise

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

    async def size(self, key: str) -> int | None:
        try:
            return await self._head(self._name(key))
        except FileNotFoundError:
            return None

    async def copy(self, source: str, target: str) -> None:
        """On the service's side: CopyObject (atomic: the target is the old or the new
        object), or for more than `copy_part` bytes a multipart upload of UploadPartCopy
        ranges, completed only when every part is copied and aborted on failure (a crash
        leaves it to `sweep`)."""
        source_name, target_name = self._name(source), self._name(target)
        size = await self._head(source_name)
        client = await self.client()
        origin: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source_name}
        if size <= self.copy_part:
            await client.copy_object(Bucket=self.bucket, Key=target_name, CopySource=origin)
            return
        started = await client.create_multipart_upload(Bucket=self.bucket, Key=target_name)
        upload_id = started["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            for number, start in enumerate(range(0, size, self.copy_part), start=1):
                end = min(start + self.copy_part, size) - 1
                copied = await client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target_name,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=origin,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": number})
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=target_name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            try:
                await asyncio.shield(
                    client.abort_multipart_upload(
                        Bucket=self.bucket, Key=target_name, UploadId=upload_id
                    )
                )
            except (ClientError, BotoCoreError, OSError) as error:
                log.warning("s3 store: abort of a copy to %s failed: %s", target_name, error)
            raise

    async def delete(self, key: str) -> None:
        name = self._name(key)
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=name)

    def _space_prefix(self, space: str) -> str:
        return f"{self.prefix}/{space}/" if self.prefix else f"{space}/"

    async def keys(self) -> AsyncIterator[str]:
        client = await self.client()
        for space in SPACES:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._space_prefix(space)
            )
            async for page in pages:
                for item in page.get("Contents", []):
                    found = self._key(item.get("Key", ""))
                    if found is not None:
                        yield found

    async def sweep(self, older_than: float) -> int:
        """Abort the multipart uploads of this store's keys idle for more than `older_than`
        seconds: begun, and no part sent, since then (the service reports both to the
        second). A live writer sends a part at least every part's worth of bytes, so a sweep
        spares it unless its client is slower than a part per `older_than`."""
        client = await self.client()
        limit = datetime.now(UTC) - timedelta(seconds=older_than)
        removed = 0
        for space in SPACES:
            pages = client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self._space_prefix(space)
            )
            begun_before = []
            async for page in pages:
                for upload in page.get("Uploads", []):
                    name, began = upload.get("Key", ""), upload.get("Initiated")
                    if self._key(name) is not None and began is not None and began < limit:
                        begun_before.append((name, upload["UploadId"]))
            for name, upload_id in begun_before:
                try:
                    if await self._last_part_at(name, upload_id, limit) >= limit:
                        continue  # still being written
                    await client.abort_multipart_upload(
                        Bucket=self.bucket, Key=name, UploadId=upload_id
                    )
                    removed += 1
                except ClientError as error:
                    if _code(error) != "NoSuchUpload":  # its writer finished meanwhile
                        raise
        return removed

    async def _last_part_at(self, name: str, upload_id: str, limit: datetime) -> datetime:
        """When the upload's latest part was sent (or `limit` minus a second: none was)."""
        client = await self.client()
        latest = limit - timedelta(seconds=1)
        pages = client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=name, UploadId=upload_id
        )
        async for page in pages:
            for part in page.get("Parts", []):
                sent = part.get("LastModified")
                if sent is not None and sent > latest:
                    latest = sent
        return latest

    async def close(self) -> None:
        """Release the client's connections (a later call makes a new client)."""
        await self._connection.close()
