"""Prompt templates: ``{field}`` placeholders filled from a record, nothing else.

``str.format`` would let a template reach attributes and items (``{x.__class__}``), so a
template is parsed once into literal text and field names; ``{{`` and ``}}`` are literal
braces. Filling is plain concatenation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ailayer.core.errors import InvalidInput

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]+)\}|[{}]")


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[tuple[bool, str], ...]  # (is_field, text or field name)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(text for is_field, text in self.parts if is_field)

    def fill(self, record: dict[str, Any]) -> str:
        return "".join(_text(record[text]) if is_field else text for is_field, text in self.parts)


def parse_template(text: str, where: str) -> Template:
    """The template in ``text``; a lone brace is an error naming ``where``."""
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _TOKEN.finditer(text):
        parts.append((False, text[position : match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((False, token[0]))
        elif match.group(1) is None:
            raise InvalidInput(
                f"{where}: a lone {token!r} at character {match.start()}; write {token * 2} "
                "for a literal brace",
                field="artifact",
            )
        else:
            parts.append((True, match.group(1).strip()))
        position = match.end()
    parts.append((False, text[position:]))
    return Template(tuple(part for part in parts if part[0] or part[1]))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
