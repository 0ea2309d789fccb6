"""GuardrailSuite: the policy's guardrail rules for one stage, run cheap-first with budgets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from ..governance import GuardrailRule
from ._deadline import run_within
from ._evaluated import GroundednessGuardrail, JsonSchemaGuardrail
from ._injection import PromptInjectionGuardrail
from ._pii import PiiGuardrail
from ._redact import Redactor
from ._result import LABEL_ERROR, LABEL_SKIPPED, LABEL_TIMEOUT, STAGES, Guardrail, GuardrailResult
from ._secrets import SecretsGuardrail
from ._topics import BlockedTopicsGuardrail

#: Run order, cheapest first (measured by benchmarks/bench_guardrails.py); rules of the same check
#: keep the policy's order.
CHECK_ORDER = ("blocked_topics", "secrets", "pii", "prompt_injection", "json_schema", "groundedness")

#: Default budget per check in milliseconds. The rule checks take microseconds on ordinary text, so
#: their budget only catches pathological input; groundedness may run a local embedding model.
DEFAULT_TIMEOUTS_MS: Mapping[str, float] = {
    "blocked_topics": 50.0,
    "secrets": 50.0,
    "pii": 50.0,
    "prompt_injection": 50.0,
    "json_schema": 100.0,
    "groundedness": 2000.0,
}

#: Actions that end the run of a suite: later checks are skipped.
STOPPING_ACTIONS = ("raise", "block")
# Strongest first: the outcome's action is the first of these that a fired rule names.
_ACTION_STRENGTH = ("raise", "block", "fallback", "redact", "flag")
_UNDECIDED = (LABEL_ERROR, LABEL_TIMEOUT, "uncertain")


@dataclass(frozen=True)
class Verdict:
    """One rule and what its check returned, after the suite applied budget and fail mode."""

    rule: GuardrailRule
    result: GuardrailResult

    @property
    def fired(self) -> bool:
        """True when the rule's action applies: the check failed, or was undecided and fails closed."""
        return not self.result.passed


@dataclass(frozen=True)
class GuardrailOutcome:
    """The decision of one suite run on one text.

    Attributes:
        stage: ``"input"`` or ``"output"``.
        verdicts: one per rule that ran, in run order.
        skipped: the rules not run because an earlier one blocked or raised.
        action: the strongest action among fired rules (``raise`` > ``block`` > ``fallback`` >
            ``redact`` > ``flag``), or None when nothing fired.
        text: the text after redaction, or the input text when no ``redact`` rule fired; None when
            the input was not a string (redaction then needs the caller to pass strings).
        redactor: the vault holding the redacted values, for :meth:`Redactor.restore`.
    """

    stage: str
    verdicts: tuple[Verdict, ...]
    skipped: tuple[GuardrailRule, ...]
    action: str | None
    text: str | None
    redactor: Redactor | None = None

    @property
    def passed(self) -> bool:
        """True when no rule fired."""
        return self.action is None

    @property
    def results(self) -> tuple[GuardrailResult, ...]:
        """The check results, in run order."""
        return tuple(verdict.result for verdict in self.verdicts)

    @property
    def fired(self) -> tuple[Verdict, ...]:
        """The verdicts whose rule action applies."""
        return tuple(verdict for verdict in self.verdicts if verdict.fired)


