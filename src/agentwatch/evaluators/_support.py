"""The rule-based tier (T0) of groundedness: align each claim with context units and compare.

For every claim the rules find the context units that share its content words, then look for
hard conflicts in the best aligned units: a quantity that differs, a flipped negation, an antonym
or comparator, a quantifier that widens or narrows the statement, or a name attached to the wrong
subject. A claim whose words and quantities all appear in one unit without a conflict is
supported. What the rules cannot settle is marked ``ambiguous`` for the local model.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from ._claims import ContextIndex, TextUnit
from ._compare import compare_claim
from ._lexicon import COMPARATOR_WORDS, OPPOSITES, RESTRICTED, UNIVERSAL, canonical
from ._numbers import Quantity, agree, comparable, describe
from ._text import STOPWORDS, WORD_RE

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
UNSUPPORTED = "unsupported"
AMBIGUOUS = "ambiguous"
ABSTENTION = "abstention"

#: Share of a claim's content words a unit must hold before its conflicts count against the claim.
CONFLICT_COVERAGE = 0.5
#: Negations, antonyms and quantifiers need a closer alignment, since they are single words.
WORD_CONFLICT_COVERAGE = 0.75
#: Number of best aligned units examined per claim.
TOP_UNITS = 6


@dataclass
class ClaimCheck:
    """The rule-based verdict on one claim."""

    claim: str
    verdict: str
    kind: str
    reason: str
    evidence: str | None = None
    coverage: float = 0.0
    candidates: list[TextUnit] = field(default_factory=list)

    def to_detail(self) -> dict[str, object]:
        return {
            "claim": self.claim,
            "verdict": self.verdict,
            "kind": self.kind,
            "reason": self.reason,
            "evidence": self.evidence,
            "coverage": round(self.coverage, 3),
        }


@dataclass
class _Conflict:
    kind: str
    reason: str


def _left_stems(text: str, quantity: Quantity) -> set[str]:
    words = WORD_RE.findall(text[max(0, quantity.start - 48) : quantity.start])
    content = [canonical(word) for word in words if word not in STOPWORDS and not word[0].isdigit()]
    return set(content[-3:])


def _pick_partner(claim: TextUnit, quantity: Quantity, options: list[Quantity], unit: TextUnit) -> Quantity:
    # With several comparable quantities in a unit, compare with the one whose neighbouring words
    # match the claim's ("closes at 9:00" is compared with "closes at 17:30", not "opens at 9:00").
    if len(options) == 1:
        return options[0]
    wanted = _left_stems(claim.digit_text, quantity)
    return max(options, key=lambda option: len(wanted & _left_stems(unit.digit_text, option)))


def _stated_elsewhere(quantity: Quantity, unit: TextUnit, context: ContextIndex) -> bool:
    # A claim that joins facts from several sentences may hold a quantity this unit lacks.
    return any(index != unit.sentence_index for index in context.agreeing(quantity))


def _quantity_conflict(claim: TextUnit, unit: TextUnit, context: ContextIndex) -> _Conflict | None:
    for quantity in claim.quantities:
        if _stated_elsewhere(quantity, unit, context):
            continue
        options = [other for other in unit.quantities if comparable(quantity, other)]
        if not options and unit.sentence_index < len(context.sentences):
            sentence = context.sentences[unit.sentence_index]
            options = [other for other in sentence.quantities if comparable(quantity, other)]
            unit = sentence
        if not options:
            continue
        if any(agree(quantity, other) for other in options):
            partner = _pick_partner(claim, quantity, options, unit)
            if agree(quantity, partner) or len(options) == 1:
                continue
        else:
            partner = _pick_partner(claim, quantity, options, unit)
        kind = "date_mismatch" if quantity.dimension in ("date", "clock") else "numeric_mismatch"
        if partner.value == quantity.value and partner.bound != quantity.bound:
            kind = "bound_mismatch"
        return _Conflict(
            kind,
            f"the output says {describe(quantity)}, but the context says {describe(partner)}",
        )
    return None


def _word_conflict(claim: TextUnit, unit: TextUnit, coverage: float) -> _Conflict | None:
    # An antonym is itself a word the unit lacks, so it counts as aligned here.
    flipped = sum(1 for word in claim.stems - unit.resolved_stems if OPPOSITES.get(word, set()) & unit.stems)
    if claim.stems:
        coverage += flipped / len(claim.stems)
    if coverage < WORD_CONFLICT_COVERAGE:
        return None
    exclusive = "only" in unit.quantifiers and claim.negated and not claim.stems <= unit.resolved_stems
    # "Only the Pro plan has X" supports "the Basic plan does not have X".
    if claim.negated != unit.negated and not exclusive:
        said, other = ("not", "is") if claim.negated else ("is", "not")
        return _Conflict(
            "negation",
            f"the output states the opposite of the context: it says this {said} so where the "
            f"context says it {other}",
        )
    for word in claim.all_stems - unit.all_stems:
        for opposite in OPPOSITES.get(word, ()):
            if opposite in unit.all_stems and opposite not in claim.all_stems:
                kind = "comparator_flip" if word in COMPARATOR_WORDS else "antonym"
                return _Conflict(kind, f"the output says '{word}' where the context says '{opposite}'")
    claim_universal = claim.quantifiers & UNIVERSAL
    unit_restricted = unit.quantifiers & RESTRICTED - claim.quantifiers
    if claim_universal and unit_restricted:
        return _Conflict(
            "quantifier_flip",
            f"the output says '{sorted(claim_universal)[0]}' but the context limits it with "
            f"'{sorted(unit_restricted)[0]}'",
        )
    claim_restricted = claim.quantifiers & {"only", "exclusively", "solely"}
    unit_universal = unit.quantifiers & UNIVERSAL - claim.quantifiers
    if claim_restricted and unit_universal:
        return _Conflict(
            "quantifier_flip",
            f"the output says '{sorted(claim_restricted)[0]}' but the context says "
            f"'{sorted(unit_universal)[0]}'",
        )
    return None


def _swap_conflict(
    claim: TextUnit, claim_stems: frozenset[str], unit: TextUnit, context: ContextIndex
) -> _Conflict | None:
    # A swap: the unit states the claim's relation with one word replaced by another, and the
    # claim's word belongs elsewhere in the context ("Bob leads payments" where Alice does).
    if claim.is_comparative or (claim.negated and "only" in unit.quantifiers):
        return None
    missing = claim_stems - unit.resolved_stems
    if not missing or len(missing) > max(1, len(claim_stems) // 3):
        return None
    extra = unit.stems - claim_stems
    known_elsewhere = [word for word in missing if word in context.by_stem]
    if not extra or len(known_elsewhere) != len(missing):
        return None
    missing_entities = missing & (claim.entities | context.mid_sentence_entities)
    extra_entities = extra & unit.entities
    if missing_entities and extra_entities:
        return _Conflict(
            "entity_swap",
            f"the context attaches this to '{sorted(extra_entities)[0]}', not "
            f"'{sorted(missing_entities)[0]}'",
        )
    if (
        len(missing) == 1
        and len(claim_stems) >= 3
        and _in_parallel_unit(next(iter(missing)), claim_stems, unit, context)
    ):
        return _Conflict(
            "entity_swap",
            f"the context states this for '{sorted(extra)[0]}', not for '{sorted(missing)[0]}'",
        )
    return None


def _in_parallel_unit(word: str, claim_stems: frozenset[str], unit: TextUnit, context: ContextIndex) -> bool:
    # The missing word must fill the same slot elsewhere: another unit holds it together with
    # most of the claim's other words ("the search team is based in ..." for "search").
    others = claim_stems - {word}
    for position in context.by_stem.get(word, ()):
        other = context.units[position]
        if other is unit or _is_question(context.sentences[other.sentence_index]):
            continue  # a question states no fact, so it gives the word no slot
        if len(others & other.resolved_stems) * 2 >= len(others):
            return True
    return False


def _unit_conflict(
    claim: TextUnit, claim_stems: frozenset[str], unit: TextUnit, context: ContextIndex, coverage: float
) -> _Conflict | None:
    return (
        _quantity_conflict(claim, unit, context)
        or _word_conflict(claim, unit, coverage)
        or _swap_conflict(claim, claim_stems, unit, context)
    )


def _quantities_held(claim: TextUnit, units: list[TextUnit]) -> bool:
    return all(
        any(
            agree(quantity, other)
            for unit in units
            for other in unit.quantities
            if comparable(quantity, other)
        )
        for quantity in claim.quantities
    )


def _unseen_quantity(claim: TextUnit, context: ContextIndex) -> Quantity | None:
    for quantity in claim.quantities:
        if not context.agreeing(quantity):
            return quantity
    return None


def _supporting_pair(claim: TextUnit, units: list[TextUnit]) -> tuple[TextUnit, TextUnit] | None:
    # A compound claim ("X lasts 2 years and repairs take 10 days") may join two sentences.
    for first_position, first in enumerate(units):
        for second in units[first_position + 1 :]:
            if claim.stems <= first.resolved_stems | second.resolved_stems and _quantities_held(
                claim, [first, second]
            ):
                return first, second
    return None


def _is_question(unit: TextUnit) -> bool:
    return unit.text.rstrip(" \t\"')").endswith("?")


def check_claim(claim: TextUnit, context: ContextIndex) -> ClaimCheck:
    """Return the rule-based verdict on one claim."""
    claim_stems = claim.stems
    text = claim.text
    if not claim_stems and not claim.quantities:
        return ClaimCheck(text, AMBIGUOUS, "no_content", "the claim has no content words to align")
    # A unit's coverage is the share of the claim's stems among its resolved stems. The stem
    # index counts exactly that, so no set intersection per unit is needed.
    stem_count = len(claim_stems)
    units = context.units
    ranked = heapq.nlargest(
        TOP_UNITS,
        (
            (shared / stem_count, -len(units[i].stems), i)
            for i, shared in context.shared_stem_counts(claim_stems).items()
        ),
    )
    candidates = [context.units[i] for _, _, i in ranked]
    best_coverage = ranked[0][0] if ranked else 0.0

    conflicts: list[tuple[float, TextUnit, _Conflict]] = []
    clean: list[tuple[float, TextUnit]] = []
    conflicting_sentences: set[int] = set()
    for coverage, _, position in ranked:
        unit = context.units[position]
        conflict = _unit_conflict(claim, claim_stems, unit, context, coverage)
        if conflict is not None and _is_question(context.sentences[unit.sentence_index]):
            # A question asserts nothing, so it cannot contradict a claim (a user's question is
            # part of a run's evidence).
            continue
        if conflict is None:
            clean.append((coverage, unit))
        elif coverage >= CONFLICT_COVERAGE:
            conflicts.append((coverage, unit, conflict))
            if unit is not context.sentences[unit.sentence_index]:
                conflicting_sentences.add(unit.sentence_index)
    for coverage, unit in clean:
        whole_sentence = unit is context.sentences[unit.sentence_index]
        # A sentence whose own clause conflicts with the claim does not support it as a whole.
        if whole_sentence and unit.sentence_index in conflicting_sentences:
            continue
        if coverage >= 1.0 and _quantities_held(claim, [unit, context.sentences[unit.sentence_index]]):
            return ClaimCheck(
                text,
                SUPPORTED,
                "lexical_support",
                "every content word and quantity appears in one context sentence",
                unit.text,
                coverage,
                candidates,
            )
    if not claim.is_comparative and not claim.all_stems & COMPARATOR_WORDS:
        pair = _supporting_pair(
            claim, [unit for _, unit in clean if unit.sentence_index not in conflicting_sentences]
        )
        if pair is not None:
            return ClaimCheck(
                text,
                SUPPORTED,
                "lexical_support",
                "the claim's words and quantities appear across two context sentences",
                f"{pair[0].text} {pair[1].text}",
                1.0,
                candidates,
            )
    if conflicts:
        coverage, unit, conflict = max(conflicts, key=lambda item: item[0])
        return ClaimCheck(text, CONTRADICTED, conflict.kind, conflict.reason, unit.text, coverage, candidates)

    if claim.is_comparative or claim.all_stems & COMPARATOR_WORDS:
        compared = compare_claim(claim, context)
        if compared is not None:
            holds, explanation = compared
            return ClaimCheck(
                text,
                SUPPORTED if holds else CONTRADICTED,
                "comparison",
                explanation,
                None,
                best_coverage,
                candidates,
            )

    unseen = _unseen_quantity(claim, context)
    if unseen is not None:
        return ClaimCheck(
            text,
            UNSUPPORTED,
            "unseen_number",
            f"the context never states {describe(unseen)}",
            candidates[0].text if candidates else None,
            best_coverage,
            candidates,
        )
    unseen_entities = sorted(
        entity for entity in claim.entities if entity in claim_stems and entity not in context.by_stem
    )
    if unseen_entities:
        return ClaimCheck(
            text,
            UNSUPPORTED,
            "unseen_entity",
            f"the context never mentions '{unseen_entities[0]}'",
            candidates[0].text if candidates else None,
            best_coverage,
            candidates,
        )

    unseen_words = sorted(word for word in claim_stems if word not in context.by_stem)
    reason = (
        f"the context never mentions '{unseen_words[0]}'"
        if unseen_words
        else "no single context sentence states this claim"
    )
    return ClaimCheck(
        text,
        AMBIGUOUS,
        "partial_overlap",
        reason,
        candidates[0].text if candidates else None,
        best_coverage,
        candidates,
    )
