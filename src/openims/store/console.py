"""The SQL of console sign-outs (`tables.console_sign_outs`, docs/console.md): the ids of
sessions signed out before their cookies expire, shared by every process over the database."""

from __future__ import annotations

import sqlalchemy as sa

from openims.store.images import ImageStore
from openims.store.tables import console_sign_outs

_S = console_sign_outs.c


class SignOutStore:
    """Signed-out console sessions, over the image store's engine and transactions."""

    def __init__(self, images: ImageStore) -> None:
        self.images = images

    async def record(self, session_id: str, expires_at: float, *, now: float) -> None:
        """Record `session_id` as signed out until `expires_at`; rows of sessions that have
        expired meanwhile go (a sign-out is rare: the table stays small)."""
        async with self.images.writing() as conn:
            await conn.execute(
                console_sign_outs.delete().where(
                    sa.or_(_S.expires_at <= now, _S.session_id == session_id)
                )
            )
            if expires_at > now:
                await conn.execute(
                    console_sign_outs.insert().values(session_id=session_id, expires_at=expires_at)
                )

    async def signed_out(self, session_id: str) -> bool:
        async with self.images.reading() as conn:
            found = await conn.execute(sa.select(_S.session_id).where(_S.session_id == session_id))
            return found.first() is not None
