"""`agentwatch report`: evaluations, fallbacks, guardrails, timeouts, cost and mirrors per route."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentwatch import semconv
from agentwatch.cli import main


def run_report(recorder: Any, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    exit_code = main(["--db", str(recorder.path), "report", *options])
    captured = capsys.readouterr()
    assert exit_code == 0, captured.err
    assert captured.err == ""
    return captured.out


def report_json(recorder: Any, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(run_report(recorder, capsys, "--json"))
    return rows


def evaluation(name: str, passed: bool | None) -> tuple[str, dict[str, Any]]:
    attributes: dict[str, Any] = {
        semconv.GEN_AI_EVALUATION_NAME: name,
        semconv.GEN_AI_EVALUATION_SCORE_VALUE: 1.0 if passed else 0.0,
        semconv.GEN_AI_EVALUATION_SCORE_LABEL: "pass" if passed else "fail",
        semconv.EVALUATION_TIER: "heuristic",
    }
    if passed is not None:
        attributes[semconv.EVALUATION_PASSED] = passed
    return semconv.EVENT_EVALUATION_RESULT, attributes


def guardrail(name: str, action: str, passed: bool) -> tuple[str, dict[str, Any]]:
    return semconv.EVENT_GUARDRAIL_RESULT, {
        semconv.GUARDRAIL_NAME: name,
        semconv.GUARDRAIL_STAGE: "input",
        semconv.GUARDRAIL_ACTION: action,
        semconv.GUARDRAIL_PASSED: passed,
        semconv.GUARDRAIL_LABEL: "clean" if passed else name,
    }


def fallback_event(reason: str) -> tuple[str, dict[str, Any]]:
    return semconv.EVENT_FALLBACK, {
        semconv.FALLBACK_FROM_ROUTE: "local",
        semconv.FALLBACK_TO_ROUTE: "approved",
        semconv.FALLBACK_FROM_MODEL: "smollm2",
        semconv.FALLBACK_TO_MODEL: "gpt-4o",
        semconv.FALLBACK_REASON: reason,
        semconv.FALLBACK_ATTEMPT: 1,
    }


def fallback_attempt_attributes(reason: str) -> dict[str, Any]:
    return {
        semconv.FALLBACK_ATTEMPT: 1,
        semconv.FALLBACK_REASON: reason,
        semconv.FALLBACK_FROM_ROUTE: "local",
    }


def agent_root(recorder: Any, trace_id: int, *events: tuple[str, dict[str, Any]]) -> Any:
    return recorder.span(
        "invoke_agent support",
        trace_id=trace_id,
        duration_ms=200,
        attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT},
        events=events,
    )


def test_report_no_policy_data(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, route="local", duration_ms=10, input_tokens=5, output_tokens=2)
    # An error that is not a timeout adds no section.
    recorder.model_call(
        trace_id=2,
        route="local",
        duration_ms=30,
        error="rate limited",
        extra={semconv.ERROR_TYPE: "RateLimitError"},
    )

    out = run_report(recorder, capsys)
    (row,) = report_json(recorder, capsys)

    assert out.splitlines() == [
        "model    route  calls  errors  p50 ms  p99 ms  ttft ms  in tok  out tok  tok/trace",
        "smollm2  local      2       1    20.0    29.8                5        2        7.0",
    ]
    assert row["evaluations"] == {}
    assert row["guardrail_actions"] == {}
    assert row["fallbacks_out"] == []
    assert row["fallbacks_in"] == []
    assert row["timeouts"] == 0
    assert row["timeout_rate"] == 0.0
    assert row["cost_usd"] is None
    assert row["cost_per_trace_usd"] is None
    assert row["cost_traces"] == 0
    assert row["mirrors"] == []


def test_report_eval_failures(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(
        trace_id=1,
        route="local",
        events=(evaluation("groundedness", False), evaluation("tool_selection", True)),
    )
    recorder.model_call(
        trace_id=2,
        route="local",
        events=(
            evaluation("groundedness", True),
            evaluation("groundedness", False),
            # Without agentwatch.evaluation.passed there is no verdict, so it is not counted.
            evaluation("groundedness", None),
        ),
    )
    recorder.model_call(trace_id=3, route="local", events=(evaluation("groundedness", True),))
    # A route without evaluations gets no section.
    recorder.model_call(trace_id=4, model="gpt-4o", route="approved")

    out = run_report(recorder, capsys)
    rows = report_json(recorder, capsys)

    assert out.splitlines()[3:] == [
        "",
        "route local, model smollm2",
        "  evals failed    groundedness 2/4, tool_selection 0/1",
    ]
    assert [row["route"] for row in rows] == ["approved", "local"]
    assert rows[0]["evaluations"] == {}
    assert rows[1]["evaluations"] == {
        "groundedness": {"evaluated": 4, "failed": 2, "fail_rate": 0.5},
        "tool_selection": {"evaluated": 1, "failed": 0, "fail_rate": 0.0},
    }


def test_task_completion_last_call(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = agent_root(recorder, 1, evaluation("task_completion", False))
    recorder.model_call(parent=root, route="local", start_ms=1, duration_ms=10)
    recorder.model_call(parent=root, model="gpt-4o", route="approved", start_ms=20, duration_ms=10)
    # A root with no model call below it belongs to no route.
    agent_root(recorder, 2, evaluation("task_completion", False))

    rows = report_json(recorder, capsys)

    assert [row["route"] for row in rows] == ["approved", "local"]
    assert rows[0]["evaluations"] == {"task_completion": {"evaluated": 1, "failed": 1, "fail_rate": 1.0}}
    assert rows[1]["evaluations"] == {}


def test_report_fallback_pair(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    reasons = ["evaluation_failed:groundedness", "timeout:APITimeoutError", "evaluation_failed:groundedness"]
    for trace_id, reason in enumerate(reasons, start=1):
        root = agent_root(recorder, trace_id)
        recorder.model_call(parent=root, route="local", events=(fallback_event(reason),))
        recorder.model_call(
            parent=root, model="gpt-4o", route="approved", extra=fallback_attempt_attributes(reason)
        )

    out = run_report(recorder, capsys)
    approved, local = report_json(recorder, capsys)

    assert out.splitlines()[3:] == [
        "",
        "route approved, model gpt-4o",
        "  fallbacks in    local -> approved 3",
        "",
        "route local, model smollm2",
        "  fallbacks out   local -> approved 3",
    ]
    expected = [
        {
            "from_route": "local",
            "to_route": "approved",
            "count": 3,
            "reasons": {"evaluation_failed:groundedness": 2, "timeout:APITimeoutError": 1},
        }
    ]
    assert local["fallbacks_out"] == expected
    assert local["fallbacks_in"] == []
    assert approved["fallbacks_in"] == expected
    assert approved["fallbacks_out"] == []
    # The fallback attempt is a call of its own route.
    assert approved["calls"] == 3
    assert local["calls"] == 3


def test_report_guardrail_actions(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(
        trace_id=1,
        route="local",
        events=(
            guardrail("pii", "redact", passed=False),
            guardrail("prompt_injection", "block", passed=False),
            # A check that passed took no action.
            guardrail("secrets", "raise", passed=True),
        ),
    )
    recorder.model_call(trace_id=2, route="local", events=(guardrail("pii", "redact", passed=False),))
    recorder.model_call(trace_id=3, route="local", events=(guardrail("pii", "redact", passed=False),))
    # An output-stage check recorded on the agent root counts toward the call below it.
    root = agent_root(recorder, 4, guardrail("blocked_topics", "flag", passed=False))
    recorder.model_call(parent=root, route="local")

    out = run_report(recorder, capsys)
    (row,) = report_json(recorder, capsys)

    assert out.splitlines()[2:] == [
        "",
        "route local, model smollm2",
        "  guardrails      redact 3, block 1, flag 1",
    ]
    assert row["guardrail_actions"] == {"redact": 3, "block": 1, "flag": 1}


def test_report_timeout_rate(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(
        trace_id=1, route="local", error="timed out", extra={semconv.ERROR_TYPE: "APITimeoutError"}
    )
    recorder.model_call(
        trace_id=2, route="local", error="refused", extra={semconv.ERROR_TYPE: "APIConnectionError"}
    )
    recorder.model_call(trace_id=3, route="local")
    recorder.model_call(trace_id=4, route="local")

    out = run_report(recorder, capsys)
    (row,) = report_json(recorder, capsys)

    assert out.splitlines()[1].split()[2:4] == ["4", "2"]
    assert out.splitlines()[2:] == ["", "route local, model smollm2", "  timeouts        1/4 calls"]
    assert row["timeouts"] == 1
    assert row["timeout_rate"] == 0.25


def test_report_cost_per_trace(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, route="local", extra={semconv.USAGE_COST: 0.25})
    recorder.model_call(trace_id=1, route="local", extra={semconv.USAGE_COST: 0.5})
    recorder.model_call(trace_id=2, route="local", extra={semconv.USAGE_COST: 0.25})
    # Trace 3 has no priced call, so it is not averaged in as 0.
    recorder.model_call(trace_id=3, route="local")
    # A route without prices has no cost.
    recorder.model_call(trace_id=4, model="llama", route="unpriced")

    out = run_report(recorder, capsys)
    unpriced, priced = report_json(recorder, capsys)

    assert out.splitlines()[3:] == [
        "",
        "route local, model smollm2",
        "  cost per trace  0.500000 USD over 2 traces",
    ]
    assert priced["route"] == "local"
    assert priced["cost_usd"] == 1.0
    assert priced["cost_per_trace_usd"] == 0.5
    assert priced["cost_traces"] == 2
    assert unpriced["route"] == "unpriced"
    assert unpriced["cost_usd"] is None
    assert unpriced["cost_per_trace_usd"] is None
    assert unpriced["cost_traces"] == 0


def record_mirror_pair(
    recorder: Any,
    trace_id: int,
    *,
    primary_ms: float,
    mirror_ms: float,
    primary_passed: bool,
    mirror_passed: bool,
) -> None:
    primary = recorder.model_call(
        trace_id=trace_id,
        route="local",
        duration_ms=primary_ms,
        input_tokens=100,
        output_tokens=20,
        events=(evaluation("groundedness", primary_passed),),
    )
    # The mirror runs later in a background worker, as a new trace linked to the primary.
    recorder.model_call(
        trace_id=trace_id + 100,
        model="qwen2.5",
        route="candidate",
        start_ms=500,
        duration_ms=mirror_ms,
        input_tokens=100,
        output_tokens=30,
        extra={semconv.MIRROR: True, semconv.USAGE_COST: 0.125},
        events=(evaluation("groundedness", mirror_passed),),
        links=(primary,),
    )


def test_report_mirror_comparison(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_mirror_pair(recorder, 1, primary_ms=20, mirror_ms=50, primary_passed=False, mirror_passed=True)
    record_mirror_pair(recorder, 2, primary_ms=40, mirror_ms=70, primary_passed=True, mirror_passed=True)
    # A primary call without a mirror counts in the row but not in the comparison.
    recorder.model_call(trace_id=3, route="local", duration_ms=60)

    out = run_report(recorder, capsys)

    assert out.splitlines() == [
        "model    route  calls  errors  p50 ms  p99 ms  ttft ms  in tok  out tok  tok/trace",
        "smollm2  local      3       0    40.0    59.6              200       40      120.0",
        "",
        "route local, model smollm2",
        "  evals failed    groundedness 1/2",
        "",
        "mirror local -> candidate: 2 pairs",
        "  side     model    route      p50 ms  evals passed  in tok  out tok  cost USD",
        "  primary  smollm2  local        30.0           1/2     200       40",
        "  mirror   qwen2.5  candidate    60.0           2/2     200       60  0.250000",
    ]


def test_report_unpaired_mirror(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    recorder.model_call(trace_id=1, route="local", duration_ms=10)
    # A mirror whose primary is not stored has nothing to compare with, and is never a row.
    recorder.model_call(trace_id=2, model="qwen2.5", route="candidate", extra={semconv.MIRROR: True})

    out = run_report(recorder, capsys)
    (row,) = report_json(recorder, capsys)

    assert out.splitlines() == [
        "model    route  calls  errors  p50 ms  p99 ms  ttft ms  in tok  out tok  tok/trace",
        "smollm2  local      1       0    10.0    10.0",
    ]
    assert row["route"] == "local"
    assert row["mirrors"] == []


def test_report_policy_json(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = agent_root(recorder, 1, evaluation("task_completion", True))
    failed = recorder.model_call(
        parent=root,
        route="local",
        duration_ms=30,
        input_tokens=10,
        output_tokens=4,
        error="timed out",
        extra={semconv.ERROR_TYPE: "APITimeoutError"},
        events=(guardrail("pii", "redact", passed=False), fallback_event("timeout:APITimeoutError")),
    )
    recorder.model_call(
        trace_id=9,
        model="qwen2.5",
        route="candidate",
        duration_ms=80,
        input_tokens=10,
        output_tokens=6,
        extra={semconv.MIRROR: True},
        events=(evaluation("groundedness", False),),
        links=(failed,),
    )
    recorder.model_call(
        parent=root,
        model="gpt-4o",
        route="approved",
        duration_ms=50,
        input_tokens=10,
        output_tokens=8,
        extra={**fallback_attempt_attributes("timeout:APITimeoutError"), semconv.USAGE_COST: 0.0625},
        events=(evaluation("groundedness", True),),
    )

    rows = report_json(recorder, capsys)

    fallback = {
        "from_route": "local",
        "to_route": "approved",
        "count": 1,
        "reasons": {"timeout:APITimeoutError": 1},
    }
    assert rows == [
        {
            "model": "gpt-4o",
            "route": "approved",
            "calls": 1,
            "errors": 0,
            "latency_p50_ms": 50.0,
            "latency_p99_ms": 50.0,
            "time_to_first_chunk_p50_ms": None,
            "input_tokens": 10,
            "output_tokens": 8,
            "tokens_per_trace": 18.0,
            "timeouts": 0,
            "timeout_rate": 0.0,
            "cost_usd": 0.0625,
            "cost_per_trace_usd": 0.0625,
            "cost_traces": 1,
            "evaluations": {
                "groundedness": {"evaluated": 1, "failed": 0, "fail_rate": 0.0},
                "task_completion": {"evaluated": 1, "failed": 0, "fail_rate": 0.0},
            },
            "guardrail_actions": {},
            "fallbacks_out": [],
            "fallbacks_in": [fallback],
            "mirrors": [],
        },
        {
            "model": "smollm2",
            "route": "local",
            "calls": 1,
            "errors": 1,
            "latency_p50_ms": 30.0,
            "latency_p99_ms": 30.0,
            "time_to_first_chunk_p50_ms": None,
            "input_tokens": 10,
            "output_tokens": 4,
            "tokens_per_trace": 14.0,
            "timeouts": 1,
            "timeout_rate": 1.0,
            "cost_usd": None,
            "cost_per_trace_usd": None,
            "cost_traces": 0,
            "evaluations": {},
            "guardrail_actions": {"redact": 1},
            "fallbacks_out": [fallback],
            "fallbacks_in": [],
            "mirrors": [
                {
                    "mirror_model": "qwen2.5",
                    "mirror_route": "candidate",
                    "pairs": 1,
                    "primary": {
                        "latency_p50_ms": 30.0,
                        "evaluations": 0,
                        "evaluations_passed": 0,
                        "eval_pass_rate": None,
                        "input_tokens": 10,
                        "output_tokens": 4,
                        "cost_usd": None,
                    },
                    "mirror": {
                        "latency_p50_ms": 80.0,
                        "evaluations": 1,
                        "evaluations_passed": 0,
                        "eval_pass_rate": 0.0,
                        "input_tokens": 10,
                        "output_tokens": 6,
                        "cost_usd": None,
                    },
                }
            ],
        },
    ]


def test_policy_lines_fit_width(recorder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    names = [f"custom_evaluator_number_{index}" for index in range(6)]
    recorder.model_call(trace_id=1, route="local", events=tuple(evaluation(name, False) for name in names))

    out = run_report(recorder, capsys)

    assert out.splitlines()[2:] == [
        "",
        "route local, model smollm2",
        "  evals failed    custom_evaluator_number_0 1/1, custom_evaluator_number_1 1/1,",
        "                  custom_evaluator_number_2 1/1, custom_evaluator_number_3 1/1,",
        "                  custom_evaluator_number_4 1/1, custom_evaluator_number_5 1/1",
    ]
    assert max(len(line) for line in out.splitlines()) <= 100
