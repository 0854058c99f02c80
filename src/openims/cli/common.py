"""What every command shares: its settings (one line naming the bad one), the `--database`
option, the database's migrations, and the services a command works with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from openims import errors
from openims.config import Settings
from openims.service import Services
from openims.store import migrate
from openims.store.engine import redacted

T = TypeVar("T")

# Options that are settings read no environment variable themselves: `Settings` reads
# `OPENIMS_<NAME>`, so a bad value is reported under the name the operator gave it (the option
# on the command line, the variable in the environment).
database_option = click.option(
    "--database",
    "database_url",
    default=None,
    help="Database URL: sqlite:///path or postgresql://user@host/db "
    "[default: sqlite:///./data/openims.db]",
)


class BadInput(click.ClickException):
    """An option, argument or setting has a value the command cannot use: exit status 2, as
    click gives a usage error, but in one line (most settings have no option, so a usage text
    would not help; `openims` prints click's own usage errors in one line too)."""

    exit_code = 2


image_store_option = click.option(
    "--image-store",
    "image_store",
    default=None,
    help="Where image bytes live: file:///path or s3://bucket?endpoint=URL&region=NAME "
    "[default: file://./data/images]",
)


def settings_from(**options: Any) -> Settings:
    """The settings: the command's options as given on the command line (None when absent),
    over `OPENIMS_<NAME>` variables, over the defaults."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise setting_error(exc, given) from None


def setting_error(exc: ValidationError, given: Mapping[str, Any] | None = None) -> BadInput:
    """One line naming each bad setting as the operator gave it: by its option when it came
    from the command line (`given`), else by its environment variable; with its value (but
    never the database URL's password) and what is wrong with it."""
    problems = []
    for error in exc.errors():
        field = "_".join(str(part) for part in error["loc"])
        value = error.get("input")
        reason = str(error["msg"]).removeprefix("Value error, ")
        if given is not None and field in given:
            shown = _shown(field, value, str)
            problems.append(f"Invalid value for {_option_hint(field)}: {shown}: {reason}")
        else:
            shown = _shown(field, value, repr)
            problems.append(f"OPENIMS_{field.upper()}={shown}: {reason}")
    return BadInput("; ".join(problems))


SECRET_SETTINGS = frozenset({"console_secret"})  # never printed, not even when refused


def _shown(field: str, value: Any, show: Callable[[Any], str]) -> str:
    if field in SECRET_SETTINGS:
        return "(hidden)"
    if field == "database_url":
        return redacted(str(value))  # never the password
    return show(value)


def _option_hint(field: str) -> str:
    """The option of the running command that sets `field`, as click names it in errors."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        for param in ctx.command.params:
            if param.name == field:
                return param.get_error_hint(ctx)
    return f"'--{field.replace('_', '-')}'"


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
    """Apply migrations. A database out of reach, or one that refuses us (no such role or
    database, a wrong password), is a one-line error, not a trace."""
    try:
        migrate.upgrade(url)
    except migrate.Refused as exc:
        raise click.ClickException(f"cannot upgrade the database {redacted(url)}: {exc}") from None
    except Exception as exc:
        if database_refused(exc):
            raise click.ClickException(
                f"cannot use the database {redacted(url)}: {_first_line(exc)}"
            ) from None
        if not errors.database_unavailable(exc):
            raise
        raise click.ClickException(
            f"cannot reach the database {redacted(url)}: {_first_line(exc)}"
        ) from None


def database_refused(exc: BaseException) -> bool:
    """True when PostgreSQL refused the connection itself: SQLSTATE class 28 (invalid
    authorization: no such role, a wrong password, pg_hba.conf) or 3D (no such database)."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in ("28", "3D")


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
