"""`openims import`, `export` and `demo` as an operator runs them (real processes)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from openims.service import demo
from tests.support.seeds import PATCH_EXAMPLE, QUERY_EXAMPLE


def openims(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "openims", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def export(db_url: str) -> bytes:
    done = openims("export", "-", "--database", db_url)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_export_import_export_round_trips_byte_for_byte(db_url: str, tmp_path: Path) -> None:
    seeded = openims("demo", "--no-data", "--images", "120", "--database", db_url)
    assert seeded.returncode == 0, seeded.stderr
    first = export(db_url)
    lines = first.splitlines()
    assert len(lines) == 120
    assert any(b'"members":' in line for line in lines)
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    loaded = openims("import", "-", "--database", other, stdin=first)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr == b"Imported 120 images.\n"  # no progress bar off a terminal
    assert export(other) == first


def test_import_accepts_a_json_array(db_url: str) -> None:
    data = orjson.dumps(
        [
            QUERY_EXAMPLE,
            {
                **PATCH_EXAMPLE,
                "tags": ["a.b"],
                "visibility": "shared",
                "members": [{"member_id": "p9", "status": "accepted"}],
            },
        ]
    )
    done = openims("import", "-", "--database", db_url, stdin=data)
    assert done.returncode == 0, done.stderr
    out = [orjson.loads(line) for line in export(db_url).splitlines()]
    by_id = {d["id"]: d for d in out}
    assert by_id[PATCH_EXAMPLE["id"]]["members"] == [{"member_id": "p9", "status": "accepted"}]
    assert by_id[QUERY_EXAMPLE["id"]]["__support_kvm_fpga_type"] == "VU9P"


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        (
            [b'{"owner": "p", "name": "ok"}', b'{"owner": "p", "name": "' + b"n" * 256 + b'"}'],
            "line 2",
        ),
        ([b'{"owner": "p", "name": "ok"}', b'{"owner": "p", "name": 5}'], "line 2"),
        ([b'{"owner": "p"}', b"", b"{not json"], "line 3"),
        ([b'{"owner": "p"}', b'["a list"]'], "line 2"),
        ([b'{"name": "no owner"}'], "line 1"),
        ([orjson.dumps(PATCH_EXAMPLE), orjson.dumps(PATCH_EXAMPLE)], "line 2"),
        ([b'{"owner": "p", "min_ram": "2048"}'], "line 1"),
        ([b'{"owner": "p", "members": [{"member_id": "q"}]}'], "line 1"),
        ([b'{"owner": "p"}'] * 3 + [b'{"owner": "p", "status": "sideways"}'], "line 4"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_written(
    db_url: str, lines: list[bytes], where: str
) -> None:
    done = openims("import", "-", "--database", db_url, stdin=b"\n".join(lines) + b"\n")
    assert done.returncode != 0
    assert f"nothing imported: {where}:".encode() in done.stderr, done.stderr
    assert export(db_url) == b""


def test_import_takes_the_names_real_catalogs_hold(db_url: str, tmp_path: Path) -> None:
    """Every name of IMS's own OS-version table (`Other Linux(64 bit)`, `Debian GNU/Linux …`
    are outside the name rule of its API) and what Glance stores: any string of up to 255
    characters. They come back from export as they went in."""
    versions = [v.os_version for v in demo.os_versions()]
    glance_names = ["n" * 255, " padded ", "web <prod> / #1", "tab\tand 中文", ""]
    assert "Other Linux(64 bit)" in versions and "Other(32 bit)" in versions
    docs = [{"owner": "p", "name": name} for name in [*versions, *glance_names]]
    data = b"\n".join(orjson.dumps(d) for d in docs) + b"\n"
    done = openims("import", "-", "--database", db_url, stdin=data)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"Imported {len(docs)} images.\n".encode()
    exported = export(db_url)
    assert sorted(orjson.loads(line)["name"] for line in exported.splitlines()) == sorted(
        d["name"] for d in docs
    )
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    assert openims("import", "-", "--database", other, stdin=exported).returncode == 0
    assert export(other) == exported


def test_a_bad_element_of_an_array_is_named_by_its_line(db_url: str, tmp_path: Path) -> None:
    """An array is reported where its bad element starts in the file, as a line would be."""
    docs = [{**QUERY_EXAMPLE}, {"owner": "p", "name": "ok"}, {"owner": "p", "min_ram": "2048"}]
    text = json.dumps(docs, indent=2)
    start = text.index('\n  {\n    "owner": "p",\n    "min_ram"') + 1
    line = text.count("\n", 0, start) + 1
    assert line > 30  # the first element takes many lines: its item number would not do
    path = tmp_path / "images.json"
    path.write_text(text)
    done = openims("import", str(path), "--database", db_url)
    assert done.returncode == 1
    assert f"nothing imported: line {line}, column 3 (item 3): ".encode() in done.stderr
    assert export(db_url) == b""


def test_import_refuses_ids_already_in_the_database(db_url: str) -> None:
    data = orjson.dumps(PATCH_EXAMPLE) + b"\n"
    assert openims("import", "-", "--database", db_url, stdin=data).returncode == 0
    more = orjson.dumps(QUERY_EXAMPLE) + b"\n" + data
    done = openims("import", "-", "--database", db_url, stdin=more)
    assert done.returncode != 0
    assert b"line 2" in done.stderr and b"already in the database" in done.stderr
    assert len(export(db_url).splitlines()) == 1  # the first line was not written either


def test_import_of_a_missing_file(tmp_path: Path) -> None:
    done = openims(
        "import", str(tmp_path / "nope.jsonl"), "--database", f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert done.returncode != 0 and b"cannot read" in done.stderr


def test_demo_is_deterministic_and_names_every_documented_os_version(tmp_path: Path) -> None:
    from openims.service import demo

    a = f"sqlite:///{tmp_path / 'a.db'}"
    b = f"sqlite:///{tmp_path / 'b.db'}"
    for url in (a, b):
        assert (
            openims(
                "demo", "--no-data", "--images", "400", "--seed", "7", "--database", url
            ).returncode
            == 0
        )
    assert export(a) == export(b)
    docs = [orjson.loads(line) for line in export(a).splitlines()]
    golds = [d for d in docs if d["__imagetype"] == "gold"]
    assert {d["__os_version"] for d in golds} >= {v.os_version for v in demo.os_versions()}
    assert {d["__platform"] for d in golds} >= {v.platform for v in demo.os_versions()}
    owners = {d["owner"] for d in docs if d["__imagetype"] != "gold"}
    assert "demo" in owners and len(owners) >= 4
    assert any(d["visibility"] == "shared" for d in docs)
    assert any(d["tags"] for d in docs)
    assert any(d["virtual_env_type"] == "Ironic" for d in golds)


def _under_a_terminal(*args: str) -> tuple[int, str]:
    """Run `openims` with its stderr on a pseudo-terminal: (exit code, what it drew there)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openims", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 1 << 16)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    return proc.wait(timeout=300), drawn.decode("utf-8", "replace")


