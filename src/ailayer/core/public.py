"""What answers may say about where things are kept: never an absolute server path.

Artifacts are named by content (``artifacts://sha256/<hex>``), saved training sets by
their path inside the tenant's offline store, and error messages that mention a stored
file name it relative to the home (or to the setting that put it elsewhere). The
registry and the stores keep their real locations; only answers are rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ailayer.core.settings import Settings

ARTIFACT_SCHEME = "artifacts://sha256/"


def artifact_uri(sha256: str) -> str:
    """A version's artifact as answers name it: by content, wherever it is stored."""
    return f"{ARTIFACT_SCHEME}{sha256}"


def dataset_in_store(dataset: dict[str, Any], tenant_root_url: str) -> dict[str, Any]:
    """``dataset`` with ``location`` relative to the tenant's offline store folder."""
    location = dataset.get("location")
    if not location:
        return dataset
    root = tenant_root_url.rstrip("/") + "/"
    relative = location.removeprefix(root) if location.startswith(root) else Path(location).name
    return {**dataset, "location": relative}


def path_scrubber(settings: Settings) -> Callable[[str], str]:
    """A function that rewrites the server's local paths in a message: under the home
    relative to it, under a store configured elsewhere as ``<setting>/...``."""
    replacements: dict[str, str] = {}
    for name, root in _local_roots(settings):
        for form in {root.absolute(), root.resolve()}:
            replacements[f"file://{form}/"] = name
            replacements[f"{form}/"] = name
            replacements[f"file://{form}"] = name.rstrip("/") or "."
            replacements[str(form)] = name.rstrip("/") or "."
    ordered = sorted(replacements.items(), key=lambda item: len(item[0]), reverse=True)

    def scrub(text: str) -> str:
        for path, shown in ordered:
            if path in text:
                text = text.replace(path, shown)
        return text

    return scrub


def scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    """``value`` (JSON-like) with ``scrub`` applied to every string in it."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(v, scrub) for v in value]
    return value


def _local_roots(settings: Settings) -> list[tuple[str, Path]]:
    """(how answers name it, local directory) for the home and stores kept elsewhere."""
    home = settings.home.resolve()
    roots = [("", settings.home)]
    for name, root in _store_roots(settings):
        if not root.resolve().is_relative_to(home):  # under the home: named from it
            roots.append((f"<{name}>/", root))
    return roots


def _store_roots(settings: Settings) -> list[tuple[str, Path]]:
    """The local directory of each store configured by a file or SQLite URL."""
    found = []
    for name in ("artifacts", "offline_store"):
        url: str = getattr(settings, name)
        if url.startswith("file://"):
            found.append((name, Path(url.removeprefix("file://"))))
    for name in ("metadata_url", "online_store", "event_bus"):
        url = getattr(settings, name)
        for scheme in ("sqlite:///", "embedded://"):
            if url.startswith(scheme) and url != f"{scheme}:memory:":
                found.append((name, Path(url.removeprefix(scheme)).parent))
    return found
