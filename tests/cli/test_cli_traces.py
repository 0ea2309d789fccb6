"""`agentwatch traces` and `agentwatch trace ID`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentwatch import semconv
from agentwatch.cli import main

TRACE_A = 0x4BF92F3577B34DA6A3CE929D0E0E4736
TRACE_B = 0x4BF92F35AAAA0000000000000000000B
TRACE_C = 0x00F067AA0BA902B7000000000000000C


def record_run(recorder: Any, trace_id: int, start_ms: float, *, failing: bool = False) -> None:
    """Record an agent run: a root, two model calls and a tool call between them."""
    root = recorder.span(
        "invoke_agent support",
        trace_id=trace_id,
        start_ms=start_ms,
        duration_ms=120,
        attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT},
    )
    recorder.model_call(
        parent=root,
        start_ms=start_ms + 1,
        duration_ms=40,
        step=1,
        input_tokens=30,
        output_tokens=8,
        events=(
            (
                semconv.EVENT_EVALUATION_RESULT,
                {
                    semconv.GEN_AI_EVALUATION_NAME: "tool_selection",
                    semconv.GEN_AI_EVALUATION_SCORE_LABEL: "correct",
                    semconv.GEN_AI_EVALUATION_SCORE_VALUE: 1.0,
                },
            ),
        ),
    )
    recorder.span(
        "execute_tool lookup_order",
        parent=root,
        start_ms=start_ms + 45,
        duration_ms=5,
        attributes={
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EXECUTE_TOOL,
            semconv.TRAJECTORY_STEP: 2,
        },
        error="order not found" if failing else None,
    )
    recorder.model_call(
        parent=root,
        start_ms=start_ms + 55,
        duration_ms=60,
        step=3,
        input_tokens=50,
        events=(
            (
                semconv.EVENT_EVALUATION_RESULT,
                {
                    semconv.GEN_AI_EVALUATION_NAME: "groundedness",
                    semconv.GEN_AI_EVALUATION_SCORE_LABEL: "unsupported",
                    semconv.GEN_AI_EVALUATION_SCORE_VALUE: 0.25,
                },
            ),
            (semconv.EVENT_EVALUATION_RESULT, {semconv.GEN_AI_EVALUATION_NAME: "task_completion"}),
        ),
    )


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    exit_code = main(list(argv))
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


def test_traces_newest_first(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(recorder, TRACE_A, start_ms=0)
    record_run(recorder, TRACE_B, start_ms=60_000, failing=True)

    exit_code, out, err = run_cli(capsys, "--db", str(recorder.path), "traces")

    assert exit_code == 0
    assert err == ""
    assert out.splitlines() == [
        "trace id          start (UTC)          root                     ms  spans  steps  tokens  status",
        "4bf92f35aaaa0000  2023-11-14 22:14:20  invoke_agent support  120.0      4      3      88  error",
        "4bf92f3577b34da6  2023-11-14 22:13:20  invoke_agent support  120.0      4      3      88  ok",
    ]


def test_traces_json_and_limit(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(recorder, TRACE_A, start_ms=0)
    record_run(recorder, TRACE_B, start_ms=60_000)
    record_run(recorder, TRACE_C, start_ms=120_000)

    exit_code, out, _ = run_cli(capsys, "traces", "--limit", "2", "--json", "--db", str(recorder.path))

    assert exit_code == 0
    rows = json.loads(out)
    assert [row["trace_id"] for row in rows] == [format(TRACE_C, "032x"), format(TRACE_B, "032x")]
    assert rows[0] == {
        "trace_id": format(TRACE_C, "032x"),
        "start_time_ns": 1_700_000_120_000_000_000,
        "root": "invoke_agent support",
        "duration_ms": 120.0,
        "spans": 4,
        "steps": 3,
        "total_tokens": 88,
        "status": "ok",
    }


def test_traces_run_without_usage(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=TRACE_A, duration_ms=2)

    exit_code, out, _ = run_cli(capsys, "--db", str(recorder.path), "traces", "--json")

    assert exit_code == 0
    (row,) = json.loads(out)
    assert row["total_tokens"] is None
    assert row["steps"] is None
    assert row["root"] == "chat smollm2"


def test_trace_tree(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(recorder, TRACE_A, start_ms=0, failing=True)
    record_run(recorder, TRACE_C, start_ms=60_000)

    exit_code, out, err = run_cli(capsys, "--db", str(recorder.path), "trace", "4bf92f35")

    assert exit_code == 0
    assert err == ""
    assert out.splitlines() == [
        "trace 4bf92f3577b34da6a3ce929d0e0e4736",
        "span                         step  model    in tok  out tok     ms  status",
        "invoke_agent support                                         120.0  ok",
        "  chat smollm2                  1  smollm2      30        8   40.0  ok",
        "      eval tool_selection: correct score=1.00",
        "  execute_tool lookup_order     2                              5.0  error",
        "  chat smollm2                  3  smollm2      50            60.0  ok",
        "      eval groundedness: unsupported score=0.25",
        "      eval task_completion: (no label or score)",
    ]


def test_trace_children_ordered_by_start(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = recorder.span("root", trace_id=TRACE_A, duration_ms=100)
    late = recorder.span("late", parent=root, start_ms=50)
    recorder.span("early", parent=root, start_ms=10)
    recorder.span("nested", parent=late, start_ms=60)

    exit_code, out, _ = run_cli(capsys, "--db", str(recorder.path), "trace", format(TRACE_A, "032x"))

    assert exit_code == 0
    header, *rows = out.splitlines()[1:]
    name_width = header.index("step")
    assert [row[:name_width].rstrip() for row in rows] == ["root", "  early", "  late", "    nested"]


def test_trace_ambiguous_prefix(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(recorder, TRACE_A, start_ms=0)
    record_run(recorder, TRACE_B, start_ms=1_000)

    exit_code, out, err = run_cli(capsys, "--db", str(recorder.path), "trace", "4BF92F35")

    assert exit_code == 1
    assert out == ""
    assert err == (
        "agentwatch: error: Trace id prefix 4bf92f35 matches more than one trace. Give more characters.\n"
    )


def test_trace_unknown_id(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(recorder, TRACE_A, start_ms=0)

    exit_code, out, err = run_cli(capsys, "--db", str(recorder.path), "trace", "deadbeef")

    assert exit_code == 1
    assert out == ""
    assert err == (
        f"agentwatch: error: No trace with id deadbeef in {recorder.path}. "
        f"Run `agentwatch --db {recorder.path} traces` to list runs.\n"
    )


def test_trace_prefix_too_short(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(recorder, TRACE_A, start_ms=0)

    exit_code, out, err = run_cli(capsys, "--db", str(recorder.path), "trace", "4bf92f3")

    assert exit_code == 1
    assert out == ""
    assert err == (
        "agentwatch: error: Trace id prefix '4bf92f3' is too short: give at least 8 hex characters.\n"
    )


def test_trace_shows_fallback_and_guardrail(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = recorder.span("invoke_agent support", trace_id=TRACE_A, duration_ms=100)
    recorder.model_call(
        parent=root,
        step=1,
        route="local",
        start_ms=1,
        duration_ms=40,
        events=(
            (
                semconv.EVENT_GUARDRAIL_RESULT,
                {
                    semconv.GUARDRAIL_NAME: "pii",
                    semconv.GUARDRAIL_STAGE: "input",
                    semconv.GUARDRAIL_ACTION: "redact",
                    semconv.GUARDRAIL_PASSED: False,
                    semconv.GUARDRAIL_LABEL: "pii",
                },
            ),
            (
                semconv.EVENT_GUARDRAIL_RESULT,
                {
                    semconv.GUARDRAIL_NAME: "secrets",
                    semconv.GUARDRAIL_STAGE: "input",
                    semconv.GUARDRAIL_ACTION: "none",
                    semconv.GUARDRAIL_PASSED: True,
                    semconv.GUARDRAIL_LABEL: "clean",
                },
            ),
            (
                semconv.EVENT_FALLBACK,
                {
                    semconv.FALLBACK_FROM_ROUTE: "local",
                    semconv.FALLBACK_TO_ROUTE: "approved",
                    semconv.FALLBACK_REASON: "evaluation_failed:groundedness",
                },
            ),
        ),
    )

    exit_code, out, _ = run_cli(capsys, "--db", str(recorder.path), "trace", format(TRACE_A, "032x"))

    assert exit_code == 0
    lines = out.splitlines()
    assert "      guardrail pii (input): pii, action redact" in lines
    assert "      fallback local -> approved (evaluation_failed:groundedness)" in lines
    assert not [line for line in lines if "secrets" in line]
