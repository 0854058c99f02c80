"""The creating calls of the IMS API read as plans: what image a request makes, from which
object of the object storage, in which format, under which IMS job type. Pure rules, no I/O:
the service (`service/creation.py`) checks the object, writes the image and runs the job.

Bodies are the SDK's request models (`CreateImageRequestBody`, `CreateDataImageRequestBody`,
`QuickImportImageByFileRequestBody`, `RegisterImageRequestBody`,
`CreateWholeImageRequestBody`); the rules and derived attributes are in docs/ims-creating.md.
Every refusal is IMS's, raised before anything is written.

What needs a compute, disk or backup service (an ECS `instance_id`, a data disk `volume_id`
or `data_images`, a CBR/CSBS `backup_id`) and what needs KMS (`cmk_id`) is refused at once
with the error IMS answers when that resource does not exist: OpenIMS has none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openims import errors
from openims.domain import documents, os_versions, registry, tags
from openims.domain.obs import ObjectName, parse_object_url

# IMS job types (the `job_type` of `show_job`, as IMS's job query documents them)
IMPORT_IMAGE = "imsImportImageJob"  # a system disk image from an external file
IMPORT_DATA_IMAGE = "imsImportDataImageJob"  # a data disk image from an external file
REGISTER_IMAGE = "imsNativeImportImageJob"  # register_image: fill a queued image from a file
FILE_JOB_TYPES = (IMPORT_IMAGE, IMPORT_DATA_IMAGE, REGISTER_IMAGE)

# `type` of create_image: ECS and FusionCompute make an ECS image, BMS and Ironic a BMS one
IMAGE_TYPES = {
    "ECS": "FusionCompute",
    "FusionCompute": "FusionCompute",
    "BMS": "Ironic",
    "Ironic": "Ironic",
    "IsoImage": "IsoImage",
}
# A file's format, from its name's extension (IMS reads the format of an external file the
# same way). The inspector then checks the bytes against it (domain/formats.py).
EXTENSIONS = {
    "qcow2": "qcow2",
    "vhd": "vhd",
    "vmdk": "vmdk",
    "vdi": "vdi",
    "raw": "raw",
    "img": "raw",
    "iso": "iso",
    "zvhd": "zvhd",
    "zvhd2": "zvhd2",
}
# Quick import takes only files that need no conversion (IMS: RAW and ZVHD2)
QUICK_FORMATS = frozenset({"raw", "zvhd2"})
# min_disk in GB, as the SDK's models document each call
SYSTEM_DISK_GB = (40, 1024)
DATA_DISK_GB = (40, 2048)
QUICK_DISK_GB = (1, 1024)
MAX_RAM_MB = 10**10 - 1  # `max_ram` is stored as a string of at most 10 digits


@dataclass(frozen=True, slots=True)
class FileImport:
    """A new image made from an object: `fields` are the document's attributes (without id,
    owner, times and status), `disk_format` the format the bytes must prove to be."""

    job_type: str
    source: ObjectName
    disk_format: str
    fields: dict[str, Any]


# --- the calls ------------------------------------------------------------------------------
def create_image(body: Any) -> FileImport:
    """`POST /v2/cloudimages/action` (and `/v2.1/…`): a system disk image from `image_url`.
    From an ECS (`instance_id`) or a data disk (`volume_id`, `data_images`): IMS's not-found
    errors."""
    body = _object(body)
    _refuse_compute(body)
    if body.get("image_url") is None:
        raise errors.INVALID_FIELD(
            name="image_url", reason="give instance_id, image_url, volume_id or data_images"
        )
    name = _name(body)
    image_type = _choice(body, "type", IMAGE_TYPES, "ECS", errors.INVALID_IMAGETYPE)
    env = IMAGE_TYPES[image_type]
    architecture = _architecture(body)
    quick = _bool(body, "is_quick_import")
    _bool(body, "is_config")  # OpenIMS changes no byte of an image: nothing to configure
    _cmk(body, bms=env == "Ironic")
    source = parse_object_url(body["image_url"])
    disk_format = file_format(source, iso=env == "IsoImage", quick=quick)
    osv = _os_version(body, required=quick)
    fields = {
        "name": name,
        **_common(body),
        **_system(osv, architecture, env, body),
        "min_disk": _integer(body, "min_disk", *SYSTEM_DISK_GB, required=True),
        **_ram(body),
        **_origin(source),
    }
    return FileImport(IMPORT_IMAGE, source, disk_format, fields)


def create_data_image(body: Any) -> FileImport:
    """`POST /v1/cloudimages/dataimages/action` (and `/v2.1/cloudimages/dataimages/action`):
    a data disk image from `image_url`."""
    body = _object(body)
    name = _name(body)
    _cmk(body, bms=False)
    if body.get("image_url") is None:
        raise errors.OBS_URL_INVALID(reason="image_url is required")
    source = parse_object_url(body["image_url"])
    disk_format = file_format(source, iso=False, quick=False)
    fields = {
        "name": name,
        **_common(body),
        **_data(body),
        "min_disk": _integer(body, "min_disk", *DATA_DISK_GB, required=True),
        **_origin(source),
    }
    return FileImport(IMPORT_DATA_IMAGE, source, disk_format, fields)


def import_image_quick(body: Any) -> FileImport:
    """`POST /v2/cloudimages/quickimport/action` (and `/v2.1/…`): a system disk image (`type`
    ECS or BMS) or a data disk image (`DataImage`) from a RAW or ZVHD2 file, unconverted."""
    body = _object(body)
    name = _name(body)
    kind = _choice(
        body, "type", {"ECS": 1, "BMS": 1, "DataImage": 1}, "ECS", errors.INVALID_IMAGETYPE
    )
    license_type = body.get("license_type")
    if license_type is not None and license_type not in ("platform", "byol"):
        raise errors.INVALID_FIELD(name="license_type", reason="platform or byol")
    if body.get("image_url") is None:
        raise errors.OBS_URL_INVALID(reason="image_url is required")
    source = parse_object_url(body["image_url"])
    disk_format = file_format(source, iso=False, quick=True)
    # every field is checked whatever the type (a system disk's fields on a data image, and
    # the other way round, are still the SDK model's fields)
    architecture = _architecture(body)
    data = _data(body)
    common = {"name": name, **_common(body), **_origin(source)}
    min_disk = _integer(body, "min_disk", *QUICK_DISK_GB, required=True)
    if kind == "DataImage":
        _system(_os_version(body, required=False), architecture, "DataImage", body)
        fields = {**common, **data, "min_disk": min_disk}
        return FileImport(IMPORT_DATA_IMAGE, source, disk_format, fields)
    osv = _os_version(body, required=True)
    system = _system(osv, architecture, IMAGE_TYPES[kind], body)
    fields = {**common, **system, "min_disk": min_disk}
    return FileImport(IMPORT_IMAGE, source, disk_format, fields)


def register_image(body: Any) -> ObjectName:
    """`PUT /v1/cloudimages/{image_id}/upload`: the object whose bytes fill a queued image
    (the image keeps the format its metadata declares)."""
    body = _object(body)
    if body.get("image_url") is None:
        raise errors.OBS_URL_INVALID(reason="image_url is required")
    return parse_object_url(body["image_url"])


def create_whole_image(body: Any) -> None:
    """`POST /v1/cloudimages/wholeimages/action`: a full-ECS image needs an ECS or a CBR/CSBS
    backup, which OpenIMS has none of, so every well-formed request gets IMS's not-found error
    of the resource it names."""
    body = _object(body)
    _name(body)
    _common(body)
    _ram(body)
    if body.get("instance_id") is not None:
        raise errors.INSTANCE_NOT_FOUND(instance_id=_shown(body["instance_id"]))
    backup = body.get("backup_id")
    if backup is None:
        raise errors.INSTANCE_ID_MISSING()
    kind = body.get("whole_image_type")
    if kind not in (None, "CBR", "CSBS"):
        raise errors.INVALID_FIELD(name="whole_image_type", reason="CBR or CSBS")
    if kind == "CBR":
        raise errors.CBR_BACKUP_NOT_FOUND(backup_id=_shown(backup))
    raise errors.BACKUP_NOT_FOUND(backup_id=_shown(backup))


def file_format(source: ObjectName, *, iso: bool, quick: bool) -> str:
    """The disk format of the file `source` names, by its extension (IMG.0057 for one OpenIMS
    does not take: the file is then "in the incorrect format", in IMS's words)."""
    leaf = source.segments[-1]
    extension = leaf.rsplit(".", 1)[1].lower() if "." in leaf else ""
    disk_format = EXTENSIONS.get(extension)
    if disk_format is None:
        raise errors.IMAGE_FILE_INVALID(
            name=str(source),
            reason=f"a file ending in .{', .'.join(sorted(EXTENSIONS))} is expected",
        )
    if iso != (disk_format == "iso"):
        raise errors.IMAGE_FILE_INVALID(
            name=str(source),
            reason="an ISO file makes an IsoImage image, and only one does",
        )
    if quick and disk_format not in QUICK_FORMATS:
        raise errors.IMAGE_FILE_INVALID(
            name=str(source), reason="quick import takes only RAW and ZVHD2 files"
        )
    return disk_format


# --- the parts of a request -----------------------------------------------------------------
def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.BODY_NOT_OBJECT()
    return body


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:64]


