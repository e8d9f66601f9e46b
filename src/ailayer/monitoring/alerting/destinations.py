"""Where a webhook may point: not at ailayer's own network unless the operator allows it.

A tenant admin chooses webhook URLs, and ailayer POSTs to them from inside the
deployment; without a check, a rule could make ailayer call internal services or the
cloud metadata endpoint (server-side request forgery). So a webhook host that is, or
resolves to, a loopback, private, shared or reserved address is refused unless the
``alert_webhooks_allow_private`` setting is on (a laptop, a test); link-local addresses
(where cloud metadata lives), multicast and the unspecified address are always refused.

The host is checked when a rule is stored (a clear 422) and again before each delivery,
since a name can resolve elsewhere later; the delivery then connects to an address that
was just checked (``PinnedBackend``), so a name that resolves to another address a moment
later (DNS rebinding) cannot redirect it. A name that does not resolve at all is let
through at storage time: its delivery will fail and be recorded.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

from ailayer.core.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_webhook_destination(url: str, *, allow_private: bool) -> list[Address]:
    """The addresses ``url``'s host resolves to, all allowed (empty: it does not resolve);
    InvalidInput naming ``webhook_url`` when one is not allowed."""
    host = urlsplit(url).hostname or ""
    addresses = _addresses(host)
    for address in addresses:
        reason = _refusal(address, allow_private)
        if reason is not None:
            hint = (
                ""
                if _refusal(address, True) is not None  # refused even when private is allowed
                else "; set alert_webhooks_allow_private: true to allow private addresses"
            )
            raise InvalidInput(
                f"webhook_url must not point at {reason} ({host} is {address}){hint}",
                field="webhook_url",
            )
    return addresses


class PinnedBackend(httpcore.SyncBackend):
    """Opens every connection to ``address``, whatever the URL's host resolves to by
    then. TLS still checks the certificate against the URL's host name."""

    def __init__(self, address: Address) -> None:
        self.address = str(address)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(self.address, port, timeout, local_address, socket_options)


def _addresses(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]


def _refusal(address: Address, allow_private: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a private or reserved address"
    return None
