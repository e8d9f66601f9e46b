"""What the CLI shows a person: each command's help says how it reaches the system,
tables fit the terminal (or are never cut with ``--wide`` or when piped), and library
log lines stay out of the output unless ``--verbose``."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ailayer.cli.main import COMMANDS, cli
from ailayer.cli.output import print_table
from tests.support.up import ailayer_command

HOW = (
    "Uses the API at --url with --api-key.",
    "Set-up:",
    "Worker:",
    "Operator:",
    "Runs here on the configured stores",
)


def all_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and group under ``ailayer`` as its words and itself, e.g.
    (("monitor", "rules", "add"), <Command add>)."""
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(words: tuple[str, ...], command: click.Command) -> None:
        found.append((words, command))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk((*words, name), sub)

    context = click.Context(cli)
    for name in cli.list_commands(context):
        walk((name,), cli.get_command(context, name))  # type: ignore[arg-type]
    return found


def leaf_commands() -> list[tuple[str, ...]]:
    """Every runnable command as its words, e.g. ("monitor", "rules", "add")."""
    return [
        words
        for words, command in all_commands()
        if not isinstance(command, click.Group) or command.invoke_without_command
    ]


def help_text(*words: str) -> str:
    result = CliRunner().invoke(cli, [*words, "--help"], prog_name="ailayer", terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize("words", leaf_commands(), ids=" ".join)
def test_each_command_says_whether_it_uses_the_api_or_the_stores(words) -> None:  # type: ignore[no-untyped-def]
    text = help_text(*words)
    assert any(how in text for how in HOW), text
    if "Uses the API" in text:
        assert "--url" in text.split("Options:")[1] and "--api-key" in text


def test_every_command_and_group_answers_help() -> None:
    words = [w for w, _ in all_commands()]
    assert set(COMMANDS) <= {w[0] for w in words}  # every command of the table is walked
    for each in [(), *words]:
        assert help_text(*each).startswith(" ".join(("Usage: ailayer", *each)))


def test_keys_create_help_names_its_option_not_an_argument() -> None:
    text = help_text("keys", "create")
    assert "for TENANT" not in text
    assert "Usage: ailayer keys create [OPTIONS] NAME" in text
    assert "With --tenant: Set-up: writes to the metadata database directly" in text


LONG = "a-rather-long-model-name-that-a-real-tenant-might-well-choose-for-itself"


def test_a_table_piped_to_a_file_or_program_is_never_cut(capsys) -> None:  # type: ignore[no-untyped-def]
    print_table([{"name": LONG, "note": "x" * 60}], ["name", "note"], title="models")
    out = capsys.readouterr().out
    assert LONG in out and "x" * 60 in out  # whole, on one line each
    assert max(len(line) for line in out.splitlines()) > 80


def run_in_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """The command's screen output in a pseudo-terminal ``columns`` wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["AILAYER_HOME"] = str(cwd / ".ailayer")
    env["TERM"] = "dumb-but-sized"  # a real terminal that rich still measures
    process = subprocess.Popen(
        [*ailayer_command(), *args], cwd=cwd, env=env, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the command is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0, b"".join(chunks).decode()
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", b"".join(chunks).decode())
    return text.replace("\r\n", "\n")


def test_a_table_fits_the_terminal_and_wide_never_cuts(tmp_path: Path) -> None:
    args = ["events", "dlq", "list", "--topic", "payments"]
    narrow = run_in_terminal(args, tmp_path, columns=50)
    assert max(len(line) for line in narrow.splitlines()) <= 50, narrow
    assert "dlqattempts" not in narrow  # a header cut to fit
    wide = run_in_terminal([*args, "--wide"], tmp_path, columns=50)
    assert "dlqattempts" in wide and "dlqerror" in wide, wide
    assert max(len(line) for line in wide.splitlines()) > 50


def cli_process(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILAYER_")}
    env["AILAYER_HOME"] = str(cwd / ".ailayer")
    return subprocess.run(
        [*ailayer_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_migration_log_lines_only_with_verbose(tmp_path: Path) -> None:
    made = cli_process(tmp_path, "keys", "create", "worker", "--role", "service", "--tenant", "t")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    infer = ["infer", "fraud", "--topic", "payments", "--until-idle", "--api-key", key]
    quiet = cli_process(tmp_path, *infer)
    assert quiet.returncode == 0, quiet.stderr
    assert "alembic" not in quiet.stderr and "Context impl" not in quiet.stderr, quiet.stderr
    assert re.search(r"infer-[0-9a-f]{16}-fraud: processed 0", quiet.stdout), quiet.stdout
    loud = cli_process(tmp_path, "--verbose", *infer)
    assert loud.returncode == 0, loud.stderr
    assert "Context impl" in loud.stderr


def test_help_of_the_group_states_the_rule() -> None:
    text = help_text()
    assert "use its HTTP API with a key" in text and "--verbose" in text
