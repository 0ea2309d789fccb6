"""`agentwatch traces` (recent runs) and `agentwatch trace ID` (one run as a tree)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from agentwatch import semconv
from agentwatch.cli import _spans
from agentwatch.cli._table import MAX_WIDTH, format_count, format_number, format_table
from agentwatch.store import StoredSpan

_INDENT = "  "


@dataclass(frozen=True)
class TraceSummary:
    """One run: its root span, time span, size and outcome.

    `total_tokens` sums input and output tokens of the model call spans only, so an agent
    span that repeats its children's usage is not counted twice. It is None when no call
    reported usage.
    """

    trace_id: str
    start_time_ns: int
    root_name: str
    duration_ms: float
    span_count: int
    steps: int | None
    total_tokens: int | None
    is_error: bool


def summarize_trace(spans: Sequence[StoredSpan]) -> TraceSummary:
    """Summarize the spans of one trace (at least one span)."""
    roots = _roots(spans)
    start = min(span.start_time_ns for span in spans)
    end = max(span.end_time_ns for span in spans)
    steps = [step for step in (_spans.step_of(span) for span in spans) if step is not None]
    tokens = [
        total
        for total in (_spans.total_tokens_of(span) for span in spans if _spans.is_model_span(span))
        if total is not None
    ]
    return TraceSummary(
        trace_id=spans[0].trace_id,
        start_time_ns=start,
        root_name=roots[0].name,
        duration_ms=(end - start) / _spans.NS_PER_MS,
        span_count=len(spans),
        steps=max(steps) if steps else None,
        total_tokens=sum(tokens) if tokens else None,
        is_error=any(span.is_error for span in spans),
    )


def render_traces(summaries: Iterable[TraceSummary], trace_id_length: int = 32) -> str:
    """Render one row per run, with trace ids cut to their first `trace_id_length` characters.

    A 16-character prefix is enough for `agentwatch trace ID` and keeps the table narrow.
    """
    headers = ("trace id", "start (UTC)", "root", "ms", "spans", "steps", "tokens", "status")
    rows = [
        (
            summary.trace_id[:trace_id_length],
            format_time(summary.start_time_ns),
            summary.root_name,
            format_number(summary.duration_ms),
            str(summary.span_count),
            format_count(summary.steps),
            format_count(summary.total_tokens),
            "error" if summary.is_error else "ok",
        )
        for summary in summaries
    ]
    return format_table(headers, rows, right_aligned=frozenset({3, 4, 5, 6}), shrinkable=(2,))


def render_tree(spans: Sequence[StoredSpan]) -> str:
    """Render one trace as a tree: children under their parent, ordered by start time.

    Each evaluation result event is an extra line under its span.
    """
    children: dict[str | None, list[StoredSpan]] = {}
    span_ids = {span.span_id for span in spans}
    for span in sorted(spans, key=lambda span: (span.start_time_ns, span.span_id)):
        # A span whose parent was not stored (for example a remote parent) shows as a root.
        parent = span.parent_span_id if span.parent_span_id in span_ids else None
        children.setdefault(parent, []).append(span)

    headers = ("span", "step", "model", "in tok", "out tok", "ms", "status")
    rows: list[tuple[str, ...]] = []
    evaluations: dict[int, list[str]] = {}
    _add_rows(children, None, 0, rows, evaluations)

    table = format_table(headers, rows, right_aligned=frozenset({1, 3, 4, 5}), shrinkable=(0, 2)).split("\n")
    lines = [table[0]]
    for index, line in enumerate(table[1:]):
        lines.append(line)
        lines.extend(evaluations.get(index, ()))
    return "\n".join(lines)


def format_time(time_ns: int) -> str:
    """Format nanoseconds since the epoch as a UTC date and time to the second."""
    moment = datetime.fromtimestamp(time_ns / 1e9, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _add_rows(
    children: dict[str | None, list[StoredSpan]],
    parent: str | None,
    depth: int,
    rows: list[tuple[str, ...]],
    evaluations: dict[int, list[str]],
) -> None:
    for span in children.get(parent, ()):
        indent = _INDENT * depth
        rows.append(
            (
                indent + span.name,
                format_count(_spans.step_of(span)),
                _spans.model_of(span) or "",
                format_count(_spans.input_tokens_of(span)),
                format_count(_spans.output_tokens_of(span)),
                format_number(_spans.duration_ms(span)),
                "error" if span.is_error else "ok",
            )
        )
        results = [
            text for text in (_event_text(event.name, event.attributes) for event in span.events) if text
        ]
        if results:
            lines = (f"{indent}{_INDENT}  {text}" for text in results)
            evaluations[len(rows) - 1] = [_cut(line) for line in lines]
        _add_rows(children, span.span_id, depth + 1, rows, evaluations)


def _roots(spans: Sequence[StoredSpan]) -> list[StoredSpan]:
    span_ids = {span.span_id for span in spans}
    roots = [span for span in spans if span.parent_span_id not in span_ids]
    # Every span has a parent inside the trace only for a cycle, which a valid trace lacks.
    candidates = roots or list(spans)
    return sorted(candidates, key=lambda span: (span.start_time_ns, span.span_id))


def _cut(line: str) -> str:
    if len(line) <= MAX_WIDTH:
        return line
    return line[: MAX_WIDTH - 3] + "..."


def _event_text(name: str, attributes: Mapping[str, object]) -> str | None:
    """Return the tree line of an evaluation, guardrail or fallback event, or None for others."""
    if name == semconv.EVENT_EVALUATION_RESULT:
        return f"eval {_evaluation_text(attributes)}"
    if name == semconv.EVENT_GUARDRAIL_RESULT and attributes.get(semconv.GUARDRAIL_PASSED) is False:
        check = f"{attributes.get(semconv.GUARDRAIL_NAME)} ({attributes.get(semconv.GUARDRAIL_STAGE)})"
        outcome = (
            f"{attributes.get(semconv.GUARDRAIL_LABEL)}, action {attributes.get(semconv.GUARDRAIL_ACTION)}"
        )
        return f"guardrail {check}: {outcome}"
    if name == semconv.EVENT_FALLBACK:
        return (
            f"fallback {attributes.get(semconv.FALLBACK_FROM_ROUTE) or '-'} -> "
            f"{attributes.get(semconv.FALLBACK_TO_ROUTE)} ({attributes.get(semconv.FALLBACK_REASON)})"
        )
    return None


def _evaluation_text(attributes: Mapping[str, object]) -> str:
    name = attributes.get(semconv.GEN_AI_EVALUATION_NAME) or "evaluation"
    label = attributes.get(semconv.GEN_AI_EVALUATION_SCORE_LABEL)
    score = attributes.get(semconv.GEN_AI_EVALUATION_SCORE_VALUE)
    parts = [f"{name}:"]
    if label is not None:
        parts.append(str(label))
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        parts.append(f"score={score:.2f}")
    if label is None and score is None:
        parts.append("(no label or score)")
    return " ".join(parts)
