"""Images by id: create, show, change (JSON Patch on either face, tags) and delete."""

from __future__ import annotations

import uuid
from typing import Any

from openims import errors
from openims.domain import access, documents, patch, registry, times
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.service.image_data import ImageData
from openims.store.images import ImageStore


class Images:
    def __init__(self, store: ImageStore, data: ImageData) -> None:
        self.store = store
        self.data = data

    async def create(self, caller: Caller, fields: dict[str, Any]) -> Document:
        """A new image from the fields of a `POST /v2/images` body (`documents.new_image`
        says what a caller may set); the caller owns it unless an admin names another owner."""
        if caller.read_only:
            raise errors.FORBIDDEN_ACTION(action="add_image")
        fields = dict(fields)
        image_id = fields.pop("id", None)
        if image_id is None:
            image_id = str(uuid.uuid4())
        else:
            documents.check_value(registry.BY_NAME["id"], image_id)
        doc = documents.new_image(
            fields,
            image_id=image_id,
            owner=caller.project_id,
            now=times.now(),
            is_admin=caller.is_admin,
        )
        await self.store.create(doc)
        return doc

    async def show(self, caller: Caller, image_id: str) -> bytes:
        """The stored document, as stored."""
        return (await self.store.image(image_id, caller)).doc_bytes

    async def update(self, caller: Caller, image_id: str, changes: patch.Patch) -> Document:
        """Apply a parsed patch (either face's, `changes.policy`), all of it or nothing."""
        async with self.store.image_for_update(image_id, caller) as tx:
            patch.admit(changes.policy, caller, tx.access, tx.doc)
            new = patch.apply(tx.doc, changes, caller, now=times.now())
            if new is not None:
                await tx.save(new)
            return tx.doc

    async def add_tag(self, caller: Caller, image_id: str, tag: str) -> None:
        await self._change_tags(caller, image_id, documents.check_tag(tag), add=True)

    async def remove_tag(self, caller: Caller, image_id: str, tag: str) -> None:
        await self._change_tags(caller, image_id, documents.check_tag(tag), add=False)

    async def _change_tags(self, caller: Caller, image_id: str, tag: str, *, add: bool) -> None:
        async with self.store.image_for_update(image_id, caller) as tx:
            access.require_owner(caller, tx.access, "modify_image")
            tags = list(tx.doc.get("tags") or [])
            if add:
                if tag in tags:
                    return
                tags.append(tag)
            else:
                if tag not in tags:
                    raise errors.TAG_NOT_FOUND(tag=tag)
                tags.remove(tag)
            doc = dict(tx.doc)
            doc["tags"] = documents.check_tags(tags)
            doc["updated_at"] = times.later(doc.get("updated_at"), times.now())
            await tx.save(documents.canonical(doc, stored=True))

    async def delete(self, caller: Caller, image_id: str) -> None:
        async with self.store.image_for_update(image_id, caller) as tx:
            access.require_owner(caller, tx.access, "delete_image")
            if tx.doc.get("protected"):
                raise errors.IMAGE_PROTECTED(image_id=image_id)
            await tx.delete()
        await self.data.delete_data(image_id)
