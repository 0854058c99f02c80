"""The contracts that keep the house in order: the import layers (checked by `lint-imports` in
`./run-tests`; here, that the check really fails when a route reaches for the store), and the
error keys the attribute registry names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from openims import errors
from openims.domain import registry

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=ROOT,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_route_importing_the_store_breaks_the_contracts(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "openims", tmp_path / "openims")
    route = tmp_path / "openims" / "api" / "routes" / "glance.py"
    route.write_text(route.read_text() + "\nfrom openims.store.images import ImageStore  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "openims.api.routes.glance -> openims.store.images" in result.stdout


def test_every_error_the_registry_names_is_in_the_catalogue() -> None:
    named = {a.error for a in registry.REGISTRY if a.error is not None}
    assert named, "the registry names no error: the test would prove nothing"
    assert named <= set(errors.CATALOGUE), named - set(errors.CATALOGUE)
