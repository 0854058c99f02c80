"""The IMS tag API over the one tag list of an image (`domain.tags` says how IMS `{key, value}`
tags and Glance strings are the same tags). Changes go through the same locked update as
Glance's tag calls: only the owner (or an admin) changes tags; an image the caller may not see
is the 404 of a missing one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from openims import errors
from openims.domain import access, documents, query, tags, times
from openims.domain.access import Caller
from openims.domain.query import Params
from openims.domain.tags import Tag, TagQuery
from openims.store.images import ImageStore


async def change_tags(
    store: ImageStore,
    caller: Caller,
    image_id: str,
    change: Callable[[list[str]], list[str]],
) -> None:
    """The one locked update of an image's tag list, for both faces' tag calls: only the owner
    (or an admin) changes tags; `change` maps the current list to the new one (or raises), and
    an unchanged list writes nothing."""
    async with store.image_for_update(image_id, caller) as tx:
        access.require_owner(caller, tx.access, "modify_image")
        current = list(tx.doc.get("tags") or [])
        new = change(current)
        if new == current:
            return
        doc = dict(tx.doc)
        doc["tags"] = documents.check_tags(new)
        doc["updated_at"] = times.later(doc.get("updated_at"), times.now())
        await tx.save(documents.canonical(doc, stored=True))


class Tags:
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    async def listed(self, caller: Caller, params: Params) -> list[str]:
        """`GET /v1/cloudimages/tags`: the tags of the images `GET /v2/cloudimages` would list
        with the same filters (its first page of at most 1000, newest first), each once in
        first-seen order, as stored (`key=value`, the form IMS now answers); `limit` and
        `page` page that list."""
        limit, page = tags.v1_page(params)
        filters = [(k, v) for k, v in params if k not in tags.V1_PAGING]
        q = replace(query.parse_ims(filters, caller), limit=query.MAX_LIMIT)
        found: dict[str, None] = {}
        for doc in await self.store.query(q, caller):
            for tag in documents.parse(doc).get("tags") or []:
                found[tag] = None
        listed = list(found)
        if limit is None:
            return listed if page == 1 else []
        return listed[(page - 1) * limit : page * limit]

    async def of_image(self, caller: Caller, image_id: str) -> list[Tag]:
        """`GET .../images/{image_id}/tags`: any image the caller sees."""
        loaded = await self.store.image(image_id, caller)
        return tags.of_image(list(loaded.doc.get("tags") or []))

    async def of_project(self, caller: Caller) -> list[dict[str, Any]]:
        """`GET /v2/{project_id}/images/tags`: every key on the project's own images with its
        values, each once, keys and values sorted (IMS documents no order); a key-only tag
        counts as the value ""."""
        found: dict[str, list[str]] = {}
        for doc in await self.store.owned(caller.project_id):
            for tag in tags.of_image(list(doc.get("tags") or [])):
                values = found.setdefault(tag.key, [])
                if tag.value not in values:
                    values.append(tag.value)
        return [{"key": k, "values": sorted(found[k])} for k in sorted(found)]

    async def put(self, caller: Caller, image_id: str, added: list[Tag]) -> None:
        """Add or replace tags by key (IMS: idempotent, at most 10 tags)."""
        await self._change(caller, image_id, lambda current: tags.with_tags(current, added))

    async def batch(
        self, caller: Caller, image_id: str, batch: list[Tag], *, creating: bool
    ) -> None:
        """`tags/action`: set the batch's tags, or remove the tags of its keys."""
        if creating:
            await self.put(caller, image_id, batch)
        else:
            await self.remove(caller, image_id, {t.key for t in batch})

    async def remove(self, caller: Caller, image_id: str, keys: set[str]) -> None:
        """Remove the tags of these keys; a key the image lacks is no error (the batch calls)."""
        await self._change(caller, image_id, lambda current: tags.without_keys(current, keys))

    async def remove_one(self, caller: Caller, image_id: str, key: str) -> None:
        """`DELETE .../tags/{key}`: a key the image lacks is a 404, as IMS documents."""

        def without(current: list[str]) -> list[str]:
            kept = tags.without_keys(current, {key})
            if len(kept) == len(current):
                raise errors.TAG_NOT_FOUND(tag=key)
            return kept

        await self._change(caller, image_id, without)

    async def _change(
        self, caller: Caller, image_id: str, change: Callable[[list[str]], list[str]]
    ) -> None:
        await change_tags(self.store, caller, image_id, change)

    async def query(self, caller: Caller, q: TagQuery) -> dict[str, Any]:
        """`POST /v2/{project_id}/images/resource_instances/action`: the project's own images
        that match, newest first (then by id, so that `offset` pages a stable order); `count`
        answers only `total_count`."""
        found = []
        for doc in await self.store.owned(caller.project_id):
            image_tags = tags.of_image(list(doc.get("tags") or []))
            if q.matches(str(doc["id"]), str(doc.get("name") or ""), image_tags):
                found.append((doc, image_tags))
        if q.count:
            return {"total_count": len(found)}
        page = found[q.offset : q.offset + q.limit]
        resources = [
            {
                "resource_id": doc["id"],
                "resource_detail": {"status": doc.get("status")},
                "tags": [t.render() for t in image_tags],
                "resource_name": doc.get("name") or "",
            }
            for doc, image_tags in page
        ]
        return {"resources": resources, "total_count": len(found)}
