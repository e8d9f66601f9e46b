"""Events per second from producer through a stream feature view into the online store,
per broker, side by side with the raw broker client moving the same events (the floor).

For each broker (embedded, redis, nats, amqp), in one run:

  raw floor   the broker's own client publishes N pre-serialised CloudEvents in batches and
              one consumer reads them in batches and acks them — no parsing, no work;
  ailayer     ``EventBus.publish`` in batches of 1,000 while a
              ``StreamRunner`` consumes the same topic: parse, aggregate two 10-minute
              sliding windows (count, sum) over 10,000 accounts, log raw events and values
              to Parquet, write the latest values to the online store (Redis for the
              network brokers, SQLite for embedded), ack. Timed from the first publish to
              the commit of the last event.
  lag         the producer paced at 50 % of the ailayer throughput just measured for
              ``--lag-seconds``; the end-to-end lag of an event is the time its commit
              (online write + acks) finished minus its CloudEvents ``time``; p50 and p99.

In both cases the producer is a process of its own (spawned, connected and holding its
events before the clock starts; see ``Producer``) and the consumer runs in this process,
so raw and ailayer are measured the same way. Each throughput is the median of
``--repeats`` runs (the machine is shared), after one untimed warm-up run of the ailayer
pipeline per broker. Next to each rate the script prints the CPU time per event of the
consumer (this process, all threads), of the producer process and of the broker's server
process (read from /proc when it runs on this machine: redis-server, nats-server,
RabbitMQ's beam.smp, which also serves anything else running then) over the same window:
on a shared machine they move much less than the rates do. Topics,
groups, streams, queues, online keys and files are removed after each run. Brokers on
127.0.0.1 (Redis 6379 db 13, NATS 4222, RabbitMQ 5672). The ailayer NATS bus runs with
``?max_ack_pending=10000`` so that two commits' events (``flush_rows`` 5,000) can be in
flight at once, as docs/events.md advises for stream runners; the raw floor acks each
batch at once and needs no such room. Run from the repository root:

    python benchmarks/events.py                     # ~10 minutes on a shared 2-core machine
    python benchmarks/events.py --events 20000 --repeats 1 --brokers redis,nats

Target (issue 4): ≥ 50,000 events/s end to end on Redis Streams or NATS, at ≥ 0.5x that
raw client's throughput. Prints Markdown tables, MET / NOT MET for the target, and whether
every broker run reaches 0.5x its raw client (the embedded bus cannot: see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import orjson
from harness import median

from ailayer.events import new_event, open_bus
from ailayer.events.bus import EventBus
from ailayer.features import Aggregation, Entity, StreamFeatureView, open_online_store
from ailayer.features.catalog import storage_name
from ailayer.features.files import open_folder
from ailayer.features.streaming import StreamRunner
from ailayer.features.streaming.gc_tuning import tune_gc_for_streaming

REDIS = "redis://127.0.0.1:6379/13"
URLS = {
    "embedded": None,  # a file in the temporary directory
    "redis": REDIS,
    "nats": "nats://127.0.0.1:4222?max_ack_pending=10000",
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


# the producer process -------------------------------------------------------------------
# Producers run in a process of their own, for the raw floors and for ailayer alike: the
# issue measures producer -> online store, and on two cores a producer sharing the
# consumer's event loop would be charged to the consumer. The child connects and builds
# its events first, reports ready, waits for "go", publishes in batches of BATCH, and
# sends back its CPU time; the parent times from "go" to the last event consumed.
def producer_main(conn: Connection, job: dict) -> None:  # type: ignore[type-arg]
    tune_gc_for_streaming()
    asyncio.run(_produce(conn, job))


async def _produce(conn: Connection, job: dict) -> None:  # type: ignore[type-arg]
    send, close = await SENDERS[job["kind"]](job)
    try:
        n, rate = job["n"], job.get("rate")
        if job["kind"] == "ailayer":
            items: list = events(n) if rate is None else []  # type: ignore[type-arg]
        else:
            items = [e.to_json() for e in events(n)]
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "go"
        cpu = time.process_time()
        if rate is None:
            for i in range(0, n, BATCH):
                await send(items[i : i + BATCH])
        else:  # paced, with fresh CloudEvents times (the lag run)
            chunk, started, sent = max(1, int(rate / 100)), time.perf_counter(), 0
            while sent < n:
                due = started + sent / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                await send(events(min(chunk, n - sent)))
                sent += chunk
        conn.send(time.process_time() - cpu)
    finally:
        await close()


async def _send_ailayer(job: dict):  # type: ignore[no-untyped-def,type-arg]
    bus = open_bus(job["url"])
    with contextlib.suppress(Exception):
        await bus.lag(job["topic"], job["group"])  # connect before "ready"

    async def send(batch: list) -> None:  # type: ignore[type-arg]
        await bus.publish(job["topic"], batch)

    return send, bus.close


async def _send_redis(job: dict):  # type: ignore[no-untyped-def,type-arg]
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS)
    await client.ping()

    async def send(bodies: list[bytes]) -> None:
        async with client.pipeline(transaction=False) as pipe:
            for body in bodies:
                pipe.xadd(job["topic"], {"e": body})
            await pipe.execute()

    return send, client.aclose


async def _send_nats(job: dict):  # type: ignore[no-untyped-def,type-arg]
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()

    async def send(bodies: list[bytes]) -> None:
        await asyncio.gather(*(js.publish(job["topic"], b) for b in bodies))

    return send, nc.close


async def _send_amqp(job: dict):  # type: ignore[no-untyped-def,type-arg]
    import aio_pika

    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    channel = await connection.channel(publisher_confirms=True)

    async def send(bodies: list[bytes]) -> None:
        await asyncio.gather(*(
            channel.default_exchange.publish(
                aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), job["topic"])
            for b in bodies
        ))  # fmt: skip

    return send, connection.close


async def _send_embedded(job: dict):  # type: ignore[no-untyped-def,type-arg]
    import sqlite3

    conn = sqlite3.connect(job["topic"], isolation_level=None, timeout=30)
    conn.execute("PRAGMA synchronous=FULL")

    async def send(bodies: list[bytes]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO log (body) VALUES (?)", [(b,) for b in bodies])
        conn.execute("COMMIT")

    async def close() -> None:
        conn.close()

    return send, close


SENDERS = {"ailayer": _send_ailayer, "redis": _send_redis, "nats": _send_nats,
           "amqp": _send_amqp, "embedded": _send_embedded}  # fmt: skip


class Producer:
    """The producer process, started and ready (connected, events built) on entry."""

    def __init__(self, **job: object) -> None:
        self.job = job
        self.conn, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=producer_main, args=(child, job), daemon=True
        )

    async def __aenter__(self) -> Producer:
        self.process.start()
        ready = await asyncio.to_thread(self.conn.recv)
        assert ready == "ready", ready
        return self

    def go(self) -> None:
        self.conn.send("go")

    async def cpu(self) -> float:
        """The producer's CPU seconds while publishing (after it finished)."""
        return await asyncio.to_thread(self.conn.recv)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.process.join, 60)
        if self.process.is_alive():
            self.process.kill()


