"""`agentwatch report`: per model and route aggregates."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agentwatch import semconv
from agentwatch.cli import main

HOUR_NS = 3600 * 1_000_000_000


def report_json(recorder: Any, capsys: pytest.CaptureFixture[str], *options: str) -> list[dict[str, Any]]:
    exit_code = main(["--db", str(recorder.path), "report", "--json", *options])
    captured = capsys.readouterr()
    assert exit_code == 0, captured.err
    assert captured.err == ""
    return json.loads(captured.out)


def test_report_latency_percentiles(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for trace_id, duration_ms in enumerate([40, 10, 100, 30, 20], start=1):
        recorder.model_call(trace_id=trace_id, duration_ms=duration_ms)

    (row,) = report_json(recorder, capsys)

    assert row["calls"] == 5
    # Linear interpolation: p50 is the middle value, p99 sits at rank 3.96 between 40 and 100.
    assert row["latency_p50_ms"] == 30.0
    assert row["latency_p99_ms"] == 97.6


def test_report_table(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, duration_ms=10, input_tokens=100, output_tokens=20)
    recorder.model_call(trace_id=1, duration_ms=30, input_tokens=50, output_tokens=10, error="timeout")
    recorder.model_call(
        trace_id=2,
        model="gpt-4o-mini",
        route="approved",
        duration_ms=200,
        extra={semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18"},
    )

    exit_code = main(["report", "--db", str(recorder.path)])
    captured = capsys.readouterr()

    assert exit_code == 0
    assert captured.err == ""
    assert captured.out.splitlines() == [
        "model             route           calls  errors  p50 ms  p99 ms  ttft ms  in tok  out tok"
        "  tok/trace",
        # The model column is cut in the middle so the table fits 100 columns.
        "gpt-4o-..4-07-18  approved            1       0   200.0   200.0",
        "smollm2           127.0.0.1:8080      2       1    20.0    29.8              150       30"
        "      180.0",
    ]
    assert max(len(line) for line in captured.out.splitlines()) <= 100


def test_report_tokens_skip_missing_usage(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, input_tokens=10, output_tokens=5)
    recorder.model_call(trace_id=1)
    recorder.model_call(trace_id=2, input_tokens=20, output_tokens=7)
    recorder.model_call(trace_id=3)

    (row,) = report_json(recorder, capsys)

    assert row["calls"] == 4
    assert row["input_tokens"] == 30
    assert row["output_tokens"] == 12
    # Trace 3 reported no usage, so it is left out: (15 + 27) / 2.
    assert row["tokens_per_trace"] == 21.0


def test_report_without_usage_is_blank(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, duration_ms=5)

    (row,) = report_json(recorder, capsys)
    exit_code = main(["--db", str(recorder.path), "report"])
    table = capsys.readouterr().out.splitlines()

    assert row["input_tokens"] is None
    assert row["output_tokens"] is None
    assert row["tokens_per_trace"] is None
    assert row["time_to_first_chunk_p50_ms"] is None
    assert exit_code == 0
    assert table[1] == "smollm2  127.0.0.1:8080      1       0     5.0     5.0"


def test_report_counts_errors(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = recorder.span(
        "invoke_agent support",
        trace_id=1,
        attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT},
        error="agent failed",
    )
    recorder.model_call(parent=root, error="rate limited")
    recorder.model_call(parent=root)
    recorder.model_call(parent=root, error="timed out")

    (row,) = report_json(recorder, capsys)

    assert row["calls"] == 3
    assert row["errors"] == 2


def test_report_route_fallback(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, model="a", route="approved")
    recorder.model_call(trace_id=2, model="b")
    recorder.model_call(trace_id=3, model="c", extra={semconv.SERVER_ADDRESS: "10.0.0.5"})
    recorder.span(
        "chat d",
        trace_id=4,
        attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_CHAT, semconv.SERVER_PORT: 1},
    )
    # Without a port only the address is shown.
    recorder.span(
        "chat e",
        trace_id=5,
        attributes={
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_CHAT,
            semconv.GEN_AI_REQUEST_MODEL: "e",
            semconv.SERVER_ADDRESS: "api.example.com",
        },
    )

    rows = report_json(recorder, capsys)

    assert [(row["model"], row["route"]) for row in rows] == [
        ("-", "-"),
        ("a", "approved"),
        ("b", "127.0.0.1:8080"),
        ("c", "10.0.0.5:8080"),
        ("e", "api.example.com"),
    ]


def test_report_prefers_response_model(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(
        trace_id=1, model="gpt-4o", extra={semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06"}
    )
    recorder.model_call(trace_id=2, model="gpt-4o")

    rows = report_json(recorder, capsys)

    assert [(row["model"], row["calls"]) for row in rows] == [("gpt-4o", 1), ("gpt-4o-2024-08-06", 1)]


def test_report_skips_non_model_spans(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = recorder.span(
        "invoke_agent support",
        trace_id=1,
        attributes={
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT,
            semconv.GEN_AI_REQUEST_MODEL: "smollm2",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 999,
        },
    )
    recorder.span(
        "execute_tool lookup",
        parent=root,
        attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EXECUTE_TOOL},
    )
    recorder.model_call(
        parent=root, input_tokens=4, extra={semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EMBEDDINGS}
    )
    recorder.model_call(parent=root, input_tokens=6, extra={semconv.GEN_AI_OPERATION_NAME: "text_completion"})

    (row,) = report_json(recorder, capsys)

    assert row["calls"] == 2
    assert row["input_tokens"] == 10


def test_report_time_to_first_chunk(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, extra={semconv.RESPONSE_TIME_TO_FIRST_CHUNK: 0.02})
    recorder.model_call(trace_id=2, extra={semconv.RESPONSE_TIME_TO_FIRST_CHUNK: 0.04})
    recorder.model_call(trace_id=3)

    (row,) = report_json(recorder, capsys)

    assert row["time_to_first_chunk_p50_ms"] == 30.0


def test_report_since(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time_ns()
    recorder.model_call(trace_id=1, model="old", start_ns=now - 2 * HOUR_NS)
    recorder.model_call(trace_id=2, model="new", start_ns=now - HOUR_NS // 2)

    rows = report_json(recorder, capsys, "--since", "1h")
    all_rows = report_json(recorder, capsys)

    assert [row["model"] for row in rows] == ["new"]
    assert [row["model"] for row in all_rows] == ["new", "old"]


def test_report_since_matches_nothing(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, start_ns=time.time_ns() - 2 * HOUR_NS)

    exit_code = main(["--db", str(recorder.path), "report", "--since", "30m"])
    captured = capsys.readouterr()

    assert exit_code == 1
    assert captured.out == ""
    assert captured.err == (
        f"agentwatch: error: No model calls in {recorder.path} in the last 1800 s. "
        "Run an instrumented program first.\n"
    )


@pytest.mark.parametrize("since", ["1", "h", "0m", "1.5h", "3y"])
def test_report_since_invalid(recorder: Any, capsys: pytest.CaptureFixture[str], since: str) -> None:
    recorder.model_call(trace_id=1)

    exit_code = main(["--db", str(recorder.path), "report", "--since", since])
    captured = capsys.readouterr()

    assert exit_code == 2
    assert captured.out == ""
    assert f"invalid age {since!r}" in captured.err
