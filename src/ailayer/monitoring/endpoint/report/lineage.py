"""A model version's lineage drawn as an inline SVG graph, left to right:

    sources → feature views → dataset → pipeline run → model version → deployments

It takes the lineage JSON (``pipelines.lineage.Lineage.of``, as ``GET /v1/lineage`` gives
it) and draws one column per stage with a box per node and a curve per link; a stage
that was never recorded (a version uploaded by hand has no run) is left out and its
neighbours are linked directly. Every label is escaped; a long one is cut on the box
and whole in its ``<title>`` (shown on hover). Nothing is fetched when the page opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise
from typing import Any

BOX_W, BOX_H = 158, 46
GAP_X, GAP_Y = 44, 14
PAD = 10
LABEL_CHARS = 24
STAGE_COLORS = {
    "source": "#eef3fb",
    "feature_view": "#eef7ee",
    "dataset": "#fdf3e6",
    "run": "#f3eefa",
    "model": "#fde9e8",
    "deployment": "#e8f6f6",
}


@dataclass(frozen=True)
class Node:
    """One box: its stage, a stable key for linking, a title line and a detail line."""

    stage: str
    key: str
    title: str
    detail: str = ""
    missing: bool = False


@dataclass
class Graph:
    """Columns of nodes and the links between them (by node key)."""

    columns: list[list[Node]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


def lineage_graph(found: dict[str, Any]) -> Graph:
    """The nodes and links of one version's lineage JSON."""
    stages = [
        [_source(i, s) for i, s in enumerate(found.get("sources") or [])],
        [_view(v) for v in found.get("feature_views") or []],
        [_dataset(found["dataset"])] if found.get("dataset") else [],
        [_run(found["run"])] if found.get("run") else [],
        [_model(found["model"])],
        [_deployment(d) for d in found.get("deployments") or []],
    ]
    columns = [column for column in stages if column]
    graph = Graph(columns)
    for left, right in pairwise(columns):
        for a in left:
            for b in right:
                if _linked(a, b, found):
                    graph.links.append((a.key, b.key))
    return graph


def svg(found: dict[str, Any]) -> str:
    """The graph of one version's lineage as one ``<svg>`` element."""
    graph = lineage_graph(found)
    tallest = max(len(column) for column in graph.columns)
    width = PAD * 2 + len(graph.columns) * BOX_W + (len(graph.columns) - 1) * GAP_X
    height = PAD * 2 + tallest * BOX_H + (tallest - 1) * GAP_Y
    places = _places(graph, height)
    parts = [
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="lineage of {escape(_model_label(found))}">'
    ]
    parts += [_edge(places[a], places[b]) for a, b in graph.links]
    parts += [_box(node, *places[node.key]) for column in graph.columns for node in column]
    parts.append("</svg>")
    return "".join(parts)


def _places(graph: Graph, height: int) -> dict[str, tuple[float, float]]:
    """Top-left corner of each node's box: columns left to right, each centred."""
    places = {}
    for i, column in enumerate(graph.columns):
        x = PAD + i * (BOX_W + GAP_X)
        used = len(column) * BOX_H + (len(column) - 1) * GAP_Y
        top = (height - used) / 2
        for j, node in enumerate(column):
            places[node.key] = (x, top + j * (BOX_H + GAP_Y))
    return places


def _edge(start: tuple[float, float], end: tuple[float, float]) -> str:
    x1, y1 = start[0] + BOX_W, start[1] + BOX_H / 2
    x2, y2 = end[0], end[1] + BOX_H / 2
    middle = (x1 + x2) / 2
    return (
        f'<path class="link" d="M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} '
        f'{middle:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="#999" '
        'stroke-width="1.3"/>'
    )


