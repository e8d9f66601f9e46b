"""A drift reference built from a log window that holds a data subject's predictions is
named in the export and rebuilt from the log without them on delete (removed when they
were all it held); a delete cut short after marking it rebuilds it when run again. One
stored before references kept their window is removed when its model version served the
subject before it was stored (it may hold the subject and cannot be rebuilt), and kept
otherwise. On SQLite and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ailayer.bootstrap import Services, build
from ailayer.governance.privacy import Subject
from ailayer.monitoring.endpoint.references import LOG_PENDING
from tests.support.api import Api, make_api
from tests.support.drift_scenario import predict, rows, shop_model


@pytest.fixture
def services(metadata_url: str, make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    built = build(make_settings(metadata_url=metadata_url))
    yield built
    built.close()


@pytest.fixture
def shop(services: Services) -> Api:
    api = make_api(services)
    assert api.register("shop", shop_model(), aliases=["champion"]).status_code == 201
    return api


def log_window(api: Api, subject_rows: int, others: int) -> tuple[datetime, datetime]:
    """``others`` ordinary predictions and ``subject_rows`` of the subject (tenure 77)."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    frame = rows(others + subject_rows, seed=5)
    frame.loc[frame.index[:subject_rows], "tenure"] = 77
    predict(api, frame)
    api.services.prediction_log.flush()
    return start, datetime.now(UTC) + timedelta(seconds=1)


def logged(answer: dict) -> dict:
    return next(s for s in answer["stores"] if s["store"] == "prediction_log")


SUBJECT = Subject("tenure", "77")


def test_a_reference_holding_the_subject_is_rebuilt_without_it(shop: Api) -> None:
    services, tenant = shop.services, shop.tenant_id
    start, end = log_window(shop, subject_rows=2, others=300)
    stored = services.drift.store_log_reference(tenant, "shop", "shop", 1, start, end)
    assert stored.rows == 302

    found = logged(services.privacy.export(tenant, "admin", SUBJECT))
    assert found["where"]["drift_references/shop@1"] == 1
    summary = next(r["drift_reference"] for r in found["records"] if "drift_reference" in r)
    assert summary["rows"] == 302 and summary["window"]["endpoint"] == "shop"

    receipt = logged(services.privacy.delete(tenant, "admin", SUBJECT))
    assert receipt["where"]["drift_references/shop@1"] == 1
    assert "drift_references/shop@1 rebuilt" in receipt["note"]
    assert receipt["removed"] == 2 + 1  # two predictions, one reference rebuilt
    rebuilt = services.drift.references.stored(tenant, "shop", 1)
    assert rebuilt.rows == 300 and rebuilt.source == "log"
    assert rebuilt.profile.origin == stored.profile.origin
    assert rebuilt.profile.features["tenure"].hist.sum() == 300  # type: ignore[union-attr]

    again = logged(services.privacy.delete(tenant, "admin", SUBJECT))
    assert again["removed"] == 0
    assert services.drift.references.stored(tenant, "shop", 1).rows == 300
    assert (
        "drift_references/shop@1"
        not in logged(services.privacy.export(tenant, "admin", SUBJECT))["where"]
    )


def test_a_reference_of_the_subject_alone_is_removed(shop: Api) -> None:
    services, tenant = shop.services, shop.tenant_id
    start, end = log_window(shop, subject_rows=3, others=0)
    services.drift.store_log_reference(tenant, "shop", "shop", 1, start, end)
    receipt = logged(services.privacy.delete(tenant, "admin", SUBJECT))
    assert "drift_references/shop@1 removed" in receipt["note"]
    assert services.drift.references.stored(tenant, "shop", 1) is None


def test_a_cut_delete_rebuilds_the_marked_reference_when_run_again(shop: Api) -> None:
    services, tenant = shop.services, shop.tenant_id
    start, end = log_window(shop, subject_rows=0, others=200)
    services.drift.store_log_reference(tenant, "shop", "shop", 1, start, end)
    services.drift.references.mark(tenant, "shop", 1, LOG_PENDING)  # marked, then cut
    receipt = logged(services.privacy.delete(tenant, "admin", Subject("tenure", "88")))
    assert receipt["where"] == {"drift_references/shop@1": 1}
    assert services.drift.references.stored(tenant, "shop", 1).source == "log"


def test_an_uploaded_reference_is_not_touched(shop: Api) -> None:
    services, tenant = shop.services, shop.tenant_id
    log_window(shop, subject_rows=1, others=10)
    services.drift.references.put(tenant, "shop", 1, rows(500, seed=9))
    receipt = logged(services.privacy.delete(tenant, "admin", SUBJECT))
    assert receipt["removed"] == 1 and receipt["note"] == ""
    assert services.drift.references.stored(tenant, "shop", 1).source == "upload"


def stored_without_window(services: Services, tenant: str, versions: list[int], start, end) -> None:  # type: ignore[no-untyped-def]
    """Log references as stored before references kept their window (no origin)."""
    built = services.drift.store_log_reference(tenant, "shop", "shop", 1, start, end)
    for version in versions:
        services.drift.references.put_profile(
            tenant, "shop", version, replace(built.profile, origin=None), source="log"
        )


def test_a_reference_without_window_of_a_version_that_served_the_subject_is_removed(
    shop: Api,
) -> None:
    services, tenant = shop.services, shop.tenant_id
    assert shop.register("shop", shop_model()).status_code == 201  # version 2: never served
    start, end = log_window(shop, subject_rows=2, others=50)
    stored_without_window(services, tenant, [1, 2], start, end)

    found = logged(services.privacy.export(tenant, "admin", SUBJECT))
    assert found["where"]["drift_references/shop@1"] == 1
    assert "drift_references/shop@2" not in found["where"]
    summary = next(r["drift_reference"] for r in found["records"] if "drift_reference" in r)
    assert summary["may_hold"] is True and summary["version"] == 1
    assert "may hold the subject (shop@1)" in found["note"]

    receipt = logged(services.privacy.delete(tenant, "admin", SUBJECT))
    assert receipt["where"]["drift_references/shop@1"] == 1
    assert receipt["removed"] == 2 + 1  # two predictions, one reference removed
    assert "removed" in receipt["note"] and "drift_references/shop@1" in receipt["note"]
    assert "ailayer reference" in receipt["note"]
    assert services.drift.references.stored(tenant, "shop", 1) is None
    kept = services.drift.references.stored(tenant, "shop", 2)
    assert kept is not None and kept.profile.origin is None

    assert logged(services.privacy.delete(tenant, "admin", SUBJECT))["removed"] == 0


def test_a_reference_without_window_stored_before_the_subject_was_served_stays(
    shop: Api,
) -> None:
    services, tenant = shop.services, shop.tenant_id
    start, end = log_window(shop, subject_rows=0, others=50)
    stored_without_window(services, tenant, [1], start, end)
    log_window(shop, subject_rows=2, others=0)  # served after the reference was stored
    receipt = logged(services.privacy.delete(tenant, "admin", SUBJECT))
    assert receipt["removed"] == 2 and receipt["note"] == ""
    assert services.drift.references.stored(tenant, "shop", 1) is not None
