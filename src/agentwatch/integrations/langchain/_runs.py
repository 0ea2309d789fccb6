"""The run-id map: one entry per LangChain run in progress, removed when the run ends or fails.

LangChain names each run with a UUID and tells every callback the id of the parent run, so spans
are parented through this map rather than through the current OpenTelemetry context, which may
belong to another thread or task by the time a callback runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from ... import semconv
from ..._call import ModelCall
from ..._trajectory import Run, is_control_flow

logger = logging.getLogger(__name__)

# Runs in progress at one time before the oldest are ended as abandoned. Every run leaves the map
# when LangChain reports its end or error; the bound only guards against a run that never does.
MAX_OPEN_RUNS = 10_000

KIND_AGENT = "agent"
KIND_CHAIN = "chain"
KIND_MODEL = "model"
KIND_TOOL = "tool"
KIND_RETRIEVER = "retriever"
KIND_HIDDEN = "hidden"

try:  # LangGraph raises these to interrupt a graph or hand a command to the parent graph.
    from langgraph.errors import GraphBubbleUp

    _GRAPH_CONTROL_FLOW: tuple[type[BaseException], ...] = (GraphBubbleUp,)
except ImportError:  # pragma: no cover - depends on whether langgraph is installed
    _GRAPH_CONTROL_FLOW = ()


def is_control_flow_error(exc: BaseException) -> bool:
    """Return True for exceptions that stop a run without it failing.

    Covers cancellation and early exit (``GeneratorExit``, ``CancelledError``) and LangGraph's
    ``GraphBubbleUp`` family: ``GraphInterrupt``, ``NodeInterrupt`` and ``ParentCommand``.
    """
    return is_control_flow(exc) or isinstance(exc, _GRAPH_CONTROL_FLOW)


@dataclass(slots=True)
class Entry:
    """One LangChain run in progress and what its children need from it."""

    kind: str
    span: Span | None  # None for hidden runs, which stand in for their nearest traced ancestor
    run: Run | None
    context: otel_context.Context | None  # the context children start their spans in
    call: ModelCall | None = None
    step: int = 0
    tool_call_id: str | None = None


def child_context(span: Span) -> otel_context.Context:
    return trace.set_span_in_context(span)


def end_span(span: Span, exc: BaseException | None) -> None:
    """End a chain, tool or retriever span; ERROR with the exception unless it is control flow."""
    if exc is not None and not is_control_flow_error(exc):
        error_type = type(exc).__qualname__
        span.set_attribute(semconv.ERROR_TYPE, error_type)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"[:512]))
    span.end()


class RunMap:
    """Entries by LangChain run id; thread-safe, bounded by ``MAX_OPEN_RUNS``.

    Entries are keyed by the run id's integer, because ``UUID.__hash__`` is a Python method and
    the map is read three times per chat model call. Single dict operations are atomic, so only
    eviction takes the lock, and adds racing in other threads can pass the bound until the next
    add evicts.
    """

    def __init__(self, limit: int = MAX_OPEN_RUNS) -> None:
        self._entries: dict[object, Entry] = {}
        self._lock = threading.Lock()
        self._limit = limit
        self._warned = False

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, run_id: UUID | None) -> Entry | None:
        if run_id is None:
            return None
        return self._entries.get(run_id.int if type(run_id) is UUID else run_id)

    def add(self, run_id: UUID, entry: Entry) -> None:
        key = run_id.int if type(run_id) is UUID else run_id
        if len(self._entries) < self._limit:
            self._entries[key] = entry
            return
        evicted: list[Entry] = []
        with self._lock:
            while len(self._entries) >= self._limit:
                try:
                    oldest = next(iter(self._entries))
                except (StopIteration, RuntimeError):  # another thread popped an entry meanwhile
                    continue
                old_entry = self._entries.pop(oldest, None)
                if old_entry is not None:
                    evicted.append(old_entry)
            self._entries[key] = entry
        self._abandon(evicted)

    def pop(self, run_id: UUID) -> Entry | None:
        return self._entries.pop(run_id.int if type(run_id) is UUID else run_id, None)

    def _abandon(self, entries: list[Entry]) -> None:
        if entries and not self._warned:
            self._warned = True
            logger.warning(
                "agentwatch ended %d LangChain span(s) whose run never reported its end; "
                "at most %d runs are tracked at once.",
                len(entries),
                self._limit,
            )
        for entry in entries:
            if entry.call is not None:
                entry.call.end()
            elif entry.span is not None:
                entry.span.end()


# The one map of the one callback handler; the scope wrappers read it too.
RUNS = RunMap()
