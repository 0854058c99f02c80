"""The IMS object storage as a directory of bucket directories (`OPENIMS_OBS`, default
`./data/obs`): object `bucket:a/b.qcow2` is the file `<root>/bucket/a/b.qcow2`.

The name was checked by the domain (a valid bucket, a key of plain segments), and is checked
again here; on top, the path is followed only inside its bucket: every folder on the way must
be a real directory within the bucket (a symbolic link an operator left there is not
followed out of it), and the object itself is opened with `O_NOFOLLOW`. A write is the image
store's file writer (`store/blobs/files.py`): a temporary beside the object, fsynced and
renamed into place, so a crash leaves the old object or the whole new one; a temporary a
crash left starts with a dot and ends with `.tmp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from openims import errors
from openims.domain.obs import ObjectName
from openims.store.blobs.files import FileWriter
from openims.store.obs import file_chunks


class DirectoryObjects:
    """Objects as files under `root/<bucket>/` (see the module's docstring)."""

    kind = "dir"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"DirectoryObjects({str(self.root)!r})"

    def _bucket(self, name: ObjectName) -> Path:
        """The bucket's directory; IMG.0069 when there is none."""
        checked = ObjectName.of(name.bucket, name.key)  # once more: no unchecked name here
        directory = self.root / checked.bucket
        try:
            info = os.stat(directory)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.OBS_BUCKET_NOT_FOUND(bucket=name.bucket) from None
        if not stat.S_ISDIR(info.st_mode):
            raise errors.OBS_BUCKET_NOT_FOUND(bucket=name.bucket)
        return directory

    def _path(self, name: ObjectName, *, create: bool = False) -> Path:
        """The object's file, its folders checked (and made, for a write) inside the bucket."""
        folder = self._bucket(name)
        *folders, leaf = name.segments
        for part in folders:
            folder = folder / part
            try:
                info = os.lstat(folder)
            except FileNotFoundError:
                if not create:
                    raise errors.OBS_OBJECT_NOT_FOUND(name=str(name)) from None
                with contextlib.suppress(FileExistsError):  # made by a write meanwhile
                    os.mkdir(folder, 0o755)
                info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode):  # a file, or a link that could lead outside
                raise errors.OBS_OBJECT_NOT_FOUND(name=str(name))
        return folder / leaf

    def _open(self, name: ObjectName) -> tuple[int, int]:
        """An open descriptor of the object and its size; IMG.0057 if it is not a file."""
        path = self._path(name)
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, OSError):
            raise errors.OBS_OBJECT_NOT_FOUND(name=str(name)) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise errors.OBS_OBJECT_NOT_FOUND(name=str(name))
        return fd, info.st_size

    async def size(self, name: ObjectName) -> int:
        fd, size = await asyncio.to_thread(self._open, name)
        os.close(fd)
        return size

    def read(self, name: ObjectName, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        return self._read(name, chunk_size)

    async def _read(self, name: ObjectName, chunk_size: int) -> AsyncIterator[bytes]:
        fd, _ = await asyncio.to_thread(self._open, name)
        try:
            position = 0
            while chunk := await asyncio.to_thread(os.pread, fd, chunk_size, position):
                position += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def exists(self, name: ObjectName) -> bool:
        self._bucket(name)
        try:
            await self.size(name)
        except errors.ApiError as error:
            if error.spec is errors.OBS_OBJECT_NOT_FOUND:
                return False
            raise
        return True

    async def _writer(self, name: ObjectName) -> FileWriter:
        path = await asyncio.to_thread(self._path, name, create=True)
        if await asyncio.to_thread(os.path.isdir, path):
            raise errors.OBS_OBJECT_IS_FOLDER(name=str(name))
        return await FileWriter.start(path)

    async def put(self, name: ObjectName, chunks: AsyncIterable[bytes]) -> int:
        writer = await self._writer(name)
        written = 0
        try:
            async for chunk in chunks:
                await writer.write(chunk)
                written += len(chunk)
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return written

    async def put_file(self, name: ObjectName, path: Path) -> int:
        return await self.put(name, file_chunks(path))

    async def delete(self, name: ObjectName) -> None:
        try:
            path = await asyncio.to_thread(self._path, name)
        except errors.ApiError as error:
            if error.spec is errors.OBS_OBJECT_NOT_FOUND:
                return
            raise
        if await asyncio.to_thread(os.path.isfile, path):
            await asyncio.to_thread(path.unlink, True)

    async def close(self) -> None:
        return None
