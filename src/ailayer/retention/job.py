"""The retention job: remove what is older than the ``retention`` settings allow.

Per tenant, one pass removes:

- prediction log and feedback: whole day partitions (``date=YYYY-MM-DD``) older than
  ``prediction_log_days`` / ``feedback_days`` (counted in files), and the log's rollup
  rows (``log_rollups``) of the days removed (counted in rows);
- stream views' raw event logs (``streams/<view>@<v>/events``): part files written
  before ``events_days`` ago (their names carry the time they were written, which is
  after every event in them); keep more days than a view's longest window, or a
  restarted processor rebuilds its windows from less;
- saved training sets beyond the newest ``datasets_keep`` or older than
  ``datasets_days``, file then record, except those a model version names (lineage);
- audit entries older than ``audit_years``, as a prefix of the hash chain whose new
  start is recorded and vouched for (``audit_chain.prune``), so ``ailayer audit verify``
  still holds.

Everything removed is counted in ``counts`` (the ``/metrics`` series) and, per tenant,
in one ``retention.purge`` audit entry. Removal is idempotent: a pass that stops
halfway is completed by the next one.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, select

from ailayer.core.retention import Retention
from ailayer.db.engine import Database
from ailayer.db.tables import log_rollups, model_versions
from ailayer.db.tenants import tenant_ids
from ailayer.features.files import Folder
from ailayer.features.tables import feature_datasets
from ailayer.governance import audit
from ailayer.governance.audit_chain import RETENTION_ACTION, prune
from ailayer.monitoring.log.layout import feedback_files, prediction_files

logger = logging.getLogger("ailayer.retention")
ACTOR = "retention"
DAY_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")
WRITTEN_NS = re.compile(r"/part-(\d{19,20})-[^/]*\.parquet$")
STORES = ("prediction_log", "log_rollups", "feedback", "events", "datasets", "audit")


@dataclass
class Removed:
    """What one pass removed from one tenant, by store."""

    tenant_id: str
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def any(self) -> bool:
        return any(self.counts.values())


class RetentionJob:
    def __init__(
        self, db: Database, tenant_root: Callable[[str], Folder], policy: Retention
    ) -> None:
        self.db = db
        self.tenant_root = tenant_root
        self.policy = policy
        self.counts: Counter[str] = Counter()  # removed since start, by store
        self.passes = 0
        self.failures = 0

    def run_once(self, now: datetime | None = None) -> list[Removed]:
        """One pass over every tenant; what went, per tenant."""
        now = now or datetime.now(UTC)
        done = [self.run_tenant(tenant_id, now) for tenant_id in tenant_ids(self.db)]
        self.passes += 1
        return done

    def run_tenant(self, tenant_id: str, now: datetime) -> Removed:
        removed = Removed(tenant_id)
        policy, root = self.policy, self.tenant_root(tenant_id)
        if policy.prediction_log_days:
            old = _before_day(prediction_files(root, None, None), now, policy.prediction_log_days)
            removed.counts["prediction_log"] = _delete(root, old)
            if rollups := self._rollups(tenant_id, now, policy.prediction_log_days):
                removed.counts["log_rollups"] = rollups
        if policy.feedback_days:
            old = _before_day(feedback_files(root), now, policy.feedback_days)
            removed.counts["feedback"] = _delete(root, old)
        if policy.events_days:
            cutoff_ns = int((now - timedelta(days=policy.events_days)).timestamp() * 1e9)
            files = root.glob("streams/*/events/part-*.parquet")
            removed.counts["events"] = _delete(root, _written_before(files, cutoff_ns))
        if policy.datasets_keep or policy.datasets_days:
            removed.counts["datasets"] = self._datasets(tenant_id, root, now)
        if policy.audit_years:
            removed.counts["audit"] = self._audit(tenant_id, _years_before(now, policy.audit_years))
        self.counts.update(removed.counts)
        if any(removed.counts[s] for s in STORES if s != "audit"):
            self._record(removed, now)
        return removed

    def _rollups(self, tenant_id: str, now: datetime, days: int) -> int:
        """Rollup rows of the days whose log partitions go (buckets before the first kept
        day): the console shows no traffic older than the log it came from."""
        first_kept = datetime.combine((now - timedelta(days=days)).date(), time(), UTC)
        with self.db.write() as conn:
            gone = conn.execute(
                delete(log_rollups).where(
                    log_rollups.c.tenant_id == tenant_id,
                    log_rollups.c.bucket < int(first_kept.timestamp()),
                )
            )
        return int(gone.rowcount or 0)

    def _datasets(self, tenant_id: str, root: Folder, now: datetime) -> int:
        """Training sets past the count or the age, their files first (a pass that stops
        between the two leaves a record whose file is gone; the next pass removes it)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(feature_datasets.c.id, feature_datasets.c.created_at)
                .where(feature_datasets.c.tenant_id == tenant_id)
                .order_by(feature_datasets.c.created_at.desc(), feature_datasets.c.id.desc())
            ).all()
            named = set(
                conn.execute(
                    select(model_versions.c.dataset_version).where(
                        model_versions.c.tenant_id == tenant_id,
                        model_versions.c.dataset_version.is_not(None),
                    )
                ).scalars()
            )
        keep, days = self.policy.datasets_keep, self.policy.datasets_days
        cutoff = now - timedelta(days=days) if days else None
        going = [
            row.id
            for index, row in enumerate(rows)
            if row.id not in named
            and ((keep is not None and index >= keep) or (cutoff and row.created_at < cutoff))
        ]
        folder = root.child("datasets")
        for dataset_id in going:
            folder.delete(folder.location(f"{dataset_id}.parquet"))
        if going:
            with self.db.write() as conn:
                conn.execute(
                    delete(feature_datasets).where(
                        feature_datasets.c.tenant_id == tenant_id,
                        feature_datasets.c.id.in_(going),
                    )
                )
        return len(going)

    def _audit(self, tenant_id: str, before: datetime) -> int:
        with self.db.write() as conn:
            count, anchor = prune(conn, tenant_id, before)
            if count:
                audit.record(
                    conn,
                    tenant_id,
                    ACTOR,
                    RETENTION_ACTION,
                    "audit",
                    removed=count,
                    before=before.isoformat(),
                    anchor_seq=anchor.seq,
                    anchor_hash=anchor.hash,
                )
        return count

    def _record(self, removed: Removed, now: datetime) -> None:
        policy = self.policy.model_dump(exclude={"interval_seconds"}, exclude_none=True)
        counts = {store: removed.counts[store] for store in STORES if removed.counts[store]}
        with self.db.write() as conn:
            audit.record(
                conn,
                removed.tenant_id,
                ACTOR,
                "retention.purge",
                "retention",
                removed=counts,
                policy=policy,
                at=now.isoformat(),
            )


