"""The real app behind a ``TestClient``, with one key per role for one tenant."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import Services
from tests.support.services import tiny_sklearn_model, upload_form

ROLES = ("admin", "developer", "viewer", "service")


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


def role_keys(services: Services, tenant: str = "acme") -> tuple[str, dict[str, str]]:
    """A new tenant in ``services`` and a key for each role: its id, the keys by role."""
    tenant_id = services.keys.create_tenant(tenant)
    return tenant_id, {r: services.keys.create_key(tenant_id, f"{r}-key", r).key for r in ROLES}


def make_api(services: Services, tenant: str = "acme") -> Api:
    """A TestClient for a new tenant with an admin, developer, viewer and service key."""
    tenant_id, keys = role_keys(services, tenant)
    return Api(TestClient(create_app(services)), services, tenant_id, keys)
