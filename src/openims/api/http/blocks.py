"""Request bodies read straight into blocks of the upload pipeline's size: the buffers, and
which of them may be used again. The HTTP protocol (`protocol.BoundedHttpProtocol`) reads an
upload's body into them; the application takes each block whole."""

from __future__ import annotations

import mmap
from collections import deque

from openims.service.image_data import BLOCK

# Blocks of a fast body read ahead of the application: the socket is paused past this many.
READY_BLOCKS = 2
# Buffers a fast body keeps for reuse (a block the application still holds is not reused: a
# new buffer is taken instead).
KEPT_BUFFERS = 8


def in_use(buffer: mmap.mmap) -> bool:
    """Whether any view of `buffer` is still alive: resizing is refused while one is (CPython
    counts a buffer's exports), and to its own size changes nothing."""
    try:
        buffer.resize(len(buffer))
    except (BufferError, OSError, SystemError, ValueError):  # in use, or cannot tell: keep off
        return True
    return False


class BodyBlocks:
    """A request body read straight into blocks of `BLOCK` bytes, for the application to take
    whole (the `body` of each `http.request` message is a memoryview of one block).

    Through the parser, every byte of an upload was copied three to four times in this process
    before it reached the hashes and the disk: uvloop's read buffer into a bytes object, the
    parser's body slice, the join into blocks, and the copy into the aligned buffer of the
    file store's direct writes. Here the kernel copies the bytes into page-aligned buffers
    (`mmap`), which the hashes read and the file store writes to the disk as they are. A buffer
    is reused only once no view of it is alive (`in_use`), so a block the application holds
    never changes under it."""

    __slots__ = ("block", "buffers", "ended", "filled", "ready", "remaining")

    def __init__(self, length: int) -> None:
        self.remaining = length  # bytes of the body still to be read from the socket
        self.buffers: list[mmap.mmap] = []
        self.block: mmap.mmap | None = None  # being filled
        self.filled = 0
        self.ready: deque[memoryview] = deque()  # full blocks the application has not taken
        self.ended = False  # the last of the body was handed to the application

    def space(self) -> memoryview:
        """Where the next bytes go: the rest of the block being filled, no more than the body
        still has."""
        if self.block is None:
            self.block = self._free_buffer()
            self.filled = 0
        end = min(BLOCK, self.filled + self.remaining)
        return memoryview(self.block)[self.filled : end]

    def took(self, count: int) -> bool:
        """`count` bytes were written into `space()`; whether a block became ready."""
        self.filled += count
        self.remaining -= count
        if self.filled < BLOCK and self.remaining:
            return False
        assert self.block is not None
        self.ready.append(memoryview(self.block)[: self.filled])
        self.block = None
        return True

    def cut(self) -> None:
        """The client ended its side before the body's end: what it sent is handed over too,
        as the parser's way does (the application then counts what arrived)."""
        if self.block is not None and self.filled:
            self.ready.append(memoryview(self.block)[: self.filled])
        self.block = None

    def copy_in(self, data: bytes) -> bool:
        """The body's first bytes, which the parser gave with the head; whether a block became
        ready."""
        became_ready = False
        view = memoryview(data)
        while view and self.remaining:
            space = self.space()
            count = min(len(space), len(view))
            space[:count] = view[:count]
            became_ready |= self.took(count)
            view = view[count:]
        return became_ready

    def _free_buffer(self) -> mmap.mmap:
        for buffer in self.buffers:
            if not in_use(buffer):
                return buffer
        buffer = mmap.mmap(-1, BLOCK)
        if len(self.buffers) < KEPT_BUFFERS:
            self.buffers.append(buffer)
        return buffer