def _refuse_compute(body: dict[str, Any]) -> None:
    """ECS, disk and backup based creation: the resource does not exist here."""
    if body.get("instance_id") is not None:
        raise errors.INSTANCE_NOT_FOUND(instance_id=_shown(body["instance_id"]))
    if body.get("volume_id") is not None:
        raise errors.VOLUME_NOT_FOUND(volume_id=_shown(body["volume_id"]))
    data_images = body.get("data_images")
    if data_images is not None:
        if not isinstance(data_images, list) or not data_images:
            raise errors.INVALID_FIELD(name="data_images", reason="a non-empty list of disks")
        first = data_images[0]
        volume = first.get("volume_id") if isinstance(first, dict) else None
        raise errors.VOLUME_NOT_FOUND(volume_id=_shown(volume))


def _name(body: dict[str, Any]) -> str:
    if body.get("name") is None:
        raise errors.NAME_MISSING()
    name = documents.check_name(body["name"])
    assert name is not None
    return name


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise errors.INVALID_FIELD(name=key, reason="true or false")
    return value


def _choice(
    body: dict[str, Any], key: str, allowed: dict[str, Any], default: str, error: Any
) -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise error()
    return value


def _integer(body: dict[str, Any], key: str, low: int, high: int, *, required: bool) -> int:
    value = body.get(key)
    if value is None:
        if required:
            raise errors.INVALID_SIZE(name=key, reason=f"required, {low}-{high}")
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.INVALID_SIZE(name=key, reason=f"an integer of {low}-{high}")
    return value


