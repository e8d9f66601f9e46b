"""Keys scoped by tenant: one spelling for everything an event id alone would make shared.

Event ids are chosen by producers, so two tenants can send the same one (``pay-2001``).
A record keyed by the id alone — a processed-id record, a broker's duplicate-window id,
a partition key — lets one tenant's event stand for another's: skipped as a duplicate,
dropped by the broker, or held behind it. Such keys are ``scoped(tenant, key)``; names
with a length or character limit (consumer groups) carry ``tenant_tag(tenant)``.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

TAG_CHARS = 16


def scoped(tenant: str | None, key: str) -> str:
    """``<tenant>:<key>``, the tenant percent-encoded so that it never holds the ``:``:
    two different (tenant, key) pairs never spell the same text."""
    return f"{quote(tenant or '', safe='')}:{key}"


def tenant_tag(tenant: str) -> str:
    """16 hex characters (64 bits of SHA-256) naming ``tenant`` inside a group name."""
    return hashlib.sha256(tenant.encode()).hexdigest()[:TAG_CHARS]
