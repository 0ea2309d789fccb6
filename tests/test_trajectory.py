"""Trajectories: step numbering, nesting, isolation and evidence."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import agentwatch
from _local import MODEL, async_client, sync_client
from _spans import assert_attributes, attributes_of
from agentwatch import semconv

pytestmark = pytest.mark.usefixtures("instrumented")

KWARGS: dict[str, Any] = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Say hello in five words."}],
    "max_tokens": 16,
    "temperature": 0.0,
    "seed": 7,
}


def chat_spans(exporter: Any) -> list[Any]:
    return sorted(
        (span for span in exporter.get_finished_spans() if span.name.startswith("chat ")),
        key=lambda span: span.start_time,
    )


def test_steps_numbered_in_order(exporter: Any, replay: Any) -> None:
    client = sync_client()
    with replay("chat"), agentwatch.trajectory("support-agent", session_id="s-42") as run:
        for _ in range(3):
            client.chat.completions.create(**KWARGS)

    assert run.steps == 3
    root = [span for span in exporter.get_finished_spans() if span.name == "invoke_agent support-agent"]
    assert len(root) == 1
    assert_attributes(
        root[0],
        {
            semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
            semconv.GEN_AI_AGENT_NAME: "support-agent",
            semconv.OPENINFERENCE_SPAN_KIND: "AGENT",
            semconv.GEN_AI_CONVERSATION_ID: "s-42",
            semconv.SESSION_ID: "s-42",
            semconv.RUN_STEPS: 3,
        },
    )
    chats = chat_spans(exporter)
    assert [attributes_of(span)[semconv.TRAJECTORY_STEP] for span in chats] == [1, 2, 3]
    assert {span.context.trace_id for span in chats} == {root[0].context.trace_id}
    assert all(span.parent.span_id == root[0].context.span_id for span in chats)


def test_call_outside_run_is_step_one(exporter: Any, replay: Any) -> None:
    client = sync_client()
    with replay("chat"):
        client.chat.completions.create(**KWARGS)
        client.chat.completions.create(**KWARGS)

    chats = chat_spans(exporter)
    assert [attributes_of(span)[semconv.TRAJECTORY_STEP] for span in chats] == [1, 1]
    assert chats[0].context.trace_id != chats[1].context.trace_id
    assert agentwatch.current_run() is None


def test_nested_trajectory_continues_outer_steps(exporter: Any, replay: Any) -> None:
    client = sync_client()
    with replay("chat"), agentwatch.trajectory("outer") as outer:
        client.chat.completions.create(**KWARGS)
        with agentwatch.trajectory("inner") as inner:
            assert inner is outer
            client.chat.completions.create(**KWARGS)
        client.chat.completions.create(**KWARGS)

    names = {
        span.name: span for span in exporter.get_finished_spans() if span.name.startswith("invoke_agent")
    }
    assert names["invoke_agent inner"].parent.span_id == names["invoke_agent outer"].context.span_id
    assert [attributes_of(span)[semconv.TRAJECTORY_STEP] for span in chat_spans(exporter)] == [1, 2, 3]
    assert semconv.RUN_STEPS not in attributes_of(names["invoke_agent inner"])


def test_context_restored_after_run(exporter: Any) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        with pytest.raises(ZeroDivisionError):
            with agentwatch.trajectory("failing"):
                1 / 0  # noqa: B018
        assert trace.get_current_span() is caller
    assert agentwatch.current_run() is None
    root = next(span for span in exporter.get_finished_spans() if span.name == "invoke_agent failing")
    assert root.status.status_code is StatusCode.ERROR
    assert attributes_of(root)[semconv.ERROR_TYPE] == "ZeroDivisionError"


def test_cancellation_is_not_an_error(exporter: Any) -> None:
    async def cancelled() -> None:
        async with agentwatch.trajectory("cancelled"):
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled())
    root = next(span for span in exporter.get_finished_spans() if span.name == "invoke_agent cancelled")
    assert root.status.status_code is StatusCode.UNSET


def test_threads_have_separate_runs(exporter: Any, replay: Any) -> None:
    client = sync_client()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def agent(name: str) -> None:
        try:
            with agentwatch.trajectory(name):
                for _ in range(2):
                    barrier.wait(timeout=10)
                    client.chat.completions.create(**KWARGS)
        except BaseException as exc:  # noqa: BLE001 - reported through the list
            errors.append(exc)

    with replay("chat"):
        threads = [threading.Thread(target=agent, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    roots = {
        span.context.trace_id: span.name
        for span in exporter.get_finished_spans()
        if span.name.startswith("invoke_agent")
    }
    steps: dict[str, list[int]] = {"invoke_agent a": [], "invoke_agent b": []}
    for span in chat_spans(exporter):
        steps[roots[span.context.trace_id]].append(attributes_of(span)[semconv.TRAJECTORY_STEP])
    assert steps == {"invoke_agent a": [1, 2], "invoke_agent b": [1, 2]}


async def test_tasks_have_separate_runs(exporter: Any, replay: Any) -> None:
    client = async_client()

    async def agent(name: str) -> int:
        async with agentwatch.trajectory(name) as run:
            for _ in range(3):
                await client.chat.completions.create(**KWARGS)
                await asyncio.sleep(0)
            return run.steps

    with replay("chat"):
        counts = await asyncio.gather(agent("a"), agent("b"), agent("c"))

    assert counts == [3, 3, 3]
    by_trace: dict[int, list[int]] = {}
    for span in chat_spans(exporter):
        by_trace.setdefault(span.context.trace_id, []).append(attributes_of(span)[semconv.TRAJECTORY_STEP])
    assert sorted(by_trace.values()) == [[1, 2, 3]] * 3


def test_evidence_from_messages(replay: Any) -> None:
    messages = [
        {"role": "system", "content": "Refund requests must be filed within 30 days."},
        {"role": "user", "content": "Say hello in five words."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Order 42 shipped on 3 May."},
    ]
    kwargs = {**KWARGS, "messages": messages}
    with replay("chat_evidence"), agentwatch.trajectory("agent") as run:
        sync_client().chat.completions.create(**kwargs)
        sync_client().chat.completions.create(**kwargs)

    assert [(item.kind, item.text, item.step, item.source) for item in run.evidence] == [
        ("system", "Refund requests must be filed within 30 days.", 1, None),
        ("user", "Say hello in five words.", 1, None),
        ("tool_result", "Order 42 shipped on 3 May.", 1, "call_1"),
    ]


def test_evidence_bounded() -> None:
    run = agentwatch.Run(name="bounded")
    for index in range(2000):
        run.add_evidence("tool_result", f"result number {index}", step=index)
    assert len(run.evidence) == 512
    assert run.add_evidence("tool_result", "result number 3", step=1) is False
