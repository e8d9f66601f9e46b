"""Running pipelines: start, resume and reproduce runs, step by step.

Each step's start, outputs and end are written to the run store as they happen, so a
run killed at any point (``kill -9``, a spot instance taken back) resumes from the
first step that did not complete: the completed steps' outputs are read back and the
rest run again. A step that raises fails the run with its error; its earlier outputs
stay for ``resume``. While a run works, a heartbeat thread says its process is alive.

``launch`` is what triggers and the API call: it starts the run (``Conflict`` if one of
the pipeline is already running for the tenant) and works it in a background thread.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ailayer.core.errors import AilayerError, Conflict, InvalidInput
from ailayer.pipelines.handoff import deploy
from ailayer.pipelines.pipeline import STEPS, Pipeline, Pipelines
from ailayer.pipelines.provenance import code_version, package_versions
from ailayer.pipelines.runs import Run, RunStore
from ailayer.pipelines.steps import REPRODUCE_STEPS, STEP_FUNCTIONS, GateRejected, Tools, Work

logger = logging.getLogger("ailayer.pipelines")

HEARTBEAT_SECONDS = 5.0
STEP_RUNS = {**STEP_FUNCTIONS, "deploy": deploy}  # each step by name, in STEPS order
COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A progress line: step ``position`` of ``total`` is ``status`` (``started``,
    ``completed``, ``reused`` from an earlier attempt, ``skipped``, ``failed``)."""

    run_id: str
    position: int
    total: int
    step: str
    status: str
    seconds: float = 0.0
    detail: str = ""


Listener = Callable[[StepEvent], None]


def _quiet(_: StepEvent) -> None:
    return None


