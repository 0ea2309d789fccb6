"""`agentwatch report`: latency, errors, tokens and policy figures per model and route.

Mirror (shadow) calls are left out of the rows, because the user never saw their responses. They
appear only in the mirror comparison of the primary call's row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentwatch.cli import _spans
from agentwatch.cli._policy import (
    MirrorComparison,
    PolicyFigures,
    has_policy_events,
    last_call_below,
    pair_mirrors,
)
from agentwatch.cli._table import MAX_WIDTH, format_count, format_number, format_table, shorten_middle
from agentwatch.store import StoredSpan


@dataclass
class RouteSummary:
    """Aggregate of the model calls made to one model over one route.

    Token totals are None when no call in the group reported usage, and `tokens_per_trace`
    counts only the traces in which at least one call reported usage, so a missing count is
    never averaged in as 0.
    """

    model: str
    route: str
    calls: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    time_to_first_chunk_p50_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_per_trace: float | None = None
    durations_ms: list[float] = field(default_factory=list, repr=False)
    first_chunk_ms: list[float] = field(default_factory=list, repr=False)
    tokens_by_trace: dict[str, int] = field(default_factory=dict, repr=False)
    policy: PolicyFigures = field(default_factory=PolicyFigures)
    mirrors: list[MirrorComparison] = field(default_factory=list)

    def add(self, span: StoredSpan) -> None:
        """Count one model call span into this summary."""
        self.calls += 1
        self.policy.add_call(span)
        if span.is_error:
            self.errors += 1
        self.durations_ms.append(_spans.duration_ms(span))

        first_chunk = _spans.time_to_first_chunk_ms(span)
        if first_chunk is not None:
            self.first_chunk_ms.append(first_chunk)

        input_tokens = _spans.input_tokens_of(span)
        if input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + input_tokens
        output_tokens = _spans.output_tokens_of(span)
        if output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + output_tokens
        total = _spans.total_tokens_of(span)
        if total is not None:
            self.tokens_by_trace[span.trace_id] = self.tokens_by_trace.get(span.trace_id, 0) + total

    def finish(self) -> None:
        """Compute the percentiles and averages from the calls added so far."""
        self.latency_p50_ms = _spans.percentile(self.durations_ms, 0.50)
        self.latency_p99_ms = _spans.percentile(self.durations_ms, 0.99)
        self.time_to_first_chunk_p50_ms = _spans.percentile(self.first_chunk_ms, 0.50)
        if self.tokens_by_trace:
            self.tokens_per_trace = sum(self.tokens_by_trace.values()) / len(self.tokens_by_trace)

    def to_json(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict; times are milliseconds."""
        return {
            "model": self.model,
            "route": self.route,
            "calls": self.calls,
            "errors": self.errors,
            "latency_p50_ms": _round(self.latency_p50_ms),
            "latency_p99_ms": _round(self.latency_p99_ms),
            "time_to_first_chunk_p50_ms": _round(self.time_to_first_chunk_p50_ms),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_per_trace": _round(self.tokens_per_trace),
            **self.policy.to_json(),
            "mirrors": [comparison.to_json() for comparison in self.mirrors],
        }


def summarize_routes(spans: Iterable[StoredSpan]) -> list[RouteSummary]:
    """Group model call spans by (model, route), sorted by model then route.

    Spans that are not model calls (agent roots, tool calls) are not rows. Their evaluation
    and guardrail events (task completion on an agent root) count toward the row of the model
    call that ended last below them, the call whose response the run returned.
    """
    spans = list(spans)
    summaries: dict[tuple[str, str], RouteSummary] = {}
    mirrors: list[StoredSpan] = []
    for span in spans:
        if not _spans.is_model_span(span):
            continue
        if _spans.is_mirror(span):
            mirrors.append(span)
            continue
        _summary_for(summaries, span).add(span)

    _add_run_events(spans, summaries)
    for comparison in pair_mirrors(mirrors, spans):
        summaries[(comparison.primary_model, comparison.primary_route)].mirrors.append(comparison)

    for summary in summaries.values():
        summary.finish()
    return [summaries[key] for key in sorted(summaries)]


def _summary_for(summaries: dict[tuple[str, str], RouteSummary], span: StoredSpan) -> RouteSummary:
    model = _spans.model_of(span) or _spans.UNKNOWN
    route = _spans.route_of(span) or _spans.UNKNOWN
    summary = summaries.get((model, route))
    if summary is None:
        summary = summaries[(model, route)] = RouteSummary(model=model, route=route)
    return summary


def _add_run_events(spans: list[StoredSpan], summaries: dict[tuple[str, str], RouteSummary]) -> None:
    children: defaultdict[tuple[str, str], list[StoredSpan]] = defaultdict(list)
    for span in spans:
        if span.parent_span_id is not None:
            children[(span.trace_id, span.parent_span_id)].append(span)

    for span in spans:
        if _spans.is_model_span(span) or not has_policy_events(span):
            continue
        # NOTE: events on a span with no model call below it (a run that failed before its
        # first call) belong to no route, so the report leaves them out.
        call = last_call_below(span, children)
        if call is not None:
            _summary_for(summaries, call).policy.add_events(span)


def render_report(summaries: Iterable[RouteSummary]) -> str:
    """Render the summaries as a text table, one row per model and route, then policy sections.

    A section follows for each row with policy figures (evaluations, fallbacks, guardrail
    actions, timeouts, cost), then one per mirror comparison. Without such data the output is
    the table alone.
    """
    summaries = list(summaries)
    blocks = [_render_table(summaries)]
    for summary in summaries:
        if summary.policy.has_figures():
            heading = shorten_middle(f"route {summary.route}, model {summary.model}", MAX_WIDTH)
            blocks.append("\n".join([heading, *summary.policy.render_lines()]))
    blocks.extend(comparison.render() for summary in summaries for comparison in summary.mirrors)
    return "\n\n".join(blocks)


def _render_table(summaries: list[RouteSummary]) -> str:
    headers = (
        "model",
        "route",
        "calls",
        "errors",
        "p50 ms",
        "p99 ms",
        "ttft ms",
        "in tok",
        "out tok",
        "tok/trace",
    )
    rows = [
        (
            summary.model,
            summary.route,
            str(summary.calls),
            str(summary.errors),
            format_number(summary.latency_p50_ms),
            format_number(summary.latency_p99_ms),
            format_number(summary.time_to_first_chunk_p50_ms),
            format_count(summary.input_tokens),
            format_count(summary.output_tokens),
            format_number(summary.tokens_per_trace),
        )
        for summary in summaries
    ]
    return format_table(headers, rows, right_aligned=frozenset(range(2, 10)), shrinkable=(0, 1))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
