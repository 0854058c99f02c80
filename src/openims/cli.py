"""The `openims` command. Every option also reads `OPENIMS_<NAME>` from the environment."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from pydantic import ValidationError

from openims import __version__, logs
from openims.config import DEFAULT_CREDENTIALS, Settings
from openims.domain import documents
from openims.domain.access import Caller
from openims.domain.query import Clause, ListQuery
from openims.store import migrate
from openims.store.engine import create_engine, redacted
from openims.store.images import ImageStore

T = TypeVar("T")

database_option = click.option(
    "--database",
    "database_url",
    envvar="OPENIMS_DATABASE_URL",
    default=None,
    help="Database URL: sqlite:///path or postgresql://user@host/db "
    "[default: sqlite:///./data/openims.db]",
)


class SettingError(click.ClickException):
    """A setting has a value the command cannot use. Like a bad option value (click's usage
    error, `OPENIMS_PORT=abc`) it exits with status 2, but says it in one line: most settings
    have no option, so a usage text would not help."""

    exit_code = 2


def _settings(**overrides: Any) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise _setting_error(exc) from None


def _setting_error(exc: ValidationError) -> SettingError:
    """One line naming each bad setting by its environment variable, with its value (but
    never the database URL's password) and what is wrong with it."""
    problems = []
    for error in exc.errors():
        field = "_".join(str(part) for part in error["loc"])
        value = error.get("input")
        shown = redacted(str(value)) if field == "database_url" else repr(value)
        reason = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"OPENIMS_{field.upper()}={shown}: {reason}")
    return SettingError("; ".join(problems))


def _run_with_store(
    settings: Settings,
    work: Callable[[ImageStore], Coroutine[Any, Any, T]],
    *,
    upgrade: bool = True,
) -> T:
    if upgrade:
        _upgrade(settings.database_url)

    async def main() -> T:
        engine = create_engine(settings.database_url, pool_size=2)
        try:
            return await work(ImageStore(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _upgrade(url: str) -> None:
    """Apply migrations; a database out of reach is a one-line error, not a trace."""
    from openims.api.errors import database_unavailable

    try:
        migrate.upgrade(url)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"cannot reach the database {redacted(url)}: {reason}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="openims")
def main() -> None:
    """OpenIMS: an image catalog speaking Huawei Cloud IMS and OpenStack Glance v2."""


@main.command()
@click.option("--host", envvar="OPENIMS_HOST", default=None, help="[default: 127.0.0.1]")
@click.option("--port", envvar="OPENIMS_PORT", type=int, default=None, help="[default: 9292]")
@click.option(
    "--workers",
    envvar="OPENIMS_WORKERS",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes [default: 1]",
)
@database_option
@click.option(
    "--credentials",
    envvar="OPENIMS_CREDENTIALS",
    type=click.Path(path_type=Path),
    default=None,
    help="Credentials file [default: ./data/credentials.toml]",
)
@click.option(
    "--demo", is_flag=True, default=None, help="Load the demo catalog into an empty database."
)
@click.option(
    "--no-auth",
    is_flag=True,
    default=None,
    help="Emulator mode: trust X-Project-Id and X-Roles, verify nothing.",
)
def serve(**options: Any) -> None:
    """Start the API server (applies pending migrations first)."""
    settings = _settings(**options)
    logs.configure(settings.log_level)
    _check_flavors(settings)
    # workers are new processes: they read their settings from the environment
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"OPENIMS_{name.upper()}"] = str(value)
    _upgrade(settings.database_url)
    if settings.no_auth:
        click.secho(
            "WARNING: authentication is OFF (--no-auth). Any caller can act as any "
            "project by sending X-Project-Id and X-Roles. Use this for tests only.",
            fg="red",
            bold=True,
            err=True,
        )
    else:
        from openims.app import authenticator
        from openims.auth.credentials import CredentialsFileError

        try:  # refuse to start on a missing or unsafe credentials file
            authenticator(settings)
        except CredentialsFileError as exc:
            raise click.ClickException(str(exc)) from None
    if settings.demo:
        _load_demo(settings)
    base = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"OpenIMS {__version__} on {base} (database {redacted(settings.database_url)})", err=True
    )
    import uvicorn

    with _metrics_directory(settings.workers):
        uvicorn.run(
            "openims.app:factory",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            http="openims.api.protocol:BoundedHttpProtocol",
            timeout_keep_alive=settings.keep_alive_timeout,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=10,
        )