def _ram(body: dict[str, Any]) -> dict[str, Any]:
    min_ram = _integer(body, "min_ram", 0, 2**31 - 1, required=False)
    fields: dict[str, Any] = {"min_ram": min_ram}
    if body.get("max_ram") is not None:
        max_ram = _integer(body, "max_ram", 0, MAX_RAM_MB, required=False)
        if max_ram and max_ram < min_ram:
            raise errors.INVALID_SIZE(name="max_ram", reason="less than min_ram")
        fields["max_ram"] = str(max_ram)
    return fields


def _cmk(body: dict[str, Any], *, bms: bool) -> None:
    """`cmk_id`: encryption needs KMS. A BMS image cannot be encrypted at all (IMG.0118);
    any other key is one KMS does not have here (IMG.0095)."""
    cmk = body.get("cmk_id")
    if cmk is None or cmk == "":
        return
    if not isinstance(cmk, str):
        raise errors.INVALID_FIELD(name="cmk_id", reason="the ID of a KMS key")
    if bms:
        raise errors.BMS_NO_ENCRYPTION()
    raise errors.KMS_KEY_NOT_FOUND(cmk_id=_shown(cmk))


def _architecture(body: dict[str, Any]) -> str:
    value = body.get("architecture")
    if value is None:
        return "x86"
    if value not in ("x86", "arm"):
        raise errors.INVALID_ARCHITECTURE()
    return str(value)


