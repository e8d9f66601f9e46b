"""Settings: embedded defaults, ailayer.yaml, and AILAYER_* variables that win."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ailayer.core.settings import load_settings


def test_embedded_defaults_live_under_home(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.home == Path(".ailayer")
    assert settings.metadata_url == "sqlite:///.ailayer/meta.db"
    assert settings.artifacts == "file://.ailayer/artifacts"
    assert settings.credentials_path == Path(".ailayer/credentials")


def test_yaml_file_then_environment_wins(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "ailayer.yaml"
    config.write_text("port: 9000\nmetadata_url: postgresql://db/x\nhome: /srv/ai\n")
    monkeypatch.setenv("AILAYER_CONFIG", str(config))
    assert load_settings().port == 9000
    assert load_settings().artifacts == "file:///srv/ai/artifacts"
    monkeypatch.setenv("AILAYER_PORT", "9100")
    settings = load_settings()
    assert (settings.port, settings.metadata_url) == (9100, "postgresql://db/x")


def test_unknown_or_bad_settings_name_the_field(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "ailayer.yaml"
    config.write_text("prot: 9000\n")
    monkeypatch.setenv("AILAYER_CONFIG", str(config))
    with pytest.raises(ValidationError, match="prot"):
        load_settings()
    config.write_text("max_body_bytes: -1\n")
    with pytest.raises(ValidationError, match="max_body_bytes"):
        load_settings()


def test_redacted_hides_passwords_only() -> None:
    from ailayer.core.settings import redacted

    assert redacted("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redacted("sqlite:///.ailayer/meta.db") == "sqlite:///.ailayer/meta.db"
