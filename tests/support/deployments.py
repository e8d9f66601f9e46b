"""Deployment helpers: versions to deploy, policies as the API takes them, and model
wrappers that make a loaded shadow slow or failing (the real model underneath)."""

from __future__ import annotations

import time
from typing import Any

from tests.support.api import Api
from tests.support.services import tiny_sklearn_model

RECORD = {"amount": 900.0, "card_age_days": 3.0}


def two_versions(api: Api, model: str = "fraud") -> None:
    """Version 1 (champion) and version 2, which answers the opposite of version 1."""
    assert api.register(model, tiny_sklearn_model(), aliases=["champion"]).status_code == 201
    assert api.register(model, tiny_sklearn_model(flip=True)).status_code == 201


def variant(name: str, version: int, share: int = 0, model: str = "fraud", **extra: Any) -> dict:
    return {"name": name, "model": model, "version": version, "share": share, **extra}


def deploy(api: Api, endpoint: str, body: dict, role: str = "admin"):  # type: ignore[no-untyped-def]
    return api.client.put(
        f"/v1/endpoints/{endpoint}/deployment", json=body, headers=api.headers(role)
    )


class SlowModel:
    """A loaded model that takes ``seconds`` longer, or raises, on every call."""

    def __init__(self, model: Any, seconds: float = 0.0, fail: bool = False) -> None:
        self.model = model
        self.seconds = seconds
        self.fail = fail
        self.calls = 0

    def predict(self, matrix: Any) -> Any:
        self.calls += 1
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("shadow model broke")
        return self.model.predict(matrix)


def wrap_loaded(api: Api, model: str, version: int, wrapper: SlowModel) -> SlowModel:
    """Replace the loaded model of ``model`` ``version`` in the server's cache (it must be
    loaded: deploying loads it) by ``wrapper`` around it."""
    cache = api.services.predictor.models
    sha256 = api.services.registry.get_version(api.tenant_id, model, version).artifact_sha256
    key = (api.tenant_id, model, version, sha256)
    assert key in cache._models, "deploy the version first"
    entry = cache._models[key]  # the cache's Entry: the model and its measured bytes
    wrapper.model = entry.model
    entry.model = wrapper
    return wrapper
