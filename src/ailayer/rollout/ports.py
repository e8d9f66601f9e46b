"""What the rollout controller is given: where each variant's stats come from, and who
hears of a canary's final verdict.

Rollout stays independent of monitoring and pipelines: the prediction log implements the
stats port (``ailayer.monitoring.log.variant_stats.LogVariantStats``), the pipeline run
store the verdict port (``ailayer.pipelines.verdicts.RunVerdicts``), and ``bootstrap``
hands them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ailayer.rollout.policy import Policy, Variant
from ailayer.rollout.verdict import VariantStats


class VariantStatsSource(Protocol):
    def variant_stats(
        self,
        tenant_id: str,
        endpoint: str,
        variants: Sequence[Variant],
        start: datetime,
        end: datetime,
    ) -> dict[str, VariantStats]:
        """Stats of each of ``variants`` on ``endpoint`` over ``[start, end)``, by variant
        name; every variant has an entry (all zeros when nothing of it was logged).

        A request belongs to a variant when it was answered under the variant's name by
        the variant's model version, so requests a lagging router still sent to a former
        canary version do not count for the new one.
        """
        ...


class VerdictListener(Protocol):
    def settled(self, tenant_id: str, canary: Variant, stored: Policy) -> None:
        """``canary`` (the judged policy's canary variant) reached its final verdict:
        ``stored`` is the revision just stored, ``promoted`` or ``rolled_back``, its
        ``reason`` the verdict's. Called once per verdict, by the controller that stored
        it; an error raised here is logged and does not undo the verdict."""
        ...
