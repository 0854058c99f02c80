"""Progress on a terminal for the long commands (import, demo), and their input files."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import click


@contextmanager
def progress(
    length: int | None, label: str, unit: str = "images"
) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal; nothing at all when stderr is a file or a pipe.

    `length` is the work to do in `unit`s (images, or bytes of input); None when it cannot be
    known in advance (input from a pipe): the bar then shows how much is done. Redrawing after
    every image would cost more than checking it, so the bar redraws every 0.5% (or MB)."""
    if not sys.stderr.isatty():
        yield None
        return
    done = 0

    def shown(_item: object) -> str:
        if unit == "bytes":
            return f"{done / 1_000_000:.1f} MB"
        return f"{done}/{length} {unit}" if length is not None else f"{done} {unit}"

    if length is not None:
        steps = max(1, length // 200)
        bar = click.progressbar(length=length, label=label, file=sys.stderr)
    else:  # an iterator without a length: click animates the bar instead of filling it
        steps = 1_000_000 if unit == "bytes" else 1000
        bar = click.progressbar((_ for _ in ()), label=label, file=sys.stderr)
    bar.item_show_func = shown
    pending = 0

    def update(amount: int) -> None:
        nonlocal done, pending
        done += amount
        pending += amount
        if pending >= steps:
            bar.update(pending)
            pending = 0

    with bar:
        yield update
        if pending:  # the last few steps, so a finished bar shows 100%
            bar.update(pending)


def input_size(stream: IO[bytes]) -> int | None:
    """Bytes in the input when it is a regular file (a pipe's length is unknown)."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")
