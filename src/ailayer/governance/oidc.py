"""Bearer JWTs from an OIDC issuer, as principals like API keys.

A SaaS team's single sign-on and its service accounts present a JWT signed by their
identity provider. It is accepted only when every check passes: the header's ``alg`` is
RS256 or ES256 and matches the issuer's key for its ``kid`` (so ``none``, and HS256 with
the public key as the secret, never verify); the signature; ``iss`` and ``aud``; ``exp``
and ``nbf`` within ``leeway`` seconds; a ``sub``; a tenant claim naming a tenant that
exists, and a role claim naming one of the four roles. Any failure is a 401 saying which.

A verified token is kept (by its SHA-256, never the token) until it expires, so the
predict path verifies a token once, not per request.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from jwt import exceptions as jwt_errors

from ailayer.core.errors import NotFound, Unauthenticated
from ailayer.governance.jwks import JwksCache
from ailayer.governance.principal import TOKEN_PREFIX, Principal
from ailayer.governance.roles import Role

ALGORITHMS = ("RS256", "ES256")
KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
MAX_CACHED = 10_000
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


@dataclass(frozen=True)
class OidcConfig:
    """Which issuer to trust and how its claims map onto a principal."""

    issuer: str
    audience: str
    leeway: float = 60.0
    tenant_claim: str = "tenant"
    team_claim: str = "team"
    role_claim: str = "role"


class OidcVerifier:
    """``verify`` checks a token (blocking: the issuer's keys may be fetched);
    ``cached`` returns a token verified before, if it has not expired since."""

    def __init__(
        self, config: OidcConfig, jwks: JwksCache, tenant_id: Callable[[str], str]
    ) -> None:
        self.config = config
        self.jwks = jwks
        self.tenant_id = tenant_id
        self._verified: dict[str, Principal] = {}

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before; None once it has expired (then
        ``verify`` says so). Never blocks."""
        digest = _digest(token)
        hit = self._verified.get(digest)
        if hit is None or (hit.expires_at is not None and hit.expires_at <= time.time()):
            self._verified.pop(digest, None)
            return None
        return hit

    def verify(self, token: str) -> Principal:
        claims = self._claims(token)
        principal = self._principal(claims)
        if len(self._verified) >= MAX_CACHED:
            self._verified.clear()
        self._verified[_digest(token)] = principal
        return principal

    def _claims(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt_errors.PyJWTError as exc:
            raise Unauthenticated(f"malformed bearer token: {exc}") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated(
                f"token algorithm {str(alg)[:20]!r} is not accepted; the issuer must sign with "
                f"{' or '.join(ALGORITHMS)}"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("token header has no 'kid' naming the issuer's key")
        key = self.jwks.key(kid)
        if key is None:
            raise Unauthenticated(f"token key id {kid[:100]!r} is not one of the issuer's keys")
        if key.key_type != KEY_TYPES[alg] or key.algorithm_name != alg:
            raise Unauthenticated(
                f"token algorithm {alg!r} does not match the issuer's key {kid[:100]!r} "
                f"({key.algorithm_name})"
            )
        return self._decode(token, key.key, alg)

    def _decode(self, token: str, key: object, alg: str) -> dict:
        try:
            return jwt.decode(
                token,
                key=key,  # type: ignore[arg-type]
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt_errors.ExpiredSignatureError:
            raise Unauthenticated("token expired (exp is past, beyond the leeway)") from None
        except jwt_errors.ImmatureSignatureError:
            raise Unauthenticated("token not valid yet (nbf is ahead, beyond the leeway)") from None
        except jwt_errors.InvalidAudienceError:
            raise Unauthenticated(
                f"token audience is not {self.config.audience!r} (oidc_audience)"
            ) from None
        except jwt_errors.InvalidIssuerError:
            raise Unauthenticated(
                f"token issuer is not {self.config.issuer!r} (oidc_issuer)"
            ) from None
        except jwt_errors.InvalidSignatureError:
            raise Unauthenticated("token signature does not verify with the issuer's key") from None
        except jwt_errors.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the {exc.claim!r} claim") from None
        except jwt_errors.PyJWTError as exc:
            raise Unauthenticated(f"invalid bearer token: {exc}") from None

    def _principal(self, claims: dict) -> Principal:
        config = self.config
        tenant = _text_claim(claims, config.tenant_claim)
        if tenant is None:
            raise Unauthenticated(f"token lacks the tenant claim {config.tenant_claim!r}")
        role_name = claims.get(config.role_claim)
        try:
            role = Role(role_name)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise Unauthenticated(
                f"token claim {config.role_claim!r} must be one of {allowed}; got {role_name!r}"
            ) from None
        try:
            tenant_id = self.tenant_id(tenant)
        except NotFound:
            raise Unauthenticated(
                f"tenant {tenant!r} named by claim {config.tenant_claim!r} does not exist"
            ) from None
        subject = str(claims["sub"])
        return Principal(
            tenant_id=tenant_id,
            tenant_name=tenant,
            key_id=f"{TOKEN_PREFIX}:{subject}",
            key_name=subject,
            key_prefix=TOKEN_PREFIX,
            role=role,
            expires_at=float(claims["exp"]) + config.leeway,
            team=_text_claim(claims, config.team_claim),
        )


def _text_claim(claims: dict, name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
