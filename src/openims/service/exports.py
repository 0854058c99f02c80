"""Exporting an image to the IMS object storage: `export_image` and `export_image_in_safe_mode`
(`POST /v1/cloudimages/{id}/file`, `/v2.1/…`), an asynchronous job of IMS's type
`imsNativeExportImageJob` (docs/ims-export-copy.md).

The request is checked at once (its body, the image and the caller's right to it, the bucket
and that no object has the name yet: IMS's synchronous 400s); the job then writes the object.
A quick export streams the image's stored bytes to the object. Any other converts them with
`qemu-img` (`service.qemu`) in a scratch directory of its own, checks that `qemu-img info`
reads the result back as a disk of the same size, and writes the file to the object. The
object storage writes all or nothing, so a failed or interrupted export leaves no object, and
the scratch directory goes with the job (a killed server's is removed by the next export that
finds it older than any live export can be).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from openims import errors
from openims.domain import exports
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.domain.obs import ObjectName
from openims.service import qemu
from openims.service.jobs import JobRun, Jobs
from openims.store import blobs
from openims.store.blobs import BlobStore
from openims.store.images import ImageStore
from openims.store.obs import ObjectStorage

log = logging.getLogger("openims.exports")

JOB_TYPE = "imsNativeExportImageJob"
SCRATCH_PREFIX = "export-"
WRITE_CHUNK = 1 << 20


def caller_of(run: JobRun) -> Caller:
    """The submitting caller, with the roles it had (a job's own caller has none)."""
    return Caller(run.project_id, frozenset(run.params.get("roles", ())))


class Exports:
    def __init__(
        self,
        store: ImageStore,
        blob_store: BlobStore,
        obs: ObjectStorage,
        jobs: Jobs,
        *,
        scratch: Path,
        timeout: float,
    ) -> None:
        self.store = store
        self.blobs = blob_store
        self.obs = obs
        self.jobs = jobs
        self.scratch = scratch
        self.timeout = timeout
        jobs.register(JOB_TYPE, self.run)

    async def submit(self, caller: Caller, image_id: str, fields: dict[str, Any]) -> str:
        """Check an export request and submit its job; the job's id. One export of an image
        at a time, as IMS allows (IMG.0148): the check and the new job are one transaction
        holding the image's lock, so two requests at once, even to two replicas, cannot both
        pass it."""
        request = exports.parse(fields)
        loaded = await self.store.image(image_id, caller)
        exports.admit(caller, loaded.access, loaded.doc, request)
        await self._require_free(request.target)
        # the image again, locked: the object storage's answer above is awaited outside the
        # lock, which on SQLite would hold every writer of the process
        async with self.store.image_for_update(image_id, caller) as tx:
            running = await self.jobs.unfinished(JOB_TYPE, within=tx.transaction)
            if any(job.params.get("image_id") == image_id for job in running):
                raise errors.EXPORT_RUNNING()
            job_id = await self.jobs.submit(
                caller,
                JOB_TYPE,
                {
                    "image_id": image_id,
                    "bucket": request.target.bucket,
                    "key": request.target.key,
                    "file_format": request.file_format,
                    "roles": sorted(caller.roles),
                },
                entities={"image_id": image_id},
                within=tx.transaction,
            )
        self.jobs.wake()
        return job_id

    async def _require_free(self, target: ObjectName) -> None:
        """The bucket exists (IMG.0069 otherwise) and holds no object of that name: IMS does
        not overwrite a file with an export (IMG.0070)."""
        if await self.obs.exists(target):
            raise errors.EXPORT_OBJECT_EXISTS(name=str(target)[:200])

    async def run(self, run: JobRun) -> dict[str, Any]:
        """The job: the same checks again (the image may have changed since), then the
        object. A re-run after a crash skips the name check: the object it finds may be the
        one its first run wrote just before the crash."""
        caller = caller_of(run)
        image_id = str(run.params["image_id"])
        target = ObjectName.of(str(run.params["bucket"]), str(run.params["key"]))
        request = exports.ExportRequest(target, run.params.get("file_format"))
        loaded = await self.store.image(image_id, caller)
        doc = loaded.doc
        exports.admit(caller, loaded.access, doc, request)
        if run.attempt <= 1:
            await self._require_free(target)
        key = blobs.key("images", image_id)
        if request.file_format is None:
            written = await self.obs.put(target, _stored_bytes(self.blobs, key))
        else:
            written = await self._convert(run, doc, key, request.file_format, target)
        log.info("image %s exported to %s: %d bytes", image_id, target, written)
        return {"image_id": image_id}

    async def _convert(
        self, run: JobRun, doc: Document, key: str, file_format: str, target: ObjectName
    ) -> int:
        work = self.scratch / f"{SCRATCH_PREFIX}{run.job_id}"
        await asyncio.to_thread(self._prepare, work)
        try:
            source = self.blobs.local_path(key)
            if source is None:  # a store without local files: the bytes come to scratch first
                source = work / "source"
                await _download(self.blobs, key, source, int(doc["size"]))
            await run.progress(0.1)
            source_format = exports.source_format(doc)
            source_info = await _qemu(qemu.info(source, source_format))
            bound = exports.output_bound(source_info.virtual_size)
            free = (await asyncio.to_thread(shutil.disk_usage, work)).free
            if free < bound:
                raise errors.EXPORT_CONVERSION_FAILED(
                    reason=f"not enough scratch space to convert ({free} bytes free, "
                    f"{bound} may be needed)"
                )
            how = exports.TARGETS[file_format]
            output = work / f"image.{file_format}"
            await _qemu(
                qemu.convert(
                    source,
                    source_format,
                    output,
                    how.qemu_format,
                    how.options,
                    time_limit=self.timeout,
                    max_output=bound,
                )
            )
            made = await _qemu(qemu.info(output, how.qemu_format))
            expected = -(-source_info.virtual_size // 512) * 512  # formats count in sectors
            if made.virtual_size != expected:
                raise errors.EXPORT_CONVERSION_FAILED(
                    reason=f"the {file_format} file reads back as a disk of "
                    f"{made.virtual_size} bytes, not {expected}"
                )
            await run.progress(0.7)
            return await self.obs.put_file(target, output)
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, work, True))

    def _prepare(self, work: Path) -> None:
        """A fresh scratch directory for this job (a re-run's leftovers go), and no
        directory of an export older than any live export can be (killed servers')."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        limit = time.time() - self.timeout - 3600
        for old in self.scratch.glob(f"{SCRATCH_PREFIX}*"):
            with contextlib.suppress(OSError):
                if old != work and old.stat().st_mtime < limit:
                    shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(mode=0o700)


async def _qemu(call: Any) -> Any:
    """A qemu-img call; its failure fails the job with IMS's words (IMG.0071, or IMG.0059
    when the output outgrew its bound)."""
    try:
        return await call
    except qemu.QemuError as exc:
        if exc.too_large:
            raise errors.EXPORT_FILE_TOO_LARGE(
                reason="the converted file outgrew its bound"
            ) from exc
        log.warning("export: %s", exc)
        raise errors.EXPORT_CONVERSION_FAILED(reason=str(exc)) from exc


async def _stored_bytes(store: BlobStore, key: str) -> AsyncIterator[bytes]:
    """The image's stored bytes, for a quick export; a missing blob is the image store's
    503 (the image says it has data)."""
    try:
        async for chunk in store.read(key):
            yield chunk
    except FileNotFoundError:
        log.error("export: the blob %s is missing", key)
        raise errors.IMAGE_STORE_UNAVAILABLE() from None


async def _download(store: BlobStore, key: str, path: Path, size: int) -> None:
    """The blob `key` into the new file `path`, checked against its recorded `size`."""
    handle = await asyncio.to_thread(path.open, "xb")
    written = 0
    try:
        async for chunk in _stored_bytes(store, key):
            written += len(chunk)
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    if written != size:
        log.error("export: the blob %s holds %d bytes, not %d", key, written, size)
        raise errors.IMAGE_STORE_UNAVAILABLE()