def test_the_import_progress_bar_advances_on_a_terminal(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    assert openims("demo", "--no-data", "--images", "1200", "--database", source).returncode == 0
    path = tmp_path / "images.jsonl"
    path.write_bytes(export(source))

    code, drawn = _under_a_terminal(
        "import", str(path), "--database", f"sqlite:///{tmp_path / 'copy.db'}"
    )
    assert code == 0, drawn
    frames = drawn.split("\r")
    checking = {int(p) for p in re.findall(r"Checking .*?(\d+)%", drawn)}
    assert {0, 100} < checking and len(checking) > 20, frames  # it moves between the ends
    writing = re.findall(r"Writing .*?(\d+)/1200 images", drawn)
    assert {"500", "1000", "1200"} <= set(writing), frames  # batch by batch
    assert "Imported 1200 images." in drawn


def _lines(count: int, owner: str = "p") -> list[bytes]:
    return [orjson.dumps({"owner": owner, "name": f"n{n}"}) for n in range(count)]


def test_a_bad_line_at_the_end_of_a_long_import_writes_nothing(db_url: str) -> None:
    data = b"\n".join([*_lines(2400), b'{"owner": "p", "min_ram": "2048"}']) + b"\n"
    done = openims("import", "-", "--database", db_url, stdin=data)
    assert done.returncode == 1
    assert b"nothing imported: line 2401:" in done.stderr, done.stderr
    assert export(db_url) == b""


def test_a_clash_on_the_last_line_of_a_long_import_writes_nothing(db_url: str) -> None:
    """The clash is in the last of several batches: the line is named and no line written."""
    there = orjson.dumps(PATCH_EXAMPLE)
    assert openims("import", "-", "--database", db_url, stdin=there + b"\n").returncode == 0
    before = export(db_url)
    data = b"\n".join([*_lines(2400), there]) + b"\n"
    done = openims("import", "-", "--database", db_url, stdin=data)
    assert done.returncode == 1
    assert (
        f"nothing imported: line 2401: image {PATCH_EXAMPLE['id']} is already in the database"
    ).encode() in done.stderr, done.stderr
    assert export(db_url) == before


@pytest.fixture(scope="module")
def large_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported demo catalog large enough for the bulk write to build the indexes after
    the rows when it goes into an empty database."""
    from openims.store import bulk

    directory = tmp_path_factory.mktemp("large")
    source = f"sqlite:///{directory / 'source.db'}"
    images = bulk.REBUILD_MIN + 5000
    made = openims("demo", "--no-data", "--images", str(images), "--database", source)
    assert made.returncode == 0, made.stderr
    path = directory / "catalog.jsonl"
    path.write_bytes(export(source))
    return path


def _kill_while_writing(*args: str) -> str:
    """Run `openims` with its stderr on a terminal and SIGKILL it as soon as its Writing bar
    shows images written; what it drew until then."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openims", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    drawn = ""
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                try:
                    chunk = os.read(controller, 1 << 16)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                drawn += chunk.decode("utf-8", "replace")
            if re.search(r"Writing .*?[1-9]\d*/\d+ images", drawn):
                proc.kill()
                break
            if proc.poll() is not None:
                break
    finally:
        proc.kill()
        proc.wait(60)
        os.close(controller)
    return drawn


@pytest.mark.parametrize("start", ["empty", "not-empty"])
def test_an_import_killed_while_writing_leaves_nothing(
    db_url: str, large_catalog: Path, start: str
) -> None:
    """SIGKILL in the middle of the write (into an empty catalog: with the indexes dropped for
    the rebuild) leaves the catalog as it was: no row, and every index and key in place."""
    from tests.store.test_bulk import _schema
    from tests.store.test_schema import _differences

    if start == "not-empty":
        there = orjson.dumps(PATCH_EXAMPLE) + b"\n"
        assert openims("import", "-", "--database", db_url, stdin=there).returncode == 0
    before, schema = export(db_url), asyncio.run(_schema(db_url))
    drawn = _kill_while_writing("import", str(large_catalog), "--database", db_url)
    assert "Writing" in drawn and "Imported" not in drawn, drawn
    assert export(db_url) == before
    assert asyncio.run(_schema(db_url)) == schema
    assert _differences(db_url) == []
