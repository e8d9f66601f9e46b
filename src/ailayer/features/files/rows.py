"""Rows of the offline store's Parquet files that match a value: found, or removed.

What privacy requests use on everything ailayer writes as Parquet (saved training sets,
stream logs, the prediction log, feedback). A ``Match`` names a column and the texts its
value may have (``42`` matches the integer 42 and the string "42"), or a key inside a JSON
text column. Files are read and rewritten one at a time through the ``Folder``, so the
same code serves a local directory and S3; a file is replaced whole (``write_parquet`` is
atomic) or not at all, and a file without the column is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ailayer.features.files import Folder, connect

ROW = "__ailayer_row"


@dataclass(frozen=True)
class Match:
    """Rows whose ``column`` (or, with ``json_key``, that key of its JSON) reads as one
    of ``values``."""

    column: str
    values: tuple[str, ...]
    json_key: str | None = None

    def condition(self) -> tuple[str, list[Any]]:
        quoted = '"' + self.column.replace('"', '""') + '"'
        marks = ", ".join("?" for _ in self.values)
        if self.json_key is None:
            return f"CAST({quoted} AS VARCHAR) IN ({marks})", list(self.values)
        pointer = "/" + self.json_key.replace("~", "~0").replace("/", "~1")
        return f"json_extract_string({quoted}, ?) IN ({marks})", [pointer, *self.values]


def _matching_rows(table: pa.Table, match: Match) -> pa.Table | None:
    """The matching rows of ``table`` with their positions in column ``ROW`` (None when
    the table has no such column)."""
    if match.column not in table.column_names:
        return None
    numbered = table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))
    condition, params = match.condition()
    con = connect()
    try:
        con.register("rows_table", numbered)
        query = f"SELECT * FROM rows_table WHERE {condition}"
        return con.sql(query, params=params).to_arrow_table()
    finally:
        con.close()


def find_rows(
    folder: Folder, locations: Sequence[str], match: Match
) -> dict[str, list[dict[str, Any]]]:
    """Matching rows per file location (files with no match left out)."""
    found = {}
    for location in locations:
        hits = _matching_rows(folder.read_parquet(location), match)
        if hits is not None and hits.num_rows:
            found[location] = hits.drop_columns([ROW]).to_pylist()
    return found


def remove_rows(folder: Folder, locations: Sequence[str], match: Match) -> dict[str, int]:
    """Rewrite each file without its matching rows; rows removed per location."""
    removed = {}
    for location in locations:
        table = folder.read_parquet(location)
        hits = _matching_rows(table, match)
        if hits is None or not hits.num_rows:
            continue
        positions = pa.array(range(table.num_rows), pa.int64())
        keep = pc.invert(pc.is_in(positions, hits.column(ROW)))
        folder.write_parquet(relative(folder, location), table.filter(keep))
        removed[location] = hits.num_rows
    return removed


def relative(folder: Folder, location: str) -> str:
    """``location`` (of a file under ``folder``) as a name ``folder.write_parquet`` takes."""
    base = folder.location().rstrip("/") + "/"
    if not location.startswith(base):
        raise ValueError(f"{location} is not under {base}")
    return location[len(base) :]
