"""Context hygiene, control flow, nesting, memory and uninstrument, with LangChain's fake models.

A fake chat model replaces a server here because these tests need shapes the local servers
cannot produce: a full prebuilt-agent tool loop (the llama-cpp-python server rejects the follow-up
request, whose assistant message has null content), interrupts, cancellation mid-call and 500
runs in a row. Where a test needs the OpenAI SDK it replays the shared cassettes.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from typing import Any, TypedDict

import pytest
from _langchain_models import POLICY, by_name, parent_of, search_policy, steps
from langchain_core.caches import BaseCache
from langchain_core.callbacks import BaseCallbackManager, CallbackManager
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent
from langgraph.types import interrupt
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import agentwatch
from _local import HELLO, MODEL, sync_client
from _spans import attributes_of, only
from agentwatch import semconv
from agentwatch._guard import raise_in_tests
from agentwatch.integrations.langchain import HANDLER, RUNS, _extract

pytestmark = pytest.mark.usefixtures("instrumented")


class FakeToolModel(GenericFakeChatModel):
    """GenericFakeChatModel that accepts bind_tools, as create_react_agent requires."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def tool_call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def fake_model(*replies: str | AIMessage) -> FakeToolModel:
    messages = [reply if isinstance(reply, AIMessage) else AIMessage(reply) for reply in replies]
    return FakeToolModel(messages=iter(messages))


class State(TypedDict, total=False):
    text: str


def one_node_graph(node: Any, name: str = "graph", **compile_options: Any) -> Any:
    graph = StateGraph(State)
    graph.add_node("work", node)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile(name=name, **compile_options)


def test_prebuilt_agent_loop(exporter: Any) -> None:
    model = fake_model(tool_call("search_policy", {"query": "refund"}, "call-1"), "Within 30 days.")
    agent = create_react_agent(model, [search_policy], name="prebuilt")
    result = agent.invoke({"messages": [HumanMessage("How long for a refund?")]})

    assert result["messages"][-1].content == "Within 30 days."
    spans = exporter.get_finished_spans()
    root = only(spans, "invoke_agent prebuilt")
    assert root.parent is None
    assert attributes_of(root)[semconv.RUN_STEPS] == 3
    assert steps(spans) == [1, 2, 3]
    tool_span = only(spans, "execute_tool search_policy")
    assert attributes_of(tool_span)[semconv.GEN_AI_TOOL_CALL_ID] == "call-1"
    assert {span.context.trace_id for span in spans} == {root.context.trace_id}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_user_span_nests_under_tool(exporter: Any, tracer_provider: Any, mode: str) -> None:
    tracer = tracer_provider.get_tracer("user")

    def lookup(order_id: str) -> str:
        with tracer.start_as_current_span("user lookup"):
            return f"order {order_id}"

    async def alookup(order_id: str) -> str:
        with tracer.start_as_current_span("user lookup"):
            await asyncio.sleep(0)
            return f"order {order_id}"

    lookup_tool = tool("lookup_order", description="Look up an order.")(lookup if mode == "sync" else alookup)
    model = fake_model(tool_call("lookup_order", {"order_id": "7"}, "call-7"), "done")
    agent = create_react_agent(model, [lookup_tool], name="nesting")
    request = {"messages": [HumanMessage("order 7?")]}
    if mode == "sync":
        agent.invoke(request)
    else:
        asyncio.run(agent.ainvoke(request))

    spans = exporter.get_finished_spans()
    user_span = only(spans, "user lookup")
    assert parent_of(user_span, spans) is only(spans, "execute_tool lookup_order")


def test_context_after_raise(exporter: Any, tracer_provider: Any, caplog: Any) -> None:
    def fail(state: State) -> State:
        raise ValueError("broken node")

    caplog.set_level(logging.DEBUG)
    with tracer_provider.get_tracer("user").start_as_current_span("caller") as caller:
        with pytest.raises(ValueError, match="broken node"):
            one_node_graph(fail).invoke({"text": "x"})
        assert trace.get_current_span() is caller

    assert "Failed to detach context" not in caplog.text
    spans = exporter.get_finished_spans()
    root = only(spans, "invoke_agent graph")
    assert parent_of(root, spans) is only(spans, "caller")
    assert root.status.status_code is StatusCode.ERROR
    assert attributes_of(root)[semconv.ERROR_TYPE] == "ValueError"
    assert len(RUNS) == 0


