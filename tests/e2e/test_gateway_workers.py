"""``ailayer serve --role gateway`` with two ``--role worker`` processes: explanations and
the v2 ready route run on the workers (the gateway loads no model), each worker counts
its requests on its own ``--metrics-listen``; a worker killed with ``kill -9`` under load
loses no accepted request (each is answered by the other worker), and with every worker
gone the gateway answers 503 naming the endpoint, until a worker is back."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ailayer.cli.up import DEMO_EXAMPLE
from tests.support.services import free_port
from tests.support.up import ailayer_command

pytestmark = pytest.mark.e2e

SENDERS = 6


@dataclass
class Process:
    name: str
    process: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # kill -9: no shutdown hook runs
            self.process.wait(timeout=10)


@dataclass
class Outcomes:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, int, dict]] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)


def launch(cwd: Path, name: str, *args: str) -> Process:
    log = cwd.parent / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*ailayer_command(), *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "AILAYER_MODEL_WORKER_RETRY_SECONDS": "1"},
        )
    return Process(name, process, log)


def worker(cwd: Path, name: str, port: int, metrics_port: int | None = None) -> Process:
    metrics = ("--metrics-listen", f"127.0.0.1:{metrics_port}") if metrics_port else ()
    return launch(cwd, name, "serve", "--role", "worker", "--port", str(port), *metrics)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text page by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def worker_requests(metrics_ports: list[int], op: str) -> float:
    """Answered requests of ``op`` summed over the workers' metrics listeners."""
    name, labels = "ailayer_model_worker_requests_total", (("op", op), ("outcome", "ok"))
    pages = [httpx.get(f"http://127.0.0.1:{p}/metrics", timeout=10).text for p in metrics_ports]
    return sum(samples(page).get((name, labels), 0) for page in pages)


def wait_for(check, what: str, processes: list[Process], timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            assert p.process.poll() is None, f"{p.name} exited early\n{p.text()}"
        if check():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.text()}" for p in processes)
    raise AssertionError(f"{what} not within {timeout} s\n{logs}")


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def send_until(stop: threading.Event, url: str, key: str, outcomes: Outcomes) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=30) as client:  # httpx retries nothing: every failure shows
        while not stop.is_set():
            try:
                response = client.post(
                    f"{url}/v1/predict/fraud", headers=headers, json=[DEMO_EXAMPLE] * 3
                )
            except httpx.TransportError as exc:
                with outcomes.lock:
                    outcomes.transport_errors.append(f"{time.monotonic():.3f} {exc!r}")
                continue
            with outcomes.lock:
                outcomes.answers.append((time.monotonic(), response.status_code, response.json()))


def predict(url: str, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/v1/predict/fraud", headers=headers, json=DEMO_EXAMPLE, timeout=30)


def names_the_endpoint(body: dict) -> bool:
    error = body["error"]
    return error["code"] == "backend_unavailable" and "'fraud'" in error["message"]


def test_killing_a_worker_under_load_loses_no_request(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    setup = subprocess.run(
        [*ailayer_command(), "up", "--no-serve"], cwd=cwd, capture_output=True, timeout=300
    )
    assert setup.returncode == 0, setup.stdout.decode() + setup.stderr.decode()
    key = (cwd / ".ailayer" / "credentials").read_text().strip()

    ports = [free_port(), free_port()]
    metrics_ports = [free_port(), free_port()]
    gateway_port = free_port()
    url = f"http://127.0.0.1:{gateway_port}"
    addresses = ",".join(f"127.0.0.1:{p}" for p in ports)
    running: list[Process] = []
    try:
        running += [
            worker(cwd, "worker-1", ports[0], metrics_ports[0]),
            worker(cwd, "worker-2", ports[1], metrics_ports[1]),
        ]
        gateway = launch(
            cwd,
            "gateway",
            *("serve", "--role", "gateway", "--port", str(gateway_port)),
            *("--model-worker", addresses),
        )
        running.append(gateway)
        for w in running[:2]:
            wait_for(lambda w=w: "model worker on" in w.text(), f"{w.name} ready", running)
        wait_for(lambda: healthy(url), "the gateway's /healthz", running)
        headers = {"Authorization": f"Bearer {key}"}
        ready = httpx.get(f"{url}/v2/models/fraud/ready", headers=headers, timeout=30)
        assert ready.status_code == 200, ready.text
        first = predict(url, key)
        assert first.status_code == 200, first.text
        explained = httpx.post(
            f"{url}/v1/predict/fraud?explain=true", headers=headers, json=DEMO_EXAMPLE, timeout=60
        )
        assert explained.status_code == 200, explained.text
        assert explained.json()["predictions"][0]["explanation"]["attributions"]
        assert worker_requests(metrics_ports, "ready") == 1
        assert worker_requests(metrics_ports, "predict") == 2  # the explained one predicts too
        assert worker_requests(metrics_ports, "explain") == 1
        gateway_metrics = samples(httpx.get(f"{url}/metrics", headers=headers, timeout=10).text)
        assert gateway_metrics[("ailayer_models_loaded", ())] == 0  # all on the workers

        outcomes = Outcomes()
        stop = threading.Event()
        senders = [
            threading.Thread(target=send_until, args=(stop, url, key, outcomes))
            for _ in range(SENDERS)
        ]
        for sender in senders:
            sender.start()
        try:
            wait_for(lambda: len(outcomes.answers) >= 100, "100 answers", running, timeout=60)
            running[0].kill()  # worker-1, with calls in flight
            killed_at = time.monotonic()
            wait_for(
                lambda: sum(at > killed_at for at, _, _ in outcomes.answers) >= 150,
                "150 answers after the kill",
                running[1:],
                timeout=60,
            )
        finally:
            stop.set()
            for sender in senders:
                sender.join(timeout=60)

        assert not outcomes.transport_errors, (
            killed_at,
            outcomes.transport_errors[:3],
            gateway.text()[-3000:],
        )
        statuses = [status for _, status, _ in outcomes.answers]
        failed = [
            (status, body)
            for _, status, body in outcomes.answers
            if status != 200 and not (status == 503 and names_the_endpoint(body))
        ]
        assert not failed, failed[:3]
        after = [status for at, status, _ in outcomes.answers if at > killed_at]
        assert after.count(200) > len(after) / 2, f"{after.count(200)} of {len(after)} answered"
        assert statuses.count(200) > len(statuses) / 2
        assert "model worker lost" in gateway.text(), gateway.text()

        running[1].kill()  # no worker left: a clear 503 naming the endpoint
        response = predict(url, key)
        assert response.status_code == 503, response.text
        assert names_the_endpoint(response.json()), response.text
        assert "127.0.0.1" not in response.text  # worker addresses stay in the gateway's log
        assert response.headers["Retry-After"]

        running.append(worker(cwd, "worker-1-again", ports[0]))  # back: answered again
        wait_for(lambda: predict(url, key).status_code == 200, "answers again", running[2:])
    finally:
        for p in running:
            p.kill()
