"""Read a DVC-tracked file at a git revision, for a feature view's ``DvcSource``.

DVC's Python API (``dvc.api.read`` with ``rev=``) finds the file's content hash in the
``.dvc`` file of that revision and fetches the bytes from the repository's cache or its
remote, so a view pinned to a commit or tag reads the same rows every time. The file is
read whole into Arrow (Parquet or CSV), with a ``__row`` column for the tie-break; DVC
is an optional extra (``pip install 'ailayer[dvc]'``), imported only here and only when
such a source is read.

Failures are answers: a revision, path or repository that does not exist is an
``InvalidInput`` naming it (``source.rev``, ``source.path``, ``source.repo``; data never
pushed to the remote reads, to DVC, as a missing path); a remote that cannot be reached
is ``BackendUnavailable``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.features.definitions import DvcSource


def read_dvc(source: DvcSource, view: str, *, allow_external_paths: bool) -> pa.Table:
    """The file's rows as Arrow, with ``__row`` (its row number) appended."""
    _allowed(view, allow_external_paths)
    dvc = _dvc(view)
    with _answers(source, view):
        data = dvc.api.read(source.path, repo=source.repo, rev=source.rev, mode="rb")
    table = _parse(data, source, view)
    return table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))


def resolve_commit(source: DvcSource, view: str, *, allow_external_paths: bool) -> str:
    """The commit ``source.rev`` names now: what a run records, since a tag or a branch
    may move after it."""
    _allowed(view, allow_external_paths)
    dvc = _dvc(view)
    with _answers(source, view), dvc.repo.Repo.open(source.repo, rev=source.rev) as repo:
        return str(repo.get_rev())


def _allowed(view: str, allow_external_paths: bool) -> None:
    if not allow_external_paths:
        raise InvalidInput(
            f"feature view {view!r}: a DVC source reads a repository outside the offline "
            "store, which this server does not allow (allow_external_feature_paths)",
            field="source.repo",
        )


def _dvc(view: str) -> ModuleType:
    try:
        import dvc.api
        import dvc.repo
    except ImportError:
        raise InvalidInput(
            f"feature view {view!r}: a DVC source needs dvc: pip install 'ailayer[dvc]'",
            field="source",
        ) from None
    return dvc


@contextmanager
def _answers(source: DvcSource, view: str) -> Iterator[None]:
    """DVC's errors as answers naming the field."""
    from dvc.exceptions import DvcException, PathMissingError
    from dvc.scm import CloneError, RevError, SCMError

    where = f"feature view {view!r}: DVC source {source.path!r} in {source.repo!r}"
    try:
        yield
    except RevError:
        raise InvalidInput(
            f"{where}: revision {source.rev!r} does not exist", field="source.rev"
        ) from None
    except (PathMissingError, FileNotFoundError, IsADirectoryError):
        # DVC says the same whether the path is not tracked at this revision or its data
        # is in neither the cache nor the remote
        raise InvalidInput(
            f"{where}: no such file at revision {source.rev!r}, or its data was never "
            "pushed to the DVC remote (dvc push)",
            field="source.path",
        ) from None
    except (CloneError, SCMError) as exc:
        raise InvalidInput(
            f"{where}: not a git repository that can be read ({exc})", field="source.repo"
        ) from None
    except DvcException as exc:
        raise BackendUnavailable(
            f"{where}: the file's data could not be fetched at revision {source.rev!r} "
            f"({type(exc).__name__}: {exc}); retry, or check the DVC remote"
        ) from exc


def _parse(data: bytes, source: DvcSource, view: str) -> pa.Table:
    try:
        if source.path.endswith(".csv"):
            return pa_csv.read_csv(io.BytesIO(data))
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(
            f"feature view {view!r}: {source.path!r} at revision {source.rev!r} is not a "
            f"readable {'CSV' if source.path.endswith('.csv') else 'Parquet'} file: {exc}",
            field="source.path",
        ) from None
