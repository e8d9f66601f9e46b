"""``ailayer manifests render``: Kubernetes manifests for each role, from a values file.

No Helm binary is needed: the values file (YAML) is checked by a pydantic model (a wrong
type or an unknown key is refused with the field named) and the manifests are built as
Python dicts, written as YAML, one file per object (``ailayer.kubernetes``). Secrets are
never values: the pods read them from Secrets that already exist in the cluster.
"""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from ailayer.kubernetes.manifests import render, write
from ailayer.kubernetes.values import load_values


@click.group("manifests")
def manifests_group() -> None:
    """Kubernetes manifests of each role (docs/deploy.md, "Kubernetes")."""


@manifests_group.command("render")
@click.option(
    "--values",
    "values_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Values file (YAML), e.g. deploy/values/production.yaml.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for one file per manifest (default: all to stdout, as one stream).",
)
def render_command(values_path: Path, out: Path | None) -> None:
    """Render the manifests of VALUES; a wrong value is refused with its field named.

    Operator: works offline on the values file alone (no settings, no API, no cluster);
    apply the output with `kubectl apply -f`.
    """
    manifests = render(load_values(values_path))  # a wrong value: the group's clear error
    if out is None:
        click.echo(yaml.safe_dump_all(manifests, sort_keys=False), nl=False)
        return
    for path in write(manifests, out):
        click.echo(str(path))
