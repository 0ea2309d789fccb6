"""One traced LlamaIndex span: its OpenTelemetry span, its run, and what it made current.

An entry has two lifetimes. Its *scope* (the OpenTelemetry context, the framework-call marker,
the current run) is entered in the dispatcher's ``span_enter`` and left in ``span_exit`` or
``span_drop``, which the dispatcher calls in the same frame and context for sync and async
methods alike. Its *span* usually ends there too, but a span whose result is a stream ends
when the stream does, possibly in another task or thread, so ending is idempotent and locked.
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
        "_attached",
        "_ended",
        "_framework_scope",
        "_lock",
        "_otel_token",
        "_run_token",
        "call",
        "context",
        "finalizer",
        "instance",
        "kind",
        "run",
        "span",
        "span_id",
        "step",
        "stream_ids",
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
        # Children of this span are started in this context, so they nest under it explicitly.
        self.context: otel_context.Context = trace.set_span_in_context(span)
        self.finalizer: Any = None  # a weakref.finalize backstop while a stream is pending
        self.stream_ids: list[str] = []  # dispatcher span ids whose stream events end this span
        self._attached: otel_context.Context | None = None
        self._otel_token: Token[otel_context.Context] | None = None
        self._framework_scope: AbstractContextManager[None] | None = None
        self._run_token: Token[Run | None] | None = None
        self._ended = False
        self._lock = threading.Lock()

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
        """End the span: ERROR for a real failure, unset for success and control flow."""
        if not self._claim_end():
            return
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
