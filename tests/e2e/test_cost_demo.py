"""``ailayer cost`` and ``ailayer cost advise`` on the demo of ``ailayer up``: a real
process serves a burst of predictions, measures their CPU and writes it, and both
commands answer from the prediction log and the measured usage, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.services import free_port
from tests.support.up import ailayer_command, start

pytestmark = pytest.mark.e2e

RECORD = {
    "amount": 1890.0,
    "card_age_days": 2.0,
    "device_new": 1.0,
    "hour_of_day": 3.0,
    "payments_last_24h": 7.0,
    "foreign_country": 1.0,
}


def ailayer(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ailayer_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cost_and_cost_advise_answer_on_the_demo_log(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    port = free_port()
    env = {**os.environ, "AILAYER_COST_FLUSH_SECONDS": "0.5", "AILAYER_LOG_FLUSH_SECONDS": "0.2"}
    up = start(cwd, port, run=1, env=env)
    try:
        up.wait_for_curl(timeout=60)
        up.wait_healthy(timeout=10)
        key = (cwd / ".ailayer" / "credentials").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=up.url, headers=headers, timeout=10) as client:
            for _ in range(200):
                assert client.post("/v1/predict/fraud", json=[RECORD] * 5).status_code == 200
        cli_env = {**env, "AILAYER_URL": up.url}
        report = wait_for_cpu(cwd, cli_env)
        [line] = [item for item in report["endpoints"] if item["endpoint"] == "fraud"]
        assert line["predictions"] >= 1000  # the demo's own prediction may add one
        assert line["cpu_seconds"] > 0 and line["memory_gib_hours"] > 0
        assert line["cost"]["total"] == pytest.approx(line["cost"]["cpu"] + line["cost"]["memory"])
        assert {s["store"] for s in report["storage"]} == {"offline", "artifacts"}
        assert all(s["bytes"] > 0 for s in report["storage"])

        done = ailayer(cwd, cli_env, "cost", "advise", "fraud", "--json")
        assert done.returncode == 0, done.stderr
        advice = json.loads(done.stdout)
        assert advice["traffic"]["requests"] >= 200
        assert advice["sizing"]["cpu_measured"] is True
        names = [o["name"] for o in advice["options"]]
        assert names == ["dedicated", "autoscaled", "spot", "serverless"]
        assert advice["recommended"] in names
        assert all(o["monthly_cost"] > 0 for o in advice["options"])

        table = ailayer(cwd, cli_env, "cost", "advise", "fraud")
        assert table.returncode == 0 and "recommended:" in table.stdout, table.stderr
        page = httpx.get(f"{up.url}/v1/monitoring/fraud/report", headers=headers, timeout=30)
        assert page.status_code == 200 and "Cost advice" in page.text
        assert "Recommended: <b>" in page.text
    finally:
        assert up.stop() == 0, up.logs()


def wait_for_cpu(cwd: Path, env: dict[str, str]) -> dict:
    """``ailayer cost --json`` once the server has written the burst's CPU seconds."""
    for _ in range(40):
        done = ailayer(cwd, env, "cost", "--since", "1h", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        lines = [item for item in report["endpoints"] if item["endpoint"] == "fraud"]
        if lines and lines[0]["cpu_seconds"] > 0 and lines[0]["predictions"] >= 1000:
            return report
        subprocess.run(["sleep", "0.5"], check=True)
    raise AssertionError(f"no measured CPU for fraud: {report}")