class PipelineService:
    """Runs of the pipelines declared in ``pipelines`` with the given tools."""

    def __init__(self, tools: Tools, pipelines: Pipelines) -> None:
        self.tools = tools
        self.pipelines = pipelines

    @property
    def runs(self) -> RunStore:
        return self.tools.runs

    # entry points ------------------------------------------------------------------------
    def run(
        self,
        tenant_id: str,
        name: str,
        *,
        actor: str,
        trigger: dict[str, Any] | None = None,
        listener: Listener = _quiet,
    ) -> Run:
        """Start a run and work it here to its end; the finished run."""
        pipeline = self.pipelines.get(name)
        run = self._start(tenant_id, pipeline, actor, trigger or {"kind": "manual"})
        return self._work(tenant_id, actor, run, pipeline, None, listener)

    def launch(self, tenant_id: str, name: str, *, trigger: dict[str, Any], actor: str) -> str:
        """Start a run and work it in a background thread; its id."""
        pipeline = self.pipelines.get(name)
        run = self._start(tenant_id, pipeline, actor, trigger)
        self._background(run.id, (tenant_id, actor, run, pipeline, None, _quiet))
        return run.id

    def resume(
        self, tenant_id: str, run_id: str, *, actor: str, listener: Listener = _quiet
    ) -> Run:
        """Carry a failed or interrupted run on from its first step that did not complete."""
        return self._work(*self._take_over(tenant_id, run_id, actor), listener)

    def launch_resume(self, tenant_id: str, run_id: str, *, actor: str) -> str:
        """``resume`` in a background thread, once the run is taken over (or ``Conflict``)."""
        work = self._take_over(tenant_id, run_id, actor)
        self._background(work[2].id, (*work, _quiet))
        return run_id

    def _take_over(
        self, tenant_id: str, run_id: str, actor: str
    ) -> tuple[str, str, Run, Pipeline, Run | None]:
        stored = self.runs.get(tenant_id, run_id)
        pipeline = self.pipelines.get(stored.pipeline)
        original = self.runs.get(tenant_id, stored.reproduces) if stored.reproduces else None
        run = self.runs.take_over(tenant_id, run_id, actor)
        now = code_version(pipeline.source_file)
        if stored.code_version and now.get("commit") != stored.code_version.get("commit"):
            # the code changed between attempts: the steps run now run this code
            self.runs.record(
                tenant_id, run_id, code_version={**now, "earlier": stored.code_version}
            )
        return tenant_id, actor, run, pipeline, original

    def reproduce(
        self, tenant_id: str, run_id: str, *, actor: str, listener: Listener = _quiet
    ) -> Run:
        """A new run that rebuilds a finished run's training set (same content hash, or it
        fails saying so) and retrains and evaluates with its parameters and seed; it
        registers nothing. Its evaluate step's ``predictions_sha256`` is comparable."""
        original = self.runs.get(tenant_id, run_id)
        if original.dataset_sha256 is None or "entities" not in original.artifacts:
            raise InvalidInput(
                f"run {run_id} never built its training set: nothing to reproduce", field="run"
            )
        pipeline = self.pipelines.get(original.pipeline)
        run = self.runs.start(
            tenant_id,
            pipeline.name,
            trigger={"kind": "reproduce", "run": run_id},
            actor=actor,
            spec=pipeline.spec(),
            params=original.params,
            seed=original.seed,
            reproduces=run_id,
        )
        self._provenance(tenant_id, run, pipeline)
        return self._work(tenant_id, actor, run, pipeline, original, listener)

    # the work ----------------------------------------------------------------------------
    def _background(self, run_id: str, args: tuple) -> None:  # type: ignore[type-arg]
        thread = threading.Thread(
            target=self._work, args=args, name=f"pipeline-{run_id}", daemon=True
        )
        thread.start()

    def _start(self, tenant_id: str, pipeline: Pipeline, actor: str, trigger: dict) -> Run:
        run = self.runs.start(
            tenant_id,
            pipeline.name,
            trigger=trigger,
            actor=actor,
            spec=pipeline.spec(),
            params=dict(pipeline.params),
            seed=pipeline.seed,
        )
        self._provenance(tenant_id, run, pipeline)
        return self.runs.get(tenant_id, run.id)

    def _provenance(self, tenant_id: str, run: Run, pipeline: Pipeline) -> None:
        self.runs.record(
            tenant_id,
            run.id,
            code_version=code_version(pipeline.source_file),
            packages=package_versions(),
        )

    def _work(
        self,
        tenant_id: str,
        actor: str,
        run: Run,
        pipeline: Pipeline,
        original: Run | None,
        listener: Listener,
    ) -> Run:
        work = Work(
            tenant_id, actor, self.runs.get(tenant_id, run.id), pipeline, self.tools, original
        )
        steps = REPRODUCE_STEPS if original is not None else STEPS
        with _Heartbeat(self.runs, tenant_id, run.id):
            try:
                for position, name in enumerate(steps, start=1):
                    self._step(work, position, len(steps), name, listener)
            except GateRejected as exc:
                self.runs.finish(tenant_id, run.id, "rejected", str(exc), actor)
            except Exception as exc:
                self.runs.finish(tenant_id, run.id, "failed", _message(exc), actor)
            except BaseException as exc:  # Ctrl-C, SystemExit: resumable, then let through
                self.runs.finish(tenant_id, run.id, "interrupted", _message(exc), actor)
                raise
            else:
                self.runs.finish(tenant_id, run.id, "succeeded", actor=actor)
        return self.runs.get(tenant_id, run.id)

    def _step(self, work: Work, position: int, total: int, name: str, listener: Listener) -> None:
        run_id, tenant_id = work.run.id, work.tenant_id
        done = work.run.step(name)
        if done is not None and done.status == COMPLETED and done.outputs is not None:
            work.outputs[name] = done.outputs
            listener(
                StepEvent(
                    run_id, position, total, name, "reused", detail=_summary(name, done.outputs)
                )
            )
            return
        listener(StepEvent(run_id, position, total, name, "started"))
        self.runs.step_started(tenant_id, run_id, name, position, _inputs(work, name))
        began = time.monotonic()
        try:
            outputs = STEP_RUNS[name](work)
        except BaseException as exc:
            status = "rejected" if isinstance(exc, GateRejected) else "failed"
            self.runs.step_finished(
                tenant_id, run_id, name, status, error=_message(exc), outputs=None
            )
            if isinstance(exc, Exception) and not isinstance(exc, AilayerError | GateRejected):
                logger.warning(
                    "pipeline run %s: step %s failed\n%s", run_id, name, traceback.format_exc()
                )
            listener(
                StepEvent(
                    run_id, position, total, name, status, time.monotonic() - began, _message(exc)
                )
            )
            raise
        self.runs.step_finished(tenant_id, run_id, name, COMPLETED, outputs=outputs)
        work.outputs[name] = outputs
        listener(
            StepEvent(
                run_id,
                position,
                total,
                name,
                COMPLETED,
                time.monotonic() - began,
                _summary(name, outputs),
            )
        )


