"""``Pipeline``: a training pipeline declared in Python beside the feature definitions.

A pipeline is a fixed chain of named steps, each reading the outputs of the ones before:

    build      the point-in-time training set for the entity rows (a dataset version)
    train      the trainer on the rows before the holdout → a serialized model artifact
    evaluate   the model, loaded as serving loads it, on the holdout → metrics
    gates      each declared gate on the candidate; one failure stops the run
    register   the model version, aliased ``challenger``, pointing back at the run
    deploy     a canary on the pipeline's endpoint (when one is declared)

What varies is declared: the features, the entity rows and label, the trainer (a plain
function ``trainer(X, y, params, seed) -> fitted model``), its flavor, parameters and
seed, the holdout share, the gates and the endpoint. The declaration is checked when it is
made, so a misconfigured pipeline fails where it is written, naming the field.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_name
from ailayer.features.loader import load_objects
from ailayer.pipelines.gating import Gate, check_gate_declarations
from ailayer.pipelines.triggers import check_triggers
from ailayer.rollout.policy import CanaryPlan

STEPS = ("build", "train", "evaluate", "gates", "register", "deploy")
FLAVORS = ("sklearn", "lightgbm", "xgboost")
TASKS = ("classification", "regression")

Trainer = Callable[[pd.DataFrame, pd.Series, dict[str, Any], int], Any]
EntityRows = str | Callable[[], pd.DataFrame]


@dataclass(frozen=True, eq=False)
class Pipeline:
    """A declared training pipeline (see the module docstring for its steps).

    ``entities`` is a Parquet file (or folder) under the tenant's offline store, or a
    function returning the rows as a DataFrame: entity keys, ``timestamp_column``,
    ``label`` and any columns gates read (a sensitive attribute, say). ``canary`` is the
    rollout policy's canary block (``docs/rollouts.md``) used when ``endpoint`` is set.
    """

    name: str
    model: str
    features: str | Sequence[str]
    entities: EntityRows
    label: str
    trainer: Trainer
    flavor: Literal["sklearn", "lightgbm", "xgboost"] = "sklearn"
    task: Literal["classification", "regression"] = "classification"
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    holdout: float = 0.2
    timestamp_column: str = "event_timestamp"
    gates: Sequence[Gate] = ()
    endpoint: str | None = None
    canary: Mapping[str, Any] | None = None
    compile: bool = True
    description: str = ""
    triggers: Sequence[Any] = ()  # Schedule, NewData, OnAlert: what `ailayer scheduler` runs

    def __post_init__(self) -> None:
        check_name("name", self.name)
        check_name("model", self.model)
        _check_features(self.features)
        if not (isinstance(self.entities, str) or callable(self.entities)):
            raise InvalidInput(
                "entities must be a Parquet path under the offline store or a function "
                "returning a DataFrame",
                field="entities",
            )
        for name in ("label", "timestamp_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidInput(f"{name} must be a column name", field=name)
        if not callable(self.trainer):
            raise InvalidInput("trainer must be a function (X, y, params, seed)", field="trainer")
        if self.flavor not in FLAVORS:
            raise InvalidInput(f"flavor must be one of {', '.join(FLAVORS)}", field="flavor")
        if self.task not in TASKS:
            raise InvalidInput(f"task must be one of {', '.join(TASKS)}", field="task")
        if not isinstance(self.params, Mapping):
            raise InvalidInput("params must be a mapping", field="params")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInput("seed must be an integer", field="seed")
        if not isinstance(self.holdout, float | int) or not 0 < self.holdout < 1:
            raise InvalidInput("holdout must be a share between 0 and 1", field="holdout")
        object.__setattr__(self, "gates", check_gate_declarations(self.gates))
        if self.endpoint is not None:
            check_name("endpoint", self.endpoint)
        if self.canary is not None:
            if self.endpoint is None:
                raise InvalidInput("canary needs an endpoint to run on", field="canary")
            CanaryPlan.from_dict(self.canary)  # a wrong plan is refused here, not at deploy
        object.__setattr__(self, "triggers", check_triggers(self.triggers))

    @property
    def source_file(self) -> Path | None:
        """The file the trainer is written in: where the code version is read."""
        try:
            found = inspect.getsourcefile(self.trainer)
        except TypeError:
            return None
        return Path(found) if found else None

    def spec(self) -> dict[str, Any]:
        """The declaration as JSON, for the run record (functions by their names)."""
        return {
            "name": self.name,
            "model": self.model,
            "features": self.features if isinstance(self.features, str) else list(self.features),
            "entities": self.entities
            if isinstance(self.entities, str)
            else _qualified(self.entities),
            "label": self.label,
            "trainer": _qualified(self.trainer),
            "flavor": self.flavor,
            "task": self.task,
            "holdout": self.holdout,
            "timestamp_column": self.timestamp_column,
            "gates": [gate.name for gate in self.gates],
            "endpoint": self.endpoint,
            "canary": dict(self.canary) if self.canary is not None else None,
            "compile": self.compile,
            "triggers": [type(trigger).__name__ for trigger in self.triggers],
            "steps": list(STEPS),
        }


def _check_features(features: object) -> None:
    if isinstance(features, str):
        if not features:
            raise InvalidInput("features must name a feature service", field="features")
        return
    if (
        not isinstance(features, Sequence)
        or not features
        or not all(isinstance(ref, str) and ":" in ref for ref in features)
    ):
        raise InvalidInput(
            "features must be a feature service name or a list of 'view:feature' refs",
            field="features",
        )


def _qualified(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", "?")
    return f"{module}:{getattr(function, '__qualname__', repr(function))}"


class Pipelines:
    """The pipelines declared in a definitions file, folder or module, found by name.

    Loaded on first use, so a service that never trains never imports the user's code
    twice; ``reload`` picks up an edited file. ``declared`` pipelines (made in this
    process) stand in for a source."""

    def __init__(self, source: str | Path | None, declared: Sequence[Pipeline] = ()) -> None:
        self.source = source
        self._found: dict[str, Pipeline] | None = {p.name: p for p in declared} or None
        self._loading = threading.Lock()  # API threads: the user's file is imported once
        self._stamp: tuple[tuple[str, int, int], ...] = ()

    def get(self, name: str) -> Pipeline:
        found = self.all()
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise InvalidInput(
                f"no pipeline named {name!r} in {self.source} (declared: {known})",
                field="pipeline",
            )
        return found[name]

    def all(self) -> dict[str, Pipeline]:
        with self._loading:
            if self._found is None:
                self._stamp = source_stamp(self.source)
                self._found = load_pipelines(self.source)
            return self._found

    def reload(self) -> None:
        self._found = None

    def refresh(self) -> None:
        """Reload only when the definition files changed since they were read: a scheduler
        asks on every pass, and importing the user's code each time is not free."""
        if self.source and self._found is not None and source_stamp(self.source) != self._stamp:
            self.reload()


def source_stamp(source: str | Path | None) -> tuple[tuple[str, int, int], ...]:
    """Name, modification time and size of each definitions file (none for a module name)."""
    if not source:
        return ()
    target = Path(source)
    files = sorted(target.glob("*.py")) if target.is_dir() else [target]
    stamps = []
    for file in files:
        with contextlib.suppress(OSError):  # gone meanwhile: the stamp differs, reload says why
            stat = file.stat()
            stamps.append((file.name, stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def load_pipelines(source: str | Path | None) -> dict[str, Pipeline]:
    """Every ``Pipeline`` at module level in ``source``, by name (names are unique)."""
    if source is None or source == "":
        raise InvalidInput(
            "no pipeline definitions: set feature_repo (AILAYER_FEATURE_REPO) to the file that "
            "declares them",
            field="feature_repo",
        )
    found: dict[str, Pipeline] = {}
    for pipeline in load_objects(source, (Pipeline,)):
        if pipeline.name in found:
            raise InvalidInput(f"two pipelines are named {pipeline.name!r}", field="name")
        found[pipeline.name] = pipeline
    return found
