"""Shared fixtures: settings in a temp home, both metadata databases, an API with keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailayer.bootstrap import Services, build
from ailayer.core.settings import Settings, load_settings
from tests.support.api import Api, make_api
from tests.support.services import scratch_postgres_database


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No test reads the developer's ailayer.yaml or AILAYER_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith("AILAYER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AILAYER_CONFIG", str(tmp_path / "no-config.yaml"))
    # the log in a thread of the test process: a child process per app would add seconds
    # to every test; tests/unit/monitoring/test_log_process.py runs the child for real
    monkeypatch.setenv("AILAYER_LOG_PROCESS", "false")


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


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    made = make_api(services)
    yield made
    made.client.close()
