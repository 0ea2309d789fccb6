"""Turn dispatcher span and event callbacks into OpenTelemetry spans and trajectory steps.

Spans are parented explicitly: ``entries`` maps each open dispatcher span id to the entry of its
nearest traced ancestor (its own entry when it is traced). An id leaves the map when the
dispatcher exits or drops its span, on every path, so the map contains only running spans.
LLM streams whose span has exited wait in ``streams`` until LlamaIndex reports their end, their
error or their garbage collection. A span that exits while a deferred descendant is open ends
after that descendant.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from opentelemetry.trace import SpanKind

from ... import semconv
from ..._call import ModelCall
from ..._guard import guarded
from ..._state import STATE
from ..._trajectory import Run, current_run, start_agent_span, step_for_call
from . import _extract as extract
from ._classify import (
    MODEL_KINDS,
    ROOT_KINDS,
    Kind,
    agent_name,
    classify,
    model_name,
    provider_name,
    span_label,
)
from ._entry import Entry
from ._streams import own_response_stream, stream_owner, stream_slot

_OPERATIONS = {
    Kind.CHAT: semconv.OPERATION_CHAT,
    Kind.COMPLETION: semconv.OPERATION_TEXT_COMPLETION,
    Kind.EMBED: semconv.OPERATION_EMBEDDINGS,
}


class Tracker:
    """The state behind the span and event handlers: open spans and pending streams."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.streams: dict[str, Entry] = {}
        # By the dispatcher span id of an agent workflow step and its untraced descendants: the
        # agent the step runs for, and the tool call a ``call_tool`` step makes.
        self.step_agents: dict[str, str] = {}
        self.step_tool_calls: dict[str, str] = {}

    # --- dispatcher span callbacks -------------------------------------------------------

    def enter(self, span_id: str, instance: Any, parent_id: str | None, bound_args: Any) -> None:
        if not STATE.active:
            return
        kind = classify(instance, span_id)
        parent = self._parent(parent_id)

        if kind is Kind.NONE or _continues(parent, kind, instance):
            # Transparent: children of this span attach to the nearest traced ancestor.
            if parent is not None:
                self.entries[span_id] = parent
                if kind in MODEL_KINDS:
                    _offer_stream_call(parent)
                if instance is None or parent_id in self.step_agents:  # workflow steps have no instance
                    with guarded("llamaindex.step"):
                        self._note_step(span_id, parent_id, bound_args)
            return

        entry = self._start(kind, span_id, instance, parent, parent_id, bound_args)
        entry.parent = parent
        self.entries[span_id] = entry
        with guarded("llamaindex.scope"):
            entry.enter_scope(owns_run=entry.run is not None and entry.run.span is entry.span)
        if kind in MODEL_KINDS:
            _offer_stream_call(entry)

    def exit(self, span_id: str, result: Any) -> None:
        self._forget_step(span_id)
        entry = self.entries.pop(span_id, None)
        if entry is None:
            return
        if entry.span_id != span_id:
            # A model method that continues its caller's call (``OpenAILike.stream_chat`` calls
            # ``OpenAI.stream_chat``) may be the one whose stream events carry the span id.
            if entry.kind in MODEL_KINDS and _is_stream(result):
                with guarded("llamaindex.stream"):
                    self._register_stream(span_id, entry, result)
            return
        entry.exit_scope()
        with guarded("llamaindex.result"):
            if self._defer(entry, span_id, result):
                return
            self._record_result(entry, result)
        entry.end_when_released()

    def drop(self, span_id: str, error: BaseException | None) -> None:
        self._forget_step(span_id)
        entry = self.entries.pop(span_id, None)
        if entry is None or entry.span_id != span_id:
            return
        entry.exit_scope()
        entry.end(error)

    def close(self) -> None:
        """End every span still open (used when instrumentation is removed)."""
        entries = {id(entry): entry for entry in [*self.entries.values(), *self.streams.values()]}
        self.entries.clear()
        self.streams.clear()
        self.step_agents.clear()
        self.step_tool_calls.clear()
        for entry in entries.values():
            entry.end()

    # --- dispatcher events: the ends of LLM streams --------------------------------------

    def stream_progress(self, span_id: str | None) -> None:
        entry = self.streams.get(span_id) if span_id is not None else None
        if entry is not None and entry.call is not None:
            entry.call.mark_first_chunk()

    def stream_end(self, span_id: str | None, response: Any) -> None:
        entry = self._take_stream(span_id)
        if entry is None:
            return
        with guarded("llamaindex.stream"):
            self._record_result(entry, response)
        entry.end(extra={semconv.STREAM_END: semconv.STREAM_END_EXHAUSTED})

    def stream_error(self, span_id: str | None, error: BaseException) -> None:
        entry = self._take_stream(span_id)
        if entry is None:
            return
        reason = semconv.STREAM_END_CLOSED if isinstance(error, GeneratorExit) else semconv.STREAM_END_ERROR
        entry.end(error, {semconv.STREAM_END: reason})

    # --- internals -----------------------------------------------------------------------

    def _note_step(self, span_id: str, parent_id: str | None, bound_args: Any) -> None:
        """Record the agent name and tool call id of an agent workflow step's event for its child spans."""
        agent, call_id = extract.step_event_facts(bound_args)
        if agent is None and parent_id is not None:
            agent = self.step_agents.get(parent_id)
        if agent is not None:
            self.step_agents[span_id] = agent
        if call_id is not None:
            self.step_tool_calls[span_id] = call_id

    def _forget_step(self, span_id: str) -> None:
        if self.step_agents:
            self.step_agents.pop(span_id, None)
        if self.step_tool_calls:
            self.step_tool_calls.pop(span_id, None)

    def _parent(self, parent_id: str | None) -> Entry | None:
        """Return the entry a span starting now nests under, or None for a root."""
        parent = self.entries.get(parent_id) if parent_id is not None else None
        owner = stream_owner.get()
        if owner is None:
            return parent
        # A stream step runs in whatever context iterates the stream: the caller's, or a thread
        # LlamaIndex started while the method that made the stream was still open. So a dispatcher
        # parent opened outside the stream does not own the step's work, and the stream owner does.
        if parent is None or not parent.descends_from(owner):
            return owner
        return parent

    def _register_stream(self, span_id: str, entry: Entry, stream: object) -> None:
        """Wait for the stream events of ``span_id``; end ``entry`` if the stream is collected.

        A started generator closes when it is collected, and LlamaIndex reports that as an
        ``ExceptionEvent`` with ``GeneratorExit``. A generator never started reports nothing, so
        a ``weakref.finalize`` on the first stream seen is the backstop.
        """
        self.streams[span_id] = entry
        entry.stream_ids.append(span_id)
        entry.hold_ancestors()
        if entry.finalizer is None:
            entry.finalizer = weakref.finalize(stream, self._abandon_stream, entry)

    def _take_stream(self, span_id: str | None) -> Entry | None:
        entry = self.streams.pop(span_id, None) if span_id is not None else None
        if entry is not None:
            for other in entry.stream_ids:
                self.streams.pop(other, None)
        return entry

    def _abandon_stream(self, entry: Entry) -> None:
        for span_id in entry.stream_ids:
            self.streams.pop(span_id, None)
        entry.end(extra={semconv.STREAM_END: semconv.STREAM_END_ABANDONED})

    def _start(
        self,
        kind: Kind,
        span_id: str,
        instance: Any,
        parent: Entry | None,
        parent_id: str | None,
        bound_args: Any,
    ) -> Entry:
        run = parent.run if parent is not None else current_run()
        if run is not None and run.implicit:
            # The parent is a one-step run of its own (a tool or retriever called outside any
            # run), whose shared placeholder run counts no steps. So this span is numbered as if
            # it had no run: a one-step run, or the root of a new run for a query or agent.
            run = None
        context = parent.context if parent is not None else None
        label = span_label(span_id)
        capture = STATE.capture_content

        if kind in MODEL_KINDS:
            model = model_name(instance)
            attributes: dict[str, Any] = {semconv.LLAMAINDEX_SPAN: label}
            provider = provider_name(type(instance))
            if provider is not None:
                attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
                attributes[semconv.LLM_PROVIDER] = provider
            if model:
                attributes[semconv.GEN_AI_REQUEST_MODEL] = model
            agent = self.step_agents.get(parent_id) if parent_id is not None else None
            if agent is not None:  # a model call of an agent workflow step
                attributes[semconv.GEN_AI_AGENT_NAME] = agent
            method = label.rpartition(".")[2]
            attributes.update(extract.model_request(instance, bound_args, kind, method, capture))
            call = ModelCall(_OPERATIONS[kind], model, attributes.items(), run=run, context=context)
            if STATE.inline is not None and kind is not Kind.EMBED:
                call.record = extract.step_record(bound_args, kind)
            return Entry(span_id, kind, instance, call.span, call.run, call)

        if kind in ROOT_KINDS:
            name = agent_name(instance) if kind is Kind.AGENT else type(instance).__name__
            if run is None or kind is Kind.AGENT:
                span = start_agent_span(name, context=context)
            else:
                span = _internal_span(f"{semconv.LLAMAINDEX_QUERY} {name}", semconv.SPAN_KIND_CHAIN, context)
            span.set_attribute(semconv.LLAMAINDEX_SPAN, label)
            if run is None:
                run = Run(name=name, span=span)
            if capture and kind is Kind.QUERY:
                query = extract.as_text(extract.argument(bound_args, "str_or_query_bundle"))
                span.set_attribute(semconv.GEN_AI_INPUT_MESSAGES, _user_message(query))
            return Entry(span_id, kind, instance, span, run)

        if kind is Kind.SYNTHESIZE:
            if run is not None and parent is not None and parent.retrieval_steps:
                _keep_synthesized(run, parent.retrieval_steps, extract.argument(bound_args, "nodes"))
            name = f"{semconv.LLAMAINDEX_SYNTHESIZE} {type(instance).__name__}"
            span = _internal_span(name, semconv.SPAN_KIND_CHAIN, context)
            span.set_attribute(semconv.LLAMAINDEX_SPAN, label)
            return Entry(span_id, kind, instance, span, run)

        run, step = (run, run.next_step()) if run is not None else step_for_call()
        call_id: str | None = None  # set for a tool run by an agent workflow's ``call_tool`` step
        if kind is Kind.RETRIEVE:
            if parent is not None:
                parent.retrieval_steps.append(step)
            name = f"{semconv.OPERATION_RETRIEVAL} {type(instance).__name__}"
            span = _internal_span(name, semconv.SPAN_KIND_RETRIEVER, context)
            span.set_attribute(semconv.GEN_AI_OPERATION_NAME, semconv.OPERATION_RETRIEVAL)
            if capture:
                query = extract.as_text(extract.argument(bound_args, "str_or_query_bundle"))
                span.set_attribute(semconv.GEN_AI_RETRIEVAL_QUERY_TEXT, query)
        else:
            tool = extract.tool_name(instance)
            span = _internal_span(f"{semconv.OPERATION_EXECUTE_TOOL} {tool}", semconv.SPAN_KIND_TOOL, context)
            span.set_attribute(semconv.GEN_AI_OPERATION_NAME, semconv.OPERATION_EXECUTE_TOOL)
            span.set_attribute(semconv.GEN_AI_TOOL_NAME, tool)
            call_id = self.step_tool_calls.get(parent_id) if parent_id is not None else None
            if call_id is not None:
                span.set_attribute(semconv.GEN_AI_TOOL_CALL_ID, call_id)
            if capture:
                arguments = extract.tool_arguments(instance, bound_args)
                span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, arguments)
        span.set_attribute(semconv.TRAJECTORY_STEP, step)
        span.set_attribute(semconv.LLAMAINDEX_SPAN, label)
        entry = Entry(span_id, kind, instance, span, run)
        entry.step = step
        entry.tool_call_id = call_id
        return entry

    def _defer(self, entry: Entry, span_id: str, result: Any) -> bool:
        """Keep a span that returned a stream open until the stream ends; False if no stream."""
        if entry.kind in MODEL_KINDS:
            if not _is_stream(result):
                return False
            self._register_stream(span_id, entry, result)
            return True
        if entry.kind in (Kind.QUERY, Kind.SYNTHESIZE) and own_response_stream(result, entry):
            entry.hold_ancestors()
            return True
        return False

    def _record_result(self, entry: Entry, result: Any) -> None:
        capture = STATE.capture_content
        call = entry.call
        if call is not None:
            if entry.kind is Kind.EMBED:
                call.set_attributes(extract.embedding_response(result))
                return
            call.set_attributes(extract.model_response(result, entry.kind, capture))
            if call.record is not None:
                call.record.output_text, call.record.tool_calls = extract.answer(result)
            input_tokens, output_tokens = extract.usage(result)
            if input_tokens is not None or output_tokens is not None:
                call.set_usage(input_tokens, output_tokens)
            return

        run = entry.run
        if entry.kind is Kind.RETRIEVE:
            for key, value in extract.retrieval_response(result, capture):
                entry.span.set_attribute(key, value)
            if run is not None and not run.implicit and isinstance(result, list):
                for node in result:
                    run.add_evidence("retrieval", extract.node_text(node), entry.step, extract.node_id(node))
        elif entry.kind is Kind.TOOL:
            text = extract.tool_output_text(result)
            if run is not None and not run.implicit:
                source = entry.tool_call_id or extract.tool_name(entry.instance)
                run.add_evidence("tool_result", text, entry.step, source)
            if capture:
                entry.span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, text)
        elif entry.kind is Kind.QUERY and capture:
            entry.span.set_attribute(
                semconv.GEN_AI_OUTPUT_MESSAGES, _assistant_message(extract.as_text(result))
            )


