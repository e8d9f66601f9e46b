"""Load a user's definitions file (``ailayer apply PATH``).

Definitions are the user's own Python, so importing them is expected; what this module
adds is that a file which does not parse or raises while importing becomes an
``InvalidInput`` naming the file and line, and that loading never touches ``sys.path``.
A directory loads every ``*.py`` in it (not starting with ``_``), in name order.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.features.definitions import KINDS


def load_definitions(path: str | Path) -> list[Any]:
    """Every definition object found at module level in ``path`` (a file, directory or module)."""
    return load_objects(path, tuple(KINDS.values()))


def load_objects(path: str | Path, kinds: tuple[type, ...]) -> list[Any]:
    """Every object of one of ``kinds`` at module level in ``path``: how packages above
    features (pipelines) find their own declarations beside the feature definitions."""
    target = Path(path)
    if target.is_dir():
        files = sorted(p for p in target.glob("*.py") if not p.name.startswith("_"))
        return _unique([obj for file in files for obj in _objects_in(_import_file(file), kinds)])
    if target.suffix == ".py" or target.exists():
        return _unique(_objects_in(_import_file(target), kinds))
    return _unique(_objects_in(_import_module(str(path)), kinds))


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise InvalidInput(f"definitions file {str(path)!r} does not exist", field="path")
    resolved = path.resolve()
    name = f"ailayer_definitions_{hashlib.sha256(str(resolved).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"{path} is not a Python file", field="path")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling-free introspection look it up
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise InvalidInput(f"{path}:{exc.lineno}: {exc.msg}", field="path") from None
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        raise InvalidInput(
            f"{path}:{_line_in(exc, resolved)}: {_message(exc)}", field="path"
        ) from None
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except SyntaxError as exc:
        raise InvalidInput(f"{exc.filename}:{exc.lineno}: {exc.msg}", field="path") from None
    except ModuleNotFoundError:
        raise InvalidInput(f"no definitions file or module named {name!r}", field="path") from None
    except (Exception, SystemExit) as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise InvalidInput(
            f"{frame.filename}:{frame.lineno}: {_message(exc)}", field="path"
        ) from None


def _line_in(exc: BaseException, path: Path) -> int | None:
    """The deepest line of the user's file in the traceback: where their code went wrong."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return frames[-1].lineno if frames else None


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"


def _objects_in(module: ModuleType, kinds: tuple[type, ...]) -> list[Any]:
    return [value for value in vars(module).values() if isinstance(value, kinds)]


def _unique(objects: list[Any]) -> list[Any]:
    """The same object imported under two names is one definition."""
    seen: dict[int, Any] = {}
    for obj in objects:
        seen.setdefault(id(obj), obj)
    return list(seen.values())
