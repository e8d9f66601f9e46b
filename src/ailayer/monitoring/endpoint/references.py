"""Reference profiles: what a model version's inputs and scores looked like when it was
trained, kept so that drift of live traffic can be judged against them.

A reference is a drift ``Profile`` (``Profile.to_bytes``) in the artifact store plus one
``drift_references`` row per (tenant, model, version). It comes from:

- ``upload``: rows given explicitly (a DataFrame, or a Parquet/CSV/JSON file);
- ``lineage``: the version's training set, found through its ``dataset_version`` by the
  lineage loaders wired in ``bootstrap`` (feature-store datasets, the demo's simulation),
  profiled on first use and stored;
- ``log``: a fixed window of the prediction log (``EndpointDrift.store_log_reference``);
  the profile keeps the window (``Profile.origin``: endpoint, start, end), so that a data
  subject request finds the references that hold the subject's predictions and rebuilds
  them from the log without those rows (``LogReferences``; ``log-pending`` marks one to
  rebuild while the delete runs, so an interrupted delete rebuilds it when run again).

The profile covers the version's signature inputs, except PII-tagged ones (the log holds
their hashes, which would always look drifted), plus the model's score on the reference
rows under ``SCORE``, for prediction drift.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.core.errors import InvalidInput, NotFound
from ailayer.db.engine import Database
from ailayer.db.tables import ID, UTCDateTime, metadata, model_versions, registered_models
from ailayer.features.offline import OfflineStore
from ailayer.models.artifacts import ArtifactRef, ArtifactStore
from ailayer.models.flavors import get_flavor
from ailayer.models.service import ModelRegistry
from ailayer.models.signature import Signature
from ailayer.models.version import ModelVersion
from ailayer.monitoring.drift import Profile, profile
from ailayer.monitoring.log.pii import PiiPolicy

logger = logging.getLogger("ailayer.monitoring")

SCORE = "__score__"  # the model's score in a profile; judged as prediction drift
CATEGORICAL_TYPES = ("string", "boolean")
LIST_TYPES = ("long_list",)
SCORE_CHUNK_ROWS = 50_000
UPLOAD_FORMATS = ("parquet", "csv", "json")
LOG, LOG_PENDING = "log", "log-pending"  # sources of references built from the log

drift_references = Table(
    "drift_references",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("artifact_uri", Text, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("source", String(40), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

LineageLoader = Callable[[str, str], "pd.DataFrame | None"]
"""(tenant id, dataset_version) → the training rows, or None when not its kind of lineage."""


@dataclass(frozen=True)
class Reference:
    """A stored reference profile and where it came from."""

    model: str
    version: int
    profile: Profile
    rows: int
    source: str
    artifact_sha256: str
    created_at: datetime

    def to_dict(self) -> dict:
        features = {name: s.kind for name, s in self.profile.features.items() if name != SCORE}
        return {
            "model": self.model,
            "version": self.version,
            "rows": self.rows,
            "source": self.source,
            "features": features,
            "score": SCORE in self.profile.features,
            "artifact_sha256": self.artifact_sha256,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Inputs:
    """The inputs of a version that drift watches: names, kinds, which are booleans."""

    names: tuple[str, ...]
    categorical: tuple[str, ...]
    boolean: frozenset[str]
    signature: Signature

    @classmethod
    def of(cls, version: ModelVersion) -> Inputs:
        signature = Signature.parse(version.signature)
        pii = PiiPolicy.from_tags(version.tags).fields
        # lists (a recommender's item ids) have no distribution to compare: not profiled
        kept = [(n, t) for n, t in signature.inputs if n not in pii and t not in LIST_TYPES]
        if any(n == SCORE for n, _ in kept):
            raise InvalidInput(f"an input named {SCORE!r} clashes with the score", field=SCORE)
        return cls(
            names=tuple(n for n, _ in kept),
            categorical=tuple(n for n, t in kept if t in CATEGORICAL_TYPES),
            boolean=frozenset(n for n, t in kept if t == "boolean"),
            signature=signature,
        )


class ReferenceStore:
    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        registry: ModelRegistry,
        lineage: Sequence[LineageLoader] = (),
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.registry = registry
        self.lineage = tuple(lineage)

    def put(
        self,
        tenant_id: str,
        model: str,
        version: int,
        frame: pd.DataFrame,
        *,
        source: str = "upload",
    ) -> Reference:
        """Profile ``frame`` (rows with the version's inputs) and store it as the reference."""
        row = self.registry.get_version(tenant_id, model, version)
        built = self.build(tenant_id, row, frame)
        return self.put_profile(tenant_id, model, version, built, source=source)

    def build(self, tenant_id: str, version: ModelVersion, frame: pd.DataFrame) -> Profile:
        """The reference profile of ``frame`` for ``version``: inputs plus the model's score."""
        inputs = Inputs.of(version)
        missing = [n for n in inputs.names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"the reference rows lack input {missing[0]!r} of {version.model} "
                f"v{version.version}",
                field=missing[0],
            )
        if len(frame) == 0:
            raise InvalidInput("the reference has no rows", field="reference")
        columns = {
            name: frame[name] if name in inputs.categorical else _numeric(frame[name], name)
            for name in inputs.names
        }
        scores = self._scores(tenant_id, version, inputs, frame)
        if scores is not None:
            columns[SCORE] = pd.Series(scores, index=frame.index, dtype=float)
        return profile(pd.DataFrame(columns), categorical=inputs.categorical)

    def put_profile(
        self, tenant_id: str, model: str, version: int, reference: Profile, *, source: str
    ) -> Reference:
        """Store a profile as the version's reference (replacing any earlier one)."""
        self.registry.get_version(tenant_id, model, version)  # NotFound for unknown versions
        ref = self.artifacts.put(tenant_id, reference.to_bytes())
        values = {
            "tenant_id": tenant_id,
            "model": model,
            "version": version,
            "artifact_uri": ref.uri,
            "artifact_sha256": ref.sha256,
            "rows": reference.rows,
            "source": source,
            "created_at": utcnow(),
        }
        try:
            self._replace(values)
        except IntegrityError:  # another process stored one between our delete and insert
            self._replace(values)
        return Reference(
            model, version, reference, reference.rows, source, ref.sha256, values["created_at"]
        )

    def from_log(self, tenant_id: str) -> list[Reference]:
        """The tenant's references built from the log (``log`` and ``log-pending``)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(drift_references.c.model, drift_references.c.version).where(
                    drift_references.c.tenant_id == tenant_id,
                    drift_references.c.source.in_((LOG, LOG_PENDING)),
                )
            ).all()
        found = [self.stored(tenant_id, model, version) for model, version in rows]
        return [r for r in found if r is not None]

    def mark(self, tenant_id: str, model: str, version: int, source: str) -> None:
        """Set a stored reference's ``source`` (``log-pending`` before a rebuild)."""
        with self.db.write() as conn:
            conn.execute(
                drift_references.update()
                .where(*self._key(tenant_id, model, version))
                .values(source=source)
            )

    def remove(self, tenant_id: str, model: str, version: int) -> int:
        """Forget a version's reference (the artifact is left to artifact cleanup)."""
        with self.db.write() as conn:
            return conn.execute(
                delete(drift_references).where(*self._key(tenant_id, model, version))
            ).rowcount

    def from_dataset(self, tenant_id: str, dataset_version: str) -> list[tuple[str, int]]:
        """(model, version) of the references profiled from this saved training set."""
        query = (
            select(drift_references.c.model, drift_references.c.version)
            .select_from(
                drift_references.join(
                    registered_models,
                    (registered_models.c.tenant_id == drift_references.c.tenant_id)
                    & (registered_models.c.name == drift_references.c.model),
                ).join(
                    model_versions,
                    (model_versions.c.model_id == registered_models.c.id)
                    & (model_versions.c.version == drift_references.c.version),
                )
            )
            .where(
                drift_references.c.tenant_id == tenant_id,
                drift_references.c.source == "lineage",
                model_versions.c.dataset_version == dataset_version,
            )
            .order_by(drift_references.c.model, drift_references.c.version)
        )
        with self.db.read() as conn:
            return [(model, version) for model, version in conn.execute(query)]

    def stored(self, tenant_id: str, model: str, version: int) -> Reference | None:
        """The stored reference, without looking at lineage."""
        with self.db.read() as conn:
            row = conn.execute(
                select(drift_references).where(*self._key(tenant_id, model, version))
            ).first()
        if row is None:
            return None
        ref = ArtifactRef(row.artifact_uri, row.artifact_sha256, 0)
        loaded = Profile.from_bytes(self.artifacts.get(tenant_id, ref))
        return Reference(
            model, version, loaded, row.rows, row.source, row.artifact_sha256, row.created_at
        )

    def get(self, tenant_id: str, model: str, version: int) -> Reference | None:
        """The stored reference, else one profiled from the version's lineage (and stored),
        else None."""
        found = self.stored(tenant_id, model, version)
        if found is not None:
            return found
        row = self.registry.get_version(tenant_id, model, version)
        frame = self._lineage_frame(tenant_id, row.dataset_version)
        if frame is None:
            return None
        built = self.build(tenant_id, row, frame)
        return self.put_profile(tenant_id, model, version, built, source="lineage")

    def _lineage_frame(self, tenant_id: str, dataset_version: str | None) -> pd.DataFrame | None:
        if not dataset_version:
            return None
        for loader in self.lineage:
            frame = loader(tenant_id, dataset_version)
            if frame is not None:
                return frame
        return None

    def _scores(
        self, tenant_id: str, version: ModelVersion, inputs: Inputs, frame: pd.DataFrame
    ) -> np.ndarray | None:
        """The model's scores on the reference rows (None when it gives none or cannot run
        on them, e.g. PII inputs left out or missing values)."""
        names = inputs.signature.names
        if any(n not in frame.columns for n in names):
            return None
        model = get_flavor(version.flavor).load(self.registry.load_artifact(tenant_id, version))
        parts = []
        for begin in range(0, len(frame), SCORE_CHUNK_ROWS):
            records = frame.iloc[begin : begin + SCORE_CHUNK_ROWS][list(names)].to_dict("records")
            try:
                result = model.predict(inputs.signature.matrix(records))
            except InvalidInput as exc:
                logger.warning("reference of %s: no scores (%s)", version.model, exc.message)
                return None
            if result.scores is None:
                return None
            parts.append(np.asarray(result.scores, dtype=float))
        return np.concatenate(parts)

    def _replace(self, values: dict) -> None:
        key = self._key(values["tenant_id"], values["model"], values["version"])
        with self.db.write() as conn:
            conn.execute(delete(drift_references).where(*key))
            conn.execute(insert(drift_references).values(**values))

    @staticmethod
    def _key(tenant_id: str, model: str, version: int) -> tuple:
        return (
            drift_references.c.tenant_id == tenant_id,
            drift_references.c.model == model,
            drift_references.c.version == version,
        )


def dataset_loader(offline: OfflineStore) -> LineageLoader:
    """Lineage through the feature store: a ``dataset_version`` saved as Parquet."""

    def load(tenant_id: str, dataset_version: str) -> pd.DataFrame | None:
        try:
            table = offline.read_dataset(tenant_id, dataset_version)
        except NotFound:
            return None
        return None if table is None else table.to_pandas()

    return load


def _numeric(column: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype(float)
    try:
        return pd.to_numeric(column, errors="raise").astype(float)
    except (TypeError, ValueError):
        raise InvalidInput(f"reference input {name!r} must be numeric", field=name) from None


def read_rows(data: bytes, fmt: str) -> pd.DataFrame:
    """Rows from an uploaded file: Parquet, CSV (with a header) or JSON (a list of objects,
    or JSON lines). Errors name the format and what was wrong."""
    if fmt not in UPLOAD_FORMATS:
        raise InvalidInput(
            f"format must be one of {', '.join(UPLOAD_FORMATS)}; got {fmt!r}", field="format"
        )
    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(data))
        return _read_json(data)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"the reference is not valid {fmt}: {exc}", field="file") from None


def _read_json(data: bytes) -> pd.DataFrame:
    import orjson

    text = data.strip()
    if text.startswith(b"["):
        rows = orjson.loads(text)
    else:
        rows = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    if not all(isinstance(r, dict) for r in rows):
        raise ValueError("expected a list of JSON objects (or one object per line)")
    return pd.DataFrame.from_records(rows)


def format_of(filename: str | None, content_type: str | None = None) -> str:
    """The upload format from a file name's extension, else from the content type."""
    name = (filename or "").lower()
    for fmt, endings in (("parquet", (".parquet", ".pq")), ("csv", (".csv",))):
        if name.endswith(endings):
            return fmt
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    kind = (content_type or "").lower()
    if "csv" in kind:
        return "csv"
    if "json" in kind:
        return "json"
    return "parquet"
