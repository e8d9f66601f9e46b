"""Console sessions: a signed-in browser holds a random token in a cookie; the metadata
store keeps only its SHA-256 and the SHA-256 of the session's CSRF token.

A session opened with an API key names the key by id, and every page reads that key's
row again (``KeyService.principal_of``): revoking or expiring the key ends the session on
the next page. A session opened with an OIDC bearer token has no row to read again, so its
claims are kept with it and it ends when the token does (or the session, if sooner).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select

from ailayer.core.clock import utcnow
from ailayer.core.errors import Unauthenticated
from ailayer.core.ids import new_secret
from ailayer.db.engine import Database
from ailayer.db.tables import ui_sessions
from ailayer.governance.keys import KeyService
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Role

ENDED = "your session ended: sign in again"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The session's CSRF token, derived from its cookie token (so it is never stored,
    and a form can be rendered on any replica)."""
    return hmac.new(session_token.encode(), b"ailayer-console-csrf", "sha256").hexdigest()


@dataclass(frozen=True)
class Session:
    """One signed-in browser: who it acts as now, and the CSRF token its forms carry."""

    token_hash: str
    principal: Principal
    csrf: str
    csrf_hash: str
    expires_at: datetime

    def csrf_matches(self, submitted: str | None) -> bool:
        """Constant-time check of a submitted CSRF token against the stored hash."""
        return bool(submitted) and hmac.compare_digest(digest(submitted or ""), self.csrf_hash)


class SessionStore:
    """Open, find and close console sessions in the ``ui_sessions`` table."""

    def __init__(self, db: Database, keys: KeyService, seconds: float) -> None:
        self.db = db
        self.keys = keys
        self.seconds = seconds

    def open(self, principal: Principal) -> str:
        """A new session for ``principal``; returns the cookie token (shown only now).
        A token's session ends no later than the token."""
        token = new_secret()
        now = utcnow()
        expires = now + timedelta(seconds=self.seconds)
        if principal.expires_at is not None:
            expires = min(expires, datetime.fromtimestamp(principal.expires_at, UTC))
        claims = _claims(principal) if principal.is_token else None
        with self.db.write() as conn:
            conn.execute(delete(ui_sessions).where(ui_sessions.c.expires_at <= now))
            conn.execute(
                insert(ui_sessions).values(
                    token_hash=digest(token),
                    tenant_id=principal.tenant_id,
                    key_id=principal.key_id,
                    csrf_hash=digest(csrf_token(token)),
                    created_at=now,
                    expires_at=expires,
                    token_principal=claims,
                )
            )
        return token

    def find(self, token: str | None) -> Session:
        """The live session of a cookie token, with its principal read again now;
        ``Unauthenticated`` when there is none (also: expired, key revoked or expired)."""
        if not token:
            raise Unauthenticated(ENDED)
        with self.db.read() as conn:
            row = conn.execute(
                select(ui_sessions).where(ui_sessions.c.token_hash == digest(token))
            ).first()
        if row is None or row.expires_at <= utcnow():
            raise Unauthenticated(ENDED)
        principal = self._principal(row)
        if principal.tenant_id != row.tenant_id:
            raise Unauthenticated(ENDED)
        return Session(row.token_hash, principal, csrf_token(token), row.csrf_hash, row.expires_at)

    def close(self, token: str | None) -> None:
        """Sign out: the session's row is deleted (a copied cookie stops working too)."""
        if token:
            with self.db.write() as conn:
                conn.execute(delete(ui_sessions).where(ui_sessions.c.token_hash == digest(token)))

    def _principal(self, row) -> Principal:  # type: ignore[no-untyped-def]
        if row.token_principal is not None:
            return _from_claims(row.token_principal).check_expiry()
        return self.keys.principal_of(row.key_id)


def _claims(principal: Principal) -> dict:
    return {
        "tenant_id": principal.tenant_id,
        "tenant_name": principal.tenant_name,
        "key_id": principal.key_id,
        "key_name": principal.key_name,
        "key_prefix": principal.key_prefix,
        "role": principal.role.value,
        "expires_at": principal.expires_at,
        "team": principal.team,
    }


def _from_claims(claims: dict) -> Principal:
    return Principal(**{**claims, "role": Role(claims["role"])})
