"""How the gates step talks to gates: the shape a gate has, and judging a candidate.

The gates themselves (metric thresholds, champion comparison, fairness, latency, size,
schema) live in ``pipelines/gates.py``. This module declares only what the runner needs
of them, as a Protocol: a ``name`` and ``check(candidate)`` returning a result with a
boolean ``passed``. Judging fails closed: a gate that raises is a failed result naming
the exception, never a crashed run that registered nothing and said nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from ailayer.core.errors import InvalidInput


@dataclass(frozen=True)
class Candidate:
    """What a gate judges: the trained model on the holdout (as in pipelines/gates.py)."""

    model: Any  # fitted estimator, predict/predict_proba as trained
    artifact: bytes  # its serialized form (size gate)
    features: list[str]  # input columns in signature order
    holdout: pd.DataFrame  # features + label + any sensitive-attribute columns
    label: str
    champion: Any | None = None  # current champion, loaded, scored on the SAME holdout
    served_fields: list[str] | None = None  # the endpoint's feature service fields, if any


class GateResultLike(Protocol):
    passed: bool


@runtime_checkable
class Gate(Protocol):
    name: str

    def check(self, candidate: Candidate) -> GateResultLike: ...


def check_gate_declaration(gate: object) -> None:
    """A pipeline's gate must have a name and a ``check`` method (refused at declaration)."""
    if not isinstance(getattr(gate, "name", None), str) or not callable(
        getattr(gate, "check", None)
    ):
        raise InvalidInput(
            f"{gate!r} is not a gate: a gate has a name and check(candidate)", field="gates"
        )


def judge(gates: tuple[Gate, ...], candidate: Candidate) -> dict[str, Any]:
    """Every gate's result as JSON, and whether all passed: ``{"passed", "results"}``."""
    results = [_judge_one(gate, candidate) for gate in gates]
    return {"passed": all(r["passed"] for r in results), "results": results}


def _judge_one(gate: Gate, candidate: Candidate) -> dict[str, Any]:
    try:
        result = gate.check(candidate)
    except Exception as exc:  # fail closed, and say why
        return {"gate": gate.name, "passed": False, "reason": f"{type(exc).__name__}: {exc}"}
    body = _as_dict(result)
    body.setdefault("gate", gate.name)
    body["passed"] = bool(getattr(result, "passed", False))
    return json_safe(body)


def _as_dict(result: object) -> dict[str, Any]:
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return {"reason": str(result)}


def json_safe(value: Any) -> Any:
    """Plain JSON values: NumPy numbers as floats, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None
