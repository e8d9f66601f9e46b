"""Events per second from producer through a stream feature view into the online store,
per broker, side by side with the raw broker client moving the same events (the floor).

For each broker (embedded, redis, nats, amqp), in one run:

  raw floor   the broker's own client publishes N pre-serialised CloudEvents in batches and
              one consumer reads them in batches and acks them — no parsing, no work;
  ailayer     ``EventBus.publish`` in batches of 1,000 (a producer task) while a
              ``StreamRunner`` consumes the same topic: parse, aggregate two 10-minute
              sliding windows (count, sum) over 10,000 accounts, log raw events and values
              to Parquet, write the latest values to the online store (Redis for the
              network brokers, SQLite for embedded), ack. Timed from the first publish to
              the commit of the last event.
  lag         the producer paced at 50 % of the ailayer throughput just measured for
              ``--lag-seconds``; the end-to-end lag of an event is the time its commit
              (online write + acks) finished minus its CloudEvents ``time``; p50 and p99.

Each throughput is the median of ``--repeats`` runs (the machine is shared), after one
untimed warm-up run of the ailayer pipeline per broker. Next to each rate the script prints
this process's CPU time per event over the same timed window (producer and consumer, all
threads; the broker server's CPU is not included): on a shared machine it moves much less
than the rates do. Topics,
groups, streams, queues, online keys and files are removed after each run. Brokers on
127.0.0.1 (Redis 6379 db 13, NATS 4222, RabbitMQ 5672). Run from the repository root:

    python benchmarks/events.py                     # ~10 minutes on a shared 2-core machine
    python benchmarks/events.py --events 20000 --repeats 1 --brokers redis,nats

Targets (issue 4): ≥ 50,000 events/s end to end on Redis Streams or NATS, and ≥ 0.5x the
raw client's throughput. Prints Markdown tables and MET / NOT MET per target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson

from ailayer.events import new_event, open_bus
from ailayer.events.bus import EventBus
from ailayer.features import Aggregation, Entity, StreamFeatureView, open_online_store
from ailayer.features.catalog import storage_name
from ailayer.features.streaming import StreamRunner
from ailayer.features.streaming.gc_tuning import tune_gc_for_streaming

REDIS = "redis://127.0.0.1:6379/13"
URLS = {
    "embedded": None,  # a file in the temporary directory
    "redis": REDIS,
    "nats": "nats://127.0.0.1:4222",
    "amqp": "amqp://guest:guest@127.0.0.1:5672/",
}
TENANT = "bench"
ACCOUNTS = 10_000
BATCH = 1000


def view(topic: str):  # type: ignore[no-untyped-def]
    account = Entity("account", {"account_id": int})
    return StreamFeatureView(
        f"pay_{topic}", [account], topic, "payment.created",
        [Aggregation("payments_10m", None, "count", timedelta(minutes=10)),
         Aggregation("amount_10m", "amount", "sum", timedelta(minutes=10))],
        allowed_lateness=timedelta(minutes=1),
    )  # fmt: skip


def events(n: int) -> list:  # type: ignore[type-arg]
    return [
        new_event("payment.created", "/bench", {"account_id": i % ACCOUNTS, "amount": float(i % 97)},
                  tenant=TENANT)
        for i in range(n)
    ]  # fmt: skip


def median(values: list[float]) -> float:
    return statistics.median(values)


# raw floors -----------------------------------------------------------------------------
async def raw_redis(payloads: list[bytes]) -> tuple[float, float]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS)
    key = f"bench:raw:{uuid.uuid4().hex[:8]}"
    try:
        await client.xgroup_create(key, "g", id="0", mkstream=True)
        started, cpu = time.perf_counter(), time.process_time()

        async def produce() -> None:
            for i in range(0, len(payloads), BATCH):
                async with client.pipeline(transaction=False) as pipe:
                    for body in payloads[i : i + BATCH]:
                        pipe.xadd(key, {"e": body})
                    await pipe.execute()

        async def consume() -> None:
            done = 0
            while done < len(payloads):
                answer = await client.xreadgroup("g", "c", {key: ">"}, count=BATCH, block=1000)
                for _, entries in answer or []:
                    ids = [entry_id for entry_id, _ in entries]
                    await client.xack(key, "g", *ids)
                    done += len(ids)

        await asyncio.gather(produce(), consume())
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await client.delete(key)
        await client.aclose()


async def raw_nats(payloads: list[bytes]) -> tuple[float, float]:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    name = f"BENCHRAW{uuid.uuid4().hex[:8]}"
    subject = f"benchraw.{name}"
    try:
        await js.add_stream(name=name, subjects=[subject])
        sub = await js.pull_subscribe(subject, durable="g", stream=name)
        started, cpu = time.perf_counter(), time.process_time()

        async def produce() -> None:
            for i in range(0, len(payloads), BATCH):
                await asyncio.gather(*(js.publish(subject, b) for b in payloads[i : i + BATCH]))

        async def consume() -> None:
            done = 0
            while done < len(payloads):
                with contextlib.suppress(nats.errors.TimeoutError):
                    for msg in await sub.fetch(BATCH, timeout=1):
                        await msg.ack()
                        done += 1

        await asyncio.gather(produce(), consume())
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(name)
        await nc.close()


async def raw_amqp(payloads: list[bytes]) -> tuple[float, float]:
    import aio_pika

    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=BATCH)
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        started, cpu = time.perf_counter(), time.process_time()
        finished = asyncio.Event()
        count = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal count
            count += 1
            if count % 100 == 0 or count == len(payloads):
                await message.ack(multiple=True)
            if count == len(payloads):
                finished.set()

        await queue.consume(on_message)
        for i in range(0, len(payloads), BATCH):
            await asyncio.gather(*(
                channel.default_exchange.publish(
                    aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), name)
                for b in payloads[i : i + BATCH]
            ))  # fmt: skip
        await asyncio.wait_for(finished.wait(), 120)
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        with contextlib.suppress(Exception):
            await (await connection.channel()).queue_delete(name)
        await connection.close()


async def raw_embedded(payloads: list[bytes], home: Path) -> tuple[float, float]:
    """SQLite as the embedded bus uses it: append in transactions, read by rowid, cursor."""
    import sqlite3

    def run() -> tuple[float, float]:
        conn = sqlite3.connect(home / f"raw-{uuid.uuid4().hex[:6]}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, body BLOB)")
        conn.execute("CREATE TABLE cursor (pos INTEGER)")
        conn.execute("INSERT INTO cursor VALUES (0)")
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(payloads), BATCH):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO log (body) VALUES (?)", [(b,) for b in payloads[i : i + BATCH]]
            )
            conn.execute("COMMIT")
        done = 0
        while done < len(payloads):
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(
                "SELECT id, body FROM log WHERE id > (SELECT pos FROM cursor) ORDER BY id LIMIT ?",
                (BATCH,),
            ).fetchall()
            conn.execute("UPDATE cursor SET pos = ?", (rows[-1][0],))
            conn.execute("COMMIT")
            done += len(rows)
        elapsed = time.perf_counter() - started, time.process_time() - cpu
        conn.close()
        return elapsed

    return await asyncio.to_thread(run)


# ailayer --------------------------------------------------------------------------------
class Pipeline:
    """One broker's bus + a stream view + its online store, cleaned up afterwards."""

    def __init__(self, broker: str, home: Path) -> None:
        self.broker, self.home = broker, home
        self.topic = f"bench-{broker}-{uuid.uuid4().hex[:6]}"
        url = URLS[broker] or f"embedded://{home / 'bus.db'}"
        self.bus: EventBus = open_bus(url)
        online_url = (
            f"sqlite:///{home / 'online.db'}"
            if broker == "embedded"
            else f"{REDIS}?prefix=bench:fs:"
        )
        self.online = open_online_store(online_url)
        self.view = view(self.topic.replace("-", "_"))
        object.__setattr__(self.view.source, "topic", self.topic)
        self.groups: list[str] = []

    def runner(self, on_commit: Callable[[list[int]], None] | None = None) -> StreamRunner:
        runner = StreamRunner(
            self.bus, self.view, TENANT, self.home / "offline" / TENANT, self.online,
            group=f"g-{uuid.uuid4().hex[:8]}", batch_size=BATCH, flush_rows=5000,
            flush_interval=0.05, fetch_timeout=0.05, on_commit=on_commit,
        )  # fmt: skip
        self.groups.append(runner.group)
        return runner

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.bus.delete_topic(self.topic, self.groups)
            await self.bus.delete_topic(f"{self.topic}-dlq", ["dlq"])
        self.online.delete_view(TENANT, storage_name(self.view))
        await self.bus.close()
        self.online.close()


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the stream runner did not catch up")
        await asyncio.sleep(0.005)