def _inputs(work: Work, name: str) -> dict[str, Any]:
    """What a step reads: the run's parameters, and the outputs it builds on (by step)."""
    pipeline, run = work.pipeline, work.run
    if name == "build":
        return {
            "features": pipeline.spec()["features"],
            "entities": pipeline.spec()["entities"],
            "label": pipeline.label,
            "reproduces": run.reproduces,
        }
    if name == "train":
        return {
            "dataset_version": work.outputs["build"]["dataset_version"],
            "params": run.params,
            "seed": run.seed,
            "holdout": pipeline.holdout,
        }
    if name in ("evaluate", "gates"):
        return {
            "dataset_version": work.outputs["build"]["dataset_version"],
            "model": work.outputs["train"]["model"]["sha256"],
        }
    if name == "register":
        return {
            "model": work.outputs["train"]["model"]["sha256"],
            "metrics": work.outputs["evaluate"]["metrics"],
        }
    return {
        "model": pipeline.model,
        "version": work.outputs["register"]["version"],
        "endpoint": pipeline.endpoint,
    }


def _summary(name: str, outputs: dict[str, Any]) -> str:
    if name == "build":
        return f"dataset {outputs['dataset_version']}: {outputs['row_count']} rows, sha256 {outputs['content_sha256'][:12]}"
    if name == "train":
        return f"model sha256 {outputs['model']['sha256'][:12]} on {outputs['train_rows']} rows"
    if name == "evaluate":
        return ", ".join(f"{k}={v:.4g}" for k, v in outputs["metrics"].items())
    if name == "gates":
        count = len(outputs["results"])
        return f"{count} gate(s) passed" if count else "no gates declared"
    if name == "register":
        return f"{outputs['model']} v{outputs['version']} as {outputs['alias']}"
    return ", ".join(f"{k}={v}" for k, v in outputs.items())


def _message(exc: BaseException) -> str:
    if isinstance(exc, AilayerError):
        return exc.message
    if isinstance(exc, GateRejected):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Heartbeat:
    """Beats the run's heartbeat every ``HEARTBEAT_SECONDS`` while the block runs."""

    def __init__(self, runs: Any, tenant_id: str, run_id: str) -> None:
        self.runs, self.tenant_id, self.run_id = runs, tenant_id, run_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            try:
                self.runs.heartbeat(self.tenant_id, self.run_id)
            except Exception:
                logger.warning("pipeline run %s: heartbeat failed", self.run_id, exc_info=True)


class HasPipelines(Protocol):
    pipelines: PipelineService


def launch(
    services: HasPipelines, tenant_id: str, pipeline: str, *, trigger: dict, actor: str
) -> str:
    """Start one run of a declared pipeline; returns the run id. Raises ``Conflict`` if a
    run of this pipeline for this tenant is already running (at most one at a time)."""
    return services.pipelines.launch(tenant_id, pipeline, trigger=trigger, actor=actor)


__all__ = ["Conflict", "PipelineService", "StepEvent", "launch"]
