"""``Client`` (sync) and ``AsyncClient``: the same operations, matched pair by pair.

    client = ailayer.Client("http://127.0.0.1:8000", api_key="ail_…")
    client.predict("fraud", {"amount": 120.0, ...})

Errors arrive as the ``ailayer.errors`` class the server raised (``InvalidInput``,
``NotFound``, ``Forbidden``, ...) carrying the server's message and ``field``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ailayer.sdk import calls
from ailayer.sdk.calls import Call, seg

DEFAULT_TIMEOUT = 30.0


def _headers(api_key: str) -> dict[str, str]:
    """No ``Authorization`` for an empty key: the server then answers 401 (a bare
    ``Bearer `` is an illegal header that would surface as "cannot reach ailayer")."""
    headers = {"User-Agent": "ailayer-sdk"}
    key = (api_key or "").strip()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


class _Operations:
    """Every operation as a ``Call``; subclasses define how a call is sent."""

    def _send(self, call: Call) -> Any:
        raise NotImplementedError

    def predict(self, endpoint: str, records: dict | list[dict]) -> Any:
        return self._send(calls.predict(endpoint, records))

    def list_models(self) -> Any:
        return self._send(Call("GET", "/v1/models"))

    def get_model(self, model: str) -> Any:
        return self._send(Call("GET", f"/v1/models/{seg(model)}"))

    def get_version(self, model: str, version: int) -> Any:
        return self._send(Call("GET", f"/v1/models/{seg(model)}/versions/{seg(version)}"))

    def register_model(
        self,
        model: str,
        artifact: bytes | str | Path,
        *,
        flavor: str,
        signature: dict,
        **metadata: Any,
    ) -> Any:
        """Upload a model file as a new version. ``metadata``: params, metrics, tags,
        description, dataset_version, feature_refs, code_version, pipeline_run, aliases."""
        return self._send(calls.register(model, artifact, flavor, signature, **metadata))

    def set_alias(self, model: str, alias: str, version: int) -> Any:
        return self._send(calls.set_alias(model, alias, version))

    def alias_history(self, model: str) -> Any:
        return self._send(Call("GET", f"/v1/models/{seg(model)}/alias-history"))

    def archive_version(self, model: str, version: int) -> Any:
        path = f"/v1/models/{seg(model)}/versions/{seg(version)}/archive"
        return self._send(Call("POST", path))

    def put_endpoint(self, name: str, model: str, alias: str = "champion") -> Any:
        body = {"model": model, "alias": alias}
        return self._send(Call("PUT", f"/v1/endpoints/{seg(name)}", json=body))

    def list_endpoints(self) -> Any:
        return self._send(Call("GET", "/v1/endpoints"))

    def create_key(self, name: str, role: str) -> Any:
        return self._send(Call("POST", "/v1/keys", json={"name": name, "role": role}))

    def list_keys(self) -> Any:
        return self._send(Call("GET", "/v1/keys"))

    def revoke_key(self, prefix: str) -> Any:
        return self._send(Call("DELETE", f"/v1/keys/{seg(prefix)}"))

    def audit(self, target: str = "", limit: int = 100) -> Any:
        return self._send(Call("GET", "/v1/audit", params={"target": target, "limit": limit}))


class Client(_Operations):
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    def _send(self, call: Call) -> Any:
        try:
            response = self._http.request(call.method, call.path, **call.kwargs())
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from exc
        return calls.result(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncClient(_Operations):
    """The async twin of ``Client``: every operation is awaited."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    async def _send(self, call: Call) -> Any:  # type: ignore[override]
        try:
            response = await self._http.request(call.method, call.path, **call.kwargs())
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from exc
        return calls.result(response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
