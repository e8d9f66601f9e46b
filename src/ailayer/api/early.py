"""Refusing a limited caller in the HTTP protocol, before the ASGI app is called at all.

A refusal through the app (``refusal.py``) costs about 20 µs of the app's code, and
uvicorn spends more than that around it: a task, a request-response cycle, the scope and
the ASGI messages, and every middleware on the way in and out. A tenant sending ten times
its rate makes the server do that nine times in ten, on the cores its neighbours' requests
need. So ``ailayer serve`` runs uvicorn with ``EarlyRefusalProtocol``: uvicorn's httptools
protocol with one step more. Once a request's headers are parsed, it asks the app's
``EarlyRefusal`` whether this is a predict request (``POST /v1/predict/...`` or a v2
``infer``) from a credential the app already knows (``Refusals``: authenticated, recently)
whose rate is used up; if so, it writes the same 429 the app would have sent (status,
``Retry-After``, body) straight to the connection, counts it in the app's metrics, and
lets the body go by unread. Nothing is taken from the buckets here: a request that is not
over its rate goes on to the app, which takes its tokens as before.

Only what can be judged without waiting is judged here: with the buckets shared through
Redis, with a request pipelined behind one still being answered, for a path with escapes
or a ``root_path``, or a credential not yet known, the request goes to the app as it
always did. Refusals answered here are not traced (the app's tracing middleware never
sees them); their count and latency are in ``/metrics`` under the route's template.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ailayer.api.fastpath import template_of
from ailayer.api.metrics import AppMetrics
from ailayer.api.refusal import Refusals, credential
from ailayer.api.turns import FairTurns

STATUS_LINE = b"HTTP/1.1 429 Too Many Requests\r\n"
# the steps of uvicorn's httptools protocol this one extends or calls (uvicorn 0.55)
EXTENDED_STEPS = ("on_headers_complete", "_start_asgi_task", "on_response_complete")
logger = logging.getLogger(__name__)
Refusal = tuple[list[tuple[bytes, bytes]], bytes]  # the 429's headers and body


class EarlyRefusal:
    """The app's side: whether a parsed request is refused, and its answer as bytes."""

    def __init__(self, refusals: Refusals, metrics: AppMetrics) -> None:
        self.refusals = refusals
        self.metrics = metrics
        self.turns = FairTurns()

    def judge(
        self, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[Refusal | None, str | None]:
        """For a predict request from a known caller: the 429's headers and body when it
        is over its rate, else its tenant (whose turn it takes: ``turns.py``). ``(None,
        None)``: the app judges it."""
        if method != b"POST" or self.refusals.limiter.shared is not None:
            return None, None
        path = url.split(b"?", 1)[0].decode("latin-1")
        route = None if "%" in path else template_of(path)  # escapes: the app's to read
        if route is None:
            return None, None
        started = time.perf_counter()
        scope: dict[str, Any] = {"headers": headers, "method": "POST", "route": route}
        entry = self.refusals.known(credential(scope))
        if entry is None:
            return None, None
        waits = self.refusals.limiter.local.waits(entry.buckets)
        if not any(waits):
            return None, entry.principal.tenant_id
        answer = self.refusals.answer(entry, waits, path)
        self.metrics.observe(scope, 429, time.perf_counter() - started)
        return answer, None


class Unawaited:
    """An event nobody waits for: the answered cycle's, which uvicorn sets on close."""

    def set(self) -> None:
        pass


class Answered:
    """The request-response cycle of a request answered here: complete, so the protocol
    lets its body go by, and keeps the connection alive for the next request; what the
    protocol touches when the connection closes is there too."""

    response_complete = True
    disconnected = False
    message_event = Unawaited()


class EarlyRefusalProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing known callers over their rate on their
    headers (``EarlyRefusal``, found on the app as ``app.state.early_refusal``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.early: EarlyRefusal | None = _find_early(self.app)
        self.turn: str | None = None  # the tenant whose turn the next task takes

    def on_headers_complete(self) -> None:
        early = self.early
        if (
            early is not None
            and not self.root_path
            and not self.pipeline
            and (self.cycle is None or self.cycle.response_complete)
        ):
            refused, self.turn = early.judge(self.parser.get_method(), self.url, self.headers)
            if refused is not None:
                self._refuse(*refused)
                return
        try:
            super().on_headers_complete()
        finally:
            self.turn = None

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        """uvicorn's, with a judged request's app counted in its tenant's turns."""
        if self.turn is not None and self.early is not None:
            app = self.early.turns.taking_turns(app, self.turn)
            self.turn = None
        super()._start_asgi_task(cycle, app)

    def _refuse(self, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> None:
        pieces = [STATUS_LINE]
        for name, value in (*self.server_state.default_headers, *headers):
            pieces += [name, b": ", value, b"\r\n"]
        keep_alive = self.parser.should_keep_alive()
        if not keep_alive:
            pieces.append(b"connection: close\r\n")
        pieces += [b"\r\n", body]
        self.transport.write(b"".join(pieces))
        self.cycle = Answered()  # type: ignore[assignment]
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()


def uvicorn_protocol() -> str:
    """The HTTP protocol ``ailayer serve`` gives uvicorn: this one, where uvicorn's
    httptools protocol still has the steps it extends; else uvicorn's own, with a warning.
    Nothing is lost but speed: the app refuses those callers itself (``refusal.py``)."""
    missing = [step for step in EXTENDED_STEPS if not hasattr(HttpToolsProtocol, step)]
    if missing:
        logger.warning(
            "this uvicorn's HTTP protocol has no %s: requests over their rate are refused "
            "by the app, not on their headers",
            ", ".join(missing),
        )
        return "auto"
    return f"{__name__}:{EarlyRefusalProtocol.__qualname__}"


def _find_early(app: Any) -> EarlyRefusal | None:
    """The app's ``EarlyRefusal`` (uvicorn may wrap the app in middleware of its own)."""
    for _ in range(8):
        state = getattr(app, "state", None)
        found = getattr(state, "early_refusal", None) if state is not None else None
        if found is not None:
            return found
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
