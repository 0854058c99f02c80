"""Running `qemu-img` (Debian's `qemu-utils`) on files the service wrote itself, bounded.

Every call names the input format (`-f`, never qemu's guess, which a crafted file could
steer), reads only files of this service's own blob store or scratch directory (whose names
come from image ids and job ids, never from a request), and runs under limits: a time limit
(the process is killed past it), a file size limit on what it writes (`prlimit --fsize`, the
kernel's RLIMIT_FSIZE: a conversion cannot fill the disk however the input is made), no
standard input and a scratch working directory. The images it reads passed the format
inspector when they were stored (docs/image-data.md, "Format safety"): a qcow2 with a backing
file or an external data file never reached the store, so `qemu-img` has nothing to follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("openims.qemu")

QEMU_IMG = "qemu-img"
PRLIMIT = "prlimit"
INFO_TIMEOUT = 60.0
_STDERR_SHOWN = 300  # characters of qemu-img's complaint kept for a job's fail reason


class QemuError(Exception):
    """qemu-img failed, was stopped, or wrote more than it may."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


@dataclass(frozen=True, slots=True)
class Info:
    """What `qemu-img info` says of a file."""

    format: str
    virtual_size: int


async def _run(
    args: list[str], *, cwd: Path, time_limit: float, max_output: int | None = None
) -> bytes:
    """Run `qemu-img args` and return its standard output; QemuError if it fails or runs
    past `time_limit` seconds (killed, with everything it started)."""
    command = [QEMU_IMG, *args]
    if max_output is not None:
        command = [PRLIMIT, f"--fsize={max_output}", "--", *command]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        start_new_session=True,  # its own process group: a kill reaches all of it
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), time_limit)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(BaseException):
            await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        text = err.decode("utf-8", "replace").strip().replace("\n", " ")
        too_large = process.returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or (
            "File too large" in text
        )
        raise QemuError(
            f"qemu-img {args[0]} ended with status {process.returncode}: {text[:_STDERR_SHOWN]}",
            too_large=too_large,
        )
    return out


async def convert(
    source: Path,
    source_format: str,
    target: Path,
    target_format: str,
    options: tuple[str, ...] = (),
    *,
    time_limit: float,
    max_output: int,
) -> None:
    """Convert `source` (read as `source_format`) into the new file `target`. Stopped with
    QemuError past `time_limit` seconds, or once `target` would exceed `max_output` bytes
    (`too_large`)."""
    try:
        await _run(
            [
                "convert",
                "-q",
                "-f",
                source_format,
                "-O",
                target_format,
                *options,
                str(source),
                str(target),
            ],
            cwd=target.parent,
            time_limit=time_limit,
            max_output=max_output,
        )
    except TimeoutError:
        raise QemuError(f"the conversion took longer than {time_limit:.0f} seconds") from None


async def info(path: Path, file_format: str) -> Info:
    """`qemu-img info -f file_format` of `path`: the format it reads and the disk's size."""
    try:
        out = await _run(
            ["info", "-f", file_format, "--output=json", str(path)],
            cwd=path.parent,
            time_limit=INFO_TIMEOUT,
        )
    except TimeoutError:
        raise QemuError("qemu-img info did not answer") from None
    found = json.loads(out)
    return Info(str(found["format"]), int(found["virtual-size"]))
