"""The result type shared by every evaluator, and the base class that times and guards them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

logger = logging.getLogger(__name__)

#: Tier names: deterministic rules, a small local model, an LLM judge.
TIER_RULES = "T0"
TIER_LOCAL_MODEL = "T1"
TIER_JUDGE = "T2"

#: Labels shared by all evaluators for results that are not a verdict.
LABEL_ERROR = "error"
LABEL_UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class EvaluationResult:
    """The outcome of one evaluation.

    Attributes:
        name: the evaluator's name, such as ``"groundedness"``.
        score: a float in [0, 1]; what 1 means depends on the evaluator (for groundedness, fully
            supported; for hallucination, fully unsupported).
        passed: whether the score meets the threshold. Always False for ``"error"`` and
            ``"uncertain"`` results.
        label: a short machine label, such as ``"grounded"``, ``"contradicted"``, ``"error"``.
        reason: one sentence a person can act on.
        details: per-claim or per-tool-call records (plain dicts, JSON-serialisable).
        tier: the tier that decided: ``"T0"`` rules, ``"T1"`` local model, ``"T2"`` LLM judge.
        duration_ms: wall time of the evaluation in milliseconds.
        threshold: the threshold ``passed`` was computed against.
        error: the error message when the evaluator could not run, else None.
    """

    name: str
    score: float
    passed: bool
    label: str
    reason: str
    details: tuple[Mapping[str, Any], ...] = ()
    tier: str = TIER_RULES
    duration_ms: float = 0.0
    threshold: float | None = None
    error: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dict."""
        return {
            "name": self.name,
            "score": self.score,
            "passed": self.passed,
            "label": self.label,
            "reason": self.reason,
            "details": [dict(item) for item in self.details],
            "tier": self.tier,
            "duration_ms": self.duration_ms,
            "threshold": self.threshold,
            "error": self.error,
            "metadata": dict(self.metadata),
        }


def clamp_score(value: float) -> float:
    """Clamp a score into [0, 1]; NaN becomes 0 so a broken score can never pass."""
    if value != value:  # NaN
        return 0.0
    return min(1.0, max(0.0, float(value)))


def check_threshold(value: object, name: str = "threshold") -> float:
    """Validate a threshold argument and return it as a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def _report_fault(kind: str, exc: BaseException) -> None:
    # Imported here so that the evaluators stay importable on their own. Under pytest the guard
    # re-raises, so a bug in an evaluator fails the test that met it.
    try:
        from agentwatch._guard import report_fault
    except ImportError:
        logger.warning("evaluator %s failed: %s: %s", kind, type(exc).__name__, exc)
        logger.debug("evaluator fault in %s", kind, exc_info=exc)
        return
    report_fault(kind, exc)


class Evaluator:
    """Base class that stores the threshold and turns internal faults into ``"error"`` results.

    Subclasses are stateless apart from immutable settings and thread-safe caches, so one instance
    can be shared across threads and called any number of times.
    """

    name: ClassVar[str] = "evaluator"

    def __init__(self, threshold: float) -> None:
        self.threshold = check_threshold(threshold)

    def _run(self, compute: Callable[[], EvaluationResult]) -> EvaluationResult:
        """Call ``compute`` and stamp the duration; an exception becomes an ``"error"`` result."""
        start = time.perf_counter()
        try:
            result = compute()
        except Exception as exc:  # noqa: BLE001 - an evaluator must never raise into the caller
            _report_fault(f"evaluators.{self.name}", exc)
            result = self.error_result(f"{type(exc).__name__}: {exc}")
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        return replace(result, duration_ms=elapsed_ms)

    def error_result(self, message: str, *, tier: str = TIER_RULES) -> EvaluationResult:
        """Build a failed result for an evaluation that could not run."""
        return EvaluationResult(
            name=self.name,
            score=0.0,
            passed=False,
            label=LABEL_ERROR,
            reason=f"The {self.name} evaluator could not run: {message}",
            tier=tier,
            threshold=self.threshold,
            error=message,
        )

    def uncertain_result(
        self,
        reason: str,
        *,
        tier: str = TIER_RULES,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> EvaluationResult:
        """Build a failed result for an evaluation that ran but could not decide."""
        return EvaluationResult(
            name=self.name,
            score=0.0,
            passed=False,
            label=LABEL_UNCERTAIN,
            reason=reason,
            details=tuple(details),
            tier=tier,
            threshold=self.threshold,
        )
