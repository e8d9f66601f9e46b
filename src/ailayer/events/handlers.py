"""What a consumer runs for each event, and how a ``module:function`` path becomes one.

A handler is ``async def handle(event: Event) -> None`` or a plain ``def`` with the same
shape (run in a worker thread so that it cannot stall the event loop). The contract:

- **Return** = the event is applied. The runner records its id as processed for the group
  and the event's tenant, and acks it; a redelivery of that id is acked without calling the
  handler again.
- **Return ``SKIPPED``** = not this handler's event (another tenant's, another type): the
  runner acks it and counts it (``stats.skipped``) but records nothing, so a skipped id
  never stands for an event the group did apply, nor takes room in the store's retention.
- **Raise** = it failed. The runner retries it with backoff and, after ``max_attempts``
  deliveries, dead-letters it with the error. Raise ``BackendUnavailable`` for an outage of
  something the handler needs: that is retried without limit and never dead-lettered.
- **At least once.** A handler can run more than once for one event (a crash after it
  returned but before the id was recorded, or a lease that ran out). Make its effect
  idempotent, or write it through the store's ``apply`` (SQLite and Redis backends) so
  that the effect and the processed-id record commit together (exactly once on that store).
- Handlers of one runner run concurrently (``concurrency``); with ``concurrency=1`` they run
  one at a time in delivery order.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.events.envelope import Event


class Skipped(enum.Enum):
    """The type of ``SKIPPED``, what a handler returns for an event it does not handle."""

    SKIPPED = "skipped"


SKIPPED = Skipped.SKIPPED
Handler = Callable[[Event], Awaitable[Skipped | None] | Skipped | None]


def is_async(handler: Callable[..., Any]) -> bool:
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects too
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def as_async(handler: Handler) -> Callable[[Event], Awaitable[Any]]:
    """The handler as a coroutine function; a sync one runs in a worker thread."""
    if is_async(handler):
        return handler  # type: ignore[return-value]

    @functools.wraps(handler)
    async def threaded(event: Event) -> Any:
        return await asyncio.to_thread(handler, event)

    return threaded


def load_handler(path: str) -> Handler:
    """Import ``package.module:function`` and return the function."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise InvalidInput(
            f"handler must look like package.module:function; got {path!r}", field="handler"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r}: {exc}", field="handler") from None
    target: Any = module
    for name in attribute.split("."):
        target = getattr(target, name, None)
    if not callable(target):
        raise InvalidInput(f"{path!r} is not a callable in {module_name}", field="handler")
    return target
