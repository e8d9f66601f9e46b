"""The prediction log's part of data subject requests (``governance.privacy``).

A subject's predictions are the logged rows whose inputs (the ``features`` JSON) hold the
subject's key with its value — or, for an input logged as PII, the salted hash of that
value, which is what the log keeps. Its feedback is the labels given for those
predictions. ``erase`` removes the feedback first and the predictions last, so a delete
cut short finds the same prediction ids when it runs again. The in-memory buffer is
flushed first, so rows logged a moment ago are searched too.

Drift references built from a window of the log that holds the subject's predictions are
derived from those rows: ``find`` names them, ``erase`` rebuilds them from the log without
the subject (``references``: ``monitoring/endpoint/privacy.py`` says how). References
stored from the log before they kept their window, of a model version that served the
subject before they were stored, may hold the subject and cannot be rebuilt: ``find``
names them as such, ``erase`` removes them and says that a new one must be stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ailayer.features.files import Folder
from ailayer.features.files.rows import Match, find_rows, remove_rows
from ailayer.features.privacy import json_ready
from ailayer.governance.pii import SaltStore, pii_hash
from ailayer.governance.privacy.subject import Erased, Found, Subject
from ailayer.monitoring.log.layout import feedback_files, prediction_files


class DerivedReferences(Protocol):
    """Drift references built from the log (``monitoring.endpoint.privacy.LogReferences``)."""

    def holding(self, tenant_id: str, predictions: dict[str, list[dict]]) -> list[Any]: ...

    def unknown_holding(self, tenant_id: str, predictions: dict[str, list[dict]]) -> list[Any]: ...

    def forget(self, tenant_id: str, held: list[Any]) -> list[str]: ...

    def mark(self, tenant_id: str, held: list[Any]) -> None: ...

    def rebuild_marked(self, tenant_id: str) -> dict[str, str]: ...


class LogSubjects:
    name = "prediction_log"

    def __init__(
        self,
        tenant_root: Callable[[str], Folder],
        salts: SaltStore,
        flush: Callable[[], Any] | None = None,
        references: DerivedReferences | None = None,
    ) -> None:
        self.tenant_root = tenant_root
        self.salts = salts
        self.flush = flush
        self.references = references

    def _unknown(self, tenant_id: str, predictions: dict[str, list[dict]]) -> list[Any]:
        if self.references is None:
            return []
        return self.references.unknown_holding(tenant_id, predictions)

    def _inputs(self, tenant_id: str, subject: Subject) -> Match:
        salt = self.salts.salt(tenant_id)
        values = {subject.value, pii_hash(subject.value, salt)}
        if subject.value.lstrip("-").isdigit():
            values.add(pii_hash(int(subject.value), salt))
        return Match("features", tuple(sorted(values)), json_key=subject.key)

    def _predictions(self, tenant_id: str, subject: Subject) -> dict[str, list[dict]]:
        if self.flush is not None:
            self.flush()
        root = self.tenant_root(tenant_id)
        files = prediction_files(root, None, None)
        return find_rows(root, files, self._inputs(tenant_id, subject))

    def _feedback_match(self, predictions: dict[str, list[dict]]) -> Match | None:
        ids = tuple(sorted({r["prediction_id"] for rows in predictions.values() for r in rows}))
        return Match("prediction_id", ids) if ids else None

    def find(self, tenant_id: str, subject: Subject) -> Found:
        root = self.tenant_root(tenant_id)
        predictions = self._predictions(tenant_id, subject)
        found = Found(self.name)
        for location, rows in predictions.items():
            found.where[_name(root, location)] = len(rows)
            found.records += [json_ready({"prediction": r}) for r in rows]
        held = self.references.holding(tenant_id, predictions) if self.references else []
        for reference in held:
            found.where[named(reference)] = 1
            summary = {"model": reference.model, "version": reference.version}
            summary |= {"rows": reference.rows, "window": reference.profile.origin}
            found.records.append(json_ready({"drift_reference": summary}))
        unknown = self._unknown(tenant_id, predictions)
        for reference in unknown:
            found.where[named(reference)] = 1
            summary = {"model": reference.model, "version": reference.version}
            summary |= {"rows": reference.rows, "window": None, "may_hold": True}
            found.records.append(json_ready({"drift_reference": summary}))
        if unknown:
            found.note = (
                f"drift references stored from the log before they kept their window may "
                f"hold the subject ({_names(unknown)}): their model version served it before "
                f"they were stored; a delete removes them"
            )
        match = self._feedback_match(predictions)
        if match is not None:
            for location, rows in find_rows(root, feedback_files(root), match).items():
                found.where[_name(root, location)] = len(rows)
                found.records += [json_ready({"feedback": r}) for r in rows]
        return found

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        root = self.tenant_root(tenant_id)
        predictions = self._predictions(tenant_id, subject)
        erased = Erased(self.name)
        if self.references is not None:  # before the rows go: a re-run still finds them
            self.references.mark(tenant_id, self.references.holding(tenant_id, predictions))
            removed = self.references.forget(tenant_id, self._unknown(tenant_id, predictions))
            erased.where |= dict.fromkeys(removed, 1)
            if removed:
                erased.note = (
                    f"drift references stored from the log before they kept their window "
                    f"removed, as they may hold the subject and cannot be rebuilt "
                    f"({', '.join(removed)}); store a new reference for drift: ailayer "
                    f"reference MODEL VERSION --endpoint E --start ... --end ... (or FILE)"
                )
        match = self._feedback_match(predictions)
        if match is not None:
            for location, count in remove_rows(root, feedback_files(root), match).items():
                erased.where[_name(root, location)] = count
        for location, count in remove_rows(
            root, list(predictions), self._inputs(tenant_id, subject)
        ).items():
            erased.where[_name(root, location)] = count
        if self.references is not None:
            done = self.references.rebuild_marked(tenant_id)
            erased.where |= dict.fromkeys(done, 1)
            if done:
                outcome = ", ".join(f"{name} {how}" for name, how in sorted(done.items()))
                erased.note = "; ".join(filter(None, [erased.note, f"drift references: {outcome}"]))
        return erased


def named(reference: Any) -> str:
    return f"drift_references/{reference.model}@{reference.version}"


def _names(references: list[Any]) -> str:
    return ", ".join(f"{r.model}@{r.version}" for r in references)


def _name(root: Folder, location: str) -> str:
    return location.removeprefix(root.location().rstrip("/") + "/")
