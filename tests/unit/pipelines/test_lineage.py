"""Lineage of a model version made by a pipeline: sources → feature views → dataset → run
→ version → deployments, over the API, the SDK and ``ailayer lineage``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailayer.api import create_app
from ailayer.bootstrap import Services, build
from ailayer.errors import Forbidden
from ailayer.features.loader import load_definitions
from ailayer.sdk import Client
from tests.support.api import Api, make_api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.pipelines import write_data, write_repo
from tests.support.services import live_server


@pytest.fixture
def served(make_settings, tmp_path: Path, monkeypatch) -> Iterator[tuple[Api, str, str]]:  # type: ignore[no-untyped-def]
    repo = write_repo(tmp_path / "repo")
    services: Services = build(make_settings(feature_repo=str(repo)))
    api = make_api(services)
    services.features.apply(api.tenant_id, "alice", load_definitions(repo))
    write_data(services.settings.home / "offline" / api.tenant_id)
    made = services.pipelines.run(api.tenant_id, "fraud-weekly", actor="alice")
    assert made.status == "succeeded", made.error
    deployed = api.client.put(
        "/v1/endpoints/fraud-check/deployment",
        headers=api.headers("developer"),
        json={"variants": [{"name": "main", "model": "fraud", "version": 1, "share": 100}]},
    )
    assert deployed.status_code == 200, deployed.text
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    with live_server(create_app(services)) as url:
        monkeypatch.setenv("AILAYER_URL", url)
        yield api, url, made.id
    api.client.close()
    services.close()


def test_lineage_over_the_api_and_the_sdk(served) -> None:  # type: ignore[no-untyped-def]
    api, url, run_id = served
    found = api.client.get("/v1/lineage/fraud/1", headers=api.headers("viewer")).json()
    [source] = found["sources"]
    assert source["type"] == "parquet" and source["path"] == "customer_stats.parquet"
    assert source["views"] == ["customer_stats"]
    assert [(v["name"], v["revision"], v["missing"]) for v in found["feature_views"]] == [
        ("customer_stats", 1, False)
    ]
    run = api.services.pipelines.runs.get(api.tenant_id, run_id)
    assert found["dataset"]["id"] == run.dataset_version
    assert found["dataset"]["content_sha256"] == run.dataset_sha256
    assert found["run"]["id"] == run_id and found["run"]["status"] == "succeeded"
    assert found["model"]["aliases"] == ["challenger"]
    assert found["deployments"] == [
        {
            "endpoint": "fraud-check",
            "kind": "single",
            "state": "active",
            "revision": 1,
            "variant": "main",
            "share": 100,
            "shadow": False,
        }
    ]
    with Client(url, api.keys["viewer"]) as client:
        assert client.lineage("fraud", 1) == found
        assert client.pipeline_run(run_id)["dataset_sha256"] == run.dataset_sha256
        with pytest.raises(Forbidden):
            client.resume_pipeline_run(run_id)
    missing = api.client.get("/v1/lineage/fraud/9", headers=api.headers("viewer"))
    assert missing.status_code == 404
    other = make_api(api.services, tenant="globex")
    try:
        hidden = other.client.get("/v1/lineage/fraud/1", headers=other.headers("admin"))
        assert hidden.status_code == 404
    finally:
        other.client.close()


def test_ailayer_lineage_text_and_json(served) -> None:  # type: ignore[no-untyped-def]
    api, _, run_id = served
    key = ["--api-key", api.keys["viewer"]]
    text = ok("lineage", "fraud:1", *key).stdout
    assert "parquet customer_stats.parquet  → customer_stats" in text
    assert "customer_stats (feature_view) v1 revision 1" in text
    assert f"{run_id}  fraud-weekly succeeded" in text
    assert "fraud v1 [challenger]" in text
    assert "fraud-check: single active revision 1, variant main at 100%" in text
    as_json = json.loads(ok("lineage", "fraud:1", "--json", *key).stdout)
    assert as_json["run"]["id"] == run_id
    assert_one_clear_error(run("lineage", "fraud", *key), 2, "is not MODEL:VERSION")
    assert_one_clear_error(run("lineage", "fraud:7", *key), 1, "no version 7")
