"""The ``ailayer`` command group. Commands parse, call a service or the SDK, and print.

Any ailayer error ends the command with one clear line on stderr and exit code 1.
"""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from ailayer import __version__
from ailayer.core.errors import AilayerError


class AilayerGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AilayerError as exc:
            raise click.ClickException(exc.message) from None
        except OSError as exc:
            raise click.ClickException(str(exc)) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise click.ClickException(f"invalid setting {field}: {first['msg']}") from None


@click.group(cls=AilayerGroup)
@click.version_option(__version__, prog_name="ailayer")
def cli() -> None:
    """ailayer: feature store, model registry, predictions and monitoring in one service."""


def _register_commands() -> None:
    from ailayer.cli import db, keys, models, up

    for module in (up, db, keys, models):
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()


def main() -> None:
    cli(prog_name="ailayer")
