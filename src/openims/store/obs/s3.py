"""The IMS object storage on an S3-compatible service (`OPENIMS_OBS=s3://?endpoint=URL&region=R`):
object `bucket:key` is the object `key` of the service's bucket `bucket`.

It shares the image store's S3 code (`store/blobs/s3.py`): one client per event loop
(`S3Connection`) and the all-or-nothing multipart writer (`S3Writer`) with its bounded part
buffer. S3's answers become IMS's refusals: `NoSuchBucket` is IMG.0069, `NoSuchKey` (or a 404
of a HEAD whose bucket exists) IMG.0057, a service that cannot be reached a 503.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from openims import errors
from openims.domain.obs import ObjectName
from openims.store.blobs.s3 import PART_SIZE, S3Connection, S3Credentials, S3Writer
from openims.store.obs import file_chunks

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)

NO_BUCKET = frozenset({"NoSuchBucket"})
NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _Bucket:
    """One bucket as an `S3Writer` writes to it (`store.blobs.s3.PartTarget`)."""

    def __init__(self, connection: S3Connection, bucket: str, part_size: int) -> None:
        self._connection = connection
        self.bucket = bucket
        self.part_size = part_size

    async def client(self) -> S3Client:
        return await self._connection.client()


class S3Objects:
    """Objects of any bucket of one S3 endpoint (see the module's docstring)."""

    kind = "s3"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        credentials: S3Credentials | None = None,
        part_size: int = PART_SIZE,
    ) -> None:
        self._connection = S3Connection(
            endpoint=endpoint, region=region, credentials=credentials or S3Credentials.from_env()
        )
        self.endpoint = endpoint
        self.region = self._connection.region
        self.part_size = part_size

    def __repr__(self) -> str:
        return f"S3Objects(endpoint={self.endpoint!r}, region={self.region!r})"

    @staticmethod
    def _checked(name: ObjectName) -> ObjectName:
        return ObjectName.of(name.bucket, name.key)  # once more: no unchecked name here

    def _refusal(self, error: BaseException, name: ObjectName) -> BaseException:
        """The IMS refusal (or the 503) for an S3 failure about `name`."""
        if isinstance(error, ClientError):
            code = _code(error)
            if code in NO_BUCKET:
                return errors.OBS_BUCKET_NOT_FOUND(bucket=name.bucket)
            if code in NOT_FOUND:
                return errors.OBS_OBJECT_NOT_FOUND(name=str(name))
            if code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId"):
                return errors.OBS_BUCKET_NOT_FOUND(bucket=name.bucket)
        log.warning("object storage: %s of %s failed: %s", type(error).__name__, name, error)
        return errors.OBS_UNAVAILABLE()

    async def _require_bucket(self, name: ObjectName) -> None:
        client = await self._connection.client()
        try:
            await client.head_bucket(Bucket=name.bucket)
        except ClientError as error:
            if _code(error) in NOT_FOUND | NO_BUCKET:
                raise errors.OBS_BUCKET_NOT_FOUND(bucket=name.bucket) from None
            raise self._refusal(error, name) from None
        except (BotoCoreError, OSError) as error:
            raise self._refusal(error, name) from None

    async def size(self, name: ObjectName) -> int:
        name = self._checked(name)
        client = await self._connection.client()
        try:
            head = await client.head_object(Bucket=name.bucket, Key=name.key)
        except ClientError as error:
            if _code(error) in NOT_FOUND:  # a HEAD has no body: which one is missing?
                await self._require_bucket(name)
                raise errors.OBS_OBJECT_NOT_FOUND(name=str(name)) from None
            raise self._refusal(error, name) from None
        except (BotoCoreError, OSError) as error:
            raise self._refusal(error, name) from None
        return int(head["ContentLength"])

    def read(self, name: ObjectName, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        return self._read(self._checked(name), chunk_size)

    async def _read(self, name: ObjectName, chunk_size: int) -> AsyncIterator[bytes]:
        client = await self._connection.client()
        try:
            response = await client.get_object(Bucket=name.bucket, Key=name.key)
        except (ClientError, BotoCoreError, OSError) as error:
            raise self._refusal(error, name) from None
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk
        except (BotoCoreError, OSError) as error:
            raise self._refusal(error, name) from None
        finally:
            body.close()

    async def exists(self, name: ObjectName) -> bool:
        try:
            await self.size(name)
        except errors.ApiError as error:
            if error.spec is errors.OBS_OBJECT_NOT_FOUND:
                return False
            raise
        return True

    async def put(self, name: ObjectName, chunks: AsyncIterable[bytes]) -> int:
        name = self._checked(name)
        await self._require_bucket(name)
        writer = S3Writer(_Bucket(self._connection, name.bucket, self.part_size), name.key)
        written = 0
        try:
            async for chunk in chunks:
                await writer.write(chunk)
                written += len(chunk)
            await writer.commit()
        except (ClientError, BotoCoreError, OSError) as error:
            await writer.abort()
            raise self._refusal(error, name) from None
        except BaseException:
            await writer.abort()
            raise
        return written

    async def put_file(self, name: ObjectName, path: Path) -> int:
        return await self.put(name, file_chunks(path))

    async def delete(self, name: ObjectName) -> None:
        name = self._checked(name)
        client = await self._connection.client()
        try:
            await client.delete_object(Bucket=name.bucket, Key=name.key)
        except (ClientError, BotoCoreError, OSError) as error:
            raise self._refusal(error, name) from None

    async def close(self) -> None:
        await self._connection.close()
