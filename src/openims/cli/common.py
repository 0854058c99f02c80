"""What every command shares: its settings (one line naming the bad one), the `--database`
option, the database's migrations, and the services a command works with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from openims import errors
from openims.config import Settings
from openims.service import Services
from openims.store import migrate
from openims.store.engine import redacted

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


def settings_from(**overrides: Any) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise setting_error(exc) from None


def setting_error(exc: ValidationError) -> SettingError:
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


def run_with_services(
    settings: Settings,
    work: Callable[[Services], Coroutine[Any, Any, T]],
    *,
    upgrade: bool = True,
) -> T:
    """Run `work` on the services of the settings' database (migrated first, unless told)."""
    if upgrade:
        upgrade_database(settings.database_url)

    async def main() -> T:
        services = Services.open(settings, pool_size=2)
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(main())


def upgrade_database(url: str) -> None:
    """Apply migrations; a database out of reach is a one-line error, not a trace."""
    try:
        migrate.upgrade(url)
    except Exception as exc:
        if not errors.database_unavailable(exc):
            raise
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"cannot reach the database {redacted(url)}: {reason}") from None
