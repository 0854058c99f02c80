"""Bad operator input is one line naming what is wrong, never a Python trace.

Exit status 2 when an option, argument or `OPENIMS_*` setting has an unusable value, 1 when
the command cannot do its work with valid input (a file it cannot open, a database out of
reach, data it refuses)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.databases import PG_URL
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
        ("OPENIMS_WEB_DOWNLOAD_ALLOW", "file:///srv", "serve", "not an http:// or https://"),
        ("OPENIMS_REGION", "Not A Region", "serve", "should match pattern"),
        ("OPENIMS_EXPORT_TIMEOUT", "0", "serve", "greater than 0"),
        ("OPENIMS_WEB_DOWNLOAD_ALLOW", "http://u:p@a.example/", "serve", "no user, query"),
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


def test_a_refused_console_secret_is_not_printed(tmp_path: Path) -> None:
    code, stderr = run(tmp_path, *serve(tmp_path), env={"OPENIMS_CONSOLE_SECRET": "short-secret"})
    line = one_line(stderr)
    assert code == 2
    assert "short-secret" not in stderr
    assert line.startswith("Error: OPENIMS_CONSOLE_SECRET=(hidden): "), line
    assert "at least 32 characters" in line


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


@pytest.mark.parametrize("value", ["s3://bucket?endpoint=http://127.0.0.1:1", "ftp://x", ""])
def test_a_bad_object_storage_is_one_line(tmp_path: Path, value: str) -> None:
    code, stderr = run(tmp_path, *serve(tmp_path), env={"OPENIMS_OBS": value})
    line = one_line(stderr)
    assert code == 2
    assert line.startswith("Error: OPENIMS_OBS: object storage"), line


def test_a_bad_web_download_prefix_is_one_line_naming_the_option(tmp_path: Path) -> None:
    code, stderr = run(tmp_path, *serve(tmp_path), "--web-download-allow", "ftp://mirror/")
    assert code == 2
    assert one_line(stderr).startswith("Error: Invalid value for '--web-download-allow': ")


def test_a_bad_option_value_is_one_line_naming_the_option(tmp_path: Path) -> None:
    """click's own report of a bad option value, in one line like a setting's."""
    database = f"sqlite:///{tmp_path / 'openims.db'}"
    code, stderr = run(tmp_path, "serve", "--no-auth", "--database", database, "--port", "abc")
    line = one_line(stderr)
    assert code == 2
    assert line.startswith("Error: Invalid value for '--port': 'abc' is not a valid integer")
    assert line.endswith(" serve -h' for help."), line


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-1", "is not in the range x>=0"),
        ("soon", "is not a valid float"),
        ("nan", "is not a number of seconds"),
    ],
)
def test_a_bad_idle_time_of_gc_is_one_line_before_anything_is_touched(
    tmp_path: Path, value: str, reason: str
) -> None:
    database = tmp_path / "openims.db"
    images = tmp_path / "images"
    code, stderr = run(
        tmp_path,
        *("gc", "--database", f"sqlite:///{database}", "--image-store", str(images)),
        *("--temporaries-idle", value),
    )
    line = one_line(stderr)
    assert code == 2
    assert line.startswith("Error: Invalid value for '--temporaries-idle': "), line
    assert reason in line, line
    assert not database.exists() and not images.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("credentials", "add"),  # a missing option
        ("serve", "--prot", "9292"),  # an unknown one
        ("import",),  # a missing argument
        ("bogus",),  # an unknown command
    ],
    ids=" ".join,
)
def test_a_command_line_it_cannot_use_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, stderr = run(tmp_path, *args)
    one_line(stderr)
    assert code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("OPENIMS_PORT", "abc", "valid integer"),
        ("OPENIMS_PORT", "70000", "less than or equal to 65535"),
        ("OPENIMS_PORT", "0", "greater than or equal to 1"),
        ("OPENIMS_WORKERS", "0", "greater than or equal to 1"),
        ("OPENIMS_WORKERS", "many", "valid integer"),
        ("OPENIMS_NO_AUTH", "maybe", "valid boolean"),
        ("OPENIMS_DEMO", "sure", "valid boolean"),
    ],
)
def test_a_bad_value_of_an_option_variable_names_the_variable(
    tmp_path: Path, variable: str, value: str, reason: str
) -> None:
    """Options read their `OPENIMS_*` variable too; a bad value there is not the option's
    (the operator never typed `--port`), so it is reported like any other setting."""
    database = tmp_path / "openims.db"
    code, stderr = run(
        tmp_path, "serve", "--database", f"sqlite:///{database}", env={variable: value}
    )
    line = one_line(stderr)
    assert code == 2
    assert line.startswith(f"Error: {variable}={value!r}: "), line
    assert reason in line and "--" not in line, line
    assert not database.exists()


@pytest.mark.parametrize("port", ["70000", "65536", "-1", "0"])
def test_a_port_out_of_range_is_refused_before_anything_starts(tmp_path: Path, port: str) -> None:
    """70000 used to listen on 4464 (70000 - 65536) while announcing 70000, and -1 printed
    the banner before failing."""
    database = tmp_path / "openims.db"
    code, stderr = run(
        tmp_path, "serve", "--no-auth", "--database", f"sqlite:///{database}", "--port", port
    )
    line = one_line(stderr)
    assert code == 2
    assert line.startswith(f"Error: Invalid value for '--port': {port} is not in the range"), line
    assert not database.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("auth", ["--no-auth", "credentials"])
def test_a_port_in_use_is_one_line_before_anything_starts(
    tmp_path: Path, workers: str, auth: str
) -> None:
    """Not the banner, the demo's "Try:" hints and a JSON log line with the reason last."""
    database = tmp_path / "openims.db"
    args = ["--no-auth"]
    if auth == "credentials":
        from tests.support.servers import write_credentials

        write_credentials(tmp_path / "credentials.toml")
        args = ["--credentials", str(tmp_path / "credentials.toml")]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = run(
            tmp_path,
            "serve",
            *args,
            "--demo",
            "--workers",
            workers,
            "--port",
            str(port),
            "--database",
            f"sqlite:///{database}",
        )
    assert one_line(stderr) == f"Error: 127.0.0.1:{port} is already in use"
    assert code == 1
    assert not database.exists()  # checked before the database is created


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


