"""Copying an image: `copy_image_in_region` and `copy_image_in_region_in_safe_mode` (an
asynchronous job of IMS's type `imsCopyImageInRegionJob`), and `copy_image_cross_region`,
which one region cannot do (docs/ims-export-copy.md).

The request is checked at once; the job makes the new image (`queued`, then `saving` under an
upload row whose heartbeat it keeps, as an upload does), copies the source's blob to the new
image's on the store's side (`BlobStore.copy`: a reflink or CopyObject, no byte through the
process), checks the copy's size and turns the image `active` with the source's size, hashes
and virtual size. The project's quotas (docs/quotas.md) are checked when the request comes (an
early IMG.0015), when the image is made (its count) and when it turns active (its bytes). A
job that fails removes the image it made; a server killed mid-copy leaves an upload row that
stops beating, which the sweep undoes (the image back to `queued`, the
half-written blob removed), and the job's next run takes the image over and copies again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from openims import errors
from openims.domain import copies, times
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.service.image_data import SYSTEM, ImageData, revised
from openims.service.jobs import JobRun, Jobs, LeaseLost
from openims.service.quotas import Quotas
from openims.store import blobs
from openims.store.images import ImageStore

log = logging.getLogger("openims.copies")

JOB_TYPE = "imsCopyImageInRegionJob"


class Copies:
    def __init__(
        self, store: ImageStore, data: ImageData, jobs: Jobs, quotas: Quotas, *, region: str
    ) -> None:
        self.store = store
        self.data = data
        self.jobs = jobs
        self.quotas = quotas
        self.region = region
        jobs.register(JOB_TYPE, self.run)

    async def submit(self, caller: Caller, image_id: str, fields: dict[str, Any]) -> str:
        """Check a copy request and submit its job; the job's id. The new image's id is
        chosen now, so that every run of the job makes (or takes over) the same image."""
        if caller.read_only:
            raise errors.FORBIDDEN_ACTION(action="copy_image")
        request = copies.parse_in_region(fields)
        loaded = await self.store.image(image_id, caller)
        copies.admit(caller, loaded.access, loaded.doc)
        # an early refusal (IMG.0015); the job's writes check again under the quota lock
        await self.quotas.require_room(
            caller.project_id, images=1, size=int(loaded.doc.get("size") or 0)
        )
        return await self.jobs.submit(
            caller,
            JOB_TYPE,
            {
                "image_id": image_id,
                "new_image_id": str(uuid.uuid4()),
                "roles": sorted(caller.roles),
                **request.params(),
            },
            entities={"image_name": request.name},
        )

    async def cross_region(self, caller: Caller, image_id: str, fields: dict[str, Any]) -> None:
        """`copy_image_cross_region`: the image must be one the caller could copy (a 404 for
        one it does not see, IMS's refusals for the others); then, this deployment being one
        region, the request is refused (`domain.copies.refuse_region`)."""
        region = copies.parse_cross_region(fields)
        loaded = await self.store.image(image_id, caller)
        copies.admit(caller, loaded.access, loaded.doc)
        copies.refuse_region(region, self.region)

    async def run(self, run: JobRun) -> dict[str, Any]:
        caller = Caller(run.project_id, frozenset(run.params.get("roles", ())))
        source_id = str(run.params["image_id"])
        image_id = str(run.params["new_image_id"])
        request = copies.CopyRequest.of(run.params)
        done = {"image_id": image_id, "image_name": request.name}
        existing = await self._existing(image_id)
        if existing is not None and existing.get("status") == "active":
            return done  # a run before a crash finished it
        token = str(uuid.uuid4())
        try:
            loaded = await self.store.image(source_id, caller)
            source = loaded.doc
            copies.admit(caller, loaded.access, source)
            if existing is None:
                doc = copies.copied_document(
                    source, request, image_id=image_id, owner=run.project_id, now=times.now()
                )
                await self.store.create(revised(doc, status="queued"))
            await self._begin(image_id, token)
            await run.progress(0.1, image_id=image_id)
            await self._copy(source, image_id, token)
        except LeaseLost:
            raise  # another run has the job (and the image) now
        except Exception:
            # the job fails: it leaves nothing. A cancelled run (the server stopping, or the
            # job taken over) leaves its image to the sweep and to the job's next run
            await asyncio.shield(self._remove(image_id))
            raise
        log.info("image %s copied to %s", source_id, image_id)
        return done

    async def _existing(self, image_id: str) -> Document | None:
        try:
            return (await self.store.image(image_id, SYSTEM)).doc
        except errors.ApiError as err:
            if err.spec is errors.IMAGE_NOT_FOUND:
                return None
            raise

    async def _begin(self, image_id: str, token: str) -> None:
        """The new image `saving`, under this run's upload row (a crashed run's is dropped:
        the job's lease says no other run is alive)."""
        async with self.store.image_for_update(image_id, SYSTEM) as tx:
            if await tx.upload() is not None:
                await tx.end_upload()
            if tx.doc.get("status") not in ("queued", "saving"):
                raise errors.UPLOAD_LOST(image_id=image_id)
            await tx.save(revised(tx.doc, status="saving"))
            await tx.begin_upload(token, "images", "queued", time.time())

    async def _copy(self, source: Document, image_id: str, token: str) -> None:
        """The blob copied on the store's side while the upload's heartbeat is kept, its size
        checked, then the image `active` — if the upload is still this run's."""
        key = blobs.key("images", image_id)
        beating = asyncio.create_task(self.data.keep_alive(image_id, token))
        copying = asyncio.ensure_future(
            self.data.store_call(self._copy_blob(str(source["id"]), key))
        )
        try:
            done, _ = await asyncio.wait({copying, beating}, return_when=asyncio.FIRST_COMPLETED)
            if beating in done:
                copying.cancel()
                with contextlib.suppress(BaseException):
                    await copying
                beating.result()  # raises why the upload was lost
            copying.result()
            copied = await self.data.store_call(self.data.blobs.size(key))
            if copied != source.get("size"):
                log.error(
                    "copy of %s into %s: %s bytes, not %s",
                    source["id"],
                    image_id,
                    copied,
                    source.get("size"),
                )
                raise errors.IMAGE_STORE_UNAVAILABLE()
        finally:
            for task in (beating, copying):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        async with self.store.image_for_update(image_id, SYSTEM) as tx:
            upload = await tx.upload()
            if upload is None or upload.token != token:
                raise errors.UPLOAD_LOST(image_id=image_id)
            await tx.admit_bytes(int(source.get("size") or 0))
            await tx.save(
                revised(
                    tx.doc,
                    status="active",
                    stores=self.data.blobs.id,
                    active_at=times.render(times.now()),
                    **copies.data_of(source),
                )
            )
            await tx.end_upload()

    async def _copy_blob(self, source_id: str, key: str) -> None:
        await self.data.blobs.copy(blobs.key("images", source_id), key)

    async def _remove(self, image_id: str) -> None:
        """A failed copy leaves nothing: its image and any blob it began."""
        try:
            async with self.store.image_for_update(image_id, SYSTEM) as tx:
                if tx.doc.get("status") == "active":
                    return
                await tx.delete()
        except errors.ApiError as err:
            if err.spec is not errors.IMAGE_NOT_FOUND:
                log.exception("copy: could not remove the unfinished image %s", image_id)
        except Exception:
            log.exception("copy: could not remove the unfinished image %s", image_id)
        await self.data.delete_data(image_id)
