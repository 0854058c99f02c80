"""The file store: each blob a file `<root>/<space>/<image id>`.

A writer writes to a temporary `.<id>.<random>.tmp` in the blob's own directory (so the final
rename never crosses a file system), and `commit()` flushes, fsyncs the file, renames it into
place and fsyncs the directory: after a crash the real name holds either the old bytes or all
of the new ones, never a half file. Temporaries left by a crash start with a dot, so `keys()`
never lists them, and `sweep()` removes them.

Where the file system allows it (Linux, ext4, xfs and most others), the temporary is written
with `O_DIRECT`: the bytes go from an aligned buffer of the writer's to the disk, never through
the page cache (a chunk that is already page-aligned, an upload block the server read into its
own aligned buffer, is written from where it is). Copying an upload into the page cache cost
the server more CPU than anything but the hashes (1–2 CPU seconds per GB on the 2-core machine
of docs/benchmarks.md, against 0.1 for direct writes), and a freshly uploaded image is not read
back at once anyway. The last, unaligned part of a blob is written through the page cache,
and `commit()` still fsyncs (a direct write may sit in the disk's own volatile cache until
then). A file system that refuses direct I/O (tmpfs on older kernels, some network file
systems) gets the buffered writes as before, with the writeback started as they go.

Every disk call runs in a worker thread, so the event loop never waits on the disk. A
thread-side lock per writer orders its file operations, because an awaiting task that is
cancelled does not stop the thread it was waiting on: an `abort()` after a cancelled
`write()` waits for that write to finish before it closes and removes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import functools
import mmap
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from openims.store.blobs import SPACES, check_key

READ_CHUNK = 1 << 20  # large reads: one thread hop per MiB, not per 64 KiB
# Dirty pages are handed to the disk every WRITEBACK bytes while a blob is written (Linux's
# sync_file_range(SYNC_FILE_RANGE_WRITE) starts the writeback and does not wait), so the fsync
# of `commit` finds little left to do: without it, a 1 GiB upload waits a second or more at the
# end, with the disk idle while the bytes arrived (docs/benchmarks.md, "Upload").
WRITEBACK = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux: commit's fsync does all the work
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], function)


_start_writeback = _sync_file_range()
# O_DIRECT: bytes written straight to the disk from a page-aligned buffer of DIRECT_BUFFER
# bytes, in writes whose length and offset are multiples of ALIGNMENT (the largest logical
# block size of common disks, and the page size).
_O_DIRECT = getattr(os, "O_DIRECT", 0)
ALIGNMENT = 4096
DIRECT_BUFFER = 2 << 20
WRITE_BUFFER = 1 << 20  # small chunks (a request body's) are gathered into one write per MiB
WRITE_INTERVAL = 5.0  # seconds: buffered bytes go to the file at least this often
TEMP_SUFFIX = ".tmp"
# ioctl(FICLONE): the target file shares the source's extents (btrfs, XFS with reflink,
# bcachefs, overlayfs over those): a copy of any size in one call, no byte written
_FICLONE = 0x40049409
COPY_CHUNK = 64 << 20  # copy_file_range per call: the temporary's mtime moves on as it grows
# what says "this file system cannot do that here": try the next way of copying
_CANNOT = frozenset(
    {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EBADF}
)


def _clone_or_copy(source_fd: int, target_fd: int) -> None:
    """Fill the empty file `target_fd` with the bytes of `source_fd`: a reflink where the file
    system shares extents, else an in-kernel copy (copy_file_range), else read and write."""
    try:
        fcntl.ioctl(target_fd, _FICLONE, source_fd)
        return
    except OSError as exc:
        if exc.errno not in _CANNOT:
            raise
    size = os.fstat(source_fd).st_size
    position = 0
    try:
        while position < size:
            copied = os.copy_file_range(
                source_fd, target_fd, min(COPY_CHUNK, size - position), position, position
            )
            if copied == 0:
                break
            position += copied
        if position == size:
            return
    except OSError as exc:
        if exc.errno not in _CANNOT:
            raise
    os.ftruncate(target_fd, 0)
    os.lseek(target_fd, 0, os.SEEK_SET)
    position = 0
    while chunk := os.pread(source_fd, READ_CHUNK, position):
        view = memoryview(chunk)
        while view:
            view = view[os.write(target_fd, view) :]
        position += len(chunk)


def _fsync_directory(directory: Path) -> None:
    """Make a rename (or a new file) in `directory` durable: fsync the directory itself."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _close_buffer(buffer: mmap.mmap) -> None:
    """Unmap a writer's aligned buffer; one a failed write's traceback still points into is
    left to the garbage collector."""
    with contextlib.suppress(BufferError):
        buffer.close()


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _aligned(view: memoryview) -> bool:
    """Whether `view` starts on an ALIGNMENT boundary, so that direct I/O can write it from
    where it is: a block a request body was read into (`api.http.blocks`, page-aligned
    buffers). Only a writable buffer's address can be asked for; the others are staged."""
    if view.readonly or not view.contiguous:
        return False
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(view)) % ALIGNMENT == 0
    except (TypeError, ValueError):
        return False


