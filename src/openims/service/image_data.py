"""Image bytes: upload (`PUT /v2/images/{id}/file`), download, and the sweep that undoes what
a dead process left half done. The bytes live in a `BlobStore`; the catalog row says whether
an image has them.

An upload is three short transactions around a long stream, so that no row stays locked while
bytes flow:
1. the image turns `saving` and an `image_uploads` row names this upload (a token) — a second
   upload now gets 409;
2. the bytes stream to a blob writer, hashed (MD5 and `hash_algorithm`, each on its own thread:
   hashlib releases the GIL) and inspected (`domain.formats`) block by block, never read twice;
   a heartbeat task renews the upload row meanwhile;
3. the blob is committed (durable), then the image turns `active` with its size, hashes and
   virtual size — if the upload is still this one.
Any failure between 1 and 3 drops the blob and puts the image back to `queued`. A process
killed meanwhile leaves a stale heartbeat: `sweep` (run by every server now and then, and by
`openims gc`) puts such images back and removes blobs no image owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openims import errors, metrics
from openims.domain import documents, formats, image_files, times
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.store import blobs
from openims.store.blobs import BlobStore
from openims.store.images import ImageStore, ImageTx, Upload

log = logging.getLogger("openims.data")

# Bytes handed to the hashes, the inspector and the store at a time: large enough that the
# per-block costs (three thread hand-offs, one inspector pass) vanish, small enough that the
# blocks in flight (one being assembled, one hashed and written) of four uploads at once stay
# well below the 64 MB an upload may add to the server's memory.
BLOCK = 2 * 1024 * 1024
# Seconds a temporary (an unfinished write) must sit idle before a sweep removes it.
TEMPORARY_IDLE = 3600.0
# The process acting for the server itself (sweeps, finishing an upload it started).
SYSTEM = Caller("openims-system", frozenset({"admin"}))


@dataclass(frozen=True, slots=True)
class Received:
    """What an upload learnt from the bytes while they streamed."""

    size: int
    md5: str
    digest: str
    virtual_size: int | None


@dataclass(frozen=True, slots=True)
class Download:
    """What a download sends: bytes [start, end) of an image of `size` bytes."""

    size: int
    checksum: str | None
    start: int
    end: int
    partial: bool
    path: Path | None  # a local file the server may send without copying, if the store has one
    chunks: Callable[[], AsyncIterator[bytes]]


async def blocks(chunks: AsyncIterator[bytes], size: int = BLOCK) -> AsyncIterator[bytes]:
    """`chunks` regrouped into blocks of `size` bytes (the last one shorter)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            with memoryview(buffer) as view:
                block = bytes(view[:size])  # one copy: a slice of the bytearray would be two
            del buffer[:size]
            yield block
    if buffer:
        yield bytes(buffer)


