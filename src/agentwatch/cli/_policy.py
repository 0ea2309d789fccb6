"""Policy figures for `agentwatch report`: evaluations, fallbacks, guardrails, cost, mirrors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentwatch.cli import _spans
from agentwatch.cli._table import MAX_WIDTH, format_count, format_number, format_table, shorten_middle
from agentwatch.store import StoredSpan

_INDENT = "  "
_LABEL_WIDTH = 16
# Cost figures keep more decimals than times, because one call often costs under a cent.
_COST_DECIMALS = 6

# (from route, to route, reason) of one fallback.
Fallback = tuple[str, str, str]


@dataclass
class PolicyFigures:
    """Counts of policy outcomes on the calls of one model and route.

    `cost_by_trace` holds only traces in which at least one call had a cost, so a route
    without prices has no cost per trace rather than a cost of 0.
    """

    calls: int = 0
    timeouts: int = 0
    evaluated: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    guardrail_actions: Counter[str] = field(default_factory=Counter)
    fallbacks_out: Counter[Fallback] = field(default_factory=Counter)
    fallbacks_in: Counter[Fallback] = field(default_factory=Counter)
    cost_by_trace: dict[str, float] = field(default_factory=dict)

    def add_call(self, span: StoredSpan) -> None:
        """Count one model call span that the user saw (not a mirror)."""
        self.calls += 1
        if _spans.is_timeout(span):
            self.timeouts += 1
        cost = _spans.cost_of(span)
        if cost is not None:
            self.cost_by_trace[span.trace_id] = self.cost_by_trace.get(span.trace_id, 0.0) + cost
        self.fallbacks_out.update(_spans.fallbacks_from(span))
        fallback = _spans.fallback_into(span)
        if fallback is not None:
            self.fallbacks_in[fallback] += 1
        self.add_events(span)

    def add_events(self, span: StoredSpan) -> None:
        """Count the evaluation and guardrail events of a span attributed to this route."""
        for name, passed in _spans.evaluation_outcomes(span):
            self.evaluated[name] += 1
            if not passed:
                self.failed[name] += 1
        self.guardrail_actions.update(_spans.guardrail_actions_of(span))

    @property
    def cost_usd(self) -> float | None:
        """Total cost of the calls in US dollars, or None when no call had a cost."""
        return sum(self.cost_by_trace.values()) if self.cost_by_trace else None

    @property
    def cost_per_trace_usd(self) -> float | None:
        """Mean cost over the traces in which at least one call had a cost."""
        total = self.cost_usd
        return None if total is None else total / len(self.cost_by_trace)

    def has_figures(self) -> bool:
        """Return whether there is anything to show beyond the main table."""
        return bool(
            self.timeouts
            or self.evaluated
            or self.guardrail_actions
            or self.fallbacks_out
            or self.fallbacks_in
            or self.cost_by_trace
        )

    def to_json(self) -> dict[str, Any]:
        """Return the figures as JSON-ready fields, with costs in US dollars."""
        return {
            "timeouts": self.timeouts,
            "timeout_rate": _rate(self.timeouts, self.calls),
            "cost_usd": _round_cost(self.cost_usd),
            "cost_per_trace_usd": _round_cost(self.cost_per_trace_usd),
            "cost_traces": len(self.cost_by_trace),
            "evaluations": {
                name: {
                    "evaluated": self.evaluated[name],
                    "failed": self.failed[name],
                    "fail_rate": _rate(self.failed[name], self.evaluated[name]),
                }
                for name in sorted(self.evaluated)
            },
            "guardrail_actions": dict(_by_count(self.guardrail_actions)),
            "fallbacks_out": _fallbacks_json(self.fallbacks_out),
            "fallbacks_in": _fallbacks_json(self.fallbacks_in),
        }

    def render_lines(self) -> list[str]:
        """Return one labelled line per figure that has data, wrapped to the table width."""
        lines: list[str] = []
        if self.evaluated:
            items = [f"{name} {self.failed[name]}/{self.evaluated[name]}" for name in sorted(self.evaluated)]
            lines += _labelled("evals failed", items)
        if self.fallbacks_out:
            lines += _labelled("fallbacks out", _fallback_items(self.fallbacks_out))
        if self.fallbacks_in:
            lines += _labelled("fallbacks in", _fallback_items(self.fallbacks_in))
        if self.guardrail_actions:
            items = [f"{action} {count}" for action, count in _by_count(self.guardrail_actions)]
            lines += _labelled("guardrails", items)
        if self.timeouts:
            lines += _labelled("timeouts", [f"{self.timeouts}/{self.calls} calls"])
        cost = self.cost_per_trace_usd
        if cost is not None:
            traces = len(self.cost_by_trace)
            noun = "trace" if traces == 1 else "traces"
            lines += _labelled("cost per trace", [f"{cost:.{_COST_DECIMALS}f} USD over {traces} {noun}"])
        return lines


@dataclass
class CallSide:
    """Figures of one side (primary or mirror) of the mirrored call pairs."""

    durations_ms: list[float] = field(default_factory=list)
    evaluated: int = 0
    passed: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    def add(self, span: StoredSpan) -> None:
        """Count one call of this side."""
        self.durations_ms.append(_spans.duration_ms(span))
        for _, passed in _spans.evaluation_outcomes(span):
            self.evaluated += 1
            if passed:
                self.passed += 1
        input_tokens = _spans.input_tokens_of(span)
        if input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + input_tokens
        output_tokens = _spans.output_tokens_of(span)
        if output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + output_tokens
        cost = _spans.cost_of(span)
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost

    @property
    def latency_p50_ms(self) -> float | None:
        return _spans.percentile(self.durations_ms, 0.50)

    def to_json(self) -> dict[str, Any]:
        """Return the side as JSON-ready fields, with times in milliseconds and costs in US dollars."""
        p50 = self.latency_p50_ms
        return {
            "latency_p50_ms": None if p50 is None else round(p50, 3),
            "evaluations": self.evaluated,
            "evaluations_passed": self.passed,
            "eval_pass_rate": _rate(self.passed, self.evaluated),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": _round_cost(self.cost_usd),
        }

    def render_row(self, side: str, model: str, route: str) -> tuple[str, ...]:
        return (
            side,
            model,
            route,
            format_number(self.latency_p50_ms),
            f"{self.passed}/{self.evaluated}" if self.evaluated else "",
            format_count(self.input_tokens),
            format_count(self.output_tokens),
            "" if self.cost_usd is None else f"{self.cost_usd:.{_COST_DECIMALS}f}",
        )


@dataclass
class MirrorComparison:
    """Mirror calls to one candidate route, each paired with the primary call it shadowed."""

    primary_model: str
    primary_route: str
    mirror_model: str
    mirror_route: str
    pairs: int = 0
    primary: CallSide = field(default_factory=CallSide)
    mirror: CallSide = field(default_factory=CallSide)

    def add_pair(self, primary: StoredSpan, mirror: StoredSpan) -> None:
        """Count one primary call and its mirror."""
        self.pairs += 1
        self.primary.add(primary)
        self.mirror.add(mirror)

    def to_json(self) -> dict[str, Any]:
        """Return the comparison as a JSON-ready dict, keyed from the primary route's row."""
        return {
            "mirror_model": self.mirror_model,
            "mirror_route": self.mirror_route,
            "pairs": self.pairs,
            "primary": self.primary.to_json(),
            "mirror": self.mirror.to_json(),
        }

    def render(self) -> str:
        """Render a heading and a two-row table: the primary side, then the mirror side."""
        noun = "pair" if self.pairs == 1 else "pairs"
        heading = f"mirror {self.primary_route} -> {self.mirror_route}: {self.pairs} {noun}"
        headers = ("side", "model", "route", "p50 ms", "evals passed", "in tok", "out tok", "cost USD")
        rows = [
            self.primary.render_row("primary", self.primary_model, self.primary_route),
            self.mirror.render_row("mirror", self.mirror_model, self.mirror_route),
        ]
        table = format_table(
            headers,
            rows,
            right_aligned=frozenset(range(3, 8)),
            shrinkable=(1, 2),
            max_width=MAX_WIDTH - len(_INDENT),
        )
        lines = [shorten_middle(heading, MAX_WIDTH)]
        lines += [_INDENT + line for line in table.splitlines()]
        return "\n".join(lines)


