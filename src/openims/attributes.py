"""The attribute registry: every image attribute OpenIMS knows, each described once.

Everything that has to agree about an attribute reads this table instead of keeping its own
list: document validation and rendering (`domain.documents`), the storage columns and indexes
(`store.tables`), query filters and sort keys (`domain.query`), the PATCH rules
(`domain.patch`), `GET /v2/schemas/image` and the OpenAPI description.

The set is the union of the attributes in the IMS seed documents (the three editions of
"Querying Images", its response-parameter page and the native PATCH page), the SDK's
`ImageInfo` model and the Glance v2 base schema. Attributes absent from the registry are
*custom properties*: always strings, stored in a side table, modifiable by the owner.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.Enum):
    """The JSON type of an attribute's value in an image document."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATETIME = "datetime"  # a string `YYYY-MM-DDThh:mm:ssZ`, stored as epoch seconds
    TAGS = "tags"  # the list of tag strings
    LINK = "link"  # computed from the id (`self`, `file`, `schema`); never stored apart


class Presence(enum.Enum):
    """When an attribute appears in a rendered document."""

    ALWAYS = "always"  # every document has the key, `null` when unknown
    WHEN_SET = "when_set"  # the key appears only when the image has a value
    NEVER = "never"  # known only so that writes to it get the right refusal


class Change(enum.Enum):
    """What PATCH may do to an attribute (IMS: only name, description and custom attributes,
    plus the extension attributes IMS documents as updatable)."""

    MODIFIABLE = "modifiable"  # the owner (or an admin) may add, replace and remove it
    KEEP = "keep"  # may be replaced but never removed (Glance: "may not be removed")
    ADMIN = "admin"  # only an admin may change it (owner)
    VISIBILITY = "visibility"  # its own rule: members choose private/shared, admins public
    FIXED = "fixed"  # set when the image is created, read-only afterwards
    READ_ONLY = "read_only"  # 403 "Attribute 'x' is read-only." (never set by a client)
    RESERVED = "reserved"  # 403 "Attribute 'x' is reserved." (IMS system attributes)


class Filter(enum.Enum):
    """How a query-string filter on the attribute is read."""

    EXACT = "exact"  # string equality, case-sensitive
    INTEGER = "integer"  # integer equality
    BOOLEAN = "boolean"  # true/false (also True/False)
    TIME = "time"  # `op:time` with op in gt, gte, lt, lte, eq, neq


@dataclass(frozen=True, slots=True)
class Attribute:
    """One image attribute and every rule that concerns it."""

    name: str
    kind: Kind
    description: str
    presence: Presence = Presence.WHEN_SET
    change: Change = Change.RESERVED
    default: Any = None
    nullable: bool = True
    filter: Filter | None = None
    sortable: bool = False
    indexed: bool = False
    enum: tuple[str, ...] | None = None
    max_length: int | None = None
    # the range of an integer, or of the number a digits-only string spells (its `pattern`
    # says digits): IMS keeps some numbers as strings, e.g. `os_shutdown_timeout` "60"-"300"
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None  # a regular expression the whole value must match
    error: str | None = None  # the error-catalogue key for an invalid value, if not generic
    # attributes an image may not have together with this one (IMS: "cannot co-exist with")
    excludes: tuple[str, ...] = ()
    # the IMS update API (PATCH /v2/cloudimages/{id}) may change it: the attributes its
    # documentation lists (the newest edition's list, plus `__support_kvm` of the older one)
    ims_update: bool = False
    column: str | None = field(default=None)

    @property
    def stored(self) -> bool:
        """True when the attribute has a column in the images table."""
        return self.column is not None

    @property
    def extension(self) -> bool:
        """IMS extension attributes are the `__` ones and the hardware hints."""
        return self.name.startswith("__") or self.name.startswith("hw_")


def _column_name(name: str) -> str:
    """`__system__cmkid` → `system_cmkid`: a plain SQL identifier for an attribute."""
    return re.sub(r"_+", "_", name.strip("_"))


