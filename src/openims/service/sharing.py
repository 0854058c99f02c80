"""Sharing an image with other projects (members), with Glance's status flow
(`domain.sharing`)."""

from __future__ import annotations

from typing import Any

from openims import errors
from openims.domain import access, sharing
from openims.domain.access import Caller
from openims.domain.sharing import Member
from openims.store.images import ImageStore


class Sharing:
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    async def add(self, caller: Caller, image_id: str, fields: dict[str, Any]) -> Member:
        """Share the image with the project a `{"member": …}` body names, as `pending`."""
        member_id = sharing.member_id_from(fields)
        async with self.store.image_for_update(image_id, caller) as tx:
            access.require_owner(caller, tx.access, "add_member")
            sharing.check_can_share(tx.doc, member_id, await tx.members.count())
            if await tx.members.get(member_id) is not None:
                raise errors.MEMBER_EXISTS(member_id=member_id, image_id=image_id)
            member = await tx.members.add(member_id)
            shared = sharing.shared_document(dict(tx.doc))
            if shared is not None:
                await tx.save(shared)
            return member

    async def list(self, caller: Caller, image_id: str) -> list[Member]:
        """The owner (or an admin) sees every member; a member sees only itself."""
        loaded = await self.store.image(image_id, caller)
        members = await self.store.members(image_id)
        if not access.can_modify(caller, loaded.access) and not caller.is_admin:
            members = [m for m in members if m.member_id == caller.project_id]
        return members

    async def show(self, caller: Caller, image_id: str, member_id: str) -> Member:
        loaded = await self.store.image(image_id, caller)
        may_see = (
            access.can_modify(caller, loaded.access)
            or caller.is_admin
            or member_id == caller.project_id
        )
        found = [m for m in await self.store.members(image_id) if m.member_id == member_id]
        if not may_see or not found:
            raise errors.MEMBER_NOT_FOUND(member_id=member_id, image_id=image_id)
        return found[0]

    async def set_status(
        self, caller: Caller, image_id: str, member_id: str, fields: dict[str, Any]
    ) -> Member:
        """The member accepts, rejects or re-opens a share (`{"status": …}`)."""
        status = sharing.status_from(fields)
        async with self.store.image_for_update(image_id, caller) as tx:
            sharing.check_can_set_status(
                caller,
                member_id,
                exists=await tx.members.get(member_id) is not None,
                owns=access.can_modify(caller, tx.access),
                image_id=image_id,
            )
            updated = await tx.members.set_status(member_id, status)
            assert updated is not None
            return updated

    async def remove(self, caller: Caller, image_id: str, member_id: str) -> None:
        async with self.store.image_for_update(image_id, caller) as tx:
            access.require_owner(caller, tx.access, "delete_member")
            if not await tx.members.remove(member_id):
                raise errors.MEMBER_NOT_FOUND(member_id=member_id, image_id=image_id)