def _continues(parent: Entry | None, kind: Kind, instance: Any) -> bool:
    """Return True when a span only continues its parent's step (a ``super()`` call, a model
    call made by another model method), so it gets no span of its own."""
    if parent is None:
        return False
    if kind in MODEL_KINDS and parent.kind in MODEL_KINDS:
        return True
    return parent.kind is kind and parent.instance is instance


def _is_stream(result: Any) -> bool:
    return inspect.isgenerator(result) or inspect.isasyncgen(result)


def _offer_stream_call(entry: Entry) -> None:
    """Hand the model call's entry to a patched ``stream_*`` method waiting for it."""
    slot = stream_slot.get()
    if slot is not None and not slot and entry.call is not None:
        slot.append(entry)


def _keep_synthesized(run: Run, steps: list[int], nodes: Any) -> None:
    """Keep as evidence only the retrieved documents the synthesizer got (after postprocessing)."""
    if isinstance(nodes, list):
        sources = {source for source in map(extract.node_id, nodes) if source is not None}
        run.narrow_retrieval(steps, sources)


def _internal_span(name: str, span_kind: str, context: Any) -> Any:
    return STATE.tracer.start_span(
        name,
        context=context,
        kind=SpanKind.INTERNAL,
        attributes={semconv.OPENINFERENCE_SPAN_KIND: span_kind},
    )


def _user_message(text: str) -> str:
    return extract.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}])


def _assistant_message(text: str) -> str:
    return extract.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}])
