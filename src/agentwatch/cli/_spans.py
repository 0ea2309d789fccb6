"""Read agentwatch's attributes and events from stored spans: model, route, tokens, policy."""

from __future__ import annotations

import math
from collections.abc import Sequence

from agentwatch import semconv
from agentwatch.governance._enforce import TIMEOUT_ERROR_TYPES
from agentwatch.store import StoredSpan

MODEL_OPERATIONS = frozenset(
    {semconv.OPERATION_CHAT, semconv.OPERATION_EMBEDDINGS, semconv.OPERATION_TEXT_COMPLETION}
)

UNKNOWN = "-"
NS_PER_MS = 1_000_000


def is_model_span(span: StoredSpan) -> bool:
    """Return whether the span records one model call (chat, embeddings or text completion)."""
    return span.attributes.get(semconv.GEN_AI_OPERATION_NAME) in MODEL_OPERATIONS


def model_of(span: StoredSpan) -> str | None:
    """Return the response model, else the request model, else the OpenInference alias."""
    for key in (semconv.GEN_AI_RESPONSE_MODEL, semconv.GEN_AI_REQUEST_MODEL, semconv.LLM_MODEL_NAME):
        value = span.attributes.get(key)
        if value:
            return str(value)
    return None


def route_of(span: StoredSpan) -> str | None:
    """Return the route name, else `server.address:server.port`, else the address alone."""
    route = span.attributes.get(semconv.ROUTE_NAME)
    if route:
        return str(route)

    address = span.attributes.get(semconv.SERVER_ADDRESS)
    if not address:
        return None
    port = span.attributes.get(semconv.SERVER_PORT)
    return f"{address}:{port}" if port is not None else str(address)


def input_tokens_of(span: StoredSpan) -> int | None:
    """Return the input token count, or None when the span has no usage."""
    return _int_attribute(span, semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.LLM_TOKEN_COUNT_PROMPT)


def output_tokens_of(span: StoredSpan) -> int | None:
    """Return the output token count, or None when the span has no usage."""
    return _int_attribute(span, semconv.GEN_AI_USAGE_OUTPUT_TOKENS, semconv.LLM_TOKEN_COUNT_COMPLETION)


def total_tokens_of(span: StoredSpan) -> int | None:
    """Return input plus output tokens, or None when the span records neither."""
    counts = [count for count in (input_tokens_of(span), output_tokens_of(span)) if count is not None]
    return sum(counts) if counts else None


def step_of(span: StoredSpan) -> int | None:
    """Return `agent.trajectory.step`, or None when the span has none."""
    return _int_attribute(span, semconv.TRAJECTORY_STEP)


def time_to_first_chunk_ms(span: StoredSpan) -> float | None:
    """Return the time to the first streamed chunk in milliseconds, or None."""
    # The instrumentation records this attribute in seconds, the unit of the matching
    # gen_ai.client.operation.time_to_first_chunk metric.
    value = span.attributes.get(semconv.RESPONSE_TIME_TO_FIRST_CHUNK)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) * 1000.0


def duration_ms(span: StoredSpan) -> float:
    """Return the span duration in milliseconds."""
    return span.duration_ns / NS_PER_MS


def is_mirror(span: StoredSpan) -> bool:
    """Return whether the span is a mirror (shadow) call that the user never saw."""
    return span.attributes.get(semconv.MIRROR) is True


def is_timeout(span: StoredSpan) -> bool:
    """Return whether the call failed with a timeout error."""
    return span.attributes.get(semconv.ERROR_TYPE) in TIMEOUT_ERROR_TYPES


def cost_of(span: StoredSpan) -> float | None:
    """Return `agentwatch.usage.cost` in US dollars, or None when the route has no prices."""
    value = span.attributes.get(semconv.USAGE_COST)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def evaluation_outcomes(span: StoredSpan) -> list[tuple[str, bool]]:
    """Return (evaluator name, passed) for each evaluation event on the span.

    An event without a boolean `agentwatch.evaluation.passed` has no verdict to count, so it is
    left out.
    """
    outcomes = []
    for event in span.events:
        if event.name != semconv.EVENT_EVALUATION_RESULT:
            continue
        passed = event.attributes.get(semconv.EVALUATION_PASSED)
        if isinstance(passed, bool):
            name = event.attributes.get(semconv.GEN_AI_EVALUATION_NAME)
            outcomes.append((str(name) if name else UNKNOWN, passed))
    return outcomes


def guardrail_actions_of(span: StoredSpan) -> list[str]:
    """Return the action of each guardrail check on the span that failed, so its action was taken."""
    actions = []
    for event in span.events:
        if event.name != semconv.EVENT_GUARDRAIL_RESULT:
            continue
        action = event.attributes.get(semconv.GUARDRAIL_ACTION)
        if event.attributes.get(semconv.GUARDRAIL_PASSED) is False and action:
            actions.append(str(action))
    return actions


def fallbacks_from(span: StoredSpan) -> list[tuple[str, str, str]]:
    """Return (from route, to route, reason) for each `agentwatch.fallback` event on the span.

    The event names the failed attempt's route; when it is empty, the span's own route is used.
    """
    fallbacks = []
    for event in span.events:
        if event.name != semconv.EVENT_FALLBACK:
            continue
        from_route = event.attributes.get(semconv.FALLBACK_FROM_ROUTE) or route_of(span) or UNKNOWN
        to_route = event.attributes.get(semconv.FALLBACK_TO_ROUTE) or UNKNOWN
        reason = event.attributes.get(semconv.FALLBACK_REASON) or UNKNOWN
        fallbacks.append((str(from_route), str(to_route), str(reason)))
    return fallbacks


def fallback_into(span: StoredSpan) -> tuple[str, str, str] | None:
    """Return (from route, to route, reason) when the span is a fallback attempt, else None."""
    if _int_attribute(span, semconv.FALLBACK_ATTEMPT) is None:
        return None
    from_route = span.attributes.get(semconv.FALLBACK_FROM_ROUTE) or UNKNOWN
    reason = span.attributes.get(semconv.FALLBACK_REASON) or UNKNOWN
    return str(from_route), route_of(span) or UNKNOWN, str(reason)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Return the percentile at `fraction` (0 to 1) with linear interpolation between ranks.

    This is the "linear" method of numpy.percentile: p50 of [10, 20, 30, 40] is 25.
    Returns None for no values.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = math.ceil(rank)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (rank - lower)


def _int_attribute(span: StoredSpan, *keys: str) -> int | None:
    for key in keys:
        value = span.attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
