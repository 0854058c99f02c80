"""Copying an image (`copy_image_in_region`, `POST /v1/cloudimages/{id}/copy` and its v2.1
twin; `copy_image_cross_region`, `…/cross_region_copy`): the requests, who may copy which
image, and the new image's document (docs/ims-export-copy.md).

A copy in the region is a new image of the caller's project with the same bytes: the source's
attributes (OS, formats, sizes, minimums, features, custom properties) and a new id, name,
description and enterprise project; private, unprotected, without members or tags, and with
`__originalimagename` naming the source, as IMS records an image's parent.

This deployment is one region (`OPENIMS_REGION`). A copy to another region is refused as IMS
refuses a destination it cannot find (IMG.0108); a copy to its own region is refused as IMS
documents ("the destination region cannot be the same as the source region").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from openims import errors
from openims.domain import access, documents, registry, times
from openims.domain.access import Caller, ImageAccess
from openims.domain.documents import Document
from openims.domain.exports import require_data

# What a copy does not take from its source: who and what it is, and what belongs to the
# source's life (its sharing, its import, its marketplace listing, its data's state)
_NOT_COPIED = frozenset(
    {
        "id",
        "name",
        "__description",
        "owner",
        "visibility",
        "__imagetype",
        "protected",
        "tags",
        "created_at",
        "updated_at",
        "active_at",
        "deleted_at",
        "deleted",
        "status",
        "size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "virtual_size",
        "stores",
        "__image_size",
        "enterprise_project_id",
        "__originalimagename",
        "__productcode",
        "__account_code",
        "__backup_id",
        "__system__cmkid",
        "__system_encrypted",
        "__isregistered",
        "os_glance_import_task",
        "os_glance_importing_to_stores",
        "os_glance_failed_import",
        "self",
        "file",
        "schema",
    }
)


@dataclass(frozen=True, slots=True)
class CopyRequest:
    """A checked `CopyImageInRegionRequestBody`."""

    name: str
    description: str
    enterprise_project_id: str | None

    def params(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "enterprise_project_id": self.enterprise_project_id,
        }

    @classmethod
    def of(cls, params: dict[str, Any]) -> CopyRequest:
        return cls(params["name"], params["description"], params["enterprise_project_id"])


def _name(fields: dict[str, Any]) -> str:
    name = fields.get("name")
    if name is None or name == "":
        raise errors.NAME_MISSING()
    checked = documents.check_name(name)
    assert checked is not None
    return checked


def parse_in_region(fields: dict[str, Any]) -> CopyRequest:
    """`name` (IMS's name rules; required, IMG.0013), `description` (IMS's rules, empty by
    default), `enterprise_project_id` (`0` or a UUID), `cmk_id`: this deployment has no key
    management service, so any key is one that does not exist (IMG.0095)."""
    name = _name(fields)
    description = documents.check_description(fields.get("description")) or ""
    project = fields.get("enterprise_project_id")
    if project is not None and project != "":
        documents.check_value(registry.BY_NAME["enterprise_project_id"], project)
    else:
        project = None
    cmk_id = fields.get("cmk_id")
    if cmk_id is not None and cmk_id != "":
        raise errors.KMS_KEY_NOT_FOUND(cmk_id=str(cmk_id)[:64])
    return CopyRequest(name, description, project)


def parse_cross_region(fields: dict[str, Any]) -> str:
    """A `CopyImageCrossRegionRequestBody` checked; its `region`. `name`, `region`,
    `project_name` and `agency_name` are required (IMG.0013 for the name, IMG.0001 for the
    others), `description` follows IMS's rules, `vault_id` is a string if given."""
    _name(fields)
    documents.check_description(fields.get("description"))
    for field in ("region", "project_name", "agency_name"):
        value = fields.get(field)
        if not isinstance(value, str) or not value.strip() or len(value) > 255:
            raise errors.INVALID_FIELD(name=field, reason="required: a non-empty string")
    vault = fields.get("vault_id")
    if vault is not None and not isinstance(vault, str):
        raise errors.INVALID_FIELD(name="vault_id", reason="a string")
    return str(fields["region"])


def refuse_region(region: str, own_region: str) -> NoReturn:
    """Every destination a one-region deployment can be asked for: its own region (IMG.0105:
    IMS does not copy an image across regions into its own region) or one it does not know
    (IMG.0108, as IMS finds no project of the request's in that region)."""
    if region == own_region:
        raise errors.REGION_SAME(region=own_region)
    raise errors.REGION_UNKNOWN(region=region[:64], own=own_region)


def admit(caller: Caller, image: ImageAccess, doc: Document) -> None:
    """Whether the caller may copy this image (which it sees): its own images (an admin any),
    or a shared image it has accepted (IMS's IMG.0196 otherwise); not a public image
    (IMG.0083), not a full-ECS image (IMG.0130), not an ISO image (IMG.0167); only an active
    image with data (IMG.0046)."""
    image_id = str(doc.get("id"))
    if not access.can_modify(caller, image):
        if doc.get("visibility") in ("public", "community") or doc.get("__imagetype") in (
            "gold",
            "market",
        ):
            raise errors.COPY_PUBLIC(image_id=image_id)
        if image.member_status != "accepted":
            raise errors.COPY_NOT_ACCEPTED()
        if caller.read_only:
            raise errors.FORBIDDEN_ACTION(action="copy_image")
    if doc.get("__whole_image") is True:
        raise errors.COPY_WHOLE_IMAGE()
    if doc.get("disk_format") == "iso":
        raise errors.ISO_NOT_SUPPORTED()
    require_data(doc, action="copied")


def copied_document(
    source: Document, request: CopyRequest, *, image_id: str, owner: str, now: int
) -> Document:
    """The new image's document, `saving` until its bytes are in (see the module's
    docstring); the data's own attributes (size, hashes) are set when they are."""
    doc: Document = {k: v for k, v in source.items() if k not in _NOT_COPIED}
    stamp = times.render(now)
    doc.update(
        {
            "id": image_id,
            "name": request.name,
            "__description": request.description,
            "owner": owner,
            "visibility": "private",
            "__imagetype": "private",
            "protected": False,
            "tags": [],
            "status": "saving",
            "created_at": stamp,
            "updated_at": stamp,
            "__originalimagename": str(source["id"]),
            "__isregistered": "true",
        }
    )
    if request.enterprise_project_id is not None:
        doc["enterprise_project_id"] = request.enterprise_project_id
    return documents.canonical(doc, stored=True)


def data_of(source: Document) -> dict[str, Any]:
    """What the copy takes from its source once the bytes are copied: the same bytes have
    the same size, hashes and virtual size."""
    return {
        name: source.get(name)
        for name in ("size", "checksum", "os_hash_algo", "os_hash_value", "virtual_size")
    } | {"__image_size": str(source.get("size"))}