def test_interrupt_is_not_an_error(exporter: Any) -> None:
    def ask(state: State) -> State:
        return {"text": interrupt("approve?")}

    graph = one_node_graph(ask, checkpointer=InMemorySaver())
    result = graph.invoke({"text": "x"}, {"configurable": {"thread_id": "t-1"}})

    assert "__interrupt__" in result
    spans = exporter.get_finished_spans()
    assert [span.status.status_code for span in spans] == [StatusCode.UNSET] * len(spans)
    root = only(spans, "invoke_agent graph")
    assert attributes_of(root)[semconv.GEN_AI_CONVERSATION_ID] == "t-1"
    assert len(RUNS) == 0


async def test_cancelled_run_is_not_an_error(exporter: Any) -> None:
    started = asyncio.Event()

    async def wait(state: State) -> State:
        started.set()
        await asyncio.sleep(30)
        return state

    task = asyncio.create_task(one_node_graph(wait).ainvoke({"text": "x"}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    spans = exporter.get_finished_spans()
    assert {span.name for span in spans} == {"invoke_agent graph", "work"}
    assert [span.status.status_code for span in spans] == [StatusCode.UNSET] * len(spans)
    assert len(RUNS) == 0


def test_nested_runnables_stay_in_run(exporter: Any, replay: Any) -> None:
    model = fake_model("inner answer", "outer answer")
    inner_graph = one_node_graph(
        lambda state: {"text": str(model.invoke(state["text"]).content)}, name="inner"
    )
    chain = RunnableLambda(lambda text: model.invoke(text).content, name="summarize")

    def work(state: State) -> State:
        sync_client().chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=16, temperature=0.0, seed=7
        )
        inner = inner_graph.invoke({"text": state["text"]})
        return {"text": f"{inner['text']} {chain.invoke('x')}"}

    with replay("chat"):
        one_node_graph(work, name="outer").invoke({"text": "q"})

    spans = exporter.get_finished_spans()
    outer = only(spans, "invoke_agent outer")
    inner = only(spans, "invoke_agent inner")
    node = next(span for span in spans if span.name == "work" and parent_of(span, spans) is outer)
    assert parent_of(inner, spans) is node
    sdk_chat = [span for span in by_name(spans, "chat ") if semconv.OPENAI_API in attributes_of(span)]
    assert parent_of(only(sdk_chat), spans) is node
    assert parent_of(only(spans, "summarize"), spans) is node
    assert steps(spans) == [1, 2, 3]
    assert attributes_of(outer)[semconv.RUN_STEPS] == 3
    assert {span.context.trace_id for span in spans} == {outer.context.trace_id}


class PolicyRetriever(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return [Document(POLICY, id="refund-policy"), Document("Shipping takes 3 days.", id="shipping")]


@pytest.mark.parametrize("capture_content", [False, True])
def test_retriever_and_tool_evidence(exporter: Any, capture_content: bool) -> None:
    runs: list[Any] = []

    def work(state: State) -> State:
        documents = PolicyRetriever(name="policies").invoke(state["text"])
        ToolNode([search_policy]).invoke([tool_call("search_policy", {"query": "refund"}, "call-9")])
        runs.append(agentwatch.current_run())
        return {"text": documents[0].page_content}

    one_node_graph(work).invoke({"text": "refund"})

    spans = exporter.get_finished_spans()
    retrieval = attributes_of(only(spans, "retrieval policies"))
    assert retrieval[semconv.TRAJECTORY_STEP] == 1
    assert retrieval[semconv.RETRIEVAL_DOCUMENT_COUNT] == 2
    tool_attributes = attributes_of(only(spans, "execute_tool search_policy"))
    assert tool_attributes[semconv.TRAJECTORY_STEP] == 2
    (run,) = runs
    assert [(item.kind, item.source) for item in run.evidence] == [
        ("retrieval", "refund-policy"),
        ("retrieval", "shipping"),
    ]
    if capture_content:
        assert retrieval[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "refund"
        documents = json.loads(retrieval[semconv.GEN_AI_RETRIEVAL_DOCUMENTS])
        assert documents[0] == {"id": "refund-policy", "content": POLICY}
        assert json.loads(tool_attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"query": "refund"}
        assert tool_attributes[semconv.GEN_AI_TOOL_CALL_RESULT] == POLICY
    else:
        assert semconv.GEN_AI_RETRIEVAL_DOCUMENTS not in retrieval
        assert semconv.GEN_AI_TOOL_CALL_RESULT not in tool_attributes


def test_no_growth_after_500_runs(exporter: Any) -> None:
    model = fake_model(*(["ok"] * 250))

    def work(state: State) -> State:
        if state["text"] == "fail":
            raise RuntimeError("planned failure")
        return {"text": str(model.invoke(state["text"]).content)}

    graph = one_node_graph(work)
    for index in range(500):
        if index % 2:
            with pytest.raises(RuntimeError):
                graph.invoke({"text": "fail"})
        else:
            graph.invoke({"text": "go"})
        assert len(RUNS) == 0

    assert len(exporter.get_finished_spans()) == 250 * 3 + 250 * 2


def test_handler_added_once() -> None:
    mine: list[Any] = []
    manager = CallbackManager(handlers=mine)
    run_manager = CallbackManager.configure(manager).on_chain_start(None, {}, name="probe")
    child = run_manager.get_child()
    merged = child.merge(CallbackManager.configure(None))
    run_manager.on_chain_end({})

    for each in (manager, child, merged):
        assert each.handlers.count(HANDLER) == 1
        assert each.inheritable_handlers.count(HANDLER) == 1
    assert mine == []


def test_uninstrument_stops_tracing(exporter: Any) -> None:
    earlier = CallbackManager.configure(None)
    graph = one_node_graph(lambda state: {"text": str(fake_model("x").invoke("q").content)})
    agentwatch.uninstrument()

    graph.invoke({"text": "q"})
    earlier.on_chain_start(None, {}, name="earlier manager")

    assert exporter.get_finished_spans() == ()
    assert HANDLER not in CallbackManager(handlers=[]).handlers
    assert type(BaseCallbackManager.__dict__["__init__"]).__name__ == "function"
    assert len(RUNS) == 0


def test_fault_never_reaches_user(exporter: Any, monkeypatch: Any) -> None:
    def broken(response: Any, capture: bool) -> Any:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(_extract, "model_response", broken)
    with raise_in_tests(False):
        reply = fake_model("still answered").invoke("q")

    assert reply.content == "still answered"
    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.UNSET
    assert len(RUNS) == 0


def instrument_with_targets(
    tracer_provider: Any, monkeypatch: Any, caplog: Any, methods: tuple[Any, ...], functions: tuple[Any, ...]
) -> dict[int, list[str]]:
    """Instrument with these patch targets in place of LangChain's, and return the log lines by level."""
    agentwatch.uninstrument()
    integration = importlib.import_module("agentwatch.integrations.langchain")
    monkeypatch.setattr(integration, "METHOD_TARGETS", methods)
    monkeypatch.setattr(integration, "CONTEXT_TARGETS", functions)
    with caplog.at_level(logging.DEBUG, logger="agentwatch"):
        agentwatch.instrument(tracer_provider=tracer_provider)
    lines: dict[int, list[str]] = {}
    for record in caplog.records:
        lines.setdefault(record.levelno, []).append(record.getMessage())
    return lines


def test_missing_private_hook_warns(
    tracer_provider: Any, exporter: Any, monkeypatch: Any, caplog: Any
) -> None:
    # A release that renames a private target: the module is there, but the function is not.
    renamed_method = ("langchain_core.language_models.chat_models", "BaseChatModel._renamed", print, "y lost")
    renamed_function = ("langchain_core.runnables.config", "_renamed_hook", "nesting is lost")
    not_installed = ("not_installed_pkg.mod", "_hook", "x")

    lines = instrument_with_targets(
        tracer_provider, monkeypatch, caplog, (renamed_method,), (renamed_function, not_installed)
    )
    reply = fake_model("still traced").invoke("q")

    assert lines[logging.WARNING] == [
        "agentwatch: langchain_core.language_models.chat_models.BaseChatModel._renamed was not found "
        "in the installed version, so y lost. Install a version the README lists as supported, or "
        "report the version you run.",
        "agentwatch: langchain_core.runnables.config._renamed_hook was not found in the installed "
        "version, so nesting is lost. Install a version the README lists as supported, or report "
        "the version you run.",
    ]
    # A package that is not installed is not a fault: debug level only.
    assert "agentwatch: not_installed_pkg.mod is not installed; _hook not traced" in lines[logging.DEBUG]
    assert reply.content == "still traced"
    assert only(exporter.get_finished_spans()).name.startswith("chat")


def test_broken_or_moved_modules_warn(
    tracer_provider: Any, exporter: Any, monkeypatch: Any, caplog: Any, tmp_path: Any
) -> None:
    # A package built against other releases of its dependencies fails to import with an
    # AttributeError. A private module can move within an installed package.
    broken = tmp_path / "broken_langchain_pkg"
    broken.mkdir()
    (broken / "__init__.py").write_text("import types\ntypes.SimpleNamespace().missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    broken_method = ("broken_langchain_pkg", "Model.invoke", print, "models are lost")
    moved_function = ("langchain_core.runnables._moved_config", "_hook", "nesting is lost")

    lines = instrument_with_targets(tracer_provider, monkeypatch, caplog, (broken_method,), (moved_function,))
    reply = fake_model("still traced").invoke("q")
    agentwatch.uninstrument()

    assert lines[logging.WARNING] == [
        "agentwatch: importing broken_langchain_pkg failed (AttributeError: 'types.SimpleNamespace' "
        "object has no attribute 'missing'), so Model.invoke is not traced. Reinstall the package "
        "or install a version the README lists as supported.",
        "agentwatch: langchain_core.runnables._moved_config._hook was not found in the installed "
        "version, so nesting is lost. Install a version the README lists as supported, or report "
        "the version you run.",
    ]
    assert reply.content == "still traced"
    assert only(exporter.get_finished_spans()).name.startswith("chat")
    # Everything instrument() patched was restored.
    assert type(BaseCallbackManager.__dict__["__init__"]).__name__ == "function"


class EmbeddingCache(BaseCache):
    """A semantic cache stand-in: it embeds the prompt on lookup and on update, and never hits."""

    def lookup(self, prompt: str, llm_string: str) -> None:
        sync_client().embeddings.create(model=MODEL, input="refund policy")

    def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
        sync_client().embeddings.create(model=MODEL, input="refund policy")

    def clear(self, **kwargs: Any) -> None:
        pass


def test_cache_embeddings_own_spans(exporter: Any, replay: Any) -> None:
    # The fake model reports no usage, so any token count on the chat span would be the cache's.
    model = FakeToolModel(messages=iter([AIMessage("answer")]), cache=EmbeddingCache())

    with replay("embeddings"):
        reply = model.invoke("q")

    assert reply.content == "answer"
    spans = exporter.get_finished_spans()
    chat = only(spans, "chat")
    embeddings = [span for span in spans if span.name == f"embeddings {MODEL}"]
    assert len(embeddings) == 2
    for span in embeddings:
        assert span.parent is not None
        assert span.parent.span_id == chat.context.span_id
        assert attributes_of(span)[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attributes_of(chat)
    assert semconv.SERVER_ADDRESS not in attributes_of(chat)
    assert len(RUNS) == 0
