"""The demo catalog: what an IMS region looks like to a handful of tenants.

- one public `gold` image for every `__os_version` value the IMS documentation names
  (`data/os_versions.json`, which records the tables it was built from), owned by the platform
  project, with the feature flags such images carry (KVM/Xen, large memory, ...), plus GPU
  variants (one per documented GPU type), Arm variants and bare-metal (Ironic) images flagged
  for BMS flavors;
- private images of several tenants (system disk, data disk and ISO images, some still
  queued or killed), with tags in the IMS `key=value` form;
- shared images, each shared with other tenants in every member status.

The tenant `demo` (the default project of `serve --no-auth`) owns some images and is a member
of others. Everything is drawn from one seeded random generator, so a seed gives the same
catalog, ids included, on every machine.

`images` is the size of the whole catalog. The public images take at most half of it (see
`public_count`), so a small catalog still has tenants, sharing and one gold image of every
platform rather than being all gold; the default size holds every public image.
"""

from __future__ import annotations

import random
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from openims.config import IMAGE_QUOTA_DEFAULT
from openims.domain import documents, registry, times
from openims.domain import os_versions as os_versions_table
from openims.domain.access import Caller
from openims.domain.documents import ImageItem
from openims.domain.os_versions import OsVersion, os_versions
from openims.service.image_data import ImageData
from openims.service.images import Images
from openims.service.quotas import Quotas

PLATFORM_PROJECT = "1bed856811654c1cb661a6ca845ebc77"  # the owner in the IMS examples
DEMO_PROJECT = "demo"
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
START = times.parse("2018-09-06T14:03:05Z")
DEFAULT_IMAGES = 500
DEFAULT_SEED = 2018

_WORKLOADS = (
    "web",
    "db",
    "cache",
    "queue",
    "build",
    "batch",
    "gateway",
    "analytics",
    "search",
    "ml",
    "backup",
    "monitor",
)
_TEAMS = ("blue", "green", "red", "platform", "data", "payments")
_ENVS = ("prod", "staging", "dev", "test")
_BMS_BOARDS = ("s4l", "s3l", "io2", "d2l")
BARE_METAL_IMAGES = 4
ARM_IMAGES = 2
# GPU, Arm and bare-metal variants are built on mainstream 64-bit Linux releases: the docs
# name no GPU or BMS image of the catch-all `Other` platform or of CoreOS.
_NO_VARIANTS = frozenset({"Other", "CoreOS"})

__all__ = ["OsVersion", "os_versions"]  # the table's reader, as the demo's users import it

_Kind = Literal["gold", "gpu", "arm", "bms"]


@dataclass(frozen=True, slots=True)
class _Public:
    """One public image of the plan: a plain gold image of `osv`, or a variant of it (a GPU
    type under KVM or Xen, an Arm build, or a bare-metal image)."""

    osv: OsVersion
    kind: _Kind = "gold"
    gpu_type: str = ""
    kvm: bool = False


def gpu_types() -> tuple[list[str], list[str]]:
    """The documented `__support_xen_gpu_type` and `__support_kvm_gpu_type` values."""
    data = os_versions_table.data()
    return list(data.get("xen_gpu_types") or []), list(data.get("kvm_gpu_types") or [])


