"""The predict routes as plain ASGI: answered ahead of FastAPI's router and dependencies.

``POST /v1/predict/{endpoint}`` and the Open Inference Protocol's ``infer`` routes are
the hot path; for a one-record request, matching it against every route and solving its
dependency graph cost more than the prediction. ``PredictFastPath`` sits inside the
app's own middleware (tracing, metrics and the body limit see it as before) and answers
those requests with inline checks in the routes' order: a caller over its request rate
(429, answered before anything else is done for it: ``refusal.py``), the key or token
(401, 403
without the ``predict`` permission or for an endpoint outside the key's scope), the
content type (415), then the body. The answer comes from
the same functions the FastAPI routes call, and errors from the same ``error_response``,
so bodies and statuses are the routes' own. A request whose path or query FastAPI would
have to judge (a name outside the naming rule, an unreadable ``explain``) is handed on
to FastAPI unchanged, and its route answers as it always did; the routes also stay
declared there for the OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ailayer.api.auth import authenticate, check_scope
from ailayer.api.content import JSON, require_content
from ailayer.api.errors import error_response
from ailayer.api.refusal import Refusals, credential
from ailayer.api.routes import oip, predict
from ailayer.core.errors import AilayerError
from ailayer.core.names import NAME_PATTERN
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Permission

PREDICT_PATH = re.compile(r"/v1/predict/([^/]+)")
INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
VERSION = re.compile(r"[1-9][0-9]{0,9}")
MAX_VERSION = 2**31 - 1  # as the route's ``Version`` parameter
# what the routes' ``bool`` query parameters read (pydantic, case-insensitive); any
# other value is FastAPI's to refuse
TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE = frozenset({"0", "off", "f", "false", "n", "no"})

Answer = Callable[[Request, Principal], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Template:
    """What ``scope["route"]`` tells metrics and tracing: the route's path template."""

    path: str


class PredictFastPath:
    """Pure ASGI: answers the predict routes' usual requests, hands on everything else."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self.routes = ROUTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            found = self._match(scope)
            if found is not None:
                await self._serve(scope, receive, send, *found)
                return
        await self.app(scope, receive, send)

    def _refusals(self) -> Refusals | None:
        """The early refusal of limited callers, when request rates are on (the app's:
        ``refusals_of``)."""
        return self.api.state.refusals

    def _match(self, scope: Scope) -> tuple[Template, dict, Answer] | None:
        """The route, its path parameters and the answer, for a request this layer takes."""
        path = scope["path"]
        matched = PREDICT_PATH.fullmatch(path)
        if matched is not None:
            endpoint = matched.group(1)
            flags = _flags(scope["query_string"])
            if flags is None or not NAME_PATTERN.fullmatch(endpoint):
                return None

            async def answer_predict(request: Request, principal: Principal) -> Response:
                return await predict.answer(request, principal, endpoint, *flags)

            params = {"endpoint": endpoint}
            return self.routes[predict.PATH], params, answer_predict
        matched = INFER_PATH.fullmatch(path)
        if matched is None:
            return None
        name, raw_version = matched.groups()
        if not NAME_PATTERN.fullmatch(name):
            return None
        version = None
        if raw_version is not None:
            if not VERSION.fullmatch(raw_version) or int(raw_version) > MAX_VERSION:
                return None
            version = int(raw_version)

        async def answer_infer(request: Request, principal: Principal) -> Response:
            return await oip.infer_answer(request, principal, name, version)

        if version is None:
            return self.routes[oip.INFER_PATH], {"name": name}, answer_infer
        params = {"name": name, "version": version}
        return self.routes[oip.INFER_VERSION_PATH], params, answer_infer

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Template,
        params: dict,
        answer: Answer,
    ) -> None:
        scope["app"] = self.api
        scope["route"] = route  # metrics and tracing name the request by its template
        scope["path_params"] = params
        refusals, key, taken = self._refusals(), None, False
        if refusals is not None:  # the rate first: a refusal reads nothing (refusal.py)
            key = credential(scope)
            known = refusals.known(key)
            if known is not None:
                if await refusals.refused(known, scope, send):
                    return
                taken = True
        request = Request(scope, receive)
        try:
            principal = await authenticate(request, limit=refusals is None)
            if refusals is not None and not taken:  # first seen: remembered, then limited
                entry = refusals.remember(key, principal)
                if entry is not None and await refusals.refused(entry, scope, send):
                    return
            principal.require(Permission.PREDICT)
            check_scope(principal, scope["path"], params)
            require_content(request, JSON)
            response = await answer(request, principal)
        except AilayerError as exc:  # as the app's handler answers it
            response = error_response(exc, self.api.state.scrub_paths, scope["path"])
        await response(scope, receive, send)


ROUTES = {path: Template(path) for path in (predict.PATH, oip.INFER_PATH, oip.INFER_VERSION_PATH)}


def template_of(path: str) -> Template | None:
    """The predict route a path is for (what metrics name it by), or None."""
    if PREDICT_PATH.fullmatch(path):
        return ROUTES[predict.PATH]
    matched = INFER_PATH.fullmatch(path)
    if matched is None:
        return None
    return ROUTES[oip.INFER_PATH if matched.group(2) is None else oip.INFER_VERSION_PATH]


def refusals_of(api: FastAPI) -> Refusals | None:
    """The app's refusal of limited callers (one per app: the credentials it knows are
    shared by the fast path and the HTTP protocol's early refusal), when rates are on."""
    services = api.state.services
    if not services.limiter.on:
        return None
    return Refusals(services.limiter, services.keys.cache_seconds, api.state.scrub_paths)


def _flags(query: bytes) -> tuple[bool, bool, bool] | None:
    """``(explain_features, explain, columns)`` from the query, or None for a value
    FastAPI must judge. Like Starlette's parser: the last of repeated values counts."""
    if not query:
        return False, False, False
    values = {"explain": False, "explain_features": False, "columns": False}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in values:
            lowered = value.lower()
            if lowered not in TRUE and lowered not in FALSE:
                return None
            values[name] = lowered in TRUE
    return values["explain_features"], values["explain"], values["columns"]
