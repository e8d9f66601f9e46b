"""The sentiment example as its README tells a user to run it, against a real ``ailayer up``.

Every ``sh`` command of the README runs in order in a fresh copy of the folder; the
worker (``ailayer infer … --until-idle``) must answer each ``review.submitted`` with one
``review.scored`` whose subject is the review event's id. Re-sending a review with the
same event id must not produce a second result.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ailayer import Client
from tests.support.examples import Command, Server, run_step

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sentiment"
INFER = (
    "ailayer infer sentiment --topic reviews --event-type review.submitted "
    "--result-topic reviews-scored --result-type review.scored --until-idle"
)


def readme_commands() -> list[Command]:
    text = (EXAMPLE / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    return [Command(line) for b in blocks for line in b.splitlines() if line.strip()]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    target = tmp_path / "sentiment"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".ailayer", "__pycache__"))
    return target


def test_reviews_in_scores_out(workdir: Path, environment: dict[str, str], server: Server) -> None:
    commands = readme_commands()
    assert INFER in [c.line for c in commands]
    outputs: dict[str, str] = {}
    for command in commands:
        if command.line.startswith("cd "):
            continue
        if command.line == "ailayer up":
            server.wait_healthy(timeout=40)
            continue
        outputs[command.line.split()[1]] = run_step(command, workdir, environment)

    assert re.search(r"^sentiment: v1 holdout accuracy 0\.(9\d)", outputs["train.py"], re.M)
    submitted = json.loads(outputs["submit_reviews.py"].replace("'", '"'))
    assert "processed 2, duplicates 0" in outputs["infer"]
    scores = [json.loads(line) for line in outputs["show_scores.py"].splitlines()]
    by_review = {s["review"]: s for s in scores}
    assert sorted(s["source_event"] for s in scores) == sorted(submitted)
    assert (by_review["review-1"]["positive"], by_review["review-2"]["positive"]) == (1, 0)
    assert all(s["model"] == "sentiment v1" and len(s["prediction_id"]) == 32 for s in scores)

    resend_the_first_review(workdir, environment, submitted[0])
    again = run_step(Command(INFER), workdir, environment)
    assert "processed 0, duplicates 1" in again, again
    assert run_step(Command("python show_scores.py"), workdir, environment).strip() == ""


def resend_the_first_review(workdir: Path, env: dict[str, str], event_id: str) -> None:
    """A producer retry: the same event (same id) published again."""
    key = (workdir / ".ailayer" / "credentials").read_text().strip()
    with Client(env["AILAYER_URL"], key) as client:
        event = {"id": event_id, "source": "/app/reviews", "type": "review.submitted",
                 "specversion": "1.0", "data": {"review_id": "review-1", "text": "again"}}  # fmt: skip
        client.emit("reviews", [event])
