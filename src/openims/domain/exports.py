"""Exporting an image to the IMS object storage (`export_image`, `POST /v1/cloudimages/{id}/file`
and its v2.1 twin): what a request may ask for, who may export which image, and how each
export format is written with `qemu-img` (docs/ims-export-copy.md).

IMS documents `file_format` qcow2, vhd, zvhd and vmdk, and `is_quick_export`, which writes the
image as IMS stores it (zvhd2) without converting it and without a `file_format`. OpenIMS
converts to qcow2, vhd (qemu's `vpc`, a dynamic VHD whose size is the disk's exactly) and vmdk
(a monolithic sparse VMDK, the kind every inspector, Glance's included, accepts). Huawei's zvhd
and zvhd2 are formats no free tool writes: asking for them is IMS's IMG.0072, rather than a
file that only claims to be one. A quick export writes the image's bytes as they are stored,
in the image's own `disk_format` — what "quick" means in IMS too (no conversion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openims import errors
from openims.domain import access
from openims.domain.access import Caller, ImageAccess
from openims.domain.documents import Document
from openims.domain.obs import ObjectName, parse_object_url

GIB = 1 << 30
# IMS: "The image size must be less than 1 TB. Images larger than 128 GB support only fast
# export." (its IMG.0160 and IMG.0059)
CONVERT_LIMIT_GIB = 128
EXPORT_LIMIT = 1 << 40


@dataclass(frozen=True, slots=True)
class Target:
    """How `qemu-img convert` writes one export format."""

    qemu_format: str
    options: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    "qcow2": Target("qcow2", ("-o", "compat=1.1")),
    # IMS's VHD is Microsoft's Virtual Hard Disk, qemu's `vpc`. force_size keeps the disk's
    # size exactly: without it qemu rounds it up to a cylinder/head/sector geometry, and
    # `qemu-img info` would read back a larger disk
    "vhd": Target("vpc", ("-o", "subformat=dynamic,force_size=on")),
    "vmdk": Target("vmdk", ("-o", "subformat=monolithicSparse")),
}
HUAWEI_ONLY = ("zvhd", "zvhd2")

# The format qemu-img reads an image's stored bytes as (`-f`, never a guess). An image's bytes
# matched its `disk_format` when they were stored (domain.formats); a disk format the
# inspector cannot read was stored as raw bytes, and is read as raw.
SOURCE_FORMATS = {
    "qcow2": "qcow2",
    "vhd": "vpc",
    "vhdx": "vhdx",
    "vmdk": "vmdk",
    "vdi": "vdi",
    "raw": "raw",
}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A checked export request: where to, and as what (None: a quick export, as stored)."""

    target: ObjectName
    file_format: str | None

    @property
    def quick(self) -> bool:
        return self.file_format is None


def parse(fields: dict[str, Any]) -> ExportRequest:
    """The body of an export (`ExportImageRequestBody`), checked before anything is looked up:
    `bucket_url` ("bucket:key", domain.obs's rules), `file_format` unless `is_quick_export`,
    and not with it (IMS: "if fast export is enabled, file_format cannot be specified")."""
    if fields.get("bucket_url") is None:
        raise errors.INVALID_FIELD(name="bucket_url", reason="required: 'bucket:object'")
    target = parse_object_url(fields["bucket_url"])
    quick = fields.get("is_quick_export")
    if quick is None:
        quick = False
    if not isinstance(quick, bool):
        raise errors.INVALID_FIELD(name="is_quick_export", reason="true or false")
    file_format = fields.get("file_format")
    if quick:
        if file_format is not None:
            raise errors.INVALID_FIELD(
                name="file_format", reason="cannot be given with is_quick_export"
            )
        return ExportRequest(target, None)
    if file_format is None:
        raise errors.INVALID_FIELD(
            name="file_format", reason="required unless is_quick_export (qcow2, vhd or vmdk)"
        )
    if file_format in HUAWEI_ONLY:
        raise errors.EXPORT_FORMAT_UNSUPPORTED(
            reason=f"{file_format} is a Huawei format this service cannot write; export as "
            "vhd, or with is_quick_export for the image as it is stored"
        )
    if not isinstance(file_format, str) or file_format not in TARGETS:
        raise errors.EXPORT_FORMAT_UNSUPPORTED(
            reason=f"{str(file_format)[:40]!r}; use qcow2, vhd or vmdk"
        )
    return ExportRequest(target, file_format)


def admit(caller: Caller, image: ImageAccess, doc: Document, request: ExportRequest) -> None:
    """Whether the caller may export this image (which it sees: `require_visible` ran), in
    IMS's order and words: only the owner's own private images (a public image is IMG.0077,
    someone else's shared one IMG.0047), only an active image with data (IMG.0046), never an
    ISO image (IMG.0167) or a full-ECS image (IMG.0128), and within the sizes IMS allows."""
    image_id = str(doc.get("id"))
    public = doc.get("visibility") in ("public", "community") or doc.get("__imagetype") in (
        "gold",
        "market",
    )
    if public and not caller.is_admin:
        raise errors.EXPORT_PUBLIC()
    if not access.can_modify(caller, image):
        raise errors.OWNER_ONLY(image_id=image_id)
    require_data(doc, action="exported")
    if doc.get("disk_format") == "iso":
        raise errors.ISO_NOT_SUPPORTED()
    if doc.get("__whole_image") is True:
        raise errors.EXPORT_WHOLE_IMAGE()
    size = int(doc.get("size") or 0)
    if size >= EXPORT_LIMIT:
        raise errors.EXPORT_FILE_TOO_LARGE(reason="an exported image must be smaller than 1 TB")
    if not request.quick and size > CONVERT_LIMIT_GIB * GIB:
        raise errors.EXPORT_TOO_LARGE(limit=CONVERT_LIMIT_GIB)


def require_data(doc: Document, *, action: str) -> None:
    """An image whose bytes can be read: `active`, and holding data (an image imported from
    another catalog without its bytes has no `stores`). Otherwise IMS's IMG.0046."""
    status = str(doc.get("status"))
    if status != "active":
        raise errors.IMAGE_UNAVAILABLE(image_id=doc.get("id"), status=status, action=action)
    if doc.get("stores") is None or doc.get("size") is None:
        raise errors.IMAGE_UNAVAILABLE(
            image_id=doc.get("id"), status="active without data", action=action
        )


def source_format(doc: Document) -> str:
    """The format `qemu-img` reads the image's stored bytes as (see SOURCE_FORMATS)."""
    return SOURCE_FORMATS.get(str(doc.get("disk_format")), "raw")


def output_bound(virtual_size: int) -> int:
    """The most bytes a converted file may take: a sparse format of a disk of `virtual_size`
    holds at most the disk and its metadata (tables of a few MiB per GiB at worst); a
    conversion past this bound is stopped rather than allowed to fill the disk."""
    return virtual_size + virtual_size // 16 + (64 << 20)
