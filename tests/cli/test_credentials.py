"""`openims credentials add` and `openims token add`: the file they write is private, valid,
and what the server then accepts."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from openims.auth import credentials
from openims.auth.credentials import Credential, Token
from tests.cli.test_transfer import openims
from tests.support.servers import free_port, start_server


def test_add_writes_an_owner_only_file_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "creds" / "credentials.toml"
    done = openims(
        "credentials", "add", "--project-id", "p1", "--role", "admin", "--file", str(path)
    )
    assert done.returncode == 0, done.stderr
    printed = dict(
        line.split(" = ", 1) for line in done.stdout.decode().splitlines() if " = " in line
    )
    assert len(printed["access_key"]) == 20 and len(printed["secret_key"]) == 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    second = openims("token", "add", "--project-id", 'we"ird \\ project', "--file", str(path))
    assert second.returncode == 0, second.stderr
    token = second.stdout.decode().strip()

    creds, tokens = credentials.load(path)
    assert [(c.access_key, c.secret_key, c.project_id, c.roles) for c in creds] == [
        (printed["access_key"], printed["secret_key"], "p1", frozenset({"admin"}))
    ]
    assert [(t.token, t.project_id, t.roles) for t in tokens] == [
        (token, 'we"ird \\ project', frozenset())
    ]


ADD_COMMANDS = [("credentials", "add"), ("token", "add")]


@pytest.mark.parametrize("command", ADD_COMMANDS)
@pytest.mark.parametrize("mode", [0o644, 0o660, 0o602], ids=oct)
def test_add_to_a_file_others_may_read_or_write_writes_nothing(
    tmp_path: Path, command: tuple[str, str], mode: int
) -> None:
    """Refused before anything is written: a secret appended to an unsafe file but never
    printed would sit there, readable by others and unknown to the operator."""
    path = tmp_path / "credentials.toml"
    assert openims("token", "add", "--project-id", "p1", "--file", str(path)).returncode == 0
    path.chmod(mode)
    before = path.read_bytes()
    done = openims(*command, "--project-id", "p2", "--file", str(path))
    assert done.returncode == 1
    assert f"chmod 600 {path}".encode() in done.stderr
    assert done.stdout == b""  # no key is printed that the file does not hold
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.parametrize("command", ADD_COMMANDS)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[[token]]\ntoken = "unterminated\n', b"not valid TOML"),
        (b'[[credential]]\naccess_key = "AK"\nproject_id = "p"\n', b"secret_key"),
        (b"\xff\xfe", b"not UTF-8"),
    ],
    ids=["bad-toml", "no-secret-key", "not-utf8"],
)
def test_add_to_a_damaged_file_writes_nothing(
    tmp_path: Path, command: tuple[str, str], content: bytes, message: bytes
) -> None:
    path = tmp_path / "credentials.toml"
    path.write_bytes(content)
    path.chmod(0o600)
    done = openims(*command, "--project-id", "p2", "--file", str(path))
    assert done.returncode == 1
    assert message in done.stderr and b"Traceback" not in done.stderr
    assert done.stdout == b""
    assert path.read_bytes() == content


def test_add_where_the_file_cannot_be_written(tmp_path: Path) -> None:
    done = openims("token", "add", "--project-id", "p2", "--file", str(tmp_path))  # a directory
    assert done.returncode == 1
    assert f"cannot write {tmp_path}".encode() in done.stderr and b"Traceback" not in done.stderr


def test_refuses_an_empty_project(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    done = openims("token", "add", "--project-id", "", "--file", str(path))
    assert done.returncode != 0
    assert b"project ID" in done.stderr


def test_server_accepts_an_added_token(sqlite_database: str, tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    token = openims("token", "add", "--project-id", "p9", "--file", str(path)).stdout.decode()
    server = start_server(sqlite_database, tmp_path, auth=True, credentials=path)
    try:
        ok = httpx.get(f"{server.url}/v2/images", headers={"X-Auth-Token": token.strip()})
        assert ok.status_code == 200, ok.text
        refused = httpx.get(f"{server.url}/v2/images", headers={"X-Auth-Token": "nope"})
        assert refused.status_code == 401
    finally:
        server.stop()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_serve_refuses_a_credentials_file_others_may_read_or_write(
    sqlite_database: str, tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "credentials.toml"
    added = openims("credentials", "add", "--project-id", "p1", "--file", str(path))
    secret = dict(
        line.split(" = ", 1) for line in added.stdout.decode().splitlines() if " = " in line
    )["secret_key"]
    path.chmod(mode)
    done = serve_refused(sqlite_database, path)
    assert done.returncode != 0
    assert f"chmod 600 {path}".encode() in done.stderr
    assert secret.encode() not in done.stdout + done.stderr


def test_serve_refuses_a_missing_credentials_file(sqlite_database: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openims",
            "serve",
            "--port",
            str(free_port()),
            "--database",
            sqlite_database,
            "--credentials",
            str(tmp_path / "nowhere.toml"),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert b"openims credentials add" in done.stderr and b"--no-auth" in done.stderr


KNOWN_ROLES = "known roles: admin, observer, reader"


@pytest.mark.parametrize("command", ADD_COMMANDS)
def test_add_refuses_an_unknown_role(tmp_path: Path, command: tuple[str, str]) -> None:
    """`--role admn` used to add a common user without a word."""
    path = tmp_path / "credentials.toml"
    done = openims(*command, "--project-id", "p1", "--role", "admn", "--file", str(path))
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "'admn'" in lines[0] and KNOWN_ROLES in lines[0], lines
    assert done.stdout == b""
    assert not path.exists()


@pytest.mark.parametrize("command", ADD_COMMANDS)
def test_add_takes_known_roles_in_any_case(tmp_path: Path, command: tuple[str, str]) -> None:
    path = tmp_path / "credentials.toml"
    done = openims(
        *command,
        "--project-id",
        "p1",
        "--role",
        "Reader",
        "--role",
        "OBSERVER",
        "--file",
        str(path),
    )
    assert done.returncode == 0, done.stderr
    creds, tokens = credentials.load(path)
    entries: list[Credential | Token] = [*creds, *tokens]
    assert [e.roles for e in entries] == [frozenset({"reader", "observer"})]


@pytest.mark.parametrize("entry", ["credential", "token"])
def test_serve_refuses_a_file_with_an_unknown_role(
    sqlite_database: str, tmp_path: Path, entry: str
) -> None:
    """`roles = ["superuser"]` used to be a common user."""
    path = tmp_path / "credentials.toml"
    assert openims("token", "add", "--project-id", "p1", "--file", str(path)).returncode == 0
    fields = 'access_key = "AK"\nsecret_key = "SK"\n' if entry == "credential" else 'token = "T"\n'
    with path.open("a") as out:
        out.write(f'\n[[{entry}]]\n{fields}project_id = "p2"\nroles = ["admin", "superuser"]\n')
    done = serve_refused(sqlite_database, path)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"Error: {path}: {entry} {1 if entry == 'credential' else 2}: "
        f"unknown role 'superuser' ({KNOWN_ROLES})\n"
    )
    # and nothing is added to such a file
    before = path.read_bytes()
    added = openims("credentials", "add", "--project-id", "p3", "--file", str(path))
    assert added.returncode == 1 and b"'superuser'" in added.stderr
    assert path.read_bytes() == before


def test_a_new_file_starts_with_its_first_entry(tmp_path: Path) -> None:
    """It used to start with a blank line; entries stay one blank line apart."""
    path = tmp_path / "credentials.toml"
    assert openims("credentials", "add", "--project-id", "p1", "--file", str(path)).returncode == 0
    assert path.read_text().startswith("[[credential]]\n")
    assert openims("token", "add", "--project-id", "p2", "--file", str(path)).returncode == 0
    text = path.read_text()
    assert text.count("\n\n[[token]]\n") == 1 and "\n\n\n" not in text
    assert not text.endswith("\n\n")


def test_an_entry_added_to_a_file_without_a_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text('# tokens of the ops team\n[[token]]\ntoken = "T"\nproject_id = "ops"')
    path.chmod(0o600)
    assert openims("token", "add", "--project-id", "p2", "--file", str(path)).returncode == 0
    assert '\nproject_id = "ops"\n\n[[token]]\n' in path.read_text()
    assert [t.project_id for t in credentials.load(path)[1]] == ["ops", "p2"]


def serve_refused(database_url: str, credentials_file: Path) -> subprocess.CompletedProcess[bytes]:
    """`openims serve` on `credentials_file`, expected to refuse to start (so it returns)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "openims",
            "serve",
            "--port",
            str(free_port()),
            "--database",
            database_url,
            "--credentials",
            str(credentials_file),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
