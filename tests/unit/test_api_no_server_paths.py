"""API answers never show where the server keeps things: artifacts are named by content
(``artifacts://sha256/<hex>``), saved training sets by their path inside the tenant's
offline store, and error messages about stored files by paths relative to the home."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ailayer.bootstrap import build
from ailayer.core.public import path_scrubber
from tests.support import feature_repo
from tests.support.api import Api, make_api
from tests.support.feature_repo import REPO, ts
from tests.support.services import tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3}


@pytest.fixture
def api(make_settings, tmp_path) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    services = build(make_settings(feature_repo="tests.support.feature_repo"))
    made = make_api(services)
    try:
        yield made
    finally:
        made.client.close()
        services.close()


def server_paths(api: Api) -> list[str]:
    """Absolute paths an answer must not show: the home, as given and resolved."""
    home = api.services.settings.home
    return sorted({str(home.absolute()), str(home.resolve()), "file://"})


def assert_no_server_path(api: Api, text: str) -> None:
    for path in server_paths(api):
        assert path not in text, (path, text[:300])


def test_artifact_uri_is_named_by_content(api) -> None:  # type: ignore[no-untyped-def]
    tiny = tiny_sklearn_model()
    created = api.register("fraud", tiny, aliases=["champion"])
    assert created.status_code == 201
    digest = hashlib.sha256(tiny.artifact).hexdigest()
    assert created.json()["artifact_uri"] == f"artifacts://sha256/{digest}"
    assert created.json()["artifact_sha256"] == digest
    client, headers = api.client, api.headers()
    assert api.register("fraud", tiny_sklearn_model(seed=1)).status_code == 201
    for response in (
        created,
        client.get("/v1/models/fraud", headers=headers),
        client.get("/v1/models/fraud/versions/1", headers=headers),
        client.get("/v1/models", headers=headers),
        client.post("/v1/models/fraud/versions/2/archive", headers=headers),
    ):
        assert response.status_code in (200, 201), response.text
        assert_no_server_path(api, response.text)
    shown = client.get("/v1/models/fraud", headers=headers).json()
    assert shown["versions"][0]["artifact_uri"] == f"artifacts://sha256/{digest}"
    assert all(v["artifact_uri"].startswith("artifacts://sha256/") for v in shown["versions"])
    # the registry itself still knows where the bytes are: predictions load them
    assert api.services.registry.get_version(api.tenant_id, "fraud", 1).artifact_uri.startswith(
        "file://"
    )


def test_a_saved_training_set_is_located_inside_the_tenants_store(api) -> None:  # type: ignore[no-untyped-def]
    api.services.features.apply(api.tenant_id, "test", REPO)
    feature_repo.write_data(api.services.offline.tenant_root(api.tenant_id))
    body = {
        "features": ["customer_stats:avg_amount"],
        "entity_rows": [{"customer_id": 1, "event_timestamp": ts(5).isoformat()}],
    }
    response = api.client.post("/v1/features/training-set", headers=api.headers(), json=body)
    assert response.status_code == 200, response.text
    dataset = response.json()["dataset"]
    assert dataset["location"] == f"datasets/{dataset['id']}.parquet"
    assert_no_server_path(api, response.text)
    shown = api.client.get(f"/v1/datasets/{dataset['id']}", headers=api.headers())
    assert shown.json() == dataset
    stored = api.services.offline.dataset(api.tenant_id, dataset["id"])
    assert stored.location is not None and stored.location.endswith(dataset["location"])


@pytest.mark.parametrize("damage", ["tamper", "delete"])
def test_errors_about_stored_files_name_them_relative_to_the_home(api, damage) -> None:  # type: ignore[no-untyped-def]
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
    version = api.services.registry.get_version(api.tenant_id, "fraud", 1)
    stored = version.served[1].uri  # the file serving loads (the compiled form, here)
    path = Path(stored.removeprefix("file://"))
    if damage == "tamper":
        path.write_bytes(path.read_bytes() + b"tampered")
    else:
        path.unlink()
    with TestClient(api.client.app, raise_server_exceptions=False) as client:
        response = client.post("/v1/predict/fraud", headers=api.headers("service"), json=GOOD)
    assert response.status_code == (500 if damage == "tamper" else 404)
    message = response.json()["error"]["message"]
    assert_no_server_path(api, message)
    relative = path.relative_to(api.services.settings.home.resolve())
    assert str(relative) in message  # still says which file


def test_stores_kept_outside_the_home_are_named_by_their_setting(make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    elsewhere = tmp_path / "blobs"
    settings = make_settings(artifacts=f"file://{elsewhere}")
    scrub = path_scrubber(settings)
    home = settings.home.resolve()
    said = f"artifact file://{elsewhere}/t/a/sha256/ff is missing; see {home}/meta.db"
    assert scrub(said) == "artifact <artifacts>/t/a/sha256/ff is missing; see meta.db"
