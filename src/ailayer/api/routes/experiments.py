"""Experiment route: an endpoint's A/B result per variant, from logged outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.api.params import Name, Timestamp
from ailayer.core.names import check_name
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

router = APIRouter(tags=["monitoring"])
METRIC_PATTERN = r"^(conversion|accuracy|mean|(ndcg|precision|recall)@[1-9][0-9]{0,3})$"
Reader = Annotated[Principal, Depends(requires(Permission.MONITORING_READ))]


class VersionTraffic(BaseModel):
    version: int
    predictions: int


class VariantOut(BaseModel):
    name: str = Field(description="The variant (the logged alias)")
    versions: list[VersionTraffic] = Field(description="Predictions per model version")
    predictions: int
    labelled: int
    outcomes: int = Field(description="Labelled predictions with an outcome for the metric")
    n: int | None = None
    mean: float | None = Field(None, description="Mean outcome (a rate for proportions)")
    variance: float | None = Field(None, description="Sample variance (ddof 1)")
    successes: int | None = Field(None, description="Outcomes of 1, for proportions")


class ComparisonOut(BaseModel):
    variant: str
    control: str
    difference: float | None = Field(description="Mean of the variant minus the control's")
    interval: list[float] | None = Field(
        description="Always-valid confidence interval of the difference (level 1 - alpha/m)"
    )
    test: str = Field(description="two-proportion z-test or Welch's t-test")
    statistic: float | None = Field(description="z or t on every outcome")
    fixed_p_value: float | None = Field(
        description="The test's p-value for one look at a fixed sample (not for decisions)"
    )
    p_value: float = Field(description="Always-valid p-value (mSPRT), Bonferroni-adjusted")
    pairs: int = Field(description="Outcomes per variant the sequential test has used")
    needed: int | None = Field(description="Outcomes per variant needed for the verdict")
    fixed_needed: int | None = Field(description="The fixed-sample size, for comparison")
    verdict: Literal["better", "worse", "no significant difference", "not enough data"]
    message: str


class ExperimentOut(BaseModel):
    endpoint: str
    metric: str
    start: datetime
    end: datetime
    kind: str | None = Field(None, description="proportion or mean")
    control: str | None = None
    effect: float | None = None
    alpha: float | None = None
    power: float | None = None
    method: str | None = Field(None, description="msprt: always-valid mixture SPRT")
    correction: str | None = Field(None, description="bonferroni across the comparisons")
    variants: list[VariantOut]
    comparisons: list[ComparisonOut]
    reason: str | None = Field(description="Why there is nothing (or one variant) to compare")


@router.get(
    "/v1/endpoints/{name}/experiment",
    response_model=ExperimentOut,
    responses=error_responses(403, 422),
    summary="A/B result of an endpoint's variants: differences, tests and a verdict",
)
def experiment(
    name: Name,
    request: Request,
    principal: Reader,
    metric: Annotated[
        str,
        Query(
            pattern=METRIC_PATTERN,
            description="conversion (true/1 labels), accuracy (label = prediction), mean, "
            "or for a recommender ndcg@K, precision@K, recall@K (clicks and purchases)",
        ),
    ],
    effect: Annotated[
        float,
        Query(gt=0, allow_inf_nan=False, description="Minimum detectable difference of means"),
    ],
    alpha: Annotated[float, Query(gt=0, le=0.5, description="Family-wise error rate")] = 0.05,
    power: Annotated[float, Query(gt=0, lt=1, description="Power at the effect")] = 0.8,
    control: Annotated[str | None, Query(description="The control variant")] = None,
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> dict:
    """Outcomes come from the latest label per prediction (``POST /v1/feedback``).
    ``end`` defaults to now and ``start`` to 30 days before; ``control`` to the variant
    named control or stable, else the first by name. A verdict is given only once each
    variant has the ``needed`` outcomes; the p-value and interval stay valid however
    often this is read."""
    check_name("endpoint", name)
    service = request.app.state.services.experiments
    found = service.result(
        principal.tenant_id,
        name,
        metric,
        effect,
        alpha=alpha,
        power=power,
        control=control,
        start=start,
        end=end,
    )
    return found.to_dict()
