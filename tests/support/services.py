"""Test helpers that stand up real ailayer pieces: databases, servers, keys, models."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import psycopg
import uvicorn

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    name = f"ailayer_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def live_server(app, **options) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve an ASGI app with uvicorn in a thread on a free loopback port (``options``:
    more of ``uvicorn.Config``'s, such as ``http``)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


FEATURES = ("amount", "card_age_days")
SIGNATURE = {"inputs": [{"name": n, "type": "double"} for n in FEATURES]}


@dataclass
class TinyModel:
    """A small, real classifier: fraud when amount is large and the card is new."""

    artifact: bytes
    signature: dict
    estimator: object


def tiny_sklearn_model(seed: int = 0, flip: bool = False) -> TinyModel:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(0, 1000, 400), rng.uniform(0, 365, 400)])
    y = (x[:, 0] > 600) & (x[:, 1] < 100)
    estimator = LogisticRegression(max_iter=500).fit(x, ~y if flip else y)
    return TinyModel(sio.dumps(estimator), SIGNATURE, estimator)


def upload_form(model: TinyModel, **metadata) -> dict:  # type: ignore[no-untyped-def]
    meta = {"flavor": "sklearn", "signature": model.signature, **metadata}
    return {
        "files": {"artifact": ("model.skops", model.artifact)},
        "data": {"metadata": json.dumps(meta)},
    }