@functools.cache
def _write_thread() -> ThreadPoolExecutor:
    """The thread every writer of this process writes its blocks on. One is enough: the disk
    takes one stream of large aligned writes as fast as several, and a thread per upload only
    adds threads contending for the GIL with the hashes and the event loop (four uploads at
    once)."""
    return ThreadPoolExecutor(1, thread_name_prefix="blob-write")


def _written(write: Callable[..., None], data: bytes | bytearray, flush: bool) -> Any:
    return asyncio.get_running_loop().run_in_executor(
        _write_thread(), functools.partial(write, data, flush=flush)
    )


class FileWriter:
    """One all-or-nothing write of a blob (see `BlobWriter`)."""

    def __init__(self, final: Path, temporary: Path, fd: int, *, direct: bool = False) -> None:
        self._final = final
        self._temporary = temporary
        self._fd = fd
        self._written = 0  # bytes in the file
        self._handed = 0  # bytes whose writeback has been started
        self._buffer = bytearray()
        self._written_at = time.monotonic()
        self._state = "open"  # then "committed" or "aborted"
        self._lock = threading.Lock()  # held by the thread doing a file operation
        # with O_DIRECT: the aligned buffer the bytes are gathered in, and how much it holds
        self._direct = direct
        self._staging = mmap.mmap(-1, DIRECT_BUFFER) if direct else None
        self._staged = 0

    @classmethod
    async def start(cls, final: Path) -> FileWriter:
        def create() -> tuple[Path, int, bool]:
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.with_name(f".{final.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            if _O_DIRECT:
                try:
                    return temporary, os.open(temporary, flags | _O_DIRECT, 0o644), True
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # EINVAL: no direct I/O on this file system
                        raise
            return temporary, os.open(temporary, flags, 0o644), False

        temporary, fd, direct = await asyncio.to_thread(create)
        return cls(final, temporary, fd, direct=direct)

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"writer of {self._final.name} is already {self._state}")

    def _write_all(self, data: bytes | bytearray | memoryview, *, flush: bool = False) -> None:
        """Write `data` (thread side). With O_DIRECT the bytes are gathered in the aligned
        buffer and written whenever it is full; `flush` also writes its whole pages now (a
        slow client's bytes reach the file every few seconds: see `write`)."""
        with self._lock:
            if self._state != "open":  # aborted while this write waited for its thread
                return
            if self._staging is not None:
                self._stage(memoryview(data), flush=flush)
                return
            self._write_out(memoryview(data))
            if _start_writeback is not None and self._written - self._handed >= WRITEBACK:
                # best effort: a failure here only leaves more for commit's fsync
                _start_writeback(
                    self._fd,
                    self._handed,
                    self._written - self._handed,
                    _SYNC_FILE_RANGE_WRITE,
                )
                self._handed = self._written

    def _write_out(self, view: memoryview) -> None:
        """All of `view` to the file, at its end (the lock is held)."""
        count = len(view)
        try:
            while view:
                try:
                    view = view[os.write(self._fd, view) :]
                except OSError as exc:
                    if exc.errno != errno.EINVAL or not self._direct:
                        raise
                    self._buffered()  # direct I/O refused after all: the page cache then
        finally:
            view.release()
        self._written += count

    def _buffered(self) -> None:
        """Turn O_DIRECT off for the rest of the file (its unaligned tail, or a file system
        that accepted the flag but not the writes)."""
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
        self._direct = False

    def _stage(self, view: memoryview, *, flush: bool) -> None:
        staging = self._staging
        assert staging is not None
        with view:
            if not self._staged and _aligned(view):  # written from where it is: no copy
                whole = len(view) - len(view) % ALIGNMENT
                if whole:
                    self._write_out(view[:whole])
                    view = view[whole:]
            while view:
                taken = min(len(view), DIRECT_BUFFER - self._staged)
                staging[self._staged : self._staged + taken] = view[:taken]
                self._staged += taken
                view = view[taken:]
                if self._staged == DIRECT_BUFFER:
                    self._write_out(memoryview(staging))
                    self._staged = 0
        if flush:
            whole = self._staged - self._staged % ALIGNMENT
            if whole:
                self._write_out(memoryview(staging)[:whole])
                rest = self._staged - whole
                staging[:rest] = staging[whole : self._staged]
                self._staged = rest
            else:
                os.utime(self._fd)  # the sweep sees a live write by its mtime

    def _unstage(self) -> None:
        """Write what the aligned buffer still holds, through the page cache (its length need
        not be aligned), and let the buffer go (the lock is held)."""
        staging, self._staging = self._staging, None
        if staging is None:
            return
        try:
            if self._staged:
                if self._direct:
                    self._buffered()
                self._write_out(memoryview(staging)[: self._staged])
        finally:
            self._staged = 0
            _close_buffer(staging)

    async def write(self, chunk: bytes) -> None:
        self._check_open()
        # a slow client's bytes still reach the file every few seconds: the temporary's
        # mtime is how `sweep` tells a live write from a dead one
        stale = time.monotonic() - self._written_at > WRITE_INTERVAL
        if not self._buffer and len(chunk) >= WRITE_BUFFER:
            await _written(self._write_all, chunk, stale)
            self._written_at = time.monotonic()
            return
        self._buffer += chunk
        if len(self._buffer) >= WRITE_BUFFER or stale:
            data, self._buffer = self._buffer, bytearray()
            await _written(self._write_all, data, stale)
            self._written_at = time.monotonic()

    def _commit(self, tail: bytes | bytearray) -> None:
        self._write_all(tail)
        with self._lock:
            self._check_open()
            self._unstage()
            os.fsync(self._fd)
            fd, self._fd = self._fd, -1
            os.close(fd)
            os.replace(self._temporary, self._final)
            self._state = "committed"
        _fsync_directory(self._final.parent)

    async def commit(self) -> None:
        self._check_open()
        tail, self._buffer = self._buffer, bytearray()
        try:
            await asyncio.to_thread(self._commit, tail)
        except BaseException:
            if self._state == "open":
                await self.abort()
            raise

    def _abort(self) -> None:
        with self._lock:
            if self._state != "open":
                return
            self._state = "aborted"
            if self._staging is not None:
                _close_buffer(self._staging)
                self._staging = None
            fd, self._fd = self._fd, -1
            try:
                if fd >= 0:
                    os.close(fd)
            finally:
                self._temporary.unlink(missing_ok=True)

    async def abort(self) -> None:
        """Drop the temporary. After a commit that completed (even one whose caller was
        cancelled) it does nothing: the blob is then an orphan that `openims gc` removes."""
        self._buffer = bytearray()
        if self._state == "open":
            await asyncio.to_thread(self._abort)


