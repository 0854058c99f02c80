"""Creating images from files in the IMS object storage, as IMS jobs: `create_image`,
`create_data_image`, `import_image_quick` and their v2.1 forms make a new image,
`register_image` fills a queued one; `create_whole_image` (and creation from an ECS, a disk or
a backup) is refused as IMS refuses a resource that does not exist (docs/ims-creating.md).

A submit checks everything it can at once — the request (`domain.creation`), the object (its
bucket, its existence, its size) — and only then writes: the new image (`queued`, the
caller's) and the job, answering the job id. The job streams the object through the upload's
pipeline (`ImageData.fill`: hashed, inspected, into the image store, all or nothing), so the
image ends `active`. A job that fails removes the image it created (a registered image goes
back to `queued`), so nothing is left half made; its `fail_reason` says why. A job is run again
from the start after a crash, and each step allows for it: an image already `active` is done,
an upload a dead run left is taken over.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from openims import errors
from openims.domain import creation, documents, image_files, times
from openims.domain.access import Caller
from openims.domain.creation import FileImport
from openims.domain.obs import ObjectName, parse_object_url
from openims.service.image_data import SYSTEM, ImageData
from openims.service.jobs import JobRun, Jobs
from openims.service.quotas import Quotas
from openims.store.images import ImageStore
from openims.store.obs import ObjectStorage

log = logging.getLogger("openims.creation")

PROGRESS_EVERY = 2.0  # seconds between progress reports of a job copying bytes


class Creation:
    def __init__(
        self,
        store: ImageStore,
        data: ImageData,
        obs: ObjectStorage,
        jobs: Jobs,
        quotas: Quotas,
        *,
        max_bytes: int,
    ) -> None:
        self.store = store
        self.data = data
        self.obs = obs
        self.jobs = jobs
        self.quotas = quotas
        self.max_bytes = max_bytes
        for job_type in (creation.IMPORT_IMAGE, creation.IMPORT_DATA_IMAGE):
            jobs.register(job_type, self.run_import)
        jobs.register(creation.REGISTER_IMAGE, self.run_register)

    # --- submitting -----------------------------------------------------------------------
    async def create_image(self, caller: Caller, body: Any) -> str:
        """`create_image` (v2 and v2.1): a job id."""
        return await self._submit_new(caller, creation.create_image(body))

    async def create_data_image(self, caller: Caller, body: Any) -> str:
        """`create_data_image` (v1 and v2.1): a job id."""
        return await self._submit_new(caller, creation.create_data_image(body))

    async def import_image_quick(self, caller: Caller, body: Any) -> str:
        """`import_image_quick` (v2 and v2.1): a job id."""
        return await self._submit_new(caller, creation.import_image_quick(body))

    async def create_whole_image(self, caller: Caller, body: Any) -> str:
        """`create_whole_image`: always IMS's error for the ECS or backup it names."""
        _writer(caller, "create_whole_image")
        creation.create_whole_image(body)
        raise AssertionError("unreachable: every whole-image request is refused")

    async def register_image(self, caller: Caller, image_id: str, body: Any) -> str:
        """`register_image`: fill the caller's queued image from `image_url`; a job id. An
        image the caller does not see is the 404 of a missing one; one it sees but does not
        own (shared with it, public) is IMS's owner-only refusal."""
        source = creation.register_image(body)
        loaded = await self.store.image(image_id, caller)  # the 404 of an image not seen
        if caller.read_only or not (caller.is_admin or loaded.access.owner == caller.project_id):
            raise errors.OWNER_ONLY(image_id=image_id)
        image_files.admit_upload(
            caller, loaded.access, loaded.doc, target="saving", action="register_image"
        )
        size = await self._check_source(source)
        owner = loaded.access.owner or caller.project_id
        await self.quotas.require_room(owner, images=0, size=size)  # its bytes, early (IMG.0015)
        return await self.jobs.submit(
            caller,
            creation.REGISTER_IMAGE,
            {"image_id": image_id, "image_url": str(source)},
            entities={"image_id": image_id},
        )

    async def _submit_new(self, caller: Caller, plan: FileImport) -> str:
        _writer(caller, "create_image")
        size = await self._check_source(plan.source)
        # the project's quota, early: one more image of this many bytes (IMG.0015); creating
        # the image checks its count again, race-free, and the job its bytes
        await self.quotas.require_room(caller.project_id, images=1, size=size)
        image_id = str(uuid.uuid4())
        doc = documents.new_image(
            {**plan.fields, "disk_format": plan.disk_format},
            image_id=image_id,
            owner=caller.project_id,
            now=times.now(),
            is_admin=False,
        )
        # the image and its job in one transaction: a crash between two commits would leave a
        # queued image that no job ever fills
        async with self.store.creating(doc) as within:
            job_id = await self.jobs.submit(
                caller,
                plan.job_type,
                {"image_id": image_id, "image_url": str(plan.source), "new_image": True},
                entities={"image_id": image_id, "image_name": doc["name"]},
                within=within,
            )
        self.jobs.wake()
        return job_id

    async def _check_source(self, source: ObjectName) -> int:
        """The object's size, refusing what IMS refuses at once: a missing bucket or object,
        an empty file, a file larger than an image may be."""
        size = await self.obs.size(source)
        if size == 0:
            raise errors.IMAGE_FILE_INVALID(name=str(source), reason="the file is empty")
        if size > self.max_bytes:
            raise errors.IMAGE_FILE_TOO_LARGE(name=str(source), size=size, limit=self.max_bytes)
        return size

    # --- running --------------------------------------------------------------------------
    async def run_import(self, run: JobRun) -> dict[str, Any]:
        """A new image's job: its bytes from the object, then `active`. A failure removes the
        image (its reason is the job's); a lost lease or a stop leaves it to the next run."""
        image_id = str(run.params["image_id"])
        try:
            await self._fill(run, image_id)
        except errors.ApiError:
            await self._remove(image_id)
            raise
        return {"image_id": image_id}

    async def run_register(self, run: JobRun) -> dict[str, Any]:
        """A registration's job: the queued image's bytes from the object, then `active`; on
        failure the image is back to `queued`, ready for another try."""
        image_id = str(run.params["image_id"])
        await self._fill(run, image_id)
        return {"image_id": image_id}

    async def _fill(self, run: JobRun, image_id: str) -> None:
        source = parse_object_url(run.params["image_url"])
        try:
            size = await self._check_source(source)
        except errors.ApiError as error:
            if error.spec is errors.OBS_UNAVAILABLE:
                raise
            await self._image_gone_check(image_id)
            raise
        await self.data.fill(
            image_id,
            _reporting(self.obs.read(source), run, size),
            size=size,
            take_over=run.attempt > 1,
            refusals=lambda refusal: _in_ims_words(refusal, source),
        )

    async def _image_gone_check(self, image_id: str) -> None:
        """Raise the image's own 404 if it was deleted meanwhile (the clearer reason)."""
        await self.store.image(image_id, SYSTEM)

    async def _remove(self, image_id: str) -> None:
        """Remove an image a failed job created, with whatever bytes it got — if it is still
        as the job left it (`queued`, no upload): its owner may have filled it another way
        meanwhile (a Glance upload), and bytes someone else put there are not the job's."""
        try:
            async with self.store.image_for_update(image_id, SYSTEM) as tx:
                if tx.doc.get("status") != "queued" or await tx.upload() is not None:
                    log.warning("image %s: changed by another hand; its job leaves it", image_id)
                    return
                await tx.delete()
        except errors.ApiError as error:
            if error.spec is not errors.IMAGE_NOT_FOUND:
                log.exception("image %s: could not remove it after its job failed", image_id)
                return
        except Exception:  # the image stays queued without bytes; its owner may delete it
            log.exception("image %s: could not remove it after its job failed", image_id)
            return
        await self.data.delete_data(image_id)  # a blob a failed commit may have left


def _writer(caller: Caller, action: str) -> None:
    if caller.read_only:
        raise errors.FORBIDDEN_ACTION(action=action)


def _in_ims_words(refusal: errors.ApiError, source: ObjectName) -> errors.ApiError:
    """The pipeline's refusal of the bytes as IMS words it for a file: too large is IMG.0059,
    a wrong or unsafe format IMG.0057 (with the inspector's reason)."""
    if refusal.spec is errors.IMAGE_TOO_LARGE:
        return errors.IMAGE_FILE_TOO_LARGE(
            name=str(source), size="more", limit=refusal.params.get("limit")
        )
    return errors.IMAGE_FILE_INVALID(name=str(source), reason=refusal.message)


async def _reporting(chunks: AsyncIterator[bytes], run: JobRun, size: int) -> AsyncIterator[bytes]:
    """`chunks` as they pass, with the job's progress reported every few seconds (which also
    tells a run whose lease was taken over to stop: `LeaseLost`)."""
    copied = 0
    reported = time.monotonic()
    try:
        async for chunk in chunks:
            copied += len(chunk)
            if time.monotonic() - reported >= PROGRESS_EVERY and size:
                reported = time.monotonic()
                await run.progress(min(0.99, copied / size))
            yield chunk
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
