"""Images by id: create, show, change (JSON Patch on either face, tags) and delete."""

from __future__ import annotations

import uuid
from typing import Any

from openims import errors
from openims.domain import access, documents, patch, registry, times
from openims.domain.access import Caller
from openims.domain.documents import Document
from openims.service.image_data import ImageData
from openims.service.tags import change_tags
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
        else:  # a UUID in either case, as Glance takes it; stored in lower case (tables.ImageId)
            image_id = documents.check_value(registry.BY_NAME["id"], image_id).lower()
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
        """Glance's tag PUT: a tag the image has already is no change."""
        tag = documents.check_tag(tag)
        await change_tags(
            self.store,
            caller,
            image_id,
            lambda current: current if tag in current else [*current, tag],
        )

    async def remove_tag(self, caller: Caller, image_id: str, tag: str) -> None:
        """Glance's tag DELETE: a tag the image lacks is a 404."""
        tag = documents.check_tag(tag)

        def without(current: list[str]) -> list[str]:
            if tag not in current:
                raise errors.TAG_NOT_FOUND(tag=tag)
            return [t for t in current if t != tag]

        await change_tags(self.store, caller, image_id, without)

    async def delete(self, caller: Caller, image_id: str) -> None:
        async with self.store.image_for_update(image_id, caller) as tx:
            access.require_owner(caller, tx.access, "delete_image")
            if tx.doc.get("protected"):
                raise errors.IMAGE_PROTECTED(image_id=image_id)
            await tx.delete()
        await self.data.delete_data(image_id)
