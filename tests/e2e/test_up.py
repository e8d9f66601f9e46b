"""``ailayer up`` as a user runs it: a real process in an empty directory, the printed
curl run as printed, then a restart that keeps the key and the model it made."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.services import free_port
from tests.support.up import KEY, start

pytestmark = pytest.mark.e2e


def run_curl(curl: str, cwd: Path) -> dict:
    done = subprocess.run(
        ["bash", "-c", curl], cwd=cwd, capture_output=True, text=True, timeout=15, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_demo_prediction(answer: dict) -> None:
    assert (answer["model"], answer["version"], answer["alias"]) == ("fraud", 1, "champion")
    [item] = answer["predictions"]
    assert isinstance(item["score"], float) and 0.0 <= item["score"] <= 1.0
    assert isinstance(item["prediction"], bool | int)


def test_up_sets_up_once_serves_a_working_curl_and_restarts_without_redoing_it(
    tmp_path: Path,
) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    port = free_port()
    credentials = cwd / ".ailayer" / "credentials"

    first = start(cwd, port, run=1)
    try:
        curl = first.wait_for_curl(timeout=40)
        first.wait_healthy(timeout=10)
        assert f"http://127.0.0.1:{port}/v1/predict/fraud" in curl
        assert_demo_prediction(run_curl(curl, cwd))

        assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
        key = credentials.read_text().strip()
        printed = KEY.findall(first.output())
        assert printed == [key], first.logs()  # shown once, and it is the stored key
        headers = {"Authorization": f"Bearer {key}"}
        [model] = httpx.get(f"{first.url}/v1/models", headers=headers, timeout=5).json()
        assert (model["name"], model["latest_version"]) == ("fraud", 1)
        assert "Registered fraud v1" in first.output()
        assert f"Web console: http://127.0.0.1:{port}/ui" in first.output()
        with httpx.Client(base_url=first.url, timeout=5) as browser:  # the console is served
            form = browser.get("/ui/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert form.status_code == 200 and token is not None, form.text
            data = {"csrf_token": token.group(1), "credential": key}
            assert browser.post("/ui/signin", data=data).status_code == 303
            assert 'data-endpoint="fraud"' in browser.get("/ui/").text  # champion serves it
        scratch = Path(os.readlink(f"/proc/{first.process.pid}/cwd"))  # models run there
        assert scratch != cwd and scratch.name.startswith("ailayer-scratch-")
        assert first.stop() == 0, first.logs()  # Ctrl-C is a clean stop
        assert not scratch.exists()
        assert "Traceback" not in first.logs()
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()

    second = start(cwd, port, run=2)
    try:
        assert second.wait_for_curl(timeout=20) == curl
        second.wait_healthy(timeout=10)
        output = second.output()
        assert KEY.findall(output) == [], output  # no new key
        assert "Created the admin API key" not in output
        assert "Registered" not in output and "training" not in output  # no new model
        assert credentials.read_text().strip() == key
        assert_demo_prediction(run_curl(curl, cwd))
        headers = {"Authorization": f"Bearer {key}"}
        model = httpx.get(f"{second.url}/v1/models/fraud", headers=headers, timeout=5).json()
        assert [v["version"] for v in model["versions"]] == [1]
        assert second.stop() == 0, second.logs()
        assert "Traceback" not in second.logs()
    finally:
        if second.process.poll() is None:
            second.process.kill()
            second.process.wait()
