"""Calls of teams and ownership: which team owns a model, endpoint, feature view or
pipeline, and the teams keys and SSO users belong to."""

from __future__ import annotations

from ailayer.sdk.calls import Call, seg


def create(name: str) -> Call:
    return Call("POST", "/v1/teams", json={"name": name})


def listed() -> Call:
    return Call("GET", "/v1/teams")


def delete(name: str) -> Call:
    return Call("DELETE", f"/v1/teams/{seg(name)}")


def owners(kind: str | None, team: str | None) -> Call:
    params = {k: v for k, v in (("kind", kind), ("team", team)) if v is not None}
    return Call("GET", "/v1/owners", params=params)


def owner(kind: str, name: str) -> Call:
    return Call("GET", f"/v1/owners/{seg(kind)}/{seg(name)}")


def set_owner(kind: str, name: str, team: str | None) -> Call:
    return Call("PUT", f"/v1/owners/{seg(kind)}/{seg(name)}", json={"team": team})
