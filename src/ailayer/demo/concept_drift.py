"""The closed loop, played: a concept change in live traffic, healed with no one's help.

``ailayer up --scenario concept-drift`` sets up (directly on the stores, as ``up``'s
set-up does) the loop repository's definitions (``demo/loop_repo.py``), a history of
labelled payments, a concept-drift alert rule on ``fraud-check``, and a first model
trained, gated and deployed by the ``fraud-retrain`` pipeline. Then ``play`` sends
payments through the server's HTTP API exactly as a SaaS app would, in simulated time
order (``simulate.concept``), posts each one's label as feedback and exports the latest
labelled payments to the offline store. At a known time fraud changes its pattern. From
there nothing but ailayer acts: the monitor's concept-drift rule fires, the scheduler's
``OnAlert`` trigger starts the pipeline, which retrains on the fresh labels, gates the
candidate against the champion, registers it and starts it as a canary; the rollout
controller promotes it. ``play`` only watches, prints each step as it sees it, and
measures accuracy before the change, after it, and after the promotion.

Simulated time is the replay's clock: the timestamp of the latest payment sent. Before
the change payments go as fast as the server takes them; from the change on, one batch
every ``pace_seconds``, so the loop's real work (a monitor pass, a training run, a canary
step) costs the simulated minutes the traffic of that real time represents.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ailayer.core.errors import Conflict, NotFound
from ailayer.demo import loop_repo
from ailayer.features.loader import load_definitions
from ailayer.monitoring.alerting.rules import AlertRule
from ailayer.simulate.concept import concept_change_stream
from ailayer.simulate.features import FRAUD_FEATURES

REPO = Path(loop_repo.__file__)
RULE = "fraud-concept"
CONFIRM_PASSES = 8  # monitor passes in a row that must see the alarm before it fires
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # the first payment served
SETTINGS = {  # what the scenario needs of the settings: its repo, quick background loops
    "feature_repo": str(REPO),
    "monitor_interval_seconds": 1.0,
    "rollout_interval_seconds": 0.5,
    "scheduler_interval_seconds": 0.5,
    "log_flush_seconds": 0.5,
}

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """The scenario's knobs: traffic rate (simulated), how much is served before the
    change, at most after it, and after the promotion (to measure recovery)."""

    per_hour: int = 2000
    before: int = 1200
    after_limit: int = 4000
    settle: int = 1200
    batch: int = 20
    pace_seconds: float = 0.4
    recent: int = 400  # labelled payments the export keeps: the pipeline's training rows
    fraud_rate: float = 0.15
    seed: int = 8

    @property
    def change_at(self) -> datetime:
        return START + timedelta(hours=self.before / self.per_hour)

    def stream(self) -> pd.DataFrame:
        """History (``recent`` rows before ``START``), then the traffic to serve."""
        first = START - timedelta(hours=self.recent / self.per_hour)
        total = self.recent + self.before + self.after_limit + self.settle
        return concept_change_stream(
            first,
            total / self.per_hour,
            self.change_at,
            per_hour=self.per_hour,
            fraud_rate=self.fraud_rate,
            seed=self.seed,
        )


@dataclass
class Outcome:
    """What the replay saw, in simulated time, and accuracy per phase."""

    change_at: datetime
    alert_at: datetime | None = None
    run_id: str | None = None
    canary_at: datetime | None = None
    promoted_at: datetime | None = None
    promoted_version: int | None = None
    after_change_until_promotion: int = 0  # payments served between change and promotion
    correct: dict[str, list[int]] = field(default_factory=dict)  # phase -> [right, total]

    def accuracy(self, phase: str) -> float | None:
        right, total = self.correct.get(phase, [0, 0])
        return right / total if total else None

    @property
    def minutes_to_heal(self) -> float | None:
        if self.promoted_at is None:
            return None
        return (self.promoted_at - self.change_at).total_seconds() / 60


def set_up(services: Any, tenant_id: str, actor: str, plan: Plan, say: Say) -> int:
    """Definitions, history, the alert rule and the first model, deployed; its version.
    ``Conflict`` when this home played the scenario already."""
    try:
        services.registry.get_model(tenant_id, loop_repo.MODEL)
    except NotFound:
        pass
    else:
        raise Conflict(
            f"the concept-drift scenario already ran in {services.settings.home}; delete "
            "that folder to play it again",
            field="scenario",
        )
    services.features.apply(tenant_id, actor, load_definitions(REPO))
    stream = plan.stream()
    _export(services, tenant_id, stream.iloc[: plan.recent])
    rule = AlertRule(
        name=RULE,
        kind="concept_drift",
        detector="page_hinkley",
        window="hour",
        op=">=",
        threshold=1,
        for_=CONFIRM_PASSES,
        endpoint=loop_repo.ENDPOINT,
    )
    services.alerts.add_rule(tenant_id, rule, actor=actor)
    say(
        f"alert rule {RULE}: concept drift (Page-Hinkley) on {loop_repo.ENDPOINT}, "
        f"confirmed by {CONFIRM_PASSES} monitor passes in a row"
    )
    run = services.pipelines.run(tenant_id, loop_repo.PIPELINE, actor=actor)
    if run.status != "succeeded":
        raise RuntimeError(f"the first run of {loop_repo.PIPELINE} {run.status}: {run.error}")
    version = run.model_version
    services.registry.set_alias(tenant_id, actor, loop_repo.MODEL, "champion", version)
    auc = run.metrics.get("auc", float("nan"))
    say(
        f"trained {loop_repo.MODEL} v{version} (holdout AUC {auc:.3f}) with run {run.id}; "
        f"serving on {loop_repo.ENDPOINT}, aliased champion"
    )
    return version


def play(client: Any, services: Any, tenant_id: str, plan: Plan, say: Say) -> Outcome:
    """Serve the traffic through ``client`` (the SDK against the running server) until the
    retrained model is promoted and ``settle`` payments more were served."""
    stream = plan.stream()
    recent = deque(stream.iloc[: plan.recent].to_dict("records"), maxlen=plan.recent)
    traffic = stream.iloc[plan.recent :]
    outcome = Outcome(plan.change_at)
    watch = Watch(client, services, tenant_id, outcome, say)
    say(
        f"serving payments from {_clock(START)} (simulated); fraud changes at {_clock(plan.change_at)}"
    )
    served_after_promotion = 0
    for begin in range(0, len(traffic), plan.batch):
        rows = traffic.iloc[begin : begin + plan.batch]
        now = rows["event_timestamp"].iloc[-1].to_pydatetime()
        changed = now >= plan.change_at
        if changed and watch.phase == "before":
            watch.phase = "after"
            say(
                f"{_clock(plan.change_at)} fraud changed its pattern (stolen cards → account takeovers)"
            )
        _serve(client, rows, outcome, watch.phase)
        recent.extend(rows.to_dict("records"))
        _export(services, tenant_id, pd.DataFrame(list(recent)))
        if not changed:
            continue
        watch.look(now)
        if outcome.promoted_at is None:
            outcome.after_change_until_promotion += len(rows)
            if outcome.after_change_until_promotion > plan.after_limit:
                raise RuntimeError(
                    f"no retrained model was promoted within {plan.after_limit} payments "
                    "after the change"
                )
            _pause(plan.pace_seconds)
        else:
            served_after_promotion += len(rows)
            if served_after_promotion >= plan.settle:
                break
    _summary(outcome, say)
    return outcome


class Watch:
    """What the loop did since the last look, said once each: the alert, the run, its
    gates, the canary and the verdict."""

    def __init__(self, client: Any, services: Any, tenant_id: str, outcome: Outcome, say: Say):
        self.client, self.services, self.tenant_id = client, services, tenant_id
        self.outcome, self.say = outcome, say
        self.phase = "before"
        self.first_run = self._latest_run_id()
        self.told: set[str] = set()

    def look(self, now: datetime) -> None:
        self._alert(now)
        self._run(now)
        self._deployment(now)

    def _alert(self, now: datetime) -> None:
        if self.outcome.alert_at is not None:
            return
        firing = self.client.alerts(limit=20)["firing"]
        if any(a.get("rule") == RULE for a in firing):
            self.outcome.alert_at = now
            self.say(f"{_clock(now)} alert {RULE} fired: concept drift on {loop_repo.ENDPOINT}")

    def _run(self, now: datetime) -> None:
        runs = self.services.pipelines.runs.list(self.tenant_id, loop_repo.PIPELINE, limit=5)
        fresh = [r for r in runs if r.id != self.first_run and r.trigger.get("kind") == "alert"]
        if not fresh:
            return
        run = fresh[0]
        self.outcome.run_id = run.id
        self._once(
            f"start:{run.id}",
            f"{_clock(now)} run {run.id} of {loop_repo.PIPELINE} started by the alert: "
            "retraining on the latest labelled payments",
        )
        if run.gate_report and run.status in ("running", "succeeded"):
            self._once(f"gates:{run.id}", f"{_clock(now)} gates passed: {_gates(run.gate_report)}")
        if run.status in ("failed", "rejected"):
            self._once(f"end:{run.id}", f"{_clock(now)} run {run.id} {run.status}: {run.error}")

    def _deployment(self, now: datetime) -> None:
        policy = self.client.deployment(loop_repo.ENDPOINT)["policy"]
        variants = {v["name"]: v for v in policy["variants"]}
        if policy["kind"] == "canary" and policy["state"] == "active":
            canary = variants["canary"]
            if self.outcome.canary_at is None:
                self.outcome.canary_at = now
            self._once(
                f"canary:{canary['version']}:{canary['share']}",
                f"{_clock(now)} canary {canary['model']} v{canary['version']} at "
                f"{canary['share']}% of {loop_repo.ENDPOINT}",
            )
        elif policy["state"] == "promoted" and self.outcome.promoted_at is None:
            self.outcome.promoted_at = now
            self.outcome.promoted_version = variants["stable"]["version"]
            self.phase = "healed"
            self.say(f"{_clock(now)} promoted v{variants['stable']['version']}: {policy['reason']}")
        elif policy["state"] == "rolled_back":
            self._once(
                f"rollback:{policy['revision']}", f"{_clock(now)} rolled back: {policy['reason']}"
            )

    def _once(self, key: str, line: str) -> None:
        if key not in self.told:
            self.told.add(key)
            self.say(line)

    def _latest_run_id(self) -> str | None:
        runs = self.services.pipelines.runs.list(self.tenant_id, loop_repo.PIPELINE, limit=1)
        return runs[0].id if runs else None


def _serve(client: Any, rows: pd.DataFrame, outcome: Outcome, phase: str) -> None:
    """Predict each payment, post its label, count who was right in this phase."""
    records = rows[list(FRAUD_FEATURES)].astype(float).to_dict("records")
    answer = client.predict(loop_repo.ENDPOINT, records)
    labels = rows["is_fraud"].astype(int).tolist()
    feedback = []
    tally = outcome.correct.setdefault(phase, [0, 0])
    for item, label in zip(answer["predictions"], labels, strict=True):
        feedback.append({"prediction_id": item["prediction_id"], "label": label})
        tally[0] += int(int(item["prediction"]) == label)
        tally[1] += 1
    client.send_feedback(feedback)


def _export(services: Any, tenant_id: str, rows: pd.DataFrame) -> None:
    """The latest labelled payments as the pipeline's training rows (the business's
    export of settled payments, rewritten whole)."""
    keep = rows[["payment_id", "event_timestamp", *FRAUD_FEATURES, "is_fraud"]]
    table = pa.Table.from_pandas(keep, preserve_index=False)
    services.offline.tenant_root(tenant_id).write_parquet(loop_repo.RECENT, table)


def _pause(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _gates(report: dict) -> str:
    parts = []
    for result in report.get("results", []):
        for check in result.get("checks", []):
            parts.append(check.get("reason", ""))
    return "; ".join(p for p in parts if p) or "passed"


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _summary(outcome: Outcome, say: Say) -> None:
    before, after, healed = (outcome.accuracy(p) for p in ("before", "after", "healed"))
    say(
        "accuracy: "
        + ", ".join(
            f"{name} {value:.3f}"
            for name, value in (
                ("before the change", before),
                ("after it, old model", after),
                ("after the promotion", healed),
            )
            if value is not None
        )
    )
    if outcome.minutes_to_heal is not None:
        say(
            f"loop closed: {outcome.minutes_to_heal:.0f} simulated minutes and "
            f"{outcome.after_change_until_promotion} payments from the change to the promotion, "
            "no human step"
        )
