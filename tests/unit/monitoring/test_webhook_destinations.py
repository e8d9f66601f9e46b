"""Webhooks may not point into ailayer's own network unless the operator allows it."""

from __future__ import annotations

import socket

import pytest

from ailayer.api import create_app
from ailayer.bootstrap import build
from ailayer.core.errors import InvalidInput
from ailayer.monitoring.alerting import Alert, WebhookNotifier
from ailayer.monitoring.alerting.destinations import check_webhook_destination
from tests.conftest import make_api
from tests.support.webhooks import WebhookReceiver


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.7/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_destinations_are_refused_by_default(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_webhook_destination(url, allow_private=False)
    assert refused.value.field == "webhook_url"
    check_webhook_destination(url, allow_private=True)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x", "http://0.0.0.0/"]
)
def test_metadata_and_unspecified_addresses_are_always_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="webhook_url must not point at"):
        check_webhook_destination(url, allow_private=True)


def test_public_and_unresolvable_hosts_pass() -> None:
    check_webhook_destination("https://93.184.216.34/hook", allow_private=False)
    check_webhook_destination("https://no-such-host.invalid/hook", allow_private=False)


def test_the_api_answers_422_naming_webhook_url_by_default(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(alert_webhooks_allow_private=False))
    api = make_api(services)
    try:
        rule = {
            "name": "errors",
            "kind": "error_rate",
            "webhook_url": "http://127.0.0.1:9/hook",
            "webhook_secret": "s3cret-value",
        }
        answer = api.client.post("/v1/alerts/rules", headers=api.headers("admin"), json=rule)
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "webhook_url"
        assert api.client.get("/v1/alerts/rules", headers=api.headers("admin")).json() == []
    finally:
        api.client.close()
        services.close()


def test_a_refused_destination_is_not_called_at_delivery(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    monkeypatch.setattr("httpx.post", lambda *a, **k: calls.append(a))
    alert = Alert("r", "firing", "t", "fraud", "fraud", 1, "error_rate", 0.5, 0.1, "w")
    hook = WebhookNotifier("http://127.0.0.1:9/hook", "s3cret-value", sleep=lambda _: None)
    assert hook.notify(alert) is False
    assert calls == [] and hook.failed == [alert]
    assert create_app  # the app module imports cleanly with the check wired in


PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


def test_a_delivery_connects_to_the_address_that_was_checked(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding: the name resolves to an allowed address for the check, then to
    another one; the POST must still go to the checked address, with the name as Host."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    receiver = WebhookReceiver()
    port = receiver.server.server_address[1]
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "hook.test":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "203.0.113.9"  # then: unreachable
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    alert = Alert("r", "firing", "t", "fraud", "fraud", 1, "error_rate", 0.5, 0.1, "w")
    hook = WebhookNotifier(
        f"http://hook.test:{port}/hook", "s3cret-value", attempts=1, timeout=2, allow_private=True
    )
    try:
        assert hook.notify(alert) is True
    finally:
        receiver.close()
    [(headers, _)] = receiver.received
    assert headers["Host"] == f"hook.test:{port}" and lookups == ["hook.test"]