# raw floors -----------------------------------------------------------------------------
Timing = tuple[float, float, float, float]  # wall s; consumer, producer, broker server CPU s
SERVERS = {"redis": "redis-server", "nats": "nats-server", "amqp": "beam.smp"}
server_pid: int | None = None  # the broker's server process, when it runs on this machine


def find_server(broker: str) -> int | None:
    """The pid of the local process named like the broker's server, if there is one."""
    name = SERVERS.get(broker)
    for proc in Path("/proc").iterdir() if name else ():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == name:
                return int(proc.name)
    return None


def server_cpu() -> float:
    """CPU seconds (user + system) the broker's server process has used; 0 if unknown."""
    try:
        fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def raw_redis(n: int) -> Timing:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS)
    key = f"bench:raw:{uuid.uuid4().hex[:8]}"
    try:
        await client.xgroup_create(key, "g", id="0", mkstream=True)

        async def consume() -> None:
            done = 0
            while done < n:
                answer = await client.xreadgroup("g", "c", {key: ">"}, count=BATCH, block=1000)
                for _, entries in answer or []:
                    ids = [entry_id for entry_id, _ in entries]
                    await client.xack(key, "g", *ids)
                    done += len(ids)

        async with Producer(kind="redis", topic=key, n=n) as producer:
            return await timed(producer, consume())
    finally:
        await client.delete(key)
        await client.aclose()


