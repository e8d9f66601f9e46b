"""Canaries judged under real load through real processes.

Two ``ailayer serve`` processes share one PostgreSQL metadata database and one storage
root (so each writes the prediction log the controllers read), and two ``ailayer
controller`` replicas step the canaries. Threads send predictions to both servers over
HTTP while the test watches:

- a canary whose model API is down (every call fails) is rolled back on its error rate;
- a canary whose model API is slow is rolled back on its p99 latency;
- a canary that predicts the opposite of the truth is rolled back on its accuracy, from
  the labels the test sends through ``/v1/feedback``;
- a good canary is stepped and promoted;

and in each case every move is stored once, whichever replica made it (their counters add
up to the history), and after a rollback every request sent to either server more than
2 s after the rollback's recorded time is answered by the stable version — also by a
server that was idle through the rollback.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.model_api import ModelApi
from tests.support.services import (
    TinyModel,
    free_port,
    scratch_postgres_database,
    tiny_sklearn_model,
    upload_form,
)
from tests.support.up import Up, ailayer_command

pytestmark = pytest.mark.e2e

MODEL = "fraud"
PROPAGATION_SECONDS = 2.0  # the bound: a rollback reaches every server within it
CONTROLLER_INTERVAL = "0.3"
SLOW_SECONDS = 0.5
BAD_PLAN = [
    "--steps", "10,50,100",
    "--step-seconds", "60",  # a bad canary never waits out its step: it is rolled back at once
    "--min-requests", "20",
    "--max-error-rate-increase", "0.05",
    "--max-p99-ratio", "1.5",
]  # fmt: skip


@dataclass
class Worker:
    """A process the cluster started, with its output in files."""

    up: Up
    metrics_url: str = ""


@dataclass
class Cluster:
    cwd: Path
    env: dict[str, str]
    key: str
    servers: list[Up]
    controllers: list[Worker]
    model_api: ModelApi
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.key}"}

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*ailayer_command(), *args, "--url", self.servers[0].url, "--api-key", self.key],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"ailayer {args}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def history(self, endpoint: str) -> list[dict]:
        url = f"{self.servers[0].url}/v1/endpoints/{endpoint}/deployment/history"
        response = httpx.get(url, headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return sorted(response.json(), key=lambda r: r["revision"])

    def transitions(self) -> dict[str, float]:
        """Moves stored by the controller replicas, summed over them, by action."""
        totals: dict[str, float] = {}
        for controller in self.controllers:
            assert controller.up.process.poll() is None, controller.up.logs()
            text = httpx.get(controller.metrics_url, timeout=10).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "ailayer_rollout_transitions_total":
                        action = sample.labels["action"]
                        totals[action] = totals.get(action, 0.0) + sample.value
        return totals

    def passes(self) -> list[float]:
        found = []
        for controller in self.controllers:
            text = httpx.get(controller.metrics_url, timeout=10).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            [sample] = families["ailayer_rollout_passes"].samples
            found.append(sample.value)
        return found


def _spawn(args: list[str], cwd: Path, env: dict[str, str], name: str, url: str) -> Up:
    stdout, stderr = cwd.parent / f"{name}.out", cwd.parent / f"{name}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [*ailayer_command(), *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    return Up(process, stdout, stderr, url)


def _stop(up: Up) -> None:
    if up.process.poll() is None:
        up.process.send_signal(signal.SIGINT)  # a clean stop: the log is flushed
        try:
            up.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            up.process.kill()
            up.process.wait()


def _environment(home: Path, metadata_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILAYER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        AILAYER_HOME=str(home),
        AILAYER_METADATA_URL=metadata_url,
        AILAYER_LOG_FLUSH_SECONDS="0.2",  # the controllers see traffic a moment later
        AILAYER_ROLLOUT_INTERVAL_SECONDS=CONTROLLER_INTERVAL,
        AILAYER_SECRET_KEY="canary-e2e-secret-key-not-a-real-one",
        AILAYER_PROVIDER_HOSTS="127.0.0.1",  # the canaries' model API
    )
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("canary")
    cwd = root / "project"
    cwd.mkdir()
    always = {"/down": "500", "/slow": "slow"}
    with scratch_postgres_database() as metadata_url, ModelApi(SLOW_SECONDS, always) as api:
        env = _environment(root / "home", metadata_url)
        made = subprocess.run(
            [*ailayer_command(), "keys", "create", "e2e", "--role", "admin", "--tenant", "e2e",
             "--json"],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        started: list[Up] = []
        try:
            servers = []
            for index in range(2):
                port = free_port()
                args = ["serve", "--port", str(port)]
                url = f"http://127.0.0.1:{port}"
                servers.append(_spawn(args, cwd, env, f"serve-{index}", url))
            started += servers
            controllers = []
            for index in range(2):
                port = free_port()
                args = ["controller", "--metrics-port", str(port)]
                up = _spawn(args, cwd, env, f"controller-{index}", "")
                controllers.append(Worker(up, f"http://127.0.0.1:{port}/metrics"))
                started.append(up)
            for server in servers:
                server.wait_healthy(timeout=60)
            for controller in controllers:
                _wait_metrics(controller, timeout=60)
            yield Cluster(cwd, env, key, servers, controllers, api)
        finally:
            for up in started:
                _stop(up)
            for up in started:
                assert "Traceback" not in up.stderr.read_text(), up.logs()


def _wait_metrics(worker: Worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.up.process.poll() is None, f"controller exited\n{worker.up.logs()}"
        try:
            if httpx.get(worker.metrics_url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"controller metrics not up within {timeout} s\n{worker.up.logs()}")


@pytest.fixture(scope="module")
def versions(cluster: Cluster) -> dict[str, int]:
    """The model's versions: a good stable one, and the canaries (each registered once)."""
    base = cluster.model_api.base
    scorer = {"kind": "json-http", "response_path": "/result/score", "retries": 0,
              "cache_size": 0, "timeout_seconds": 10}  # fmt: skip
    stable = tiny_sklearn_model(seed=0)
    made = {
        "stable": stable,
        "down": _provider({**scorer, "url": f"{base}/down"}, stable.signature),
        "slow": _provider({**scorer, "url": f"{base}/slow"}, stable.signature),
        "good": tiny_sklearn_model(seed=1),
        "wrong": tiny_sklearn_model(seed=2, flip=True),
    }
    numbers = {}
    for name, model in made.items():
        flavor = "sklearn" if model.estimator is not None else "provider"
        response = httpx.post(
            f"{cluster.servers[0].url}/v1/models/{MODEL}/versions",
            headers=cluster.headers,
            timeout=60,
            **upload_form(model, flavor=flavor),
        )
        assert response.status_code == 201, response.text
        numbers[name] = response.json()["version"]
    return numbers


