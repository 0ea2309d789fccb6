"""One traced LlamaIndex span: its OpenTelemetry span, its run, and what it made current.

An entry has two lifetimes. Its *scope* (the OpenTelemetry context, the framework-call marker,
the current run) is entered in the dispatcher's ``span_enter`` and left in ``span_exit`` or
``span_drop``, which the dispatcher calls in the same frame and context for sync and async
methods alike. Its *span* usually ends there too, but a span whose result is a stream ends
when the stream does, possibly in another task or thread, so ending is idempotent and locked.
A span that exits while such a deferred descendant is still open (a chat engine whose answer
LlamaIndex streams from a thread of its own) ends when the last of those descendants ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from ..._call import ModelCall, framework_call_scope
from ..._trajectory import Run, end_agent_span, enter_run, exit_run
from ._classify import Kind, is_control_flow

logger = logging.getLogger(__name__)


class Entry:
    """A traced span and the scope it keeps current between the dispatcher's enter and exit."""

    __slots__ = (
        "_ancestors_held",
        "_attached",
        "_ended",
        "_framework_scope",
        "_holders",
        "_lock",
        "_otel_token",
        "_pending",
        "_run_token",
        "_waiting",
        "call",
        "context",
        "finalizer",
        "instance",
        "kind",
        "parent",
        "retrieval_steps",
        "run",
        "span",
        "span_id",
        "step",
        "stream_ids",
        "tool_call_id",
    )

    def __init__(
        self,
        span_id: str,
        kind: Kind,
        instance: Any,
        span: Span,
        run: Run | None,
        call: ModelCall | None = None,
    ) -> None:
        self.span_id = span_id
        self.kind = kind
        self.instance = instance
        self.span = span
        self.run = run
        self.call = call
        self.step = 0  # the trajectory step of a retrieval or tool span; model calls keep theirs
        self.tool_call_id: str | None = None  # the id of the tool call a tool span runs, when known
        self.retrieval_steps: list[int] = []  # steps of the retrievals directly under this span
        # Children of this span are started in this context, so they nest under it explicitly.
        self.context: otel_context.Context = trace.set_span_in_context(span)
        self.finalizer: Any = None  # a weakref.finalize backstop while a stream is pending
        self.stream_ids: list[str] = []  # dispatcher span ids whose stream events end this span
        self._attached: otel_context.Context | None = None
        self._otel_token: Token[otel_context.Context] | None = None
        self._framework_scope: AbstractContextManager[None] | None = None
        self._run_token: Token[Run | None] | None = None
        self.parent: Entry | None = None  # the nearest traced ancestor, set by the tracker
        self._ended = False
        self._lock = threading.Lock()
        self._pending = 0  # deferred descendants whose spans are still open
        self._waiting = False  # exited while ``_pending`` was above 0
        self._ancestors_held = False
        self._holders: list[Entry] = []  # the ancestors this deferred entry keeps open

    def descends_from(self, ancestor: Entry) -> bool:
        """Return True when ``ancestor`` is this entry or one of its traced ancestors."""
        entry: Entry | None = self
        while entry is not None:
            if entry is ancestor:
                return True
            entry = entry.parent
        return False

    # --- scope: entered and left in the same frame ---------------------------------------

    def enter_scope(self, owns_run: bool) -> None:
        """Make the span current (and the call and run, where this entry owns them)."""
        # The entry is created in the same callback, so its context is based on the current one.
        self._otel_token = otel_context.attach(self.context)
        self._attached = self.context
        if self.call is not None:
            scope = framework_call_scope(self.call)
            scope.__enter__()
            self._framework_scope = scope
        if owns_run and self.run is not None:
            self._run_token = enter_run(self.run)

    def exit_scope(self) -> None:
        """Undo ``enter_scope`` in reverse order; skip what was set in another context."""
        if self._run_token is not None:
            run_token, self._run_token = self._run_token, None
            try:
                exit_run(run_token)
            except ValueError:
                logger.debug("agentwatch: run of %s was entered in another context", self.span_id)
        if self._framework_scope is not None:
            scope, self._framework_scope = self._framework_scope, None
            try:
                scope.__exit__(None, None, None)
            except ValueError:
                logger.debug("agentwatch: model call of %s was entered in another context", self.span_id)
        if self._otel_token is not None:
            otel_token, self._otel_token = self._otel_token, None
            # Detaching in another context (or out of order) would make OpenTelemetry log an
            # error and restore the wrong span, so detach only what is current here.
            if otel_context.get_current() is self._attached:
                otel_context.detach(otel_token)
            else:
                logger.debug("agentwatch: span of %s is not current at exit; left attached", self.span_id)
            self._attached = None

    # --- span: ended exactly once -------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended

    def _claim_end(self) -> bool:
        with self._lock:
            if self._ended:
                return False
            self._ended = True
        if self.finalizer is not None:
            self.finalizer.detach()
            self.finalizer = None
        return True

    def end(
        self, exc: BaseException | None = None, extra: Mapping[str, AttributeValue] | None = None
    ) -> None:
        """End the span: ERROR for a real failure, unset for success and control flow.

        Then end each ancestor that exited and was waiting only for this span.
        """
        if not self._claim_end():
            return
        try:
            self._end_span(exc, extra)
        finally:
            self._release_holders()

    def _end_span(self, exc: BaseException | None, extra: Mapping[str, AttributeValue] | None) -> None:
        control_flow = exc is not None and (is_control_flow(exc) or not isinstance(exc, Exception))
        if self.call is not None:
            if exc is None or control_flow:
                self.call.end(extra)
            else:
                self.call.fail(exc, extra)
            return
        if extra:
            for key, value in extra.items():
                self.span.set_attribute(key, value)
        end_agent_span(self.span, self.run, exc, control_flow=control_flow)

    # --- deferred descendants: a parent span ends after them ----------------------------

    def hold_ancestors(self) -> None:
        """Keep every open ancestor from ending before this entry, whose span was deferred."""
        if self._ancestors_held:
            return
        self._ancestors_held = True
        ancestor = self.parent
        while ancestor is not None:
            with ancestor._lock:
                if not ancestor._ended:
                    ancestor._pending += 1
                    self._holders.append(ancestor)
            ancestor = ancestor.parent

    def end_when_released(self) -> None:
        """End the span now, or, while deferred descendants are open, when the last one ends."""
        with self._lock:
            if self._pending > 0:
                self._waiting = True
                return
        self.end()

    def _release_holders(self) -> None:
        holders, self._holders = self._holders, []
        for ancestor in holders:
            with ancestor._lock:
                ancestor._pending -= 1
                ready = ancestor._pending == 0 and ancestor._waiting
            if ready:
                ancestor.end()
