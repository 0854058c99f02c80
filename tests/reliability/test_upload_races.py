"""An upload that lost its image while its bytes still streamed, on SQLite and PostgreSQL, on
the file and S3 stores, through the service itself (`ImageData`) so that the test decides
when each step happens.

An upload is undone by a sweep once its heartbeat is older than the lease (its process
paused, say, or cut off from the database), and the image may then be filled by another
upload. When the first one's bytes end, it must find that it lost: its blob is never made
the image's (neither put under the image's key over the winner's bytes, nor dropped after
the winner's commit), and what a download returns is the winner's bytes.

The same for the sweep: it reads which images own which blobs in batches, and an upload may
begin and commit a blob it found unowned before it deletes it; the delete is judged again
under the image's lock."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from openims import errors
from openims.domain import documents, times
from openims.domain.access import Caller
from openims.service.image_data import SYSTEM, ImageData
from openims.store import blobs
from openims.store.blobs import BlobStore
from openims.store.engine import create_engine
from openims.store.images import ImageStore

OWNER = Caller("race-project")
LEASE = 60.0


async def _stored(blob_store: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in blob_store.read(key)])


@contextlib.asynccontextmanager
async def _service(
    db_url: str, blob_store: BlobStore
) -> AsyncIterator[tuple[ImageStore, ImageData]]:
    engine = create_engine(db_url, pool_size=4)
    store = ImageStore(engine)
    data = ImageData(store, blob_store, max_bytes=1 << 30, hash_algorithm="sha512", lease=LEASE)
    try:
        yield store, data
    finally:
        await data.close()
        await blob_store.close()
        await engine.dispose()


async def _new_image(store: ImageStore) -> str:
    image_id = str(uuid.uuid4())
    fields = {"name": "raced", "disk_format": "raw", "container_format": "bare"}
    await store.create(
        documents.new_image(
            fields, image_id=image_id, owner=OWNER.project_id, now=times.now(), is_admin=False
        )
    )
    return image_id


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _lost_upload(db_url: str, blob_store: BlobStore) -> None:
    async with _service(db_url, blob_store) as (store, data):
        image_id = await _new_image(store)
        first, second = b"a" * (3 * 1024 * 1024), b"b" * (5 * 1024 * 1024 + 7)
        halfway, release = asyncio.Event(), asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield first[: 1024 * 1024]
            halfway.set()
            await release.wait()
            yield first[1024 * 1024 :]

        losing = asyncio.create_task(
            data.upload(OWNER, image_id, slow(), declared_length=len(first))
        )
        await asyncio.wait_for(halfway.wait(), 30)
        # the first upload's heartbeat looks dead to a sweep run a lease later
        undone, _removed = await data.sweep(now=time.time() + 2 * LEASE)
        assert undone == 1
        assert (await store.image(image_id, SYSTEM)).doc["status"] == "queued"

        await data.upload(OWNER, image_id, _bytes(second), declared_length=len(second))
        release.set()
        with pytest.raises(errors.ApiError) as lost:
            await asyncio.wait_for(losing, 30)
        assert lost.value.spec is errors.UPLOAD_LOST

        doc = (await store.image(image_id, SYSTEM)).doc
        assert doc["status"] == "active"
        assert doc["size"] == len(second)
        assert doc["checksum"] == hashlib.md5(second).hexdigest()  # noqa: S324 - Glance's
        key = blobs.key("images", image_id)
        assert await _stored(blob_store, key) == second
        assert [name async for name in blob_store.keys()] == [key]  # noqa: SIM118 - async
        assert await data.sweep() == (0, 0)  # nothing for gc either


def test_an_upload_that_lost_its_image_leaves_the_winners_bytes(
    db_url: str, blob_store: BlobStore
) -> None:
    asyncio.run(_lost_upload(db_url, blob_store))


async def _late_collection(db_url: str, blob_store: BlobStore) -> None:
    async with _service(db_url, blob_store) as (store, data):
        filled, left = await _new_image(store), await _new_image(store)
        for image_id in (filled, left):  # blobs a crash left behind queued images
            writer = await blob_store.writer(blobs.key("images", image_id))
            await writer.write(b"orphan")
            await writer.commit()
        # the sweep's batch has read both images as queued, owning nothing; one is filled
        # before the sweep gets to its blob
        await data.upload(OWNER, filled, _bytes(b"filled"), declared_length=6)
        live_after = time.time() - LEASE
        for image_id, removed in ((filled, False), (left, True)):
            key = blobs.key("images", image_id)
            assert await data._collect_one(image_id, key, live_after=live_after) is removed
        assert await _stored(blob_store, blobs.key("images", filled)) == b"filled"
        assert await blob_store.size(blobs.key("images", left)) is None


def test_the_sweep_judges_a_blob_again_under_its_images_lock(
    db_url: str, blob_store: BlobStore
) -> None:
    asyncio.run(_late_collection(db_url, blob_store))