def _provider(config: dict, signature: dict) -> TinyModel:
    return TinyModel(json.dumps(config).encode(), signature, None)


@dataclass(frozen=True)
class Answer:
    sent: float  # wall-clock time the request was sent (time.time())
    server: int
    status: int
    variant: str | None
    version: int | None


class Load:
    """Threads predicting in a loop, alternating between the servers (of ``servers``)."""

    def __init__(
        self,
        cluster: Cluster,
        endpoint: str,
        servers: tuple[int, ...] = (0, 1),
        threads: int = 6,
        *,
        labelled: bool = False,
    ) -> None:
        self.servers = servers
        self.feedback_url = f"{cluster.servers[0].url}/v1/feedback"
        self.urls = [f"{cluster.servers[i].url}/v1/predict/{endpoint}" for i in servers]
        self.headers = cluster.headers
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(i,)) for i in range(threads)]
        self._unlabelled: list[tuple[float, str, bool]] = []  # (answered at, id, truth)
        self._lock = threading.Lock()
        self.labelled = 0
        if labelled:
            self._threads.append(threading.Thread(target=self._label))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _send(self, offset: int) -> None:
        rng = random.Random(offset)
        with httpx.Client(timeout=30) as client:
            count = offset
            while not self._stop.is_set():
                pick = count % len(self.urls)
                server = self.servers[pick]
                count += 1
                record = {"amount": rng.uniform(0, 1000), "card_age_days": rng.uniform(0, 365)}
                sent = time.time()
                try:
                    response = client.post(self.urls[pick], headers=self.headers, json=record)
                except httpx.TransportError as exc:
                    self.failures.append(f"server {server}: {exc!r}")
                    continue
                body = response.json()
                ok = response.status_code == 200
                if ok:
                    [item] = body["predictions"]
                    with self._lock:
                        self._unlabelled.append((time.time(), item["prediction_id"], truth(record)))
                self.answers.append(
                    Answer(
                        sent,
                        server,
                        response.status_code,
                        body["alias"] if ok else None,
                        body["version"] if ok else None,
                    )
                )

    def _label(self) -> None:
        """Send each answer's true label a moment later (once the log holds its id),
        again while the server says the id is unknown."""
        with httpx.Client(timeout=30) as client:
            while not self._stop.wait(0.3):
                ripe = time.time() - 0.5
                with self._lock:
                    due = [u for u in self._unlabelled if u[0] < ripe]
                    self._unlabelled = [u for u in self._unlabelled if u[0] >= ripe]
                if not due:
                    continue
                body = [{"prediction_id": pid, "label": label} for _, pid, label in due]
                response = client.post(self.feedback_url, headers=self.headers, json=body)
                if response.status_code != 200:
                    self.failures.append(f"feedback: {response.status_code} {response.text}")
                    continue
                unknown = set(response.json()["unknown_ids"])
                self.labelled += len(due) - len(unknown)
                with self._lock:
                    self._unlabelled += [u for u in due if u[1] in unknown]

    def sent_after(self, at: float) -> list[Answer]:
        return [a for a in list(self.answers) if a.sent >= at]


