"""The attribute registry holds the union of the attributes the IMS seed documents show."""

from __future__ import annotations

from openims.domain import registry
from openims.domain.registry import Kind, Presence

# Every attribute named in a response table or example of the five seed documents.
SEED_ATTRIBUTES = """
id name status visibility owner protected container_format disk_format min_ram min_disk
max_ram tags created_at updated_at active_at deleted_at deleted self file schema size
virtual_size checksum virtual_env_type hw_firmware_type hw_vif_multiqueue_enabled
enterprise_project_id __account_code __backup_id __data_origin __description __image_size
__image_source_type __imagetype __is_offshelved __isregistered __lazyloading
__originalimagename __os_bit __os_feature_list __os_type __os_version __platform __productcode
__root_origin __sequence_num __support_agent_list __support_amd __support_arm
__support_diskintensive __support_fc_inject __support_highperformance __support_kvm
__support_kvm_fpga_type __support_kvm_gpu_type __support_kvm_infiniband __support_largememory
__support_xen __support_xen_gpu_type __support_xen_hana __system__cmkid
__system_support_market __whole_image
""".split()  # noqa: SIM905 - one name per word reads better than a literal


def test_every_seed_attribute_is_registered_once() -> None:
    names = [a.name for a in registry.REGISTRY]
    assert len(names) == len(set(names))
    assert [n for n in SEED_ATTRIBUTES if n not in registry.BY_NAME] == []


def test_booleans_are_exactly_the_documented_json_booleans() -> None:
    booleans = {a.name for a in registry.REGISTRY if a.kind is Kind.BOOLEAN}
    # the seed documents' booleans, and Glance's `os_hidden` (a boolean in its image schema)
    assert booleans == {
        "protected",
        "deleted",
        "__system_support_market",
        "__whole_image",
        "os_hidden",
    }


def test_sortable_attributes_have_columns_and_links_do_not() -> None:
    for attr in registry.REGISTRY:
        if attr.sortable or attr.filter is not None:
            assert attr.stored, attr.name
        if attr.kind is Kind.LINK:
            assert not attr.stored and attr.presence is Presence.ALWAYS
    assert registry.is_support_flag("__support_s4l")
    assert not registry.is_support_flag("__support_")


def test_a_string_with_a_range_spells_a_number() -> None:
    """`check_value` reads a ranged string attribute as the integer its digits spell; the
    pattern must make sure they are digits, or `int()` would fail on the value."""
    for attr in registry.REGISTRY:
        if attr.kind is Kind.STRING and (attr.minimum is not None or attr.maximum is not None):
            assert attr.pattern is not None and attr.pattern.startswith("[0-9]"), attr.name


def test_attributes_that_cannot_co_exist_are_registered() -> None:
    assert ("__support_kvm_gpu_type", "__support_kvm") in registry.EXCLUSIONS
    for name, other in registry.EXCLUSIONS:
        assert other in registry.BY_NAME and other != name, (name, other)
