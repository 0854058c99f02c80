"""`openims quota`: the limits the operator sets for one project (docs/quotas.md). A project
without limits of its own has the settings' (`OPENIMS_IMAGE_QUOTA`,
`OPENIMS_IMAGE_BYTES_QUOTA`)."""

from __future__ import annotations

import click

from openims.cli.common import database_option, run_with_services, settings_from
from openims.domain.quotas import MAX_IMAGES, UNLIMITED, Limits, Override, Usage
from openims.service import Services


def _project(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (not value.strip() or len(value) > 255):
        raise click.BadParameter("a project ID has 1 to 255 characters, not only spaces")
    return value


@click.group()
def quota() -> None:
    """Project quotas: images and bytes a project may hold."""


@quota.command("set")
@click.option("--project-id", required=True, callback=_project, help="The project (tenant).")
@click.option(
    "--images",
    type=click.IntRange(0, MAX_IMAGES),
    default=None,
    help="Images the project may own [default: unchanged]",
)
@click.option(
    "--bytes",
    "size",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="Bytes of image data its images may hold together, 0 for no limit [default: unchanged]",
)
@database_option
def set_(project_id: str, images: int | None, size: int | None, database_url: str | None) -> None:
    """Set a project's own limits (the others stay as they were)."""
    if images is None and size is None:
        raise click.UsageError("give --images, --bytes or both.")
    settings = settings_from(database_url=database_url)

    async def work(services: Services) -> tuple[Limits, Usage, Override | None]:
        await services.quotas.set(project_id, images=images, size=size)
        return await services.quotas.report(project_id)

    _print(project_id, *run_with_services(settings, work))


@quota.command("unset")
@click.option("--project-id", required=True, callback=_project, help="The project (tenant).")
@database_option
def unset(project_id: str, database_url: str | None) -> None:
    """Give a project the default limits again."""
    settings = settings_from(database_url=database_url)

    async def work(services: Services) -> bool:
        return await services.quotas.unset(project_id)

    if run_with_services(settings, work):
        click.echo(f"Project {project_id} has the default limits again.", err=True)
    else:
        click.echo(f"Project {project_id} had no limits of its own.", err=True)


@quota.command("show")
@click.option(
    "--project-id",
    default=None,
    callback=_project,
    help="One project's limits and usage [default: every project with limits of its own]",
)
@database_option
def show(project_id: str | None, database_url: str | None) -> None:
    """Show a project's limits and usage, or the defaults and every project's own limits."""
    settings = settings_from(database_url=database_url)
    if project_id is not None:

        async def one(services: Services) -> tuple[Limits, Usage, Override | None]:
            return await services.quotas.report(project_id)

        _print(project_id, *run_with_services(settings, one))
        return

    async def every(services: Services) -> list[Override]:
        return await services.quotas.overrides()

    overrides = run_with_services(settings, every)
    click.echo(
        f"default\timages={settings.image_quota}\tbytes={_bytes(settings.image_bytes_quota)}"
    )
    for o in overrides:
        click.echo(
            f"{o.project_id}\timages={_value(o.images)}\tbytes="
            + ("default" if o.bytes is None else _bytes(o.bytes))
        )


def _value(value: int | None) -> str:
    return "default" if value is None else str(value)


def _bytes(value: int) -> str:
    return "unlimited" if value == UNLIMITED else str(value)


def _print(project_id: str, limits: Limits, usage: Usage, override: Override | None) -> None:
    """One line per resource: used of limit, and whether the limit is the project's own."""
    own_images = override is not None and override.images is not None
    own_bytes = override is not None and override.bytes is not None
    click.echo(
        f"{project_id}\timages\t{usage.images} of {limits.images}"
        + ("" if own_images else " (default)")
    )
    click.echo(
        f"{project_id}\tbytes\t{usage.bytes} of {_bytes(limits.bytes)}"
        + ("" if own_bytes else " (default)")
    )
