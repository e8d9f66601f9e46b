"""PII-tagged features: which columns of an answer they are, and how a caller sees them.

A feature declares ``tags={"pii": "true"}`` (shown as a salted hash) or
``tags={"pii_redact": "true"}`` (shown as ``[redacted]``). Training sets and online reads
over the API show those columns so to a caller whose role may not read raw PII
(``governance.roles.Permission.PII_READ``; admin only); a model version registered with
feature refs gets the same policy as its ``pii``/``pii_redact`` tags, so the prediction
log hashes or redacts those inputs (``governance.pii``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ailayer.core.errors import NotFound
from ailayer.features.catalog import Catalog, Selection
from ailayer.features.definitions import parse_ref
from ailayer.features.definitions_store import FeatureRegistry
from ailayer.governance.pii import PiiPolicy


def selection_pii(selection: Selection) -> PiiPolicy:
    """The policy of a selection's output columns."""
    views: dict[str, Any] = {name: view for name, (view, _) in selection.views.items()}
    views |= {view.name: view for view in selection.on_demand}
    tagged = []
    for output in selection.outputs:
        feature = _feature(views.get(output.view), output.feature)
        if feature is not None:
            tagged.append((output.column, feature.tags))
    return PiiPolicy.from_columns(tagged)


def refs_pii(catalog: Catalog, refs: Iterable[str]) -> PiiPolicy:
    """The policy of ``view:feature`` refs, or of one feature service's (a version's
    ``feature_refs`` may name a service), by feature name (how a model's input is named);
    refs the catalog does not know are skipped."""
    refs = list(refs)
    if len(refs) == 1 and isinstance(refs[0], str) and ":" not in refs[0]:
        try:
            refs = list(catalog.refs_for(refs[0]))
        except NotFound:
            refs = []
    tagged = []
    for ref in refs:
        if not isinstance(ref, str) or ref.count(":") != 1:
            continue
        view_name, feature_name = parse_ref(ref, "feature_refs")
        view = catalog.views.get(view_name) or catalog.on_demand.get(view_name)
        feature = _feature(view, feature_name)
        if feature is not None:
            tagged.append((feature_name, feature.tags))
    return PiiPolicy.from_columns(tagged)


def version_pii(registry: FeatureRegistry) -> Callable[[str, list[str]], PiiPolicy]:
    """What the model registry asks at registration: the PII of a version's feature refs."""

    def policy(tenant_id: str, refs: list[str]) -> PiiPolicy:
        return refs_pii(registry.catalog(tenant_id), refs) if refs else PiiPolicy()

    return policy


def shown_rows(rows: list[dict[str, Any]], policy: PiiPolicy, salt: bytes) -> list[dict]:
    """Rows as a caller without ``pii:read`` sees them."""
    if not policy.fields:
        return rows
    return [policy.apply(row, salt) for row in rows]


def _feature(view: Any, name: str) -> Any:
    if view is None:
        return None
    return next((f for f in view.features if f.name == name), None)
