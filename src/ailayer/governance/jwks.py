"""An issuer's signing keys (its JWKS document), fetched over HTTP and kept.

Keys are looked up by ``kid``. The document is fetched again when it is older than
``ttl`` seconds, or when a token names a ``kid`` it does not hold (the issuer rotated its
keys), but then at most once per ``min_refresh`` seconds: a flood of tokens with made-up
``kid`` values costs one fetch, not one each. A fetch that fails keeps the keys already
held; with none held it is a 503 naming the setting.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from ailayer.core.errors import BackendUnavailable

SIGNING_KEY_TYPES = frozenset({"RSA", "EC"})
MAX_DOCUMENT_BYTES = 1 << 20
logger = logging.getLogger(__name__)


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        ttl: float = 3600.0,
        min_refresh: float = 30.0,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self.transport = transport
        self.fetches = 0
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK | None:
        """The signing key with this ``kid``, or None when the issuer does not list it
        (after at most one fetch per ``min_refresh`` seconds). Blocking."""
        with self._lock:
            now = time.monotonic()
            stale = self._fetched_at is None or now - self._fetched_at >= self.ttl
            if (stale or kid not in self._keys) and self._may_fetch(now):
                self._refresh(now)
            if not self._keys and self._error is not None:
                raise BackendUnavailable(self._error)
            return self._keys.get(kid)

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_refresh

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            document = self._fetch()
        except (httpx.HTTPError, ValueError) as exc:
            self._error = f"cannot read the OIDC issuer's keys from oidc_jwks_url: {exc}"
            if self._keys:
                logger.warning("JWKS refresh failed, keeping the keys held: %s", exc)
            return
        self._keys = signing_keys(document)
        self._fetched_at = now
        self._error = None

    def _fetch(self) -> dict:
        self.fetches += 1
        with httpx.Client(
            timeout=self.timeout, transport=self.transport, follow_redirects=False, trust_env=False
        ) as client:
            response = client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"JWKS document over {MAX_DOCUMENT_BYTES} bytes")
            document = json.loads(response.content)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("JWKS document has no 'keys' list")
        return document


def signing_keys(document: dict) -> dict[str, PyJWK]:
    """The usable signature keys of a JWKS document by ``kid``: RSA or EC, with a kid,
    not marked for encryption; others are skipped, not fatal."""
    found: dict[str, PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in SIGNING_KEY_TYPES:
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        try:
            found[kid] = PyJWK(entry)
        except PyJWKError as exc:
            logger.warning("JWKS key %r skipped: %s", kid, exc)
    return found
