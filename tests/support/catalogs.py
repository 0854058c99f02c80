"""Catalogs: image documents built field by field for query tests, so that owners, members,
registration and times are exactly what a test says, and `load`, the one way tests and
benchmarks put a catalog into a database."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import httpx
import orjson

from openims.domain import times
from openims.domain.documents import ImageItem
from openims.service import transfer
from openims.store.engine import create_engine
from openims.store.images import ImageStore

PLATFORM = "1bed856811654c1cb661a6ca845ebc77"  # the owner of public images in the IMS examples
BASE_TIME = times.parse("2018-09-06T14:03:27Z")
ABSENT = object()  # a field value meaning "leave the key out"

_clock = itertools.count()


def image(**fields: Any) -> dict[str, Any]:
    """A registered, active public `gold` ECS image; `fields` override (ABSENT removes).
    Each call is created one minute after the previous one, so the default order is known."""
    created = times.render(BASE_TIME + 60 * next(_clock))
    doc: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": "image",
        "owner": PLATFORM,
        "status": "active",
        "visibility": "public",
        "__imagetype": "gold",
        "protected": True,
        "__isregistered": "true",
        "virtual_env_type": "FusionCompute",
        "container_format": "bare",
        "disk_format": "zvhd2",
        "__os_type": "Linux",
        "min_ram": 0,
        "min_disk": 40,
        "created_at": created,
        "updated_at": created,
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not ABSENT}


def private(owner: str, **fields: Any) -> dict[str, Any]:
    return image(
        owner=owner, visibility="private", __imagetype="private", protected=False, **fields
    )


def shared(owner: str, members: dict[str, str], **fields: Any) -> dict[str, Any]:
    """An image of `owner` shared with `members` ({project: member status})."""
    return image(
        owner=owner,
        visibility="shared",
        __imagetype="shared",
        protected=False,
        members=[{"member_id": m, "status": s} for m, s in members.items()],
        **fields,
    )


def load(
    database_url: str,
    catalog: Iterable[Mapping[str, Any] | ImageItem],
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write `catalog` in one transaction, the way `openims import` and `openims demo` write:
    documents in the import format (a document with optional `members`, as JSON would give
    it) are checked as `openims import` checks each object, then written, like the checked
    `ImageItem`s of `demo.catalog`, by `ImageStore.import_items` (`progress` is told how
    many images each step wrote). Returns the number of images written."""
    now = times.now()

    def items() -> Iterator[ImageItem]:
        for entry in catalog:
            if isinstance(entry, ImageItem):
                yield entry
            else:
                yield transfer.check(orjson.loads(orjson.dumps(entry)), now)

    async def go() -> int:
        engine = create_engine(database_url, pool_size=1)
        try:
            return await ImageStore(engine).import_items(items(), progress=progress)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def activate(database_url: str, *image_ids: str) -> None:
    """Mark images `active`, as an upload that finished would (OpenIMS stores no image data,
    so no request does it): the IMS update API changes only active images. Goes through the
    store's locked write, so the document and its columns stay in step."""
    from openims.domain import documents
    from openims.domain.access import Caller

    operator = Caller("operator", frozenset({"admin"}))

    async def go() -> None:
        engine = create_engine(database_url, pool_size=1)
        try:
            store = ImageStore(engine)
            for image_id in image_ids:
                async with store.image_for_update(image_id, operator) as tx:
                    await tx.save(documents.canonical({**tx.doc, "status": "active"}))
        finally:
            await engine.dispose()

    asyncio.run(go())


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["images"]]


def page_all(client: httpx.Client, params: list[tuple[str, str]], limit: int) -> list[list[str]]:
    """Every page of `GET /v2/cloudimages` with `params`, following `marker` until a page
    comes back shorter than `limit` (IMS lists carry no `next` link)."""
    pages: list[list[str]] = []
    marker: str | None = None
    while True:
        query = [*params, ("limit", str(limit))]
        if marker is not None:
            query.append(("marker", marker))
        page = ids(client.get("/v2/cloudimages", params=tuple(query)))
        pages.append(page)
        if len(page) < limit:
            return pages
        marker = page[-1]
        assert len(pages) < 10_000, "paging does not end"