def _check_flavors(settings: Settings) -> None:
    """Each worker loads the flavor catalog as it starts; a bad OPENIMS_FLAVORS file would
    stop every worker with a trace. Load it once here, where it can be one line."""
    from openims.domain.flavors import FlavorCatalog

    try:
        FlavorCatalog.load(settings.flavors)
    except ValueError as exc:
        raise SettingError(f"OPENIMS_FLAVORS: {exc}") from None


@contextmanager
def _metrics_directory(workers: int) -> Iterator[None]:
    """Several workers share one port, so each scrape of /metrics must sum them all: give them a
    private directory for prometheus-client's multiprocess mode, removed when the server stops.
    A directory the operator names in PROMETHEUS_MULTIPROC_DIR is used as it is (and kept)."""
    from openims import metrics

    if workers <= 1 or metrics.multiprocess_dir() is not None:
        yield
        return
    directory = tempfile.mkdtemp(prefix="openims-metrics-")
    os.environ[metrics.MULTIPROCESS_DIR_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(metrics.MULTIPROCESS_DIR_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def _load_demo(settings: Settings) -> None:
    from openims import demo

    async def load(store: ImageStore) -> tuple[int, str | None]:
        count = await store.import_items(demo.catalog()) if await store.count() == 0 else 0
        gold = ListQuery(clauses=(Clause("__imagetype", "eq", "gold"),), limit=1)
        found = await store.query(gold, Caller("openims-cli", frozenset({"admin"})))
        return count, (documents.parse(found[0])["id"] if found else None)

    count, gold = _run_with_store(settings, load, upgrade=False)
    base = f"http://{settings.host}:{settings.port}"
    if count:
        click.echo(f"Loaded the demo catalog: {count} images.", err=True)
    else:
        click.echo("The database already holds images; the demo catalog was not loaded.", err=True)
    auth = "" if settings.no_auth else " -H 'X-Auth-Token: <token>'"
    click.echo("Try:", err=True)
    click.echo(f"  curl{auth} '{base}/v2/cloudimages?__imagetype=gold&limit=2'", err=True)
    if gold:
        click.echo(f"  curl{auth} {base}/v2/images/{gold}", err=True)
    click.echo(f"  curl{auth} -H 'X-Project-Id: demo' '{base}/v2/images?limit=5'", err=True)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@database_option
def upgrade(database_url: str | None) -> None:
    """Apply pending migrations."""
    settings = _settings(database_url=database_url)
    _upgrade(settings.database_url)
    click.echo(f"Database {redacted(settings.database_url)} is up to date.", err=True)


@contextmanager
def _progress(
    length: int | None, label: str, unit: str = "images"
) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal; nothing at all when stderr is a file or a pipe.

    `length` is the work to do in `unit`s (images, or bytes of input); None when it cannot be
    known in advance (input from a pipe): the bar then shows how much is done. Redrawing after
    every image would cost more than checking it, so the bar redraws every 0.5% (or MB)."""
    if not sys.stderr.isatty():
        yield None
        return
    done = 0

    def shown(_item: object) -> str:
        if unit == "bytes":
            return f"{done / 1_000_000:.1f} MB"
        return f"{done}/{length} {unit}" if length is not None else f"{done} {unit}"

    if length is not None:
        steps = max(1, length // 200)
        bar = click.progressbar(length=length, label=label, file=sys.stderr)
    else:  # an iterator without a length: click animates the bar instead of filling it
        steps = 1_000_000 if unit == "bytes" else 1000
        bar = click.progressbar((_ for _ in ()), label=label, file=sys.stderr)
    bar.item_show_func = shown
    pending = 0

    def update(amount: int) -> None:
        nonlocal done, pending
        done += amount
        pending += amount
        if pending >= steps:
            bar.update(pending)
            pending = 0

    with bar:
        yield update
        if pending:  # the last few steps, so a finished bar shows 100%
            bar.update(pending)


def _input_size(stream: IO[bytes]) -> int | None:
    """Bytes in the input when it is a regular file (a pipe's length is unknown)."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


@main.command("import")
@click.argument("source", metavar="FILE|-")
@database_option
def import_(source: str, database_url: str | None) -> None:
    """Load image documents (JSON lines or a JSON array): all or nothing."""
    from openims import transfer

    settings = _settings(database_url=database_url)
    try:
        stream = _open_input(source)
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror}") from None

    async def work(store: ImageStore) -> int:
        # two passes, each with its bar: checking every object (by bytes of input), then
        # writing them (by images, counted by the first pass)
        with _progress(_input_size(stream), "Checking", "bytes") as progress:
            checked = transfer.check_stream(stream, progress)
        with checked, _progress(checked.count, "Writing") as progress:
            return await transfer.write(store, checked, progress)

    try:
        with stream:
            count = _run_with_store(settings, work)
    except transfer.ImportFailed as exc:
        raise click.ClickException(f"nothing imported: {exc}") from None
    click.echo(f"Imported {count} images.", err=True)


@main.command()
@click.argument("target", metavar="[FILE|-]", default="-")
@database_option
def export(target: str, database_url: str | None) -> None:
    """Write every image document as JSON lines (the import format)."""
    from openims import transfer

    settings = _settings(database_url=database_url)
    try:
        out = sys.stdout.buffer if target == "-" else open(target, "wb")  # noqa: SIM115
    except OSError as exc:  # as `import` reports a file it cannot read
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None

    async def work(store: ImageStore) -> int:
        return await transfer.export_stream(store, out)

    try:
        count = _run_with_store(settings, work)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    click.echo(f"Exported {count} images.", err=True)


@main.command()
@click.option(
    "--images",
    type=click.IntRange(0, 50_000_000),
    default=None,
    help="How many images in all; public gold images take at most half [default: 500]",
)
@click.option("--seed", type=int, default=None, help="Random seed [default: 2018]")
@database_option
def demo(images: int | None, seed: int | None, database_url: str | None) -> None:
    """Fill the database with a realistic demo catalog (deterministic by seed): a public gold
    image of every documented OS version when N allows, private and shared tenant images."""
    from openims import demo as demo_catalog

    settings = _settings(database_url=database_url)
    count_wanted = images if images is not None else demo_catalog.DEFAULT_IMAGES
    chosen_seed = seed if seed is not None else demo_catalog.DEFAULT_SEED

    async def work(store: ImageStore) -> int:
        with _progress(count_wanted, "Generating") as progress:
            return await store.import_items(
                demo_catalog.catalog(count_wanted, chosen_seed), progress=progress
            )

    try:
        count = _run_with_store(settings, work)
    except Exception as exc:
        from openims.domain.errors import ApiError

        if isinstance(exc, ApiError):
            raise click.ClickException(f"nothing loaded: {exc}") from None
        raise
    click.echo(f"Loaded {count} demo images.", err=True)


credentials_file_option = click.option(
    "--file",
    "path",
    envvar="OPENIMS_CREDENTIALS",
    type=click.Path(path_type=Path),
    default=None,
    help="Credentials file [default: ./data/credentials.toml]",
)
project_option = click.option(
    "--project-id", required=True, help="The project (tenant) the new secret acts as."
)
role_option = click.option(
    "--role",
    "roles",
    multiple=True,
    help="A role, e.g. admin (repeat for several) [default: none, a common user]",
)


def _credentials_path(path: Path | None) -> Path:
    # --file reads OPENIMS_CREDENTIALS itself: without either, the default applies
    return path if path is not None else DEFAULT_CREDENTIALS


@main.group()
def credentials() -> None:
    """AK/SK pairs in the credentials file."""


@credentials.command("add")
@project_option
@role_option
@credentials_file_option
def credentials_add(project_id: str, roles: tuple[str, ...], path: Path | None) -> None:
    """Append a new AK/SK pair to the credentials file and print it."""
    from openims.auth.credentials import CredentialsFileError, add_credential

    target = _credentials_path(path)
    try:
        added = add_credential(target, project_id, frozenset(r.lower() for r in roles))
    except CredentialsFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"access_key = {added.access_key}")
    click.echo(f"secret_key = {added.secret_key}")
    click.echo(f"project_id = {added.project_id}")
    click.echo(f"Added to {target}.", err=True)


@main.group()
def token() -> None:
    """Static tokens (X-Auth-Token) in the credentials file."""


@token.command("add")
@project_option
@role_option
@credentials_file_option
def token_add(project_id: str, roles: tuple[str, ...], path: Path | None) -> None:
    """Append a new static token to the credentials file and print it."""
    from openims.auth.credentials import CredentialsFileError, add_token

    target = _credentials_path(path)
    try:
        added = add_token(target, project_id, frozenset(r.lower() for r in roles))
    except CredentialsFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(added.token)
    click.echo(f"Added to {target} for project {added.project_id}.", err=True)
