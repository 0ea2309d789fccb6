"""Guardrails that run an evaluator: output JSON-schema adherence and groundedness."""

from __future__ import annotations

from ..evaluators import EvaluationResult, Groundedness, JsonSchemaAdherence
from ._result import Guardrail, GuardrailResult


def from_evaluation(name: str, stage: str, evaluation: EvaluationResult) -> GuardrailResult:
    """Convert an evaluator's result to a guardrail result; the evaluator's error stays an error."""
    return GuardrailResult(
        name=name,
        stage=stage,
        passed=evaluation.passed,
        label=evaluation.label,
        reason=evaluation.reason,
        score=evaluation.score,
        duration_ms=evaluation.duration_ms,
        error=evaluation.error,
    )


class JsonSchemaGuardrail(Guardrail):
    """Check that a response requested as JSON parses and matches its schema.

    Runs :class:`agentwatch.evaluators.JsonSchemaAdherence`; its labels are ``"valid"``,
    ``"not_json"``, ``"schema_violation"`` and ``"error"`` (no schema, an invalid schema).

    Args:
        allow_code_fence: accept JSON inside a Markdown code fence. Default False.
    """

    name = "json_schema"
    security = False

    def __init__(self, *, allow_code_fence: bool = False, max_chars: int | None = None) -> None:
        super().__init__(**({} if max_chars is None else {"max_chars": max_chars}))
        self.evaluator = JsonSchemaAdherence(allow_code_fence=allow_code_fence)
        # Importing jsonschema takes tens of milliseconds: pay it here, at instrument(), so the
        # first check does not run past its budget.
        try:
            import jsonschema  # noqa: F401
        except ImportError:  # pragma: no cover - a dependency; the check reports it when it runs
            pass

    def check(
        self,
        text: object,
        *,
        stage: str = "output",
        schema: object = None,
        response_format: object = None,
    ) -> GuardrailResult:
        """Check ``text`` against ``schema`` or the schema inside an OpenAI ``response_format``."""

        def compute(stage_name: str, body: str) -> GuardrailResult:
            evaluation = self.evaluator.evaluate(output=body, schema=schema, response_format=response_format)
            return from_evaluation(self.name, stage_name, evaluation)

        if text is None:
            # A response with no content is not valid JSON, and the evaluator reports it as such.
            text = ""
        return self.run_guarded(stage, text, compute)


class GroundednessGuardrail(Guardrail):
    """Check that a response is supported by the evidence of the run.

    Runs :class:`agentwatch.evaluators.Groundedness` (T0 rules, plus the bundled MiniLM when
    ``agentwatch[evaluators]`` is installed, which takes milliseconds rather than microseconds).

    Args:
        evaluator: the evaluator to use; default ``Groundedness()`` with its 0.8 threshold.
    """

    name = "groundedness"
    security = False

    def __init__(self, evaluator: Groundedness | None = None, *, max_chars: int | None = None) -> None:
        super().__init__(**({} if max_chars is None else {"max_chars": max_chars}))
        self.evaluator = evaluator if evaluator is not None else Groundedness()

    def check(self, text: object, *, stage: str = "output", context: object = None) -> GuardrailResult:
        """Score ``text`` against ``context`` (a string or a list of strings)."""

        def compute(stage_name: str, body: str) -> GuardrailResult:
            return from_evaluation(
                self.name, stage_name, self.evaluator.evaluate(output=body, context=context)
            )

        return self.run_guarded(stage, text, compute)
