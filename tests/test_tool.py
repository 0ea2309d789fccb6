"""agentwatch.tool(): tool executions as numbered steps with their results as evidence."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import agentwatch
from _spans import assert_attributes, only
from agentwatch import semconv


@pytest.mark.usefixtures("instrumented")
def test_tool_step_and_evidence(exporter: Any) -> None:
    with agentwatch.trajectory("agent") as run:
        with agentwatch.tool("lookup_order", call_id="call_1", arguments='{"order_id": "42"}') as step:
            step.set_result({"order_id": "42", "status": "shipped"})
        with agentwatch.tool("search_policy") as step:
            step.set_result("Refund requests must be filed within 30 days.")

    spans = {span.name: span for span in exporter.get_finished_spans()}
    root = spans["invoke_agent agent"]
    assert_attributes(
        spans["execute_tool lookup_order"],
        {
            semconv.GEN_AI_OPERATION_NAME: "execute_tool",
            semconv.GEN_AI_TOOL_NAME: "lookup_order",
            semconv.GEN_AI_TOOL_CALL_ID: "call_1",
            semconv.OPENINFERENCE_SPAN_KIND: "TOOL",
            semconv.TRAJECTORY_STEP: 1,
        },
    )
    assert spans["execute_tool search_policy"].attributes[semconv.TRAJECTORY_STEP] == 2
    assert spans["execute_tool lookup_order"].parent.span_id == root.context.span_id
    assert [(item.kind, item.text, item.step, item.source) for item in run.evidence] == [
        ("tool_result", '{"order_id": "42", "status": "shipped"}', 1, "call_1"),
        ("tool_result", "Refund requests must be filed within 30 days.", 2, None),
    ]


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("capture_content", [True])
def test_tool_content_with_capture(exporter: Any) -> None:
    with agentwatch.tool("lookup_order", arguments={"order_id": "42"}) as step:
        step.set_result("shipped")

    span = only(exporter.get_finished_spans())
    assert span.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"order_id": "42"}'
    assert span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT] == "shipped"


@pytest.mark.usefixtures("instrumented")
def test_tool_error_propagates(exporter: Any) -> None:
    with pytest.raises(KeyError), agentwatch.tool("lookup_order"):
        raise KeyError("42")

    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in span.attributes


def test_tool_untraced_when_not_instrumented(exporter: Any) -> None:
    with agentwatch.tool("lookup_order") as step:
        step.set_result("shipped")
    assert exporter.get_finished_spans() == ()
    assert step.step == 0
