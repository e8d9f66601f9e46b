"""Cost answers for the API and the CLI: a tenant's report, and an endpoint's advice."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from ailayer.core.names import check_name
from ailayer.cost.advisor import DEFAULT_ASSUMPTIONS, Assumptions, advise
from ailayer.cost.report import CostReport
from ailayer.cost.traffic import TrafficReader


class CostService:
    def __init__(self, report: CostReport, traffic: TrafficReader) -> None:
        self._report = report
        self.traffic = traffic
        self.prices = report.prices

    def report(
        self, tenant_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, Any]:
        """Usage and cost per endpoint and model version, events and storage."""
        return self._report.report(tenant_id, start, end)

    def advise(
        self,
        tenant_id: str,
        endpoint: str,
        start: datetime | None = None,
        end: datetime | None = None,
        assume: Assumptions = DEFAULT_ASSUMPTIONS,
    ) -> dict[str, Any]:
        """The four ways to run ``endpoint`` priced for a month from a day of its traffic
        (default: the day before now), and the recommended one."""
        check_name("endpoint", endpoint)
        day = self.traffic.day(tenant_id, endpoint, start, end)
        advice = advise(
            day.requests,
            day.predictions,
            day.p50_ms,
            day.p99_ms,
            day.cpu_per_prediction,
            day.model_bytes,
            self.prices,
            assume,
        )
        options = [{**asdict(o), "meets_target": bool(o.meets_target)} for o in advice.options]
        return {
            "endpoint": endpoint,
            "start": day.start,
            "end": day.end,
            "traffic": advice.shape,
            "sizing": asdict(advice.sizing),
            "assumptions": asdict(assume),
            "options": options,
            "recommended": advice.recommended,
            "reason": advice.reason,
        }