def public_count(images: int, available: int) -> int:
    """How many of the `available` public images a catalog of `images` images holds.

    All of them when they fit in half the catalog. Otherwise half the catalog (rounded up),
    but never fewer than one per `__platform` value as far as `images` allows: a small catalog
    (a test's, a quick look) keeps the shape of a region (tenants' private and shared images
    next to the public ones) and still shows every platform, instead of being all gold."""
    return min(available, images, max(-(-images // 2), len(registry.PLATFORMS)))


def _public_plan(
    rng: random.Random, versions: list[OsVersion], xen_gpus: list[str], kvm_gpus: list[str]
) -> list[_Public]:
    """Every public image, in the order a truncated catalog keeps them: the newest version of
    each platform first, then the GPU, Arm and bare-metal variants, then the other versions
    taken one platform at a time, so any prefix spreads over the platforms."""
    columns: dict[str, list[OsVersion]] = {}
    for v in versions:
        columns.setdefault(v.platform, []).append(v)
    firsts = [column[0] for column in columns.values()]
    depth = max((len(column) for column in columns.values()), default=0)
    rest = [column[i] for i in range(1, depth) for column in columns.values() if i < len(column)]
    bases = [
        v
        for v in versions
        if v.os_type == "Linux" and v.os_bit == "64" and v.platform not in _NO_VARIANTS
    ] or versions
    variants = [_Public(rng.choice(bases), "gpu", gpu, kvm=True) for gpu in kvm_gpus]
    variants += [_Public(rng.choice(bases), "gpu", gpu, kvm=False) for gpu in xen_gpus]
    variants += [_Public(rng.choice(bases), "arm") for _ in range(ARM_IMAGES)]
    variants += [_Public(rng.choice(bases), "bms") for _ in range(BARE_METAL_IMAGES)]
    return [_Public(v) for v in firsts] + variants + [_Public(v) for v in rest]


def image_name(text: str) -> str:
    """A name that meets the IMS name rule, made from an OS version string."""
    allowed = [c if (c.isascii() and (c.isalnum() or c in "-._ ")) else " " for c in text]
    return " ".join("".join(allowed).split())[:128] or "image"


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = START
        self.tenants = [DEMO_PROJECT] + [self._hex() for _ in range(5)]

    def _hex(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _times(self) -> tuple[str, str]:
        self.clock += self.rng.randint(1, 3600)
        created = self.clock
        updated = created + self.rng.choice((0, 0, 60, 3600, 86400))
        return times.render(created), times.render(updated)

    def _base(self, name: str, owner: str) -> dict[str, Any]:
        created, updated = self._times()
        return {
            "id": self._uuid(),
            "name": name,
            "owner": owner,
            "status": "active",
            "created_at": created,
            "updated_at": updated,
            "active_at": created,
            "container_format": "bare",
            "disk_format": "zvhd2",
            "size": 0,
            "checksum": EMPTY_MD5,
            "virtual_size": None,
            "min_ram": 0,
            "min_disk": 40,
            "__isregistered": "true",
            "__image_source_type": "uds",
            "__lazyloading": "true",
            "virtual_env_type": "FusionCompute",
            "hw_firmware_type": "bios",
            "__originalimagename": "",
            "__backup_id": "",
            "__productcode": "",
            "__data_origin": None,
        }

    def gold(self, osv: OsVersion, index: int, *, arm: bool = False) -> dict[str, Any]:
        doc = self._base(image_name(osv.os_version), PLATFORM_PROJECT)
        windows = osv.os_type == "Windows"
        doc.update(
            {
                "visibility": "public",
                "__imagetype": "gold",
                "protected": True,
                "__os_version": osv.os_version,
                "__os_type": osv.os_type,
                "__os_bit": osv.os_bit,
                "__platform": osv.platform,
                "min_disk": 40 if not windows else self.rng.choice((40, 50, 100)),
                "min_ram": 0 if not windows else self.rng.choice((1024, 2048, 4096)),
                "__image_size": str(self.rng.randint(400, 9000) * 1024 * 1024),
                "__support_kvm": "true",
                "__description": f"Public image {image_name(osv.os_version)}",
            }
        )
        if arm:
            doc.update({"__support_arm": "true", "hw_firmware_type": "uefi"})
        else:
            if self.rng.random() < 0.3:
                doc["__support_xen"] = "true"
            if self.rng.random() < 0.2:
                doc["__support_amd"] = "true"
        if not windows:
            doc["__support_fc_inject"] = self.rng.choice(("true", "false"))
            doc["__support_agent_list"] = self.rng.choice(("hss,ces", "hss", "ces"))
        if index % 7 == 0:
            doc["__support_largememory"] = "true"
        if index % 9 == 0:
            doc["__support_diskintensive"] = "true"
        if index % 11 == 0:
            doc["__support_highperformance"] = "true"
        return doc

    def gpu(self, osv: OsVersion, gpu_type: str, kvm: bool) -> dict[str, Any]:
        doc = self.gold(osv, 1)
        doc["name"] = image_name(f"{osv.os_version} GPU {gpu_type}")
        doc.pop("__support_kvm", None)
        doc.pop("__support_xen", None)
        doc["__support_kvm_gpu_type" if kvm else "__support_xen_gpu_type"] = gpu_type
        return doc

    def arm(self, osv: OsVersion) -> dict[str, Any]:
        """An Arm (Kunpeng) build of a documented version. The tables name no Arm release, so
        `__os_version` stays as documented and only the name says `with ARM` (the suffix of
        Huawei Cloud's Arm public images); without these the demo would have no image for
        `architecture=arm` or the Arm flavors."""
        doc = self.gold(osv, 1, arm=True)
        doc["name"] = image_name(f"{osv.os_version} with ARM")
        return doc

    def public(self, item: _Public, index: int) -> dict[str, Any]:
        """The document of one planned public image; `index` counts the plain gold images
        before it (it spreads the large-memory, disk-intensive and high-performance flags)."""
        if item.kind == "gpu":
            return self.gpu(item.osv, item.gpu_type, item.kvm)
        if item.kind == "arm":
            return self.arm(item.osv)
        if item.kind == "bms":
            return self.bare_metal(item.osv)
        return self.gold(item.osv, index)

    def bare_metal(self, osv: OsVersion) -> dict[str, Any]:
        doc = self.gold(osv, 1)
        board = self.rng.choice(_BMS_BOARDS)
        doc["name"] = image_name(f"{osv.os_version} for BMS {board}")
        doc["virtual_env_type"] = "Ironic"
        doc.pop("__support_kvm", None)
        doc[f"__support_{board}"] = "true"
        return doc

    def private(self, owner: str, gold: dict[str, Any], n: int) -> dict[str, Any]:
        workload = self.rng.choice(_WORKLOADS)
        doc = self._base(f"{workload}-{n:04d}", owner)
        kind = self.rng.random()
        doc.update(
            {
                "visibility": "private",
                "__imagetype": "private",
                "protected": False,
                "__os_version": gold["__os_version"],
                "__os_type": gold["__os_type"],
                "__os_bit": gold["__os_bit"],
                "__platform": gold["__platform"],
                "__originalimagename": gold["id"],
                "__image_size": str(self.rng.randint(1, 200) * 1024 * 1024 * 64),
                "__data_origin": f"instance,{self._uuid()}",
                "min_disk": gold["min_disk"],
                "min_ram": gold["min_ram"],
                "enterprise_project_id": self.rng.choice(("0", "0", "0", self._uuid())),
                "tags": sorted(
                    {f"env={self.rng.choice(_ENVS)}", f"team={self.rng.choice(_TEAMS)}", workload}
                    if self.rng.random() < 0.7
                    else {workload}
                ),
            }
        )
        if "__support_arm" in gold:
            doc["__support_arm"] = "true"
        else:
            doc["__support_kvm"] = "true"
        if kind < 0.1:
            doc.update(
                {
                    "virtual_env_type": "DataImage",
                    "__os_type": "Other",
                    "__data_origin": f"volume,{self._uuid()}",
                }
            )
            doc.pop("__platform")
        elif kind < 0.15:
            doc.update(
                {
                    "virtual_env_type": "IsoImage",
                    "disk_format": "iso",
                    "__root_origin": "file",
                    "__data_origin": "file,obs://images/x.iso",
                }
            )
        elif kind < 0.2:
            doc["__whole_image"] = True
            doc["__backup_id"] = self._uuid()
        status_roll = self.rng.random()
        if status_roll < 0.04:
            doc.update({"status": "queued", "__image_size": "0"})
            doc.pop("active_at")
        elif status_roll < 0.06:
            doc["status"] = "killed"
            doc.pop("active_at")
        if self.rng.random() < 0.1:
            doc["__description"] = f"{workload} image of team {self.rng.choice(_TEAMS)}"
        return doc

    def share(self, doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        doc["visibility"] = "shared"
        doc["__imagetype"] = "shared"
        others = [t for t in self.tenants if t != doc["owner"]]
        chosen = self.rng.sample(others, self.rng.randint(1, min(3, len(others))))
        return tuple(
            (m, self.rng.choice(("pending", "accepted", "accepted", "rejected"))) for m in chosen
        )


def catalog(images: int = DEFAULT_IMAGES, seed: int = DEFAULT_SEED) -> Iterator[ImageItem]:
    """`images` canonical documents with members: the public images first (a gold image of
    every documented OS version, GPU, Arm and bare-metal variants; at most half the catalog,
    see `public_count`), then private and shared tenant images."""
    gen = _Generator(seed)
    plan = _public_plan(gen.rng, os_versions(), *gpu_types())
    golds: list[dict[str, Any]] = []

    def emit(doc: dict[str, Any], members: tuple[tuple[str, str], ...] = ()) -> ImageItem:
        return ImageItem(documents.canonical(doc), members)

    plain = 0
    for item in plan[: public_count(images, len(plan))]:
        doc = gen.public(item, plain)
        if item.kind == "gold":
            plain += 1
        golds.append(doc)
        yield emit(doc)
    for n in range(1, images - len(golds) + 1):
        owner = gen.tenants[n % len(gen.tenants)]
        doc = gen.private(owner, gen.rng.choice(golds), n)
        members: tuple[tuple[str, str], ...] = ()
        if gen.rng.random() < 0.25 and doc["status"] == "active":
            members = gen.share(doc)
        yield emit(doc, members)


# --- images with data ---------------------------------------------------------------------
DATA_IMAGES = (
    # (name, disk_format, virtual size in bytes of the disk the bytes hold)
    ("demo-tiny-disk", "qcow2", 64 * 2**20),
    ("demo-tiny-raw", "raw", 64 * 2**10),
)


def tiny_qcow2(virtual_size: int, cluster_bits: int = 12) -> bytes:
    """A valid, empty qcow2 (version 2) of `virtual_size` bytes: header, L1 table, refcount
    table and one refcount block, four clusters in all (16 KiB). Made here rather than shipped
    or downloaded, so the demo has a real disk image to upload, inspect and download on any
    machine, with or without qemu-img (`qemu-img check` finds no errors in it)."""
    cluster = 1 << cluster_bits
    l1_size = -(-virtual_size // (cluster * (cluster // 8)))  # one L2 table maps cluster/8
    if l1_size * 8 > cluster:
        raise ValueError("too large for a one-cluster L1 table")
    header = struct.pack(
        ">4sIQIIQIIQQIIQ",
        b"QFI\xfb",  # magic
        2,  # version
        0,  # backing file offset: none
        0,  # backing file name size
        cluster_bits,
        virtual_size,
        0,  # no encryption
        l1_size,
        cluster,  # L1 table: cluster 1 (all zero: nothing allocated)
        2 * cluster,  # refcount table: cluster 2
        1,  # refcount table clusters
        0,  # snapshots
        0,  # snapshots offset
    )
    out = bytearray(4 * cluster)
    out[: len(header)] = header
    struct.pack_into(">Q", out, 2 * cluster, 3 * cluster)  # the refcount block: cluster 3
    for index in range(4):  # clusters 0-3 are each used once
        struct.pack_into(">H", out, 3 * cluster + 2 * index, 1)
    return bytes(out)


def data_image_bytes(disk_format: str, virtual_size: int, seed: int = DEFAULT_SEED) -> bytes:
    if disk_format == "qcow2":
        return tiny_qcow2(virtual_size)
    return random.Random(seed).randbytes(virtual_size)


async def make_room(quotas: Quotas) -> None:
    """The demo's tenants own more images than IMS's default quota of 20: each gets a quota
    of its own with room for 20 more, as an operator raises a busy tenant's (docs/quotas.md)."""
    await quotas.make_room(IMAGE_QUOTA_DEFAULT)


async def add_data_images(images: Images, data: ImageData) -> list[str]:
    """Images of the demo project with real (tiny) data, uploaded as a client would: the
    catalog's own images are metadata only. Their ids."""
    caller = Caller(DEMO_PROJECT)
    made = []
    for name, disk_format, virtual_size in DATA_IMAGES:
        payload = data_image_bytes(disk_format, virtual_size)
        fields = {
            "name": name,
            "disk_format": disk_format,
            "container_format": "bare",
            "__os_type": "Linux",
            "__platform": "Other",
            "__description": "A tiny disk image with real data: download it.",
        }
        doc = await images.create(caller, fields)
        await data.upload(caller, doc["id"], _once(payload), declared_length=len(payload))
        made.append(str(doc["id"]))
    return made


async def _once(payload: bytes) -> AsyncIterator[bytes]:
    yield payload
