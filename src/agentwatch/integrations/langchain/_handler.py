"""The callback handler that turns LangChain runs into spans.

One instance is added to every callback manager, so LangChain's identity check keeps it from being
added twice. It runs inline (``run_inline``): async callback managers call it on the event loop in
the caller's task instead of in an executor thread, so it reads the caller's agentwatch run. Each
start callback opens a span parented by ``parent_run_id`` through the run map; each end or error
callback removes the entry and ends the span. Only start callbacks check ``STATE.active``, so runs
in progress when ``uninstrument()`` is called still end their spans.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry.trace import SpanKind

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded, guarded, report_fault
from ..._messages import dumps, evidence_from_messages
from ..._state import STATE
from ..._trajectory import Run, current_run, end_agent_span, start_agent_span, step_for_call
from ...governance._inline import StepRecord
from . import _extract
from ._runs import (
    KIND_AGENT,
    KIND_CHAIN,
    KIND_HIDDEN,
    KIND_MODEL,
    KIND_RETRIEVER,
    KIND_TOOL,
    RUNS,
    Entry,
    child_context,
    end_span,
    is_control_flow_error,
)
from ._scope import claim_agent_slot, claim_chat_slot

# LangChain tags the runs of its own plumbing with this; they get no span of their own.
_HIDDEN_TAG = "langsmith:hidden"
# Metadata keys LangGraph and LangChain users put the conversation id under.
_SESSION_KEYS = ("thread_id", "session_id", "conversation_id")


def _run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


def _session_id(metadata: Mapping[str, Any]) -> str | None:
    for key in _SESSION_KEYS:
        value = metadata.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


def _step_run(parent: Entry | None) -> tuple[Run | None, int]:
    """Claim the step of a tool or retriever run: in the parent's run, else the current one."""
    if parent is not None and parent.run is not None:
        return parent.run, parent.run.next_step()
    run, step = step_for_call()
    # A run of its own is not shared with children: they would count steps on the shared stand-in.
    return (None if run.implicit else run), step


