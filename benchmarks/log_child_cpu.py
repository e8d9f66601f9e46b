"""CPU time the prediction log's child process spends per 1,000-row predict request.

No server: this script builds the hand-off payloads the serving process sends for
1,000-record batch requests of the demo fraud model (bodies as ``batch_cpu.py`` sends
one, ``BODIES`` different ones in turn; ids as an ``IdBlock``, 0/1 predictions, float scores, by ``encode_pieces``), writes
their frames to a file, and has a ``cat`` process pour that file into a pipe. It then
runs the child's own path on them, as ``process.serve`` does: read a frame, stage the
payload (decode, journal), and every ``--write-every`` payloads write the part files
(build the tables, encode Parquet), inline rather than in the writer thread (the CPU is
the same; ``time.process_time`` counts every thread). Only that loop is timed.

Each measured run is a process of its own, importing the sources it is pointed at, so
``--against DIR`` (a checkout's root, e.g. a worktree of the base commit) runs the same
loop on other code: the two alternate round by round, the order swapped each round, and
the medians are printed with their ratio. Per run: CPU ms per 1,000-row request in all,
and split by phase (reading the pipe, decoding, the journal, building parts, writing
Parquet), and the Parquet bytes per 1,000 rows.

Run from the repository root:

    python benchmarks/log_child_cpu.py                        # ~10 s
    python benchmarks/log_child_cpu.py --against ../base --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import median

ROOT = Path(__file__).resolve().parent.parent
BATCH_ROWS = 1_000
BODIES = 20  # different predict bodies, sent in turn
PHASES = ("read", "decode", "journal", "parts", "parquet")


def batch_bodies(count: int) -> list[bytes]:
    """``count`` different bodies of 1,000 records, as ``batch_cpu.py`` sends one
    (``json.dumps`` of a list of records): a log of one body repeated would compress
    far better than real traffic does."""
    from ailayer.simulate import fraud_training_frame, simulate

    frame, _labels = fraud_training_frame(simulate(seed=3, n_payments=count * BATCH_ROWS + 200))
    records = frame.head(count * BATCH_ROWS).astype(float).to_dict(orient="records")
    return [
        json.dumps(records[i * BATCH_ROWS : (i + 1) * BATCH_ROWS]).encode() for i in range(count)
    ]


def payload_frames(count: int, per_payload: int) -> list[list[bytes]]:
    """``count`` entries frames' pieces, ``per_payload`` 1,000-row entries each, as the
    serving process encodes them (``LogProcess.stage``)."""
    import numpy as np

    from ailayer.core.ids import new_id_block
    from ailayer.monitoring.log.buffer import Entry
    from ailayer.monitoring.log.payload import LoggedTarget, LoggedVersion, encode_pieces

    bodies = batch_bodies(BODIES)
    target = LoggedTarget("fraud", "fraud", "champion", LoggedVersion(1, {}, ("fraud", 1)))
    rng = np.random.default_rng(3)
    frames = []
    for index in range(count):
        entries = []
        for at in range(per_payload):
            body = bodies[(index * per_payload + at) % len(bodies)]
            scores = rng.random(BATCH_ROWS)
            columns = (
                new_id_block(BATCH_ROWS),
                (scores >= 0.5).astype(int).tolist(),
                scores.tolist(),
                None,
            )
            entry = Entry(
                "acme", target, time.time_ns(), 12.5, None, None, raw=body, columns=columns
            )  # type: ignore[arg-type]
            entries.append(entry)
        pieces, failed = encode_pieces(entries)
        assert failed == 0
        frames.append(pieces)
    return frames


class Timed:
    """CPU seconds spent in the wrapped calls, by phase."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)

    def wrap(self, phase: str, call):  # type: ignore[no-untyped-def]
        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            began = time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds[phase] += time.process_time() - began

        return timed


