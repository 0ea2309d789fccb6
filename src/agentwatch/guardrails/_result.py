"""The guardrail result type and the base class that coerces input, times checks and guards faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ..evaluators._text import coerce_text

#: A region of the checked text: ``(start, end, kind)`` with ``text[start:end]`` the match.
Span = tuple[int, int, str]

#: Text longer than this (in characters) is not scanned; the check returns an ``"error"`` result.
MAX_TEXT_CHARS = 1_000_000

#: Labels shared by all guardrails.
LABEL_CLEAN = "clean"
LABEL_ERROR = "error"
LABEL_TIMEOUT = "timeout"
LABEL_SKIPPED = "skipped"

STAGES = ("input", "output")


@dataclass(frozen=True)
class GuardrailResult:
    """The outcome of one guardrail check on one text.

    Attributes:
        name: the check's name, as in ``GuardrailRule.name`` (``"pii"``, ``"secrets"``...).
        stage: ``"input"`` (before the model call) or ``"output"`` (before the response is returned).
        passed: False when the check found something, or could not run (``error`` is then set).
            Inside a :class:`GuardrailSuite`, a timed-out or failed check is passed or failed by
            the suite's fail mode.
        label: a short machine label: ``"clean"``, ``"pii"``, ``"secret"``, ``"injection"``,
            ``"blocked_topic"``, a JSON-schema label, ``"error"``, ``"timeout"`` or ``"skipped"``.
        reason: one sentence a person can act on. It names kinds and counts, never the matched
            values, so it is safe to record in a trace.
        spans: the matched regions of the checked text as ``(start, end, kind)``.
        score: a score in [0, 1] for checks that compute one (JSON schema, groundedness), else None.
        duration_ms: wall time of the check in milliseconds.
        error: the error message when the check could not run or ran past its budget, else None.
    """

    name: str
    stage: str
    passed: bool
    label: str
    reason: str
    spans: tuple[Span, ...] = ()
    score: float | None = None
    duration_ms: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "name": self.name,
            "stage": self.stage,
            "passed": self.passed,
            "label": self.label,
            "reason": self.reason,
            "spans": [list(span) for span in self.spans],
            "score": self.score,
            "duration_ms": self.duration_ms,
            "error": self.error,
        }


def count_kinds(spans: tuple[Span, ...] | list[Span]) -> str:
    """Describe spans by kind and count, such as ``"email (2), phone (1)"``."""
    counts: dict[str, int] = {}
    for _, _, kind in spans:
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} ({count})" for kind, count in counts.items())


def _report_fault(kind: str, exc: BaseException) -> None:
    # Imported here, like the evaluators do, so that a fault in the guard itself cannot break a check.
    from .._guard import report_fault

    report_fault(kind, exc)


class Guardrail:
    """Base class: turns any input into text, stamps the duration and turns faults into results.

    A guardrail holds only immutable settings after construction, so one instance can be shared by
    threads and called any number of times. An ``Exception`` raised inside ``check`` is reported
    through ``agentwatch._guard.report_fault`` and becomes an ``"error"`` result with
    ``passed=False``. Under pytest the guard re-raises it, so tests see the bug.
    """

    name: ClassVar[str] = "guardrail"
    #: The default fail mode in a suite: security checks fail closed, quality checks fail open.
    security: ClassVar[bool] = True

    def __init__(self, *, max_chars: int = MAX_TEXT_CHARS) -> None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars must be a positive integer, got {max_chars!r}")
        self.max_chars = max_chars

    def check(self, text: object, *, stage: str = "input") -> GuardrailResult:
        """Check ``text`` at ``stage``; an internal fault becomes an ``"error"`` result."""
        return self.run_guarded(stage, text, self._check)

    def _check(self, stage: str, text: str) -> GuardrailResult:
        raise NotImplementedError(f"{type(self).__name__} does not implement _check")

    def result(
        self,
        stage: str,
        passed: bool,
        label: str,
        reason: str,
        spans: tuple[Span, ...] | list[Span] = (),
        score: float | None = None,
    ) -> GuardrailResult:
        """Build a result of this check."""
        return GuardrailResult(self.name, stage, passed, label, reason, tuple(spans), score)

    def error_result(self, stage: str, message: str) -> GuardrailResult:
        """Build a failed result for a check that could not run."""
        return GuardrailResult(
            self.name,
            stage,
            False,
            LABEL_ERROR,
            f"The {self.name} guardrail could not run: {message}.",
            error=message,
        )

    def run_guarded(
        self, stage: object, value: object, compute: Callable[[str, str], GuardrailResult]
    ) -> GuardrailResult:
        """Coerce ``value`` to text and call ``compute(stage, text)``, timed and fault-guarded.

        None and empty input give a clean result, because there is nothing to leak or obey. Input
        that is not text-like, or longer than ``max_chars``, gives an ``"error"`` result.
        """
        start = time.perf_counter()
        stage_name = stage if isinstance(stage, str) else repr(stage)
        try:
            result = self._coerce_and_compute(stage, value, compute)
        except Exception as exc:  # noqa: BLE001 - a guardrail must never raise into the caller
            _report_fault(f"guardrails.{self.name}", exc)
            result = self.error_result(stage_name, f"{type(exc).__name__}: {exc}")
        return replace(result, duration_ms=(time.perf_counter() - start) * 1000.0)

    def _coerce_and_compute(
        self, stage: object, value: object, compute: Callable[[str, str], GuardrailResult]
    ) -> GuardrailResult:
        if not isinstance(stage, str) or stage not in STAGES:
            return self.error_result(repr(stage), f"invalid stage {stage!r}; valid stages: input, output")
        if value is None:
            return self.result(stage, True, LABEL_CLEAN, "There is no text to check.")
        coerced = coerce_text(value, self.max_chars)
        if coerced.problem is not None:
            return self.error_result(stage, f"invalid input: {coerced.problem}")
        if coerced.truncated:
            return self.error_result(
                stage, f"the text is longer than {self.max_chars} characters, so it was not scanned"
            )
        return compute(stage, coerced.text)
