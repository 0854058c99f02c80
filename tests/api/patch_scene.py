"""The scene both PATCH refusal tables run in (`test_patch_errors`, `test_ims_patch_errors`):
one set of images per backend, a client per kind of caller, and a snapshot of every image to
prove that a refused patch changed nothing, not even `updated_at`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.support.servers import Server

# owner (p1), member (p2), stranger (p3), admin, reader (p1 as reader)
CALLERS = {
    "owner": {"X-Project-Id": "p1"},
    "member": {"X-Project-Id": "p2"},
    "stranger": {"X-Project-Id": "p3"},
    "admin": {"X-Project-Id": "admin-project", "X-Roles": "admin"},
    "reader": {"X-Project-Id": "p1", "X-Roles": "reader"},
}


@dataclass
class Scene:
    server: Server
    clients: dict[str, httpx.Client]
    ids: dict[str, str] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)  # as the admin saw them at first

    def snapshot(self) -> dict[str, bytes]:
        admin = self.clients["admin"]
        return {k: admin.get(f"/v2/images/{v}").content for k, v in self.ids.items()}

    def freeze(self, ids: dict[str, str]) -> None:
        """Name the scene's images and record them as they are before any case runs."""
        self.ids = ids
        self.documents = self.snapshot()


@contextmanager
def callers(server: Server) -> Iterator[Scene]:
    """A scene with a client per caller and no images yet; the clients close on exit."""
    clients = {k: server.connect(h) for k, h in CALLERS.items()}
    try:
        yield Scene(server, clients)
    finally:
        for c in clients.values():
            c.close()
