"""The file formats batch maps read and write, told by the file name: Parquet or CSV."""

from __future__ import annotations

from pathlib import Path

from ailayer.core.errors import InvalidInput

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def file_format(path: str, field: str) -> str:
    """``parquet`` or ``csv`` by the name's suffix; anything else names ``field``."""
    found = FORMATS.get(Path(path).suffix.lower())
    if found is None:
        raise InvalidInput(
            f"{field} must name a .parquet, .pq or .csv file; got {path!r}", field=field
        )
    return found


def check_paths(source: str, target: str) -> tuple[str, str]:
    """The formats of an existing ``source`` and a ``target`` that does not exist yet (a
    batch job never overwrites what it was not asked to)."""
    kinds = file_format(source, "--input"), file_format(target, "--output")
    if not Path(source).exists():
        raise InvalidInput(f"--input {source!r} does not exist", field="--input")
    if Path(target).exists():
        raise InvalidInput(
            f"--output {target!r} already exists; remove it or name another", field="--output"
        )
    return kinds
