"""The life of one model-call span: start with sampler-visible attributes, end exactly once.

Integrations build a ``ModelCall`` from what they extracted from the request, run the user's call
with the span current, then hand over response attributes. Ending is idempotent and thread-safe,
because a stream may be finished by the user's loop, by ``close()`` or by the garbage collector.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._guard import call_guarded
from ._state import STATE
from ._trajectory import Run, step_for_call

Attributes = Iterable[tuple[str, AttributeValue]]

# Attributes copied from the span onto the duration and token metrics.
_METRIC_KEYS = frozenset(
    (
        semconv.GEN_AI_OPERATION_NAME,
        semconv.GEN_AI_PROVIDER_NAME,
        semconv.GEN_AI_REQUEST_MODEL,
        semconv.GEN_AI_RESPONSE_MODEL,
        semconv.SERVER_ADDRESS,
        semconv.SERVER_PORT,
        semconv.ROUTE_NAME,
    )
)


class ModelCall:
    """One traced model call: its span, its step and what its metrics need."""

    __slots__ = (
        "_end_lock",
        "_ended",
        "_metric_attributes",
        "_pending",
        "acts",
        "fallback_attempt",
        "first_chunk_ns",
        "guard_context",
        "record",
        "redactor",
        "run",
        "span",
        "start_ns",
        "step",
        "usage",
        "verdict",
    )

    def __init__(
        self,
        operation: str,
        request_model: str | None,
        start_attributes: Attributes,
        *,
        run: Run | None = None,
        context: otel_context.Context | None = None,
        start_ns: int | None = None,
        step: int | None = None,
        links: Sequence[trace.Link] = (),
    ):
        """Start the span; frameworks pass the ``run`` and parent ``context`` they track by run id."""
        self.run: Run
        if run is None:
            self.run, self.step = step_for_call()
        else:
            self.run, self.step = run, step if step is not None else run.next_step()
        attributes: dict[str, AttributeValue] = {
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.TRAJECTORY_STEP: self.step,
        }
        attributes.update(start_attributes)
        kind = (
            semconv.SPAN_KIND_EMBEDDING
            if operation == semconv.OPERATION_EMBEDDINGS
            else semconv.SPAN_KIND_LLM
        )
        attributes[semconv.OPENINFERENCE_SPAN_KIND] = kind
        if request_model:
            attributes[semconv.LLM_MODEL_NAME] = request_model
        name = f"{operation} {request_model}" if request_model else operation
        self.start_ns = start_ns or time.time_ns()
        self.span: Span = STATE.tracer.start_span(
            name,
            context=context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=self.start_ns,
            links=links,
        )
        # Built by C loops rather than a comprehension, because this runs on every call.
        keys = _METRIC_KEYS.intersection(attributes)
        self._metric_attributes = dict(zip(keys, map(attributes.__getitem__, keys), strict=True))
        # What inline evaluators judge; integrations fill it only when a policy names evaluators.
        self.record: Any = None
        self.verdict: Any = None  # the policy's action for this attempt, if it failed
        self.redactor: Any = None  # the vault of values the input guardrails replaced
        self.guard_context: list[str] | None = None  # evidence for an output groundedness guardrail
        self.fallback_attempt = 0
        # True while the policy can still change the answer: set by the code that returns it.
        self.acts = False
        self.first_chunk_ns: int | None = None
        self.usage: tuple[int | None, int | None] = (None, None)
        self._pending: dict[str, AttributeValue] | None = None  # from defer_attributes
        self._ended = False
        self._end_lock = threading.Lock()

    def activated(self) -> _Activation:
        """Make the span current for the duration of the SDK call (attach and detach together)."""
        return _Activation(self.span)

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def metric_attributes(self) -> Mapping[str, Any]:
        return self._metric_attributes

    def mark_first_chunk(self) -> None:
        if self.first_chunk_ns is None:
            self.first_chunk_ns = time.time_ns()

    def set_attributes(self, attributes: Attributes) -> None:
        # One SDK update for all pairs, because each update takes the span's lock and the lock of
        # its attribute map (opentelemetry-sdk 1.x).
        values = dict(attributes)
        if values:
            self._set_values(values)

    def defer_attributes(self, attributes: Attributes) -> None:
        """Add attributes to the span with its next update (the response or the end).

        This saves an SDK update of their own. Metrics see them at once, and on an ended span they
        are set at once, as ``set_attributes`` does.
        """
        values = dict(attributes)
        if not values:
            return
        if self._ended:
            self._set_values(values)
            return
        if self._pending is None:
            self._pending = values
        else:
            self._pending.update(values)
        self._note_late_keys(values)

    def set_usage(self, input_tokens: int | None, output_tokens: int | None) -> None:
        """Record token usage; a count the response did not carry stays absent, never 0."""
        self.set_response((), input_tokens, output_tokens)

    def set_response(
        self,
        attributes: Attributes | Mapping[str, AttributeValue],
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        """Set response attributes and token usage (as ``set_usage``) in one span update."""
        values = dict(attributes)
        self.usage = (input_tokens, output_tokens)
        if input_tokens is not None:
            values[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
            values[semconv.LLM_TOKEN_COUNT_PROMPT] = input_tokens
        if output_tokens is not None:
            values[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
            values[semconv.LLM_TOKEN_COUNT_COMPLETION] = output_tokens
        if input_tokens is not None and output_tokens is not None:
            values[semconv.LLM_TOKEN_COUNT_TOTAL] = input_tokens + output_tokens
            if STATE.policy is not None:  # only a policy's routes carry prices
                route_name = values.get(semconv.ROUTE_NAME, self._metric_attributes.get(semconv.ROUTE_NAME))
                cost = route_cost(route_name, input_tokens, output_tokens)
                if cost is not None:
                    values[semconv.USAGE_COST] = cost
        if values:
            self._set_values(values)

    def _set_values(self, values: dict[str, AttributeValue]) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.update(values)
            self.span.set_attributes(pending)
        else:
            self.span.set_attributes(values)
        self._note_late_keys(values)

    def _note_late_keys(self, values: Mapping[str, AttributeValue]) -> None:
        # The metric keys a span may learn after it started: the response model, and the route
        # that a framework's span learns from the SDK call.
        if semconv.GEN_AI_RESPONSE_MODEL in values:
            self._metric_attributes[semconv.GEN_AI_RESPONSE_MODEL] = values[semconv.GEN_AI_RESPONSE_MODEL]
        if semconv.ROUTE_NAME in values:
            self._metric_attributes[semconv.ROUTE_NAME] = values[semconv.ROUTE_NAME]

    def _claim_end(self) -> bool:
        # The one caller that acquires the lock ends the span, and the lock is never released.
        if not self._end_lock.acquire(False):
            return False
        self._ended = True
        return True

    def end(self, extra: Mapping[str, AttributeValue] | None = None) -> None:
        """End the span successfully and record metrics; later calls do nothing."""
        if not self._claim_end():
            return
        end_ns = time.time_ns()
        if self.record is not None and STATE.inline is not None:
            from .governance._inline import evaluate_call_end

            deferred = call_guarded(
                "evaluators.step", evaluate_call_end, self, self.record, extra, end_ns, default=False
            )
            if deferred:
                return  # the evaluation worker ends the span, with this end time
        self._finish(extra, error_type=None, end_ns=end_ns)

    def fail(self, exc: BaseException, extra: Mapping[str, AttributeValue] | None = None) -> None:
        """End the span with ERROR status, ``error.type`` and the exception event."""
        if not self._claim_end():
            return
        error_type = type(exc).__qualname__
        self.span.set_attribute(semconv.ERROR_TYPE, error_type)
        self.span.record_exception(exc)
        self.span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"[:512]))
        self._finish(extra, error_type=error_type)

    def end_for_exception(self, exc: BaseException) -> None:
        """End the span for an exception: an error, unless it is control flow (cancellation)."""
        if isinstance(exc, Exception):
            self.fail(exc)
        else:
            self.end()

    def finish_deferred(self, extra: Mapping[str, AttributeValue] | None, end_ns: int) -> None:
        """End a span whose evaluation ran on the background worker, at the call's own end time."""
        self._finish(extra, error_type=None, end_ns=end_ns)

    def _finish(
        self, extra: Mapping[str, AttributeValue] | None, error_type: str | None, end_ns: int | None = None
    ) -> None:
        end_ns = end_ns or time.time_ns()
        values, self._pending = self._pending or {}, None
        if extra:
            values.update(extra)
        ttft_s: float | None = None
        if self.first_chunk_ns is not None:
            ttft_s = (self.first_chunk_ns - self.start_ns) / 1e9
            values[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] = ttft_s
        if values:
            self.span.set_attributes(values)
        self.span.end(end_time=end_ns)
        self._record_metrics((end_ns - self.start_ns) / 1e9, ttft_s, error_type)

    def _record_metrics(self, duration_s: float, ttft_s: float | None, error_type: str | None) -> None:
        instruments = STATE.instruments
        attributes: dict[str, Any] = dict(self._metric_attributes)
        if error_type is not None:
            attributes[semconv.ERROR_TYPE] = error_type
        instruments.duration.record(duration_s, attributes)
        if ttft_s is not None:
            instruments.time_to_first_chunk.record(ttft_s, attributes)
        input_tokens, output_tokens = self.usage
        if input_tokens is not None:
            instruments.token_usage.record(
                input_tokens, {**attributes, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT}
            )
        if output_tokens is not None:
            instruments.token_usage.record(
                output_tokens, {**attributes, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_OUTPUT}
            )


