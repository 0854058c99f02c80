"""Every operation of the installed `huaweicloudsdkims` `ImsClient` is driven by a test in
`tests/clients` through the real SDK. The operations are found by introspection (a method with
its `_<name>_http_info` companion), so a newer SDK's new operation fails here until it is
answered and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from huaweicloudsdkims.v2 import ImsClient


def operations() -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(ImsClient, inspect.isfunction)
        if hasattr(ImsClient, f"_{name}_http_info")
    }


def test_the_sdk_has_the_operations_the_docs_list() -> None:
    table = Path(__file__).parents[2] / "docs" / "ims-operations.md"
    assert len(operations()) >= 51, sorted(operations())
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", table.read_text(), re.MULTILINE))
    assert operations() <= listed, sorted(operations() - listed)


def test_every_operation_is_called_through_the_sdk() -> None:
    calls = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    missing = sorted(op for op in operations() if not re.search(rf"\.{op}\(", calls))
    assert not missing, f"operations no client test calls: {missing}"
