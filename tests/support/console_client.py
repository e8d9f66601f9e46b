"""Signing in to the web console with a test client, as a browser would."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: TestClient, key: str) -> None:
    """Open a console session for ``key`` in ``client``'s cookie jar."""
    client.get("/ui/signin")
    token = client.cookies.get("ailayer_signin")
    assert token, "the sign-in page sets its form cookie"
    answer = client.post(
        "/ui/signin",
        data={"csrf_token": token, "credential": key, "next": "/ui/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)
