"""The demo catalog against the documented `__os_version` table (data/os_versions.json):
every platform and every documented version gets a public gold image, the version names agree
with the attributes recorded for them, and `--images N` stays the size of the whole catalog."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from openims.domain import registry
from openims.service import demo

# How each platform's documented version names begin (the tables' own spellings).
NAME_PREFIXES = {
    "Windows": ("Windows ",),
    "Ubuntu": ("Ubuntu ",),
    "RedHat": ("Red Hat ", "Redhat "),
    "SUSE": ("SUSE ",),
    "CentOS": ("CentOS ",),
    "Debian": ("Debian ",),
    "OpenSUSE": ("openSUSE ",),
    "Oracle Linux": ("Oracle Linux ",),
    "Fedora": ("Fedora ",),
    "Other": ("Other", "openEuler ", "NeoKylin "),
    "CoreOS": ("CoreOS ",),
    "EulerOS": ("EulerOS ",),
}
BITS = re.compile(r"\b(32|64) ?bit\b")


def _data() -> dict[str, Any]:
    text = resources.files("openims.data").joinpath("os_versions.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _golds(
    images: int = demo.DEFAULT_IMAGES, seed: int = demo.DEFAULT_SEED
) -> list[dict[str, Any]]:
    return [i.doc for i in demo.catalog(images, seed) if i.doc["__imagetype"] == "gold"]


def test_the_table_names_its_sources_and_no_version_twice() -> None:
    data = _data()
    assert "provisional" not in json.dumps(data["source"])
    ids = {s["id"] for s in data["source"]}
    assert all(s.get("repo") or s.get("path") for s in data["source"])
    names = [e["os_version"] for e in data["os_versions"]]
    assert len(names) == len(set(names))
    for entry in data["os_versions"]:
        assert entry["documented_in"] and set(entry["documented_in"]) <= ids, entry


def test_every_version_name_agrees_with_its_platform_type_and_bits() -> None:
    for v in demo.os_versions():
        assert v.platform in registry.PLATFORMS, v
        assert v.os_version.startswith(NAME_PREFIXES[v.platform]), v
        assert v.os_type == ("Windows" if v.platform == "Windows" else "Linux"), v
        stated = BITS.search(v.os_version)
        if stated:
            assert v.os_bit == stated.group(1), v
        else:  # the docs list CoreOS releases without a bit width; CoreOS is 64-bit only
            assert v.platform == "CoreOS" and v.os_bit == "64", v


def test_every_platform_has_a_documented_version() -> None:
    assert {v.platform for v in demo.os_versions()} == set(registry.PLATFORMS)


@pytest.mark.parametrize("seed", [demo.DEFAULT_SEED, 7])
def test_the_demo_has_a_gold_image_of_every_platform_and_documented_version(seed: int) -> None:
    golds = _golds(seed=seed)
    assert {d["__platform"] for d in golds} == set(registry.PLATFORMS)
    plain = [d for d in golds if d["name"] == demo.image_name(d["__os_version"])]
    seen = {d["__os_version"]: d for d in plain}
    assert len(seen) == len(plain)  # one plain gold image per version
    for v in demo.os_versions():
        doc = seen[v.os_version]
        assert (doc["__platform"], doc["__os_type"], doc["__os_bit"]) == (
            v.platform,
            v.os_type,
            v.os_bit,
        )
        assert doc["visibility"] == "public" and doc["owner"] == demo.PLATFORM_PROJECT
    for doc in golds:  # variants too: type and bits agree with the version they carry
        stated = BITS.search(doc["__os_version"])
        assert doc["__os_type"] == ("Windows" if doc["__platform"] == "Windows" else "Linux")
        assert not stated or stated.group(1) == doc["__os_bit"], doc["__os_version"]


def test_the_demo_shows_every_documented_gpu_type_arm_and_bare_metal() -> None:
    golds = _golds()
    xen, kvm = demo.gpu_types()
    assert {d.get("__support_xen_gpu_type") for d in golds} >= set(xen)
    assert {d.get("__support_kvm_gpu_type") for d in golds} >= set(kvm)
    assert sum(d.get("__support_arm") == "true" for d in golds) == demo.ARM_IMAGES
    assert sum(d["virtual_env_type"] == "Ironic" for d in golds) == demo.BARE_METAL_IMAGES


def _publics() -> int:
    xen, kvm = demo.gpu_types()
    return len(demo.os_versions()) + len(xen) + len(kvm) + demo.ARM_IMAGES + demo.BARE_METAL_IMAGES


@pytest.mark.parametrize("images", [0, 1, 5, 12, 13, 30, 60, 200, demo.DEFAULT_IMAGES])
def test_images_is_the_whole_catalog_and_public_images_take_at_most_half(images: int) -> None:
    publics = _publics()
    items = list(demo.catalog(images, 3))
    public = [i.doc for i in items if i.doc["owner"] == demo.PLATFORM_PROJECT]
    assert len(items) == images
    assert len(public) == demo.public_count(images, publics)
    assert len(public) == min(publics, images, max((images + 1) // 2, len(registry.PLATFORMS)))
    assert [i.doc for i in items[: len(public)]] == public  # the public images come first
    assert all(d["visibility"] == "public" and d["__imagetype"] == "gold" for d in public)
    if images >= len(registry.PLATFORMS):
        assert {d["__platform"] for d in public} == set(registry.PLATFORMS)
    if images >= 2 * len(registry.PLATFORMS):  # the tenants' images take the other half
        assert images - len(public) >= images // 2


def test_the_catalog_holds_every_public_image_once_they_fit_in_half_of_it() -> None:
    publics = _publics()
    assert demo.public_count(2 * publics - 1, publics) == publics
    assert demo.public_count(2 * publics - 2, publics) == publics - 1
    assert len(_golds(2 * publics - 1, 3)) == publics
    assert demo.public_count(demo.DEFAULT_IMAGES, publics) == publics


def test_a_smaller_catalog_keeps_a_prefix_of_the_same_public_images() -> None:
    small = [i.doc for i in demo.catalog(40, 11)][:20]
    large = [i.doc for i in demo.catalog(demo.DEFAULT_IMAGES, 11)][:20]
    assert small == large


def test_the_catalog_is_deterministic_by_seed() -> None:
    a = [(i.doc, i.members) for i in demo.catalog(120, 5)]
    assert a == [(i.doc, i.members) for i in demo.catalog(120, 5)]
    assert a != [(i.doc, i.members) for i in demo.catalog(120, 6)]
