"""The prediction log written by a child process (``log_process``): the same rows as the
in-process log, flush means stored, a dead serving process's entries are still written,
a dead child's journal is replayed by the next one, and PII never crosses unhashed into
a file."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ailayer.bootstrap import build
from ailayer.core.ids import new_id_block
from ailayer.monitoring.log import PredictionLog
from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.payload import BINARY_ROWS
from ailayer.monitoring.log.process import LogProcess, decode_entries, encode_entries
from ailayer.monitoring.log.sink import ParquetSink
from tests.support.log_records import items, target

COLUMNS = (
    "prediction_id",
    "model",
    "version",
    "alias",
    "request_row",
    "features",
    "prediction",
    "score",
)


@pytest.fixture
def process_services(make_settings, tmp_path):  # type: ignore[no-untyped-def]
    built = build(make_settings(home=tmp_path / "with-process", log_process=True))
    yield built
    built.close()


def _rows(log: PredictionLog, tenant: str) -> list[tuple]:
    table = log.query(tenant, "fraud").to_pylist()
    return sorted(tuple(row[c] for c in COLUMNS) for row in table)


def _record_some(log: PredictionLog, tenant: str, start: int = 0) -> None:
    rows = [{"amount": float(i), "country": "FR"} for i in range(3)]
    log.record(tenant, target(), rows, items(3, start), time.perf_counter())
    log.record(tenant, target(), rows[:1], items(1, start + 3), time.perf_counter())


def test_the_log_process_stores_the_rows_the_in_process_log_stores(
    process_services, services
) -> None:  # type: ignore[no-untyped-def]
    stored = []
    for built in (process_services, services):
        log = built.prediction_log
        tenant = built.keys.create_tenant("acme")
        _record_some(log, tenant)
        assert log.flush() == 4
        stored.append(_rows(log, tenant))
    assert isinstance(process_services.prediction_log.backend, LogProcess)
    assert not isinstance(services.prediction_log.backend, LogProcess)
    assert stored[0] == stored[1] and len(stored[0]) == 4


def test_entries_cross_as_they_were_and_unencodable_ones_are_counted() -> None:
    good = Entry("t1", target(tags={"pii": "email"}), 5, 1.5, [{"a": 1.0}], items(1))
    failed = Entry("t1", target(), 6, 2.0, None, None, "model_error: boom", "abc")
    payload, lost = encode_entries([good, failed])
    back = decode_entries(payload)
    assert lost == 0
    assert [(e.tenant_id, e.time_ns, e.latency_ms, e.rows, e.error) for e in back] == [
        ("t1", 5, 1.5, [{"a": 1.0}], None),
        ("t1", 6, 2.0, None, "model_error: boom"),
    ]
    assert _plain(back[0].prediction_columns()) == _plain(good.prediction_columns())
    assert back[1].prediction_id == "abc" and not back[1].answered
    assert back[0].target.key == target().key and back[0].target.version.tags == {"pii": "email"}

    strange = Entry("t1", target(), 7, 1.0, [{"a": object()}], items(1))
    payload, lost = encode_entries([good, strange])
    assert lost == 1 and len(decode_entries(payload)) == 1


def _plain(columns: tuple) -> list:
    """Columns as lists, whether they crossed as lists or as Arrow / NumPy arrays."""
    return [
        c.to_pylist() if isinstance(c, pa.Array) else None if c is None else list(c)
        for c in columns
    ]


def test_ids_and_scores_cross_as_they_were_whatever_their_shape() -> None:
    """Ids of one width cross as one text and float scores as float64; ids of mixed
    widths or non-ASCII, scores with a gap or an int, and small entries cross as JSON;
    all unchanged."""
    n = BINARY_ROWS
    cases = [
        (["a" * 32, "b" * 32] * n, [0.25, 1e-300] * n, True),
        (["short", "longer-id"] * n, [0.5, None] * n, False),
        (["é" * 4, "abcd"] * n, [1, 0.5] * n, False),
        (["x", "y"] * n, None, True),
        (["a" * 32, "b" * 32], [0.25, 1e-300], False),
    ]
    for ids, scores, binary in cases:
        rows = len(ids)
        entry = Entry("t1", target(), 5, 1.0, [{"a": 1.0}] * rows, None)
        entry.columns = (ids, [True, False] * (rows // 2), scores, None)
        back = decode_entries(encode_entries([entry])[0])[0]
        assert _plain(back.prediction_columns()) == _plain(entry.columns)
        assert isinstance(back.prediction_columns()[0], pa.Array) is binary
        assert isinstance(back.prediction_columns()[2], np.ndarray) is (binary and bool(scores))


@pytest.mark.parametrize("rows", [1, BINARY_ROWS, 1000])
def test_an_id_block_crosses_as_its_buffer_and_is_stored_as_its_texts(rows: int) -> None:
    """The predict path hands the ids over as made (``IdBlock``); the child reads the
    same texts the caller was given, and the in-process sink stores them too."""
    block = new_id_block(rows)
    entry = Entry("t1", target(), 5, 1.0, [{"a": 1.0}] * rows, None)
    entry.columns = (block, [1] * rows, [0.5] * rows, None)
    payload, lost = encode_entries([entry])
    back = decode_entries(payload)[0]

    assert lost == 0
    assert _plain(back.prediction_columns())[0] == block.texts()
    assert (block.raw in payload) is (rows >= BINARY_ROWS)
    table = ParquetSink(lambda tenant: None, None).table([entry])  # type: ignore[arg-type]
    assert table.column("prediction_id").to_pylist() == block.texts()


@pytest.mark.parametrize(
    "body",
    [b'{"a": 1.0}', b'[{"a": 1.0}, {"a": 2.0}]', b' {"records": [{"a": 1.0}, {"a": 2.0}]} '],
)
def test_a_predict_body_is_handed_over_as_it_came_and_read_as_its_records(body: bytes) -> None:
    import orjson

    from ailayer.core.records import records_of

    rows = records_of(orjson.loads(body))
    entry = Entry("t1", target(), 5, 1.0, rows, items(len(rows)), raw=body)
    payload, _ = encode_entries([entry])
    assert body in payload  # not encoded again, not parsed by the child either
    back = decode_entries(payload)[0]
    assert back.raw == body and back.model_rows() == rows


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 900.0, "card_age_days": 3},
        [{"amount": 10.0 * i, "card_age_days": i} for i in range(3)],
        {"records": [{"card_age_days": 2, "amount": 5.5}]},
    ],
)
def test_a_served_request_is_logged_from_its_body_as_from_its_rows(
    make_settings, tmp_path, body
) -> None:  # type: ignore[no-untyped-def]
    """Through the app: the log process, handed the body, stores the rows the in-process
    log stores from the parsed records."""
    from tests.support.api import make_api
    from tests.support.services import tiny_sklearn_model

    stored = []
    for name, process in (("p", True), ("t", False)):
        built = build(make_settings(home=tmp_path / name, log_process=process))
        api = make_api(built)
        try:
            assert (
                api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
            )
            answer = api.client.post("/v1/predict/fraud", json=body, headers=api.headers())
            assert answer.status_code == 200, answer.text
            built.prediction_log.flush()
            rows = built.prediction_log.query(api.tenant_id, "fraud").to_pylist()
            stored.append(sorted((r["request_row"], r["features"]) for r in rows))
        finally:
            api.client.close()
            built.close()
    assert stored[0] == stored[1] and stored[0]


def test_what_a_dead_serving_process_handed_over_is_still_written(process_services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = process_services.prediction_log
    tenant = process_services.keys.create_tenant("acme")
    _record_some(log, tenant)
    log.stage()  # handed to the child; then the serving process "dies": its pipe closes
    child = log.backend._child
    log.backend._child = None
    child.stdin.close()
    child.wait(timeout=60)

    assert len(_rows(log, tenant)) == 4


def test_a_killed_log_process_is_replaced_and_its_journal_replayed(process_services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = process_services.prediction_log
    tenant = process_services.keys.create_tenant("acme")
    _record_some(log, tenant)
    log.stage()
    journal = process_services.settings.home / "journal"
    deadline = time.monotonic() + 30
    while not list(journal.glob("*.journal")) and time.monotonic() < deadline:
        time.sleep(0.01)  # the child journals what it was handed
    os.kill(log.backend._child.pid, signal.SIGKILL)
    log.backend._child.wait()

    _record_some(log, tenant, start=4)
    log.stage()  # finds the child gone: starts another, which replays the journal first
    log.flush()

    assert log.backend.replayed == 4
    assert len(_rows(log, tenant)) == 8


def test_pii_is_hashed_in_the_files_the_log_process_writes(process_services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = process_services.prediction_log
    tenant = process_services.keys.create_tenant("acme")
    secret = "alice@example.com"
    tagged = target(tags={"pii": "email"})
    log.record(tenant, tagged, [{"amount": 1.0, "email": secret}], items(1), time.perf_counter())
    assert log.flush() == 1
    files = list((process_services.settings.home).rglob("*.parquet"))
    assert files and all(secret.encode() not in f.read_bytes() for f in files)
    assert secret not in str(log.query(tenant, "fraud").to_pylist())


def test_close_writes_everything_and_ends_the_child(process_services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = process_services.prediction_log
    tenant = process_services.keys.create_tenant("acme")
    _record_some(log, tenant)
    log.stage()
    child = log.backend._child
    log.close()
    assert child.poll() == 0
    assert len(_rows(log, tenant)) == 4 and log.written == 4


def test_the_log_writer_hands_over_as_it_goes_and_stop_writes_everything(process_services) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from ailayer.monitoring.log import LogWriter

    log: PredictionLog = process_services.prediction_log
    tenant = process_services.keys.create_tenant("acme")

    async def run() -> None:
        async with LogWriter(log, interval=0.3):
            for start in range(0, 40, 4):
                _record_some(log, tenant, start)
                await asyncio.sleep(0.05)
            deadline = time.monotonic() + 30
            while log.buffer.rows and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # handed over without waiting for a write
            assert log.buffer.rows == 0

    asyncio.run(run())
    assert len(_rows(log, tenant)) == 40 and log.written == 40 and log.dropped == 0


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="Linux pipes only")
def test_the_hand_off_pipe_holds_several_large_payloads(process_services) -> None:  # type: ignore[no-untyped-def]
    """A 1,000-row payload is about 170 KB; with the default 64 KiB pipe every hand-off
    waited on the child, also while it wrote a part file."""
    import fcntl

    from ailayer.monitoring.log.process import PIPE_BYTES

    backend = process_services.prediction_log.backend
    backend.recover()  # starts the child
    size = fcntl.fcntl(backend._stdin().fileno(), fcntl.F_GETPIPE_SZ)
    cap = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    assert size >= min(PIPE_BYTES, cap)