def _attr(name: str, kind: Kind, description: str, **kw: Any) -> Attribute:
    stored = kw.pop("stored", kind not in (Kind.LINK, Kind.TAGS))
    presence = kw.get("presence", Presence.WHEN_SET)
    column = _column_name(name) if stored and presence is not Presence.NEVER else None
    return Attribute(name=name, kind=kind, description=description, column=column, **kw)


S, I, B, T = Kind.STRING, Kind.INTEGER, Kind.BOOLEAN, Kind.DATETIME  # noqa: E741
A, W, N = Presence.ALWAYS, Presence.WHEN_SET, Presence.NEVER

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
STATUSES = (
    "queued",
    "saving",
    "active",
    "killed",
    "deleted",
    "pending_delete",
    "importing",
    "uploading",
    "deactivated",
)
VISIBILITIES = ("public", "private", "shared", "community")
DISK_FORMATS = (
    "zvhd2",
    "vhd",
    "zvhd",
    "raw",
    "qcow2",
    "iso",
    "vmdk",
    "vdi",
    "ami",
    "ari",
    "aki",
    "ploop",
)
CONTAINER_FORMATS = ("bare", "ami", "ari", "aki", "ovf", "ova", "docker", "compressed")
PLATFORMS = (
    "Windows",
    "Ubuntu",
    "RedHat",
    "SUSE",
    "CentOS",
    "Debian",
    "OpenSUSE",
    "Oracle Linux",
    "Fedora",
    "Other",
    "CoreOS",
    "EulerOS",
)
OS_TYPES = ("Linux", "Windows", "Other")
IMAGE_TYPES = ("gold", "private", "shared", "market")
VIRTUAL_ENV_TYPES = ("FusionCompute", "Ironic", "DataImage", "IsoImage")
TRUE_FALSE = ("true", "false")

_TRUE_FLAG = (
    "The value is **true** when the image has the feature; otherwise the attribute is absent."
)

