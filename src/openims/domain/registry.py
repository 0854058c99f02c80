"""The attribute registry: every image attribute OpenIMS knows, each described once.

Everything that has to agree about an attribute reads this table instead of keeping its own
list: document validation and rendering (`domain.documents`), the storage columns and indexes
(`store.tables`), query filters and sort keys (`domain.query`), the PATCH rules
(`domain.patch`), `GET /v2/schemas/image` and the OpenAPI description.

The set is the union of the attributes in the IMS seed documents (the three editions of
"Querying Images", its response-parameter page and the PATCH page of its "Native OpenStack
API"), the SDK's `ImageInfo` model and the Glance v2 base schema. Attributes absent from the
registry are *custom properties*: always strings, stored in a side table, modifiable by the
owner.
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
    # a sort key of a face (Glance's, IMS's or the console's): stored NOT NULL, a missing
    # value as its SORT_FILL, so that keyset paging compares row values directly
    sortable: bool = False
    # an index (column, created_at, id) serves its filter, and its sort, at any catalog size:
    # the filters the lists are used with most and every column the console sorts by
    indexed: bool = False
    enum: tuple[str, ...] | None = None
    max_length: int | None = None  # the longest value a document may hold
    # a tighter bound for values written through the APIs (POST, both PATCH faces) than for
    # documents, which may come from an import of another region's or Glance's catalog
    api_max_length: int | None = None
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


UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# An image id as it is stored and shown: a UUID in lower case (a given one is lower-cased).
IMAGE_ID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
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
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
    ),
    _attr(
        "owner",
        Kind.STRING,
        "The project (tenant) the image belongs to.",
        presence=Presence.ALWAYS,
        change=Change.ADMIN,
        filter=Filter.EXACT,
        indexed=True,
        max_length=255,
        nullable=False,
    ),
    _attr(
        "id",
        Kind.STRING,
        "The image ID (a UUID).",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
        filter=Filter.EXACT,
        sortable=True,
        pattern=UUID_PATTERN,
        max_length=36,
        nullable=False,
    ),
    _attr(
        "size",
        Kind.INTEGER,
        "Size of the image file in bytes; null until the image has data.",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
        sortable=True,
        indexed=True,  # the console's Size column
        minimum=0,
    ),
    _attr("self", Kind.LINK, "The image URL.", presence=Presence.ALWAYS, change=Change.READ_ONLY),
    _attr(
        "schema",
        Kind.LINK,
        "The image schema URL.",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
    ),
    _attr(
        "status",
        Kind.STRING,
        "Image status.",
        presence=Presence.ALWAYS,
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
        presence=Presence.ALWAYS,
        change=Change.MODIFIABLE,
        default=(),
        nullable=False,
    ),
    _attr(
        "visibility",
        Kind.STRING,
        "Whether other tenants can see the image.",
        presence=Presence.ALWAYS,
        change=Change.VISIBILITY,
        default="private",
        filter=Filter.EXACT,
        indexed=True,
        enum=VISIBILITIES,
        nullable=False,
    ),
    _attr(
        "name",
        Kind.STRING,
        "The image name. Written through the API: 1-128 characters (letters, digits, Chinese "
        "characters, spaces, '-', '.', '_'), not starting or ending with a space. Imported "
        "catalogs (another region's, Glance's) may hold any string of up to 255 characters.",
        presence=Presence.ALWAYS,
        change=Change.KEEP,
        ims_update=True,
        filter=Filter.EXACT,
        sortable=True,
        indexed=True,
        max_length=255,  # Glance's bound; indexed: within PostgreSQL's entry limit
        api_max_length=128,
        error="invalid_name",
    ),
    _attr(
        "checksum",
        Kind.STRING,
        "MD5 of the image file (hexadecimal); null until the image has data.",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
        max_length=32,
    ),
    _attr(
        "deleted",
        Kind.BOOLEAN,
        "Whether the image has been deleted.",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
        default=False,
        nullable=False,
    ),
    _attr(
        "protected",
        Kind.BOOLEAN,
        "A protected image cannot be deleted.",
        presence=Presence.ALWAYS,
        change=Change.KEEP,
        default=False,
        filter=Filter.BOOLEAN,
        nullable=False,
    ),
    # Glance's (since Rocky): rendered on every image, right after `protected` (migration
    # 0006 puts it there in documents stored before it existed)
    _attr(
        "os_hidden",
        Kind.BOOLEAN,
        "A hidden image is left out of the Glance list `GET /v2/images` unless the query says "
        "`os_hidden=true`; `GET /v2/images/{id}` and the IMS list still show it.",
        presence=Presence.ALWAYS,
        change=Change.KEEP,
        default=False,
        filter=Filter.BOOLEAN,
        indexed=True,  # the Glance list filters on it by default
        nullable=False,
    ),
    _attr(
        "container_format",
        Kind.STRING,
        "Container format.",
        presence=Presence.ALWAYS,
        change=Change.FIXED,
        default="bare",
        filter=Filter.EXACT,
        sortable=True,
        enum=CONTAINER_FORMATS,
    ),
    _attr(
        "min_ram",
        Kind.INTEGER,
        "Minimum memory (MB) needed to run the image.",
        presence=Presence.ALWAYS,
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
        Kind.STRING,
        "Maximum memory (MB) the image supports, as a string.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        pattern=r"[0-9]{1,10}",
        error="invalid_size",
    ),
    _attr(
        "updated_at",
        Kind.DATETIME,
        "When the image was last updated (UTC).",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
        filter=Filter.TIME,
        sortable=True,
        nullable=False,
    ),
    _attr(
        "__os_bit",
        Kind.STRING,
        "OS architecture: 32 or 64 bit.",
        filter=Filter.EXACT,
        enum=("32", "64"),
    ),
    _attr(
        "__os_version",
        Kind.STRING,
        "OS version, e.g. `CentOS 7.3 64bit`.",
        filter=Filter.EXACT,
        sortable=True,  # the console's OS column
        indexed=True,
        max_length=255,
    ),
    _attr(
        "__description",
        Kind.STRING,
        "Image description: at most 1024 characters, no carriage return and no '<' or '>'.",
        change=Change.MODIFIABLE,
        ims_update=True,
        max_length=1024,
        error="invalid_description",
    ),
    _attr(
        "disk_format",
        Kind.STRING,
        "Image format.",
        presence=Presence.ALWAYS,
        change=Change.FIXED,
        default="zvhd2",
        filter=Filter.EXACT,
        sortable=True,
        indexed=True,
        enum=DISK_FORMATS,
    ),
    _attr(
        "__isregistered",
        Kind.STRING,
        "Whether the image is registered (usable): true or false.",
        presence=Presence.ALWAYS,
        default="true",
        filter=Filter.EXACT,
        indexed=True,
        enum=TRUE_FALSE,
        nullable=False,
    ),
    _attr(
        "__platform",
        Kind.STRING,
        "Platform (distribution family) of the OS.",
        filter=Filter.EXACT,
        indexed=True,
        enum=PLATFORMS,
    ),
    _attr(
        "__os_type",
        Kind.STRING,
        "OS type: Linux, Windows or Other.",
        presence=Presence.ALWAYS,
        default="Linux",
        filter=Filter.EXACT,
        indexed=True,
        enum=OS_TYPES,
        error="invalid_os_type",
        nullable=False,
    ),
    _attr(
        "min_disk",
        Kind.INTEGER,
        "Minimum disk (GB) needed to run the image.",
        presence=Presence.ALWAYS,
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
        Kind.STRING,
        "Where the image is used: FusionCompute (ECS system disk), "
        "DataImage, Ironic (BMS) or IsoImage.",
        presence=Presence.ALWAYS,
        default="FusionCompute",
        filter=Filter.EXACT,
        indexed=True,
        enum=VIRTUAL_ENV_TYPES,
        nullable=False,
    ),
    _attr(
        "__image_source_type",
        Kind.STRING,
        "Backend storage type (uds).",
        presence=Presence.ALWAYS,
        default="uds",
    ),
    _attr(
        "__imagetype",
        Kind.STRING,
        "Image type: gold (public), private, shared or market.",
        presence=Presence.ALWAYS,
        default="private",
        filter=Filter.EXACT,
        sortable=True,  # the console's Type column
        indexed=True,
        enum=IMAGE_TYPES,
        error="invalid_imagetype",
        nullable=False,
    ),
    _attr(
        "created_at",
        Kind.DATETIME,
        "When the image was created (UTC).",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
        filter=Filter.TIME,
        sortable=True,
        nullable=False,
    ),
    _attr(
        "virtual_size",
        Kind.INTEGER,
        "Virtual size of the disk the image holds, as its format header says; null when unknown.",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
        minimum=0,
    ),
    _attr(
        "deleted_at",
        Kind.DATETIME,
        "When the image was deleted (UTC).",
        presence=Presence.ALWAYS,
        change=Change.READ_ONLY,
    ),
    _attr(
        "__originalimagename",
        Kind.STRING,
        "Parent image ID; empty for public images and images created from a file.",
    ),
    _attr("__backup_id", Kind.STRING, "ID of the backup the image was created from, or empty."),
    _attr("__productcode", Kind.STRING, "Marketplace product ID."),
    _attr(
        "__image_size",
        Kind.STRING,
        "Size of the image file in bytes, as a string.",
        presence=Presence.ALWAYS,
        default="0",
        pattern=r"[0-9]{1,20}",
    ),
    _attr("__data_origin", Kind.STRING, "Where the image came from; empty for public images."),
    _attr(
        "__lazyloading",
        Kind.STRING,
        "Whether the image supports lazy loading.",
        enum=("true", "false", "True", "False"),
    ),
    _attr(
        "active_at", Kind.DATETIME, "When the image became active (UTC).", change=Change.READ_ONLY
    ),
    _attr(
        "__os_feature_list",
        Kind.STRING,
        "Advanced features of the image, as a JSON list in a string.",
    ),
    _attr(
        "hw_firmware_type",
        Kind.STRING,
        "Boot mode of the ECS: bios or uefi.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        enum=("bios", "uefi"),
        error="invalid_firmware",
    ),
    _attr(
        "hw_vif_multiqueue_enabled",
        Kind.STRING,
        "Whether the image supports NIC multi-queue.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        enum=TRUE_FALSE,
    ),
    _attr(
        "__support_kvm",
        Kind.STRING,
        f"KVM support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        indexed=True,
        max_length=255,  # indexed: keeps the entry within PostgreSQL's limit
    ),
    _attr(
        "__support_xen",
        Kind.STRING,
        f"Xen support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_largememory",
        Kind.STRING,
        f"Large-memory ECS support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_diskintensive",
        Kind.STRING,
        f"Disk-intensive ECS support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_highperformance",
        Kind.STRING,
        f"High-performance ECS support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_xen_gpu_type",
        Kind.STRING,
        "GPU type supported on Xen; absent when none. Cannot co-exist with `__support_xen` "
        "and `__support_kvm`.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        excludes=("__support_xen", "__support_kvm"),
    ),
    _attr(
        "__support_kvm_gpu_type",
        Kind.STRING,
        "GPU type supported on KVM; absent when none. Cannot co-exist with `__support_xen` "
        "and `__support_kvm`.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        excludes=("__support_xen", "__support_kvm"),
    ),
    _attr(
        "__support_xen_hana",
        Kind.STRING,
        f"HANA ECS support on Xen. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_infiniband",
        Kind.STRING,
        f"InfiniBand NIC support on KVM. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_fpga_type",
        Kind.STRING,
        "FPGA type supported on KVM; absent when none.",
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_fc_inject",
        Kind.STRING,
        "When true, Cloud-Init password/key injection is not supported.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_arm",
        Kind.STRING,
        "Whether the image is for the Arm architecture.",
        filter=Filter.EXACT,
        indexed=True,
        enum=TRUE_FALSE,
    ),
    _attr(
        "__support_amd",
        Kind.STRING,
        "Whether the image uses AMD's x86 architecture.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        enum=TRUE_FALSE,
    ),
    _attr(
        "__support_agent_list",
        Kind.STRING,
        "Host security / monitoring agents the image supports, e.g. `hss,ces`.",
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_hi1822_hisriov",
        Kind.STRING,
        f"Hi1822 SR-IOV NIC support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__support_kvm_hi1822_hivirtionet",
        Kind.STRING,
        f"Hi1822 virtio NIC support. {_TRUE_FLAG}",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
    ),
    _attr(
        "__system_support_market",
        Kind.BOOLEAN,
        "Whether the image can be published in the Marketplace.",
    ),
    _attr(
        "__is_offshelved",
        Kind.STRING,
        "Whether a Marketplace image is off the shelf.",
        enum=TRUE_FALSE,
    ),
    _attr(
        "__root_origin", Kind.STRING, "`file` when the image was imported from an external file."
    ),
    _attr("__sequence_num", Kind.STRING, "System disk slot number of the ECS the image came from."),
    _attr(
        "__system__cmkid",
        Kind.STRING,
        "ID of the KMS key that encrypts the image.",
        filter=Filter.EXACT,
        indexed=True,
        max_length=255,  # indexed: keeps the entry within PostgreSQL's limit
    ),
    _attr("__account_code", Kind.STRING, "Charging identifier of a paid image."),
    _attr(
        "__whole_image",
        Kind.BOOLEAN,
        "Whether the image is a full-ECS image.",
        filter=Filter.BOOLEAN,
        indexed=True,
    ),
    _attr(
        "__is_config_init",
        Kind.STRING,
        "Whether initial configuration is done.",
        change=Change.MODIFIABLE,
        ims_update=True,
        enum=TRUE_FALSE,
    ),
    _attr("__image_displayname", Kind.STRING, "Display name of the image."),
    _attr(
        "enterprise_project_id",
        Kind.STRING,
        "Enterprise project: `0` (default) or a UUID.",
        change=Change.MODIFIABLE,
        ims_update=True,
        filter=Filter.EXACT,
        indexed=True,
        pattern=rf"0|{UUID_PATTERN}",
    ),
    _attr(
        "os_shutdown_timeout",
        Kind.STRING,
        "Seconds to wait for a graceful shutdown (60-300), as a string.",
        change=Change.MODIFIABLE,
        pattern=r"[0-9]{1,4}",
        minimum=60,
        maximum=300,
    ),
    # Glance's, set by an upload (`service/image_data.py`) and shown once data exists
    _attr(
        "os_hash_algo",
        Kind.STRING,
        "Hash algorithm of `os_hash_value` (sha512 unless the operator chose another).",
        change=Change.READ_ONLY,
        stored=False,
        max_length=64,
    ),
    _attr(
        "os_hash_value",
        Kind.STRING,
        "Hexadecimal digest of the image file by `os_hash_algo`.",
        change=Change.READ_ONLY,
        stored=False,
        max_length=128,
    ),
    _attr(
        "stores",
        Kind.STRING,
        "The store holding the image file (`fs` or `s3`), once it has one.",
        change=Change.READ_ONLY,
        stored=False,
        max_length=255,
    ),
    # Glance base attributes that OpenIMS never stores: writing them is refused by name.
    _attr(
        "direct_url",
        Kind.STRING,
        "Direct URL of the image data.",
        presence=Presence.NEVER,
        change=Change.READ_ONLY,
    ),
    _attr(
        "locations",
        Kind.STRING,
        "Locations of the image data.",
        presence=Presence.NEVER,
        change=Change.READ_ONLY,
    ),
)

BY_NAME: dict[str, Attribute] = {a.name: a for a in REGISTRY}
# (attribute, attribute it cannot co-exist with), from `Attribute.excludes`
EXCLUSIONS: tuple[tuple[str, str], ...] = tuple((a.name, o) for a in REGISTRY for o in a.excludes)

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


def is_support_flag(name: str) -> bool:
    """`__support_<anything>` names a feature flag, registered or not (`__support_s4l`)."""
    return name.startswith("__support_") and len(name) > len("__support_")
