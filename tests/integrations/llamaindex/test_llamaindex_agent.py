"""Agents, cancellation, memory and uninstrument, on LlamaIndex's in-process mock models.

SmolLM2 under llama-server does not make named tool calls, so the agent tests use LlamaIndex's
``MockFunctionCallingLLM``. The memory and cancellation tests use ``MockLLM`` and
``MockEmbedding``, because 500 runs and a call that never returns cannot come from a cassette.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import CompletionResponse
from llama_index.core.embeddings.mock_embed_model import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM, MockLLM
from llama_index.core.tools import FunctionTool
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import agentwatch
from _spans import attributes_of, only
from agentwatch import semconv
from agentwatch.integrations.llamaindex._entry import Entry
from agentwatch.integrations.llamaindex._handlers import AgentwatchEventHandler, AgentwatchSpanHandler

pytestmark = pytest.mark.usefixtures("instrumented")

POLICY = "Refund requests must be filed within 30 days of delivery."


def refund_policy() -> str:
    """Return the refund policy."""
    return POLICY


class FailingLLM(MockLLM):
    """A model whose every call fails, like a server that is down."""

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise ConnectionError("model server unreachable")


class HangingLLM(MockLLM):
    """A model that never returns, so the caller has to cancel."""

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")


def mock_index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents([Document(text=POLICY)], embed_model=MockEmbedding(embed_dim=8))


def tracker_of(handle: agentwatch.Instrumentation) -> Any:
    return handle.integrations["llamaindex"]._tracker  # type: ignore[attr-defined]


def agent_spans(exporter: Any) -> list[Any]:
    spans = list(exporter.get_finished_spans())
    root = only(spans, "invoke_agent Agent")
    return [span for span in spans if span.context.trace_id == root.context.trace_id]


async def test_function_agent_trace(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(refund_policy)], llm=MockFunctionCallingLLM())

    await agent.run("What is the refund policy?")

    spans = agent_spans(exporter)
    root = only(spans, "invoke_agent Agent")
    assert root.parent is None
    assert root.status.status_code is StatusCode.UNSET
    tool = only(spans, "execute_tool refund_policy")
    assert attributes_of(tool)[semconv.GEN_AI_TOOL_NAME] == "refund_policy"
    assert attributes_of(tool)[semconv.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert tool.parent is not None and tool.parent.span_id == root.context.span_id
    chats = [span for span in spans if span.name.startswith("chat")]
    assert len(chats) == 2
    assert all(chat.parent is not None and chat.parent.span_id == root.context.span_id for chat in chats)
    steps = sorted(attributes_of(span)[semconv.TRAJECTORY_STEP] for span in spans if span is not root)
    assert steps == [1, 2, 3]
    assert attributes_of(root)[semconv.RUN_STEPS] == 3
    # The chat spans name the agent that made them. The tool span carries the id of its tool call.
    assert [attributes_of(chat)[semconv.GEN_AI_AGENT_NAME] for chat in chats] == ["Agent", "Agent"]
    first_chat = min(chats, key=lambda chat: chat.start_time)
    [call_id] = attributes_of(first_chat)[semconv.RESPONSE_TOOL_CALL_IDS]
    assert attributes_of(tool)[semconv.GEN_AI_TOOL_CALL_ID] == call_id
    tracker = tracker_of(instrumented)
    maps = (tracker.entries, tracker.streams, tracker.step_agents, tracker.step_tool_calls)
    assert maps == ({}, {}, {}, {})


async def test_agent_inside_trajectory_keeps_evidence(exporter: Any) -> None:
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(refund_policy)], llm=MockFunctionCallingLLM())

    async with agentwatch.trajectory("support-agent") as run:
        await agent.run("What is the refund policy?")

    spans = list(exporter.get_finished_spans())
    outer = only(spans, "invoke_agent support-agent")
    inner = only(spans, "invoke_agent Agent")
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert [item.text for item in run.evidence if item.kind == "tool_result"] == [POLICY]
    assert run.steps == 3


def test_tool_error_ends_span_with_error(exporter: Any) -> None:
    def broken() -> str:
        """Fail."""
        raise RuntimeError("tool broke")

    tool = FunctionTool.from_defaults(broken)

    with pytest.raises(RuntimeError):
        tool.call()

    span = only(exporter.get_finished_spans(), "execute_tool broken")
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)[semconv.ERROR_TYPE] == "RuntimeError"
    assert attributes_of(span)[semconv.TRAJECTORY_STEP] == 1


async def test_cancelled_query_is_not_an_error(
    exporter: Any, instrumented: agentwatch.Instrumentation
) -> None:
    engine = mock_index().as_query_engine(llm=HangingLLM())

    task = asyncio.ensure_future(engine.aquery("refunds?"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    spans = list(exporter.get_finished_spans())
    root = only(spans, "invoke_agent RetrieverQueryEngine")
    chat = only(spans, "text_completion")  # MockLLM names no model
    for span in (root, chat):
        assert span.status.status_code is StatusCode.UNSET
        assert semconv.ERROR_TYPE not in attributes_of(span)
    assert tracker_of(instrumented).entries == {}


def _live_entries() -> int:
    gc.collect()
    return sum(1 for item in gc.get_objects() if isinstance(item, Entry))


def test_no_growth_over_500_runs(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    index = mock_index()
    ok = index.as_query_engine(llm=MockLLM(max_tokens=4))
    failing = index.as_query_engine(llm=FailingLLM())
    streaming = index.as_query_engine(llm=MockLLM(max_tokens=4), streaming=True)
    finalizers_before = len(weakref.finalize._registry)  # type: ignore[attr-defined]

    for number in range(500):
        if number % 3 == 0:
            ok.query("refunds?")
        elif number % 3 == 1:
            with pytest.raises(ConnectionError):
                failing.query("refunds?")
        else:
            response = streaming.query("refunds?")
            for _ in response.response_gen:
                break  # stopped early; the rest is abandoned
            del response
        exporter.clear()

    tracker = tracker_of(instrumented)
    assert tracker.entries == {}
    assert tracker.streams == {}
    assert _live_entries() == 0
    assert len(weakref.finalize._registry) == finalizers_before  # type: ignore[attr-defined]
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_step_notes_cleared_after_runs(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    def broken() -> str:
        """Fail like a tool whose backend is down."""
        raise ConnectionError("tool backend unreachable")

    async def slow() -> str:
        """Sleep past the caller's timeout."""
        await asyncio.sleep(60)
        return "late"

    failing = FunctionAgent(tools=[FunctionTool.from_defaults(broken)], llm=MockFunctionCallingLLM())
    for _ in range(20):
        await failing.run("Call the tool.")
    hanging = FunctionAgent(tools=[FunctionTool.from_defaults(async_fn=slow)], llm=MockFunctionCallingLLM())
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(hanging.run("Call the tool."), timeout=0.2)
    for _ in range(20):  # let the cancelled steps unwind
        await asyncio.sleep(0.01)

    tools = [span for span in exporter.get_finished_spans() if span.name.startswith("execute_tool")]
    assert len(tools) == 21
    assert all(attributes_of(span)[semconv.GEN_AI_TOOL_CALL_ID] for span in tools)
    tracker = tracker_of(instrumented)
    assert (tracker.step_agents, tracker.step_tool_calls) == ({}, {})


def test_uninstrument_removes_handlers(exporter: Any) -> None:
    from llama_index.llms.openai import OpenAI

    dispatcher = get_dispatcher()
    patched = OpenAI.__dict__["stream_chat"]
    assert sum(isinstance(handler, AgentwatchSpanHandler) for handler in dispatcher.span_handlers) == 1
    assert sum(isinstance(handler, AgentwatchEventHandler) for handler in dispatcher.event_handlers) == 1
    agentwatch.instrument(integrations=["llamaindex"])  # a second call changes nothing
    assert sum(isinstance(handler, AgentwatchSpanHandler) for handler in dispatcher.span_handlers) == 1

    agentwatch.uninstrument()
    mock_index().as_query_engine(llm=MockLLM(max_tokens=4)).query("refunds?")

    assert not any(isinstance(handler, AgentwatchSpanHandler) for handler in dispatcher.span_handlers)
    assert not any(isinstance(handler, AgentwatchEventHandler) for handler in dispatcher.event_handlers)
    assert OpenAI.__dict__["stream_chat"] is not patched
    assert not exporter.get_finished_spans()
    agentwatch.uninstrument()  # twice is harmless
