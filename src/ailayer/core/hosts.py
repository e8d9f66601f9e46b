"""Which hosts the server may call on a tenant's behalf: the operator's allow-list.

Why: a ``provider`` model's config names a URL that the server calls on every
prediction. Without a list, anyone who may register a version could make the server
reach cloud metadata (169.254.169.254), a loopback admin port or a service on its
private network (server-side request forgery). The setting ``provider_hosts`` names the
hosts allowed; empty allows none. The same check runs at registration and again when a
version is loaded for serving, so narrowing the list takes effect without touching what
is stored.

A URL's host is compared as the HTTP client connects to it (httpx's parse: IDNA-encoded,
lowercased, one trailing dot dropped), and only exactly: ``api.openai.com`` allows
neither ``api.openai.com.evil.com`` nor ``evil.com#@api.openai.com``; a URL with
userinfo is never allowed. ``*.example.com`` allows every subdomain, not
``example.com`` itself. An entry without a port allows every port of its host; with one,
only that port (a URL without a port has its scheme's: 80 or 443). Names are trusted as
the operator's DNS resolves them: list names whose addresses you control or trust.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

SETTING = "provider_hosts"
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HostRule:
    """One allow-list entry: ``host`` normalised (the suffix, for a ``*.`` wildcard)."""

    host: str
    port: int | None = None
    wildcard: bool = False

    def allows(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def parse_host_rule(entry: str) -> HostRule:
    """``host``, ``host:port``, ``*.domain``, ``[v6]:port`` as a rule; ``ValueError``
    saying what is wrong otherwise."""
    text = entry.strip()
    wildcard = text.startswith("*.")
    rest = text[2:] if wildcard else text
    if not rest or "*" in rest or any(c in rest for c in "/?#@\\ "):
        raise ValueError(
            f"{entry!r} must be a host name or IP address, optionally with :port and a "
            "leading *. for subdomains (api.openai.com, *.example.com, 127.0.0.1:8080)"
        )
    if rest.count(":") > 1 and not rest.startswith("["):
        rest = f"[{rest}]"  # a bare IPv6 address: no port
    try:
        url = httpx.URL(f"http://{rest}/")
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise ValueError(f"{entry!r} is not a valid host[:port]") from None
    host = _normal(url.raw_host)
    if not host or (wildcard and _is_ip(host)):
        raise ValueError(f"{entry!r} is not a valid host[:port]")
    port = _written_port(rest)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{entry!r} has a port outside 1-65535")
    return HostRule(host, port, wildcard)


def host_rules(entries: Iterable[str]) -> tuple[HostRule, ...]:
    return tuple(parse_host_rule(entry) for entry in entries)


def unlisted(url: str, rules: Iterable[HostRule]) -> str | None:
    """None when ``url``'s host and port are in ``rules``; else why not, naming the
    setting so an operator knows what to change."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return f"the url cannot be parsed, so its host is not in {SETTING}"
    if parsed.userinfo:
        return "a url with credentials (user@host) is never allowed"
    host = _normal(parsed.raw_host)
    port = parsed.port or DEFAULT_PORTS.get(parsed.scheme)
    if not host or port is None:
        return f"the url has no http(s) host, so it is not in {SETTING}"
    if any(rule.allows(host, port) for rule in rules):
        return None
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (
        f"host {shown} is not in {SETTING}, the hosts this server may call for provider "
        f"models; an operator allows it by adding it to the setting {SETTING} "
        f"(AILAYER_{SETTING.upper()})"
    )


def _normal(raw: bytes) -> str:
    """The ASCII host, lowercased, one trailing dot dropped; IP addresses canonical."""
    host = raw.decode("ascii", "replace").lower()
    host = host[:-1] if host.endswith(".") else host
    if _is_ip(host):
        return str(ipaddress.ip_address(host))
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _written_port(rest: str) -> int | None:
    """The port the entry spells out, also when it is its scheme's default (httpx drops
    ``:80`` from an http URL); ``ValueError`` for ``host:`` or a port that is no number."""
    tail = rest.rpartition("]")[2] if rest.startswith("[") else rest
    _, colon, port = tail.rpartition(":")
    if not colon:
        return None
    if not port.isdigit():
        raise ValueError(f"{rest!r} must have a numeric port after ':'")
    return int(port)
