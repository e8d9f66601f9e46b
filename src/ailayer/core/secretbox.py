"""Secrets the server must read back, encrypted at rest (webhook signing secrets).

API keys are hashed: the server only ever compares them. A webhook secret has to be read
back to sign each delivery, so it is encrypted instead, with Fernet (AES-128-CBC and
HMAC-SHA256, from ``cryptography``) under a key derived from the server's ``secret_key``
setting (SHA-256 of it). Set ``secret_key`` (``AILAYER_SECRET_KEY``) in production, the same
on every replica; an embedded install without it keeps a generated key in
``<home>/secret.key`` (mode 0600), made on first use. A value stored before encryption
existed (no prefix) is read as it is and sealed the next time it is written.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ailayer.core.errors import AilayerError, InvalidInput
from ailayer.core.files import private_dir

PREFIX = "fernet:v1:"
KEY_FILE = "secret.key"
MIN_KEY_CHARS = 32


class SecretKeyMismatch(AilayerError):
    """A stored secret was sealed under another ``secret_key`` than this server's."""

    status = 500
    code = "secret_key_mismatch"


class SecretBox:
    def __init__(self, secret_key: str | Callable[[], str]) -> None:
        """``secret_key``, or a function that gives it on first use (so the embedded key
        file is only made once a secret is sealed or opened, not by every command)."""
        if isinstance(secret_key, str):
            _check_key(secret_key)
        self._secret_key = secret_key
        self._sealer: Fernet | None = None

    @classmethod
    def for_home(cls, home: Path, secret_key: str | None) -> SecretBox:
        """``secret_key`` if given, else the key kept in ``home`` (made on first use)."""
        return cls(secret_key if secret_key else partial(_home_key, home))

    @property
    def _fernet(self) -> Fernet:
        if self._sealer is None:
            key = self._secret_key if isinstance(self._secret_key, str) else self._secret_key()
            _check_key(key)
            self._sealer = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))
        return self._sealer

    def seal(self, secret: str) -> str:
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before secrets were encrypted
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyMismatch(
                "a stored secret cannot be decrypted with this server's secret_key: every "
                "replica needs the secret_key the secret was stored with",
                field="secret_key",
            ) from None


def _check_key(secret_key: str) -> None:
    if len(secret_key) < MIN_KEY_CHARS:
        raise InvalidInput(
            f"secret_key must be at least {MIN_KEY_CHARS} characters of random text "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            field="secret_key",
        )


def _home_key(home: Path) -> str:
    """The embedded key, made once: written to a private temporary file, then linked into
    place (two processes starting together agree, and none reads a half-written key)."""
    path = home / KEY_FILE
    if not path.exists():
        private_dir(home)
        draft = home / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    return path.read_text().strip()
