"""The pipeline routes: start a run (202, in the background), follow it, one at a time,
roles and tenants respected."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailayer.bootstrap import build
from ailayer.features.loader import load_definitions
from tests.support.api import Api, make_api
from tests.support.pipelines import write_data, write_repo

FINISH_TIMEOUT = 120


@pytest.fixture
def api(make_settings, tmp_path: Path) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    repo = write_repo(tmp_path / "repo")
    services = build(make_settings(feature_repo=str(repo)))
    made = make_api(services)
    services.features.apply(made.tenant_id, "alice", load_definitions(repo))
    write_data(services.settings.home / "offline" / made.tenant_id)
    yield made
    made.client.close()
    services.close()


def wait_for(api: Api, run_id: str) -> dict:
    deadline = time.monotonic() + FINISH_TIMEOUT
    while True:
        body = api.client.get(f"/v1/pipelines/runs/{run_id}", headers=api.headers("viewer")).json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_start_a_run_and_follow_it(api: Api) -> None:
    started = api.client.post("/v1/pipelines/fraud-weekly/runs", headers=api.headers("developer"))
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"
    assert started.json()["trigger"] == {"kind": "api", "key": started.json()["actor"]}
    run = wait_for(api, started.json()["id"])
    assert run["status"] == "succeeded", run["error"]
    assert [s["name"] for s in run["steps"]] == [
        "build",
        "train",
        "evaluate",
        "gates",
        "register",
        "deploy",
    ]
    assert run["steps"][0]["outputs"]["content_sha256"] == run["dataset_sha256"]
    assert run["model_version"] == 1
    listed = api.client.get("/v1/pipelines/fraud-weekly/runs", headers=api.headers("viewer"))
    assert [r["id"] for r in listed.json()] == [run["id"]]


def test_one_run_at_a_time(api: Api, tmp_path: Path) -> None:
    hold = tmp_path / "repo" / "train-hold"
    hold.write_text("")
    first = api.client.post("/v1/pipelines/fraud-weekly/runs", headers=api.headers("developer"))
    try:
        second = api.client.post("/v1/pipelines/fraud-weekly/runs", headers=api.headers("admin"))
        assert second.status_code == 409
        assert first.json()["id"] in second.json()["error"]["message"]
    finally:
        hold.unlink()
    assert wait_for(api, first.json()["id"])["status"] == "succeeded"


def test_roles_tenants_and_bad_input(api: Api) -> None:
    viewer = api.client.post("/v1/pipelines/fraud-weekly/runs", headers=api.headers("viewer"))
    assert viewer.status_code == 403
    unknown = api.client.post("/v1/pipelines/nope/runs", headers=api.headers("developer"))
    assert unknown.status_code == 422
    assert "no pipeline named 'nope'" in unknown.json()["error"]["message"]
    bad_id = api.client.get("/v1/pipelines/runs/not-an-id", headers=api.headers("viewer"))
    assert bad_id.status_code == 422
    started = api.client.post("/v1/pipelines/fraud-weekly/runs", headers=api.headers("developer"))
    run_id = started.json()["id"]
    wait_for(api, run_id)
    other = make_api(api.services, tenant="globex")
    try:
        hidden = other.client.get(f"/v1/pipelines/runs/{run_id}", headers=other.headers("admin"))
        assert hidden.status_code == 404
    finally:
        other.client.close()


def test_answers_never_show_server_paths(api: Api) -> None:
    hold = api.services.settings.home.parent / "repo" / "train-raise"
    hold.write_text("")
    started = api.client.post("/v1/pipelines/fraud-weekly/runs", headers=api.headers("developer"))
    failed = wait_for(api, started.json()["id"])
    hold.unlink()
    assert failed["status"] == "failed"
    text = json.dumps(failed)
    home = api.services.settings.home
    for path in {str(home.absolute()), str(home.resolve()), "file://"}:
        assert path not in text
    assert failed["artifacts"]["entities"]["uri"].startswith("artifacts://sha256/")


def test_resume_a_failed_run_over_the_api(api: Api) -> None:
    broken = api.services.settings.home.parent / "repo" / "train-raise"
    broken.write_text("")
    started = api.client.post("/v1/pipelines/fraud-weekly/runs", headers=api.headers("developer"))
    run_id = started.json()["id"]
    assert wait_for(api, run_id)["status"] == "failed"
    broken.unlink()
    path = f"/v1/pipelines/runs/{run_id}/resume"
    assert api.client.post(path, headers=api.headers("viewer")).status_code == 403
    resumed = api.client.post(path, headers=api.headers("developer"))
    assert resumed.status_code == 202, resumed.text
    assert resumed.json()["attempt"] == 2
    run = wait_for(api, run_id)
    assert run["status"] == "succeeded" and run["steps"][0]["attempt"] == 1
    again = api.client.post(path, headers=api.headers("developer"))
    assert again.status_code == 409
    assert "succeeded: only a failed or interrupted run resumes" in again.json()["error"]["message"]
    unknown = api.client.post(f"/v1/pipelines/runs/{'0' * 32}/resume", headers=api.headers("admin"))
    assert unknown.status_code == 404