class GuardrailSuite:
    """Run a policy's guardrail rules on one stage's text, cheapest check first.

    Each check's wall time is measured against its budget. A check cannot be interrupted, so a
    rule check over budget runs to its end, and then its result is replaced by a ``"timeout"``
    result. Groundedness, which may run a local model, runs on a worker thread instead, and the
    suite stops waiting for it at its budget.
    A timed-out check, one that errored, and an evaluator that returned ``"uncertain"`` are
    decided by the check's fail mode. Fail-closed counts it as failed, so the rule's action
    applies. Fail-open counts it as passed, and the result keeps its label and ``error`` so that
    the trace shows it.
    By default the security checks (pii, secrets, prompt_injection, blocked_topics) fail closed
    and the quality checks (json_schema, groundedness) fail open. The first rule that fires with
    ``block`` or ``raise`` ends the run; the rules after it are listed as skipped.

    Args:
        rules: the policy's guardrail rules (``Policy.guardrails``), for both stages.
        timeouts_ms: a budget in milliseconds for every check, or a mapping from check name to
            budget; missing names keep ``DEFAULT_TIMEOUTS_MS``.
        fail_closed: a mapping from check name to True (fail closed) or False (fail open).
        checks: check instances to use by name instead of the defaults (for example a
            ``PiiGuardrail(kinds=("email",))``). A ``blocked_topics`` rule with its own ``topics``
            gets its own check.

    The suite holds no per-call state, so one instance serves any number of threads.
    """

    def __init__(
        self,
        rules: Iterable[GuardrailRule],
        *,
        timeouts_ms: float | Mapping[str, float] | None = None,
        fail_closed: Mapping[str, bool] | None = None,
        checks: Mapping[str, Guardrail] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        for rule in self.rules:
            if not isinstance(rule, GuardrailRule):
                raise TypeError(f"Invalid guardrail rule {rule!r}: expected an agentwatch.GuardrailRule.")
        self._timeouts = self._budgets(timeouts_ms)
        self._fail_closed = dict(fail_closed or {})
        for name, value in self._fail_closed.items():
            if name not in CHECK_ORDER or not isinstance(value, bool):
                raise ValueError(
                    f"Invalid fail_closed entry {name!r}: {value!r}; expected a check name "
                    f"({', '.join(CHECK_ORDER)}) mapped to True or False."
                )
        overrides = dict(checks or {})
        for name, check in overrides.items():
            if name not in CHECK_ORDER or not isinstance(check, Guardrail):
                raise ValueError(
                    f"Invalid check override {name!r}: expected a check name ({', '.join(CHECK_ORDER)}) "
                    "mapped to a Guardrail instance."
                )
        self._checks = [(rule, self._check_for(rule, overrides)) for rule in self.rules]
        #: The stages that have at least one rule.
        self.stages = frozenset(rule.stage for rule in self.rules)
        self._order = {name: index for index, name in enumerate(CHECK_ORDER)}

    @staticmethod
    def _budgets(timeouts_ms: float | Mapping[str, float] | None) -> dict[str, float]:
        budgets = dict(DEFAULT_TIMEOUTS_MS)
        if timeouts_ms is None:
            return budgets
        given = timeouts_ms if isinstance(timeouts_ms, Mapping) else dict.fromkeys(CHECK_ORDER, timeouts_ms)
        for name, value in given.items():
            if name not in CHECK_ORDER:
                raise ValueError(
                    f"Unknown check {name!r} in timeouts_ms. Valid checks: {', '.join(CHECK_ORDER)}."
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"Invalid timeout for {name!r}: {value!r}; expected milliseconds >= 0.")
            budgets[name] = float(value)
        return budgets

    @staticmethod
    def _check_for(rule: GuardrailRule, overrides: Mapping[str, Guardrail]) -> Guardrail:
        if rule.name == "blocked_topics" and rule.topics:
            return BlockedTopicsGuardrail(rule.topics)
        if rule.name in overrides:
            return overrides[rule.name]
        factories: dict[str, type[Guardrail]] = {
            "pii": PiiGuardrail,
            "secrets": SecretsGuardrail,
            "prompt_injection": PromptInjectionGuardrail,
            "json_schema": JsonSchemaGuardrail,
            "groundedness": GroundednessGuardrail,
        }
        if rule.name == "blocked_topics":
            return BlockedTopicsGuardrail(())
        return factories[rule.name]()

    def fails_closed(self, name: str) -> bool:
        """Return whether an undecided result of check ``name`` counts as failed."""
        if name in self._fail_closed:
            return self._fail_closed[name]
        return name not in ("json_schema", "groundedness")

    def timeout_ms(self, name: str) -> float:
        """Return the budget of check ``name`` in milliseconds."""
        return self._timeouts[name]

    def run(
        self,
        text: object,
        *,
        stage: str,
        source: str = "user",
        schema: object = None,
        response_format: object = None,
        context: object = None,
        redactor: Redactor | None = None,
    ) -> GuardrailOutcome:
        """Run the rules of ``stage`` on ``text`` and decide the action.

        Args:
            text: the text to check (a string, or anything the checks coerce to text).
            stage: ``"input"`` or ``"output"``.
            source: for prompt injection: ``"user"``, ``"tool"`` or ``"retrieval"``.
            schema, response_format: for json_schema; without either the rule is skipped.
            context: the evidence for groundedness; without it the rule is skipped.
            redactor: the vault of this run, which keeps placeholders stable across calls. When a
                redact rule fires and none was given, the suite makes a new one.

        Raises:
            ValueError: when ``stage`` is not ``"input"`` or ``"output"``.
        """
        if stage not in STAGES:
            raise ValueError(f"Invalid stage {stage!r}. Valid stages: {', '.join(STAGES)}.")
        selected = [pair for pair in self._checks if pair[0].stage == stage]
        selected.sort(key=lambda pair: self._order[pair[0].name])
        verdicts: list[Verdict] = []
        skipped: tuple[GuardrailRule, ...] = ()
        for position, (rule, check) in enumerate(selected):
            result = self._run_one(rule, check, text, stage, source, schema, response_format, context)
            verdict = Verdict(rule, result)
            verdicts.append(verdict)
            if verdict.fired and rule.action in STOPPING_ACTIONS:
                skipped = tuple(pair[0] for pair in selected[position + 1 :])
                break
        return self._outcome(stage, text, verdicts, skipped, redactor)

    def _run_one(
        self,
        rule: GuardrailRule,
        check: Guardrail,
        text: object,
        stage: str,
        source: str,
        schema: object,
        response_format: object,
        context: object,
    ) -> GuardrailResult:
        if isinstance(check, PromptInjectionGuardrail):
            result = check.check(text, stage=stage, source=source)
        elif isinstance(check, JsonSchemaGuardrail):
            if schema is None and response_format is None:
                return _skipped(rule, stage, "The call did not request JSON, so there is no schema to check.")
            result = check.check(text, stage=stage, schema=schema, response_format=response_format)
        elif isinstance(check, GroundednessGuardrail):
            if context is None or context == "" or context == []:
                return _skipped(rule, stage, "The run has no evidence yet, so groundedness was not checked.")
            # It may run a local model, so the caller stops waiting for it at its budget.
            budget = self._timeouts[rule.name]
            finished, value = run_within(lambda: check.check(text, stage=stage, context=context), budget)
            if not finished or value is None:
                return self._undecided(_timed_out(rule, stage, budget), rule.name)
            result = value
        else:
            result = check.check(text, stage=stage)
        budget = self._timeouts[rule.name]
        if result.duration_ms > budget:
            result = replace(
                result,
                label=LABEL_TIMEOUT,
                spans=(),
                reason=(
                    f"The {rule.name} guardrail took {result.duration_ms:.1f} ms, over its "
                    f"{budget:g} ms budget, so its result was not used."
                ),
                error=f"timed out after {result.duration_ms:.1f} ms (budget {budget:g} ms)",
            )
        return self._undecided(result, rule.name)

    def _undecided(self, result: GuardrailResult, name: str) -> GuardrailResult:
        """Apply the check's fail mode to a result that decided nothing (timeout, error, uncertain)."""
        if result.label in _UNDECIDED:
            return replace(result, passed=not self.fails_closed(name))
        return result

    @staticmethod
    def _outcome(
        stage: str,
        text: object,
        verdicts: list[Verdict],
        skipped: tuple[GuardrailRule, ...],
        redactor: Redactor | None,
    ) -> GuardrailOutcome:
        fired = [verdict for verdict in verdicts if verdict.fired]
        actions = {verdict.rule.action for verdict in fired}
        action = next((name for name in _ACTION_STRENGTH if name in actions), None)
        body = text if isinstance(text, str) else None
        spans = [
            span for verdict in fired if verdict.rule.action == "redact" for span in verdict.result.spans
        ]
        if spans and isinstance(text, str):
            redactor = redactor if redactor is not None else Redactor()
            body = redactor.redact_spans(text, spans)
        return GuardrailOutcome(stage, tuple(verdicts), skipped, action, body, redactor)


def _timed_out(rule: GuardrailRule, stage: str, budget: float) -> GuardrailResult:
    return GuardrailResult(
        rule.name,
        stage,
        False,
        LABEL_TIMEOUT,
        f"The {rule.name} guardrail did not finish within its {budget:g} ms budget, so the call went on "
        "without its result.",
        duration_ms=budget,
        error=f"timed out after {budget:g} ms",
    )


def _skipped(rule: GuardrailRule, stage: str, reason: str) -> GuardrailResult:
    return GuardrailResult(rule.name, stage, True, LABEL_SKIPPED, reason)
