"""Shared fixtures: settings in a temp home, both metadata databases, an API with keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import Services, build
from ailayer.core.settings import Settings, load_settings
from tests.support.services import scratch_postgres_database, tiny_sklearn_model, upload_form


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No test reads the developer's ailayer.yaml or AILAYER_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith("AILAYER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AILAYER_CONFIG", str(tmp_path / "no-config.yaml"))


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Each test using this runs on SQLite and on the real local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    with scratch_postgres_database() as url:
        yield url


@pytest.fixture
def make_settings(tmp_path):  # type: ignore[no-untyped-def]
    def factory(**overrides) -> Settings:  # type: ignore[no-untyped-def]
        overrides.setdefault("home", tmp_path / ".ailayer")
        # test webhook receivers listen on loopback; the default refusal has its own test
        overrides.setdefault("alert_webhooks_allow_private", True)
        return load_settings(**overrides)

    return factory


@pytest.fixture
def services(make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    built = build(make_settings())
    yield built
    built.close()


@dataclass
class Api:
    """A TestClient on the real app, with one key per role for one tenant."""

    client: TestClient
    services: Services
    tenant_id: str
    keys: dict[str, str]

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def register(self, model: str = "fraud", tiny=None, role: str = "admin", **metadata):  # type: ignore[no-untyped-def]
        tiny = tiny or tiny_sklearn_model()
        return self.client.post(
            f"/v1/models/{model}/versions",
            headers=self.headers(role),
            **upload_form(tiny, **metadata),
        )


def make_api(services: Services, tenant: str = "acme") -> Api:
    tenant_id = services.keys.create_tenant(tenant)
    keys = {
        role: services.keys.create_key(tenant_id, f"{role}-key", role).key
        for role in ("admin", "developer", "viewer", "service")
    }
    return Api(TestClient(create_app(services)), services, tenant_id, keys)


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    made = make_api(services)
    yield made
    made.client.close()
