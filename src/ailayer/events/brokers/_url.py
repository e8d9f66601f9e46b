"""Broker URL options: ``?name=value`` pairs that the client library must not see."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from ailayer.core.errors import InvalidInput


def split_options(url: str, known: dict[str, type]) -> tuple[str, dict[str, object]]:
    """Pull ``known`` options out of ``url``'s query; leave the others for the client.

    Values are converted with the given type; a bad value raises ``InvalidInput``.
    """
    base, _, query = url.partition("?")
    options: dict[str, object] = {}
    rest = []
    for name, raw in parse_qsl(query, keep_blank_values=True):
        if name not in known:
            rest.append((name, raw))
            continue
        try:
            options[name] = known[name](raw)
        except ValueError:
            kind = known[name].__name__
            raise InvalidInput(
                f"event_bus option {name} must be {kind}; got {raw!r}", field="event_bus"
            ) from None
    return (f"{base}?{urlencode(rest)}" if rest else base), options