def _os_version(body: dict[str, Any], *, required: bool) -> os_versions.OsVersion:
    """The entry of the packaged table `os_version` names (IMG.0056 for any other value);
    without one, where IMS lets it be, "Other Linux(64 bit)" as IMS's native create has it."""
    value = body.get("os_version")
    if value is None:
        if required:
            raise errors.OS_VERSION_INVALID(os_version="(none)")
        value = documents.DEFAULT_OS_VERSION
    found = os_versions.by_name().get(value) if isinstance(value, str) else None
    if found is None:
        raise errors.OS_VERSION_INVALID(os_version=_shown(value))
    return found


def _tags(body: dict[str, Any]) -> list[str]:
    """`tags` (IMS's old `key.value` strings) or `image_tags` (`{key, value}`), not both, as
    the Glance strings the image keeps (`key=value`, domain/tags.py); at most 10."""
    old, new = body.get("tags"), body.get("image_tags")
    if old is not None and new is not None:
        raise errors.INVALID_TAG(reason="give either 'tags' or 'image_tags'")
    raw = old if old is not None else new
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.INVALID_TAG(reason="a list of tags")
    found = [tags.v1_tag(t) for t in raw] if old is not None else [tags.check(t) for t in raw]
    keys = [t.key for t in found]
    if len(set(keys)) != len(keys):
        raise errors.INVALID_TAG(reason="each key may appear once")
    if len(found) > tags.MAX_IMS_TAGS:
        raise errors.IMS_TOO_MANY_TAGS(limit=tags.MAX_IMS_TAGS)
    return [t.glance for t in found]


def _common(body: dict[str, Any]) -> dict[str, Any]:
    """What every created image has from its request: description, tags, enterprise project."""
    fields: dict[str, Any] = {}
    description = documents.check_description(body.get("description"))
    if description:
        fields["__description"] = description
    found = _tags(body)
    if found:
        fields["tags"] = found
    project = body.get("enterprise_project_id")
    if project is None or project == "":
        project = "0"
    fields["enterprise_project_id"] = documents.check_value(
        registry.BY_NAME["enterprise_project_id"], project
    )
    return fields


def _system(
    osv: os_versions.OsVersion, architecture: str, env: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The OS attributes and `__support_*` flags of a system disk image."""
    firmware = body.get("hw_firmware_type")
    if firmware is not None and firmware not in ("bios", "uefi"):
        raise errors.INVALID_FIRMWARE(name="hw_firmware_type")
    fields: dict[str, Any] = {
        "__os_version": osv.os_version,
        "__platform": osv.platform,
        "__os_type": osv.os_type,
        "__os_bit": osv.os_bit,
        "virtual_env_type": env,
        # Arm images boot with UEFI ("the boot mode turns to UEFI", IMS says)
        "hw_firmware_type": "uefi" if architecture == "arm" else (firmware or "bios"),
    }
    if architecture == "arm":
        fields["__support_arm"] = "true"
    elif env == "FusionCompute":
        fields["__support_kvm"] = "true"
    return fields


def _data(body: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a data disk image: its OS type only (Linux by default)."""
    os_type = body.get("os_type")
    if os_type is None:
        os_type = "Linux"
    if os_type not in ("Linux", "Windows"):
        raise errors.INVALID_OS_TYPE(name="os_type", reason="Linux or Windows")
    return {"__os_type": os_type, "virtual_env_type": "DataImage"}


def _origin(source: ObjectName) -> dict[str, Any]:
    """Where the image came from, in the attributes IMS records for an external file."""
    return {
        "__data_origin": f"file,{source}",
        "__root_origin": "file",
        "__image_source_type": "uds",
        "__isregistered": "true",
        "__imagetype": "private",
        "visibility": "private",
        "protected": False,
        "container_format": "bare",
    }
