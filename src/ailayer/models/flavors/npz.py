"""A bounded reader of NumPy ``.npz`` archives from untrusted bytes.

``np.load`` would trust the archive: a member's header may declare a shape of terabytes,
an object dtype asks for pickle, a member may be a zip bomb. Here every member is named
in advance, its header is read first and checked (numeric dtype, declared shape, bytes
within the budget), and only then is its data read, with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib

import numpy as np

from ailayer.core.errors import UnsafeArtifact

MAX_ARCHIVE_BYTES = 512 * 2**20  # uncompressed, all members together
NUMERIC_KINDS = "iuf"


def read_npz(
    data: bytes, allowed: frozenset[str], budget: int = MAX_ARCHIVE_BYTES
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive whose members are all in ``allowed`` (names
    without ``.npy``), each numeric, together at most ``budget`` bytes; else
    ``UnsafeArtifact`` saying which member and why."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnsafeArtifact(f"not an .npz archive: {exc}", field="artifact") from None
    arrays: dict[str, np.ndarray] = {}
    used = 0
    with archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name not in allowed or not info.filename.endswith(".npy") or name in arrays:
                raise UnsafeArtifact(
                    f"unexpected member {info.filename!r} in the archive; allowed: "
                    f"{sorted(n + '.npy' for n in allowed)}",
                    field="artifact",
                )
            try:
                with archive.open(info) as member:
                    array, size = _read_member(member, info.filename, budget - used)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
                raise UnsafeArtifact(
                    f"{info.filename}: unreadable: {exc}", field="artifact"
                ) from None
            used += size
            arrays[name] = array
    return arrays


def _read_member(member: io.BufferedIOBase, name: str, left: int) -> tuple[np.ndarray, int]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(member)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise UnsafeArtifact(f"{name}: not a .npy array: {exc}", field="artifact") from None
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        raise UnsafeArtifact(
            f"{name}: dtype {dtype} is refused; only plain integer and float arrays load",
            field="artifact",
        )
    size = math.prod(shape) * dtype.itemsize
    if size > left:
        raise UnsafeArtifact(
            f"{name}: shape {shape} needs {size:,} bytes, over the {left:,} left of the "
            f"model's {MAX_ARCHIVE_BYTES:,}-byte budget",
            field="artifact",
        )
    raw = member.read(size + 1)
    if len(raw) != size:
        raise UnsafeArtifact(
            f"{name}: holds {len(raw):,} bytes of data where its header declares {size:,}",
            field="artifact",
        )
    order = "F" if fortran else "C"
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)
    return array.copy(), size
