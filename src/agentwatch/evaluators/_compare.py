"""Comparative claims ("the Basic plan costs more than the Pro plan", "X closes before Y").

Such a claim joins two facts; no single context sentence states it, and embedding similarity
cannot tell "more" from "less". The rules look up a comparable quantity for each side and compare
the values.
"""

from __future__ import annotations

import re

from ._claims import ContextIndex, TextUnit
from ._numbers import Quantity, comparable

_GREATER = (
    "more", "greater", "higher", "larger", "bigger", "longer", "later", "after", "heavier",
    "pricier", "older", "exceeds", "exceed",
)  # fmt: skip
_SMALLER = (
    "less", "fewer", "lower", "smaller", "shorter", "earlier", "before", "cheaper", "lighter",
    "younger", "faster",
)  # fmt: skip
_SPLIT_RE = re.compile(
    r"\b(" + "|".join(_GREATER + _SMALLER) + r")\b(?:\s+(?P<noun>[a-z]+))?(?:\s+[a-z]+){0,2}?\s+than\b"
    r"|\b(?P<temporal>before|after)\b"
)


def _side_quantities(words: TextUnit, context: ContextIndex) -> list[Quantity]:
    best: tuple[int, list[Quantity]] = (0, [])
    for unit in context.sentences:
        if not unit.quantities:
            continue
        overlap = len(words.stems & unit.resolved_stems)
        if overlap > best[0]:
            best = (overlap, unit.quantities)
    return best[1]


def compare_claim(claim: TextUnit, context: ContextIndex) -> tuple[bool, str] | None:
    """Return (supported, explanation) for a comparative claim, or None when it cannot be checked."""
    match = _SPLIT_RE.search(claim.digit_text)
    if match is None:
        return None
    word = match.group(1) or match.group("temporal")

    left = TextUnit(claim.digit_text[: match.start()], 0)
    right = TextUnit(claim.digit_text[match.end() :], 0)
    if not left.stems or not right.stems or right.normalised.lstrip()[:1].isdigit():
        # "more than 4 doses" bounds a quantity; it does not compare two subjects.
        return None

    left_quantities = _side_quantities(left, context)
    right_quantities = _side_quantities(right, context)
    noun = match.group("noun") or ""
    pairs = [
        (a, b)
        for a in left_quantities
        for b in right_quantities
        if a is not b and a.dimension == b.dimension and comparable(a, b)
    ]
    if noun:
        pairs = [pair for pair in pairs if noun[:3] in pair[0].dimension] or pairs
    if not pairs:
        return None

    first, second = pairs[0]
    greater = word in _GREATER or word == "after"
    holds = first.value > second.value if greater else first.value < second.value
    relation = "more" if first.value > second.value else "less"
    if first.dimension == "date":
        relation = "later" if first.value > second.value else "earlier"
    return holds, f"the context gives {first.text.strip()} against {second.text.strip()}, which is {relation}"
