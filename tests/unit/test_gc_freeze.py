"""A serving process keeps its long-lived objects out of full collections: what exists
at start-up, and the library a model's first load imports (scikit-learn models import
skops then, ~150,000 objects that every full collection scanned again: a 30-50 ms p99
with the original model, 6 ms with its ONNX form)."""

from __future__ import annotations

import subprocess
import sys

from ailayer.bootstrap import Services
from ailayer.serving.model_cache import ModelCache
from tests.support.tenant_models import register, tenant_model

AFTER_STARTUP = """
import gc
from ailayer.core.process import freeze_new_imports, freeze_startup_objects
freeze_startup_objects()
nothing_new = freeze_new_imports()
import skops.io  # what a scikit-learn model's first load imports, after the freeze
gc.collect()
unfrozen = len(gc.get_objects())
froze = freeze_new_imports()
print(nothing_new, unfrozen, froze, len(gc.get_objects()), freeze_new_imports())
"""


def test_modules_imported_after_the_startup_freeze_are_frozen_too() -> None:
    out = subprocess.run(
        [sys.executable, "-c", AFTER_STARTUP], capture_output=True, text=True, check=True
    ).stdout.split()
    nothing_new, unfrozen, froze, left, again = out
    assert nothing_new == "False" and froze == "True" and again == "False"
    assert int(unfrozen) > 20_000  # skops and scikit-learn, scanned by every full collection
    assert int(left) < 1_000


def test_a_process_that_never_froze_is_left_alone() -> None:
    script = "from ailayer.core.process import freeze_new_imports; import skops.io; print(freeze_new_imports())"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_model_cache_freezes_new_imports_after_each_load(
    services: Services, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    calls: list[None] = []
    monkeypatch.setattr(
        "ailayer.serving.model_cache.freeze_new_imports", lambda: calls.append(None) or False
    )
    tenant_id = services.keys.create_tenant("acme")
    register(services, tenant_id, "a", tenant_model(1))
    version = services.registry.resolve_alias(tenant_id, "a", "champion")
    cache = ModelCache(services.registry, 1 << 30)
    cache.load(tenant_id, version.cache_key, version)
    cache.load(tenant_id, version.cache_key, version)  # cached: no load, no freeze
    assert len(calls) == 1
