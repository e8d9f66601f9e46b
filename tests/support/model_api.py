"""A real model API on loopback for provider tests, misbehaving on demand.

It answers OpenAI-style ``/chat/completions`` and ``/embeddings`` and any other path as a
JSON scorer (``{"result": {"score": <sum of the record's numbers>}}``). ``plan(...)``
queues behaviours for the next requests, then it answers normally again; ``always``
gives a path one behaviour for every request not planned otherwise (a model API that is
down, or always slow):

- ``"ok"``: a correct answer;
- ``"slow"``: a correct answer after ``slow_seconds``;
- ``"500"``, ``"401"`` …: that status with an empty JSON object; ``"302:<url>"``, a
  status and a ``Location`` (a redirect; GETs are recorded too, so a followed 302 shows);
- ``"reset"``: the connection is reset without an answer;
- ``"bad-json"``: 200 with a body that is not JSON.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        """Resets and clients that gave up on a slow answer are the point here."""


class ModelApi:
    def __init__(self, slow_seconds: float = 1.0, always: dict[str, str] | None = None) -> None:
        self.slow_seconds = slow_seconds
        self.always = dict(always or {})
        self.seen: list[Seen] = []
        self._plan: deque[str] = deque()
        self._lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def plan(self, *behaviours: str) -> None:
        with self._lock:
            self._plan.extend(behaviours)

    def _next(self, path: str) -> str:
        with self._lock:
            return self._plan.popleft() if self._plan else self.always.get(path, "ok")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> ModelApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = orjson.loads(raw) if raw else None
                api.seen.append(Seen(self.path, dict(self.headers), body))
                behaviour = api._next(self.path)
                if behaviour == "reset":
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                    self.close_connection = True
                    return
                if behaviour == "slow":
                    time.sleep(api.slow_seconds)
                status, _, location = behaviour.partition(":")
                if status.isdigit():
                    self._send(int(status), b"{}", {"Location": location} if location else None)
                elif behaviour == "bad-json":
                    self._send(200, b"<html>not json</html>")
                else:
                    self._send(200, orjson.dumps(answer(self.path, body)))

            def do_GET(self) -> None:
                api.seen.append(Seen(self.path, dict(self.headers), None))
                self._send(405, b"{}")

            def _send(
                self, status: int, payload: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                return None

        return Handler


def answer(path: str, body: Any) -> dict[str, Any]:
    """What a working model API says to ``body``."""
    if path.endswith("/chat/completions"):
        said = body["messages"][-1]["content"]
        return {
            "choices": [{"message": {"role": "assistant", "content": f"echo: {said}"}}],
            "usage": {"prompt_tokens": len(said.split()), "completion_tokens": 2},
        }
    if path.endswith("/embeddings"):
        text = body["input"]
        return {
            "data": [{"embedding": [float(len(text)), float(text.count(" ")), 0.5]}],
            "usage": {"prompt_tokens": len(text.split()), "total_tokens": len(text.split())},
        }
    numbers = [v for v in body.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    return {"result": {"score": sum(numbers)}}
