"""Fenced code blocks of the project's Markdown, and how each kind is run.

A block preceded directly by ``<!-- not run: reason -->`` is not run (the reason is
required); every other block must be of a language listed in ``RUNNERS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`{]*)")
MARKER = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")

PYTHON, SHELL, CONSOLE, YAML, JSON = "python", "shell", "console", "yaml", "json"
RUNNERS = {
    "python": PYTHON,
    "py": PYTHON,
    "bash": SHELL,
    "sh": SHELL,
    "shell": SHELL,
    "console": CONSOLE,
    "yaml": YAML,
    "yml": YAML,
    "json": JSON,
}


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    not_run: str | None  # the marker's reason, if marked

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def runner(self) -> str | None:
        return RUNNERS.get(self.lang.lower())


def documents() -> list[Path]:
    """README.md, docs/*.md and examples/*/README.md, as they are when the test runs."""
    found = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return found + sorted((ROOT / "examples").glob("*/README.md"))


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = _closing(lines, index, opening)
        indent = len(opening["indent"])
        body = "\n".join(_dedent(line, indent) for line in lines[index + 1 : end])
        marker = MARKER.match(lines[index - 1]) if index else None
        relative = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        found.append(
            Block(relative, index + 1, opening["lang"], body, marker["reason"] if marker else None)
        )
        index = end + 1
    return found


def _dedent(line: str, indent: int) -> str:
    """A block line without the fence's indentation (as Markdown reads a list's block)."""
    if not indent or line[:indent].isspace():
        return line[indent:]
    return line.lstrip()


def _closing(lines: list[str], start: int, opening: re.Match) -> int:
    fence = opening["fence"]
    for index in range(start + 1, len(lines)):
        stripped = lines[index].strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            return index
    raise AssertionError(f"unclosed code fence at line {start + 1}")


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in blocks_of(path)]


def check_data_block(block: Block) -> None:
    """A JSON block parses; a YAML block is settings (or an excerpt): unknown keys and bad
    values raise, naming the field."""
    import json

    import yaml

    from ailayer.core.settings import Settings

    if block.runner == JSON:
        json.loads(block.text)
        return
    values = yaml.safe_load(block.text)
    if not isinstance(values, dict):
        raise AssertionError(f"{block.where}: not a mapping of settings")
    Settings(**values)


def console_commands(text: str) -> str:
    """The commands of a console block: its ``$ `` lines (the rest is output)."""
    return "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ "))
