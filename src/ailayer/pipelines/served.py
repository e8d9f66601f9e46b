"""What the schema gate compares a candidate with: the fields the endpoint serves.

The endpoint's feature service is the feature selection of the version that answers on
it now (the stable variant of its deployment, else the version its alias names), resolved
against the tenant's definitions as applied now: the columns the online path would hand a
model today. A candidate whose inputs are not all among them would be served without
some of its features. ``None`` when the pipeline names no endpoint, or the endpoint
serves no version yet, or its version takes its inputs from the request (no feature
refs): ``ServedFeatures`` then says "endpoint has no feature service".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ailayer.core.errors import InvalidInput, NotFound
from ailayer.features.catalog import Catalog, select
from ailayer.models.endpoints import EndpointService
from ailayer.models.version import ModelVersion

if TYPE_CHECKING:
    from ailayer.pipelines.steps import Work


def served_fields(work: Work) -> list[str] | None:
    """The output columns of the endpoint's feature service, or None (see the module)."""
    endpoint = work.pipeline.endpoint
    if endpoint is None:
        return None
    serving = _serving_version(work, endpoint)
    if serving is None or not serving.feature_refs:
        return None
    catalog = work.tools.offline.registry.catalog(work.tenant_id)
    return _columns(catalog, serving.feature_refs)


def _serving_version(work: Work, endpoint: str) -> ModelVersion | None:
    registry, tenant = work.tools.registry, work.tenant_id
    policy = None
    if work.tools.deployments is not None:
        policy = work.tools.deployments.active(tenant, endpoint)
    try:
        if policy is not None and policy.live:
            stable = max(policy.live, key=lambda v: v.share)
            return registry.get_version(tenant, stable.model, stable.version)
        model, alias = EndpointService(registry.db).target(tenant, endpoint)
        return registry.resolve_alias(tenant, model, alias)
    except NotFound:
        return None


def _columns(catalog: Catalog, refs: list[str]) -> list[str]:
    """Each ref's column, skipping refs the definitions no longer have (a feature the
    endpoint asks for but cannot serve is served to no one)."""
    selection = refs[0] if len(refs) == 1 and ":" not in refs[0] else refs
    try:
        wanted = catalog.refs_for(selection)
    except (NotFound, InvalidInput):
        return []
    columns = []
    for ref in wanted:
        try:
            columns.extend(o.column for o in select(catalog, [ref]).outputs)
        except InvalidInput:
            continue
    return columns
