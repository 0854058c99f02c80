"""An upload that lost its image while its bytes still streamed, on SQLite and PostgreSQL, on
the file and S3 stores, through the service itself (`ImageData`) so that the test decides
when each step happens.

An upload is undone by a sweep once its heartbeat is older than the lease (its process
paused, say, or cut off from the database), and the image may then be filled by another
upload. When the first one's bytes end, it must find that it lost: its blob is never made
the image's (neither put under the image's key over the winner's bytes, nor dropped after
the winner's commit), and what a download returns is the winner's bytes."""

from __future__ import annotations

import asyncio
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


async def _lost_upload(db_url: str, blob_store: BlobStore) -> None:
    engine = create_engine(db_url, pool_size=4)
    store = ImageStore(engine)
    data = ImageData(store, blob_store, max_bytes=1 << 30, hash_algorithm="sha512", lease=LEASE)
    try:
        image_id = str(uuid.uuid4())
        fields = {"name": "raced", "disk_format": "raw", "container_format": "bare"}
        await store.create(
            documents.new_image(
                fields, image_id=image_id, owner=OWNER.project_id, now=times.now(), is_admin=False
            )
        )
        first, second = b"a" * (3 * 1024 * 1024), b"b" * (5 * 1024 * 1024 + 7)
        halfway, release = asyncio.Event(), asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield first[: 1024 * 1024]
            halfway.set()
            await release.wait()
            yield first[1024 * 1024 :]

        async def fast() -> AsyncIterator[bytes]:
            yield second

        losing = asyncio.create_task(
            data.upload(OWNER, image_id, slow(), declared_length=len(first))
        )
        await asyncio.wait_for(halfway.wait(), 30)
        # the first upload's heartbeat looks dead to a sweep run a lease later
        undone, _removed = await data.sweep(now=time.time() + 2 * LEASE)
        assert undone == 1
        assert (await store.image(image_id, SYSTEM)).doc["status"] == "queued"

        await data.upload(OWNER, image_id, fast(), declared_length=len(second))
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
        assert [name async for name in blob_store.keys()] == [key]
        assert await data.sweep() == (0, 0)  # nothing for gc either
    finally:
        await data.close()
        await engine.dispose()


def test_an_upload_that_lost_its_image_leaves_the_winners_bytes(
    db_url: str, blob_store: BlobStore
) -> None:
    asyncio.run(_lost_upload(db_url, blob_store))