def run(args: argparse.Namespace) -> dict:
    """One measured run of the child's loop on this process's sources."""
    import functools

    import ailayer.monitoring.log.local as local
    from ailayer.features.files import open_folder
    from ailayer.features.offline import tenant_folder
    from ailayer.monitoring.log.journal import Journal
    from ailayer.monitoring.log.local import LocalBackend
    from ailayer.monitoring.log.process import ENTRIES, FRAME, read_frame, widen_pipe, write_frame
    from ailayer.monitoring.log.sink import ParquetSink

    frames = payload_frames(args.payloads, args.per_payload)
    with tempfile.TemporaryDirectory() as work:
        stream = Path(work, "frames")
        with stream.open("wb") as out:
            for pieces in frames:
                write_frame(out, ENTRIES, pieces)
        store = Path(work, "store")
        tenant_root = functools.partial(tenant_folder, open_folder(f"file://{store}"))
        sink = ParquetSink(tenant_root, None)  # type: ignore[arg-type]  # no PII: no salts
        backend = LocalBackend(sink, Journal(Path(work, "journal")))
        timed = Timed()
        local.decode_entries = timed.wrap("decode", local.decode_entries)  # type: ignore[attr-defined]
        assert backend.journal is not None
        backend.journal.append_payload = timed.wrap("journal", backend.journal.append_payload)  # type: ignore[method-assign]
        sink.parts = timed.wrap("parts", sink.parts)  # type: ignore[method-assign]
        sink.write = timed.wrap("parquet", sink.write)  # type: ignore[method-assign]
        read = timed.wrap("read", read_frame)
        feeder = subprocess.Popen(["cat", str(stream)], stdout=subprocess.PIPE, bufsize=0)
        assert feeder.stdout is not None
        widen_pipe(feeder.stdout)
        time.sleep(0.2)  # the pipe fills: reads below wait on the kernel, not on cat
        staged = written = 0
        began = time.process_time()
        while (frame := read(feeder.stdout)) is not None:
            assert frame[0] == ENTRIES and len(frame[1]) > FRAME.size
            assert backend.stage_payload(frame[1]) == 0
            staged += 1
            if staged % args.write_every == 0:
                written += backend.flush()[0]
        written += backend.flush()[0]
        total = time.process_time() - began
        feeder.wait()
        size = sum(path.stat().st_size for path in store.rglob("*.parquet"))
    requests = args.payloads * args.per_payload
    assert written == requests * BATCH_ROWS, (written, requests)
    per = 1.0 / requests
    return {
        "total": total * per,
        **{phase: seconds * per for phase, seconds in timed.seconds.items()},
        "bytes_per_1000_rows": size / requests,
    }


def measure(source: Path, args: argparse.Namespace) -> dict:
    """One run in a process of its own on the sources under ``source``."""
    argv = [sys.executable, __file__, "--run", "--payloads", str(args.payloads)]
    argv += ["--per-payload", str(args.per_payload), "--write-every", str(args.write_every)]
    env = {**os.environ, "PYTHONPATH": str(source / "src")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--against", type=Path, help="another checkout's root, run in turns")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--payloads", type=int, default=40, help="hand-offs per run")
    parser.add_argument("--per-payload", type=int, default=5, help="1,000-row requests each")
    parser.add_argument("--write-every", type=int, default=20, help="hand-offs per write")
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(args)))
        return
    sources = {"this": ROOT}
    if args.against is not None:
        sources["against"] = args.against.resolve()
    results: dict[str, list[dict]] = {name: [] for name in sources}
    for round_ in range(args.rounds):
        order = list(sources) if round_ % 2 == 0 else list(reversed(sources))
        for name in order:
            results[name].append(measure(sources[name], args))
    rows = args.per_payload * args.payloads * BATCH_ROWS
    print(f"{args.rounds} rounds of {rows:,} rows each; CPU ms per 1,000-row request, medians")
    print(f"{'':8} {'total':>7} " + " ".join(f"{p:>8}" for p in PHASES) + "  Parquet B/1k rows")
    medians = {}
    for name, runs in results.items():
        medians[name] = {key: median([r[key] for r in runs]) for key in runs[0]}
        m = medians[name]
        line = f"{name:8} {m['total'] * 1000:7.3f} " + " ".join(
            f"{m[p] * 1000:8.3f}" for p in PHASES
        )
        print(line + f"  {m['bytes_per_1000_rows']:,.0f}")
    if "against" in medians:
        ratio = medians["this"]["total"] / medians["against"]["total"]
        print(f"this / against: {ratio:.2f}")


if __name__ == "__main__":
    main()
