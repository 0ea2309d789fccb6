"""``agentwatch.tool()``: trace a tool execution as an ``execute_tool {name}`` step of the run.

Frameworks get tool spans from their callbacks; code that runs tools itself (a plain OpenAI SDK
agent loop) marks them with this context manager. The tool's result becomes evidence for later
steps; it is recorded on the span only with content capture on.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from . import semconv
from ._guard import report_fault
from ._state import STATE
from ._trajectory import Run, step_for_call


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


class tool:  # noqa: N801 - a context manager used like a function
    """Trace one tool execution as a step of the current run.

    Example:
        >>> with agentwatch.tool("lookup_order", call_id=call.id, arguments=call.function.arguments) as step:
        ...     step.set_result(lookup_order(order_id="42"))
    """

    def __init__(self, name: str, *, call_id: str | None = None, arguments: Any = None) -> None:
        self.name = name
        self.call_id = call_id
        self.arguments = arguments
        self.run: Run | None = None
        self.step = 0
        self._span: Span | None = None
        self._token: object | None = None

    def __enter__(self) -> tool:
        if not STATE.active:
            return self
        try:
            self.run, self.step = step_for_call()
            attributes: dict[str, Any] = {
                semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EXECUTE_TOOL,
                semconv.GEN_AI_TOOL_NAME: self.name,
                semconv.OPENINFERENCE_SPAN_KIND: semconv.SPAN_KIND_TOOL,
                semconv.TRAJECTORY_STEP: self.step,
            }
            if self.call_id:
                attributes[semconv.GEN_AI_TOOL_CALL_ID] = self.call_id
            if STATE.capture_content and self.arguments is not None:
                attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = _as_text(self.arguments)
            self._span = STATE.tracer.start_span(
                f"{semconv.OPERATION_EXECUTE_TOOL} {self.name}",
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=time.time_ns(),
            )
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        except Exception as exc:  # noqa: BLE001
            report_fault("tool.start", exc)
        return self

    def set_result(self, result: Any) -> None:
        """Keep the tool's result as evidence (and on the span with content capture on)."""
        try:
            text = _as_text(result)
            if self.run is not None and not self.run.implicit:
                self.run.add_evidence("tool_result", text, self.step, self.call_id)
            if self._span is not None and STATE.capture_content:
                self._span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, text)
        except Exception as exc:  # noqa: BLE001
            report_fault("tool.result", exc)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, self._span = self._span, None
        try:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
                self._token = None
            if span is not None:
                if isinstance(exc, Exception):
                    span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, str(exc)[:512]))
                span.end()
        except Exception as fault:  # noqa: BLE001
            report_fault("tool.end", fault)
