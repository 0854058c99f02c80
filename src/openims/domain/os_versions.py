"""The packaged OS-version table (`data/os_versions.json`): every `__os_version` value the IMS
documentation names, with its platform, type and bit width. The demo catalog builds its gold
images from it and `GET /v1/cloudimages/os_version` lists it; both read it here.

`GET /v1/cloudimages/os_version` narrows the list with `tag`: `bms`, `uefi`, `arm` or `x86`
(and `kvm`, which the documented request example uses). The documentation's tables are the
x86 KVM list and record no BMS, UEFI or Arm support per version, so `x86` and `kvm` keep every
version and `bms`, `uefi` and `arm` keep none, rather than guessing which versions would
support them. Several tags keep what every one of them keeps (the example sends
`tag=kvm&tag=uefi`)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from openims import errors

ALL_VERSIONS_TAGS = frozenset({"x86", "kvm"})
NO_VERSIONS_TAGS = frozenset({"bms", "uefi", "arm"})
OS_VERSION_TAGS = ALL_VERSIONS_TAGS | NO_VERSIONS_TAGS


@dataclass(frozen=True, slots=True)
class OsVersion:
    """One documented `__os_version` value with the attributes a gold image of it carries."""

    os_version: str
    platform: str
    os_type: str
    os_bit: str

    def render(self) -> dict[str, Any]:
        """An `OsVersionInfo` of the os_version API: `os_version_key` is the version itself
        (the documented default) and `os_bit` a number, as the documented example has it."""
        return {
            "platform": self.platform,
            "os_version_key": self.os_version,
            "os_version": self.os_version,
            "os_bit": int(self.os_bit),
            "os_type": self.os_type,
        }


@functools.cache
def data() -> dict[str, Any]:
    """The whole packaged file (read once per process: it never changes)."""
    text = resources.files("openims.data").joinpath("os_versions.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def os_versions() -> list[OsVersion]:
    """Every documented `__os_version` value, in the file's order: platforms in the order of
    the `__platform` enum, each platform's versions newest first, as the docs list them."""
    return [
        OsVersion(**{k: e[k] for k in ("os_version", "platform", "os_type", "os_bit")})
        for e in data()["os_versions"]
    ]


@functools.cache
def by_name() -> dict[str, OsVersion]:
    """Each documented `__os_version` value and its entry (what `os_version` may name when an
    image is created)."""
    return {v.os_version: v for v in os_versions()}


def by_platform(tags: list[str]) -> list[dict[str, Any]]:
    """The body of `GET /v1/cloudimages/os_version`: one `{platform, version_list}` per
    platform, in the table's order, narrowed by the request's `tag` values."""
    for tag in tags:
        if tag not in OS_VERSION_TAGS:
            raise errors.BAD_QUERY(
                reason=f"Invalid tag {tag!r}: use one of {', '.join(sorted(OS_VERSION_TAGS))}."
            )
    if any(tag in NO_VERSIONS_TAGS for tag in tags):
        return []
    grouped: dict[str, list[dict[str, Any]]] = {}
    for version in os_versions():
        grouped.setdefault(version.platform, []).append(version.render())
    return [{"platform": p, "version_list": v} for p, v in grouped.items()]
