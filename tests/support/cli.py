"""The ``ailayer`` command run in-process, as a shell would run it."""

from __future__ import annotations

from click.testing import CliRunner, Result

from ailayer.cli.main import cli


def run(*args: str, input: str | bytes | None = None) -> Result:
    """``ailayer ARGS`` with ``input`` on stdin; its result, whatever it is."""
    return CliRunner().invoke(cli, list(args), input=input, prog_name="ailayer")


def ok(*args: str, input: str | bytes | None = None) -> Result:
    """``ailayer ARGS``, which must succeed."""
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    return result


def assert_one_clear_error(result: Result, exit_code: int, words: str) -> None:
    """The command failed with ``exit_code`` and one ``Error:`` line holding ``words``."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not a crash
    assert "Traceback" not in result.output
    assert result.stdout == ""  # errors go to stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert words in errors[0]
    if exit_code == 1:  # not a usage error: the error line is all there is
        assert result.stderr.strip() == errors[0]