@pytest.mark.parametrize("problem", ["missing", "readable by others", "not TOML"])
def test_a_refused_credentials_file_leaves_the_database_untouched(
    tmp_path: Path, problem: str
) -> None:
    """`serve` used to migrate (and create) the database before it read the credentials file:
    every input is checked first."""
    database = tmp_path / "openims.db"
    path = tmp_path / "credentials.toml"
    if problem != "missing":
        path.write_text("[[token]\n" if problem == "not TOML" else "")
        path.chmod(0o644 if problem == "readable by others" else 0o600)
    code, stderr = run(
        tmp_path,
        "serve",
        "--port",
        str(free_port()),
        "--credentials",
        str(path),
        "--database",
        f"sqlite:///{database}",
    )
    assert str(path) in one_line(stderr)
    assert code == 1
    assert not database.exists()


def with_database(command: str, url: str) -> tuple[str, ...]:
    """`command`, one of those that take --database, on `url`."""
    return {
        "serve": ("serve", "--no-auth", "--port", str(free_port())),
        "db upgrade": ("db", "upgrade"),
        "import": ("import", "-"),
        "export": ("export", "-"),
        "demo": ("demo", "--no-data", "--images", "5"),
    }[command] + ("--database", url)


DATABASE_COMMANDS = ["serve", "db upgrade", "import", "export", "demo"]


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:secret@127.0.0.1/x",
        "notaurl",
        "sqlite://",
        "sqlite:///",
        "postgresql+pg8000://h/x",
    ],
)
def test_a_database_url_of_no_known_kind_is_refused(tmp_path: Path, command: str, url: str) -> None:
    """`notaurl` used to be a SQLite file of that name in the current directory, and
    `mysql://…` a trace."""
    code, stderr = run(tmp_path, *with_database(command, url))
    line = one_line(stderr)
    assert code == 2
    assert line.startswith("Error: Invalid value for '--database': "), line
    assert line.endswith(": expected sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE")
    assert "secret" not in line
    assert list(tmp_path.iterdir()) == []  # no file of any name


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_a_database_variable_of_no_known_kind_names_the_variable(
    tmp_path: Path, command: str
) -> None:
    args = with_database(command, "unused")[:-2]  # no --database: the variable is read
    code, stderr = run(tmp_path, *args, env={"OPENIMS_DATABASE_URL": "mysql://u:secret@h/x"})
    line = one_line(stderr)
    assert code == 2
    assert line.startswith("Error: OPENIMS_DATABASE_URL=mysql://u:***@h/x: expected "), line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
@pytest.mark.parametrize("command", DATABASE_COMMANDS)
@pytest.mark.parametrize("missing", ["role", "database"])
def test_a_missing_role_or_database_is_one_line(tmp_path: Path, command: str, missing: str) -> None:
    """Each used to be a trace of about 200 lines."""
    assert PG_URL
    server = sa.make_url(PG_URL)
    if missing == "role":
        url = server.set(username="openims_no_such_role", database="x")
        reason = 'role "openims_no_such_role" does not exist'
    else:
        url = server.set(database="openims_no_such_database")
        reason = 'database "openims_no_such_database" does not exist'
    shown = url.render_as_string(hide_password=True)
    code, stderr = run(tmp_path, *with_database(command, url.render_as_string(False)))
    assert one_line(stderr) == f"Error: cannot use the database {shown}: {reason}"
    assert code == 1


@pytest.mark.postgres
def test_postgres_is_an_alias_of_postgresql(pg_database: str, tmp_path: Path) -> None:
    alias = "postgres://" + pg_database.removeprefix("postgresql://")
    code, stderr = run(tmp_path, "db", "upgrade", "--database", alias)
    assert code == 0, stderr