async def ailayer_throughput(broker: str, home: Path, n: int) -> tuple[float, float]:
    pipeline = Pipeline(broker, home)
    batch = events(n)
    committed = 0

    def on_commit(times: list[int]) -> None:
        nonlocal committed
        committed += len(times)

    runner = pipeline.runner(on_commit)
    try:
        await pipeline.bus.subscribe(pipeline.topic, runner.group, "warm", ack_wait=60)  # declare
        task = asyncio.create_task(runner.run())
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, n, BATCH):
            await pipeline.bus.publish(pipeline.topic, batch[i : i + BATCH])
        await until(lambda: committed >= n, 300)
        elapsed = time.perf_counter() - started, time.process_time() - cpu
        runner.stop()
        await task
        return elapsed
    finally:
        await pipeline.close()


async def ailayer_lag(broker: str, home: Path, rate: float, seconds: float) -> tuple[float, float]:
    pipeline = Pipeline(broker, home)
    lags: list[float] = []
    expected = int(rate * seconds)

    def on_commit(times: list[int]) -> None:
        now = time.time_ns() // 1000
        lags.extend((now - t) / 1000 for t in times)

    runner = pipeline.runner(on_commit)
    try:
        await pipeline.bus.subscribe(pipeline.topic, runner.group, "warm", ack_wait=60)
        task = asyncio.create_task(runner.run())
        chunk = max(1, int(rate / 100))  # publish every 10 ms
        started = time.perf_counter()
        sent = 0
        while sent < expected:
            due = started + sent / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await pipeline.bus.publish(pipeline.topic, events(min(chunk, expected - sent)))
            sent += chunk
        await until(lambda: len(lags) >= expected, 120)
        runner.stop()
        await task
        ordered = sorted(lags)
        return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]
    finally:
        await pipeline.close()


