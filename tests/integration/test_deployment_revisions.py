"""Compare-and-set of deployment revisions on PostgreSQL: writers racing from separate
threads and connections on one revision, exactly one wins; the others get Conflict."""

from __future__ import annotations

import threading

import pytest

from ailayer.bootstrap import build
from ailayer.core.errors import Conflict
from ailayer.rollout.policy import requested
from tests.support.api import make_api
from tests.support.deployments import two_versions, variant
from tests.support.services import scratch_postgres_database

RACERS = 8


@pytest.fixture
def api(make_settings):  # type: ignore[no-untyped-def]
    with scratch_postgres_database() as url:
        services = build(make_settings(metadata_url=url))
        made = make_api(services)
        yield made
        made.client.close()
        services.close()


def race(count: int, write) -> list[object]:  # type: ignore[no-untyped-def]
    """Run ``write(i)`` in ``count`` threads released at once; each result or error."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = write(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_one_of_many_transitions_on_a_revision_wins(api) -> None:  # type: ignore[no-untyped-def]
    two_versions(api)
    store = api.services.deployments
    body = {
        "kind": "canary",
        "variants": [
            {k: v for k, v in variant(name, version).items() if k != "share"}
            for name, version in (("stable", 1), ("canary", 2))
        ],
    }
    deployed = store.put(api.tenant_id, "person", requested("checkout", body))
    moves = [deployed.at_step(1), deployed.rolled_back("breach")]
    results = race(
        RACERS,
        lambda i: store.transition(api.tenant_id, f"writer-{i}", deployed.revision, moves[i % 2]),
    )
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and all(isinstance(r, Conflict) for r in lost), results
    now = store.active(api.tenant_id, "checkout")
    assert now.revision == 2 and now.state == won[0].state
    assert [h["revision"] for h in store.history(api.tenant_id, "checkout")] == [2, 1]


def test_one_of_many_first_deployments_wins(api) -> None:  # type: ignore[no-untyped-def]
    two_versions(api)
    store = api.services.deployments
    policy = requested("fresh", {"variants": [variant("main", 1, 100)]})
    results = race(RACERS, lambda i: store.transition(api.tenant_id, f"w{i}", 0, policy))
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    assert store.active(api.tenant_id, "fresh").revision == 1
