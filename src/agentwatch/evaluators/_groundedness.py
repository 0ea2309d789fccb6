"""Groundedness and HallucinationScore: is every claim of an output supported by the context?

Support semantics: a claim counts against the output when the context contradicts it and also
when the context never states it. An abstention ("I could not find that in the documents") is
grounded. Rules (T0) decide first; sentence embeddings (T1) settle only the claims the rules
leave ambiguous, so they never override a quantity, negation or entity conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._cooperate import pause
from ._claims import MAX_CLAIMS, ContextIndex, IndexCache, PieceIndex, TextUnit, extract_claims
from ._embeddings import Embedder, resolve_embedder
from ._result import TIER_LOCAL_MODEL, TIER_RULES, EvaluationResult, Evaluator, clamp_score
from ._support import (
    ABSTENTION,
    AMBIGUOUS,
    CONTRADICTED,
    SUPPORTED,
    UNSUPPORTED,
    ClaimCheck,
    check_claim,
)  # fmt: skip
from ._text import MAX_CONTEXT_CHARS, MAX_OUTPUT_CHARS, coerce_text

#: A user-supplied NLI model: (premise, hypothesis) -> probabilities for the labels
#: "entailment", "contradiction" and "neutral".
NliModel = Callable[[str, str], Mapping[str, float]]

_INDEXES = IndexCache()
#: Contexts with at most this many units are embedded whole; larger ones only their best matches.
_EMBED_ALL_UNITS = 48


@dataclass
class _Assessment:
    checks: list[ClaimCheck] = field(default_factory=list)
    tier: str = TIER_RULES
    dropped: int = 0
    truncated: bool = False
    note: str | None = None


class _ClaimEvaluator(Evaluator):
    """Shared claim checking for Groundedness and HallucinationScore."""

    def __init__(
        self,
        threshold: float,
        *,
        embedder: object = "auto",
        nli: NliModel | None = None,
        support_similarity: float = 0.82,
        partial_similarity: float = 0.68,
        rule_support_coverage: float = 0.75,
    ) -> None:
        super().__init__(threshold)
        self._embedder_choice = embedder
        self._embedder: Embedder | None = None
        self._embedder_resolved = False
        self.nli = nli
        self.support_similarity = support_similarity
        self.partial_similarity = partial_similarity
        self.rule_support_coverage = rule_support_coverage

    def _get_embedder(self) -> Embedder | None:
        # Resolved on first use so that constructing an evaluator never loads the model.
        if not self._embedder_resolved:
            self._embedder = resolve_embedder(self._embedder_choice)
            self._embedder_resolved = True
        return self._embedder

    def _assess(self, output: object, context: object) -> _Assessment | EvaluationResult:
        coerced_output = coerce_text(output, MAX_OUTPUT_CHARS)
        if coerced_output.problem is not None:
            return self.error_result(f"output is {coerced_output.problem}")
        if context is None:
            return self.uncertain_result(
                "No context was given, so the claims cannot be checked; pass the retrieved "
                "documents or tool results as context."
            )
        pieces = context if isinstance(context, (list, tuple)) else [context]
        coerced_pieces = [coerce_text(piece, MAX_CONTEXT_CHARS) for piece in pieces]
        context_texts = tuple(piece.text for piece in coerced_pieces if piece.text.strip())
        claims, dropped = extract_claims(coerced_output.text)
        assessment = _Assessment(dropped=dropped, truncated=coerced_output.truncated)
        if any(piece.truncated for piece in coerced_pieces):
            assessment.note = f"the context was cut to {MAX_CONTEXT_CHARS} characters"
        index = _INDEXES.get(context_texts)
        ambiguous: list[tuple[int, TextUnit]] = []
        for claim in claims:
            pause()
            if claim.abstention:
                check = ClaimCheck(
                    claim.unit.text,
                    ABSTENTION,
                    "abstention",
                    "the output declines to answer, which is grounded",
                )
            else:
                check = check_claim(claim.unit, index)
            if check.verdict == AMBIGUOUS:
                ambiguous.append((len(assessment.checks), claim.unit))
            assessment.checks.append(check)
        if ambiguous:
            self._settle(assessment, ambiguous, index)
        return assessment

    def _settle(
        self, assessment: _Assessment, ambiguous: list[tuple[int, TextUnit]], index: ContextIndex
    ) -> None:
        units = index.units
        embedder = self._get_embedder() if units else None
        if embedder is None:
            for position, _ in ambiguous:
                check = assessment.checks[position]
                supported = check.coverage >= self.rule_support_coverage
                check.verdict = SUPPORTED if supported else UNSUPPORTED
                if supported:
                    check.reason = "most of the claim's words appear in one context sentence"
            return
        assessment.tier = TIER_LOCAL_MODEL
        pending: list[tuple[ClaimCheck, TextUnit, Sequence[TextUnit]]] = []
        for position, claim in ambiguous:
            check = assessment.checks[position]
            candidates: Sequence[TextUnit] = units if len(units) <= _EMBED_ALL_UNITS else check.candidates
            if not candidates:
                check.verdict, check.kind = UNSUPPORTED, "unseen_content"
                continue
            pending.append((check, claim, candidates))
        if not pending:
            return
        claim_vectors, unit_vectors = _embed_claims_and_units(
            embedder, index, [claim.text for _, claim, _ in pending], [units for _, _, units in pending]
        )
        for (check, claim, candidates), claim_vector in zip(pending, claim_vectors, strict=True):
            best, similarity = 0, -2.0
            for rank, unit in enumerate(candidates):
                value = float(unit_vectors[index.positions[id(unit)]] @ claim_vector)
                if value > similarity:
                    best, similarity = rank, value
            check.evidence = candidates[best].text
            if self.nli is not None:
                self._apply_nli(check, candidates[best].text, claim.text)
                continue
            if claim.is_comparative:
                # Similarity cannot tell "more" from "less"; leave the rules' verdict.
                check.verdict = UNSUPPORTED
                continue
            supported = similarity >= self.support_similarity or (
                similarity >= self.partial_similarity and check.coverage >= 0.5
            )
            check.kind = "embedding_similarity"
            check.verdict = SUPPORTED if supported else UNSUPPORTED
            check.reason = (
                f"the closest context sentence is a paraphrase (similarity {similarity:.2f})"
                if supported
                else f"no context sentence states this (best similarity {similarity:.2f}); {check.reason}"
            )

    def _apply_nli(self, check: ClaimCheck, premise: str, hypothesis: str) -> None:
        assert self.nli is not None
        scores = {key.lower(): float(value) for key, value in self.nli(premise, hypothesis).items()}
        label = max(scores, key=lambda key: scores[key])
        check.kind = "nli"
        if label.startswith("entail"):
            check.verdict, check.reason = SUPPORTED, "the NLI model finds the claim entailed"
        elif label.startswith("contra"):
            check.verdict, check.reason = CONTRADICTED, "the NLI model finds the claim contradicted"
        else:
            check.verdict, check.reason = UNSUPPORTED, "the NLI model finds the claim not entailed"


def _embed_claims_and_units(
    embedder: Embedder, index: ContextIndex, claim_texts: list[str], candidates: list[Sequence[TextUnit]]
) -> tuple[Any, dict[int, Any]]:
    """Embed the claims and the candidate units that lack a vector, in one batch.

    Returns the claims' vectors and every candidate's vector by its position in ``index.units``.
    Unit vectors are kept on the piece the unit came from, per embedder, so later steps that judge
    against the same evidence embed only the units of new pieces.
    """
    needed = sorted({index.positions[id(unit)] for units in candidates for unit in units})
    unit_vectors: dict[int, Any] = {}
    key: object | None = embedder
    try:
        hash(embedder)
    except TypeError:
        key = None
    if key is not None:
        by_piece: dict[PieceIndex, dict[int, int]] = {}
        for position in needed:
            piece, local = index.origins[position]
            by_piece.setdefault(piece, {})[local] = position
        for piece, global_positions in by_piece.items():
            for local, vector in piece.vectors(key, global_positions).items():
                unit_vectors[global_positions[local]] = vector
    missing = [position for position in needed if position not in unit_vectors]
    texts = claim_texts + [index.units[position].text for position in missing]
    vectors = embedder.embed(texts)
    claim_count = len(claim_texts)
    computed: dict[PieceIndex, dict[int, Any]] = {}
    for offset, position in enumerate(missing):
        vector = vectors[claim_count + offset]
        unit_vectors[position] = vector
        piece, local = index.origins[position]
        computed.setdefault(piece, {})[local] = vector
    if key is not None:
        for piece, new_vectors in computed.items():
            piece.store_vectors(key, new_vectors)
    return vectors[:claim_count], unit_vectors


def _counts(checks: list[ClaimCheck]) -> dict[str, int]:
    counts = {SUPPORTED: 0, ABSTENTION: 0, UNSUPPORTED: 0, CONTRADICTED: 0}
    for check in checks:
        counts[check.verdict] = counts.get(check.verdict, 0) + 1
    return counts


def _first_failure(checks: list[ClaimCheck]) -> ClaimCheck | None:
    for verdict in (CONTRADICTED, UNSUPPORTED):
        for check in checks:
            if check.verdict == verdict:
                return check
    return None


def _describe_failures(checks: list[ClaimCheck], counts: dict[str, int]) -> tuple[str, str]:
    failure = _first_failure(checks)
    total = len(checks)
    if failure is None:
        return "grounded", f"All {total} claims are supported by the context."
    label = CONTRADICTED if counts[CONTRADICTED] else UNSUPPORTED
    failing = counts[CONTRADICTED] + counts[UNSUPPORTED]
    verb = "contradicts" if failure.verdict == CONTRADICTED else "is not supported by"
    evidence = f' ("{failure.evidence}")' if failure.evidence and failure.verdict == CONTRADICTED else ""
    return label, (
        f'{failing} of {total} claims fail; "{failure.claim}" {verb} the context: {failure.reason}{evidence}.'
    )


def _details(assessment: _Assessment) -> tuple[Mapping[str, Any], ...]:
    details: list[Mapping[str, Any]] = [check.to_detail() for check in assessment.checks]
    if assessment.dropped:
        details.append({"note": f"{assessment.dropped} claims past the first {MAX_CLAIMS} were not checked"})
    if assessment.truncated:
        details.append({"note": "the output was cut before checking"})
    if assessment.note:
        details.append({"note": assessment.note})
    return tuple(details)


class Groundedness(_ClaimEvaluator):
    """Share of the output's claims that the context supports (1 = all of them).

    A contradicted claim weighs ``contradiction_weight`` times an unsupported one, so one
    contradiction fails a short answer even when the other claims hold.

    Args:
        threshold: ``passed`` is ``score >= threshold``. Default 0.8.
        embedder: ``"auto"`` (the bundled MiniLM when ``agentwatch[evaluators]`` is installed),
            None for rules only, or your own :class:`Embedder`.
        nli: an optional NLI model used instead of embedding similarity for ambiguous claims.
        contradiction_weight: weight of a contradicted claim in the denominator. Default 3.

    Example:
        >>> r = Groundedness(embedder=None).evaluate(
        ...     output="Refunds are available for 60 days.",
        ...     context="Refund requests must be filed within 30 days.")
        >>> r.passed, r.label
        (False, 'contradicted')
    """

    name = "groundedness"

    def __init__(self, threshold: float = 0.8, *, contradiction_weight: float = 3.0, **options: Any) -> None:
        super().__init__(threshold, **options)
        self.contradiction_weight = contradiction_weight

    def evaluate(
        self, output: object = None, context: object = None, input: object = None
    ) -> EvaluationResult:
        """Score ``output`` against ``context`` (a string or a list of strings); ``input`` is unused."""
        return self._run(lambda: self._score(output, context))

    def _score(self, output: object, context: object) -> EvaluationResult:
        assessment = self._assess(output, context)
        if isinstance(assessment, EvaluationResult):
            return assessment
        checks = assessment.checks
        if not checks:
            return _no_claims(self, assessment)
        counts = _counts(checks)
        supported = counts[SUPPORTED] + counts[ABSTENTION]
        denominator = supported + counts[UNSUPPORTED] + self.contradiction_weight * counts[CONTRADICTED]
        score = clamp_score(supported / denominator)
        label, reason = _describe_failures(checks, counts)
        return _finish(self, assessment, score, score >= self.threshold, label, reason)


class HallucinationScore(_ClaimEvaluator):
    """Share of the output's claims that the context contradicts or never states (0 = none).

    Args:
        threshold: ``passed`` is ``score <= threshold``. Default 0.2.
        embedder, nli: as for :class:`Groundedness`.
    """

    name = "hallucination"

    def __init__(self, threshold: float = 0.2, **options: Any) -> None:
        super().__init__(threshold, **options)

    def evaluate(
        self, output: object = None, context: object = None, input: object = None
    ) -> EvaluationResult:
        """Score ``output`` against ``context`` (a string or a list of strings); ``input`` is unused."""
        return self._run(lambda: self._score(output, context))

    def _score(self, output: object, context: object) -> EvaluationResult:
        assessment = self._assess(output, context)
        if isinstance(assessment, EvaluationResult):
            return assessment
        checks = assessment.checks
        if not checks:
            return _no_claims(self, assessment, hallucination=True)
        counts = _counts(checks)
        score = clamp_score((counts[UNSUPPORTED] + counts[CONTRADICTED]) / len(checks))
        label, reason = _describe_failures(checks, counts)
        if label == "grounded":
            label = "no_hallucination"
        return _finish(self, assessment, score, score <= self.threshold, label, reason)


def _finish(
    evaluator: Evaluator, assessment: _Assessment, score: float, passed: bool, label: str, reason: str
) -> EvaluationResult:
    if passed and (assessment.dropped or assessment.truncated):
        # The part that was checked passed, but the rest was never read: not a pass.
        return evaluator.uncertain_result(
            "The checked claims hold, but the output was too long to check in full.",
            tier=assessment.tier,
            details=_details(assessment),
        )
    return EvaluationResult(
        name=evaluator.name,
        score=score,
        passed=passed,
        label=label,
        reason=reason,
        details=_details(assessment),
        tier=assessment.tier,
        threshold=evaluator.threshold,
    )


def _no_claims(
    evaluator: Evaluator, assessment: _Assessment, hallucination: bool = False
) -> EvaluationResult:
    if assessment.truncated or (not assessment.checks and assessment.dropped):
        return evaluator.uncertain_result("The output could not be split into claims.")
    return EvaluationResult(
        name=evaluator.name,
        score=0.0 if hallucination else 1.0,
        passed=True,
        label="no_claims",
        reason="The output makes no factual claims (only greetings, questions or offers of help).",
        tier=TIER_RULES,
        threshold=evaluator.threshold,
    )
