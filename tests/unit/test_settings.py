"""Settings: embedded defaults, ailayer.yaml, and AILAYER_* variables that win."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ailayer.core.settings import load_settings


def test_embedded_defaults_live_under_home_as_absolute_paths(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    home = tmp_path / ".ailayer"
    assert settings.home == home
    assert settings.metadata_url == f"sqlite:///{home}/meta.db"
    assert settings.artifacts == f"file://{home}/artifacts"
    assert settings.credentials_path == home / "credentials"


def test_relative_local_urls_are_made_absolute_others_are_kept(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        metadata_url="sqlite:///state/meta.db",
        offline_store="file://data/offline",
        event_bus="embedded://bus.db",
        online_store="redis://127.0.0.1:6379/0",
        artifacts="s3://bucket/models",
    )
    assert settings.metadata_url == f"sqlite:///{tmp_path}/state/meta.db"
    assert settings.offline_store == f"file://{tmp_path}/data/offline"
    assert settings.event_bus == f"embedded://{tmp_path}/bus.db"
    assert settings.online_store == "redis://127.0.0.1:6379/0"
    assert settings.artifacts == "s3://bucket/models"


def test_a_serving_process_runs_in_an_empty_scratch_directory(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from ailayer.core.process import enter_scratch_directory

    monkeypatch.chdir(tmp_path)
    settings = load_settings()

    scratch = enter_scratch_directory()

    assert Path.cwd() == scratch != tmp_path
    assert list(scratch.iterdir()) == []
    assert oct(scratch.stat().st_mode & 0o777) == oct(0o700)
    assert settings.home == tmp_path / ".ailayer"  # still found from the scratch dir
    os.chdir(tmp_path)


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


@pytest.mark.parametrize(
    "value",
    [
        "127.0.0.1:8101,127.0.0.1:8102",
        '["127.0.0.1:8101", "127.0.0.1:8102"]',
        " 127.0.0.1:8101 , 127.0.0.1:8102 ",
    ],
)
def test_model_workers_read_from_a_variable_as_a_list_or_comma_separated(
    monkeypatch, tmp_path, value
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_MODEL_WORKERS", value)
    assert load_settings().model_workers == ["127.0.0.1:8101", "127.0.0.1:8102"]


@pytest.mark.parametrize("value", ["[not json", "127.0.0.1", '["127.0.0.1:x"]'])
def test_a_bad_model_workers_variable_names_the_field(monkeypatch, tmp_path, value) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_MODEL_WORKERS", value)
    with pytest.raises(ValidationError, match="model_workers"):
        load_settings()


def test_privacy_event_stores_read_from_variables(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_DEAD_LETTER_TOPICS", "labels-dlq, scoring-dlq")
    monkeypatch.setenv("AILAYER_OUTBOX_SPOOLS", '["/srv/outbox-*.db"]')
    settings = load_settings()
    assert settings.dead_letter_topics == ["labels-dlq", "scoring-dlq"]
    assert settings.outbox_spools == ["/srv/outbox-*.db"]


def test_a_bad_dead_letter_topic_names_the_field(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_DEAD_LETTER_TOPICS", "labels.dlq")
    with pytest.raises(ValidationError, match="dead_letter_topics"):
        load_settings()
