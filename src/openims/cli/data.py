"""The data commands: `openims db upgrade`, `import`, `export` and `demo`."""

from __future__ import annotations

import math
import sys

import click

from openims.cli.common import (
    database_option,
    image_store_option,
    run_with_services,
    settings_from,
    upgrade_database,
)
from openims.cli.progress import input_size, open_input, progress
from openims.service import Services
from openims.service.image_data import TEMPORARY_IDLE
from openims.store.bulk import Spool
from openims.store.engine import redacted


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@database_option
def upgrade(database_url: str | None) -> None:
    """Apply pending migrations."""
    settings = settings_from(database_url=database_url)
    upgrade_database(settings.database_url)
    click.echo(f"Database {redacted(settings.database_url)} is up to date.", err=True)


@click.command("import")
@click.argument("source", metavar="FILE|-")
@database_option
def import_(source: str, database_url: str | None) -> None:
    """Load image documents (JSON lines or a JSON array): all or nothing."""
    from openims.service import transfer

    settings = settings_from(database_url=database_url)
    try:
        stream = open_input(source)
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror}") from None

    async def work(services: Services) -> int:
        # two passes, each with its bar: checking every object (by bytes of input), then
        # writing them (by images, counted by the first pass)
        with progress(input_size(stream), "Checking", "bytes") as tick:
            checked = transfer.check_stream(stream, tick)
        with checked, progress(checked.count, "Writing") as tick:
            return await transfer.write(services.store, checked, tick)

    try:
        with stream:
            count = run_with_services(settings, work)
    except transfer.ImportFailed as exc:
        raise click.ClickException(f"nothing imported: {exc}") from None
    click.echo(f"Imported {count} images.", err=True)


@click.command()
@click.argument("target", metavar="[FILE|-]", default="-")
@database_option
def export(target: str, database_url: str | None) -> None:
    """Write every image document as JSON lines (the import format)."""
    from openims.service import transfer

    settings = settings_from(database_url=database_url)
    try:
        out = sys.stdout.buffer if target == "-" else open(target, "wb")  # noqa: SIM115
    except OSError as exc:  # as `import` reports a file it cannot read
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None

    async def work(services: Services) -> int:
        return await transfer.export_stream(services.store, out)

    try:
        count = run_with_services(settings, work)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    click.echo(f"Exported {count} images.", err=True)


@click.command()
@click.option(
    "--images",
    type=click.IntRange(0, 50_000_000),
    default=None,
    help="How many images in all; public gold images take at most half [default: 500]",
)
@click.option("--seed", type=int, default=None, help="Random seed [default: 2018]")
@click.option(
    "--data/--no-data",
    "with_data",
    default=True,
    help="Add the demo project's two tiny images with real data [default: --data]",
)
@database_option
@image_store_option
def demo(
    images: int | None,
    seed: int | None,
    with_data: bool,
    database_url: str | None,
    image_store: str | None,
) -> None:
    """Fill the database with a realistic demo catalog (deterministic by seed): a public gold
    image of every documented OS version when N allows, private and shared tenant images; and
    two tiny images of the demo project with real data, uploaded and inspected as any."""
    from openims.service import demo as demo_catalog

    settings = settings_from(database_url=database_url, image_store=image_store)
    count_wanted = images if images is not None else demo_catalog.DEFAULT_IMAGES
    chosen_seed = seed if seed is not None else demo_catalog.DEFAULT_SEED

    async def work(services: Services) -> int:
        # as `import`: a bar while the images are made (and turned into rows), then one
        # while they are written
        with Spool() as spool:
            with progress(count_wanted, "Generating") as tick:
                spool.fill(demo_catalog.catalog(count_wanted, chosen_seed), progress=tick)
            with progress(spool.count, "Writing") as tick:
                count = await services.store.import_spool(spool, progress=tick)
        await demo_catalog.make_room(services.quotas)
        if not with_data:
            return count
        return count + len(await demo_catalog.add_data_images(services.images, services.data))

    try:
        count = run_with_services(settings, work)
    except Exception as exc:
        from openims.errors import ApiError

        if isinstance(exc, ApiError):
            raise click.ClickException(f"nothing loaded: {exc}") from None
        raise
    click.echo(f"Loaded {count} demo images.", err=True)


def _seconds(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if math.isnan(value):
        raise click.BadParameter(f"{value} is not a number of seconds.")
    return value


@click.command()
@database_option
@image_store_option
@click.option(
    "--temporaries-idle",
    callback=_seconds,
    type=click.FloatRange(min=0),
    default=TEMPORARY_IDLE,
    show_default=True,
    metavar="SECONDS",
    help="Remove temporaries (unfinished writes) idle for longer; 0 once every server has "
    "stopped clears all",
)
def gc(database_url: str | None, image_store: str | None, temporaries_idle: float) -> None:
    """Undo uploads whose server died, and remove image data that no image owns.

    Safe while servers run: an upload in progress (a fresh heartbeat) and every image's data
    are kept. Servers run the same sweep now and then by themselves. A smaller
    --temporaries-idle than a slow client's pause between parts removes its upload's
    temporary: lower it only with every server stopped."""
    settings = settings_from(database_url=database_url, image_store=image_store)

    async def work(services: Services) -> tuple[int, int]:
        return await services.data.sweep(temporaries_idle=temporaries_idle)

    undone, removed = run_with_services(settings, work)
    click.echo(f"Undid {undone} abandoned uploads; removed {removed} unowned objects.", err=True)
