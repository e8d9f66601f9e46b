"""Events: the lag of the consumer groups on the topics named in ``console_topics``, and
a topic's dead letters of the signed-in tenant, with replay.

Replay republishes the tenant's dead letters of the topic (among the first 100 held)
to the topic each failed on, through the same function as ``ailayer events dlq replay``;
other tenants' letters are handed back untouched. It needs ``monitoring:write``, the
form's CSRF token, and is recorded in the audit log with the replayed ids. Pressing it
twice replays nothing twice: a replayed letter is acked, so it is no longer there.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ailayer.core.errors import BackendUnavailable
from ailayer.core.names import check_bus_name
from ailayer.dashboard.access import acts, can, reads, services_of
from ailayer.dashboard.pages.page import Page
from ailayer.dashboard.reads import events as read_events
from ailayer.dashboard.render import render
from ailayer.dashboard.sections import Unavailable
from ailayer.dashboard.sessions import Session
from ailayer.governance import audit
from ailayer.governance.roles import Permission

router = APIRouter()
PAGE = Page("Events", "/events", Permission.MONITORING_READ, router)
Reader = Annotated[Session, Depends(reads(PAGE.permission))]
Replayer = Annotated[Session, Depends(acts(Permission.MONITORING_WRITE))]
BUS = "the event bus"


@router.get("/events", response_class=HTMLResponse)
async def events(
    request: Request,
    session: Reader,
    topic: Annotated[str, Query(max_length=200)] = "",
    replayed: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    services = services_of(request)
    topics = services.settings.console_topics
    chosen = check_bus_name("topic", topic.strip()) if topic.strip() else ""
    lags = await read_events.lags(services.bus, topics)  # a broker down: said per row
    letters: object = None
    if chosen:
        try:
            letters = await read_events.dead_letters(
                services.bus, session.principal.tenant_id, chosen
            )
        except BackendUnavailable as exc:
            letters = Unavailable(BUS, exc.message)
    return render(
        request,
        "events.html",
        topics=sorted(topics),
        lags=lags,
        topic=chosen,
        letters=letters,
        replayed=replayed,
        may_replay=can(session.principal, Permission.MONITORING_WRITE),
    )


@router.post("/events/{topic}/replay")
async def replay(topic: str, request: Request, session: Replayer) -> Response:
    check_bus_name("topic", topic)
    services = services_of(request)
    principal = session.principal
    done = await read_events.replay(services.bus, principal.tenant_id, topic)

    def record() -> None:
        with services.db.write() as conn:
            audit.record(
                conn,
                principal.tenant_id,
                principal.actor,
                "events.replay",
                f"topic/{topic}",
                replayed=[event_id for _, event_id in done],
                to=sorted({t for t, _ in done}),
            )

    if done:
        await run_in_threadpool(record)
    base = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(
        f"{base}/events?topic={quote(topic)}&replayed={len(done)}", status_code=303
    )
