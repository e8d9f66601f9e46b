"""An in-memory ``PolicyStore`` for unit tests of the rollout controller.

It stands in for the metadata-database store (``ailayer.rollout.store.DeploymentService``)
in unit tests only, and keeps the part of its contract the controller relies on: a real
compare-and-set on the revision under a lock (``Conflict`` when the stored revision is not
the expected one), revision + 1 and ``changed_at`` set on every stored policy, and every
transition kept in ``history``. The database store has its own contract tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict
from ailayer.rollout.policy import Policy


@dataclass(frozen=True)
class Stored:
    tenant_id: str
    actor: str
    expected_revision: int
    policy: Policy


class MemoryPolicyStore:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self.history: list[Stored] = []
        self._current: dict[tuple[str, str], Policy] = {}
        self._lock = threading.Lock()

    def deploy(self, tenant_id: str, policy: Policy, actor: str = "someone") -> Policy:
        """Store ``policy`` as the next revision whatever the current one is (by hand)."""
        current = self.active(tenant_id, policy.endpoint)
        return self.transition(tenant_id, actor, 0 if current is None else current.revision, policy)

    def active(self, tenant_id: str, endpoint: str) -> Policy | None:
        with self._lock:
            return self._current.get((tenant_id, endpoint))

    def canaries(self) -> list[tuple[str, Policy]]:
        with self._lock:
            found = sorted(self._current.items(), key=lambda item: item[0])
        return [
            (tenant_id, policy)
            for (tenant_id, _), policy in found
            if policy.kind == "canary" and policy.state == "active"
        ]

    def transition(
        self, tenant_id: str, actor: str, expected_revision: int, policy: Policy
    ) -> Policy:
        key = (tenant_id, policy.endpoint)
        with self._lock:
            current = self._current.get(key)
            revision = 0 if current is None else current.revision
            if revision != expected_revision:
                raise Conflict(
                    f"the policy of {policy.endpoint!r} is at revision {revision}, "
                    f"not {expected_revision}"
                )
            stored = replace(policy, revision=revision + 1, changed_at=self.clock())
            self._current[key] = stored
            self.history.append(Stored(tenant_id, actor, expected_revision, stored))
            return stored
