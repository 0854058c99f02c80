"""Bad operator input is one line naming what is wrong, never a Python trace.

Exit status 2 when an option, argument or `OPENIMS_*` setting has an unusable value (as
click reports `OPENIMS_PORT=abc`), 1 when the command cannot do its work with valid input (a
file it cannot open, a database out of reach, data it refuses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`openims *args` in an empty directory (so no default database file is touched): its
    exit status and its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "openims", *args],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,  # a server that started despite the error fails the test, it does not hang
        check=False,
    )
    return done.returncode, done.stderr.decode()


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


def serve(tmp_path: Path) -> tuple[str, ...]:
    database = f"sqlite:///{tmp_path / 'openims.db'}"
    return ("serve", "--no-auth", "--port", str(free_port()), "--database", database)


@pytest.mark.parametrize(
    ("variable", "value", "command", "reason"),
    [
        ("OPENIMS_LOG_LEVEL", "bogus", "serve", "expected one of debug, info, warning, error"),
        ("OPENIMS_POOL_SIZE", "abc", "db", "valid integer"),
        ("OPENIMS_DATABASE_TIMEOUT", "0", "serve", "greater than 0"),
        ("OPENIMS_DATABASE_TIMEOUT", "soon", "import", "valid number"),
        ("OPENIMS_ACCESS_LOG", "maybe", "serve", "valid boolean"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, command: str, reason: str
) -> None:
    args = {
        "serve": serve(tmp_path),
        "db": ("db", "upgrade", "--database", f"sqlite:///{tmp_path / 'x.db'}"),
        "import": ("import", "-", "--database", f"sqlite:///{tmp_path / 'x.db'}"),
    }[command]
    code, stderr = run(tmp_path, *args, env={variable: value})
    line = one_line(stderr)
    assert code == 2
    assert line.startswith(f"Error: {variable}={value!r}: "), line
    assert reason in line, line
    assert not (tmp_path / "x.db").exists()  # refused before any work


def test_several_bad_settings_are_named_together(tmp_path: Path) -> None:
    code, stderr = run(
        tmp_path, *serve(tmp_path), env={"OPENIMS_POOL_SIZE": "x", "OPENIMS_LOG_LEVEL": "loud"}
    )
    line = one_line(stderr)
    assert code == 2
    assert "OPENIMS_POOL_SIZE='x'" in line and "OPENIMS_LOG_LEVEL='loud'" in line


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    from openims.config import Settings

    assert Settings(log_level=" WARNING ").log_level == "warning"
    assert Settings(log_level="critical").log_level == "critical"  # logging knows it too


def test_a_missing_flavor_catalog_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    code, stderr = run(tmp_path, *serve(tmp_path), env={"OPENIMS_FLAVORS": str(missing)})
    line = one_line(stderr)
    assert code == 2
    assert line.startswith(f"Error: OPENIMS_FLAVORS: flavor catalog {missing}: "), line


def test_a_bad_option_value_is_still_a_usage_error(tmp_path: Path) -> None:
    """The reference the settings follow: click's own report of a bad option value."""
    database = f"sqlite:///{tmp_path / 'openims.db'}"  # no --port: it would win over the variable
    code, stderr = run(
        tmp_path, "serve", "--no-auth", "--database", database, env={"OPENIMS_PORT": "abc"}
    )
    assert code == 2 and "Traceback" not in stderr
    assert "Error: Invalid value for '--port'" in stderr


@pytest.mark.parametrize("where", ["missing/x.jsonl", "."])
def test_export_to_a_file_it_cannot_write(tmp_path: Path, where: str) -> None:
    target = tmp_path / where
    code, stderr = run(tmp_path, "export", str(target), "--database", f"sqlite:///{tmp_path}/x.db")
    line = one_line(stderr)
    assert code == 1  # as `import` of a file it cannot read
    assert line.startswith(f"Error: cannot write {target}: "), line
    assert not (tmp_path / "x.db").exists()


def test_import_of_a_file_it_cannot_read(tmp_path: Path) -> None:
    code, stderr = run(
        tmp_path, "import", str(tmp_path / "nope.jsonl"), "--database", f"sqlite:///{tmp_path}/x.db"
    )
    assert code == 1
    assert (
        one_line(stderr)
        == f"Error: cannot read {tmp_path / 'nope.jsonl'}: No such file or directory"
    )
