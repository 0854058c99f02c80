"""The ECS flavor catalog behind the `flavor_id` filter of `GET /v2/cloudimages`.

IMS documents the filter as "the public images that can be used with this flavor". OpenIMS
implements that as a rule over data: each flavor in the catalog (a JSON file shipped with the
package, replaceable with `--flavors` / `OPENIMS_FLAVORS`) lists its vCPUs, memory,
architecture and the image attributes it needs (`requires`, e.g. `{"__support_kvm": "true"}`
or `{"__support_kvm_gpu_type": "V100"}`). An image can boot the flavor when

1. it is public (`visibility=public`) and an ECS system-disk image
   (`virtual_env_type=FusionCompute`);
2. its `min_ram` is at most the flavor's memory;
3. its architecture matches: Arm flavors need `__support_arm=true`, x86 flavors need it absent
   or not `true`;
4. it carries every attribute in the flavor's `requires` with that exact value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from openims import attributes
from openims.domain import errors
from openims.domain.query import Clause


@dataclass(frozen=True, slots=True)
class Flavor:
    id: str
    vcpus: int
    ram_mb: int
    arch: str
    requires: dict[str, str] = field(default_factory=dict)
    family: str = ""

    def clauses(self) -> list[Clause]:
        out = [
            Clause("visibility", "eq", "public"),
            Clause("virtual_env_type", "eq", "FusionCompute"),
            Clause("min_ram", "lte", self.ram_mb),
            Clause("__support_arm", "eq" if self.arch == "arm" else "neq", "true"),
        ]
        out += [Clause(name, "eq", value) for name, value in sorted(self.requires.items())]
        return out


def _flavor(entry: dict[str, Any]) -> Flavor:
    requires = {str(k): str(v) for k, v in (entry.get("requires") or {}).items()}
    for name in requires:
        attr = attributes.get(name)
        if attr is None or attr.column is None:
            raise ValueError(f"flavor {entry.get('id')}: cannot require unknown attribute {name!r}")
    arch = entry.get("arch", "x86")
    if arch not in ("x86", "arm"):
        raise ValueError(f"flavor {entry.get('id')}: arch must be x86 or arm")
    return Flavor(
        id=str(entry["id"]),
        vcpus=int(entry["vcpus"]),
        ram_mb=int(entry["ram_mb"]),
        arch=arch,
        requires=requires,
        family=str(entry.get("family", "")),
    )


class FlavorCatalog:
    def __init__(self, flavors: list[Flavor]) -> None:
        self.by_id = {f.id: f for f in flavors}

    @classmethod
    def load(cls, path: Path | None = None) -> FlavorCatalog:
        """The catalog at `path`, or the packaged one."""
        if path is None:
            text = resources.files("openims.data").joinpath("flavors.json").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        data = json.loads(text)
        return cls([_flavor(e) for e in data["flavors"]])

    def clauses(self, flavor_id: str | None) -> list[Clause]:
        """The conditions an image must meet to boot `flavor_id`; 400 for an unknown one."""
        if flavor_id is None:
            return []
        flavor = self.by_id.get(flavor_id)
        if flavor is None:
            raise errors.INVALID_FLAVOR(flavor_id=flavor_id[:64])
        return flavor.clauses()
