"""Tell a loaded model where it serves, if it asks (``bind``): today, provider models.

A provider answers by fallback with another version of the same tenant, counts its
cost per tenant and model, and refuses to serve when its host is no longer in the
``provider_hosts`` allow-list; a model file needs none of this and has no ``bind``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ailayer.models.flavors import LoadedModel
from ailayer.models.flavors.base import ServingContext
from ailayer.models.version import ModelVersion

if TYPE_CHECKING:
    from ailayer.serving.model_cache import ModelCache


def bind_context(
    model: LoadedModel, cache: ModelCache, tenant_id: str, version: ModelVersion
) -> None:
    bind = getattr(model, "bind", None)
    if bind is not None:
        load = partial(_load_version, cache, tenant_id)
        hosts = cache.registry.provider_hosts  # as the settings say now, not at registration
        bind(ServingContext(tenant_id, version, load, cache.costs, hosts))


def _load_version(
    cache: ModelCache, tenant_id: str, model: str, number: int
) -> tuple[ModelVersion, LoadedModel]:
    """Version ``number`` of ``model`` in the tenant, loaded once through the cache."""
    version = cache.registry.get_version(tenant_id, model, number)
    key = version.cache_key
    loaded = cache.get(tenant_id, key)
    return version, loaded if loaded is not None else cache.load(tenant_id, key, version)