def _before_day(files: Iterable[str], now: datetime, days: int) -> list[str]:
    """Files of day partitions that ended more than ``days`` days before ``now``."""
    first_kept = (now - timedelta(days=days)).date()
    old = []
    for location in files:
        found = DAY_PARTITION.search(location)
        if found is not None and date.fromisoformat(found.group(1)) < first_kept:
            old.append(location)
    return old


def _written_before(files: Iterable[str], cutoff_ns: int) -> list[str]:
    old = []
    for location in files:
        found = WRITTEN_NS.search(location)
        if found is not None and int(found.group(1)) < cutoff_ns:
            old.append(location)
    return old


def _delete(root: Folder, locations: list[str]) -> int:
    for location in locations:
        root.delete(location)
    return len(locations)


def _years_before(now: datetime, years: int) -> datetime:
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


class RetentionThread:
    """The job every ``interval`` seconds in a daemon thread (``ailayer up``, ``ailayer
    monitor``); a failed pass is logged and counted, and the next one runs as usual."""

    def __init__(self, job: RetentionJob, interval: float) -> None:
        self.job = job
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ailayer-retention", daemon=True)

    def start(self) -> RetentionThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for removed in self.job.run_once():
                    if removed.any:
                        logger.info("retention removed %s", dict(removed.counts))
            except Exception:
                self.job.failures += 1
                logger.exception("retention pass failed; the next one retries")
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
