"""``ailayer lineage MODEL:VERSION``: where a model version came from and where it serves.

Read through the API with a key, as every command that looks at a running deployment.
"""

from __future__ import annotations

from typing import Any

import click

from ailayer.cli import context
from ailayer.cli.output import print_json


def parse_target(value: str) -> tuple[str, int]:
    model, _, version = value.rpartition(":")
    if not model or not version.isdigit() or int(version) < 1:
        raise click.BadParameter(
            f"{value!r} is not MODEL:VERSION (e.g. fraud:3)", param_hint="MODEL:VERSION"
        )
    return model, int(version)


@click.command("lineage")
@click.argument("target", metavar="MODEL:VERSION")
@context.url_option
@context.key_option
@context.json_option
def lineage(target: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Sources → feature views → dataset → pipeline run → MODEL:VERSION → deployments.

    Uses the API at --url with --api-key.
    """
    model, version = parse_target(target)
    with context.client(url, api_key) as client:
        found = client.lineage(model, version)
    if as_json:
        print_json(found)
        return
    click.echo("\n".join(lines(found)))


def lines(found: dict[str, Any]) -> list[str]:
    """The lineage for people, from the data down to where the version serves."""
    out = ["sources"]
    out += [f"  {_source(s)}  → {', '.join(s['views'])}" for s in found["sources"]] or ["  (none)"]
    out.append("feature views")
    out += [
        f"  {v['name']} ({v['kind']}) v{v['version']} revision {v['revision']}"
        + (" (definition gone)" if v["missing"] else "")
        for v in found["feature_views"]
    ] or ["  (none)"]
    out.append("dataset")
    out.append(f"  {_dataset(found['dataset'])}")
    out.append("run")
    out.append(f"  {_run(found['run'])}")
    model = found["model"]
    out.append("model version")
    out.append(
        f"  {model['name']} v{model['version']}"
        + (f" [{', '.join(model['aliases'])}]" if model["aliases"] else "")
        + f"  sha256 {model['artifact_sha256'][:12]}  code {model['code_version'] or 'unknown'}"
    )
    out.append("deployments")
    out += [
        f"  {d['endpoint']}: {d['kind']} {d['state']} revision {d['revision']}, variant "
        f"{d['variant']} at {d['share']}%" + (" (shadow)" if d["shadow"] else "")
        for d in found["deployments"]
    ] or ["  (none)"]
    return out


def _source(source: dict[str, Any]) -> str:
    where = source.get("path") or source.get("table") or source.get("topic") or ""
    return f"{source.get('type', 'source')} {where}".strip()


def _dataset(dataset: dict[str, Any] | None) -> str:
    if dataset is None:
        return "(not recorded)"
    if dataset.get("missing"):
        return f"{dataset['id']} (record gone)"
    return (
        f"{dataset['id']}  {dataset['row_count']} rows  sha256 {dataset['content_sha256'][:12]}"
        f"  {dataset['start_at']} → {dataset['end_at']}"
    )


def _run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "(not made by a pipeline)"
    if run.get("missing"):
        return f"{run['id']} (record gone)"
    trigger = run["trigger"].get("kind", "?")
    line = f"{run['id']}  {run['pipeline']} {run['status']}  trigger {trigger}  by {run['actor']}"
    verdict = (run.get("rollout") or {}).get("verdict")
    if verdict:
        line += f"  canary {verdict['state']}: {verdict['reason']}"
    return line
