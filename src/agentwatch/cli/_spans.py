"""Read agentwatch's attributes from stored spans: model, route, tokens, step."""

from __future__ import annotations

import math
from collections.abc import Sequence

from agentwatch import semconv
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
