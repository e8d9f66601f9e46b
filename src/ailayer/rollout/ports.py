"""What the rollout controller is given: where each variant's stats come from.

Rollout stays independent of monitoring: the prediction log implements this port
(``ailayer.monitoring.log.variant_stats.LogVariantStats``) and ``bootstrap`` hands it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ailayer.rollout.policy import Variant
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
