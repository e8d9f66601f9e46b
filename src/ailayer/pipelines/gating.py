"""How the gates step talks to gates: the shape a gate has, and judging a candidate.

The gates themselves (metric thresholds, champion comparison, fairness, latency, size,
schema), the ``Candidate`` and the ``Gate`` protocol live in ``pipelines/gates.py``; a
pipeline may also carry a gate of its own with a ``name`` and ``check(candidate)``
returning a result with a boolean ``passed``. Judging fails closed: a gate that raises is a failed result naming
the exception, never a crashed run that registered nothing and said nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.pipelines.gates import Candidate, Gate, declare_gates


def check_gate_declaration(gate: object) -> None:
    """A pipeline's gate must have a name and a ``check`` method (refused at declaration)."""
    if not isinstance(getattr(gate, "name", None), str) or not callable(
        getattr(gate, "check", None)
    ):
        raise InvalidInput(
            f"{gate!r} is not a gate: a gate has a name and check(candidate)", field="gates"
        )


def check_gate_declarations(gates: object) -> tuple[Gate, ...]:
    """A pipeline's gates, each a gate and no name twice (``gates.declare_gates``)."""
    if isinstance(gates, str) or not isinstance(gates, list | tuple):
        raise InvalidInput("gates must be a list of gates", field="gates")
    for gate in gates:
        check_gate_declaration(gate)
    return declare_gates(gates)


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
