"""CLI user errors: one line on stderr and exit status 1, usage errors exit 2."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agentwatch.cli import main
from agentwatch.store import SqliteSpanExporter

COMMANDS = [
    pytest.param(["report"], id="report"),
    pytest.param(["traces"], id="traces"),
    pytest.param(["trace", "4bf92f3577b34da6"], id="trace"),
]


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    exit_code = main(argv)
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_default_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    exit_code, out, err = run_cli(capsys, command)

    assert exit_code == 1
    assert out == ""
    assert err == (
        f"agentwatch: error: No trace database at {os.path.join('.agentwatch', 'traces.db')}. "
        "Run an instrumented program first, or pass --db PATH.\n"
    )


def test_db_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "from-env.db"
    monkeypatch.setenv("AGENTWATCH_DB", str(path))

    exit_code, _, err = run_cli(capsys, ["traces"])

    assert exit_code == 1
    assert err.startswith(f"agentwatch: error: No trace database at {path}.")


def test_db_option_beats_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTWATCH_DB", str(tmp_path / "from-env.db"))
    before = tmp_path / "before.db"
    after = tmp_path / "after.db"

    _, _, err_before = run_cli(capsys, ["--db", str(before), "traces"])
    _, _, err_after = run_cli(capsys, ["traces", "--db", str(after)])
    _, _, err_both = run_cli(capsys, ["--db", str(before), "traces", "--db", str(after)])

    assert err_before.startswith(f"agentwatch: error: No trace database at {before}.")
    assert err_after.startswith(f"agentwatch: error: No trace database at {after}.")
    assert err_both.startswith(f"agentwatch: error: No trace database at {after}.")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "content",
    [pytest.param(os.urandom(4096), id="random-bytes"), pytest.param(b"", id="zero-bytes")],
)
def test_corrupt_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], content: bytes
) -> None:
    path = tmp_path / "traces.db"
    path.write_bytes(content)

    exit_code, out, err = run_cli(capsys, ["--db", str(path), *command])

    assert exit_code == 1
    assert out == ""
    assert err == (
        f"agentwatch: error: {path} is not an agentwatch trace database. Pass --db PATH with a "
        "file written by agentwatch, or move this file away.\n"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_empty_db(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    path = tmp_path / "traces.db"
    exporter = SqliteSpanExporter(path)
    exporter.export([])
    exporter.shutdown()

    exit_code, out, err = run_cli(capsys, ["--db", str(path), *command])

    assert exit_code == 1
    assert out == ""
    assert err == f"agentwatch: error: No spans in {path} yet. Run an instrumented program first.\n"


def test_report_without_model_calls(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.span("invoke_agent support", trace_id=1)

    exit_code, out, err = run_cli(capsys, ["--db", str(recorder.path), "report"])

    assert exit_code == 1
    assert out == ""
    assert err == (
        f"agentwatch: error: No model calls in {recorder.path}. Run an instrumented program first.\n"
    )


def test_db_path_is_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = run_cli(capsys, ["--db", str(tmp_path), "traces"])

    assert exit_code == 1
    assert out == ""
    assert err == (
        f"agentwatch: error: {tmp_path} is not a file. Pass --db PATH with an agentwatch trace database.\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["list"], id="unknown-command"),
        pytest.param(["trace"], id="missing-id"),
        pytest.param(["traces", "--limit", "0"], id="zero-limit"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    exit_code, out, err = run_cli(capsys, argv)

    assert exit_code == 2
    assert out == ""
    assert err.startswith("usage: agentwatch")
    assert "Traceback" not in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = run_cli(capsys, ["--help"])

    assert exit_code == 0
    assert err == ""
    assert "report" in out
    assert "--db PATH" in out