def _box(node: Node, x: float, y: float) -> str:
    fill = STAGE_COLORS.get(node.stage, "#f4f4f4")
    dash = ' stroke-dasharray="4 3"' if node.missing else ""
    whole = node.title + (f" ({node.detail})" if node.detail else "")
    return (
        f'<g class="node" data-stage="{node.stage}" data-key="{escape(node.key)}">'
        f"<title>{escape(whole)}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
        f'fill="{fill}" stroke="#888"{dash}/>'
        f'<text x="{x + 8:.1f}" y="{y + 19:.1f}" font-size="12" font-weight="600">'
        f"{escape(_cut(node.title))}</text>"
        f'<text x="{x + 8:.1f}" y="{y + 36:.1f}" font-size="11" fill="#555">'
        f"{escape(_cut(node.detail))}</text></g>"
    )


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _linked(a: Node, b: Node, found: dict[str, Any]) -> bool:
    """Sources link only to the views that read them; other neighbours link all to all."""
    if a.stage == "source" and b.stage == "feature_view":
        index = int(a.key.split(":", 1)[1])
        return b.title in (found["sources"][index].get("views") or [])
    return True


def _source(index: int, source: dict[str, Any]) -> Node:
    where = source.get("path") or source.get("topic") or source.get("table") or ""
    detail = str(source.get("type") or "source")
    if source.get("rev"):
        detail += f" @ {source['rev']}"
    return Node("source", f"source:{index}", str(where or detail), detail)


def _view(view: dict[str, Any]) -> Node:
    detail = f"v{view.get('version')} · revision {view.get('revision')}"
    if view.get("missing"):
        detail += " · missing"
    return Node(
        "feature_view",
        f"view:{view['name']}",
        str(view["name"]),
        detail,
        bool(view.get("missing")),
    )


def _dataset(dataset: dict[str, Any]) -> Node:
    if dataset.get("missing"):
        return Node("dataset", "dataset", f"dataset {dataset['id']}", "missing", True)
    rows = dataset.get("row_count")
    sha = str(dataset.get("content_sha256") or "")[:12]
    detail = f"{rows:,} rows · {sha}" if isinstance(rows, int) else sha
    return Node("dataset", "dataset", f"dataset {dataset['id']}", detail)


def _run(run: dict[str, Any]) -> Node:
    if run.get("missing"):
        return Node("run", "run", f"run {run['id']}", "missing", True)
    detail = str(run.get("status") or "")
    verdict = (run.get("rollout") or {}).get("verdict")
    if verdict:
        detail += f" · canary {verdict.get('state')}"
    return Node("run", "run", f"{run.get('pipeline')} run {run['id']}", detail)


def _model(model: dict[str, Any]) -> Node:
    aliases = ", ".join(model.get("aliases") or []) or "no alias"
    return Node("model", "model", _model_label({"model": model}), aliases)


def _deployment(deployment: dict[str, Any]) -> Node:
    share = "shadow" if deployment.get("shadow") else f"{deployment.get('share')}%"
    detail = f"{deployment.get('kind')} · {deployment.get('variant')} {share}"
    state = deployment.get("state")
    if state and state != "active":
        detail += f" · {state}"
    return Node(
        "deployment", f"deployment:{deployment['endpoint']}", deployment["endpoint"], detail
    )


def _model_label(found: dict[str, Any]) -> str:
    model = found["model"]
    return f"{model['name']} v{model['version']}"


def section(graphs: Sequence[dict[str, Any]]) -> str:
    """The report's Lineage section: one graph per model version (none: no section)."""
    if not graphs:
        return ""
    cards = "".join(
        f'<div class="card"><h3>{escape(_model_label(found))}</h3>{svg(found)}</div>'
        for found in graphs
    )
    intro = (
        '<p class="muted">Where each model version came from and where it serves: sources '
        "→ feature views (at the revisions trained on) → dataset → pipeline run → model "
        "version → deployments, as recorded.</p>"
    )
    return f'<section><h2>Lineage</h2>{intro}<div class="cards">{cards}</div></section>'
