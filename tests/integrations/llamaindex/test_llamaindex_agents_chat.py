"""ReAct agents, agent workflows, chat engines and node postprocessors, on LlamaIndex's mock models.

SmolLM2 under llama-server does not make named tool calls, so the agents here run on
LlamaIndex's in-process ``MockFunctionCallingLLM`` with a scripted response generator, and on a
``MockLLM`` subclass that writes ReAct text. The chat engines and query engines use ``MockLLM``
and ``MockEmbedding``. Each test runs under a span of its own, the caller's, and checks that
this span is current again afterwards.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ReActAgent, ToolCallResult
from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.embeddings.mock_embed_model import MockEmbedding
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM, MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.tools import FunctionTool, QueryEngineTool
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Span, StatusCode
from pydantic import Field

import agentwatch
from _spans import assert_attributes, attributes_of, only
from agentwatch import semconv

pytestmark = pytest.mark.usefixtures("instrumented")

POLICY = "Refund requests must be filed within 30 days of delivery."
SHIPPING = "Standard shipping takes 5 business days inside the EU."
QUESTION = "How long do I have to ask for a refund?"
ANSWER = "Refunds are possible within 30 days."

# Measured per run, so compared by type where they matter, never by value.
TIMING = (semconv.RESPONSE_TIME_TO_FIRST_CHUNK,)

RETRIEVAL = "retrieval VectorIndexRetriever"
EMBEDDING = "embeddings unknown"  # MockEmbedding's model_name is "unknown"
SYNTHESIZE = "synthesize CompactAndRefine"


# --- models, tools and indexes ------------------------------------------------------------


class ReActTextLLM(MockLLM):
    """A local-style model (a ``CustomLLM``, like ``LlamaCPP``) that writes ReAct text.

    It requests ``refund_policy`` until the prompt contains an observation, then answers. Its
    async stream methods are ``CustomLLM``'s, which iterate the sync ``stream_complete``.
    """

    prompts: list[str] = Field(default_factory=list, exclude=True)

    def _reply(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if "Observation:" in prompt.rpartition(QUESTION)[2]:
            return f"Thought: I can answer without using any more tools.\nAnswer: {ANSWER}"
        return "Thought: I need the refund policy.\nAction: refund_policy\nAction Input: {}"

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._reply(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = self._reply(prompt)

        def chunks() -> CompletionResponseGen:
            yield CompletionResponse(text=text, delta=text)

        return chunks()


class RunRecordingLLM(MockLLM):
    """``MockLLM`` that keeps the agentwatch run current at each model call it serves."""

    runs: list[Any] = Field(default_factory=list, exclude=True)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.runs.append(agentwatch.current_run())
        return super().complete(prompt, formatted=formatted, **kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        self.runs.append(agentwatch.current_run())
        return super().stream_complete(prompt, formatted=formatted, **kwargs)


def react_reply(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
    """Script a function-calling model through ReAct: call ``refund_policy``, then answer."""
    if str(messages[-1].content).startswith("Observation:"):
        content = f"Thought: I can answer without using any more tools.\nAnswer: {ANSWER}"
    else:
        content = "Thought: I need the refund policy.\nAction: refund_policy\nAction Input: {}"
    return ChatMessage(role=MessageRole.ASSISTANT, content=content)


def triage_reply(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
    """Hand every request to the policy agent."""
    call = ToolCallBlock(
        tool_call_id="call-handoff",
        tool_name="handoff",
        tool_kwargs={"to_agent": "policy", "reason": "refunds"},
    )
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])


def policy_reply(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
    """Call ``refund_policy`` once, then answer from its result."""
    if any(message.role == MessageRole.TOOL and message.content == POLICY for message in messages):
        return ChatMessage(role=MessageRole.ASSISTANT, content=ANSWER)
    call = ToolCallBlock(tool_call_id="call-policy", tool_name="refund_policy", tool_kwargs={})
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])


class PolicyTool:
    """The ``refund_policy`` tool; it keeps the agentwatch run current at each call."""

    def __init__(self) -> None:
        self.runs: list[Any] = []

    def refund_policy(self) -> str:
        """Return the refund policy."""
        self.runs.append(agentwatch.current_run())
        return POLICY

    def tool(self) -> FunctionTool:
        return FunctionTool.from_defaults(self.refund_policy, name="refund_policy")


def handoff_workflow(policy: PolicyTool) -> AgentWorkflow:
    """Return a workflow whose ``triage`` agent hands every request to the ``policy`` agent."""
    triage = FunctionAgent(
        name="triage",
        description="Routes requests.",
        llm=MockFunctionCallingLLM(response_generator=triage_reply),
        can_handoff_to=["policy"],
    )
    policy_agent = FunctionAgent(
        name="policy",
        description="Answers policy questions.",
        llm=MockFunctionCallingLLM(response_generator=policy_reply),
        tools=[policy.tool()],
    )
    return AgentWorkflow(agents=[triage, policy_agent], root_agent="triage")


def mock_index() -> VectorStoreIndex:
    documents = [Document(text=POLICY, id_="doc-refund"), Document(text=SHIPPING, id_="doc-shipping")]
    return VectorStoreIndex.from_documents(documents, embed_model=MockEmbedding(embed_dim=8))


# --- fixtures and span helpers ------------------------------------------------------------


@pytest.fixture
def caller(tracer_provider: TracerProvider) -> Iterator[Span]:
    """Start the caller's span and make it current, like an application's request span."""
    with tracer_provider.get_tracer("test").start_as_current_span("caller") as span:
        yield span


def tracker_of(handle: agentwatch.Instrumentation) -> Any:
    return handle.integrations["llamaindex"]._tracker  # type: ignore[attr-defined]


def assert_tracker_empty(handle: agentwatch.Instrumentation) -> None:
    tracker = tracker_of(handle)
    assert tracker.entries == {}
    assert tracker.streams == {}
    assert tracker.step_agents == {}
    assert tracker.step_tool_calls == {}


def run_spans(exporter: Any, root: ReadableSpan) -> list[ReadableSpan]:
    """Return the spans under ``root`` (``root`` too), in start order."""
    by_id = {span.context.span_id: span for span in exporter.get_finished_spans()}

    def under_root(span: ReadableSpan) -> bool:
        while span.parent is not None and span.context.span_id != root.context.span_id:
            parent = by_id.get(span.parent.span_id)
            if parent is None:
                return False
            span = parent
        return span.context.span_id == root.context.span_id

    return sorted(
        (span for span in by_id.values() if under_root(span)), key=lambda span: span.start_time or 0
    )


def tree(exporter: Any, root: ReadableSpan) -> list[tuple[str, str, int | None]]:
    """Return (name, parent name, step) of each span below ``root``, in start order."""
    spans = run_spans(exporter, root)
    names = {span.context.span_id: span.name for span in spans}
    return [
        (span.name, names[span.parent.span_id], attributes_of(span).get(semconv.TRAJECTORY_STEP))
        for span in spans[1:]
        if span.parent is not None
    ]


def steps_of(spans: list[ReadableSpan]) -> list[int]:
    return [
        attributes_of(span)[semconv.TRAJECTORY_STEP]
        for span in spans
        if semconv.TRAJECTORY_STEP in attributes_of(span)
    ]


def only_root(exporter: Any, name: str, caller: Span) -> ReadableSpan:
    """Return the one span named ``name``, checking it is a child of the caller's span."""
    root = only(exporter.get_finished_spans(), name)
    assert root.parent is not None
    assert root.parent.span_id == caller.get_span_context().span_id
    assert root.context.trace_id == caller.get_span_context().trace_id
    return root


