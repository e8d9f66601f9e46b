"""One scheduler replica for ``test_scheduler_replicas``: ``python -m`` this with the
database URL, the tenant id, the pipeline's cron expression and the time it is.

It prints ``ready``, waits for a line on stdin, runs one pass and prints ``result`` and
its decisions as JSON. Its launch writes a row to ``replica_runs``, prints
``launching`` and holds the run (and so the pipeline's lease) until stdin says so.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import text

from ailayer.db.engine import Database
from ailayer.pipelines.lease import open_lease
from ailayer.pipelines.scheduler import Scheduler
from ailayer.pipelines.triggers import Declared, Schedule


def main(url: str, tenant_id: str, cron: str, now: str) -> None:
    db = Database(url)

    def launch(tenant: str, pipeline: str, trigger: dict[str, Any]) -> str:
        with db.write() as conn:
            conn.execute(
                text("INSERT INTO replica_runs (pid, trigger) VALUES (:pid, :trigger)"),
                {"pid": os.getpid(), "trigger": trigger["key"]},
            )
        print("launching", flush=True)
        sys.stdin.readline()  # the run goes on until the test lets it end
        return f"run-{os.getpid()}"

    declared = [Declared(tenant_id, "retrain", (Schedule(cron),))]
    at = datetime.fromisoformat(now)
    scheduler = Scheduler(lambda: declared, launch, db=db, lease=open_lease(db), clock=lambda: at)
    print("ready", flush=True)
    sys.stdin.readline()
    decisions = [
        {"outcome": d.outcome, "reason": d.reason, "key": d.trigger["key"]}
        for d in scheduler.run_once()
    ]
    body = {"decisions": decisions, "claimed_elsewhere": scheduler.counts.claimed_elsewhere}
    print("result " + json.dumps(body), flush=True)
    scheduler.lease.close()
    db.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:5])
