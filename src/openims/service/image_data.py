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
3. under the image's lock, and only if the upload is still this one, the image turns `active`
   with its size, hashes and virtual size, and the blob is committed (durable, under its
   real name) before that transaction is: an upload undone meanwhile (its process paused past
   its lease, say) can never put its bytes under an image that another upload has filled.
Any failure between 1 and 3 drops the blob and puts the image back to `queued`. A process
killed meanwhile leaves a stale heartbeat: `sweep` (run by every server now and then, and by
`openims gc`) puts such images back and removes blobs no image owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openims import errors, metrics
from openims.domain import documents, formats, image_files, image_import, times
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.service import web_download
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
# Blocks handed to the hashes and the store before the pipeline waits for the oldest: two, so
# that a hash thread or the disk never idles while the next block is still arriving.
IN_FLIGHT = 2
# Blocks handed over by all the uploads of the process together, past which an upload waits
# for a slot (leaving its next bytes in the socket): one upload alone (IN_FLIGHT + 1 at most)
# is not held back, and four at once keep few more blocks waiting in front of the shared hash
# threads than one does (docs/benchmarks.md, "Uploads": four at once went from 5-7% slower
# than one to about as fast).
BLOCKS_IN_FLIGHT = IN_FLIGHT + 2
# The process acting for the server itself (sweeps, finishing an upload it started).
SYSTEM = Caller("openims-system", frozenset({"admin"}))


@dataclass(frozen=True, slots=True)
class Received:
    """What an upload learnt from the bytes while they streamed."""

    size: int
    md5: str
    digest: str
    virtual_size: int | None


@functools.cache
def _hash_threads() -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    """The two threads every upload of this process hashes on: one for MD5, one for the
    configured hash (hashlib releases the GIL, so the two run in parallel). Shared, not one
    pair per upload: two hashes already keep the two cores of a small machine busy, and four
    uploads with a pair each ran 22% slower together than one alone (eight threads taking
    the GIL back from each other and from the event loop). Each thread takes its blocks in
    the order they were handed over, so every hash sees its upload's bytes in order, and
    the uploads of the moment share the threads block by block."""
    return (
        ThreadPoolExecutor(1, thread_name_prefix="hash-md5"),
        ThreadPoolExecutor(1, thread_name_prefix="hash-digest"),
    )


class _Examination:
    """What the pipeline learns from bytes declared as `disk_format`: MD5 and the configured
    hash, and the format inspector's verdict. The hashes run on the process's hash threads
    (`_hash_threads`), several blocks may be handed over before the first is done."""

    def __init__(self, disk_format: str, hash_algorithm: str) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.digest = hashlib.new(hash_algorithm)
        self.inspection = formats.Inspection(disk_format)

    def feed(self, block: bytes) -> list[Awaitable[Any]]:
        """Inspect `block` now; hash it on the threads the returned awaitables run on. The
        caller awaits them all before `finish` (a hash is never read while it is updated)."""
        self.inspection.feed(block)
        loop = asyncio.get_running_loop()
        md5_thread, digest_thread = _hash_threads()
        return [
            loop.run_in_executor(md5_thread, self.md5.update, block),
            loop.run_in_executor(digest_thread, self.digest.update, block),
        ]

    def finish(self, size: int) -> Received:
        """The verdict once every block was fed (refusals are raised here)."""
        virtual_size = self.inspection.finish()
        return Received(size, self.md5.hexdigest(), self.digest.hexdigest(), virtual_size)


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
    """`chunks` gathered into blocks of at least `size` bytes (the last one may be shorter):
    small chunks are joined (one copy), a chunk already that large passes as it is (none).
    The server reads request bodies ahead in chunks of up to a few MiB, so most of an upload
    reaches the hashes and the store without being copied in Python."""
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield pending[0] if len(pending) == 1 else b"".join(pending)
            pending, held = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else b"".join(pending)


