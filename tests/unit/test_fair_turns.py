"""A tenant's burst lets another tenant's waiting request go first, once; a tenant alone
is never reordered, and every counted request is uncounted when it starts."""

from __future__ import annotations

import asyncio

from ailayer.api.turns import FairTurns


def run_in_arrival_order(turns: FairTurns, tenants: list[str]) -> list[str]:
    """Start one task per request in arrival order (as the HTTP protocol does) and return
    the order in which their handlers ran."""
    ran: list[str] = []

    async def main() -> None:
        tasks = []
        for index, tenant in enumerate(tenants):
            name = f"{tenant}{index}"

            async def handler(scope: dict, receive: object, send: object, name: str = name) -> None:
                ran.append(name)  # the whole handler runs without giving up the loop

            app = turns.taking_turns(handler, tenant)
            tasks.append(asyncio.ensure_future(app({}, None, None)))
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return ran


def test_another_tenants_request_is_not_kept_behind_a_burst() -> None:
    turns = FairTurns()
    ran = run_in_arrival_order(turns, ["a"] * 5 + ["b"])
    assert ran.index("b5") == 1  # behind at most one of the burst, not all five
    assert sorted(ran) == sorted(["a0", "a1", "a2", "a3", "a4", "b5"])
    assert [name for name in ran if name.startswith("a")] == ["a4", "a0", "a1", "a2", "a3"]
    assert turns.yielded == 4
    assert turns.waiting == {} and turns.total == 0


def test_a_tenant_alone_keeps_its_order_and_never_waits() -> None:
    turns = FairTurns()
    assert run_in_arrival_order(turns, ["a"] * 4) == ["a0", "a1", "a2", "a3"]
    assert turns.yielded == 0


def test_single_requests_of_many_tenants_keep_their_order() -> None:
    turns = FairTurns()
    assert run_in_arrival_order(turns, ["a", "b", "c"]) == ["a0", "b1", "c2"]
    assert turns.yielded == 0


def test_a_start_never_counted_does_not_go_below_zero() -> None:
    turns = FairTurns()
    assert turns.start("a") is False
    assert turns.waiting == {} and turns.total == 0
