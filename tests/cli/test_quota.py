"""`openims quota` as a process, on SQLite and PostgreSQL (docs/quotas.md): the operator sets,
shows and unsets a project's limits, and a server on the same database enforces them at once;
bad input is one line and exit status 2, a database out of reach one line and 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_errors import one_line
from tests.support.fixtures import server_fixture
from tests.support.servers import Server
from tests.support.uploads import create

server = server_fixture("server", in_process=True, env={"OPENIMS_IMAGE_QUOTA": "2"})


def quota(tmp_path: Path, database: str, *args: str) -> tuple[int, str, str]:
    """`openims quota *args --database DATABASE`: exit status, stdout, stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "openims", "quota", *args, "--database", database],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "OPENIMS_IMAGE_QUOTA": "2"},
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_the_operator_raises_and_resets_a_projects_quota(server: Server, tmp_path: Path) -> None:
    db = server.database_url
    c = server.client("p1")
    create(c), create(c)
    assert c.post("/v2/images", json={"name": "third"}).status_code == 413

    code, out, err = quota(tmp_path, db, "set", "--project-id", "p1", "--images", "3")
    assert code == 0, err
    assert out.splitlines() == ["p1\timages\t2 of 3", "p1\tbytes\t0 of unlimited (default)"]
    assert c.post("/v2/images", json={"name": "third"}).status_code == 201
    assert c.get("/v1/cloudimages/quota").json()["quotas"]["resources"][0]["quota"] == 3

    code, out, _ = quota(tmp_path, db, "set", "--project-id", "p1", "--bytes", "5000")
    assert code == 0
    assert out.splitlines() == ["p1\timages\t3 of 3", "p1\tbytes\t0 of 5000"]

    code, out, _ = quota(tmp_path, db, "show")
    assert code == 0
    assert out.splitlines() == ["default\timages=2\tbytes=unlimited", "p1\timages=3\tbytes=5000"]
    code, out, _ = quota(tmp_path, db, "show", "--project-id", "p2")
    assert out.splitlines() == [
        "p2\timages\t0 of 2 (default)",
        "p2\tbytes\t0 of unlimited (default)",
    ]

    code, _, err = quota(tmp_path, db, "unset", "--project-id", "p1")
    assert code == 0 and "default limits again" in err
    assert c.post("/v2/images", json={"name": "fourth"}).status_code == 413


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("set", "--project-id", "p1"), "give --images, --bytes or both."),
        (("set", "--project-id", "p1", "--images", "-1"), "'--images': -1 is not in the range"),
        (("set", "--project-id", " ", "--images", "3"), "'--project-id': a project ID has"),
        (("set", "--images", "3"), "Missing option '--project-id'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    code, out, err = quota(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", *args)
    assert code == 2, err
    assert expected in one_line(err)
    assert out == ""


def test_a_database_out_of_reach_is_one_line_and_status_1(tmp_path: Path) -> None:
    code, _, err = quota(tmp_path, "postgresql://nobody@127.0.0.1:1/none", "show")
    assert code == 1
    assert "cannot reach the database" in one_line(err)
