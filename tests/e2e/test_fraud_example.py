"""The closed loop, end to end, as the fraud example's README runs it: ``ailayer up
--scenario concept-drift`` in a fresh copy of the folder, as a real process.

The scenario injects a concept change into live traffic; labels arrive as feedback; the
monitor's concept-drift rule fires; the scheduler's alert trigger starts the pipeline,
which retrains on the fresh labels, passes its gates and starts a canary; the rollout
controller promotes it. No step is taken by the test: it only waits for the scenario's
``loop closed`` line, then checks that:

- accuracy after the promotion is within 1 point of its level before the change, and the
  promotion came within one simulated hour of the change;
- every step is visible: the alert, the run (triggered by the alert, its gates, its
  recorded verdict), the lineage of the new version, the audit log and the report;
- the README's commands in the second terminal run as written.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailayer import Client
from tests.support.examples import Command, Server, run_step, running_up

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud"
UP = "ailayer up --scenario concept-drift"
ACCURACY = re.compile(
    r"accuracy: before the change (?P<before>[\d.]+), after it, old model (?P<after>[\d.]+), "
    r"after the promotion (?P<healed>[\d.]+)"
)
CLOSED = re.compile(r"loop closed: (?P<minutes>\d+) simulated minutes")


def readme_commands() -> list[Command]:
    text = (EXAMPLE / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    return [Command(line) for b in blocks for line in b.splitlines() if line.strip()]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    target = tmp_path / "fraud"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".ailayer", "__pycache__"))
    return target


@pytest.fixture
def server(workdir: Path, environment: dict[str, str]) -> Iterator[Server]:
    with running_up(workdir, environment, "--scenario", "concept-drift") as started:
        yield started


def wait_for_line(server: Server, pattern: re.Pattern, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = server.log.read_text()
        assert "[scenario] stopped:" not in text, text
        found = pattern.search(text)
        if found:
            return found
        assert server.process.poll() is None, f"ailayer up exited\n{text}"
        time.sleep(0.25)
    raise AssertionError(f"no {pattern.pattern!r} within {timeout} s\n{server.log.read_text()}")


def test_a_concept_change_is_healed_with_no_human_step(
    workdir: Path, environment: dict[str, str], server: Server
) -> None:
    commands = readme_commands()
    assert commands[:2] == [Command("cd examples/fraud"), Command(UP)]
    server.wait_healthy(timeout=40)
    closed = wait_for_line(server, CLOSED, timeout=50)
    accuracy = ACCURACY.search(server.log.read_text())
    assert accuracy is not None, server.log.read_text()
    before, after, healed = (float(accuracy[k]) for k in ("before", "after", "healed"))
    assert after < before - 0.05  # the change hurt the old model
    assert healed >= before - 0.01  # and the loop brought accuracy back
    assert int(closed["minutes"]) <= 60

    key = (workdir / ".ailayer" / "credentials").read_text().strip()
    with Client(environment["AILAYER_URL"], key) as client:
        check_trail(client)

    outputs = {}
    for command in commands[2:]:
        if command.line.startswith("cd "):
            continue
        outputs[command.line] = run_step(command, workdir, environment)
    lineage = outputs["ailayer lineage fraud-loop:2"]
    assert "trigger alert  by scheduler  canary promoted: promote to 100%" in lineage
    assert "rollout-controller" in outputs["ailayer rollout history fraud-check"]
    page = (workdir / "report.html").read_text()
    assert '<svg class="lineage"' in page and "fraud-retrain run" in page
    assert '"pipeline.run.verdict"' in outputs["ailayer audit export"]


def check_trail(client: Client) -> None:
    """The alert, the run it triggered (gates, verdict), the lineage and the audit log."""
    history = client.alerts(limit=50)["history"]
    assert any(a["rule"] == "fraud-concept" and a["status"] == "firing" for a in history)
    lineage = client.lineage("fraud-loop", 2)
    run = client.pipeline_run(lineage["run"]["id"])
    assert run["trigger"]["kind"] == "alert" and run["actor"] == "scheduler"
    assert run["trigger"]["alert"]["rule"] == "fraud-concept"
    assert run["status"] == "succeeded" and run["gate_report"]["passed"] is True
    assert run["rollout"]["kind"] == "canary"
    assert run["rollout"]["verdict"]["state"] == "promoted"
    assert run["rollout"]["verdict"]["by"] == "rollout-controller"
    assert [d["state"] for d in lineage["deployments"]] == ["promoted"]
    actions = [e["action"] for e in client.audit(target="pipeline/fraud-retrain", limit=100)]
    for action in ("pipeline.trigger", "pipeline.run.start", "pipeline.run.finish"):
        assert action in actions, actions
    assert "pipeline.run.verdict" in actions
    moves = client.audit(target="endpoint/fraud-check/deployment", limit=100)
    assert any(
        e["actor"] == "rollout-controller" and e["detail"]["state"] == "promoted" for e in moves
    )
