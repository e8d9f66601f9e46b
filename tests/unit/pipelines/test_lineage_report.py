"""The endpoint's HTML report draws each version's lineage as an inline SVG graph: for a
version a real pipeline run registered, a node per source, feature view, dataset, run,
version and deployment, linked left to right, with nothing fetched when the page opens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ailayer.bootstrap import Services, build
from ailayer.features.loader import load_definitions
from ailayer.monitoring.endpoint.report.lineage import lineage_graph, svg
from tests.support.api import Api, make_api
from tests.support.pipelines import write_data, write_repo


class Nodes(HTMLParser):
    """The lineage graph's nodes as a browser's parser sees them: stage, key and title."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[dict[str, str]] = []
        self.links = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = dict(attrs)
        if tag == "g" and found.get("class") == "node":
            self.nodes.append({"stage": found["data-stage"], "key": found["data-key"]})
        elif tag == "path" and found.get("class") == "link":
            self.links += 1
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title and self.nodes:
            self.nodes[-1]["title"] = data
        self._in_title = False


@pytest.fixture
def api(make_settings, tmp_path: Path) -> Iterator[tuple[Api, str]]:  # type: ignore[no-untyped-def]
    repo = write_repo(tmp_path / "repo")
    services: Services = build(make_settings(feature_repo=str(repo)))
    made = make_api(services)
    services.features.apply(made.tenant_id, "alice", load_definitions(repo))
    write_data(services.settings.home / "offline" / made.tenant_id)
    run = services.pipelines.run(made.tenant_id, "fraud-weekly", actor="alice")
    assert run.status == "succeeded", run.error
    services.endpoints.put(made.tenant_id, "alice", "fraud-check", "fraud", "challenger")
    deployed = made.client.put(
        "/v1/endpoints/fraud-check/deployment",
        headers=made.headers("developer"),
        json={"variants": [{"name": "main", "model": "fraud", "version": 1, "share": 100}]},
    )
    assert deployed.status_code == 200, deployed.text
    yield made, run.id
    made.client.close()
    services.close()


def test_the_report_draws_the_lineage_of_a_pipeline_made_version(api) -> None:  # type: ignore[no-untyped-def]
    made, run_id = api
    answer = made.client.get("/v1/monitoring/fraud-check/report", headers=made.headers("viewer"))
    assert answer.status_code == 200, answer.text
    page = answer.text
    section = re.search(r"<section><h2>Lineage</h2>.*?</section>", page, re.S)
    assert section is not None
    parsed = Nodes()
    parsed.feed(section.group(0))
    by_stage = {n["stage"]: n for n in parsed.nodes}
    assert [n["stage"] for n in parsed.nodes] == [
        "source",
        "feature_view",
        "dataset",
        "run",
        "model",
        "deployment",
    ]
    run = made.services.pipelines.runs.get(made.tenant_id, run_id)
    assert by_stage["source"]["title"] == "customer_stats.parquet (parquet)"
    assert by_stage["feature_view"]["title"].startswith("customer_stats (v")
    assert by_stage["dataset"]["title"].startswith(f"dataset {run.dataset_version} (")
    assert f"{run.dataset_sha256[:12]}" in by_stage["dataset"]["title"]
    assert by_stage["run"]["title"] == f"fraud-weekly run {run_id} (succeeded)"
    assert by_stage["model"]["title"] == "fraud v1 (challenger)"
    assert by_stage["deployment"]["title"] == "fraud-check (single · main 100%)"
    assert parsed.links == 5  # a chain: each stage to the next
    assert not re.search(r"(src|href)=\"?https?:", page)  # nothing fetched when opened
    assert "<script" not in page


def test_a_missing_stage_is_skipped_and_labels_are_escaped() -> None:
    """A version uploaded by hand: no sources, views, dataset or run; its model links
    straight to its deployments, and a hostile name stays text."""
    found = {
        "sources": [],
        "feature_views": [],
        "dataset": None,
        "run": None,
        "model": {"name": "<script>x</script>", "version": 3, "aliases": []},
        "deployments": [
            {"endpoint": "a", "kind": "canary", "variant": "canary", "share": 10},
            {"endpoint": "b", "kind": "single", "variant": "main", "share": 100},
        ],
    }
    graph = lineage_graph(found)
    assert [[n.stage for n in column] for column in graph.columns] == [
        ["model"],
        ["deployment", "deployment"],
    ]
    assert graph.links == [("model", "deployment:a"), ("model", "deployment:b")]
    drawn = svg(found)
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn


def test_sources_link_only_to_the_views_that_read_them() -> None:
    found = {
        "sources": [
            {"type": "parquet", "path": "a.parquet", "views": ["va"]},
            {"type": "dvc", "path": "b.csv", "rev": "v1", "views": ["vb"]},
        ],
        "feature_views": [
            {"name": "va", "version": 1, "revision": 1},
            {"name": "vb", "version": 1, "revision": 2, "missing": True},
        ],
        "dataset": {"id": "d1", "content_sha256": "ab" * 32, "row_count": 10},
        "run": None,
        "model": {"name": "m", "version": 1, "aliases": ["champion"]},
        "deployments": [],
    }
    graph = lineage_graph(found)
    sources = [link for link in graph.links if link[0].startswith("source:")]
    assert sources == [("source:0", "view:va"), ("source:1", "view:vb")]
    assert ("view:va", "dataset") in graph.links and ("dataset", "model") in graph.links
    assert graph.columns[0][1].detail == "dvc @ v1"
    assert graph.columns[1][1].missing
