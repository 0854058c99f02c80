"""Console sign-outs (docs/console.md): a session lives in a signed cookie, which no process
can take back, so signing out records the session's id in the database, where every process
and replica looks before it honours a signed-in cookie."""

from __future__ import annotations

import time

from openims.store.console import SignOutStore
from openims.store.images import ImageStore


class SignOuts:
    def __init__(self, store: ImageStore) -> None:
        self.store = SignOutStore(store)

    async def sign_out(self, session_id: str, expires_at: float) -> None:
        """End the session `session_id` (valid until `expires_at`) everywhere."""
        await self.store.record(session_id, expires_at, now=time.time())

    async def signed_out(self, session_id: str) -> bool:
        return await self.store.signed_out(session_id)
