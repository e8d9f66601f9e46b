"""The churn example as its README tells a user to run it: every ``sh`` command in the
README, in order, in a fresh copy of the folder, against a real ``ailayer up`` process.

Both models must answer by ``customer_id`` alone and show the same CLV — the one value the
``customer_value`` view holds — and each model version must point at its training set.
A command followed by a ``# Error: …`` line in the README must fail with that line.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ailayer import Client
from tests.support.examples import Command, Server, run_step

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn"
CUSTOMER = 42


def readme_commands() -> list[Command]:
    """The README's shell commands in order; ``# Error: …`` after one marks it failing."""
    text = (EXAMPLE / "README.md").read_text()
    commands: list[Command] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            if line.startswith("# Error: "):
                commands[-1] = Command(commands[-1].line, line.removeprefix("# "))
            elif line.strip() and not line.startswith("#"):
                commands.append(Command(line))
    return commands


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh copy of the example, without state or data from a run in the source tree."""
    target = tmp_path / "churn"
    shutil.copytree(
        EXAMPLE, target, ignore=shutil.ignore_patterns(".ailayer", "data", "__pycache__")
    )
    return target


def test_the_readme_runs_end_to_end_and_both_models_share_one_clv(
    workdir: Path, environment: dict[str, str], server: Server
) -> None:
    commands = readme_commands()
    lines = [c.line for c in commands]
    for expected in (
        "ailayer up",
        "python make_data.py",
        "ailayer apply features.py",
        "ailayer materialize --incremental",
        "python train.py",
        f"ailayer predict churn --json '{{\"customer_id\": {CUSTOMER}}}'",
        f"ailayer predict upsell --json '{{\"customer_id\": {CUSTOMER}}}'",
    ):
        assert expected in lines, f"the README no longer runs {expected!r}"

    outputs: dict[str, str] = {}
    for command in commands:
        if command.line.startswith("cd "):
            continue  # the test already works in (a copy of) the example folder
        if command.line == "ailayer up":
            server.wait_healthy(timeout=40)
            continue
        outputs[command.line] = run_step(command, workdir, environment)

    assert "Applied: 6 added" in outputs["ailayer apply features.py"]
    assert "customer_value v1" in outputs["ailayer materialize --incremental"]
    assert re.search(r"^churn: v1 .*holdout ROC AUC", outputs["python train.py"], re.M)
    assert re.search(r"^upsell: v1 .*holdout ROC AUC", outputs["python train.py"], re.M)
    for model in ("churn", "upsell"):
        answer = json.loads(
            outputs[f"ailayer predict {model} --json '{{\"customer_id\": {CUSTOMER}}}'"]
        )
        assert (answer["model"], answer["version"], answer["alias"]) == (model, 1, "champion")
        assert 0.0 <= answer["predictions"][0]["score"] <= 1.0

    explained = {
        model: json.loads(out)["predictions"][0]["features"]
        for line, out in outputs.items()
        if line.startswith("curl ")
        for model in [re.search(r"/v1/predict/(\w+)", line).group(1)]  # type: ignore[union-attr]
    }
    assert set(explained) == {"churn", "upsell"}
    assert explained["churn"]["clv"] == explained["upsell"]["clv"] == latest_clv(workdir)
    assert set(explained["churn"]) == {"clv", "orders_90d", "days_since_last_order"}
    assert set(explained["upsell"]) == {"clv", "seats", "orders_90d"}
    check_lineage(workdir, environment)


def latest_clv(workdir: Path) -> float:
    """The CLV the one definition holds for the customer: its latest snapshot."""
    values = pd.read_parquet(workdir / "data" / "customer_value.parquet")
    mine = values[values["customer_id"] == CUSTOMER].sort_values("computed_at")
    return float(mine["clv"].iloc[-1])


def check_lineage(workdir: Path, env: dict[str, str]) -> None:
    """Each model version serves with its feature service and points at its training set,
    built from the same customer_value revision."""
    key = (workdir / ".ailayer" / "credentials").read_text().strip()
    with Client(env["AILAYER_URL"], key) as client:
        revisions = []
        for model in ("churn", "upsell"):
            version = client.get_version(model, 1)
            assert version["feature_refs"] == [model]
            dataset = client.get_dataset(version["dataset_version"])
            assert "customer_value:clv" in dataset["features"]
            revisions.append(dataset["definitions"]["customer_value"])
        assert revisions[0] == revisions[1]
        [row] = client.get_online_features(["customer_value:clv"], [{"customer_id": CUSTOMER}])
        assert row["clv"] == latest_clv(workdir)
