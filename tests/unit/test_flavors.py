"""The flavor catalog behind `flavor_id`: the packaged data and the checks on a replacement."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from openims import errors
from openims.domain.flavors import FlavorCatalog, parse_flavor
from openims.domain.query import Clause


def test_the_packaged_catalog_covers_every_ecs_family() -> None:
    catalog = FlavorCatalog.load()
    flavors = list(catalog.by_id.values())
    families = {f.family for f in flavors}
    assert families == {
        "general-purpose",
        "memory-optimized",
        "large-memory",
        "disk-intensive",
        "high-performance",
        "hana",
        "infiniband",
        "gpu",
        "arm",
    }
    required = {name for f in flavors for name in f.requires}
    for flag in (
        "__support_kvm",
        "__support_xen",
        "__support_largememory",
        "__support_diskintensive",
        "__support_highperformance",
        "__support_xen_hana",
        "__support_kvm_infiniband",
        "__support_xen_gpu_type",
        "__support_kvm_gpu_type",
    ):
        assert flag in required, flag
    assert {f.arch for f in flavors} == {"x86", "arm"}
    for f in flavors:
        assert f.vcpus > 0 and f.ram_mb >= 1024 and f.disk_gb == 1024, f.id
        assert f.requires, f"{f.id} must say which hypervisor or GPU it needs"
        # IMS: GPU and HANA images carry neither __support_kvm nor __support_xen
        if {"__support_xen_gpu_type", "__support_kvm_gpu_type", "__support_xen_hana"} & set(
            f.requires
        ):
            assert not {"__support_kvm", "__support_xen"} & set(f.requires), f.id


def test_a_flavor_is_a_set_of_clauses() -> None:
    catalog = FlavorCatalog.load()
    assert catalog.clauses(None) == []
    assert catalog.clauses("kc1.large.2") == [
        Clause("visibility", "eq", "public"),
        Clause("virtual_env_type", "eq", "FusionCompute"),
        Clause("status", "eq", "active"),
        Clause("min_ram", "lte", 4096),
        Clause("min_disk", "lte", 1024),
        Clause("__support_arm", "eq", "true"),
        Clause("__support_kvm", "eq", "true"),
    ]
    gpu = catalog.clauses("g5.8xlarge.4")
    assert Clause("__support_arm", "neq", "true") in gpu
    assert Clause("__support_kvm_gpu_type", "eq", "V100_vGPU") in gpu
    with pytest.raises(errors.ApiError) as caught:
        catalog.clauses("s6.nope")
    assert caught.value.code == "IMG.0192" and caught.value.status == 400


GOOD: dict[str, Any] = {"id": "x1", "vcpus": 1, "ram_mb": 1024, "disk_gb": 40, "arch": "x86"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": ""}, "id must be a string"),
        ({"vcpus": 0}, "vcpus must be a positive integer"),
        ({"ram_mb": "4096"}, "ram_mb must be a positive integer"),
        ({"disk_gb": True}, "disk_gb must be a positive integer"),
        ({"arch": "aarch64"}, "arch must be x86 or arm"),
        ({"requires": ["__support_kvm"]}, "requires must be an object"),
        ({"requires": {"__supprot_kvm": "true"}}, "cannot require '__supprot_kvm'"),
        ({"requires": {"tags": "x"}}, "cannot require 'tags'"),
        ({"requires": {"__support_kvm": True}}, "is a string"),
        ({"gpus": 1}, "unknown field(s) gpus"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_flavor({**GOOD, **change})


def test_unregistered_support_flags_may_be_required() -> None:
    flavor = parse_flavor({**GOOD, "requires": {"__support_s4l": "true"}})
    assert Clause("__support_s4l", "eq", "true") in flavor.clauses()


def test_a_replacement_file_is_checked_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "flavors.json"
    path.write_text(json.dumps({"flavors": [GOOD, {**GOOD, "ram_mb": 2048}]}))
    with pytest.raises(ValueError, match=r"flavors\.json: flavor 'x1' is listed twice"):
        FlavorCatalog.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"flavors\.json"):
        FlavorCatalog.load(path)
    path.write_text(json.dumps({"flavor": []}))
    with pytest.raises(ValueError, match='"flavors" list'):
        FlavorCatalog.load(path)
    with pytest.raises(ValueError, match=r"missing\.json"):
        FlavorCatalog.load(tmp_path / "missing.json")
    path.write_text(json.dumps({"flavors": [GOOD]}))
    assert list(FlavorCatalog.load(path).by_id) == ["x1"]