def route_cost(route_name: object, input_tokens: int, output_tokens: int) -> float | None:
    """Return the cost in USD of a call on a priced route, or None when the route has no prices."""
    policy = STATE.policy
    route = policy.routes.get(str(route_name)) if policy is not None and route_name is not None else None
    if route is None or route.input_price_per_million is None or route.output_price_per_million is None:
        return None
    input_cost = input_tokens * route.input_price_per_million
    return (input_cost + output_tokens * route.output_price_per_million) / 1e6


# Set while a framework (LangChain, LlamaIndex) traces a model call itself, so the SDK call it makes
# underneath adds its details to that span instead of starting a second chat span.
_framework_call: ContextVar[ModelCall | None] = ContextVar("agentwatch_framework_call", default=None)


def framework_call() -> ModelCall | None:
    """Return the framework model call in progress in this context, if any."""
    return _framework_call.get()


class framework_call_scope:  # noqa: N801 - a context manager used like a function
    """Mark ``call`` as the framework model call for the block; set and reset in the same frame.

    A class rather than a generator function, because it runs around every framework model call.
    ``__exit__`` raises ValueError when called in another context than ``__enter__``.
    """

    __slots__ = ("_call", "_token")

    def __init__(self, call: ModelCall | None) -> None:
        self._call = call

    def __enter__(self) -> None:
        self._token = _framework_call.set(self._call)

    def __exit__(self, *exc_info: object) -> None:
        _framework_call.reset(self._token)


class _Activation:
    """The context manager of ``ModelCall.activated``."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> None:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._token)


# Set while agentwatch itself calls a model (an LLM judge), so that call is not traced as a step.
_untraced: ContextVar[bool] = ContextVar("agentwatch_untraced", default=False)


def tracing_suppressed() -> bool:
    return _untraced.get()


@contextmanager
def untraced() -> Iterator[None]:
    """Run a block whose SDK calls agentwatch does not trace."""
    token = _untraced.set(True)
    try:
        yield
    finally:
        _untraced.reset(token)
