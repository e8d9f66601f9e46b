"""Console actions and permissions without a browser: CSRF on every form, a viewer sees
but cannot act, another team's endpoint, a stale form, the audit trail, scoped keys.
Backends down: tests/integration/test_console_outage.py (real outages)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ailayer.governance import audit
from tests.support.api import Api
from tests.support.console import browser, canary_on_fraud, csrf_of, policy

CONFIRM = "/ui/deployments/fraud/confirm/{action}?revision={revision}"


def confirm_form(client: TestClient, action: str, revision: int) -> str:
    page = client.get(CONFIRM.format(action=action, revision=revision))
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def send(client: TestClient, action: str, revision: int, csrf: str | None, **extra: str):  # type: ignore[no-untyped-def]
    data = {"revision": str(revision), **extra}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post(f"/ui/deployments/fraud/{action}", data=data, follow_redirects=False)


def buttons(client: TestClient) -> list[str]:
    page = client.get("/ui/deployments/fraud")
    assert page.status_code == 200, page.text
    return re.findall(r'data-action="([^"]+)"', page.text)


@pytest.fixture
def canary(api: Api) -> Api:
    canary_on_fraud(api)
    return api


def test_promote_and_roll_back_through_the_forms_move_the_policy_and_are_audited(
    canary: Api,
) -> None:
    client = browser(canary, "developer")
    assert buttons(client) == ["promote", "promote-full", "rollback"]
    answer = send(client, "promote", 1, confirm_form(client, "promote", 1))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/deployments/fraud?done=promote"
    moved = policy(canary)
    assert moved["revision"] == 2 and moved["step"] == 1
    assert {v["name"]: v["share"] for v in moved["variants"]} == {"stable": 50, "canary": 50}
    answer = send(
        client, "rollback", 2, confirm_form(client, "rollback", 2), reason="p99 looks off"
    )
    assert answer.status_code == 303
    back = policy(canary)
    assert back["state"] == "rolled_back" and back["reason"] == "p99 looks off"
    with canary.services.db.read() as conn:
        entries = audit.entries(conn, canary.tenant_id, "endpoint/fraud/deployment")
    assert [e["detail"]["state"] for e in entries][:2] == ["rolled_back", "active"]
    assert all(e["actor"].startswith("developer-key") for e in entries[:2])


def test_a_form_sent_twice_or_after_a_change_changes_nothing_and_says_why(canary: Api) -> None:
    client = browser(canary)
    csrf = confirm_form(client, "promote", 1)
    assert send(client, "promote", 1, csrf).status_code == 303
    again = send(client, "promote", 1, csrf)
    assert again.status_code == 409
    assert "changed meanwhile" in again.text and "nothing was changed" in again.text
    assert policy(canary)["revision"] == 2 and policy(canary)["step"] == 1
    # rolled back elsewhere (the API, the controller): the old page's promote is refused
    canary.client.post("/v1/endpoints/fraud/deployment/rollback", json={}, headers=canary.headers())
    late = send(client, "promote-full", 2, csrf)
    assert late.status_code == 409 and "rolled_back" in late.text
    assert policy(canary)["state"] == "rolled_back"
    stale = client.get(CONFIRM.format(action="promote", revision=2))
    assert "changed since you opened it" in stale.text and 'name="revision"' not in stale.text


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_a_post_without_this_sessions_csrf_token_is_refused(canary: Api, token: str | None) -> None:
    client = browser(canary)
    answer = send(client, "rollback", 1, token)
    assert answer.status_code == 403
    assert "The form was refused" in answer.text and "security token" in answer.text
    assert policy(canary)["revision"] == 1


def test_another_sessions_csrf_token_is_refused(canary: Api) -> None:
    mine, theirs = browser(canary), browser(canary)
    answer = send(mine, "rollback", 1, confirm_form(theirs, "rollback", 1))
    assert answer.status_code == 403 and policy(canary)["revision"] == 1
    signout = mine.post("/ui/signout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert signout.status_code == 403


def test_a_viewer_sees_but_has_no_buttons_and_its_posts_are_refused(canary: Api) -> None:
    client = browser(canary, "viewer")
    assert buttons(client) == []
    assert client.get(CONFIRM.format(action="promote", revision=1)).status_code == 403
    csrf = csrf_of(client.get("/ui/deployments/fraud").text)  # the sign-out form's token
    answer = send(client, "promote", 1, csrf)
    assert answer.status_code == 403 and "may not models:write" in answer.text
    assert policy(canary)["revision"] == 1


def test_another_teams_endpoint_shows_no_buttons_and_refuses_the_post(canary: Api) -> None:
    for team in ("growth", "risk"):
        created = canary.client.post("/v1/teams", json={"name": team}, headers=canary.headers())
        assert created.status_code == 201, created.text
    given = canary.client.put(
        "/v1/owners/endpoint/fraud", json={"team": "growth"}, headers=canary.headers()
    )
    assert given.status_code == 200, given.text
    key = canary.services.keys.create_key(canary.tenant_id, "risk-dev", "developer", team="risk")
    canary.keys["risk"] = key.key
    client = browser(canary, "risk")
    assert buttons(client) == []
    assert client.get(CONFIRM.format(action="rollback", revision=1)).status_code == 403
    csrf = csrf_of(client.get("/ui/deployments/fraud").text)
    answer = send(client, "rollback", 1, csrf)
    assert answer.status_code == 403 and "owned by team &#39;growth&#39;" in answer.text
    assert policy(canary)["revision"] == 1


def test_a_service_key_signs_in_but_sees_no_page_it_may_not_read(canary: Api) -> None:
    client = browser(canary, "service")
    page = client.get("/ui/models")
    assert page.status_code == 403 and "may not models:read" in page.text
    assert 'href="/ui/models"' not in page.text  # not in its navigation either


def test_a_scoped_key_sees_only_its_endpoints(canary: Api) -> None:
    key = canary.services.keys.create_key(
        canary.tenant_id, "other-only", "admin", endpoints=["other"]
    )
    canary.keys["scoped"] = key.key
    client = browser(canary, "scoped")
    assert 'data-endpoint="fraud"' not in client.get("/ui/").text
    assert 'data-endpoint="fraud"' not in client.get("/ui/deployments").text
    assert client.get("/ui/deployments/fraud").status_code == 403


def test_an_unknown_page_or_version_is_a_404_page(canary: Api) -> None:
    client = browser(canary, "viewer")
    for path in ("/ui/nothing-here", "/ui/models/fraud/versions/99", "/ui/models/fraud/versions/x"):
        page = client.get(path)
        assert page.status_code == 404 and "<h1>Not found</h1>" in page.text, path


def test_a_method_a_page_does_not_have_is_a_405_page_with_allow(canary: Api) -> None:
    client = browser(canary, "viewer")
    answer = client.delete("/ui/models")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET"
    assert "Method Not Allowed" in answer.text


def test_a_bad_query_parameter_is_a_422_page_naming_it(canary: Api) -> None:
    client = browser(canary)
    page = client.get("/ui/deployments/fraud/confirm/promote", params={"revision": "latest"})
    assert page.status_code == 422 and "revision: Input should be a valid integer" in page.text
    ab = client.get("/ui/deployments/fraud", params={"effect": "big"})
    assert ab.status_code == 422 and "effect: Input should be a valid number" in ab.text
