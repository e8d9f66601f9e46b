"""Reference profiles on SQLite and the real PostgreSQL: stored, read back byte for byte,
replaced, kept per tenant, and built from a feature-store dataset on first use."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ailayer.bootstrap import build
from ailayer.features.datasets import new_record, save_dataset
from ailayer.models.service import NewVersion
from ailayer.models.version import ModelVersion
from ailayer.monitoring.drift import profile
from ailayer.monitoring.endpoint.references import SCORE, drift_references
from tests.support.drift_scenario import CATEGORICAL, rows, scores_of, shop_model

pytestmark = pytest.mark.integration


@pytest.fixture
def services(make_settings, metadata_url):  # type: ignore[no-untyped-def]
    built = build(make_settings(metadata_url=metadata_url))
    yield built
    built.close()


def register(services, tenant: str, **fields) -> ModelVersion:  # type: ignore[no-untyped-def]
    model = shop_model()
    new = NewVersion(
        model="shop", flavor="sklearn", artifact=model.artifact, signature=model.signature, **fields
    )
    return services.registry.register(tenant, "test", new)


def count_rows(services) -> int:  # type: ignore[no-untyped-def]
    with services.db.read() as conn:
        return conn.execute(select(func.count()).select_from(drift_references)).scalar_one()


def test_round_trip_replace_and_tenancy(services) -> None:  # type: ignore[no-untyped-def]
    acme = services.keys.create_tenant("acme")
    other = services.keys.create_tenant("other")
    register(services, acme)
    store = services.drift.references
    frame = rows(600, seed=2)
    put = store.put(acme, "shop", 1, frame)
    got = store.stored(acme, "shop", 1)
    assert got is not None and got.profile.to_bytes() == put.profile.to_bytes()
    assert (got.rows, got.source, got.artifact_sha256) == (600, "upload", put.artifact_sha256)
    expected = profile(
        frame.assign(**{SCORE: scores_of(shop_model(), frame)}), categorical=CATEGORICAL
    )
    assert got.profile.to_bytes() == expected.to_bytes()

    replaced = store.put(acme, "shop", 1, rows(300, seed=3))
    assert store.stored(acme, "shop", 1).rows == 300  # type: ignore[union-attr]
    assert replaced.artifact_sha256 != put.artifact_sha256 and count_rows(services) == 1
    assert store.stored(other, "shop", 1) is None and store.get(acme, "shop", 1) is not None


def test_built_from_the_lineage_dataset_on_first_use(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    acme = services.keys.create_tenant("acme")
    frame = rows(500, seed=4)
    path = tmp_path / "training.parquet"
    frame.to_parquet(path)
    record = new_record(
        id="d" * 32,
        content_sha256="0" * 64,
        row_count=len(frame),
        schema=[],
        features=[],
        definitions={},
        start_at=None,
        end_at=None,
        location=f"file://{path}",
        created_by="test",
    )
    save_dataset(services.db, acme, record)
    register(services, acme, dataset_version=record.id)
    register(services, acme)  # v2: no lineage
    store = services.drift.references
    assert store.stored(acme, "shop", 1) is None
    built = store.get(acme, "shop", 1)
    assert built is not None and (built.source, built.rows) == ("lineage", 500)
    assert store.stored(acme, "shop", 1).profile.to_bytes() == built.profile.to_bytes()  # type: ignore[union-attr]
    assert store.get(acme, "shop", 2) is None
