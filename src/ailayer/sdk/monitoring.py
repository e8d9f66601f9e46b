"""The monitoring calls: drift, the HTML report, references, fairness, experiments and
alert rules."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ailayer.sdk.calls import Call, seg


def window(**times: datetime | None) -> dict[str, str]:
    """Query parameters for the times given (None ones left out), as ISO 8601."""
    return {name: value.isoformat() for name, value in times.items() if value is not None}


def drift(
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
    reference_start: datetime | None = None,
    reference_end: datetime | None = None,
) -> Call:
    params = window(
        start=start, end=end, reference_start=reference_start, reference_end=reference_end
    )
    return Call("GET", f"/v1/monitoring/{seg(endpoint)}/drift", params=params)


def report(endpoint: str, start: datetime | None = None, end: datetime | None = None) -> Call:
    params = window(start=start, end=end)
    return Call("GET", f"/v1/monitoring/{seg(endpoint)}/report", params=params, text=True)


def upload_reference(
    model: str, version: int, rows: bytes | str | Path, fmt: str | None = None, name: str = ""
) -> Call:
    """Rows as a file's bytes or path; ``fmt`` (parquet, csv, json) else the name's extension."""
    if isinstance(rows, bytes):
        data = rows
    else:
        data, name = Path(rows).read_bytes(), name or Path(rows).name
    return Call(
        "POST",
        f"/v1/models/{seg(model)}/versions/{seg(version)}/reference",
        files={"file": (name or "rows", data, "application/octet-stream")},
        params={} if fmt is None else {"format": fmt},
    )


def fairness(
    endpoint: str, attribute: str, start: datetime | None = None, end: datetime | None = None
) -> Call:
    params = {"attribute": attribute, **window(start=start, end=end)}
    return Call("GET", f"/v1/monitoring/{seg(endpoint)}/fairness", params=params)


def experiment(
    endpoint: str,
    metric: str,
    effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Call:
    params: dict[str, Any] = {"metric": metric, "effect": effect, "alpha": alpha, "power": power}
    if control is not None:
        params["control"] = control
    params |= window(start=start, end=end)
    return Call("GET", f"/v1/endpoints/{seg(endpoint)}/experiment", params=params)


def feedback(items: dict[str, Any] | list[dict[str, Any]]) -> Call:
    return Call("POST", "/v1/feedback", json=items)


def ranking(
    endpoint: str,
    k: int = 10,
    window_unit: str = "day",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Call:
    params: dict[str, Any] = {"k": k, "window": window_unit, **window(start=start, end=end)}
    return Call("GET", f"/v1/endpoints/{seg(endpoint)}/ranking", params=params)


def add_alert_rule(rule: dict[str, Any]) -> Call:
    """``rule``: name, kind, metric, window, op, threshold, for, endpoint, detector,
    webhook_url, webhook_secret (unset ones are left out)."""
    body = {name: value for name, value in rule.items() if value is not None}
    return Call("POST", "/v1/alerts/rules", json=body)


def alert_rule(name: str) -> Call:
    return Call("GET", f"/v1/alerts/rules/{seg(name)}")


def remove_alert_rule(name: str) -> Call:
    return Call("DELETE", f"/v1/alerts/rules/{seg(name)}")


def alerts(limit: int = 100) -> Call:
    return Call("GET", "/v1/alerts", params={"limit": limit})


def cost(since: datetime | None = None, until: datetime | None = None) -> Call:
    return Call("GET", "/v1/cost", params=window(since=since, until=until))


def cost_advice(
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
    p99_ms: float = 250.0,
) -> Call:
    params: dict[str, Any] = {"p99_ms": p99_ms, **window(start=start, end=end)}
    return Call("GET", f"/v1/endpoints/{seg(endpoint)}/cost-advice", params=params)
