"""Running on-demand transforms, the same way for training sets and for served rows.

The registry stores an on-demand view's spec and the SHA-256 of its code, never the code
as something to execute. A process that computes on-demand features loads the user's
definitions (``load_definitions``) and passes them in as ``Transforms``; each applied view
is bound to the loaded function only if the code hashes match, so a model is never
served by code other than the code its training set was built with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ailayer.core.errors import Conflict, InvalidInput
from ailayer.features.definitions import OnDemandView
from ailayer.features.types import check_value


class Transforms:
    """Loaded on-demand functions by name; other definition objects are ignored."""

    def __init__(self, definitions: Iterable[Any] = ()) -> None:
        self._views = {
            d.name: d for d in definitions if isinstance(d, OnDemandView) and d.function is not None
        }

    def bind(self, applied: OnDemandView) -> OnDemandView:
        """The loaded view for an applied spec, refusing code that differs from it."""
        loaded = self._views.get(applied.name)
        if loaded is None:
            raise InvalidInput(
                f"on-demand view {applied.name!r} is applied but its code is not loaded in this "
                "process; load the definitions file and pass it as transforms",
                field="features",
            )
        if loaded.code_sha256 != applied.code_sha256:
            raise Conflict(
                f"on-demand view {applied.name!r}: the loaded code (sha256 "
                f"{loaded.code_sha256[:12]}) differs from the applied code (sha256 "
                f"{applied.code_sha256[:12]}); apply the definitions again or load the applied ones",
                field="features",
            )
        return loaded


def run_row(view: OnDemandView, inputs: dict[str, Any], where: str) -> dict[str, Any]:
    """Call the view's function on one row and check every declared output's type."""
    assert view.function is not None
    try:
        result = view.function(inputs)
    except Exception as exc:
        raise InvalidInput(
            f"on-demand view {view.name!r} failed on {where}: {type(exc).__name__}: {exc}",
            field=view.name,
        ) from exc
    if not isinstance(result, Mapping):
        raise InvalidInput(f"on-demand view {view.name!r} must return a dict", field=view.name)
    outputs = {}
    for feature in view.features:  # type: ignore[union-attr]
        value = result.get(feature.name)
        outputs[feature.name] = check_value(feature.dtype, value, f"{view.name}:{feature.name}")
    return outputs


def input_names(view: OnDemandView) -> list[str]:
    """The names the function's row dict carries: input features, then request fields."""
    return [ref.split(":")[1] for ref in view.inputs] + list(view.request)
