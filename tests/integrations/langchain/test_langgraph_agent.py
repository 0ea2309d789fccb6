"""LangGraph agent runs against the real local servers: one trace per run, steps 1..n.

The routing model calls tools on the llama-cpp-python server (port 8081); the answering model runs
on llama-server (port 8080). Responses are replayed from cassettes recorded from both.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from _langchain_models import (
    POLICY,
    by_name,
    lookup_order,
    parent_of,
    search_policy,
    steps,
    text_model,
    tool_model,
)
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import agentwatch
from _local import HELLO, MODEL, sync_client
from _spans import attributes_of, only
from agentwatch import Run, semconv

pytestmark = pytest.mark.usefixtures("instrumented")

QUESTION = "How long do I have to request a refund? Use a tool."
TOOLS = [search_policy, lookup_order]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def build_agent(runs: list[Run | None]) -> Any:
    def route(state: State) -> dict[str, Any]:
        reply = tool_model().bind_tools(TOOLS, tool_choice="auto").invoke(state["messages"])
        return {"messages": [reply]}

    async def aroute(state: State) -> dict[str, Any]:
        reply = await tool_model().bind_tools(TOOLS, tool_choice="auto").ainvoke(state["messages"])
        return {"messages": [reply]}

    def answer(state: State) -> dict[str, Any]:
        runs.append(agentwatch.current_run())
        facts = "\n".join(str(m.content) for m in state["messages"] if isinstance(m, ToolMessage))
        prompt = [SystemMessage(f"Answer using these facts:\n{facts}"), HumanMessage(QUESTION)]
        return {"messages": [text_model().invoke(prompt)]}

    def needs_tool(state: State) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else "answer"

    graph = StateGraph(State)
    graph.add_node("route", route, afunc=aroute)  # type: ignore[call-overload]
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_node("answer", answer)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", needs_tool, ["tools", "answer"])
    graph.add_edge("tools", "answer")
    graph.add_edge("answer", END)
    return graph.compile(name="support-agent")


def check_agent_trace(spans: Any, result: Any, runs: list[Run | None]) -> None:
    root = only(spans, "invoke_agent support-agent")
    assert root.parent is None
    assert {span.context.trace_id for span in spans} == {root.context.trace_id}
    assert root.status.status_code is StatusCode.UNSET
    assert attributes_of(root)[semconv.RUN_STEPS] == 3

    chats = by_name(spans, "chat ")
    tools = by_name(spans, "execute_tool ")
    # One chat span per model call: the OpenAI SDK underneath adds none of its own.
    assert len(chats) == 2
    assert len(tools) == 1
    assert steps(spans) == [1, 2, 3]
    route_chat, answer_chat = sorted(chats, key=lambda span: span.start_time or 0)
    assert attributes_of(route_chat)[semconv.SERVER_PORT] == 8081
    assert attributes_of(answer_chat)[semconv.SERVER_PORT] == 8080
    assert parent_of(route_chat, spans).name == "route"  # type: ignore[union-attr]
    assert parent_of(parent_of(route_chat, spans), spans) is root  # type: ignore[arg-type]

    call = result["messages"][1].tool_calls[0]
    route_attributes = attributes_of(route_chat)
    assert route_attributes[semconv.RESPONSE_TOOL_CALL_NAMES] == [call["name"]]
    assert route_attributes[semconv.RESPONSE_TOOL_CALL_IDS] == [call["id"]]
    assert route_attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]
    assert route_attributes[semconv.REQUEST_TOOL_NAMES] == ["search_policy", "lookup_order"]
    tool_attributes = attributes_of(tools[0])
    assert tool_attributes[semconv.GEN_AI_TOOL_CALL_ID] == call["id"]
    assert tool_attributes[semconv.GEN_AI_TOOL_NAME] == call["name"]
    assert tool_attributes[semconv.LANGGRAPH_NODE] == "tools"
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in tool_attributes

    (run,) = runs
    assert run is not None
    assert run.trace_id == format(root.context.trace_id, "032x")
    assert POLICY in run.evidence_texts()
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_graph_invoke(exporter: Any, vcr_cassette: Any) -> None:
    runs: list[Run | None] = []
    result = build_agent(runs).invoke({"messages": [HumanMessage(QUESTION)]})

    check_agent_trace(exporter.get_finished_spans(), result, runs)


async def test_graph_ainvoke(exporter: Any, vcr_cassette: Any) -> None:
    runs: list[Run | None] = []
    result = await build_agent(runs).ainvoke({"messages": [HumanMessage(QUESTION)]})

    check_agent_trace(exporter.get_finished_spans(), result, runs)


def test_graph_inside_trajectory(exporter: Any, vcr_cassette: Any) -> None:
    runs: list[Run | None] = []
    with agentwatch.trajectory("outer") as outer:
        sync_client().chat.completions.create(model=MODEL, messages=HELLO, max_tokens=16, seed=7)
        build_agent(runs).invoke({"messages": [HumanMessage(QUESTION)]})

    spans = exporter.get_finished_spans()
    trajectory_span = only(spans, "invoke_agent outer")
    graph_span = only(spans, "invoke_agent support-agent")
    assert parent_of(graph_span, spans) is trajectory_span
    assert runs == [outer]
    # The steps keep counting across the SDK call and the graph.
    assert steps(spans) == [1, 2, 3, 4]
    assert attributes_of(trajectory_span)[semconv.RUN_STEPS] == 4
    assert semconv.RUN_STEPS not in attributes_of(graph_span)


def test_graph_stream_stopped_early(exporter: Any, vcr_cassette: Any) -> None:
    before = trace.get_current_span()
    stream = build_agent([]).stream({"messages": [HumanMessage(QUESTION)]}, stream_mode="updates")
    for update in stream:
        assert "route" in update
        break
    stream.close()

    spans = exporter.get_finished_spans()
    root = only(spans, "invoke_agent support-agent")
    assert root.status.status_code is StatusCode.UNSET
    assert [span.status.status_code for span in spans] == [StatusCode.UNSET] * len(spans)
    assert steps(spans) == [1]
    assert trace.get_current_span() is before
