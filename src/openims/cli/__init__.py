"""The `openims` command. Every option also reads `OPENIMS_<NAME>` from the environment."""

from __future__ import annotations

from typing import Any

import click

from openims import __version__
from openims.cli import credentials, data, quota, serve
from openims.cli.common import BadInput


class Commands(click.Group):
    """The `openims` group: a command line a command cannot use (an unknown or missing option,
    a bad value) is reported in one line, exit status 2, as a bad setting is: click's usage
    text before it would bury the line that says what is wrong."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            hint = f" Try '{exc.ctx.command_path} -h' for help." if exc.ctx is not None else ""
            raise BadInput(exc.format_message() + hint) from None


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="openims")
def main() -> None:
    """OpenIMS: an image catalog speaking Huawei Cloud IMS and OpenStack Glance v2."""


for command in (
    serve.serve,
    data.db,
    data.import_,
    data.export,
    data.demo,
    data.gc,
    credentials.credentials,
    credentials.token,
    quota.quota,
):
    main.add_command(command)