class FileStore:
    """Blobs as files under `root` (see the module's docstring)."""

    id = "fs"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        # check_key admits only `<space>/<uuid>`: no separator, dot or absolute part can
        # reach the path
        return self.root / check_key(key)

    async def writer(self, key: str) -> FileWriter:
        return await FileWriter.start(self._path(key))

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(key)  # a bad key fails here, at the call, not at the first chunk
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"bad range {start}..{end}")
        return self._read(path, start, end)

    async def _read(self, path: Path, start: int, end: int | None) -> AsyncIterator[bytes]:
        fd = await asyncio.to_thread(os.open, path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            position = start
            while end is None or position < end:
                want = READ_CHUNK if end is None else min(READ_CHUNK, end - position)
                chunk = await asyncio.to_thread(os.pread, fd, want, position)
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def local_path(self, key: str) -> Path:
        """Where the committed blob is (or would be): the file to `sendfile` from."""
        return self._path(key)

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return (await asyncio.to_thread(os.stat, path)).st_size
        except FileNotFoundError:
            return None

    def _copy(self, source: Path, target: Path) -> None:
        """As a writer would: a temporary beside the target, fsynced, renamed into place, the
        directory fsynced; any failure removes the temporary."""
        source_fd = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            target_fd = os.open(temporary, flags, 0o644)
            try:
                try:
                    _clone_or_copy(source_fd, target_fd)
                    os.fsync(target_fd)
                finally:
                    os.close(target_fd)
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        finally:
            os.close(source_fd)
        _fsync_directory(target.parent)

    async def copy(self, source: str, target: str) -> None:
        """A reflink where the file system has them, else an in-kernel copy (see `BlobStore`)."""
        await asyncio.to_thread(self._copy, self._path(source), self._path(target))

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(path.unlink, True)

    def _list(self) -> list[str]:
        found = []
        for space in SPACES:
            try:
                with os.scandir(self.root / space) as entries:
                    names = [e.name for e in entries if not e.name.startswith(".")]
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    found.append(check_key(f"{space}/{name}"))
                except ValueError:
                    continue  # not ours (a stray file an operator left): never a key
        return sorted(found)

    async def keys(self) -> AsyncIterator[str]:
        for name in await asyncio.to_thread(self._list):
            yield name

    def _sweep(self, older_than: float) -> int:
        limit = time.time() - older_than
        removed = 0
        for space in SPACES:
            directory = self.root / space
            try:
                with os.scandir(directory) as entries:
                    stale = [
                        e.name
                        for e in entries
                        if _is_temporary(e.name) and e.stat(follow_symlinks=False).st_mtime < limit
                    ]
            except FileNotFoundError:
                continue
            for name in stale:
                try:
                    (directory / name).unlink()
                    removed += 1
                except FileNotFoundError:
                    continue  # a writer aborted it meanwhile
        return removed

    async def sweep(self, older_than: float) -> int:
        """Remove the temporaries not written to for `older_than` seconds (by their mtime)."""
        return await asyncio.to_thread(self._sweep, older_than)

    async def close(self) -> None:
        return None
