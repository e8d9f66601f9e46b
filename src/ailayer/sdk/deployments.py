"""Calls of an endpoint's deployment: its traffic policy, promotion, rollback, history."""

from __future__ import annotations

from typing import Any

from ailayer.sdk.calls import Call, seg


def _path(endpoint: str, action: str = "") -> str:
    return f"/v1/endpoints/{seg(endpoint)}/deployment" + (f"/{action}" if action else "")


def deploy(endpoint: str, policy: dict[str, Any]) -> Call:
    return Call("PUT", _path(endpoint), json=policy)


def deployment(endpoint: str) -> Call:
    return Call("GET", _path(endpoint))


def promote(endpoint: str, to: int | None) -> Call:
    return Call("POST", _path(endpoint, "promote"), json={} if to is None else {"to": to})


def rollback(endpoint: str, reason: str) -> Call:
    return Call("POST", _path(endpoint, "rollback"), json={"reason": reason})


def history(endpoint: str) -> Call:
    return Call("GET", _path(endpoint, "history"))
