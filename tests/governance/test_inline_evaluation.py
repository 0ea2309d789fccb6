"""Evaluators named in the policy run on each step and record gen_ai.evaluation.result events."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from _local import MODEL, sync_client
from _openai_transport import Recorder, chat_completion, make_clients
from _spans import attributes_of
from agentwatch import EvaluatorRule, Policy, Route, semconv
from agentwatch._state import STATE
from agentwatch.evaluators import Groundedness, TaskCompletion, ToolSelectionAccuracy

REFUND_CONTEXT = "Refund requests must be filed within 30 days of delivery."
REFUND_MESSAGES = [
    {"role": "system", "content": "Answer from these facts only: " + REFUND_CONTEXT},
    {"role": "user", "content": "How many days do I have to ask for a refund?"},
]
KWARGS: dict[str, Any] = {
    "model": MODEL,
    "messages": REFUND_MESSAGES,
    "max_tokens": 48,
    "temperature": 0.0,
    "seed": 7,
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order's status by its id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
POLICY = Policy(
    routes={"local": Route("local", MODEL, base_url="http://127.0.0.1:8080/v1")},
    evaluators=(
        EvaluatorRule("groundedness", threshold=0.8),
        EvaluatorRule("tool_selection"),
        EvaluatorRule("task_completion"),
    ),
)


def settle() -> None:
    """Wait for the evaluations that run on the background worker (flag-only policies)."""
    if STATE.evaluation_worker is not None:
        assert STATE.evaluation_worker.drain()


@pytest.fixture
def with_policy(tracer_provider: TracerProvider, capture_content: bool) -> Iterator[None]:
    agentwatch.instrument(tracer_provider=tracer_provider, policy=POLICY, capture_content=capture_content)
    yield
    agentwatch.uninstrument()


def evaluation_events(span: Any) -> dict[str, dict[str, Any]]:
    events = [event for event in span.events if event.name == semconv.EVENT_EVALUATION_RESULT]
    return {event.attributes[semconv.GEN_AI_EVALUATION_NAME]: dict(event.attributes) for event in events}


def expected_event(result: Any, on_fail: str = "flag", explanation: bool = False) -> dict[str, Any]:
    event = {
        semconv.GEN_AI_EVALUATION_NAME: result.name,
        semconv.GEN_AI_EVALUATION_SCORE_VALUE: result.score,
        semconv.GEN_AI_EVALUATION_SCORE_LABEL: result.label,
        semconv.EVALUATION_PASSED: result.passed,
        semconv.EVALUATION_TIER: result.tier,
        semconv.EVALUATION_ON_FAIL: on_fail,
        semconv.EVALUATION_THRESHOLD: result.threshold,
    }
    if explanation:
        event[semconv.GEN_AI_EVALUATION_EXPLANATION] = result.reason
    return event


def without_duration(event: dict[str, Any]) -> dict[str, Any]:
    assert event.pop(semconv.EVALUATION_DURATION_MS) >= 0
    return event


@pytest.mark.usefixtures("with_policy")
@pytest.mark.parametrize("capture_content", [False, True])
def test_groundedness_event_on_chat_span(exporter: Any, replay: Any, capture_content: bool) -> None:
    with replay("chat_refund"), agentwatch.trajectory("support") as run:
        response = sync_client().chat.completions.create(**KWARGS)
    settle()

    answer = response.choices[0].message.content
    expected = Groundedness(threshold=0.8).evaluate(output=answer, context=run.evidence_texts())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    chat = spans[f"chat {MODEL}"]
    assert attributes_of(chat)[semconv.ROUTE_NAME] == "local"
    events = evaluation_events(chat)
    assert set(events) == {"groundedness"}
    assert without_duration(events["groundedness"]) == expected_event(expected, explanation=capture_content)

    root_events = evaluation_events(spans["invoke_agent support"])
    completion = TaskCompletion().evaluate(
        input=REFUND_MESSAGES[1]["content"],
        output=answer,
        trajectory=[*REFUND_MESSAGES, {"role": "assistant", "content": answer}],
    )
    assert set(root_events) == {"task_completion"}
    assert without_duration(root_events["task_completion"]) == expected_event(
        completion, explanation=capture_content
    )


@pytest.mark.usefixtures("with_policy")
def test_canonical_contradiction_fails_inline(exporter: Any, metric_reader: InMemoryMetricReader) -> None:
    # The transport returns the canonical wrong answer; a real model will not say it on demand.
    recorder = Recorder()
    recorder.json(chat_completion("Refunds are available for 60 days."))
    client, _ = make_clients(recorder)
    failures_before = failure_counts(metric_reader)

    client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": REFUND_CONTEXT},
            {"role": "user", "content": "Refund window?"},
        ],
    )
    settle()

    chat = next(span for span in exporter.get_finished_spans() if span.name == f"chat {MODEL}")
    events = evaluation_events(chat)
    assert events["groundedness"][semconv.GEN_AI_EVALUATION_SCORE_LABEL] == "contradicted"
    assert events["groundedness"][semconv.EVALUATION_PASSED] is False
    assert semconv.GEN_AI_EVALUATION_EXPLANATION not in events["groundedness"]
    labels = (("groundedness", MODEL, MODEL, "local", "127.0.0.1"),)
    after = failure_counts(metric_reader)
    added = {key: after[key] - failures_before.get(key, 0) for key in after}
    assert {key: count for key, count in added.items() if count} == {labels[0]: 1}


def failure_counts(reader: InMemoryMetricReader) -> dict[tuple[Any, ...], int]:
    """Return the cumulative failure counter per (evaluator, request model, response model, route, server)."""
    counts: dict[tuple[Any, ...], int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != semconv.METRIC_EVALUATION_FAILURES:
                    continue
                for point in metric.data.data_points:
                    attributes = point.attributes
                    key = tuple(
                        attributes.get(name)
                        for name in (
                            semconv.GEN_AI_EVALUATION_NAME,
                            semconv.GEN_AI_REQUEST_MODEL,
                            semconv.GEN_AI_RESPONSE_MODEL,
                            semconv.ROUTE_NAME,
                            semconv.SERVER_ADDRESS,
                        )
                    )
                    counts[key] = point.value
    return counts


@pytest.mark.usefixtures("with_policy")
def test_tool_selection_event(exporter: Any) -> None:
    # llama.cpp's server returns no tool calls for SmolLM2, so the transport supplies one.
    recorder = Recorder()
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": '{"order_id": 42}'},
    }
    recorder.json(chat_completion(None, tool_calls=[call], finish_reason="tool_calls"))
    client, _ = make_clients(recorder)
    messages = [{"role": "user", "content": "Where is order 42?"}]

    with agentwatch.trajectory("agent"):
        client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    settle()

    chat = next(span for span in exporter.get_finished_spans() if span.name == f"chat {MODEL}")
    expected = ToolSelectionAccuracy().evaluate(
        input="Where is order 42?",
        tools=TOOLS,
        tool_calls=[{"name": "lookup_order", "arguments": '{"order_id": 42}'}],
        previous_calls=[],
    )
    events = evaluation_events(chat)
    assert set(events) == {"tool_selection"}
    assert without_duration(events["tool_selection"]) == expected_event(expected)
    assert expected.passed is False  # order_id must be a string per the schema


def test_no_policy_no_events(exporter: Any, replay: Any, instrumented: Any) -> None:
    with replay("chat_refund"):
        sync_client().chat.completions.create(**KWARGS)

    assert all(not span.events for span in exporter.get_finished_spans())


@pytest.mark.usefixtures("with_policy")
def test_flag_only_evaluation_off_request_path(exporter: Any) -> None:
    # The transport answers at once, so the call returns before a blocked evaluation could run.
    recorder = Recorder()
    recorder.json(chat_completion("Refunds are available for 60 days."))
    client, _ = make_clients(recorder)
    release = threading.Event()
    assert STATE.evaluation_worker is not None
    STATE.evaluation_worker.submit(lambda: release.wait(10))

    client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": REFUND_CONTEXT}])
    returned_ns = time.time_ns()

    assert exporter.get_finished_spans() == ()  # the span ends once its evaluation has run
    release.set()
    settle()
    (chat,) = exporter.get_finished_spans()
    assert chat.end_time <= returned_ns
    assert evaluation_events(chat)["groundedness"][semconv.EVALUATION_PASSED] is False
