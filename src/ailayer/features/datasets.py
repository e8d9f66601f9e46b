"""Dataset versions: the record of a training set, so a model version can point at it.

A record keeps the content hash, row count and schema of the table, the feature refs
asked for and the exact definition revisions used, the time range of the entity rows,
and where the table was saved (if it was). Its id is the ``dataset_version`` string a
model version stores.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select

from ailayer.core.clock import utcnow
from ailayer.core.errors import NotFound
from ailayer.db.engine import Database
from ailayer.features.tables import feature_datasets

HASH_THREADS = 2


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    id: str
    content_sha256: str
    row_count: int
    schema: list[dict[str, str]]
    features: list[str]
    definitions: dict[str, Any]
    start_at: datetime | None
    end_at: datetime | None
    location: str | None
    created_at: datetime
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def content_hash(table: pa.Table) -> str:
    """SHA-256 of the table's schema and values, independent of its physical layout.

    Chunking, the presence of an all-valid bitmap, the bits past the end of a bitmap and
    whatever bytes sit under null slots all vary with how the table was computed (thread
    timing, a reorder), so they are left out. Each column has a digest of its own (two
    threads share the columns; hashlib releases the GIL): its validity (one byte per row)
    if it has nulls, then its non-null values — the raw values of a fixed-width numeric or
    temporal column, the Arrow IPC form of any other. The hash is the SHA-256 of the
    schema followed by the column digests. Equal data gives an equal hash however it was
    produced."""
    digest = hashlib.sha256(memoryview(table.schema.serialize()))
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        for column_digest in pool.map(_column_digest, table.columns):
            digest.update(column_digest)
    return digest.hexdigest()


def _column_digest(chunked: pa.ChunkedArray) -> bytes:
    digest = hashlib.sha256()
    column = chunked.combine_chunks()  # a copy only where there are several chunks
    if column.null_count:
        valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
        digest.update(b"\x01")
        digest.update(memoryview(valid.view(np.uint8)))
        column = column.drop_null()
    else:
        digest.update(b"\x00")
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind):
        width = kind.bit_width // 8
        data = column.buffers()[1]
        if data is not None:  # the values themselves, with no copy
            digest.update(
                memoryview(data)[column.offset * width : (column.offset + len(column)) * width]
            )
        return digest.digest()
    single = pa.RecordBatch.from_arrays([column], names=["v"])
    digest.update(memoryview(single.serialize()))
    return digest.digest()


def schema_of(table: pa.Table) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in table.schema]


def save_dataset(db: Database, tenant_id: str, record: DatasetVersion) -> DatasetVersion:
    with db.write() as conn:
        conn.execute(insert(feature_datasets).values(tenant_id=tenant_id, **record.to_dict()))
    return record


def get_dataset(db: Database, tenant_id: str, dataset_version: str) -> DatasetVersion:
    with db.read() as conn:
        row = conn.execute(
            select(feature_datasets).where(
                feature_datasets.c.tenant_id == tenant_id, feature_datasets.c.id == dataset_version
            )
        ).first()
    if row is None:
        raise NotFound(f"no dataset version {dataset_version!r}")
    values = dict(row._mapping)
    values.pop("tenant_id")
    return DatasetVersion(**values)


def new_record(**fields: Any) -> DatasetVersion:
    return DatasetVersion(created_at=utcnow(), **fields)
