"""The steps of a pipeline run. Each takes the run's ``Work`` and returns its outputs: a
small JSON object of references (dataset version, artifact sha256s, metrics), stored
when the step completes, which is all a resumed run needs to carry on from there.

Big things (entity rows, models, predictions) go to the artifact store, content
addressed per tenant; the training set is the offline store's saved dataset version.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ailayer.core.errors import Conflict, InvalidInput, NotFound
from ailayer.features.datasets import content_hash
from ailayer.features.offline import OfflineStore
from ailayer.governance.quotas import Quotas
from ailayer.models.artifacts import ArtifactRef, ArtifactStore
from ailayer.models.flavors import get_flavor
from ailayer.models.service import ModelRegistry, NewVersion
from ailayer.pipelines.checkpoint import CHECKPOINT, Checkpoint
from ailayer.pipelines.gating import Candidate, json_safe, judge
from ailayer.pipelines.pipeline import Pipeline
from ailayer.pipelines.provenance import code_label
from ailayer.pipelines.runs import Run, RunStore
from ailayer.pipelines.serialize import bytes_table, model_bytes, table_bytes
from ailayer.pipelines.served import served_fields
from ailayer.rollout.store import DeploymentService

CHALLENGER = "challenger"
CONTENT_SCHEME = "artifacts://sha256/"  # how answers name artifacts (core/public.py)
CHAMPION = "champion"


class GateRejected(Exception):
    """A gate said no: the run stops before register, with the report saved."""


@dataclass
class Tools:
    """What the steps work with (built by the composition root)."""

    offline: OfflineStore
    registry: ModelRegistry
    artifacts: ArtifactStore
    runs: RunStore
    deployments: DeploymentService | None = None
    quotas: Quotas | None = None  # the same check as the API's registration


@dataclass
class Work:
    """One run in progress: its declaration, its record, the outputs of finished steps."""

    tenant_id: str
    actor: str
    run: Run
    pipeline: Pipeline
    tools: Tools
    original: Run | None = None  # the run being reproduced
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, **values: Any) -> None:
        self.tools.runs.record(self.tenant_id, self.run.id, **values)

    def keep(self, name: str, ref: dict[str, Any]) -> None:
        """Name an artifact in the run's record (``artifacts[name]``)."""
        artifacts = {**self.run.artifacts, name: ref}
        self.record(artifacts=artifacts)
        self.run = replace(self.run, artifacts=artifacts)

    def put(self, data: bytes) -> dict[str, Any]:
        """Store ``data`` for the tenant; its reference as the run keeps it: by content,
        never by where the store keeps it (records are shown over the API)."""
        ref = self.tools.artifacts.put(self.tenant_id, data)
        return {"uri": f"{CONTENT_SCHEME}{ref.sha256}", "sha256": ref.sha256, "size": ref.size}

    def get(self, ref: dict[str, Any]) -> bytes:
        """The bytes of a reference made by ``put`` (checked against its sha256)."""
        keys = ("uri", "sha256", "size")
        return self.tools.artifacts.get(self.tenant_id, ArtifactRef(**{k: ref[k] for k in keys}))

    # what a trainer's Checkpoint keeps (pipelines/checkpoint.py)
    def latest_checkpoint(self) -> dict[str, Any] | None:
        return self.run.artifacts.get(CHECKPOINT)

    def save_checkpoint(self, data: bytes, iteration: int) -> None:
        self.keep(CHECKPOINT, {**self.put(data), "iteration": iteration})

    def load(self, ref: dict[str, Any]) -> bytes:
        return self.get(ref)


# --- build ------------------------------------------------------------------------------


