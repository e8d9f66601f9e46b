"""Read a skops file's schema and refuse it unless every name in it is allowed.

skops builds a model by walking ``schema.json``: each node names a loader and a
``module.name`` that the loader imports and then instantiates, calls or keeps. We walk
the same JSON before skops sees it and check each node against the allow-list for its
loader's role (``skops_allowlist``), independently of what skops trusts by default.
Loaders that bind methods, partials or ``operator`` callables, and loaders we do not
know, are refused outright. Only a file that passes is handed to ``skops.io.loads``,
with exactly the names found here as its trusted types.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from io import BytesIO
from typing import Any

from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors.skops_allowlist import CLASSES, PURE_FUNCTIONS, VALUE_TYPES

_ANY = None  # the loader's name is never imported (JSON literals, back-references)

LOADER_RULES: dict[str, frozenset[str] | None] = {
    "ObjectNode": CLASSES,
    "ReduceNode": CLASSES,
    "TreeNode": CLASSES,
    "LossNode": CLASSES,
    "RandomStateNode": CLASSES,
    "RandomGeneratorNode": CLASSES,
    "SparseMatrixNode": CLASSES,
    "MaskedArrayNode": CLASSES,
    "NdArrayNode": VALUE_TYPES,
    "DTypeNode": frozenset({"numpy.dtype"}),
    "TypeNode": VALUE_TYPES | PURE_FUNCTIONS,
    "FunctionNode": PURE_FUNCTIONS,
    "DictNode": frozenset(
        {"builtins.dict", "collections.OrderedDict", "sklearn.utils._bunch.Bunch"}
    ),
    "DefaultDictNode": frozenset({"collections.defaultdict"}),
    "ListNode": frozenset({"builtins.list"}),
    "SetNode": frozenset({"builtins.set", "builtins.frozenset"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    "BytesNode": frozenset({"builtins.bytes"}),
    "BytearrayNode": frozenset({"builtins.bytearray"}),
    "SliceNode": frozenset({"builtins.slice"}),
    "JsonNode": _ANY,
    "CachedNode": _ANY,
}

ALLOW_LIST_HINT = (
    "only an explicit list of scikit-learn estimators and transformers, numpy value types "
    "and pure element-wise functions may appear in a model file (see docs/security.md)"
)


def audit(data: bytes) -> list[str]:
    """The names this file will import, all allowed; raises ``UnsafeArtifact`` if not."""
    schema = _schema(data)
    needed: set[str] = set()
    refused: set[str] = set()
    for loader, name in _nodes(schema):
        rule = LOADER_RULES.get(loader, frozenset())
        if rule is _ANY:
            continue
        if name in rule:
            needed.add(name)
        else:
            refused.add(name if loader in LOADER_RULES else f"{name} (as {loader})")
    if refused:
        raise UnsafeArtifact(
            f"the model file names types or functions that are not allowed: "
            f"{', '.join(sorted(refused))}; {ALLOW_LIST_HINT}",
            field="artifact",
        )
    return sorted(needed)


def _schema(data: bytes) -> Any:
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            return json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"not a readable skops file (no valid schema.json): {exc}", field="artifact"
        ) from exc


def _nodes(state: Any) -> Iterator[tuple[str, str]]:
    """Every ``(loader, module.name)`` in the schema, wherever it is nested."""
    stack = [state]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if "__loader__" in item:
                yield _node_name(item)
            stack.extend(item.values())


def _node_name(node: dict) -> tuple[str, str]:
    loader, module, name = node.get("__loader__"), node.get("__module__"), node.get("__class__")
    if not all(isinstance(part, str) for part in (loader, module, name)):
        raise UnsafeArtifact(
            "the model file has a node without a loader, module and class name",
            field="artifact",
        )
    return loader, f"{module}.{name}"
