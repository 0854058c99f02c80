"""The IMS object storage: where `image_url` (create, register, quick import) is read from and
`bucket_url` (export) is written to, named `"bucket:key"` as IMS names OBS objects.

`OPENIMS_OBS` says where it is (`open_obs`):
- a directory whose sub-directories are the buckets (the default `./data/obs`; `file:///abs`,
  `file://./relative` or a plain path): object `b:dir/f.qcow2` is the file
  `<root>/b/dir/f.qcow2`. A bucket exists when its directory does; nothing creates one.
- `s3://?endpoint=URL&region=NAME` (both optional): an S3-compatible service (Huawei OBS
  itself, Ceph RGW, MinIO, SeaweedFS, AWS), object `b:k` the object `k` of its bucket `b`.
  Credentials are the usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, as for the image store.

Every method takes an `ObjectName` (`domain/obs.py`: `parse_object_url`), never a string: a
name from a request is checked (bucket rules, no traversal) before it gets here, and the
stores check it once more. Refusals are IMS's (`errors`): a missing bucket is IMG.0069, a
missing object (or a folder) IMG.0057, a service that cannot be reached a 503 (IMG.0040).

Reads stream (an async iterator of chunks, bounded memory). Writes are all or nothing, like
the image store's: nothing is visible under the name until the write completes (a file
renamed into place after fsync; a completed S3 upload), a failed or cancelled one leaves
nothing, and an existing object of that name is replaced only then.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from openims.domain.obs import ObjectName
from openims.store.blobs import s3_parameters

FILE_CHUNK = 1 << 20


class ObjectStorage(Protocol):
    # "dir" for a directory of buckets, "s3" for an S3-compatible service
    kind: str

    async def size(self, name: ObjectName) -> int:
        """The object's size in bytes; IMG.0069 / IMG.0057 when its bucket or it is missing."""

    def read(self, name: ObjectName, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The object's bytes, streamed. A missing bucket or object raises (IMG.0069 /
        IMG.0057) at the first iteration, before any byte."""

    async def exists(self, name: ObjectName) -> bool:
        """Whether the object exists; IMG.0069 when its bucket does not."""

    async def put(self, name: ObjectName, chunks: AsyncIterable[bytes]) -> int:
        """Write the object from `chunks`, all or nothing (see the module's docstring); the
        bytes written. The bucket must exist (IMG.0069); an existing object is replaced."""

    async def put_file(self, name: ObjectName, path: Path) -> int:
        """Write the object from the local file `path` (e.g. `qemu-img convert`'s output), as
        `put` does; the bytes written."""

    async def delete(self, name: ObjectName) -> None:
        """Remove the object; a missing one is no error (a missing bucket is IMG.0069)."""

    async def close(self) -> None: ...


def open_obs(url: str) -> ObjectStorage:
    """The object storage `url` names (see the module's docstring). A bad URL is a ValueError
    of one line, which the command line reports as it reports any bad setting."""
    text = url.strip()
    if not text:
        raise ValueError("object storage: empty OPENIMS_OBS")
    if "://" not in text:
        return _directory(Path(text))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.query or parts.fragment:
            raise ValueError(f"object storage {url!r}: a file URL takes no query or fragment")
        if parts.netloc in (".", ".."):
            return _directory(Path(parts.netloc + unquote(parts.path)))
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(
                f"object storage {url!r}: use file:///absolute/path or file://./relative/path"
            )
        return _directory(Path(unquote(parts.path)))
    if scheme == "s3":
        return _s3(url, parts.netloc, parts.path, parts.query, parts.fragment)
    raise ValueError(f"object storage {url!r}: unknown scheme (use a path, file:// or s3://)")


def _directory(path: Path) -> ObjectStorage:
    from openims.store.obs.directory import DirectoryObjects

    if not str(path).strip():
        raise ValueError("object storage: empty path")
    return DirectoryObjects(path)


def _s3(url: str, netloc: str, path: str, query: str, fragment: str) -> ObjectStorage:
    if netloc or path.strip("/") or fragment:
        raise ValueError(
            f"object storage {url!r}: use s3://?endpoint=URL&region=NAME"
            " (the bucket comes from each object's name)"
        )
    endpoint, region = s3_parameters(f"object storage {url!r}", query)
    from openims.store.obs.s3 import S3Objects

    return S3Objects(endpoint=endpoint, region=region)


async def file_chunks(path: Path, chunk_size: int = FILE_CHUNK) -> AsyncIterator[bytes]:
    """The bytes of the local file `path`, streamed (what `put_file` writes)."""
    fd = await asyncio.to_thread(os.open, path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        position = 0
        while chunk := await asyncio.to_thread(os.pread, fd, chunk_size, position):
            position += len(chunk)
            yield chunk
    finally:
        os.close(fd)