class ImageData:
    def __init__(
        self,
        store: ImageStore,
        blob_store: BlobStore,
        *,
        max_bytes: int,
        hash_algorithm: str,
        lease: float,
    ) -> None:
        self.store = store
        self.blobs = blob_store
        self.max_bytes = max_bytes
        self.hash_algorithm = hash_algorithm
        self.lease = lease

    # --- upload -----------------------------------------------------------------------------
    async def upload(
        self,
        caller: Caller,
        image_id: str,
        chunks: AsyncIterator[bytes],
        *,
        declared_length: int | None,
    ) -> None:
        """Fill a queued image with the bytes of `chunks` (see the module's docstring)."""
        if declared_length is not None and declared_length > self.max_bytes:
            raise errors.IMAGE_TOO_LARGE(limit=self.max_bytes)
        token = str(uuid.uuid4())
        async with self.store.image_for_update(image_id, caller) as tx:
            image_files.admit_upload(
                caller, tx.access, tx.doc, target="saving", action="upload_image"
            )
            disk_format = str(tx.doc["disk_format"])
            await tx.save(_with(tx.doc, status="saving"))
            await tx.begin_upload(token, "images", "queued", time.time())
        key = blobs.key("images", image_id)
        try:
            received = await self._receive(image_id, token, key, chunks, disk_format)
        except BaseException:
            await asyncio.shield(self._give_up(image_id, token))
            raise
        try:
            await self._activate(image_id, token, received)
        except BaseException:
            # the row is not ours any more (deleted or swept): the blob is nobody's
            await asyncio.shield(self._give_up(image_id, token, drop_blob=True))
            raise

    async def _receive(
        self,
        image_id: str,
        token: str,
        key: str,
        chunks: AsyncIterator[bytes],
        disk_format: str,
    ) -> Received:
        md5 = hashlib.md5(usedforsecurity=False)
        digest = hashlib.new(self.hash_algorithm)
        inspection = formats.Inspection(disk_format)
        size = 0
        writer = await self._store_call(self.blobs.writer(key))
        beating = asyncio.create_task(self._keep_alive(image_id, token))
        pending: Awaitable[Any] | None = None
        try:
            async for block in blocks(chunks):
                size += len(block)
                if size > self.max_bytes:
                    raise errors.IMAGE_TOO_LARGE(limit=self.max_bytes)
                if pending is not None:
                    await pending
                inspection.feed(block)
                # the next block is read from the client while this one is hashed and written
                pending = asyncio.gather(
                    asyncio.to_thread(md5.update, block),
                    asyncio.to_thread(digest.update, block),
                    self._store_call(writer.write(block)),
                )
                if beating.done():
                    beating.result()  # the upload was given up: raise why
            if pending is not None:
                await pending
                pending = None
            virtual_size = inspection.finish()
            if beating.done():
                beating.result()
            await self._store_call(writer.commit())
        except BaseException:
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await pending
            await asyncio.shield(self._store_call(writer.abort()))
            raise
        finally:
            beating.cancel()
            with contextlib.suppress(BaseException):
                await beating
        metrics.record_image_bytes("upload", size)
        return Received(size, md5.hexdigest(), digest.hexdigest(), virtual_size)

    async def _keep_alive(self, image_id: str, token: str) -> None:
        """Renew the upload's heartbeat until cancelled; raise once it is no longer ours."""
        while True:
            await asyncio.sleep(self.lease / 3)
            if not await self.store.heartbeat(image_id, token, time.time()):
                raise errors.UPLOAD_LOST(image_id=image_id)

    async def _activate(self, image_id: str, token: str, received: Received) -> None:
        async with self.store.image_for_update(image_id, SYSTEM) as tx:
            await _require_ours(tx, token, image_id)
            await tx.save(
                _with(
                    tx.doc,
                    status="active",
                    size=received.size,
                    checksum=received.md5,
                    os_hash_algo=self.hash_algorithm,
                    os_hash_value=received.digest,
                    virtual_size=received.virtual_size,
                    stores=self.blobs.id,
                    active_at=times.render(times.now()),
                    **{"__image_size": str(received.size)},
                )
            )
            await tx.end_upload()

    async def _give_up(self, image_id: str, token: str, *, drop_blob: bool = False) -> None:
        """Put the image back as it was before this upload, if the upload is still its own."""
        try:
            async with self.store.image_for_update(image_id, SYSTEM) as tx:
                upload = await tx.upload()
                if upload is None or upload.token != token:
                    return
                await self._restore(tx, upload)
        except errors.ApiError as err:
            if err.spec is not errors.IMAGE_NOT_FOUND:
                log.exception("could not put image %s back after a failed upload", image_id)
        except Exception:
            log.exception("could not put image %s back after a failed upload", image_id)
        finally:
            if drop_blob:
                with contextlib.suppress(Exception):
                    await self.blobs.delete(blobs.key("images", image_id))

    async def _restore(self, tx: ImageTx, upload: Upload) -> None:
        """The image as it was before `upload` began, its blob dropped."""
        await tx.save(_with(tx.doc, status=upload.status_before))
        await tx.end_upload()

    async def _store_call(self, call: Awaitable[Any]) -> Any:
        """An image store call; its failures become the 503 of an unavailable store."""
        try:
            return await call
        except errors.ApiError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:
            metrics.record_data_error("store")
            log.error("image store failure: %s", exc)
            raise errors.IMAGE_STORE_UNAVAILABLE() from exc

    # --- download ---------------------------------------------------------------------------
    async def download(
        self, caller: Caller, image_id: str, requested: Callable[[int], tuple[int, int] | None]
    ) -> Download | None:
        """The bytes of an image the caller may read, or None for an image without data.
        `requested(size)` turns the request's Range into (start, end), or None for all."""
        doc = (await self.store.image(image_id, caller)).doc
        if not image_files.admit_download(caller, doc):
            return None
        size = int(doc["size"])
        wanted = requested(size)
        start, end = wanted if wanted is not None else (0, size)
        key = blobs.key("images", image_id)

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            try:
                async for chunk in self.blobs.read(key, start, end):
                    sent += len(chunk)
                    if sent > end - start:
                        break
                    yield chunk
            except FileNotFoundError:
                pass
            if sent != end - start:
                metrics.record_data_error("size_mismatch")
                log.error(
                    "image %s: the store holds other bytes than the %d recorded; "
                    "the download was cut",
                    image_id,
                    size,
                )
                raise errors.IMAGE_STORE_UNAVAILABLE()

        return Download(
            size=size,
            checksum=doc.get("checksum"),
            start=start,
            end=end,
            partial=wanted is not None,
            path=self.blobs.local_path(key),
            chunks=chunks,
        )

    async def delete_data(self, image_id: str) -> None:
        """Drop a deleted image's blobs (a failure leaves them to `sweep`)."""
        for space in blobs.SPACES:
            try:
                await self.blobs.delete(blobs.key(space, image_id))
            except Exception as exc:
                metrics.record_data_error("store")
                log.error("image %s: its %s data stays for gc: %s", image_id, space, exc)

    # --- sweeping ---------------------------------------------------------------------------
    async def sweep(self, *, now: float | None = None) -> tuple[int, int]:
        """Undo uploads whose process died, then remove blobs that no image owns: (uploads
        undone, blobs removed). Safe to run in every replica at once."""
        now = time.time() if now is None else now
        undone = 0
        for stale in await self.store.stale_uploads(now - self.lease):
            async with self.store.image_for_update(stale.image_id, SYSTEM) as tx:
                upload = await tx.upload()
                if upload is None or upload.token != stale.token:
                    continue  # finished or renewed meanwhile
                if upload.heartbeat_at >= now - self.lease:
                    continue
                await self._restore(tx, upload)
                undone += 1
                log.warning("image %s: upload abandoned by a dead process, undone", stale.image_id)
        removed = 0
        batch: list[str] = []
        async for name in self.blobs.keys():
            batch.append(name)
            if len(batch) >= 500:
                removed += await self._collect(batch, now)
                batch = []
        if batch:
            removed += await self._collect(batch, now)
        # temporaries idle for an hour: a live upload's S3 writer sends a part only every few
        # MiB, which a slow client may take minutes to fill
        await self.blobs.sweep(max(self.lease, TEMPORARY_IDLE))
        return undone, removed

    async def _collect(self, names: list[str], now: float) -> int:
        ids = sorted({name.split("/", 1)[1] for name in names})
        states = await self.store.data_states(ids)
        removed = 0
        for name in names:
            space, image_id = name.split("/", 1)
            state = states.get(image_id)
            if state is not None and _owns(space, *state, live_after=now - self.lease):
                continue
            await self.blobs.delete(name)
            removed += 1
            log.info("removed %s: no image owns it", name)
        return removed


def _owns(space: str, status: str, upload: Upload | None, *, live_after: float) -> bool:
    """Whether an image in `status` (with `upload` in progress, maybe) owns its blob in
    `space`: its data once it has some, and whatever a live upload is writing."""
    if upload is not None and upload.space == space and upload.heartbeat_at >= live_after:
        return True
    if space == "images":
        return status in image_files.WITH_DATA
    return status in ("uploading", "importing")


async def _require_ours(tx: ImageTx, token: str, image_id: str) -> None:
    upload = await tx.upload()
    if upload is None or upload.token != token:
        raise errors.UPLOAD_LOST(image_id=image_id)


def _with(doc: Document, **changes: Any) -> Document:
    """`doc` with `changes` and a new `updated_at`, canonical."""
    new = dict(doc)
    new.update(changes)
    new["updated_at"] = times.later(doc.get("updated_at"), times.now())
    return documents.canonical(new, stored=True)