async def measure(broker: str, n: int, repeats: int, lag_seconds: float) -> dict:
    payloads = [e.to_json() for e in events(n)]
    raw_runs, our_runs = [], []
    home = Path(tempfile.mkdtemp(prefix="ailayer-events-bench-"))
    try:  # warm-up, not timed: first connections, pyarrow's lazy initialisation
        await ailayer_throughput(broker, home, min(n, 2 * BATCH))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for _ in range(repeats):
        home = Path(tempfile.mkdtemp(prefix="ailayer-events-bench-"))
        try:
            raw = {"redis": raw_redis, "nats": raw_nats, "amqp": raw_amqp}.get(broker)
            raw_runs.append(await (raw(payloads) if raw else raw_embedded(payloads, home)))
            our_runs.append(await ailayer_throughput(broker, home, n))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    raw_rate = n / median([wall for wall, _ in raw_runs])
    our_rate = n / median([wall for wall, _ in our_runs])
    raw_cpu = median([cpu for _, cpu in raw_runs]) / n * 1e6
    our_cpu = median([cpu for _, cpu in our_runs]) / n * 1e6
    home = Path(tempfile.mkdtemp(prefix="ailayer-events-bench-"))
    try:
        p50, p99 = await ailayer_lag(broker, home, our_rate / 2, lag_seconds)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"broker": broker, "raw": raw_rate, "ailayer": our_rate, "p50": p50, "p99": p99,
            "raw_cpu_us": raw_cpu, "ailayer_cpu_us": our_cpu}  # fmt: skip


def report(rows: list[dict], n: int, repeats: int) -> bool:
    print(f"\n{n:,} events per run, median of {repeats}; lag at 50 % of the ailayer rate\n")
    print(
        "| broker | raw client events/s | ailayer end to end events/s | ailayer / raw "
        "| raw CPU µs/event | ailayer CPU µs/event | lag p50 ms | lag p99 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['broker']} | {r['raw']:,.0f} | {r['ailayer']:,.0f} | {r['ailayer'] / r['raw']:.2f} "
              f"| {r['raw_cpu_us']:.1f} | {r['ailayer_cpu_us']:.1f} "
              f"| {r['p50']:.1f} | {r['p99']:.1f} |")  # fmt: skip
    fast = [r for r in rows if r["broker"] in ("redis", "nats")]
    best = max((r["ailayer"] for r in fast), default=0.0)
    ratio_ok = all(r["ailayer"] >= 0.5 * r["raw"] for r in rows)
    print("\n| target | result | |\n|---|---|---|")
    print(
        f"| ≥ 50,000 events/s end to end on Redis or NATS | {best:,.0f} | {'MET' if best >= 50_000 else 'NOT MET'} |"
    )
    worst = min(r["ailayer"] / r["raw"] for r in rows)
    print(
        f"| ≥ 0.5x the raw client, every broker | worst {worst:.2f}x | {'MET' if ratio_ok else 'NOT MET'} |"
    )
    return best >= 50_000 and ratio_ok


async def main(args: argparse.Namespace) -> bool:
    rows = []
    for broker in args.brokers.split(","):
        print(f"{broker}…", flush=True)
        rows.append(await measure(broker, args.events, args.repeats, args.lag_seconds))
        print(orjson.dumps(rows[-1]).decode(), flush=True)
    return report(rows, args.events, args.repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lag-seconds", type=float, default=3.0)
    parser.add_argument("--brokers", default="embedded,redis,nats,amqp")
    parser.add_argument(
        "--default-gc", action="store_true",
        help="keep CPython's default collector thresholds (see streaming/gc_tuning.py)",
    )  # fmt: skip
    options = parser.parse_args()
    if not options.default_gc:
        tune_gc_for_streaming()  # as `ailayer stream run` does; the raw floors run with it too
    ok = asyncio.run(main(options))
    raise SystemExit(0 if ok else 1)
