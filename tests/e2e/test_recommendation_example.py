"""The recommendation example as its README tells a user to run it: every ``sh`` command,
in order, in fresh copies of the churn and recommendation folders, against a real
``ailayer up`` in the churn folder.

The A/B test must favour item-item, the recommender the simulated world makes better
(customers favour a category; popularity cannot see it), on NDCG@10 with a verdict; both
variants must have read the churn example's CLV; a recommendation never holds an owned
or excluded item.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.support.examples import Command, Server, run_step

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
README = EXAMPLES / "recommendation" / "README.md"
VARIANT = re.compile(
    r"^(control|similar): v(\d+), NDCG@10 (0\.\d+) over (\d+) recommendations, "
    r"coverage@10 (\d\.\d+)$",
    re.M,
)


def readme_commands() -> list[Command]:
    blocks = re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.M | re.S)
    return [Command(line) for b in blocks for line in b.splitlines() if line.strip()]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Fresh copies side by side (``../recommendation`` from the churn folder)."""
    ignore = shutil.ignore_patterns(".ailayer", "data", "__pycache__")
    for name in ("churn", "recommendation"):
        shutil.copytree(EXAMPLES / name, tmp_path / name, ignore=ignore)
    return tmp_path / "churn"


def test_the_ab_test_finds_the_better_recommender(
    workdir: Path, environment: dict[str, str], server: Server
) -> None:
    outputs: dict[str, str] = {}
    commands = readme_commands()
    assert "python ../recommendation/recommend.py" in [c.line for c in commands]
    for command in commands:
        if command.line.startswith("cd "):
            continue
        if command.line == "ailayer up":
            server.wait_healthy(timeout=40)
            continue
        outputs[command.line] = run_step(command, workdir, environment)

    printed = outputs["python ../recommendation/recommend.py"]
    variants = {m[0]: m for m in VARIANT.findall(printed)}
    assert set(variants) == {"control", "similar"}, printed
    control, similar = float(variants["control"][2]), float(variants["similar"][2])
    assert similar > control + 0.04, printed
    assert int(variants["control"][3]) + int(variants["similar"][3]) == 1000
    assert "verdict: similar better than control" in printed, printed

    experiment = next(v for k, v in outputs.items() if k.startswith("ailayer experiment"))
    assert "similar better than control" in experiment
    ranking = next(v for k, v in outputs.items() if k.startswith("ailayer ranking"))
    assert "ndcg@10" in ranking and "coverage@10" in ranking
    report = (workdir / "report.html").read_text()
    section = report[report.index("<h2>Ranking</h2>") :]
    assert "NDCG@10 per hour" in section and section.count("<td>recommender v") == 2

    predicted = next(v for k, v in outputs.items() if k.startswith("ailayer predict"))
    [item] = json.loads(predicted)["predictions"]
    shown = [entry["item"] for entry in item["prediction"]["items"]]
    assert len(shown) == 3 and not {101, 102, 160} & set(shown)

    explained = next(v for k, v in outputs.items() if k.startswith("curl"))
    [item] = json.loads(explained)["predictions"]
    assert set(item["features"]) == {"owned", "exclude", "k", "clv"}
    assert item["features"]["clv"] == clv_of_customer_42(workdir)


def clv_of_customer_42(churn: Path) -> float:
    """The latest CLV snapshot of customer 42, as the churn example's data holds it."""
    frame = pd.read_parquet(churn / "data" / "customer_value.parquet")
    rows = frame[frame["customer_id"] == 42].sort_values("computed_at")
    return float(rows["clv"].iloc[-1])
