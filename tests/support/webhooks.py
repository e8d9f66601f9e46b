"""A real webhook receiver on loopback for alert tests: records what it is sent, answers
scripted statuses (then 200), and can hold its answers until ``gate`` is set; with ``tls``
it answers over HTTPS."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


class WebhookReceiver:
    def __init__(
        self, port: int = 0, *, held: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict, bytes]] = []
        self.gate = threading.Event()
        if not held:
            self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                receiver.gate.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:  # HTTPS with the given server context
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self) -> list[dict]:
        return [orjson.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
