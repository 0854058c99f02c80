"""Image sharing (members), with the Glance status flow: the owner adds a project as a
`pending` member; only that project accepts or rejects; the owner removes it.

IMS needs no visibility change before sharing, Glance requires `visibility=shared`. OpenIMS
does what lets both clients work: adding a member to a private image makes it `shared`
(`visibility` and `__imagetype`), as the IMS docs describe shared images. Removing the last
member leaves it shared, as Glance does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openims import errors
from openims.domain import documents, times
from openims.domain.access import MEMBER_STATUSES, Caller
from openims.domain.documents import Document


@dataclass(frozen=True, slots=True)
class Member:
    """One project an image is shared with; times are epoch seconds."""

    image_id: str
    member_id: str
    status: str
    created_at: int
    updated_at: int

    def render(self) -> dict[str, str]:
        return {
            "status": self.status,
            "created_at": times.render(self.created_at),
            "updated_at": times.render(self.updated_at),
            "image_id": self.image_id,
            "member_id": self.member_id,
            "schema": "/v2/schemas/member",
        }


MAX_MEMBERS = 256  # IMS: a system or data disk image can be shared with up to 256 tenants


def member_id_from(fields: dict[str, Any]) -> str:
    member = fields.get("member")
    if not isinstance(member, str) or not member or len(member) > 255:
        raise errors.INVALID_FIELD(
            name="member", reason="a project ID (1-255 characters) is required"
        )
    if not member.isprintable() or "/" in member:
        raise errors.INVALID_FIELD(name="member", reason="not a valid project ID")
    return member


def status_from(fields: dict[str, Any]) -> str:
    status = fields.get("status")
    if status not in MEMBER_STATUSES:
        raise errors.INVALID_FIELD(
            name="status", reason=f"{status!r} is not one of {list(MEMBER_STATUSES)}"
        )
    assert isinstance(status, str)
    return status


def check_can_share(doc: Document, member_id: str, member_count: int) -> None:
    if doc.get("visibility") in ("public", "community") or doc.get("__imagetype") == "gold":
        raise errors.PUBLIC_NOT_SHAREABLE()
    if member_id == doc.get("owner"):
        raise errors.SHARE_WITH_SELF()
    if member_count >= MAX_MEMBERS:
        raise errors.TOO_MANY_MEMBERS(limit=MAX_MEMBERS)


def shared_document(doc: Document) -> Document | None:
    """The document after a member was added: private images become shared."""
    if doc.get("visibility") == "shared" and doc.get("__imagetype") == "shared":
        return None
    doc["visibility"] = "shared"
    doc["__imagetype"] = "shared"
    doc["updated_at"] = times.later(doc.get("updated_at"), times.now())
    return documents.canonical(doc, stored=True)


def check_can_set_status(
    caller: Caller, member_id: str, *, exists: bool, owns: bool, image_id: str
) -> None:
    """Only the member itself decides whether it accepts a share (Glance). The owner (or an
    admin) who tries gets 403; another member gets 404, as if the membership did not exist:
    a member never learns who else an image is shared with."""
    if not exists or (caller.project_id != member_id and not owns):
        raise errors.MEMBER_NOT_FOUND(member_id=member_id, image_id=image_id)
    if caller.project_id != member_id:
        raise errors.FORBIDDEN_ACTION(action="modify_member")
