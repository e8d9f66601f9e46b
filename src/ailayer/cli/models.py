"""``ailayer models``, ``ailayer alias`` and ``ailayer predict``: the registry from a shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option


@click.group("models")
def models_group() -> None:
    """Registered models and their versions."""


@models_group.command("list")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def models_list(url: str | None, api_key: str | None, as_json: bool, wide: bool) -> None:
    """List the models of the key's tenant.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rows = client.list_models()
    if as_json:
        print_json(rows)
    else:
        columns = ["name", "latest_version", "aliases", "updated_at"]
        print_table(rows, columns, title="models", wide=wide)


@models_group.command("show")
@click.argument("name")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def models_show(name: str, url: str | None, api_key: str | None, as_json: bool, wide: bool) -> None:
    """Show one model with its versions, aliases and metrics.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        model = client.get_model(name)
    if as_json:
        print_json(model)
        return
    aliases = ", ".join(f"{a}→v{v}" for a, v in model["aliases"].items()) or "none"
    click.echo(f"{model['name']}: {model['latest_version']} version(s); aliases: {aliases}")
    columns = ["version", "flavor", "aliases", "serves_compiled", "metrics", "created_by"]
    print_table(model["versions"], columns, wide=wide)


@models_group.command("serve")
@click.argument("model")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "--serve",
    "form",
    type=click.Choice(["compiled", "original"]),
    required=True,
    help="compiled: the ONNX form registration kept; original: the registered file",
)
@context.url_option
@context.key_option
@context.json_option
def models_serve(
    model: str, version: int, form: str, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Serve VERSION of MODEL compiled or original (running servers follow within 2 s).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        result = client.set_serving(model, version, form == "compiled")
    if as_json:
        print_json(result)
        return
    served = "compiled" if result["serves_compiled"] else "original"
    click.echo(f"{model} version {version} serves its {served} form")


@models_group.command("quantize")
@click.argument("model")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "--holdout",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Parquet or CSV records with the model's inputs and the truth, for accuracy.",
)
@click.option("--label", help="The holdout's truth column.")
@context.url_option
@context.key_option
@context.json_option
def models_quantize(
    model: str,
    version: int,
    holdout: Path | None,
    label: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Register VERSION of MODEL quantized to int8 as a new version, with its size,
    latency and accuracy deltas measured.

    Uses the API at --url with --api-key.
    """
    if (holdout is None) != (label is None):
        raise click.UsageError("--holdout and --label go together")
    records = _table_records(holdout) if holdout is not None else None
    with context.client(url, api_key) as client:
        result = client.quantize(model, version, records, label)
    if as_json:
        print_json(result)
        return
    new, deltas = result["version"], result["deltas"]
    click.echo(
        f"{model} version {new['version']}: version {version} quantized ({result['source']})"
    )
    for name in ("size_ratio", "p99_ratio", "batch_ratio", "agreement", "accuracy_delta"):
        value = deltas.get(name)
        click.echo(f"  {name:<16} {'-' if value is None else f'{value:.4g}'}")


def _table_records(path: Path) -> list[dict]:
    """A Parquet or CSV file's rows as records."""
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
    else:
        raise click.BadParameter("a .parquet or .csv file", param_hint="--holdout")
    return frame.to_dict(orient="records")


@click.group("alias")
def alias_group() -> None:
    """Aliases such as champion and challenger."""


@alias_group.command("set")
@click.argument("model")
@click.argument("alias")
@click.argument("version", type=click.IntRange(min=1))
@context.url_option
@context.key_option
@context.json_option
def alias_set(
    model: str, alias: str, version: int, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Point ALIAS of MODEL at VERSION (takes effect in running servers within 2 s).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        result = client.set_alias(model, alias, version)
    if as_json:
        print_json(result)
    else:
        click.echo(f"{model}@{alias} → version {version}")


def _records(text: str) -> object:
    try:
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            with open(text[1:]) as handle:
                text = handle.read()
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--json") from None


@click.command("predict")
@click.argument("endpoint")
@click.option(
    "--json",
    "records",
    required=True,
    help="A record or list of records as JSON, @FILE, or - for stdin.",
)
@context.url_option
@context.key_option
def predict(endpoint: str, records: str, url: str | None, api_key: str | None) -> None:
    """Predict with ENDPOINT; prints the server's JSON answer.

    Uses the API at --url with --api-key.
    """
    payload = _records(records)
    with context.client(url, api_key) as client:
        print_json(client.predict(endpoint, payload))
