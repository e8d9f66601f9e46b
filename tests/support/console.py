"""The web console as a browser without JavaScript sees it: sign in through the form,
read the CSRF token off a page, send a form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from ailayer.dashboard.access import COOKIE
from tests.support.api import Api
from tests.support.deployments import deploy, two_versions

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CANARY = {
    "kind": "canary",
    "variants": [
        {"name": "stable", "model": "fraud", "version": 1},
        {"name": "canary", "model": "fraud", "version": 2},
    ],
    "canary": {"steps": [10, 50, 100], "step_seconds": 3600, "min_requests": 1000},
}


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, key: str) -> TestClient:
    """Sign ``client`` in with ``key`` through the form (its cookie jar keeps the session)."""
    form = client.get("/ui/signin")
    answer = client.post(
        "/ui/signin",
        data={"csrf_token": csrf_of(form.text), "credential": key, "next": "/ui/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert client.cookies.get(COOKIE)
    return client


def browser(api: Api, role: str = "admin") -> TestClient:
    """A second client on the same app, signed in with the tenant's key of ``role``."""
    return sign_in(TestClient(api.client.app), api.keys[role])


def canary_on_fraud(api: Api) -> None:
    """Two versions of ``fraud`` and a canary of v2 against v1 at its first step (10%)."""
    two_versions(api)
    answer = deploy(api, "fraud", CANARY)
    assert answer.status_code == 200, answer.text


def policy(api: Api, endpoint: str = "fraud") -> dict:
    answer = api.client.get(f"/v1/endpoints/{endpoint}/deployment", headers=api.headers())
    assert answer.status_code == 200, answer.text
    return answer.json()["policy"]


def day_totals(api: Api, endpoint: str = "fraud") -> tuple[int, int]:
    """The endpoint's requests and errors of the last day, as the API's performance
    report counts them (what the console's numbers must equal)."""
    end = datetime.now(UTC)
    report = api.client.get(
        f"/v1/monitoring/{endpoint}/performance",
        params={
            "window": "day",
            "start": (end - timedelta(days=1)).isoformat(),
            "end": end.isoformat(),
        },
        headers=api.headers("viewer"),
    ).json()
    windows = report["windows"]
    return sum(w["requests"] for w in windows), sum(w["errors"] for w in windows)