def pair_mirrors(mirrors: Iterable[StoredSpan], spans: Iterable[StoredSpan]) -> list[MirrorComparison]:
    """Pair each mirror span with the primary call its link points to, grouped by both routes.

    NOTE: a mirror whose primary span is not among `spans` (outside the `--since` window, or
    never stored) is left out, because there is nothing to compare it with.
    """
    calls_by_id = {
        (span.trace_id, span.span_id): span
        for span in spans
        if _spans.is_model_span(span) and not _spans.is_mirror(span)
    }
    comparisons: dict[tuple[str, str, str, str], MirrorComparison] = {}
    for mirror in mirrors:
        primary = next(
            (
                calls_by_id[(link.trace_id, link.span_id)]
                for link in mirror.links
                if (link.trace_id, link.span_id) in calls_by_id
            ),
            None,
        )
        if primary is None:
            continue
        key = (
            _spans.model_of(primary) or _spans.UNKNOWN,
            _spans.route_of(primary) or _spans.UNKNOWN,
            _spans.model_of(mirror) or _spans.UNKNOWN,
            _spans.route_of(mirror) or _spans.UNKNOWN,
        )
        comparison = comparisons.get(key)
        if comparison is None:
            comparison = comparisons[key] = MirrorComparison(*key)
        comparison.add_pair(primary, mirror)
    return [comparisons[key] for key in sorted(comparisons)]


