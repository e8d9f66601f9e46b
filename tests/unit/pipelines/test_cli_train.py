"""``ailayer train``: a progress line per step, a clear error and exit 1 when a run fails
(with how to resume), reproduce, and bad arguments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ailayer.bootstrap import build
from ailayer.core.settings import load_settings
from ailayer.features.loader import load_definitions
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.pipelines import write_data, write_repo


@dataclass
class Home:
    key: str
    markers: Path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    repo = write_repo(tmp_path / "repo")
    monkeypatch.setenv("AILAYER_HOME", str(tmp_path / ".ailayer"))
    monkeypatch.setenv("AILAYER_FEATURE_REPO", str(repo))
    services = build(load_settings())
    tenant = services.keys.create_tenant("acme")
    key = services.keys.create_key(tenant, "trainer", "developer").key
    services.features.apply(tenant, "alice", load_definitions(repo))
    write_data(tmp_path / ".ailayer" / "offline" / tenant)
    services.close()
    yield Home(key, repo.parent)


def test_train_prints_a_line_per_step(home: Home) -> None:
    output = ok("train", "fraud-weekly", "--api-key", home.key).output
    lines = output.splitlines()
    assert lines[0].startswith("run ")
    done = [line for line in lines if " done " in line]
    assert [line.split()[1] for line in done] == [
        "build",
        "train",
        "evaluate",
        "gates",
        "register",
        "deploy",
    ]
    assert "[1/6] build     done" in output and "240 rows, sha256" in output
    assert "fraud v1 as challenger" in output
    assert lines[-1].endswith("succeeded: fraud v1 registered as challenger")


def test_a_failed_run_says_how_to_resume_and_json_reproduces(home: Home) -> None:
    (home.markers / "train-raise").write_text("")
    failed = run("train", "fraud-weekly", "--api-key", home.key)
    assert failed.exit_code == 1
    run_id = failed.stdout.splitlines()[0].split()[1]
    assert f"Error: run {run_id} failed at step train: RuntimeError: the trainer broke" in (
        failed.stderr
    )
    assert f"ailayer train --resume {run_id}" in failed.stderr
    (home.markers / "train-raise").unlink()
    ok("train", "--resume", run_id, "--api-key", home.key)
    again = json.loads(ok("train", "--reproduce", run_id, "--json", "--api-key", home.key).output)
    assert again["reproduces"] == run_id and again["status"] == "succeeded"
    assert [s["name"] for s in again["steps"]] == ["build", "train", "evaluate"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        ((), 2, "give exactly one of PIPELINE, --resume RUN_ID, --reproduce RUN_ID"),
        (("fraud-weekly", "--resume", "x"), 2, "give exactly one of"),
        (("nope",), 1, "no pipeline named 'nope'"),
        (("--resume", "0" * 32), 1, f"no pipeline run '{'0' * 32}'"),
    ],
)
def test_bad_arguments(home: Home, args: tuple[str, ...], code: int, words: str) -> None:
    assert_one_clear_error(run("train", *args, "--api-key", home.key), code, words)


def test_a_viewer_key_may_not_train(home: Home, tmp_path: Path) -> None:
    services = build(load_settings())
    try:
        tenant = services.keys.create_tenant("globex")
        viewer = services.keys.create_key(tenant, "looker", "viewer").key
    finally:
        services.close()
    assert_one_clear_error(run("train", "fraud-weekly", "--api-key", viewer), 1, "models:write")
