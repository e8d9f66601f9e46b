"""Every fenced code block of README.md, docs/*.md and examples/*/README.md runs, or says
why not with ``<!-- not run: reason -->`` directly above its opening fence.

- ``python``: each page's blocks in order in one interpreter and namespace (top-level
  ``await`` works, as in ``python -m asyncio``), in the folder of a real ``ailayer up``;
- ``bash``/``sh``/``shell`` (and the ``$`` lines of ``console``): with bash, in that same
  folder, so the CLI finds the server the way a user's does (``.ailayer/server.json``);
- ``yaml``: parsed and validated against the settings model, so a wrong key fails;
- ``json``: parsed.

The documented default URL (``127.0.0.1:8000``) is replaced by the test server's. A block
of any other language without a marker fails: nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.doc_blocks import (
    CONSOLE,
    JSON,
    MARKER,
    PYTHON,
    ROOT,
    SHELL,
    YAML,
    Block,
    all_blocks,
    blocks_of,
    check_data_block,
    console_commands,
    documents,
)
from tests.support.examples import running_up, user_environment

BLOCKS = all_blocks()
DOCUMENTED_URL = "127.0.0.1:8000"
RUNNER = Path(__file__).resolve().parents[1] / "support" / "run_doc_python.py"


def runnable(kind: str) -> list[Block]:
    return [b for b in BLOCKS if b.not_run is None and b.runner == kind]


def test_every_block_runs_or_says_why_not() -> None:
    unknown = [
        f"{b.where} ({b.lang or 'no language'})"
        for b in BLOCKS
        if b.not_run is None and b.runner is None
    ]
    assert not unknown, (
        "blocks of a language the docs test cannot run; give them a language it runs or "
        f"put `<!-- not run: reason -->` directly above the fence: {unknown}"
    )
    assert not [b.where for b in BLOCKS if b.not_run == ""], "a not-run marker needs a reason"


def test_each_marker_sits_directly_above_a_fence() -> None:
    misplaced = []
    for path in documents():
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if MARKER.match(line):
                following = lines[index + 1].lstrip() if index + 1 < len(lines) else ""
                if not following.startswith(("```", "~~~")):
                    misplaced.append(f"{path.relative_to(ROOT)}:{index + 1}")
    assert not misplaced, f"`<!-- not run -->` markers not directly above a fence: {misplaced}"


@pytest.mark.parametrize("block", runnable(YAML) + runnable(JSON), ids=lambda b: b.where)
def test_data_block_is_valid(block: Block) -> None:
    check_data_block(block)


def test_a_settings_excerpt_with_a_wrong_key_or_value_fails() -> None:
    check_data_block(Block("x.md", 1, "yaml", "port: 8001\nhost: 0.0.0.0", None))
    with pytest.raises(ValidationError, match="hots"):
        check_data_block(Block("x.md", 1, "yaml", "hots: 0.0.0.0", None))
    with pytest.raises(ValidationError, match="port"):
        check_data_block(Block("x.md", 1, "yml", "port: eighty", None))
    with pytest.raises(json.JSONDecodeError):
        check_data_block(Block("x.md", 1, "json", '{"a": 1…}', None))


def test_the_reader_finds_markers_languages_and_indented_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro\n\n<!-- not run: a diagram -->\n```\na --> b\n```\n\n"
        "- a list item:\n\n  ```bash\n  ailayer models list\n  ```\n\n"
        "<!-- not run: too far above -->\n\n```python\nprint(1)\n```\n"
        "~~~~text\nwith ``` inside\n~~~~\n"
    )
    found = blocks_of(page)
    assert [(b.line, b.lang, b.not_run) for b in found] == [
        (4, "", "a diagram"),
        (10, "bash", None),
        (16, "python", None),  # a marker must sit directly above the fence
        (19, "text", None),
    ]
    assert found[1].text == "ailayer models list" and found[1].runner == SHELL
    assert found[3].text == "with ``` inside" and found[3].runner is None


# --- against a real server ------------------------------------------------------------------


@dataclass
class Folder:
    """The folder a user runs ``ailayer up`` in, and the environment of their second
    terminal (no AILAYER_*: the CLI must find the server on its own)."""

    path: Path
    env: dict[str, str]
    port: int

    def text(self, block_text: str) -> str:
        return block_text.replace(DOCUMENTED_URL, f"127.0.0.1:{self.port}")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Folder]:
    workdir = tmp_path_factory.mktemp("docs") / "project"
    workdir.mkdir()
    environment = user_environment()
    environment.pop("AILAYER_CONFIG", None)
    with running_up(workdir, environment) as server:
        server.wait_healthy(timeout=60)
        terminal = {k: v for k, v in environment.items() if not k.startswith("AILAYER_")}
        yield Folder(workdir, terminal, int(environment["AILAYER_PORT"]))


def assert_ran(done: subprocess.CompletedProcess, where: str, command: str) -> None:
    report = f"{where}\n$ {command}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, report
    assert "Traceback" not in done.stderr, report


PYTHON_PAGES = sorted({b.path for b in runnable(PYTHON)})


@pytest.mark.e2e
@pytest.mark.parametrize("page", PYTHON_PAGES)
def test_python_blocks_of_page_run(page: str, served: Folder, tmp_path: Path) -> None:
    blocks = [
        {"path": b.path, "where": b.where, "line": b.line, "text": served.text(b.text)}
        for b in runnable(PYTHON)
        if b.path == page
    ]
    listing = tmp_path / "blocks.json"
    listing.write_text(json.dumps(blocks))
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(listing)],
        cwd=served.path,
        env={**served.env, "TMPDIR": str(tmp_path)},  # the examples' temp dirs, cleaned up
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert_ran(done, page, f"python: {len(blocks)} block(s) of {page}")


@pytest.mark.e2e
@pytest.mark.parametrize("block", runnable(SHELL) + runnable(CONSOLE), ids=lambda b: b.where)
def test_shell_block_runs(block: Block, served: Folder) -> None:
    text = block.text if block.runner == SHELL else console_commands(block.text)
    script = "set -euo pipefail\n" + served.text(text)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=served.path,
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_ran(done, block.where, script)


def test_the_environment_of_the_blocks_is_a_users() -> None:
    """The blocks' shell finds this interpreter's ``ailayer`` and ``python`` first."""
    environment = user_environment()
    first = environment["PATH"].split(os.pathsep)[0]
    assert Path(first) == Path(sys.executable).parent