class ImageData:
    def __init__(
        self,
        store: ImageStore,
        blob_store: BlobStore,
        *,
        max_bytes: int,
        hash_algorithm: str,
        lease: float,
        web_download_allow: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.blobs = blob_store
        self.max_bytes = max_bytes
        self.hash_algorithm = hash_algorithm
        self.lease = lease
        self.web_download_allow = list(web_download_allow)
        self.import_methods = image_import.offered(self.web_download_allow)
        self._imports: set[asyncio.Task[None]] = set()  # running imports, ended by `close`
        self._blocks: asyncio.Semaphore | None = None  # BLOCKS_IN_FLIGHT, made in the loop

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
            room = await _room(tx, declared_length)
            disk_format = str(tx.doc["disk_format"])
            await tx.save(revised(tx.doc, status="saving"))
            await tx.begin_upload(token, "images", "queued", time.time())
        key = blobs.key("images", image_id)
        try:
            await self._receive(image_id, token, key, chunks, disk_format, room, self._activate)
        except BaseException:
            await asyncio.shield(self._give_up(image_id, token, drop=(key,)))
            raise

    async def fill(
        self,
        image_id: str,
        chunks: AsyncIterator[bytes],
        *,
        size: int | None,
        take_over: bool,
        refusals: Callable[[errors.ApiError], errors.ApiError] | None = None,
    ) -> Received | None:
        """Fill a queued image with `chunks` for a job (creating an image from a file,
        registering one), through the upload's pipeline and with its guarantees: the image is
        `saving` while the bytes stream, `active` with its size and hashes once they are
        committed, and back to `queued` without a blob if anything fails. The job acts for the
        system, so the caller's rights were checked when it was submitted.

        Jobs may be run again from the start after a crash, so: an image already `active` was
        filled by an earlier run (None, nothing done), and with `take_over` (a re-run) the
        upload an earlier run left is replaced by this one. `size` (the source's, if known)
        is checked against the owner's byte quota before any byte, as a declared length is.
        `refusals` may restate the pipeline's refusals of the bytes (format, safety, size) in
        the caller's words."""
        token = str(uuid.uuid4())
        async with self.store.image_for_update(image_id, SYSTEM) as tx:
            status = tx.doc.get("status")
            if status == "active":
                await _close(chunks)
                return None
            left = await tx.upload()
            if left is not None and take_over and status == "saving":
                await tx.end_upload()  # an earlier run's (its job's lease says it is dead)
            elif left is not None or status != "queued":
                await _close(chunks)
                raise errors.STATUS_TRANSITION(current=status, target="saving")
            disk_format = str(tx.doc["disk_format"])
            room = await _room(tx, size)  # the owner's byte quota, before any byte
            await tx.save(revised(tx.doc, status="saving"))
            await tx.begin_upload(token, "images", "queued", time.time())
        key = blobs.key("images", image_id)
        try:
            try:
                return await self._receive(
                    image_id, token, key, chunks, disk_format, room, self._activate
                )
            finally:
                await asyncio.shield(_close(chunks))
        except BaseException as exc:
            await asyncio.shield(self._give_up(image_id, token, drop=(key,)))
            if refusals is not None and isinstance(exc, errors.ApiError) and exc.spec in _REFUSALS:
                raise refusals(exc) from None
            raise

    async def _receive(
        self,
        image_id: str,
        token: str,
        key: str,
        chunks: AsyncIterator[bytes],
        disk_format: str | None,
        room: int | None,
        settle: Callable[[ImageTx, Received], Awaitable[None]],
    ) -> Received:
        """The one pipeline every byte that reaches the store goes through (an upload, a
        staging, an import from the staging area or from the web): `chunks` streamed to the
        blob `key` in blocks, counted against `max_bytes`, with the upload `token`'s heartbeat
        kept meanwhile, and committed only when all is well. With a `disk_format` each block
        is also hashed and inspected (see the module's docstring); without one (staging,
        where Glance looks at nothing either) the bytes are kept as they come and only the
        size is learnt. `room` bounds the bytes too: what the owner's byte quota leaves
        (`_room`); the end is checked against the quota again (`ImageTx.admit_bytes`).

        At the end, under the image's lock and only while the upload is still this one,
        `settle` records what was received, the blob is committed and the upload ends, in one
        transaction (the module's docstring, step 3). A failure leaves the blob, committed or
        not, for the caller's `_give_up` to drop."""
        examination = _Examination(disk_format, self.hash_algorithm) if disk_format else None
        if self._blocks is None:
            self._blocks = asyncio.Semaphore(BLOCKS_IN_FLIGHT)
        slots = self._blocks
        size = 0
        writer = await self.store_call(self.blobs.writer(key))
        beating = asyncio.create_task(self.keep_alive(image_id, token))
        in_flight: deque[Awaitable[Any]] = deque()  # blocks being hashed and written
        last_write: asyncio.Future[None] | None = None

        async def write_after(previous: asyncio.Future[None] | None, block: bytes) -> None:
            if previous is not None:
                await previous  # blocks reach the store in order
            await self.store_call(writer.write(block))

        try:
            async for block in blocks(chunks):
                size += len(block)
                if size > self.max_bytes:
                    raise errors.IMAGE_TOO_LARGE(limit=self.max_bytes)
                if room is not None and size > room:
                    raise errors.STORAGE_QUOTA_EXCEEDED(size=size, remaining=room)
                # the next blocks are read from the client while these are hashed and written
                await slots.acquire()
                try:
                    work = examination.feed(block) if examination is not None else []
                    last_write = asyncio.ensure_future(write_after(last_write, block))
                    work.append(last_write)
                    handed = asyncio.gather(*work)
                except BaseException:
                    slots.release()
                    raise
                handed.add_done_callback(lambda _done: slots.release())
                in_flight.append(handed)
                if len(in_flight) > IN_FLIGHT:
                    await in_flight.popleft()
                if beating.done():
                    beating.result()  # the upload was given up: raise why
            while in_flight:
                await in_flight.popleft()
            received = (
                examination.finish(size)
                if examination is not None
                else Received(size, "", "", None)
            )
            if beating.done():
                beating.result()
            async with self.store.image_for_update(image_id, SYSTEM) as tx:
                await _require_ours(tx, token, image_id)
                await settle(tx, received)
                await self.store_call(writer.commit())
                await tx.end_upload()
        except BaseException:
            for pending in in_flight:
                with contextlib.suppress(BaseException):
                    await pending
            await asyncio.shield(self.store_call(writer.abort()))
            raise
        finally:
            beating.cancel()
            with contextlib.suppress(BaseException):
                await beating
        metrics.record_image_bytes("upload" if examination is not None else "stage", size)
        return received

    async def keep_alive(self, image_id: str, token: str) -> None:
        """Renew the upload's heartbeat until cancelled; raise once it is no longer ours."""
        while True:
            await asyncio.sleep(self.lease / 3)
            if not await self.store.heartbeat(image_id, token, time.time()):
                raise errors.UPLOAD_LOST(image_id=image_id)

    async def _activate(self, tx: ImageTx, received: Received) -> None:
        """The image `active` with what its bytes were found to be (`_receive`'s `settle`)."""
        await tx.admit_bytes(received.size)  # the owner's byte quota, race-free
        await tx.save(
            revised(
                image_import.end(tx.doc, failed_store=None),
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

    async def _give_up(
        self, image_id: str, token: str, *, drop: Sequence[str] = (), refused: bool = False
    ) -> bool:
        """Put the image back as it was before this upload, if the upload is still its own
        (True then), and drop the blobs `drop` that the image, as it is then, does not own.
        `refused`: the bytes were refused, so the image goes back to `queued` whatever it was
        (see `_restore`).

        Each drop happens under the image's lock, before it is released, and only if the
        image does not own the blob (`_owns`, the sweep's rule): once the image is `queued`
        again a new upload may write the same key at once, and a drop after that would take
        its bytes; an upload that is no longer this one's (undone by a sweep, the image
        filled by another since) may have made the blob its own. An image that is gone owns
        nothing. If the database cannot say, the blobs stay for the sweep, which judges them
        by the same rule."""
        try:
            async with self.store.image_for_update(image_id, SYSTEM) as tx:
                upload = await tx.upload()
                ours = False
                if upload is not None and upload.token == token:
                    await self._restore(tx, upload, refused=refused)
                    ours = True
                for name in await _unowned(tx, drop, live_after=time.time() - self.lease):
                    await self._drop(image_id, name)
                return ours
        except errors.ApiError as err:
            if err.spec is not errors.IMAGE_NOT_FOUND:
                log.exception("could not put image %s back after a failed upload", image_id)
                return False
        except Exception:
            log.exception("could not put image %s back after a failed upload", image_id)
            return False
        for name in drop:  # the image is gone
            await self._drop(image_id, name)
        return False

    async def _drop(self, image_id: str, name: str) -> None:
        """Delete a blob nobody owns; one left behind is an orphan the sweep removes."""
        try:
            await self.blobs.delete(name)
        except Exception as exc:
            metrics.record_data_error("store")
            log.error("image %s: %s stays for gc: %s", image_id, name, exc)

    async def _restore(self, tx: ImageTx, upload: Upload, *, refused: bool = False) -> None:
        """The image as it was before `upload` began, its blob dropped. An import that ends
        so is a failed import (`os_glance_failed_import` names the store, as in Glance); one
        whose bytes were `refused` puts the image back to `queued` without a size, since the
        staged bytes it came from are bad (the caller drops them)."""
        status = "queued" if refused else upload.status_before
        changes: dict[str, Any] = {"status": status}
        if status == "queued":
            changes["size"] = None  # a staging had set it
        await tx.save(revised(image_import.end(tx.doc, failed_store=self.blobs.id), **changes))
        await tx.end_upload()

    async def store_call(self, call: Awaitable[Any]) -> Any:
        """An image store call; its failures (a disk's OSError, an S3 client's own errors)
        become the 503 of an unavailable store, logged and counted."""
        try:
            return await call
        except errors.ApiError:
            raise
        except Exception as exc:
            metrics.record_data_error("store")
            log.error("image store failure: %s", exc)
            raise errors.IMAGE_STORE_UNAVAILABLE() from exc

    # --- interoperable import ---------------------------------------------------------------
    async def stage(
        self,
        caller: Caller,
        image_id: str,
        chunks: AsyncIterator[bytes],
        *,
        declared_length: int | None,
    ) -> None:
        """Keep the bytes of `chunks` in the staging area for a later glance-direct import.
        As an upload (same lease, same pipeline, same undoing of failures), but into
        `staging/<id>`, without hashing or inspection (Glance inspects nothing here either),
        and the image ends `uploading` with its `size` set, as Glance shows it."""
        if declared_length is not None and declared_length > self.max_bytes:
            raise errors.IMAGE_TOO_LARGE(limit=self.max_bytes)
        token = str(uuid.uuid4())
        async with self.store.image_for_update(image_id, caller) as tx:
            image_import.admit_stage(caller, tx.access, tx.doc)
            room = await _room(tx, declared_length)
            await tx.save(revised(tx.doc, status="uploading"))
            await tx.begin_upload(token, "staging", "queued", time.time())
        key = blobs.key("staging", image_id)

        async def staged(tx: ImageTx, received: Received) -> None:
            await tx.admit_bytes(received.size)  # staged bytes count as the image's
            await tx.save(revised(tx.doc, size=received.size))

        try:
            await self._receive(image_id, token, key, chunks, None, room, staged)
        except BaseException:
            await asyncio.shield(self._give_up(image_id, token, drop=(key,)))
            raise

    async def start_import(
        self, caller: Caller, image_id: str, request: image_import.ImportRequest
    ) -> None:
        """Start importing (`request`, parsed and its URI filtered already) and return: the
        import runs on as a task of this process. The image turns `importing` with its
        `os_glance_*` properties, and holds an upload row whose heartbeat the task keeps, so
        that a process killed meanwhile is undone by any replica's sweep."""
        token = str(uuid.uuid4())  # the upload's token is the import's task id
        async with self.store.image_for_update(image_id, caller) as tx:
            image_import.admit_import(caller, tx.access, tx.doc, request)
            image_import.check_stores(request, self.blobs.id)
            before = str(tx.doc["status"])
            disk_format = str(tx.doc["disk_format"])
            room = await tx.bytes_room()
            await tx.save(revised(image_import.begin(tx.doc, task=token, store=self.blobs.id)))
            await tx.begin_upload(token, "images", before, time.time())
        task = asyncio.create_task(
            self._import(image_id, token, request, disk_format, room), name=f"import {image_id}"
        )
        self._imports.add(task)
        task.add_done_callback(self._imports.discard)

    async def _import(
        self,
        image_id: str,
        token: str,
        request: image_import.ImportRequest,
        disk_format: str,
        room: int | None = None,
    ) -> None:
        """The import's task: the bytes (the staged blob, or the web) through the upload's
        pipeline into `images/<id>`, then `active`. On failure the image goes back as it was
        (`uploading` with its staged bytes, ready for another import; `queued` for a
        web-download), with `os_glance_failed_import` set — except that staged bytes the
        pipeline refused (format, safety, size) are dropped and the image goes back to
        `queued`: importing them again could only fail again."""
        key = blobs.key("images", image_id)
        staging = blobs.key("staging", image_id)
        direct = request.method == image_import.GLANCE_DIRECT
        if direct:
            chunks = self.blobs.read(staging)
        else:
            assert request.uri is not None
            chunks = web_download.fetch(
                image_id, request.uri, allow=self.web_download_allow, max_bytes=self.max_bytes
            )
        try:
            try:
                received = await self._receive(
                    image_id, token, key, chunks, disk_format, room, self._activate
                )
            finally:
                await asyncio.shield(_close(chunks))
        except asyncio.CancelledError:
            await asyncio.shield(self._give_up(image_id, token, drop=(key,)))
            raise
        except Exception as exc:
            refused = isinstance(exc, FileNotFoundError) or (
                isinstance(exc, errors.ApiError) and exc.spec in _REFUSALS
            )
            if isinstance(exc, errors.ApiError | FileNotFoundError):
                log.warning("image %s: %s import failed: %s", image_id, request.method, exc)
            else:
                log.exception("image %s: %s import failed", image_id, request.method)
            bad_staging = (staging,) if direct and refused else ()
            await asyncio.shield(
                self._give_up(image_id, token, drop=(key, *bad_staging), refused=refused)
            )
            return
        log.info("image %s: %s import done, %d bytes", image_id, request.method, received.size)
        if direct:
            try:
                await self.blobs.delete(staging)
            except Exception as exc:  # an unowned staging blob: the sweep removes it
                log.warning("image %s: staged bytes stay for gc: %s", image_id, exc)

    async def close(self) -> None:
        """End the imports still running (server shutdown): each puts its image back as it
        was, with `os_glance_failed_import`, so that it can be imported again."""
        running = list(self._imports)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

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
        # what the store holds must be what was recorded: a lost or replaced blob is refused
        # before a byte is sent (a 503 and an error an operator sees), not served short; one
        # that changes while it is sent cuts the connection instead (below, and FileSlice)
        stored = await self.store_call(self.blobs.size(key))
        if stored != size:
            self._mismatch(image_id, size, stored)
            raise errors.IMAGE_STORE_UNAVAILABLE()

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
                self._mismatch(image_id, size, None)
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

    def _mismatch(self, image_id: str, recorded: int, stored: int | None) -> None:
        metrics.record_data_error("size_mismatch")
        held = "no blob" if stored is None else f"{stored} bytes"
        log.error(
            "image %s: the store holds %s, not the %d bytes recorded; download refused or cut",
            image_id,
            held,
            recorded,
        )

    async def delete_data(self, image_id: str) -> None:
        """Drop a deleted image's blobs (a failure leaves them to `sweep`)."""
        for space in blobs.SPACES:
            await self._drop(image_id, blobs.key(space, image_id))

    # --- sweeping ---------------------------------------------------------------------------
    async def sweep(
        self, *, now: float | None = None, temporaries_idle: float = TEMPORARY_IDLE
    ) -> tuple[int, int]:
        """Undo uploads whose process died, then remove blobs that no image owns and
        temporaries idle for more than `temporaries_idle` seconds: (uploads undone, blobs
        removed). Safe to run in every replica at once with the default; a smaller idle time
        may remove the temporary of a slow live upload (0, once every server has stopped,
        clears everything left half-written)."""
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
        # temporaries idle for an hour by default: a live upload's S3 writer sends a part only
        # every few MiB, which a slow client may take minutes to fill
        await self.blobs.sweep(temporaries_idle)
        return undone, removed

    async def _collect(self, names: list[str], now: float) -> int:
        ids = sorted({name.split("/", 1)[1] for name in names})
        states = await self.store.data_states(ids)
        removed = 0
        for name in names:
            space, image_id = name.split("/", 1)
            state = states.get(image_id)
            if state is not None and _owns(space, *state, live_after=now - self.lease):
                continue  # the common case, judged without a lock
            if await self._collect_one(image_id, name, live_after=now - self.lease):
                removed += 1
                log.info("removed %s: no image owns it", name)
        return removed

    async def _collect_one(self, image_id: str, name: str, *, live_after: float) -> bool:
        """Delete a blob found unowned, judged again under its image's lock: an upload may
        have begun and committed it since the batch's states were read."""
        try:
            async with self.store.image_for_update(image_id, SYSTEM) as tx:
                if not await _unowned(tx, (name,), live_after=live_after):
                    return False
                await self.blobs.delete(name)
                return True
        except errors.ApiError as err:
            if err.spec is not errors.IMAGE_NOT_FOUND:
                raise
        await self.blobs.delete(name)  # no image row: nothing owns it
        return True


# What the pipeline refuses in the bytes themselves (rather than a failure around them).
_REFUSALS = frozenset({errors.IMAGE_FORMAT_MISMATCH, errors.IMAGE_UNSAFE, errors.IMAGE_TOO_LARGE})


async def _close(chunks: AsyncIterator[bytes]) -> None:
    """Close a source of bytes the pipeline may have left half read (a web response)."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def _owns(space: str, status: str, upload: Upload | None, *, live_after: float) -> bool:
    """Whether an image in `status` (with `upload` in progress, maybe) owns its blob in
    `space`: its data once it has some, and whatever a live upload is writing."""
    if upload is not None and upload.space == space and upload.heartbeat_at >= live_after:
        return True
    if space == "images":
        return status in image_files.WITH_DATA
    return status in ("uploading", "importing")


async def _unowned(tx: ImageTx, names: Sequence[str], *, live_after: float) -> list[str]:
    """The blobs of `names` that the locked image does not own (`_owns`), as it is now."""
    upload = await tx.upload()
    status = str(tx.doc["status"])
    return [
        name
        for name in names
        if not _owns(name.split("/", 1)[0], status, upload, live_after=live_after)
    ]


async def _room(tx: ImageTx, declared_length: int | None) -> int | None:
    """The bytes the image's owner may still store (None: no byte quota); a declared length
    past it is refused before any byte is read."""
    room = await tx.bytes_room()
    if room is not None and declared_length is not None and declared_length > room:
        raise errors.STORAGE_QUOTA_EXCEEDED(size=declared_length, remaining=room)
    return room


async def _require_ours(tx: ImageTx, token: str, image_id: str) -> None:
    upload = await tx.upload()
    if upload is None or upload.token != token:
        raise errors.UPLOAD_LOST(image_id=image_id)


def revised(doc: Document, **changes: Any) -> Document:
    """`doc` with `changes` and a new `updated_at`, canonical."""
    new = dict(doc)
    new.update(changes)
    new["updated_at"] = times.later(doc.get("updated_at"), times.now())
    return documents.canonical(new, stored=True)
