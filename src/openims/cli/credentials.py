"""`openims credentials add` and `openims token add`: secrets appended to the credentials
file, printed once."""

from __future__ import annotations

from pathlib import Path

import click

from openims.config import DEFAULT_CREDENTIALS

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


def _known_roles(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> frozenset[str]:
    from openims.auth.credentials import known_roles
    from openims.domain.access import ROLES

    for value in values:
        if value.lower() not in ROLES:
            raise click.BadParameter(f"unknown role {value!r} ({known_roles()})")
    return frozenset(value.lower() for value in values)


role_option = click.option(
    "--role",
    "roles",
    multiple=True,
    callback=_known_roles,
    help="admin, reader or observer (repeat for several) [default: none, a common user]",
)


def _credentials_path(path: Path | None) -> Path:
    # --file reads OPENIMS_CREDENTIALS itself: without either, the default applies
    return path if path is not None else DEFAULT_CREDENTIALS


@click.group()
def credentials() -> None:
    """AK/SK pairs in the credentials file."""


@credentials.command("add")
@project_option
@role_option
@credentials_file_option
def credentials_add(project_id: str, roles: frozenset[str], path: Path | None) -> None:
    """Append a new AK/SK pair to the credentials file and print it."""
    from openims.auth.credentials import CredentialsFileError, add_credential

    target = _credentials_path(path)
    try:
        added = add_credential(target, project_id, roles)
    except CredentialsFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"access_key = {added.access_key}")
    click.echo(f"secret_key = {added.secret_key}")
    click.echo(f"project_id = {added.project_id}")
    click.echo(f"Added to {target}.", err=True)


@click.group()
def token() -> None:
    """Static tokens (X-Auth-Token) in the credentials file."""


@token.command("add")
@project_option
@role_option
@credentials_file_option
def token_add(project_id: str, roles: frozenset[str], path: Path | None) -> None:
    """Append a new static token to the credentials file and print it."""
    from openims.auth.credentials import CredentialsFileError, add_token

    target = _credentials_path(path)
    try:
        added = add_token(target, project_id, roles)
    except CredentialsFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(added.token)
    click.echo(f"Added to {target} for project {added.project_id}.", err=True)
