"""What a run records about the code it ran: the git commit (and whether the working tree
had uncommitted changes) of the file declaring the pipeline, and the versions of the
packages that shape a model."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "ailayer",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "scikit-learn",
    "skops",
    "lightgbm",
    "xgboost",
    "xgboost-cpu",
)
GIT_TIMEOUT_SECONDS = 10


def code_version(source: Path | None) -> dict[str, Any]:
    """``{"commit", "dirty", "path"}`` of the git checkout holding ``source`` (``path``
    inside the checkout); a reason instead of a commit when it is not in one (or git is
    missing). No absolute path: runs are shown over the API."""
    if source is None:
        return {"commit": None, "dirty": None, "reason": "the trainer has no source file"}
    folder = source.resolve().parent
    try:
        top = Path(_git(folder, "rev-parse", "--show-toplevel"))
        commit = _git(folder, "rev-parse", "HEAD")
        changes = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "path": source.name, "reason": _why(exc)}
    path = source.resolve().relative_to(top.resolve()).as_posix()
    return {"commit": commit, "dirty": bool(changes), "path": path}


def code_label(version: dict[str, Any] | None) -> str | None:
    """The model version's ``code_version`` string: ``git:<commit>`` plus ``+dirty``."""
    if not version or not version.get("commit"):
        return None
    return f"git:{version['commit']}" + ("+dirty" if version.get("dirty") else "")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (those not installed are left out), and Python's."""
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_SECONDS,
        check=True,
    )
    return done.stdout.strip()


def _why(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        return (exc.stderr or "").strip().splitlines()[0] if exc.stderr else "git failed"
    return f"git unavailable: {exc}"
