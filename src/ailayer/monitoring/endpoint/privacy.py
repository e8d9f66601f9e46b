"""Drift references built from the prediction log, in data subject requests.

A reference stored from a log window (``EndpointDrift.store_log_reference``) summarizes
the rows of that window — for a small window, their values nearly as they were. The
prediction log's subject store (``monitoring/log/privacy.py``) asks ``LogReferences``
which stored references hold the subject's predictions (the window's endpoint, bounds,
model and version match a prediction row of the subject), marks them ``log-pending``,
erases the rows, then rebuilds each from the same window of the log — now without the
subject — or removes it when nothing else was in the window. A delete cut short leaves
the mark, and the next run rebuilds what is still marked.

A reference stored before references kept their window (``profile.origin`` is None) cannot
be rebuilt: its window is unknown. Privacy first: when the subject has prediction rows of
its model and version logged before it was stored, it may hold them, so
``unknown_holding`` names it and ``forget`` removes it (before the rows go, so a delete cut
short still finds it); drift then needs a new reference stored (``ailayer reference``).
One whose model version never served the subject before it was stored stays.

``DatasetReferences`` does the same for references profiled from a model version's saved
training set (``lineage``): the offline store's subject store asks which were built from a
training set that held the subject, and forgets them once it erased the rows (and once
before, so none is profiled from the rows meanwhile); the next drift report profiles the
training set again, without the subject.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.endpoint.drift import EndpointDrift
from ailayer.monitoring.endpoint.references import LOG_PENDING, Reference, ReferenceStore

ENDPOINT_PART = re.compile(r"/endpoint=([^/]+)/")


def named(reference: Reference) -> str:
    return f"drift_references/{reference.model}@{reference.version}"


class LogReferences:
    def __init__(self, references: ReferenceStore, drift: EndpointDrift) -> None:
        self.references = references
        self.drift = drift

    def holding(
        self, tenant_id: str, predictions: dict[str, list[dict[str, Any]]]
    ) -> list[Reference]:
        """The references whose window holds one of these prediction rows (by file)."""
        held = []
        for reference in self.references.from_log(tenant_id):
            origin = reference.profile.origin
            if origin is not None and _holds(reference, origin, predictions):
                held.append(reference)
        return held

    def unknown_holding(
        self, tenant_id: str, predictions: dict[str, list[dict[str, Any]]]
    ) -> list[Reference]:
        """References from the log whose window was not kept (stored before it was) and
        whose model version served one of these prediction rows before it was stored."""
        return [
            r
            for r in self.references.from_log(tenant_id)
            if r.profile.origin is None and _served_before(r, predictions)
        ]

    def forget(self, tenant_id: str, held: list[Reference]) -> list[str]:
        """Remove these references; the names of those that were stored."""
        return [named(r) for r in held if self.references.remove(tenant_id, r.model, r.version)]

    def mark(self, tenant_id: str, held: list[Reference]) -> None:
        for reference in held:
            self.references.mark(tenant_id, reference.model, reference.version, LOG_PENDING)

    def rebuild_marked(self, tenant_id: str) -> dict[str, str]:
        """Rebuild every marked reference from its window; name → ``rebuilt``/``removed``."""
        done = {}
        for reference in self.references.from_log(tenant_id):
            if reference.source == LOG_PENDING:
                done[named(reference)] = self._rebuild(tenant_id, reference)
        return done

    def _rebuild(self, tenant_id: str, reference: Reference) -> str:
        origin = reference.profile.origin or {}
        model, version = reference.model, reference.version
        try:
            rebuilt = self.drift.store_log_reference(
                tenant_id,
                origin["endpoint"],
                model,
                version,
                datetime.fromisoformat(origin["start"]),
                datetime.fromisoformat(origin["end"]),
            )
        except (InvalidInput, KeyError):  # an empty window, or no window: nothing to keep
            self.references.remove(tenant_id, model, version)
            return "removed"
        if rebuilt.rows == 0:
            self.references.remove(tenant_id, model, version)
            return "removed"
        return "rebuilt"


def _holds(
    reference: Reference, origin: dict[str, Any], predictions: dict[str, list[dict[str, Any]]]
) -> bool:
    start, end = datetime.fromisoformat(origin["start"]), datetime.fromisoformat(origin["end"])
    for location, rows in predictions.items():
        found = ENDPOINT_PART.search(location)
        if found is None or found.group(1) != origin["endpoint"]:
            continue
        for row in rows:
            same = row.get("model") == reference.model and row.get("version") == reference.version
            if same and row.get("time") is not None and start <= row["time"] < end:
                return True
    return False


def _served_before(reference: Reference, predictions: dict[str, list[dict[str, Any]]]) -> bool:
    for rows in predictions.values():
        for row in rows:
            same = row.get("model") == reference.model and row.get("version") == reference.version
            at = row.get("time")
            if same and (at is None or at < reference.created_at):
                return True
    return False


class DatasetReferences:
    def __init__(self, references: ReferenceStore) -> None:
        self.references = references

    def built_from(self, tenant_id: str, dataset_id: str) -> list[str]:
        """The references profiled from this saved training set, by name."""
        found = self.references.from_dataset(tenant_id, dataset_id)
        return [f"drift_references/{model}@{version}" for model, version in found]

    def forget(self, tenant_id: str, dataset_id: str) -> list[str]:
        """Remove them (profiled again from the training set when next asked)."""
        gone = []
        for model, version in self.references.from_dataset(tenant_id, dataset_id):
            if self.references.remove(tenant_id, model, version):
                gone.append(f"drift_references/{model}@{version}")
        return gone
