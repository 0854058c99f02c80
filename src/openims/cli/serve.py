"""`openims serve`: check every input, migrate, optionally load the demo catalog, then run
the API under uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from openims import __version__, logs
from openims.cli.common import (
    SettingError,
    database_option,
    run_with_services,
    settings_from,
    upgrade_database,
)
from openims.config import Settings
from openims.domain import documents
from openims.domain.access import Caller
from openims.domain.query import Clause, ListQuery
from openims.service import Services
from openims.store.engine import redacted


@click.command()
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
    settings = settings_from(**options)
    logs.configure(settings.log_level)
    _check_flavors(settings)
    # workers are new processes: they read their settings from the environment
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"OPENIMS_{name.upper()}"] = str(value)
    upgrade_database(settings.database_url)
    if settings.no_auth:
        click.secho(
            "WARNING: authentication is OFF (--no-auth). Any caller can act as any "
            "project by sending X-Project-Id and X-Roles. Use this for tests only.",
            fg="red",
            bold=True,
            err=True,
        )
    else:
        from openims.api.app import authenticator
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
            "openims.api.app:factory",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            http="openims.api.http.protocol:BoundedHttpProtocol",
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
    from openims.service import demo

    async def load(services: Services) -> tuple[int, str | None]:
        store = services.store
        count = await store.import_items(demo.catalog()) if await store.count() == 0 else 0
        gold = ListQuery(clauses=(Clause("__imagetype", "eq", "gold"),), limit=1)
        found = await store.query(gold, Caller("openims-cli", frozenset({"admin"})))
        return count, (documents.parse(found[0])["id"] if found else None)

    count, gold = run_with_services(settings, load, upgrade=False)
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