def last_call_below(
    span: StoredSpan, children: Mapping[tuple[str, str], Sequence[StoredSpan]]
) -> StoredSpan | None:
    """Return the model call, not a mirror, that ended last among the span's descendants.

    `children` maps (trace id, parent span id) to the child spans.
    """
    last: StoredSpan | None = None
    pending = list(children.get((span.trace_id, span.span_id), ()))
    while pending:
        child = pending.pop()
        pending.extend(children.get((child.trace_id, child.span_id), ()))
        if not _spans.is_model_span(child) or _spans.is_mirror(child):
            continue
        if last is None or (child.end_time_ns, child.span_id) > (last.end_time_ns, last.span_id):
            last = child
    return last


def has_policy_events(span: StoredSpan) -> bool:
    """Return whether the span carries an evaluation verdict or a guardrail action."""
    return bool(_spans.evaluation_outcomes(span) or _spans.guardrail_actions_of(span))


def _labelled(label: str, items: Sequence[str]) -> list[str]:
    # Items are packed onto lines of at most MAX_WIDTH characters and never split, so a name
    # always stays next to its count.
    prefix = _INDENT + label.ljust(_LABEL_WIDTH)
    continuation = " " * len(prefix)
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current}, {item}" if current else item
        if current and len(prefix) + len(candidate) + 1 > MAX_WIDTH:
            lines.append(current + ",")
            current = item
        else:
            current = candidate
    lines.append(current)
    return [(prefix if index == 0 else continuation) + line for index, line in enumerate(lines)]


def _fallback_items(fallbacks: Counter[Fallback]) -> list[str]:
    return [f"{from_route} -> {to_route} {count}" for (from_route, to_route), count in _by_route(fallbacks)]


def _fallbacks_json(fallbacks: Counter[Fallback]) -> list[dict[str, Any]]:
    rows = []
    for (from_route, to_route), count in _by_route(fallbacks):
        reasons = Counter(
            {
                reason: n
                for (start, end, reason), n in fallbacks.items()
                if (start, end) == (from_route, to_route)
            }
        )
        rows.append(
            {
                "from_route": from_route,
                "to_route": to_route,
                "count": count,
                "reasons": dict(_by_count(reasons)),
            }
        )
    return rows


def _by_route(fallbacks: Counter[Fallback]) -> list[tuple[tuple[str, str], int]]:
    counts: Counter[tuple[str, str]] = Counter()
    for (from_route, to_route, _), count in fallbacks.items():
        counts[(from_route, to_route)] += count
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _by_count(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _round_cost(value: float | None) -> float | None:
    # Nine decimals (a billionth of a dollar) keep sub-cent costs readable and drop the float
    # noise that summing many small costs leaves behind.
    return None if value is None else round(value, 9)
