"""A version's PII policy from its feature refs, or from the one feature service they name
(resolved by ``Catalog.refs_for``); an unknown service or ref carries no tags."""

from __future__ import annotations

from datetime import timedelta

from ailayer.features import Entity, Feature, FeatureService, FeatureView, ParquetSource
from ailayer.features.catalog import Catalog
from ailayer.features.pii import refs_pii
from ailayer.governance.pii import PiiPolicy

person = Entity("person", {"person_id": int})
profile = FeatureView(
    "profile",
    entities=[person],
    features=[
        Feature("email", str, tags={"pii": "true"}),
        Feature("phone", str, tags={"pii_redact": "true"}),
        Feature("age", int),
    ],
    source=ParquetSource("profile.parquet", timestamp_field="ts"),
    ttl=timedelta(days=1),
)
CATALOG = Catalog.of(
    [person, profile, FeatureService("contact", ["profile:email", "profile:phone"])]
)


def test_a_service_name_gives_its_features_tags() -> None:
    assert refs_pii(CATALOG, ["contact"]) == PiiPolicy(frozenset({"email"}), frozenset({"phone"}))


def test_refs_give_their_own_tags() -> None:
    assert refs_pii(CATALOG, ["profile:email", "profile:age"]) == PiiPolicy(
        frozenset({"email"}), frozenset()
    )


def test_an_unknown_service_or_view_carries_no_tags() -> None:
    assert refs_pii(CATALOG, ["nope"]) == PiiPolicy()
    assert refs_pii(CATALOG, ["gone:email"]) == PiiPolicy()