class AgentwatchCallbackHandler(BaseCallbackHandler):
    """Record LangChain and LangGraph runs as agentwatch spans."""

    run_inline = True
    # Outside pytest the guard catches every fault of ours, so nothing reaches LangChain. Under
    # pytest the guard re-raises, and LangChain passes the fault on to the test only with this set.
    raise_error = True
    # LangChain reads one of these before each event. The base class returns False from a
    # property, and plain class attributes return the same value without a Python call.
    ignore_llm = False
    ignore_retry = False
    ignore_chain = False
    ignore_agent = False
    ignore_retriever = False
    ignore_chat_model = False
    ignore_custom_event = False

    # --- chains and agents --------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not STATE.active:
            return
        with guarded("langchain.chain_start"):
            self._start_chain(serialized, run_id, parent_run_id, tags, metadata or {}, kwargs)

    def _start_chain(
        self,
        serialized: dict[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any],
        kwargs: Mapping[str, Any],
    ) -> None:
        parent = RUNS.get(parent_run_id)
        agent = claim_agent_slot()
        run = parent.run if parent is not None else current_run()
        context = parent.context if parent is not None else None
        if not agent and tags and _HIDDEN_TAG in tags:
            RUNS.add(run_id, Entry(KIND_HIDDEN, None, run, context))
            return

        name = _run_name(serialized, kwargs, "chain")
        if agent:
            session_id = _session_id(metadata)
            span = start_agent_span(name, session_id, context=context)
            kind = KIND_AGENT
            if run is None:
                run = Run(name=name, session_id=session_id, span=span)
        else:
            attributes: dict[str, Any] = {semconv.OPENINFERENCE_SPAN_KIND: semconv.SPAN_KIND_CHAIN}
            node = metadata.get("langgraph_node")
            if isinstance(node, str):
                attributes[semconv.LANGGRAPH_NODE] = node
            span = STATE.tracer.start_span(
                name, context=context, kind=SpanKind.INTERNAL, attributes=attributes
            )
            kind = KIND_CHAIN
            if run is None:
                # A chain outside any run numbers the steps inside it as one run.
                run = Run(name=name, span=span)
        RUNS.add(run_id, Entry(kind, span, run, child_context(span)))

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_chain(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_chain(run_id, error)

    def _end_chain(self, run_id: UUID, error: BaseException | None) -> None:
        entry = RUNS.pop(run_id)
        if entry is None or entry.span is None:
            return
        with guarded("langchain.chain_end"):
            if entry.run is not None and entry.run.span is entry.span:
                control_flow = error is not None and is_control_flow_error(error)
                end_agent_span(entry.span, entry.run, error, control_flow=control_flow)
            else:
                end_span(entry.span, error)

    # --- chat models and LLMs ---------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not STATE.active:
            return
        # A try statement rather than ``guarded``, because this runs on every chat model call.
        try:
            self._start_model(run_id, parent_run_id, messages[0] if messages else [], metadata or {}, kwargs)
        except Exception as exc:  # noqa: BLE001 - the guard's contract: report, never propagate
            report_fault("langchain.model_start", exc)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not STATE.active:
            return
        try:
            self._start_model(run_id, parent_run_id, prompts[:1], metadata or {}, kwargs)
        except Exception as exc:  # noqa: BLE001
            report_fault("langchain.model_start", exc)

    def _start_model(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        messages: Sequence[Any],
        metadata: Mapping[str, Any],
        kwargs: Mapping[str, Any],
    ) -> None:
        parent = RUNS.get(parent_run_id) if parent_run_id is not None else None
        params = kwargs.get("invocation_params")
        if type(params) is not dict and not isinstance(params, Mapping):  # skip the ABC check for a dict
            params = {}
        attributes = _extract.model_request(params, metadata, messages, STATE.capture_content)
        node = metadata.get("langgraph_node")
        if isinstance(node, str):
            attributes[semconv.LANGGRAPH_NODE] = node
        model = attributes.get(semconv.GEN_AI_REQUEST_MODEL)

        call = ModelCall(
            semconv.OPERATION_CHAT,
            model if isinstance(model, str) else None,
            attributes.items(),
            run=parent.run if parent is not None else None,
            context=parent.context if parent is not None else None,
        )
        run = None if call.run.implicit else call.run
        RUNS.add(run_id, Entry(KIND_MODEL, call.span, run, child_context(call.span), call, call.step))
        if claim_chat_slot(call):
            # stream() leaves "stream" out of the invocation parameters.
            call.span.set_attribute(semconv.REQUEST_STREAM, True)
        if run is not None:
            call_guarded("langchain.evidence", _keep_message_evidence, call, messages, default=None)
        if STATE.inline is not None:
            call.record = StepRecord(
                messages=_extract.openai_messages(messages),
                tools=list(params.get("tools") or ()),
                tool_choice=params.get("tool_choice"),
                response_format=params.get("response_format"),
            )

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        entry = RUNS.get(run_id)
        if entry is not None and entry.call is not None:
            entry.call.mark_first_chunk()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        entry = RUNS.pop(run_id)
        if entry is None or entry.call is None:
            return
        call = entry.call
        try:
            call_guarded("langchain.model_response", _record_response, call, response, default=None)
        finally:
            call.end()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        entry = RUNS.pop(run_id)
        if entry is None or entry.call is None:
            return
        with guarded("langchain.model_error"):
            if is_control_flow_error(error):
                entry.call.end()
            else:
                entry.call.end_for_exception(error)

    # --- tools ------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not STATE.active:
            return
        with guarded("langchain.tool_start"):
            self._start_tool(serialized, input_str, inputs, run_id, parent_run_id, metadata or {}, kwargs)

    def _start_tool(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        inputs: dict[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, Any],
        kwargs: Mapping[str, Any],
    ) -> None:
        parent = RUNS.get(parent_run_id)
        run, step = _step_run(parent)
        name = _run_name(serialized, kwargs, "tool")
        call_id = kwargs.get("tool_call_id")
        call_id = call_id if isinstance(call_id, str) and call_id else None
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: name,
            semconv.OPENINFERENCE_SPAN_KIND: semconv.SPAN_KIND_TOOL,
            semconv.TRAJECTORY_STEP: step,
        }
        if call_id:
            attributes[semconv.GEN_AI_TOOL_CALL_ID] = call_id
        node = metadata.get("langgraph_node")
        if isinstance(node, str):
            attributes[semconv.LANGGRAPH_NODE] = node
        if STATE.capture_content:
            arguments = dumps(inputs) if inputs is not None else input_str
            attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = arguments

        span = STATE.tracer.start_span(
            f"{semconv.OPERATION_EXECUTE_TOOL} {name}",
            context=parent.context if parent is not None else None,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        RUNS.add(run_id, Entry(KIND_TOOL, span, run, child_context(span), step=step, tool_call_id=call_id))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        entry = RUNS.pop(run_id)
        if entry is None or entry.span is None:
            return
        try:
            call_guarded("langchain.tool_result", _record_tool_result, entry, output, default=None)
        finally:
            entry.span.end()

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_plain(run_id, error)

    # --- retrievers -------------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not STATE.active:
            return
        with guarded("langchain.retriever_start"):
            self._start_retriever(serialized, query, run_id, parent_run_id, kwargs)

    def _start_retriever(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        parent = RUNS.get(parent_run_id)
        run, step = _step_run(parent)
        name = _run_name(serialized, kwargs, "retriever")
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_RETRIEVAL,
            semconv.OPENINFERENCE_SPAN_KIND: semconv.SPAN_KIND_RETRIEVER,
            semconv.TRAJECTORY_STEP: step,
        }
        if STATE.capture_content and isinstance(query, str):
            attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] = query
        span = STATE.tracer.start_span(
            f"{semconv.OPERATION_RETRIEVAL} {name}",
            context=parent.context if parent is not None else None,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        RUNS.add(run_id, Entry(KIND_RETRIEVER, span, run, child_context(span), step=step))

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        entry = RUNS.pop(run_id)
        if entry is None or entry.span is None:
            return
        try:
            call_guarded("langchain.retrieval", _record_documents, entry, documents, default=None)
        finally:
            entry.span.end()

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_plain(run_id, error)

    def _end_plain(self, run_id: UUID, error: BaseException) -> None:
        entry = RUNS.pop(run_id)
        if entry is not None and entry.span is not None:
            with guarded("langchain.end"):
                end_span(entry.span, error)


def _keep_message_evidence(call: ModelCall, messages: Sequence[Any]) -> None:
    for kind, text, source in evidence_from_messages(_extract.openai_messages(messages)):
        call.run.add_evidence(kind, text, call.step, source)


def _record_response(call: ModelCall, response: Any) -> None:
    call.set_response(_extract.model_response(response, STATE.capture_content), *_extract.usage(response))
    if call.record is not None:
        call.record.output_text, call.record.tool_calls = _answer(response)


def _answer(response: Any) -> tuple[str, list[dict[str, Any]]]:
    """Return the first generation's text and tool calls, for inline evaluators."""
    generations = getattr(response, "generations", None) or []
    first = generations[0][0] if generations and generations[0] else None
    message = getattr(first, "message", None)
    text = getattr(first, "text", "") or ""
    calls = [
        {"name": call.get("name"), "arguments": json.dumps(call.get("args") or {})}
        for call in getattr(message, "tool_calls", None) or ()
        if isinstance(call, dict)
    ]
    return (text if isinstance(text, str) else ""), calls


def _record_tool_result(entry: Entry, output: Any) -> None:
    text = _extract.tool_output_text(output)
    if entry.run is not None:
        entry.run.add_evidence("tool_result", text, entry.step, entry.tool_call_id)
    if STATE.capture_content and entry.span is not None:
        entry.span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, text)


def _record_documents(entry: Entry, documents: Sequence[Any]) -> None:
    if entry.span is None:
        return
    for key, value in _extract.retrieval_response(documents, STATE.capture_content):
        entry.span.set_attribute(key, value)
    if entry.run is not None:
        for text, source in _extract.documents_text(documents):
            entry.run.add_evidence("retrieval", text, entry.step, source)


HANDLER = AgentwatchCallbackHandler()
