"""``ailayer card MODEL:VERSION``: a model version's card, through the API with the key:
a summary here, the whole card as JSON, or one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ailayer.cli import context
from ailayer.cli.output import print_json


def parse_target(text: str) -> tuple[str, str]:
    """``MODEL:VERSION`` (a number or an alias such as champion)."""
    model, sep, version = text.rpartition(":")
    if not sep or not model or not version:
        raise click.BadParameter(
            f"expected MODEL:VERSION such as fraud:3 or fraud:champion; got {text!r}",
            param_hint="MODEL:VERSION",
        )
    return model, version


@click.command("card")
@click.argument("target", metavar="MODEL:VERSION")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the card as one self-contained HTML page to this file.",
)
@context.url_option
@context.key_option
@context.json_option
def card(
    target: str, html_path: Path | None, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """The model card of MODEL:VERSION (VERSION: a number or an alias): intended use,
    owner, training data, metrics, fairness, drift, top features and limitations, all
    from what ailayer recorded.

    Uses the API at --url with --api-key.
    """
    model, version = parse_target(target)
    with context.client(url, api_key) as client:
        number = _version_number(client, model, version)
        if html_path is not None:
            page = client.model_card(model, number, html=True)
            html_path.write_text(page, encoding="utf-8")
            click.echo(f"wrote {html_path} ({len(page.encode()):,} bytes)")
            return
        found = client.model_card(model, number)
    if as_json:
        print_json(found)
    else:
        _summary(found)


def _version_number(client: Any, model: str, version: str) -> int:
    if version.isdigit():
        return int(version)
    aliases = client.get_model(model)["aliases"]
    if version not in aliases:
        known = ", ".join(sorted(aliases)) or "none"
        raise click.BadParameter(
            f"model {model!r} has no alias {version!r} (aliases: {known})",
            param_hint="MODEL:VERSION",
        )
    return int(aliases[version])


def _summary(found: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"Model card: {found['model']}:{found['version']}")
    echo(f"intended use: {found['intended_use']['text'] or '(not stated)'}")
    owner = found["owner"]
    echo(f"owner: team {owner['team'] or '(none)'}; registered by {owner['registered_by']}")
    dataset = found["training_data"]["dataset"] or {}
    run = found["training_data"]["run"] or {}
    echo(f"training data: dataset {dataset.get('id', '(none)')}, run {run.get('id', '(none)')}")
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(found["metrics"].items()))
    echo(f"metrics: {metrics or '(none)'}")
    for attribute, checks in sorted(found["fairness"]["training"].items()):
        held = all(check["passed"] for check in checks)
        echo(f"fairness by {attribute}: {'held' if held else 'FAILED'} at training")
    for status in found["drift"]:
        drifted = ", ".join(status.get("drifted_features") or []) or "none"
        echo(f"drift on {status['endpoint']}: drifted features {drifted}")
    top = found["top_features"] or {}
    if top.get("features"):
        echo("top features: " + ", ".join(f["name"] for f in top["features"]))
    echo("limitations:")
    for line in found["limitations"] or ["(none recorded)"]:
        echo(f"  - {line}")