async def timed(producer: Producer, consumed: Awaitable[object]) -> Timing:
    """Start the producer, wait for ``consumed``; wall and CPU of both sides."""
    started, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
    producer.go()
    await consumed
    wall, ours = time.perf_counter() - started, time.process_time() - cpu
    server = server_cpu() - server
    return wall, ours, await producer.cpu(), server


async def raw_nats(n: int) -> Timing:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    name = f"BENCHRAW{uuid.uuid4().hex[:8]}"
    subject = f"benchraw.{name}"
    try:
        await js.add_stream(name=name, subjects=[subject])
        sub = await js.pull_subscribe(subject, durable="g", stream=name)

        async def consume() -> None:
            done = 0
            while done < n:
                with contextlib.suppress(nats.errors.TimeoutError):
                    for msg in await sub.fetch(BATCH, timeout=1):
                        await msg.ack()
                        done += 1

        async with Producer(kind="nats", topic=subject, n=n) as producer:
            return await timed(producer, consume())
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(name)
        await nc.close()


async def raw_amqp(n: int) -> Timing:
    import aio_pika

    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=BATCH)
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        finished = asyncio.Event()
        count = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal count
            count += 1
            if count % 100 == 0 or count == n:
                await message.ack(multiple=True)
            if count == n:
                finished.set()

        await queue.consume(on_message)
        async with Producer(kind="amqp", topic=name, n=n) as producer:
            return await timed(producer, asyncio.wait_for(finished.wait(), 300))
    finally:
        with contextlib.suppress(Exception):
            await (await connection.channel()).queue_delete(name)
        await connection.close()


async def raw_embedded(n: int, home: Path) -> Timing:
    """SQLite as the embedded bus uses it: the producer appends in transactions; the
    consumer reads by rowid and moves a cursor, polling every 5 ms when it finds nothing."""
    import sqlite3

    path = home / f"raw-{uuid.uuid4().hex[:6]}.db"
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, body BLOB)")
    conn.execute("CREATE TABLE cursor (pos INTEGER)")
    conn.execute("INSERT INTO cursor VALUES (0)")

    def consume() -> None:
        done = 0
        while done < n:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(
                "SELECT id, body FROM log WHERE id > (SELECT pos FROM cursor) ORDER BY id LIMIT ?",
                (BATCH,),
            ).fetchall()
            if rows:
                conn.execute("UPDATE cursor SET pos = ?", (rows[-1][0],))
            conn.execute("COMMIT")
            done += len(rows)
            if not rows:
                time.sleep(0.005)

    try:
        async with Producer(kind="embedded", topic=str(path), n=n) as producer:
            return await timed(producer, asyncio.to_thread(consume))
    finally:
        conn.close()


# ailayer --------------------------------------------------------------------------------
class Pipeline:
    """One broker's bus + a stream view + its online store, cleaned up afterwards."""

    def __init__(self, broker: str, home: Path) -> None:
        self.broker, self.home = broker, home
        self.topic = f"bench-{broker}-{uuid.uuid4().hex[:6]}"
        self.url = URLS[broker] or f"embedded://{home / 'bus.db'}"
        self.bus: EventBus = open_bus(self.url)
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
            self.bus, self.view, TENANT, open_folder(f"file://{self.home / 'offline' / TENANT}"),
            self.online,
            group=f"g-{uuid.uuid4().hex[:8]}", batch_size=BATCH, flush_rows=5000,
            flush_interval=0.05, fetch_timeout=0.05, on_commit=on_commit,
        )  # fmt: skip
        self.groups.append(runner.group)
        return runner

    def producer(self, n: int, rate: float | None = None) -> Producer:
        return Producer(
            kind="ailayer", url=self.url, topic=self.topic, group=self.groups[-1], n=n, rate=rate
        )

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


