"""``ailayer train`` killed with ``kill -9`` in the middle of training resumes with
``ailayer train --resume RUN_ID`` from its last completed step: the training set it built
is not built again, the model is trained and registered once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ailayer.bootstrap import Services, build
from ailayer.core.settings import load_settings
from ailayer.features.loader import load_definitions
from tests.support.pipelines import write_data, write_repo
from tests.support.processes import reap
from tests.support.up import ailayer_command

pytestmark = pytest.mark.e2e

STARTED_TIMEOUT = 120


@dataclass
class Home:
    env: dict[str, str]
    services: Services
    tenant: str
    key: str
    markers: Path

    def train(self, *args: str, **options: object) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*ailayer_command(), "train", *args, "--api-key", self.key],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **options,  # type: ignore[call-overload]
        )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    repo = write_repo(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILAYER_")}
    env.update(
        AILAYER_HOME=str(tmp_path / ".ailayer"),
        AILAYER_FEATURE_REPO=str(repo),
        AILAYER_LOG_PROCESS="false",
        AILAYER_CONFIG=str(tmp_path / "no-config.yaml"),
    )
    settings = load_settings(home=tmp_path / ".ailayer", feature_repo=str(repo))
    services = build(settings)
    tenant = services.keys.create_tenant("acme")
    key = services.keys.create_key(tenant, "trainer", "developer").key
    services.features.apply(tenant, "alice", load_definitions(repo))
    write_data(tmp_path / ".ailayer" / "offline" / tenant)
    yield Home(env, services, tenant, key, repo.parent)
    services.close()


def test_a_run_killed_mid_training_resumes_from_its_last_step(home: Home) -> None:
    (home.markers / "train-hold").write_text("")
    first = home.train("fraud-weekly")
    try:
        header = first.stdout.readline().split()  # type: ignore[union-attr]
        assert header[0] == "run", header
        run_id = header[1]
        deadline = time.monotonic() + STARTED_TIMEOUT
        while not (home.markers / "train-started").exists():
            assert first.poll() is None, first.stdout.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        reap(first)
    killed = home.services.pipelines.runs.get(home.tenant, run_id)
    assert killed.status == "running" and killed.current_step == "train"
    assert [(s.name, s.status) for s in killed.steps] == [
        ("build", "completed"),
        ("train", "running"),
    ]

    (home.markers / "train-hold").unlink()
    resumed = home.train("--resume", run_id)
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert "[1/6] build     done earlier" in output
    assert "[2/6] train     done" in output
    assert f"run {run_id} succeeded: fraud v1 registered as challenger" in output

    run = home.services.pipelines.runs.get(home.tenant, run_id)
    assert run.status == "succeeded" and run.attempt == 2
    assert run.step("build").attempt == 1
    assert run.step("build").started_at == killed.step("build").started_at
    assert run.step("train").attempt == 2
    versions = home.services.registry.get_model(home.tenant, "fraud")["versions"]
    assert [(v["version"], v["pipeline_run"]) for v in versions] == [(1, run_id)]
