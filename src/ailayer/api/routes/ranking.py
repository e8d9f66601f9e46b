"""Ranking route: a recommender endpoint's precision, recall, NDCG at k and coverage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ailayer.api.auth import requires
from ailayer.api.errors import error_responses
from ailayer.api.params import Name, Timestamp
from ailayer.core.names import check_name
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission
from ailayer.monitoring.ranking import MAX_K

router = APIRouter(tags=["monitoring"])
Reader = Annotated[Principal, Depends(requires(Permission.MONITORING_READ))]


class RankingVersion(BaseModel):
    model_config = ConfigDict(extra="allow")  # the metrics are named by k: ndcg@10, ...

    model: str
    version: int
    predictions: int = Field(description="Predictions answered")
    ranked: int = Field(description="Of them, ranked lists (recommendations)")
    labelled: int = Field(description="Of them, with clicks/purchases posted as feedback")
    relevant: int = Field(description="Of the labelled, with something relevant (recall's)")
    distinct_items: int = Field(description="Distinct items shown in the top k")
    catalog: int = Field(description="Items the endpoint saw in the whole window")


class RankingWindow(RankingVersion):
    window_start: datetime
    window_end: datetime


class RankingReport(BaseModel):
    endpoint: str
    k: int
    window: str
    start: datetime
    end: datetime
    versions: list[RankingVersion] = Field(
        description="Per model version, the same over the whole span from start to end"
    )
    windows: list[RankingWindow] = Field(
        description="Per model version and window: precision@k, recall@k, ndcg@k (means "
        "over labelled recommendations; recall over those with something relevant) and "
        "coverage@k (distinct top-k items over the catalog)"
    )


@router.get(
    "/v1/endpoints/{name}/ranking",
    response_model=RankingReport,
    responses=error_responses(403, 422),
    summary="Ranking metrics of a recommender: precision, recall, NDCG at k, coverage",
)
def ranking(
    name: Name,
    request: Request,
    principal: Reader,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="The cut-off")] = 10,
    window: Literal["hour", "day"] = "day",
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> dict:
    """Each logged recommendation is judged against the latest clicks and purchases
    posted for its prediction id (``POST /v1/feedback``); ``end`` defaults to now and
    ``start`` to a day (hour windows) or 30 days (day windows) before."""
    check_name("endpoint", name)
    service = request.app.state.services.ranking
    return service.report(principal.tenant_id, name, k, window, start, end)
