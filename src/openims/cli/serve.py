"""`openims serve`: check every input and take the port, then migrate, optionally load the demo
catalog, and run the API under uvicorn."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from openims import __version__, logs
from openims.cli.common import (
    BadInput,
    database_option,
    image_store_option,
    run_with_services,
    settings_from,
    upgrade_database,
)
from openims.config import PORTS, WORKERS, Settings
from openims.domain import documents
from openims.domain.access import Caller
from openims.domain.query import Clause, ListQuery
from openims.service import Services
from openims.store.engine import redacted


@click.command()
@click.option("--host", default=None, help="[default: 127.0.0.1]")
@click.option("--port", type=click.IntRange(*PORTS), default=None, help="[default: 9292]")
@click.option(
    "--workers",
    type=click.IntRange(*WORKERS),
    default=None,
    help="Worker processes [default: 1]",
)
@database_option
@image_store_option
@click.option(
    "--credentials",
    type=click.Path(path_type=Path),
    default=None,
    help="Credentials file [default: ./data/credentials.toml]",
)
@click.option(
    "--web-download-allow",
    default=None,
    help="Comma-separated http(s) URL prefixes web-download imports may fetch from "
    "[default: none, web-download off]",
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
    # Every input is checked, and the port taken, before the database is touched: a refused
    # start creates, migrates and loads nothing.
    settings = settings_from(**options)
    logs.configure(settings.log_level)
    _check_flavors(settings)
    _check_image_store(settings)
    _check_obs(settings)
    if not settings.no_auth:
        from openims.api.app import authenticator
        from openims.auth.credentials import CredentialsFileError

        try:  # refuse to start on a missing or unsafe credentials file
            authenticator(settings)
        except CredentialsFileError as exc:
            raise click.ClickException(str(exc)) from None
    if settings.console_secret is None:  # one key for every worker: any may read a session
        settings = settings.model_copy(update={"console_secret": secrets.token_urlsafe(32)})
    listener = _listen(settings.host, settings.port)
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
    if settings.demo:
        _load_demo(settings)
    base = f"http://{_address(settings.host, settings.port)}"
    click.echo(
        f"OpenIMS {__version__} on {base} (database {redacted(settings.database_url)})", err=True
    )
    click.echo(f"The web console: {base}/console", err=True)
    with _metrics_directory(settings.workers):
        _run(settings, listener)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, taken now, before any other work, and handed to uvicorn
    (which would otherwise bind it last, after migrations and the banner, and report a port in
    use in a log line). Bound as uvicorn binds (IPv6 when the host has a colon, SO_REUSEADDR so
    a restart does not wait for old connections) and listening at once, so that no second
    server can take the port meanwhile; connections made before the server is ready wait."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(f"{_address(host, port)} is already in use") from None
        reason = exc.strerror or str(exc)
        raise click.ClickException(f"cannot listen on {_address(host, port)}: {reason}") from None
    sock.set_inheritable(True)  # workers (--workers > 1) inherit it
    return sock


def _run(settings: Settings, listener: socket.socket) -> None:
    """uvicorn on the socket `_listen` took: `uvicorn.run`, given a socket instead of an
    address to bind."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
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
    server = uvicorn.Server(config)
    try:
        if settings.workers > 1:
            Multiprocess(config, sockets=[listener]).run()
        else:
            server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
    if settings.workers == 1 and not server.started:
        sys.exit(3)  # as uvicorn.run: the application did not start


def _check_flavors(settings: Settings) -> None:
    """Each worker loads the flavor catalog as it starts; a bad OPENIMS_FLAVORS file would
    stop every worker with a trace. Load it once here, where it can be one line."""
    from openims.domain.flavors import FlavorCatalog

    try:
        FlavorCatalog.load(settings.flavors)
    except ValueError as exc:
        raise BadInput(f"OPENIMS_FLAVORS: {exc}") from None


def _check_image_store(settings: Settings) -> None:
    """A bad OPENIMS_IMAGE_STORE would stop every worker with a trace: parse it here."""
    from openims.store.blobs import open_store

    try:
        open_store(settings.image_store)
    except ValueError as exc:
        raise BadInput(f"Invalid value for --image-store / OPENIMS_IMAGE_STORE: {exc}") from None


def _check_obs(settings: Settings) -> None:
    """A bad OPENIMS_OBS would stop every worker with a trace: parse it here."""
    from openims.store.obs import open_obs

    try:
        open_obs(settings.obs)
    except ValueError as exc:
        raise BadInput(f"OPENIMS_OBS: {exc}") from None


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


DEMO_PROJECT = "demo"  # the tenant of the demo catalog a caller acts as by default


def _load_demo(settings: Settings) -> None:
    from openims.service import demo

    async def load(services: Services) -> tuple[int, str | None, list[str]]:
        store = services.store
        count = await store.import_items(demo.catalog()) if await store.count() == 0 else 0
        if count:
            await demo.make_room(services.quotas)
        with_data = await demo.add_data_images(services.images, services.data) if count else []
        # an image the demo caller owns and may update (the IMS update takes active images)
        mine = ListQuery(
            clauses=(
                Clause("owner", "eq", DEMO_PROJECT),
                Clause("status", "eq", "active"),
            ),
            limit=1,
        )
        found = await store.query(mine, Caller(DEMO_PROJECT))
        return count, (documents.parse(found[0])["id"] if found else None), with_data

    count, mine, with_data = run_with_services(settings, load, upgrade=False)
    base = f"http://{settings.host}:{settings.port}"
    if count:
        click.echo(
            f"Loaded the demo catalog: {count} images, and {len(with_data)} of project "
            f"{DEMO_PROJECT} with data.",
            err=True,
        )
    else:
        click.echo("The database already holds images; the demo catalog was not loaded.", err=True)
    auth = "" if settings.no_auth else " -H 'X-Auth-Token: <token>'"
    click.echo("Try:", err=True)
    click.echo(f"  curl{auth} '{base}/v2/cloudimages?__imagetype=gold&limit=2'", err=True)
    # without authentication the caller is whoever X-Project-Id names (demo by default)
    project = " -H 'X-Project-Id: demo'" if settings.no_auth else ""
    click.echo(f"  curl{auth}{project} '{base}/v2/images?limit=5'", err=True)
    for image_id in with_data[:1]:
        click.echo(f"  curl{auth}{project} -O {base}/v2/images/{image_id}/file", err=True)
    if mine:
        click.echo(f"  curl{auth} {base}/v2/images/{mine}", err=True)
        click.echo(
            f"  ({mine}: an active image of project {DEMO_PROJECT}, which may update it)",
            err=True,
        )
