"""The cost advice as a section of the endpoint's HTML report (``ailayer report``).

Tenant data (the endpoint's name) goes through ``html.escape``; numbers are ours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.cost.service import CostService

HEAD = "<section><h2>Cost advice</h2>"


def advice_section(cost: CostService | None, tenant_id: str, endpoint: str, end: datetime) -> str:
    """The advice for the day before ``end``; a day without requests says so."""
    if cost is None:
        return ""
    try:
        advice = cost.advise(tenant_id, endpoint, end - timedelta(days=1), end)
    except InvalidInput as refused:
        return f'{HEAD}<p class="muted">{escape(refused.message)}</p></section>'
    return render_advice(advice)


def render_advice(advice: dict[str, Any]) -> str:
    shape, sizing = advice["traffic"], advice["sizing"]
    measured = "measured" if sizing["cpu_measured"] else "not measured yet, p50 latency used"
    intro = (
        f'<p class="muted">From the day before {str(advice["end"])[:16]} UTC: '
        f"{shape['requests']:,} requests, per minute mean {shape['rpm_mean']:.3g}, "
        f"peak {shape['rpm_peak']:.3g} (burstiness {shape['burstiness']:.3g}), p99 "
        f"{_ms(shape['p99_ms'])}. CPU per prediction {sizing['cpu_per_prediction_ms']:.3g} ms "
        f"({measured}); a replica is {sizing['replica_cpu']:g} vCPU and "
        f"{sizing['replica_memory_gib']:g} GiB. Prices from the settings' price table.</p>"
    )
    rows = "".join(_row(option, advice["recommended"]) for option in advice["options"])
    table = (
        "<table><tr><th>option</th><th>per month</th><th>p99</th><th>meets target</th>"
        f"<th>how</th><th>latency risk</th></tr>{rows}</table>"
    )
    verdict = (
        f"<p>Recommended: <b>{escape(advice['recommended'])}</b> ({escape(advice['reason'])}).</p>"
    )
    return f"{HEAD}{intro}{table}{verdict}</section>"


def _row(option: dict[str, Any], recommended: str) -> str:
    name = escape(option["name"]) + (" ★" if option["name"] == recommended else "")
    meets = "yes" if option["meets_target"] else "no"
    return (
        f'<tr><td>{name}</td><td class="num">{option["monthly_cost"]:.2f}</td>'
        f'<td class="num">{_ms(option["p99_ms"])}</td><td>{meets}</td>'
        f"<td>{escape(option['detail'])}</td><td>{escape(option['risk'])}</td></tr>"
    )


def _ms(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3g} ms"