def truth(record: dict) -> bool:
    """The rule the tiny fraud model learned: a large amount on a new card."""
    return record["amount"] > 600 and record["card_age_days"] < 100


def _deploy(cluster: Cluster, endpoint: str, stable: int, canary: int, plan: list[str]) -> None:
    out = cluster.cli("deploy", endpoint, f"{MODEL}:{stable}", "--canary", f"{MODEL}:{canary}",
                      *plan, "--json")  # fmt: skip
    policy = json.loads(out)["policy"]
    assert (policy["kind"], policy["state"], policy["revision"]) == ("canary", "active", 1)


def _wait_for(what: str, check, timeout: float, load: Load | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    seen = "" if load is None else f"; {len(load.answers)} answers, {load.failures[:3]}"
    raise AssertionError(f"{what} not within {timeout} s{seen}")


def _rolled_back(cluster: Cluster, endpoint: str) -> dict | None:
    history = cluster.history(endpoint)
    return history[-1] if history[-1]["policy"]["state"] == "rolled_back" else None


def _assert_rolled_back_under_load(
    cluster: Cluster,
    endpoint: str,
    stable: int,
    reason: tuple[str, ...],
    before: dict[str, float],
    servers: tuple[int, ...] = (0, 1),
    labelled: bool = False,
) -> tuple[float, list[Answer]]:
    """Under load on ``servers``: the controller rolls the canary back once, naming
    every fragment of ``reason`` (the breached rule and its bound), and from 2 s after the rollback's recorded time those servers answer from
    stable only. Returns the rollback's time and the answers sent before it."""
    with Load(cluster, endpoint, servers, labelled=labelled) as load:
        rollback = _wait_for(
            "an automatic rollback", lambda: _rolled_back(cluster, endpoint), 45, load
        )
        at = datetime.fromisoformat(rollback["at"]).timestamp()
        settled = at + PROPAGATION_SECONDS
        _wait_for(
            "answers from every loaded server sent 2 s after the rollback",
            lambda: all(
                sum(a.server == s for a in load.sent_after(settled)) >= 40 for s in servers
            ),
            30,
            load,
        )
    assert not load.failures, load.failures[:5]

    assert rollback["actor"] == "rollout-controller"
    assert all(part in rollback["reason"] for part in reason), rollback["reason"]
    shares = {v["name"]: v["share"] for v in rollback["policy"]["variants"]}
    assert shares == {"stable": 100, "canary": 0}

    after = load.sent_after(settled)
    wrong = [a for a in after if (a.status, a.variant, a.version) != (200, "stable", stable)]
    assert not wrong, f"{len(wrong)} of {len(after)} answers after the bound: {wrong[:5]}"

    # exactly once: the history is the deploy and one rollback, and the replicas' counters
    # add up to one stored rollback (one replica made it; the other lost or came later)
    history = cluster.history(endpoint)
    assert [(r["revision"], r["policy"]["state"]) for r in history] == [
        (1, "active"),
        (2, "rolled_back"),
    ]
    moved = _delta(cluster.transitions(), before)
    assert moved == {"rollback": 1.0}, moved
    return at, [a for a in load.answers if a.sent < at]


def _predict(cluster: Cluster, server: int, endpoint: str) -> Answer:
    sent = time.time()
    url = f"{cluster.servers[server].url}/v1/predict/{endpoint}"
    record = {"amount": random.uniform(0, 1000), "card_age_days": random.uniform(0, 365)}
    response = httpx.post(url, headers=cluster.headers, json=record, timeout=30)
    body = response.json()
    if response.status_code != 200:
        return Answer(sent, server, response.status_code, None, None)
    return Answer(sent, server, 200, body["alias"], body["version"])


def _delta(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    changed = {k: v - before.get(k, 0.0) for k, v in now.items()}
    return {k: v for k, v in changed.items() if v}


def test_a_canary_whose_model_fails_is_rolled_back_on_its_error_rate(
    cluster: Cluster, versions: dict[str, int]
) -> None:
    before = cluster.transitions()
    _deploy(cluster, "fraud-down", versions["stable"], versions["down"], BAD_PLAN)

    _, earlier = _assert_rolled_back_under_load(
        cluster, "fraud-down", versions["stable"], ("canary error rate", "+ 0.050"), before
    )

    assert any(a.status == 503 for a in earlier), "the failing canary never answered"
    assert {a.variant for a in earlier if a.status == 200} == {"stable"}


def test_a_slow_canary_is_rolled_back_on_its_p99_latency(
    cluster: Cluster, versions: dict[str, int]
) -> None:
    """Load on server 0 only: server 1 answers a few requests under the canary (at 50%),
    then idles through the rollback, and must still answer from stable 2 s after it."""
    before = cluster.transitions()
    plan = [*BAD_PLAN[BAD_PLAN.index("--step-seconds") :], "--steps", "50,100"]
    _deploy(cluster, "fraud-slow", versions["stable"], versions["slow"], plan)
    warm = [_predict(cluster, 1, "fraud-slow")]
    while warm[-1].variant != "canary":  # its routing holds the canary at 50%
        assert len(warm) < 50, warm
        warm.append(_predict(cluster, 1, "fraud-slow"))

    at, earlier = _assert_rolled_back_under_load(
        cluster,
        "fraud-slow",
        versions["stable"],
        ("canary p99 latency", "above 1.5"),
        before,
        servers=(0,),
    )

    canary = [a for a in earlier if a.variant == "canary"]
    assert canary and all(a.version == versions["slow"] for a in canary)
    assert all(a.status == 200 for a in earlier)  # slow, never failing

    # the idle server: last asked before the rollback, now asked by a burst at once
    assert warm[-1].sent < at, "server 1 was not idle through the rollback"
    assert time.time() >= at + PROPAGATION_SECONDS
    with ThreadPoolExecutor(max_workers=16) as pool:
        burst = list(pool.map(lambda _: _predict(cluster, 1, "fraud-slow"), range(16)))
    assert {(a.status, a.variant, a.version) for a in burst} == {
        (200, "stable", versions["stable"])
    }


def test_a_wrong_canary_is_rolled_back_on_its_accuracy_from_labels(
    cluster: Cluster, versions: dict[str, int]
) -> None:
    """A canary that predicts the opposite of the truth, as fast and error-free as the
    stable version: only the labels sent through feedback show it."""
    before = cluster.transitions()
    plan = [
        "--steps", "10,50,100",
        "--step-seconds", "60",
        "--min-requests", "20",
        "--max-quality-drop", "0.2",
        "--max-p99-ratio", "50",  # two equally fast versions: latency is not judged here
    ]  # fmt: skip
    _deploy(cluster, "fraud-wrong", versions["stable"], versions["wrong"], plan)

    _, earlier = _assert_rolled_back_under_load(
        cluster,
        "fraud-wrong",
        versions["stable"],
        ("canary accuracy", "- 0.200"),
        before,
        labelled=True,
    )

    assert all(a.status == 200 for a in earlier)
    assert {a.variant for a in earlier} == {"stable", "canary"}


def test_a_good_canary_is_stepped_and_promoted_once_per_step(
    cluster: Cluster, versions: dict[str, int]
) -> None:
    before = cluster.transitions()
    plan = [
        "--steps", "10,50,100",
        "--step-seconds", "1",
        "--min-requests", "20",
        "--max-error-rate-increase", "0.05",
        # two equally fast versions on a busy machine: latency is not what this judges
        "--max-p99-ratio", "50",
    ]  # fmt: skip
    _deploy(cluster, "fraud-good", versions["stable"], versions["good"], plan)

    def promoted() -> dict | None:
        last = cluster.history("fraud-good")[-1]
        return last if last["policy"]["state"] == "promoted" else None

    with Load(cluster, "fraud-good") as load:
        _wait_for("promotion", promoted, 50, load)
    assert not load.failures, load.failures[:5]
    assert all(a.status == 200 for a in load.answers)
    assert {a.variant for a in load.answers} >= {"stable", "canary"}

    history = cluster.history("fraud-good")
    moves = [
        (r["revision"], r["actor"], r["policy"]["state"], _canary_share(r["policy"]))
        for r in history
    ]
    assert moves[0] == (1, moves[0][1], "active", 10)
    assert moves[1:] == [
        (2, "rollout-controller", "active", 50),
        (3, "rollout-controller", "promoted", None),
    ], moves
    assert history[1]["reason"].startswith("step to 50%"), history[1]["reason"]
    assert _delta(cluster.transitions(), before) == {"step": 1.0, "promote": 1.0}
    assert all(count > 0 for count in cluster.passes())  # both replicas were judging


def _canary_share(policy: dict) -> int | None:
    """The canary's share, None once promoted (the canary is then the only version)."""
    shares = {v["name"]: v["share"] for v in policy["variants"] if not v["shadow"]}
    return shares.get("canary") if policy["state"] != "promoted" else None
