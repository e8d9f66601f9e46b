"""A provider version's artifact: a JSON config, checked field by field at registration.

The config names an API (``kind``), where it is (``url``), and the *name* of the
environment variable that holds the key (``api_key_env``): a key is never in the
artifact, and a field that looks like one is refused. The variable's name must start
with ``AILAYER_PROVIDER_KEY_``, so a model file cannot make the server send its own
credentials (a database password, a cloud key) to a URL of the uploader's choosing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ailayer.core.errors import InvalidInput
from ailayer.models.providers.template import Template, parse_template

KINDS = ("openai-chat", "openai-embeddings", "json-http")
KEY_PREFIX = "AILAYER_PROVIDER_KEY_"
MAX_CONFIG_BYTES = 64 * 1024
SECRET_FIELDS = ("api_key", "key", "token", "secret", "password", "authorization", "headers")
RESERVED_PARAMS = ("model", "messages", "input")
FALLBACK = re.compile(r"^(?P<model>[^:\s]+):(?P<version>[1-9][0-9]{0,8})$")
POINTER = re.compile(r"^(/([^/~]|~[01])*)*$")

# name: (type, lowest, highest), both inclusive; defaults are ProviderConfig's
NUMBERS: dict[str, tuple[type, float, float]] = {
    "timeout_seconds": (float, 0.001, 300.0),
    "retries": (int, 0, 10),
    "backoff_seconds": (float, 0.0, 60.0),
    "backoff_max_seconds": (float, 0.0, 600.0),
    "breaker_failures": (int, 1, 1000),
    "breaker_cooldown_seconds": (float, 0.001, 3600.0),
    "cache_size": (int, 0, 100_000),
    "cache_ttl_seconds": (float, 0.001, 86_400.0),
    "max_response_bytes": (int, 1, 64 << 20),
    "cost_per_call": (float, 0.0, 1e6),
    "cost_per_prompt_token": (float, 0.0, 1e6),
    "cost_per_completion_token": (float, 0.0, 1e6),
}
TEXTS = ("kind", "url", "model", "api_key_env", "prompt", "system", "input", "response_path")
KNOWN = frozenset((*NUMBERS, *TEXTS, "fallback", "params"))


@dataclass(frozen=True)
class ProviderConfig:
    kind: str
    url: str
    model: str | None = None
    api_key_env: str | None = None
    prompt: Template | None = None
    system: Template | None = None
    input: Template | None = None
    response_path: tuple[str, ...] = ()
    fallback: tuple[str, int] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 10.0
    retries: int = 2
    backoff_seconds: float = 0.2
    backoff_max_seconds: float = 5.0
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 30.0
    cache_size: int = 1024
    cache_ttl_seconds: float = 300.0
    max_response_bytes: int = 1 << 20
    cost_per_call: float = 0.0
    cost_per_prompt_token: float = 0.0
    cost_per_completion_token: float = 0.0

    @property
    def origin(self) -> str:
        """How answers and logs name the provider: scheme, host and port, never a path or
        query (either may carry a token)."""
        parts = urlsplit(self.url)
        return f"{self.kind} at {parts.scheme}://{parts.netloc}"

    @property
    def fields(self) -> frozenset[str]:
        """Record fields the templates name (json-http sends the whole record)."""
        templates = (self.prompt, self.system, self.input)
        return frozenset().union(*(t.fields for t in templates if t is not None))


def parse_config(data: bytes) -> ProviderConfig:
    """The config in ``data``; ``InvalidInput`` naming the first wrong field otherwise."""
    raw = _json_object(data)
    _refuse_unknown(raw)
    kind = _text(raw, "kind", required=True)
    if kind not in KINDS:
        raise _bad("kind", f"must be one of {', '.join(KINDS)}; got {kind!r}")
    url = _url(_text(raw, "url", required=True))
    chat, embeddings = kind == "openai-chat", kind == "openai-embeddings"
    model = _text(raw, "model", required=chat or embeddings)
    return ProviderConfig(
        kind=kind,
        url=url.rstrip("/") if kind != "json-http" else url,
        model=model,
        api_key_env=_key_env(raw.get("api_key_env")),
        prompt=_template(raw, "prompt", required=chat),
        system=_template(raw, "system", required=False) if chat else None,
        input=_template(raw, "input", required=embeddings),
        response_path=_pointer(raw, required=kind == "json-http"),
        fallback=_fallback(raw.get("fallback")),
        params=_params(raw.get("params", {}), allowed=chat or embeddings),
        **{name: _number(raw, name, *rule) for name, rule in NUMBERS.items() if name in raw},
    )


def _json_object(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_CONFIG_BYTES:
        raise _bad("artifact", f"a provider config must be at most {MAX_CONFIG_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _bad("artifact", f"a provider config must be a JSON object: {exc}") from None
    if not isinstance(raw, dict):
        raise _bad("artifact", "a provider config must be a JSON object")
    return raw


def _refuse_unknown(raw: dict[str, Any]) -> None:
    for name in raw:
        if name.lower() in SECRET_FIELDS:
            raise _bad(
                name,
                "keys are never stored in a model; put the key in an environment variable "
                f"named {KEY_PREFIX}… on the server and name it in api_key_env",
            )
        if name not in KNOWN:
            raise _bad(name, f"unknown field; known: {', '.join(sorted(KNOWN))}")


def _text(raw: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = raw.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(name, "must be a non-empty string")
    return value


def _url(url: str | None) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("url", f"must be an http:// or https:// URL with a host; got {url!r}")
    if parts.username or parts.password:
        raise _bad("url", "must not carry credentials; name the key in api_key_env")
    return url or ""


def _key_env(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(KEY_PREFIX + r"[A-Z0-9_]+", value):
        raise _bad("api_key_env", f"must name an environment variable {KEY_PREFIX}[A-Z0-9_]+")
    return value


def _template(raw: dict[str, Any], name: str, *, required: bool) -> Template | None:
    text = _text(raw, name, required=required)
    return parse_template(text, f"provider config {name}") if text is not None else None


def _pointer(raw: dict[str, Any], *, required: bool) -> tuple[str, ...]:
    text = _text(raw, "response_path", required=required)
    if text is None:
        return ()
    if not POINTER.match(text):
        raise _bad("response_path", f"must be a JSON pointer like /data/0/score; got {text!r}")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:])


def _fallback(value: Any) -> tuple[str, int] | None:
    if value is None:
        return None
    match = FALLBACK.match(value) if isinstance(value, str) else None
    if match is None:
        raise _bad("fallback", f"must be 'model:version' of a registered model; got {value!r}")
    return match["model"], int(match["version"])


def _params(value: Any, *, allowed: bool) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("params", "must be an object of request parameters")
    if value and not allowed:
        raise _bad("params", "is only for the openai kinds")
    for name, item in value.items():
        if name in RESERVED_PARAMS:
            raise _bad("params", f"must not set {name!r}; the config and the record do")
        if not isinstance(item, str | int | float | bool):
            raise _bad("params", f"{name} must be a string, number or boolean")
    return dict(value)


def _number(raw: dict[str, Any], name: str, kind: type, low: float, high: float) -> float:
    value = raw[name]
    numeric = type(value) is int or (kind is float and type(value) is float)
    if not numeric or not low <= value <= high:
        shown = "an integer" if kind is int else "a number"
        raise _bad(name, f"must be {shown} from {low} to {high}; got {value!r}")
    return kind(value)


def _bad(name: str, message: str) -> InvalidInput:
    return InvalidInput(f"provider config {name}: {message}", field="artifact")
