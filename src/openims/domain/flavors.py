"""The ECS flavor catalog behind the `flavor_id` filter of `GET /v2/cloudimages`.

IMS documents the filter only as "the public images that can be used with this flavor" (one
ECS flavor per query; bare-metal flavors are not supported, use `__support_<board_type>=true`
instead). OpenIMS makes that a rule over data: each flavor in the catalog (`data/flavors.json`,
shipped with the package and replaceable with `OPENIMS_FLAVORS`) lists its vCPUs, memory,
largest system disk, CPU architecture and the image attributes it needs (`requires`, e.g.
`{"__support_kvm": "true"}` or `{"__support_kvm_gpu_type": "V100_vGPU"}`). An image can boot
the flavor when

1. it is a public image (`visibility=public`),
2. it is an ECS system-disk image (`virtual_env_type=FusionCompute`; data-disk, ISO and
   bare-metal images boot nothing on an ECS flavor),
3. it is usable (`status=active`),
4. its `min_ram` is at most the flavor's memory and its `min_disk` at most the flavor's
   largest system disk,
5. its architecture matches: Arm flavors need `__support_arm=true`, x86 flavors need it
   absent or not `true`,
6. it carries every attribute in the flavor's `requires` with exactly that value.

The rule is written once, as query clauses, so the store applies it in SQL together with the
caller's other filters, sort and page. `docs/cloudimages.md` describes it for users.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from openims import errors
from openims.domain import registry
from openims.domain.query import Clause

ARCHITECTURES = ("x86", "arm")
_FIELDS = {"id", "family", "description", "vcpus", "ram_mb", "disk_gb", "arch", "requires"}


@dataclass(frozen=True, slots=True)
class Flavor:
    id: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    arch: str
    requires: dict[str, str] = field(default_factory=dict)
    family: str = ""
    description: str = ""

    def clauses(self) -> list[Clause]:
        """The conditions an image must meet to boot this flavor (the rule above)."""
        out = [
            Clause("visibility", "eq", "public"),
            Clause("virtual_env_type", "eq", "FusionCompute"),
            Clause("status", "eq", "active"),
            Clause("min_ram", "lte", self.ram_mb),
            Clause("min_disk", "lte", self.disk_gb),
            Clause("__support_arm", "eq" if self.arch == "arm" else "neq", "true"),
        ]
        out += [Clause(name, "eq", value) for name, value in sorted(self.requires.items())]
        return out


def _can_require(name: str) -> bool:
    """A flavor may require a stored registry attribute or any `__support_*` feature flag
    (registered or not, like the bare-metal board types `__support_s4l`): a typo in any other
    name would silently match nothing, so it is refused when the catalog loads."""
    attr = registry.get(name)
    if attr is not None:
        return attr.column is not None and attr.kind is registry.Kind.STRING
    return registry.is_support_flag(name)


def _positive_int(entry: dict[str, Any], key: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"flavor {entry.get('id')!r}: {key} must be a positive integer")
    return value


def parse_flavor(entry: Any) -> Flavor:
    """One catalog entry, checked; ValueError says what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError("each flavor must be a JSON object")
    flavor_id = entry.get("id")
    if not isinstance(flavor_id, str) or not flavor_id or len(flavor_id) > 128:
        raise ValueError(f"flavor {flavor_id!r}: id must be a string of 1-128 characters")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ValueError(f"flavor {flavor_id!r}: unknown field(s) {', '.join(unknown)}")
    arch = entry.get("arch", "x86")
    if arch not in ARCHITECTURES:
        raise ValueError(f"flavor {flavor_id!r}: arch must be x86 or arm, not {arch!r}")
    requires = entry.get("requires") or {}
    if not isinstance(requires, dict):
        raise ValueError(f"flavor {flavor_id!r}: requires must be an object")
    for name, value in requires.items():
        if not _can_require(name):
            raise ValueError(
                f"flavor {flavor_id!r}: cannot require {name!r} (use a stored image "
                "attribute or a __support_* flag)"
            )
        if not isinstance(value, str):
            raise ValueError(f"flavor {flavor_id!r}: the required value of {name} is a string")
    return Flavor(
        id=flavor_id,
        vcpus=_positive_int(entry, "vcpus"),
        ram_mb=_positive_int(entry, "ram_mb"),
        disk_gb=_positive_int(entry, "disk_gb"),
        arch=arch,
        requires=dict(requires),
        family=str(entry.get("family", "")),
        description=str(entry.get("description", "")),
    )


class FlavorCatalog:
    def __init__(self, flavors: list[Flavor]) -> None:
        self.by_id: dict[str, Flavor] = {}
        for flavor in flavors:
            if flavor.id in self.by_id:
                raise ValueError(f"flavor {flavor.id!r} is listed twice")
            self.by_id[flavor.id] = flavor

    @classmethod
    def parse(cls, text: str) -> FlavorCatalog:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), list):
            raise ValueError('a flavor catalog is a JSON object with a "flavors" list')
        return cls([parse_flavor(e) for e in data["flavors"]])

    @classmethod
    def load(cls, path: Path | None = None) -> FlavorCatalog:
        """The catalog at `path`, or the packaged one. A bad file stops the server at start
        with the file name and the reason, instead of failing queries later."""
        if path is None:
            text = resources.files("openims.data").joinpath("flavors.json").read_text("utf-8")
            return cls.parse(text)
        try:
            return cls.parse(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"flavor catalog {path}: {exc}") from None

    def clauses(self, flavor_id: str | None) -> list[Clause]:
        """The conditions an image must meet to boot `flavor_id`; 400 for an unknown one."""
        if flavor_id is None:
            return []
        flavor = self.by_id.get(flavor_id)
        if flavor is None:
            raise errors.INVALID_FLAVOR(flavor_id=flavor_id[:64])
        return flavor.clauses()