def agent_attributes(name: str, label: str, steps: int) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
        semconv.GEN_AI_AGENT_NAME: name,
        semconv.OPENINFERENCE_SPAN_KIND: "AGENT",
        semconv.LLAMAINDEX_SPAN: label,
        semconv.RUN_STEPS: steps,
    }


def tool_attributes(name: str, step: int, call_id: str) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "execute_tool",
        semconv.GEN_AI_TOOL_NAME: name,
        semconv.GEN_AI_TOOL_CALL_ID: call_id,
        semconv.OPENINFERENCE_SPAN_KIND: "TOOL",
        semconv.LLAMAINDEX_SPAN: "FunctionTool.acall",
        semconv.TRAJECTORY_STEP: step,
    }


def stream_chat_attributes(label: str, step: int, **extra: Any) -> dict[str, Any]:
    """Return the attributes of a mock model's streamed chat span (the mocks name no model)."""
    expected = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.OPENINFERENCE_SPAN_KIND: "LLM",
        semconv.LLAMAINDEX_SPAN: label,
        semconv.REQUEST_STREAM: True,
        semconv.STREAM_END: "exhausted",
        semconv.TRAJECTORY_STEP: step,
    }
    expected.update(extra)
    return expected


def retrieval_attributes(step: int, documents: int) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.OPENINFERENCE_SPAN_KIND: "RETRIEVER",
        semconv.LLAMAINDEX_SPAN: "VectorIndexRetriever.retrieve",
        semconv.RETRIEVAL_DOCUMENT_COUNT: documents,
        semconv.TRAJECTORY_STEP: step,
    }