def build(work: Work) -> dict[str, Any]:
    """The point-in-time training set for the entity rows; a reproduction uses the
    original's rows and must arrive at the original's content hash."""
    pipeline, tenant = work.pipeline, work.tenant_id
    if work.original is not None:
        entities = bytes_table(work.get(work.original.artifacts["entities"]))
        features: Any = work.original.spec["features"]
    else:
        entities, features = _entity_rows(work), pipeline.features
    _check_entities(entities, pipeline)
    entities_ref = work.put(table_bytes(entities))
    table, dataset = work.tools.offline.get_training_set(
        tenant,
        entities,
        features,
        timestamp_column=pipeline.timestamp_column,
        actor=work.actor,
        keep=True,
    )
    work.keep("entities", entities_ref)
    work.record(
        dataset_version=dataset.id,
        dataset_sha256=dataset.content_sha256,
        definitions=dataset.definitions,
    )
    if work.original is not None:
        _same_dataset(work.original, dataset.definitions, dataset.content_sha256)
    return {
        "dataset_version": dataset.id,
        "content_sha256": dataset.content_sha256,
        "row_count": dataset.row_count,
        "features": dataset.features,
        "feature_columns": [c for c in table.column_names if c not in entities.column_names],
        "entities": entities_ref,
    }


def _entity_rows(work: Work) -> pa.Table:
    source = work.pipeline.entities
    if callable(source):
        rows = source()
        if not isinstance(rows, pd.DataFrame | pa.Table):
            raise InvalidInput(
                f"entities function returned {type(rows).__name__}, not a DataFrame",
                field="entities",
            )
        return (
            rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
        )
    folder = work.tools.offline.tenant_root(work.tenant_id)
    target = folder.child(source)
    if not (target.is_file() or target.is_dir()):
        raise InvalidInput(
            f"entity rows {source!r} not found in the tenant's offline store", field="entities"
        )
    return folder.read_parquet(folder.location(source))


def _check_entities(entities: pa.Table, pipeline: Pipeline) -> None:
    if entities.num_rows == 0:
        raise InvalidInput(
            "the entity rows are empty: there is nothing to train on", field="entities"
        )
    for name, field_name in (
        (pipeline.label, "label"),
        (pipeline.timestamp_column, "timestamp_column"),
    ):
        if name not in entities.column_names:
            raise InvalidInput(
                f"the entity rows have no {field_name} column {name!r} "
                f"(columns: {', '.join(entities.column_names)})",
                field=field_name,
            )
    missing = entities.column(pipeline.label).null_count
    if missing:
        raise InvalidInput(
            f"label column {pipeline.label!r} is missing in {missing} of {entities.num_rows} rows",
            field="label",
        )


def _same_dataset(original: Run, definitions: dict[str, Any], sha256: str) -> None:
    if original.definitions is not None and definitions != original.definitions:
        changed = sorted(
            k
            for k in {*definitions, *original.definitions}
            if definitions.get(k) != original.definitions.get(k)
        )
        raise Conflict(
            f"feature definitions changed since run {original.id} ({', '.join(changed)}); "
            "reproducing needs them as they were",
            field="definitions",
        )
    if sha256 != original.dataset_sha256:
        raise Conflict(
            f"the rebuilt training set differs from run {original.id}'s: content hash "
            f"{sha256[:12]}… instead of {str(original.dataset_sha256)[:12]}… "
            "(source rows at or before the entity times changed)",
            field="dataset",
        )


# --- train --------------------------------------------------------------------------------


@dataclass
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame
    features: list[str]


def split(work: Work) -> Split:
    """The training set, ordered by time (stable), its last ``holdout`` share held out."""
    built = work.outputs["build"]
    table = work.tools.offline.read_dataset(work.tenant_id, built["dataset_version"])
    if table is None:
        raise NotFound(f"the training set {built['dataset_version']} was not kept")
    frame = table.to_pandas()
    frame = frame.sort_values(work.pipeline.timestamp_column, kind="stable", ignore_index=True)
    held = math.ceil(len(frame) * work.pipeline.holdout)
    if len(frame) - held < 1:
        raise InvalidInput(
            f"the training set has {len(frame)} row(s): too few to hold out "
            f"{work.pipeline.holdout:.0%} and train on the rest",
            field="entities",
        )
    features = list(built["feature_columns"])
    return Split(frame.iloc[: len(frame) - held], frame.iloc[len(frame) - held :], features)


def matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The feature columns as float64: what the trainer and the model see."""
    for name in features:
        kind = frame[name].dtype
        if not (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind)):
            raise InvalidInput(
                f"feature column {name!r} holds {kind}, not numbers; a pipeline trains on "
                "numeric features",
                field="features",
            )
    return frame[features].astype("float64")


def train(work: Work) -> dict[str, Any]:
    data = split(work)
    pipeline = work.pipeline
    x, y = matrix(data.train, data.features), data.train[pipeline.label]
    checkpoint = Checkpoint(work) if _takes_checkpoint(pipeline.trainer) else None
    extra = {} if checkpoint is None else {CHECKPOINT: checkpoint}
    model = pipeline.trainer(x, y, dict(work.run.params), work.run.seed, **extra)
    artifact = model_bytes(pipeline.flavor, model)
    get_flavor(pipeline.flavor).check(artifact)  # refused now, not at registration
    ref = work.put(artifact)
    work.keep("model", ref)
    outputs = {
        "model": ref,
        "flavor": pipeline.flavor,
        "train_rows": len(data.train),
        "holdout_rows": len(data.holdout),
    }
    if checkpoint is not None and checkpoint.resumed_from is not None:
        outputs["resumed_from_iteration"] = checkpoint.resumed_from
    return outputs


def _takes_checkpoint(trainer: Any) -> bool:
    try:
        return CHECKPOINT in inspect.signature(trainer).parameters
    except (TypeError, ValueError):
        return False


# --- evaluate -----------------------------------------------------------------------------


def evaluate(work: Work) -> dict[str, Any]:
    """The model as serving loads it, on the holdout; NaN metrics fail the step."""
    data = split(work)
    artifact = work.get(work.outputs["train"]["model"])
    loaded = get_flavor(work.pipeline.flavor).load(artifact)
    predicted = loaded.predict(matrix(data.holdout, data.features).to_numpy())
    truth = data.holdout[work.pipeline.label].to_numpy()
    metrics = _metrics(work.pipeline.task, truth, predicted.values, predicted.scores)
    bad = [name for name, value in metrics.items() if not math.isfinite(value)]
    if bad:
        raise InvalidInput(
            f"the model's metrics are not numbers: {', '.join(bad)} = "
            f"{', '.join(str(metrics[b]) for b in bad)}",
            field="metrics",
        )
    table = pa.table(
        {
            "value": pa.array(predicted.values),
            "score": pa.array(
                predicted.scores if predicted.scores is not None else [None] * len(truth),
                pa.float64(),
            ),
        }
    )
    work.record(metrics=metrics)
    ref = work.put(table_bytes(table))
    work.keep("predictions", ref)
    return {
        "metrics": metrics,
        "holdout_rows": len(truth),
        "predictions": ref,
        "predictions_sha256": content_hash(table),
    }


def _metrics(
    task: str, truth: np.ndarray, values: list[Any], scores: list[float] | None
) -> dict[str, float]:
    from sklearn import metrics as m

    if task == "regression":
        predicted, truth = np.asarray(values, dtype="float64"), truth.astype("float64")
        with np.errstate(all="ignore"):
            error = predicted - truth
            return {
                "rmse": float(np.sqrt(np.mean(error**2))),
                "mae": float(np.mean(np.abs(error))),
            }
    # classes as the model names them (numbers or strings), compared as Python values
    same = [p == t for p, t in zip(values, truth.tolist(), strict=True)]
    result = {"accuracy": float(np.mean(same))}
    if scores is not None and len(set(truth.tolist())) == 2:
        result["auc"] = float(m.roc_auc_score(truth, np.asarray(scores, dtype="float64")))
    return result


# --- gates --------------------------------------------------------------------------------


def gates(work: Work) -> dict[str, Any]:
    """Each gate on the candidate; any failure (or a gate that cannot judge) rejects it."""
    pipeline = work.pipeline
    if not pipeline.gates:
        report: dict[str, Any] = {"passed": True, "results": []}
        work.record(gate_report=report)
        return report
    data = split(work)
    artifact = work.get(work.outputs["train"]["model"])
    holdout = data.holdout.copy()
    holdout[data.features] = matrix(holdout, data.features)
    candidate = Candidate(
        model=_estimator(get_flavor(pipeline.flavor).load(artifact)),
        artifact=artifact,
        features=data.features,
        holdout=holdout,
        label=pipeline.label,
        champion=_champion(work),
        served_fields=served_fields(work),
    )
    report = judge(tuple(pipeline.gates), candidate)
    work.record(gate_report=report)
    if not report["passed"]:
        failed = [r for r in report["results"] if not r["passed"]]
        raise GateRejected("; ".join(f"gate {r['gate']!r} failed: {_reason(r)}" for r in failed))
    return report


def _estimator(loaded: Any) -> Any:
    """The fitted object inside a loaded flavor model (what gates call predict on)."""
    for name in ("estimator", "booster"):
        inner = getattr(loaded, name, None)
        if inner is not None:
            return inner
    return loaded


def _champion(work: Work) -> Any | None:
    registry = work.tools.registry
    try:
        version = registry.resolve_alias(work.tenant_id, work.pipeline.model, CHAMPION)
    except NotFound:
        return None
    artifact = registry.load_artifact(work.tenant_id, version)
    return _estimator(get_flavor(version.flavor).load(artifact))


def _reason(result: dict[str, Any]) -> str:
    return str(
        result.get("reason")
        or json_safe({k: v for k, v in result.items() if k not in ("gate", "passed")})
    )


# --- register -----------------------------------------------------------------------------


def register(work: Work) -> dict[str, Any]:
    """The version, aliased challenger, pointing back at the run; once per run even when
    a resumed run repeats this step (it finds the version the first attempt made)."""
    registry, pipeline, run = work.tools.registry, work.pipeline, work.run
    existing = _registered_by(work)
    if existing is None:
        built = work.outputs["build"]
        artifact = work.get(work.outputs["train"]["model"])
        if work.tools.quotas is not None:  # max_models, max_stored_bytes: refused, as over the API
            work.tools.quotas.check_model_version(work.tenant_id, pipeline.model, len(artifact))
        new = NewVersion(
            model=pipeline.model,
            flavor=pipeline.flavor,
            artifact=artifact,
            signature={"inputs": [{"name": c, "type": "double"} for c in built["feature_columns"]]},
            params={**run.params, "seed": run.seed},
            metrics=work.outputs["evaluate"]["metrics"],
            tags={"pipeline": pipeline.name, "run": run.id},
            description=pipeline.description,
            dataset_version=built["dataset_version"],
            feature_refs=list(built["features"]),
            code_version=code_label(run.code_version),
            pipeline_run=run.id,
            aliases=[CHALLENGER],
            compile=pipeline.compile,
        )
        existing = registry.register(work.tenant_id, work.actor, new).version
    work.record(model=pipeline.model, model_version=existing)
    return {"model": pipeline.model, "version": existing, "alias": CHALLENGER}


def _registered_by(work: Work) -> int | None:
    try:
        model = work.tools.registry.get_model(work.tenant_id, work.pipeline.model)
    except NotFound:
        return None
    made = [v["version"] for v in model["versions"] if v["pipeline_run"] == work.run.id]
    return made[0] if made else None


STEP_FUNCTIONS = {
    "build": build,
    "train": train,
    "evaluate": evaluate,
    "gates": gates,
    "register": register,
}
REPRODUCE_STEPS = ("build", "train", "evaluate")
