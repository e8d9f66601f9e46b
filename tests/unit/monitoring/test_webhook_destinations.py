"""Webhooks may not point into ailayer's own network unless the operator allows it."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ailayer.api import create_app
from ailayer.bootstrap import build
from ailayer.core.errors import InvalidInput
from ailayer.monitoring.alerting import Alert, WebhookNotifier
from ailayer.monitoring.alerting.destinations import check_webhook_destination
from tests.support.api import make_api
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


def rebind(monkeypatch, port: int) -> list[str]:  # type: ignore[no-untyped-def]
    """``hook.test`` resolves to 127.0.0.1 once, then to an unreachable address (DNS
    rebinding, or a name that moved); returns the list of its lookups. No proxies."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "hook.test":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "203.0.113.9"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    return lookups


ALERT = Alert("r", "firing", "t", "fraud", "fraud", 1, "error_rate", 0.5, 0.1, "w")


def test_a_delivery_connects_to_the_address_that_was_checked(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The POST goes to the address the check approved, with the name as Host."""
    receiver = WebhookReceiver()
    port = receiver.server.server_address[1]
    lookups = rebind(monkeypatch, port)
    hook = WebhookNotifier(
        f"http://hook.test:{port}/hook", "s3cret-value", attempts=1, timeout=2, allow_private=True
    )
    try:
        assert hook.notify(ALERT) is True
    finally:
        receiver.close()
    [(headers, _)] = receiver.received
    assert headers["Host"] == f"hook.test:{port}" and lookups == ["hook.test"]


def self_signed(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh certificate for ``name``, and that certificate's file
    (to trust through ``SSL_CERT_FILE``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


@pytest.mark.parametrize(("certified", "delivered"), [("hook.test", True), ("other.test", False)])
def test_an_https_delivery_checks_the_certificate_against_the_name(
    monkeypatch, tmp_path: Path, certified: str, delivered: bool
) -> None:  # type: ignore[no-untyped-def]
    """Pinned to the checked address, TLS still sends the URL's name (SNI) and checks the
    certificate against it: a certificate for another name is refused."""
    context, cert_file = self_signed(tmp_path, certified)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    receiver = WebhookReceiver(tls=context)
    port = receiver.server.server_address[1]
    rebind(monkeypatch, port)
    hook = WebhookNotifier(
        f"https://hook.test:{port}/hook", "s3cret-value", attempts=1, timeout=2, allow_private=True
    )
    try:
        assert hook.notify(ALERT) is delivered
    finally:
        receiver.close()
    assert len(receiver.received) == (1 if delivered else 0)