def embedding_attributes(step: int) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "embeddings",
        semconv.OPENINFERENCE_SPAN_KIND: "EMBEDDING",
        semconv.LLAMAINDEX_SPAN: "MockEmbedding.get_query_embedding",
        semconv.GEN_AI_REQUEST_MODEL: "unknown",
        semconv.LLM_MODEL_NAME: "unknown",
        semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: 8,
        semconv.TRAJECTORY_STEP: step,
    }


def evidence_of(run: Any) -> list[tuple[str, str, int, str | None]]:
    return [(item.kind, item.text, item.step, item.source) for item in run.evidence]


async def run_reading_tool_ids(agent: Any) -> tuple[Any, list[str]]:
    """Run ``agent`` on the question, and return its result and the ids of its tool calls."""
    handler = agent.run(QUESTION)
    tool_ids = [event.tool_id async for event in handler.stream_events() if isinstance(event, ToolCallResult)]
    return await handler, tool_ids


# --- ReActAgent -------------------------------------------------------------------------------


async def test_react_agent_runs_tool(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    policy = PolicyTool()
    agent = ReActAgent(tools=[policy.tool()], llm=MockFunctionCallingLLM(response_generator=react_reply))

    result, [tool_id] = await run_reading_tool_ids(agent)

    assert str(result) == ANSWER
    assert trace.get_current_span() is caller
    root = only_root(exporter, "invoke_agent Agent", caller)
    assert tree(exporter, root) == [
        ("chat", "invoke_agent Agent", 1),
        ("execute_tool refund_policy", "invoke_agent Agent", 2),
        ("chat", "invoke_agent Agent", 3),
    ]
    spans = run_spans(exporter, root)
    assert_attributes(root, agent_attributes("Agent", "ReActAgent.run", 3))
    for span, step in ((spans[1], 1), (spans[3], 3)):
        expected = stream_chat_attributes(
            "MockFunctionCallingLLM.astream_chat", step, **{semconv.GEN_AI_AGENT_NAME: "Agent"}
        )
        assert_attributes(span, expected, ignore=TIMING)
        assert isinstance(attributes_of(span)[semconv.RESPONSE_TIME_TO_FIRST_CHUNK], float)
    # ReAct names its tool calls itself, with ids the model never saw.
    assert tool_id
    assert_attributes(spans[2], tool_attributes("refund_policy", 2, tool_id))
    assert all(span.status.status_code is StatusCode.UNSET for span in spans)

    [run] = policy.runs
    assert run.trace_id == format(root.context.trace_id, "032x")
    assert evidence_of(run) == [("tool_result", POLICY, 2, tool_id)]
    assert_tracker_empty(instrumented)


async def test_react_agent_on_custom_llm(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    # CustomLLM.astream_chat iterates the sync stream_chat, which is a dispatcher span of its own.
    # That inner call continues the outer model call, so it must not be a second chat span.
    llm = ReActTextLLM()
    agent = ReActAgent(tools=[PolicyTool().tool()], llm=llm)

    result, [tool_id] = await run_reading_tool_ids(agent)

    assert str(result) == ANSWER
    assert len(llm.prompts) == 2
    assert trace.get_current_span() is caller
    root = only_root(exporter, "invoke_agent Agent", caller)
    assert tree(exporter, root) == [
        ("chat", "invoke_agent Agent", 1),
        ("execute_tool refund_policy", "invoke_agent Agent", 2),
        ("chat", "invoke_agent Agent", 3),
    ]
    spans = run_spans(exporter, root)
    assert_attributes(root, agent_attributes("Agent", "ReActAgent.run", 3))
    for span, step in ((spans[1], 1), (spans[3], 3)):
        agent_name = {semconv.GEN_AI_AGENT_NAME: "Agent"}
        expected = stream_chat_attributes("ReActTextLLM.astream_chat", step, **agent_name)
        assert_attributes(span, expected, ignore=TIMING)
    assert_attributes(spans[2], tool_attributes("refund_policy", 2, tool_id))
    assert_tracker_empty(instrumented)


# --- AgentWorkflow ----------------------------------------------------------------------------


async def test_agent_workflow_handoff(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    policy = PolicyTool()

    result = await handoff_workflow(policy).run(user_msg=QUESTION)

    assert str(result) == ANSWER
    assert trace.get_current_span() is caller
    root = only_root(exporter, "invoke_agent AgentWorkflow", caller)
    assert tree(exporter, root) == [
        ("chat", "invoke_agent AgentWorkflow", 1),
        ("execute_tool handoff", "invoke_agent AgentWorkflow", 2),
        ("chat", "invoke_agent AgentWorkflow", 3),
        ("execute_tool refund_policy", "invoke_agent AgentWorkflow", 4),
        ("chat", "invoke_agent AgentWorkflow", 5),
    ]
    # The caller's span and this run are the only spans: the workflow made one trace.
    assert len(exporter.get_finished_spans()) == 6
    spans = run_spans(exporter, root)
    label = "MockFunctionCallingLLM.astream_chat"
    assert_attributes(root, agent_attributes("AgentWorkflow", "AgentWorkflow.run", 5))
    assert_attributes(
        spans[1],
        stream_chat_attributes(
            label,
            1,
            **{
                semconv.REQUEST_TOOL_NAMES: ["handoff"],
                semconv.RESPONSE_TOOL_CALL_NAMES: ["handoff"],
                semconv.RESPONSE_TOOL_CALL_IDS: ["call-handoff"],
                semconv.GEN_AI_AGENT_NAME: "triage",
            },
        ),
        ignore=TIMING,
    )
    # Each tool span carries the id of the tool call the model made.
    assert_attributes(spans[2], tool_attributes("handoff", 2, "call-handoff"))
    assert_attributes(
        spans[3],
        stream_chat_attributes(
            label,
            3,
            **{
                semconv.REQUEST_TOOL_NAMES: ["refund_policy", "handoff"],
                semconv.RESPONSE_TOOL_CALL_NAMES: ["refund_policy"],
                semconv.RESPONSE_TOOL_CALL_IDS: ["call-policy"],
                semconv.GEN_AI_AGENT_NAME: "policy",
            },
        ),
        ignore=TIMING,
    )
    assert_attributes(spans[4], tool_attributes("refund_policy", 4, "call-policy"))
    assert_attributes(
        spans[5],
        stream_chat_attributes(
            label,
            5,
            **{semconv.REQUEST_TOOL_NAMES: ["refund_policy", "handoff"], semconv.GEN_AI_AGENT_NAME: "policy"},
        ),
        ignore=TIMING,
    )

    [run] = policy.runs
    assert run.trace_id == format(root.context.trace_id, "032x")
    assert [(kind, step, source) for kind, _, step, source in evidence_of(run)] == [
        ("tool_result", 2, "call-handoff"),
        ("tool_result", 4, "call-policy"),
    ]
    assert evidence_of(run)[1][1] == POLICY
    assert_tracker_empty(instrumented)


@pytest.mark.parametrize("capture_content", [True])
async def test_agent_workflow_captured_content(
    exporter: Any, instrumented: agentwatch.Instrumentation
) -> None:
    await handoff_workflow(PolicyTool()).run(user_msg=QUESTION)

    spans = exporter.get_finished_spans()
    # The handoff tool gets the workflow Context from the agent, and the model sent only these two.
    handoff = attributes_of(only(spans, "execute_tool handoff"))
    arguments = json.loads(handoff[semconv.GEN_AI_TOOL_CALL_ARGUMENTS])
    assert arguments == {"to_agent": "policy", "reason": "refunds"}
    # The mock model reports no finish reason, but the output message still has the field.
    chats = sorted((span for span in spans if span.name == "chat"), key=lambda span: span.start_time)
    outputs = [json.loads(attributes_of(chat)[semconv.GEN_AI_OUTPUT_MESSAGES]) for chat in chats]
    assert [output[0]["finish_reason"] for output in outputs] == ["", "", ""]
    assert outputs[2] == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": ""}
    ]
    assert_tracker_empty(instrumented)


async def test_agent_workflow_one_agent(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    agent = FunctionAgent(name="support", tools=[PolicyTool().tool()], llm=MockFunctionCallingLLM())
    workflow = AgentWorkflow(agents=[agent])

    await workflow.run(user_msg=QUESTION)

    assert trace.get_current_span() is caller
    root = only_root(exporter, "invoke_agent AgentWorkflow", caller)
    assert tree(exporter, root) == [
        ("chat", "invoke_agent AgentWorkflow", 1),
        ("execute_tool refund_policy", "invoke_agent AgentWorkflow", 2),
        ("chat", "invoke_agent AgentWorkflow", 3),
    ]
    assert attributes_of(root)[semconv.RUN_STEPS] == 3
    assert len(exporter.get_finished_spans()) == 4
    assert_tracker_empty(instrumented)


# --- chat engines -----------------------------------------------------------------------------


def test_condense_plus_context_chat(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    llm = RunRecordingLLM(max_tokens=4, is_chat_model=True)
    engine = mock_index().as_chat_engine(chat_mode="condense_plus_context", llm=llm, similarity_top_k=2)
    exporter.clear()  # the index build embedded the documents

    first = engine.chat(QUESTION)
    second = engine.chat("And for exchanges?")

    assert str(first) == str(second) == "text text text text"
    assert trace.get_current_span() is caller
    roots = [span for span in exporter.get_finished_spans() if span.name.startswith("invoke_agent")]
    assert [root.name for root in roots] == ["invoke_agent CondensePlusContextChatEngine"] * 2
    root = "invoke_agent CondensePlusContextChatEngine"
    # The first turn has no history to condense.
    assert tree(exporter, roots[0]) == [
        (RETRIEVAL, root, 1),
        (EMBEDDING, RETRIEVAL, 2),
        (SYNTHESIZE, root, None),
        ("chat", SYNTHESIZE, 3),
    ]
    # The second turn condenses the history with a completion first.
    assert tree(exporter, roots[1]) == [
        ("text_completion", root, 1),
        (RETRIEVAL, root, 2),
        (EMBEDDING, RETRIEVAL, 3),
        (SYNTHESIZE, root, None),
        ("chat", SYNTHESIZE, 4),
    ]
    assert {span.context.trace_id for span in exporter.get_finished_spans()} == {
        caller.get_span_context().trace_id
    }
    label = "CondensePlusContextChatEngine.chat"
    assert_attributes(roots[0], agent_attributes("CondensePlusContextChatEngine", label, 3))
    assert_attributes(roots[1], agent_attributes("CondensePlusContextChatEngine", label, 4))
    spans = run_spans(exporter, roots[0])
    assert_attributes(spans[1], retrieval_attributes(1, documents=2))
    assert_attributes(spans[2], embedding_attributes(2))
    assert_attributes(
        spans[3],
        {semconv.OPENINFERENCE_SPAN_KIND: "CHAIN", semconv.LLAMAINDEX_SPAN: "CompactAndRefine.synthesize"},
    )
    assert_attributes(
        spans[4],
        {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.OPENINFERENCE_SPAN_KIND: "LLM",
            semconv.LLAMAINDEX_SPAN: "RunRecordingLLM.chat",
            semconv.GEN_AI_REQUEST_MAX_TOKENS: 4,
            semconv.TRAJECTORY_STEP: 3,
        },
    )
    assert all(span.status.status_code is StatusCode.UNSET for span in exporter.get_finished_spans())

    # Each turn is a run of its own, and its model call runs with that turn's documents as evidence.
    first_run, condense_run, second_run = llm.runs
    assert condense_run is second_run
    assert first_run is not second_run
    assert first_run.trace_id == format(roots[0].context.trace_id, "032x")
    retrieved = sorted(
        ("retrieval", node.node.get_content(), 1, node.node.node_id) for node in first.source_nodes
    )
    assert [text for _, text, _, _ in retrieved] == sorted([POLICY, SHIPPING])
    assert sorted(evidence_of(first_run)) == retrieved
    assert {item.step for item in second_run.evidence} == {2}
    assert_tracker_empty(instrumented)


def test_simple_chat_engine(exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span) -> None:
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=4))

    response = engine.chat("Hello")

    assert str(response) == "text text text text"
    assert trace.get_current_span() is caller
    root = only_root(exporter, "invoke_agent SimpleChatEngine", caller)
    assert tree(exporter, root) == [
        ("chat", "invoke_agent SimpleChatEngine", 1),
    ]
    assert_attributes(root, agent_attributes("SimpleChatEngine", "SimpleChatEngine.chat", 1))
    chat = run_spans(exporter, root)[1]
    assert_attributes(
        chat,
        {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.OPENINFERENCE_SPAN_KIND: "LLM",
            semconv.LLAMAINDEX_SPAN: "MockLLM.chat",
            semconv.GEN_AI_REQUEST_MAX_TOKENS: 4,
            semconv.TRAJECTORY_STEP: 1,
        },
    )
    assert len(exporter.get_finished_spans()) == 2
    assert_tracker_empty(instrumented)


STREAM_TREE = [
    (RETRIEVAL, "invoke_agent CondensePlusContextChatEngine", 1),
    (EMBEDDING, RETRIEVAL, 2),
    (SYNTHESIZE, "invoke_agent CondensePlusContextChatEngine", None),
    ("chat", SYNTHESIZE, 3),
]


def assert_stream_chat_trace(exporter: Any, caller: Span, label: str) -> None:
    """Check a streamed turn of the condense-plus-context engine, its answer fully sent."""
    root = only_root(exporter, "invoke_agent CondensePlusContextChatEngine", caller)
    assert tree(exporter, root) == STREAM_TREE
    spans = run_spans(exporter, root)
    assert_attributes(root, agent_attributes("CondensePlusContextChatEngine", label, 3))
    chat = spans[4]
    assert_attributes(
        chat,
        stream_chat_attributes(
            "MockLLM." + label.rpartition(".")[2], 3, **{semconv.GEN_AI_REQUEST_MAX_TOKENS: 4}
        ),
        ignore=TIMING,
    )
    # LlamaIndex streams the answer from a thread or task of its own, after stream_chat returned.
    # The engine's span ends after that model call, so the run's step count includes it.
    assert root.end_time is not None and chat.end_time is not None
    assert root.end_time >= chat.end_time
    synthesize = spans[3]
    assert attributes_of(synthesize)[semconv.STREAM_END] == "exhausted"
    assert len(exporter.get_finished_spans()) == 5


def streaming_engine() -> Any:
    llm = MockLLM(max_tokens=4, is_chat_model=True)
    return mock_index().as_chat_engine(chat_mode="condense_plus_context", llm=llm, similarity_top_k=2)


def test_stream_chat_read_fully(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    engine = streaming_engine()
    exporter.clear()

    response = engine.stream_chat(QUESTION)
    tokens = list(response.response_gen)

    assert "".join(tokens) == "text text text text"
    assert trace.get_current_span() is caller
    assert_stream_chat_trace(exporter, caller, "CondensePlusContextChatEngine.stream_chat")
    assert_tracker_empty(instrumented)


def test_stream_chat_stopped_early(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    engine = streaming_engine()
    exporter.clear()

    response = engine.stream_chat(QUESTION)
    tokens = response.response_gen
    first = next(tokens)
    tokens.close()  # joins LlamaIndex's thread, which reads the rest into the chat memory
    del response, tokens
    gc.collect()

    assert first == "text "
    assert trace.get_current_span() is caller
    assert_stream_chat_trace(exporter, caller, "CondensePlusContextChatEngine.stream_chat")
    assert_tracker_empty(instrumented)


async def test_astream_chat_stopped_early(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    engine = streaming_engine()
    exporter.clear()

    response = await engine.astream_chat(QUESTION)
    tokens = response.async_response_gen()
    first = await tokens.__anext__()
    await tokens.aclose()  # awaits LlamaIndex's task, which reads the rest into the chat memory

    assert first == "text "
    assert trace.get_current_span() is caller
    # One chat span: CustomLLM.astream_chat's own call of stream_chat is not a second one.
    assert_stream_chat_trace(exporter, caller, "CondensePlusContextChatEngine.astream_chat")
    assert_tracker_empty(instrumented)


def test_simple_stream_chat_stopped_early(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span
) -> None:
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=4))

    response = engine.stream_chat("Hello")
    tokens = response.response_gen
    first = next(tokens)
    tokens.close()
    del response, tokens
    gc.collect()

    assert first == "text "
    assert trace.get_current_span() is caller
    root = only_root(exporter, "invoke_agent SimpleChatEngine", caller)
    assert tree(exporter, root) == [
        ("chat", "invoke_agent SimpleChatEngine", 1),
    ]
    chat = run_spans(exporter, root)[1]
    assert_attributes(root, agent_attributes("SimpleChatEngine", "SimpleChatEngine.stream_chat", 1))
    assert_attributes(
        chat,
        stream_chat_attributes("MockLLM.stream_chat", 1, **{semconv.GEN_AI_REQUEST_MAX_TOKENS: 4}),
        ignore=TIMING,
    )
    assert root.end_time is not None and chat.end_time is not None
    assert root.end_time >= chat.end_time
    assert_tracker_empty(instrumented)


# --- node postprocessors -------------------------------------------------------------------


@pytest.mark.parametrize(("cutoff", "kept"), [(0.5, 2), (1.5, 0)])
def test_query_with_similarity_postprocessor(
    exporter: Any, instrumented: agentwatch.Instrumentation, caller: Span, cutoff: float, kept: int
) -> None:
    # MockEmbedding gives every text the same vector, so every node scores 1.0.
    engine = mock_index().as_query_engine(
        llm=MockLLM(max_tokens=4),
        similarity_top_k=2,
        node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=cutoff)],
    )
    exporter.clear()

    response = engine.query(QUESTION)

    assert len(response.source_nodes) == kept
    assert trace.get_current_span() is caller
    root_name = "invoke_agent RetrieverQueryEngine"
    root = only_root(exporter, root_name, caller)
    expected = [
        (RETRIEVAL, root_name, 1),
        (EMBEDDING, RETRIEVAL, 2),
        (SYNTHESIZE, root_name, None),
    ]
    if kept:
        expected.append(("text_completion", SYNTHESIZE, 3))
    else:
        assert str(response) == "Empty Response"  # the synthesizer calls no model without nodes
    assert tree(exporter, root) == expected
    steps = steps_of(run_spans(exporter, root))
    assert steps == list(range(1, len(steps) + 1))
    assert attributes_of(root)[semconv.RUN_STEPS] == len(steps)
    # The retrieval span counts what the retriever returned, before the postprocessor ran.
    assert_attributes(run_spans(exporter, root)[1], retrieval_attributes(1, documents=2))
    assert len(exporter.get_finished_spans()) == len(expected) + 1
    assert_tracker_empty(instrumented)


class KeepRefundNodes(BaseNodePostprocessor):
    """A postprocessor that passes on only the refund policy, like a reranker with a cutoff."""

    def _postprocess_nodes(self, nodes: list[Any], query_bundle: Any = None) -> list[Any]:
        return [node for node in nodes if "Refund" in node.node.get_content()]


def test_postprocessed_documents_are_the_evidence(exporter: Any) -> None:
    llm = RunRecordingLLM(max_tokens=4)
    engine = mock_index().as_query_engine(
        llm=llm, similarity_top_k=2, node_postprocessors=[KeepRefundNodes()]
    )

    response = engine.query(QUESTION)

    assert [node.node.get_content() for node in response.source_nodes] == [POLICY]
    [run] = llm.runs
    # The retriever returned both documents; only the one the model got is evidence.
    assert [(kind, text, step) for kind, text, step, _ in evidence_of(run)] == [("retrieval", POLICY, 1)]


# --- outside any run --------------------------------------------------------------------------


def test_standalone_retrievals_are_one_step_each(
    exporter: Any, instrumented: agentwatch.Instrumentation
) -> None:
    retriever = mock_index().as_retriever(similarity_top_k=1)
    exporter.clear()

    retriever.retrieve(QUESTION)
    retriever.retrieve(QUESTION)

    spans = sorted(exporter.get_finished_spans(), key=lambda span: span.start_time or 0)
    assert [(span.name, attributes_of(span)[semconv.TRAJECTORY_STEP]) for span in spans] == [
        (RETRIEVAL, 1),
        (EMBEDDING, 1),
        (RETRIEVAL, 1),
        (EMBEDDING, 1),
    ]
    assert spans[0].parent is None
    assert spans[2].parent is None
    assert spans[1].parent is not None and spans[1].parent.span_id == spans[0].context.span_id
    assert spans[3].parent is not None and spans[3].parent.span_id == spans[2].context.span_id
    assert_tracker_empty(instrumented)


def test_standalone_query_engine_tool(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    engine = mock_index().as_query_engine(llm=MockLLM(max_tokens=4), similarity_top_k=1)
    tool = QueryEngineTool.from_defaults(engine, name="policy_docs", description="Search the policies.")
    exporter.clear()

    for _ in range(2):
        tool.call(QUESTION)

    tools = [span for span in exporter.get_finished_spans() if span.name == "execute_tool policy_docs"]
    assert len(tools) == 2
    for tool_span in tools:
        assert tool_span.parent is None
        assert attributes_of(tool_span)[semconv.TRAJECTORY_STEP] == 1
        # The query engine under a one-step tool call is a run of its own, numbered from 1.
        assert tree(exporter, tool_span) == [
            ("invoke_agent RetrieverQueryEngine", "execute_tool policy_docs", None),
            (RETRIEVAL, "invoke_agent RetrieverQueryEngine", 1),
            (EMBEDDING, RETRIEVAL, 2),
            (SYNTHESIZE, "invoke_agent RetrieverQueryEngine", None),
            ("text_completion", SYNTHESIZE, 3),
        ]
    assert_tracker_empty(instrumented)