async def ailayer_throughput(broker: str, home: Path, n: int) -> Timing:
    pipeline = Pipeline(broker, home)
    committed = 0

    def on_commit(times: list[int]) -> None:
        nonlocal committed
        committed += len(times)

    runner = pipeline.runner(on_commit)
    try:
        await pipeline.bus.subscribe(pipeline.topic, runner.group, "warm", ack_wait=60)  # declare
        task = asyncio.create_task(runner.run())
        async with pipeline.producer(n) as producer:
            timing = await timed(producer, until(lambda: committed >= n, 300))
        runner.stop()
        await task
        return timing
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
        async with pipeline.producer(expected, rate) as producer:
            producer.go()
            await until(lambda: len(lags) >= expected, 120)
            await producer.cpu()
        runner.stop()
        await task
        ordered = sorted(lags)
        return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]
    finally:
        await pipeline.close()


async def measure(broker: str, n: int, repeats: int, lag_seconds: float) -> dict:
    global server_pid
    server_pid = find_server(broker)
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
            raw_runs.append(await (raw(n) if raw else raw_embedded(n, home)))
            our_runs.append(await ailayer_throughput(broker, home, n))
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def per_event(runs: list[Timing], i: int) -> float:
        return median([run[i] for run in runs]) / n * 1e6

    raw_rate = n / median([run[0] for run in raw_runs])
    our_rate = n / median([run[0] for run in our_runs])
    home = Path(tempfile.mkdtemp(prefix="ailayer-events-bench-"))
    try:
        p50, p99 = await ailayer_lag(broker, home, our_rate / 2, lag_seconds)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"broker": broker, "raw": raw_rate, "ailayer": our_rate, "p50": p50, "p99": p99,
            "raw_cpu_us": per_event(raw_runs, 1), "ailayer_cpu_us": per_event(our_runs, 1),
            "raw_producer_cpu_us": per_event(raw_runs, 2),
            "ailayer_producer_cpu_us": per_event(our_runs, 2),
            "raw_server_cpu_us": per_event(raw_runs, 3),
            "ailayer_server_cpu_us": per_event(our_runs, 3)}  # fmt: skip


def report(rows: list[dict], n: int, repeats: int) -> bool:
    print(f"\n{n:,} events per run, median of {repeats}; lag at 50 % of the ailayer rate\n")
    print(
        "| broker | raw client events/s | ailayer end to end events/s | ailayer / raw "
        "| consumer CPU µs/event raw / ailayer | producer CPU µs/event raw / ailayer "
        "| broker server CPU µs/event raw / ailayer | lag p50 ms | lag p99 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        server = "n/a"  # embedded: no server process
        if r["ailayer_server_cpu_us"]:
            server = f"{r['raw_server_cpu_us']:.1f} / {r['ailayer_server_cpu_us']:.1f}"
        print(f"| {r['broker']} | {r['raw']:,.0f} | {r['ailayer']:,.0f} | {r['ailayer'] / r['raw']:.2f} "
              f"| {r['raw_cpu_us']:.1f} / {r['ailayer_cpu_us']:.1f} "
              f"| {r['raw_producer_cpu_us']:.1f} / {r['ailayer_producer_cpu_us']:.1f} "
              f"| {server} | {r['p50']:.1f} | {r['p99']:.1f} |")  # fmt: skip
    fast = [r for r in rows if r["broker"] in ("redis", "nats")]
    # the target: one of Redis Streams or NATS at >= 50,000/s and >= 0.5x its raw client
    passing = [r for r in fast if r["ailayer"] >= 50_000 and r["ailayer"] >= 0.5 * r["raw"]]
    shown = ", ".join(
        f"{r['broker']} {r['ailayer']:,.0f}/s = {r['ailayer'] / r['raw']:.2f}x raw" for r in fast
    )
    print("\n| target | result | |\n|---|---|---|")
    print(
        f"| ≥ 50,000 events/s end to end on Redis or NATS, at ≥ 0.5x the raw client | {shown or 'not run'} "
        f"| {'MET' if passing else 'NOT MET'} |"
    )
    worst = min(r["ailayer"] / r["raw"] for r in rows)
    every = all(r["ailayer"] >= 0.5 * r["raw"] for r in rows)
    print(
        f"| (beyond the target) ≥ 0.5x the raw client on every broker run | worst {worst:.2f}x "
        f"| {'yes' if every else 'no'} |"
    )
    return bool(passing)


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
