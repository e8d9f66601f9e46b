"""Secrets kept at rest: sealed with the server's key, refused under another key."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.core.secretbox import KEY_FILE, SecretBox, SecretKeyMismatch


def test_seal_and_open() -> None:
    box = SecretBox("x" * 32)
    sealed = box.seal("hunter2-webhook")
    assert "hunter2" not in sealed and sealed != box.seal("hunter2-webhook")  # random IV
    assert box.open(sealed) == "hunter2-webhook"
    assert box.open("stored-before-encryption") == "stored-before-encryption"
    with pytest.raises(SecretKeyMismatch, match="secret_key"):
        SecretBox("y" * 32).open(sealed)


def test_short_key_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        SecretBox("short")
    assert refused.value.field == "secret_key"


def opened(box: SecretBox) -> SecretBox:
    """``box`` once it has its key (an embedded box reads or makes it on first use)."""
    box.seal("first use")
    return box


def test_home_key_is_private_made_once_and_shared(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ThreadPoolExecutor(max_workers=8) as pool:  # several starting together agree
        boxes = list(pool.map(lambda _: opened(SecretBox.for_home(home, None)), range(8)))
    sealed = boxes[0].seal("s3cret-value")
    assert {box.open(sealed) for box in boxes} == {"s3cret-value"}
    assert stat.S_IMODE((home / KEY_FILE).stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [KEY_FILE]  # no drafts left behind
    assert SecretBox.for_home(home, "z" * 32).open(SecretBox("z" * 32).seal("a")) == "a"
