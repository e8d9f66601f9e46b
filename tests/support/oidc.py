"""A real local OIDC issuer for tests: its own RSA and EC key pairs, a JWKS document served
over HTTP on loopback by a threading server, and tokens signed with those keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://login.example.test/"
AUDIENCE = "ailayer"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def jwk(self) -> dict:
        algorithm = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        public = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": self.alg}

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_key(kid: str, alg: str = "RS256") -> SigningKey:
    if alg == "RS256":
        return SigningKey(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return SigningKey(kid, alg, ec.generate_private_key(ec.SECP256R1()))


@dataclass
class LocalIssuer:
    """Publishes ``keys`` at ``jwks_url``; ``fetches`` counts the documents served."""

    jwks_url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    fetches: int = 0

    def publish(self, key: SigningKey) -> SigningKey:
        self.keys.append(key)
        return key

    def document(self) -> dict:
        return {"keys": [key.jwk for key in self.keys]}

    def claims(self, **overrides: Any) -> dict:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice@example.test",
            "iat": now,
            "exp": now + 300,
            "tenant": "acme",
            "role": "developer",
            "team": "risk",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self, key: SigningKey | None = None, headers: dict | None = None, **claims: Any
    ) -> str:
        """A token signed by ``key`` (default: the first published), its kid in the header."""
        key = key or self.keys[0]
        header = {"kid": key.kid, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}  # {"kid": None}: none
        return jwt.encode(self.claims(**claims), key.private, algorithm=key.alg, headers=header)


def unsigned_token(header: dict, claims: dict) -> str:
    """``alg: none``: a header and claims with an empty signature."""
    return f"{_b64(header)}.{_b64(claims)}."


def hs256_with_public_key(key: SigningKey, claims: dict) -> str:
    """The algorithm-confusion attack: HS256 with the issuer's public key PEM as the
    secret (PyJWT refuses to make one, so it is made by hand)."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_b64(claims)}"
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _b64(value: dict) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@contextmanager
def local_issuer() -> Iterator[LocalIssuer]:
    """The issuer's JWKS on ``http://127.0.0.1:<port>/jwks``, with one RSA and one EC key."""
    issuer = LocalIssuer()
    issuer.publish(new_key("rsa-1", "RS256"))
    issuer.publish(new_key("ec-1", "ES256"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/jwks":
                self.send_error(404)
                return
            issuer.fetches += 1
            body = json.dumps(issuer.document()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    issuer.jwks_url = f"http://127.0.0.1:{server.server_address[1]}/jwks"
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
