"""The `openims` command. Every option also reads `OPENIMS_<NAME>` from the environment."""

from __future__ import annotations

import click

from openims import __version__
from openims.cli import credentials, data, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="openims")
def main() -> None:
    """OpenIMS: an image catalog speaking Huawei Cloud IMS and OpenStack Glance v2."""


for command in (
    serve.serve,
    data.db,
    data.import_,
    data.export,
    data.demo,
    credentials.credentials,
    credentials.token,
):
    main.add_command(command)