# The order of this tuple is the order of keys in a rendered document (custom properties
# follow, sorted by name). It follows the seed's PATCH response example.
REGISTRY: tuple[Attribute, ...] = (
    _attr(
        "file",
        Kind.LINK,
        "URL for uploading and downloading the image file.",
        presence=A,
        change=Change.READ_ONLY,
    ),
    _attr(
        "owner",
        S,
        "The project (tenant) the image belongs to.",
        presence=A,
        change=Change.ADMIN,
        filter=Filter.EXACT,
        indexed=True,
        max_length=255,
        nullable=False,
    ),
    _attr(
        "id",
        S,
        "The image ID (a UUID).",
        presence=A,
        change=Change.READ_ONLY,
        filter=Filter.EXACT,
        sortable=True,
        pattern=UUID_PATTERN,
        max_length=36,
        nullable=False,
    ),
    _attr(
        "size",
        I,
        "Size of the image file in bytes (not used yet).",
        presence=A,
        change=Change.READ_ONLY,
        sortable=True,
        minimum=0,
    ),
    _attr("self", Kind.LINK, "The image URL.", presence=A, change=Change.READ_ONLY),
    _attr("schema", Kind.LINK, "The image schema URL.", presence=A, change=Change.READ_ONLY),
    _attr(
        "status",
        S,
        "Image status.",
        presence=A,
        change=Change.READ_ONLY,
        default="queued",
        filter=Filter.EXACT,
        sortable=True,
        indexed=True,
        enum=STATUSES,
        nullable=False,
    ),
    _attr(
        "tags",
        Kind.TAGS,
        "Tags of the image.",
        presence=A,
        change=Change.MODIFIABLE,
        default=(),
        nullable=False,
    ),
    _attr(
        "visibility",
        S,
        "Whether other tenants can see the image.",
        presence=A,
        change=Change.VISIBILITY,
        default="private",
        filter=Filter.EXACT,
        indexed=True,
        enum=VISIBILITIES,
        nullable=False,
    ),
    _attr(
        "name",
        S,
        "The image name: 1-128 characters (letters, digits, Chinese characters, "
        "spaces, '-', '.', '_'), not starting or ending with a space.",
        presence=A,
        change=Change.KEEP,
        ims_update=True,
        filter=Filter.EXACT,
        sortable=True,
        indexed=True,
        max_length=128,
        error="invalid_name",
    ),
    _attr(
        "checksum",
        S,
        "MD5 of the image file (not used yet).",
        presence=A,
        change=Change.READ_ONLY,
        max_length=32,
    ),
    _attr(
        "deleted",
        B,
        "Whether the image has been deleted.",
        presence=A,
        change=Change.READ_ONLY,
        default=False,
        nullable=False,
    ),
    _attr(
        "protected",
        B,
        "A protected image cannot be deleted.",
        presence=A,
        change=Change.KEEP,
        default=False,
        filter=Filter.BOOLEAN,
        nullable=False,
    ),
    _attr(
        "container_format",
        S,
        "Container format.",
        presence=A,
        change=Change.FIXED,
        default="bare",
        filter=Filter.EXACT,
        sortable=True,
        enum=CONTAINER_FORMATS,
    ),
    _attr(
        "min_ram",
        I,
        "Minimum memory (MB) needed to run the image.",
        presence=A,
        change=Change.KEEP,
        ims_update=True,
        default=0,
        filter=Filter.INTEGER,
        minimum=0,
        maximum=2**31 - 1,
        nullable=False,
        error="invalid_size",
    ),
    _attr(
        "max_ram",
        S,
        "Maximum memory (MB) the image supports, as a string.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        pattern=r"[0-9]{1,10}",
        error="invalid_size",
    ),
    _attr(
        "updated_at",
        T,
        "When the image was last updated (UTC).",
        presence=A,
        change=Change.READ_ONLY,
        filter=Filter.TIME,
        sortable=True,
        nullable=False,
    ),
    _attr("__os_bit", S, "OS architecture: 32 or 64 bit.", filter=Filter.EXACT, enum=("32", "64")),
    _attr(
        "__os_version",
        S,
        "OS version, e.g. `CentOS 7.3 64bit`.",
        filter=Filter.EXACT,
        max_length=255,
    ),
    _attr(
        "__description",
        S,
        "Image description: at most 1024 characters, no carriage return and no '<' or '>'.",
        change=Change.MODIFIABLE,
        ims_update=True,
        max_length=1024,
        error="invalid_description",
    ),
    _attr(
        "disk_format",
        S,
        "Image format.",
        presence=A,
        change=Change.FIXED,
        default="zvhd2",
        filter=Filter.EXACT,
        sortable=True,
        enum=DISK_FORMATS,
    ),
    _attr(
        "__isregistered",
        S,
        "Whether the image is registered (usable): true or false.",
        presence=A,
        default="true",
        filter=Filter.EXACT,
        indexed=True,
        enum=TRUE_FALSE,
        nullable=False,
    ),
    _attr(
        "__platform",
        S,
        "Platform (distribution family) of the OS.",
        filter=Filter.EXACT,
        indexed=True,
        enum=PLATFORMS,
    ),
    _attr(
        "__os_type",
        S,
        "OS type: Linux, Windows or Other.",
        presence=A,
        default="Linux",
        filter=Filter.EXACT,
        indexed=True,
        enum=OS_TYPES,
        error="invalid_os_type",
        nullable=False,
    ),
    _attr(
        "min_disk",
        I,
        "Minimum disk (GB) needed to run the image.",
        presence=A,
        change=Change.FIXED,
        default=0,
        filter=Filter.INTEGER,
        minimum=0,
        maximum=1024,
        nullable=False,
        error="invalid_size",
    ),
    _attr(
        "virtual_env_type",
        S,
        "Where the image is used: FusionCompute (ECS system disk), "
        "DataImage, Ironic (BMS) or IsoImage.",
        presence=A,
        default="FusionCompute",
        filter=Filter.EXACT,
        indexed=True,
        enum=VIRTUAL_ENV_TYPES,
        nullable=False,
    ),
    _attr("__image_source_type", S, "Backend storage type (uds).", presence=A, default="uds"),
    _attr(
        "__imagetype",
        S,
        "Image type: gold (public), private, shared or market.",
        presence=A,
        default="private",
        filter=Filter.EXACT,
        indexed=True,
        enum=IMAGE_TYPES,
        error="invalid_imagetype",
        nullable=False,
    ),
    _attr(
        "created_at",
        T,
        "When the image was created (UTC).",
        presence=A,
        change=Change.READ_ONLY,
        filter=Filter.TIME,
        sortable=True,
        nullable=False,
    ),
    _attr(
        "virtual_size",
        I,
        "Virtual size of the image (not used yet).",
        presence=A,
        change=Change.READ_ONLY,
        minimum=0,
    ),
    _attr(
        "deleted_at", T, "When the image was deleted (UTC).", presence=A, change=Change.READ_ONLY
    ),
    _attr(
        "__originalimagename",
        S,
        "Parent image ID; empty for public images and images created from a file.",
    ),
    _attr("__backup_id", S, "ID of the backup the image was created from, or empty."),
    _attr("__productcode", S, "Marketplace product ID."),
    _attr(
        "__image_size",
        S,
        "Size of the image file in bytes, as a string.",
        presence=A,
        default="0",
        pattern=r"[0-9]{1,20}",
    ),
    _attr("__data_origin", S, "Where the image came from; empty for public images."),
    _attr(
        "__lazyloading",
        S,
        "Whether the image supports lazy loading.",
        enum=("true", "false", "True", "False"),
    ),
    _attr("active_at", T, "When the image became active (UTC).", change=Change.READ_ONLY),
    _attr("__os_feature_list", S, "Advanced features of the image, as a JSON list in a string."),
    _attr(
        "hw_firmware_type",
        S,
        "Boot mode of the ECS: bios or uefi.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        enum=("bios", "uefi"),
        error="invalid_firmware",
    ),
    _attr(
        "hw_vif_multiqueue_enabled",
        S,
        "Whether the image supports NIC multi-queue.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        enum=TRUE_FALSE,
    ),
    _attr(
        "__support_kvm",
        S,
        f"KVM support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        indexed=True,
        max_length=255,  # indexed: keeps the entry within PostgreSQL's limit
    ),
    _attr(
        "__support_xen",
        S,
        f"Xen support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_largememory",
        S,
        f"Large-memory ECS support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_diskintensive",
        S,
        f"Disk-intensive ECS support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_highperformance",
        S,
        f"High-performance ECS support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_xen_gpu_type",
        S,
        "GPU type supported on Xen; absent when none. Cannot co-exist with `__support_xen` "
        "and `__support_kvm`.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        excludes=("__support_xen", "__support_kvm"),
    ),
    _attr(
        "__support_kvm_gpu_type",
        S,
        "GPU type supported on KVM; absent when none. Cannot co-exist with `__support_xen` "
        "and `__support_kvm`.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        excludes=("__support_xen", "__support_kvm"),
    ),
    _attr(
        "__support_xen_hana",
        S,
        f"HANA ECS support on Xen. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_infiniband",
        S,
        f"InfiniBand NIC support on KVM. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_fpga_type",
        S,
        "FPGA type supported on KVM; absent when none.",
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_fc_inject",
        S,
        "When true, Cloud-Init password/key injection is not supported.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_arm",
        S,
        "Whether the image is for the Arm architecture.",
        filter=Filter.EXACT,
        indexed=True,
        enum=TRUE_FALSE,
    ),
    _attr(
        "__support_amd",
        S,
        "Whether the image uses AMD's x86 architecture.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        enum=TRUE_FALSE,
    ),
    _attr(
        "__support_agent_list",
        S,
        "Host security / monitoring agents the image supports, e.g. `hss,ces`.",
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_hi1822_hisriov",
        S,
        f"Hi1822 SR-IOV NIC support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_hi1822_hivirtionet",
        S,
        f"Hi1822 virtio NIC support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr("__system_support_market", B, "Whether the image can be published in the Marketplace."),
    _attr("__is_offshelved", S, "Whether a Marketplace image is off the shelf.", enum=TRUE_FALSE),
    _attr("__root_origin", S, "`file` when the image was imported from an external file."),
    _attr("__sequence_num", S, "System disk slot number of the ECS the image came from."),
    _attr(
        "__system__cmkid",
        S,
        "ID of the KMS key that encrypts the image.",
        filter=Filter.EXACT,
        indexed=True,
        max_length=255,  # indexed: keeps the entry within PostgreSQL's limit
    ),
    _attr("__account_code", S, "Charging identifier of a paid image."),
    _attr(
        "__whole_image",
        B,
        "Whether the image is a full-ECS image.",
        filter=Filter.BOOLEAN,
        indexed=True,
    ),
    _attr(
        "__is_config_init",
        S,
        "Whether initial configuration is done.",
        change=Change.MODIFIABLE,
        ims_update=True,
        enum=TRUE_FALSE,
    ),
    _attr("__image_displayname", S, "Display name of the image."),
    _attr(
        "enterprise_project_id",
        S,
        "Enterprise project: `0` (default) or a UUID.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        indexed=True,
        pattern=rf"0|{UUID_PATTERN}",
    ),
    _attr(
        "os_shutdown_timeout",
        S,
        "Seconds to wait for a graceful shutdown (60-300), as a string.",
        change=Change.MODIFIABLE,
        pattern=r"[0-9]{1,4}",
        minimum=60,
        maximum=300,
    ),
    # Glance base attributes that OpenIMS never stores: writing them is refused by name.
    _attr(
        "os_hash_algo", S, "Hash algorithm of the image file.", presence=N, change=Change.READ_ONLY
    ),
    _attr("os_hash_value", S, "Hash of the image file.", presence=N, change=Change.READ_ONLY),
    _attr("direct_url", S, "Direct URL of the image data.", presence=N, change=Change.READ_ONLY),
    _attr("locations", S, "Locations of the image data.", presence=N, change=Change.READ_ONLY),
    _attr("stores", S, "Stores holding the image data.", presence=N, change=Change.READ_ONLY),
)

BY_NAME: dict[str, Attribute] = {a.name: a for a in REGISTRY}
# (attribute, attribute it cannot co-exist with), from `Attribute.excludes`
EXCLUSIONS: tuple[tuple[str, str], ...] = tuple((a.name, o) for a in REGISTRY for o in a.excludes)
ORDER: dict[str, int] = {a.name: i for i, a in enumerate(REGISTRY)}

# Custom property names that Glance reserves for itself.
RESERVED_PREFIXES: tuple[str, ...] = ("os_glance_",)
CUSTOM_NAME_MAX = 255
# Glance keeps property values as text; the value index is a hash on PostgreSQL, so length is
# bounded only to keep one image's document a sane size.
CUSTOM_VALUE_MAX = 65535


def get(name: str) -> Attribute | None:
    """The registered attribute called `name`, or None for a custom property."""
    return BY_NAME.get(name)


def stored() -> Iterator[Attribute]:
    """Attributes with a column of their own, in registry order."""
    return (a for a in REGISTRY if a.stored)


def rendered() -> Iterator[Attribute]:
    """Attributes that can appear in a document, in registry order."""
    return (a for a in REGISTRY if a.presence is not Presence.NEVER)


def filterable() -> Iterator[Attribute]:
    return (a for a in REGISTRY if a.filter is not None)


def sort_keys() -> tuple[str, ...]:
    return tuple(a.name for a in REGISTRY if a.sortable)


def is_support_flag(name: str) -> bool:
    """`__support_<anything>` names a feature flag, registered or not (`__support_s4l`)."""
    return name.startswith("__support_") and len(name) > len("__support_")
