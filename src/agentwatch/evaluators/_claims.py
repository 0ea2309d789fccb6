"""Claims in an output and the indexed sentences of a context, as the rule-based tier sees them."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from ._lexicon import QUANTIFIERS, canonical, is_abstention, is_filler, rewrite_phrases, strip_bound_phrases
from ._numbers import Quantity, agree, extract_quantities, prepare
from ._text import NEGATIONS, STOPWORDS, WORD_RE, normalise

#: At most this many claims are checked per output; the rest are reported as not checked.
MAX_CLAIMS = 64

_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9$€£])|\n+|;\s+|\s+[-*•]\s+")
_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_CLAUSE_RE = re.compile(
    r",\s+(?:and|but|while|whereas)\s+|\s+(?:but|whereas|while)\s+"
    r"|\s+and\s+(?=(?:the|a|an|it|they|its|their|this|these|those|he|she|we|you)\s)"
)
_CAPITALISED_RE = re.compile(r"\b[A-Z][a-zA-Z0-9]*(?:-[A-Za-z0-9]+)*\b")
_PRONOUN_START_RE = re.compile(r"^\s*(?:it|they|this|these|those|he|she|its|their)\b")
# "more X than Y" compares two subjects; "more than 4" only bounds a quantity.
_COMPARATIVE_RE = re.compile(r"\b(?:more|less|fewer|[a-z]{3,}er)\s+(?:[a-z]+\s+){0,3}?than\b(?!\s*[$€£]?\d)")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, list items and semicolon-separated parts."""
    pieces = _SENTENCE_END_RE.split(text)
    sentences = []
    for piece in pieces:
        cleaned = _BULLET_RE.sub("", piece).strip(" \t\"'")
        if cleaned and any(char.isalnum() for char in cleaned):
            sentences.append(cleaned)
    return sentences


@dataclass
class TextUnit:
    """A sentence or a clause, with its words reduced for matching.

    ``stems`` are the canonical stems of the content words; ``entities`` the lower-case words
    written with a capital letter inside the sentence (names, products, places).
    """

    text: str
    sentence_index: int
    previous_stems: frozenset[str] = frozenset()

    @cached_property
    def normalised(self) -> str:
        return rewrite_phrases(normalise(self.text))

    @cached_property
    def digit_text(self) -> str:
        """The normalised text with number words as digits; quantity offsets refer to it."""
        return prepare(self.normalised)

    @cached_property
    def quantities(self) -> list[Quantity]:
        return extract_quantities(self.digit_text)

    @cached_property
    def tokens(self) -> list[str]:
        return WORD_RE.findall(self.digit_text)

    @cached_property
    def word_tokens(self) -> list[str]:
        """Tokens outside quantities, so units and currency words are not content words."""
        text = self.digit_text
        if self.quantities:
            pieces, last = [], 0
            for quantity in self.quantities:
                pieces.append(text[last : quantity.start])
                last = max(last, quantity.end)
            pieces.append(text[last:])
            text = " ".join(pieces)
        return WORD_RE.findall(text)

    @cached_property
    def stems(self) -> frozenset[str]:
        return frozenset(
            canonical(token)
            for token in self.word_tokens
            if token not in STOPWORDS
            and token not in NEGATIONS
            and token not in QUANTIFIERS
            and not token[0].isdigit()
        )

    @cached_property
    def all_stems(self) -> frozenset[str]:
        """Canonical stems of every word, function words included (for antonym checks)."""
        return frozenset(canonical(token) for token in self.tokens if not token[0].isdigit())

    @cached_property
    def resolved_stems(self) -> frozenset[str]:
        """Content stems, plus the previous sentence's subject when this one opens with a pronoun."""
        if self.previous_stems and _PRONOUN_START_RE.match(self.normalised):
            return self.stems | self.previous_stems
        return self.stems

    @cached_property
    def negated(self) -> bool:
        # "no more than 5" and "do not exceed 4" are bounds on a quantity, not negations.
        tokens = WORD_RE.findall(strip_bound_phrases(self.digit_text))
        return any(token in NEGATIONS for token in tokens)

    @cached_property
    def quantifiers(self) -> frozenset[str]:
        return frozenset(token for token in self.tokens if token in QUANTIFIERS)

    @cached_property
    def entities(self) -> frozenset[str]:
        found = set()
        matches = list(_CAPITALISED_RE.finditer(self.text))
        for position, match in enumerate(matches):
            word = match.group(0)
            if word.lower() in STOPWORDS:
                continue
            if match.start() == 0 and not (word.isupper() and len(word) > 1):
                # A capital at the start of a sentence marks a name only when a capitalised
                # word follows it directly ("Bob Diaz leads", not "Doors close").
                following = matches[position + 1] if position + 1 < len(matches) else None
                if following is None or following.start() != match.end() + 1:
                    continue
            found.add(canonical(word.lower()))
        return frozenset(found)

    @cached_property
    def is_comparative(self) -> bool:
        return _COMPARATIVE_RE.search(self.digit_text) is not None


@dataclass
class ContextIndex:
    """The context split into sentences and clauses, with an index from stem to unit."""

    text: str
    units: list[TextUnit]
    sentences: list[TextUnit]
    by_stem: dict[str, list[int]] = field(default_factory=dict)
    mid_sentence_entities: frozenset[str] = frozenset()
    _agreeing_memo: dict[tuple[object, ...], list[int]] = field(default_factory=dict)

    @cached_property
    def quantities_by_dimension(self) -> dict[str, list[tuple[int, Quantity]]]:
        """The sentences' quantities grouped by dimension, with the index of their sentence."""
        grouped: dict[str, list[tuple[int, Quantity]]] = {}
        for unit in self.sentences:
            for quantity in unit.quantities:
                grouped.setdefault(quantity.dimension, []).append((unit.sentence_index, quantity))
        return grouped

    def agreeing(self, quantity: Quantity) -> list[int]:
        """Return the indexes of the sentences holding a quantity that agrees with ``quantity``."""
        key = (quantity.value, quantity.dimension, quantity.bound, quantity.high, quantity.approx)
        cached = self._agreeing_memo.get(key)
        if cached is None:
            if len(self._agreeing_memo) > 4096:
                self._agreeing_memo.clear()
            cached = self._agreeing_memo[key] = self._find_agreeing(quantity)
        return cached

    def _find_agreeing(self, quantity: Quantity) -> list[int]:
        grouped = self.quantities_by_dimension
        if quantity.dimension == "count:":
            pools = [pool for key, pool in grouped.items() if key.startswith("count:")]
        elif quantity.dimension.startswith("count:"):
            pools = [grouped.get(quantity.dimension, []), grouped.get("count:", [])]
        else:
            pools = [grouped.get(quantity.dimension, [])]
        return [index for pool in pools for index, other in pool if agree(quantity, other)]

    def units_for(self, stems: Sequence[str]) -> set[int]:
        """Return the indexes of the units that contain any of the stems."""
        found: set[int] = set()
        for stem_ in stems:
            found.update(self.by_stem.get(stem_, ()))
        return found


def _leading_stems(unit: TextUnit) -> frozenset[str]:
    # The first three content words approximate the sentence's subject, enough for "It ..." next.
    leading = []
    for token in unit.tokens:
        if token not in STOPWORDS and token not in NEGATIONS and not token[0].isdigit():
            leading.append(canonical(token))
        if len(leading) == 3:
            break
    return frozenset(leading)


def build_index(context_pieces: Sequence[str]) -> ContextIndex:
    """Split the context into sentences and clauses and index them by canonical stem."""
    units: list[TextUnit] = []
    sentences: list[TextUnit] = []
    entities: set[str] = set()
    for piece in context_pieces:
        previous: frozenset[str] = frozenset()
        for sentence_text in split_sentences(piece):
            sentence = TextUnit(sentence_text, len(sentences), previous)
            sentences.append(sentence)
            clauses = [part for part in _CLAUSE_RE.split(sentence_text) if part.strip()]
            if len(clauses) > 1:
                units.extend(TextUnit(part, sentence.sentence_index, previous) for part in clauses)
            units.append(sentence)
            entities.update(sentence.entities)
            previous = _leading_stems(sentence)
    by_stem: dict[str, list[int]] = {}
    for position, unit in enumerate(units):
        for stem_ in unit.resolved_stems:
            by_stem.setdefault(stem_, []).append(position)
    text = "\n\n".join(context_pieces)
    return ContextIndex(text, units, sentences, by_stem, frozenset(entities))


class IndexCache:
    """A small thread-safe LRU cache of context indexes, keyed by the context text.

    The evaluators of one step usually see the same evidence, so the index is built once.
    """

    # TODO: cache per context piece. Indexing a new 4,000-token context takes about 40-70 ms
    # (benchmarks/bench_evaluators.py, 2 shared cores), and evidence that grows by one tool
    # result per step is a new key each time, so the whole index is rebuilt.

    def __init__(self, max_entries: int = 32) -> None:
        self._entries: OrderedDict[tuple[str, ...], ContextIndex] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, pieces: tuple[str, ...]) -> ContextIndex:
        with self._lock:
            index = self._entries.get(pieces)
            if index is not None:
                self._entries.move_to_end(pieces)
                return index
        index = build_index(pieces)
        _ = index.quantities_by_dimension
        with self._lock:
            self._entries[pieces] = index
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return index

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Claim:
    """One checkable statement taken from the output."""

    unit: TextUnit
    abstention: bool = False


def extract_claims(output: str) -> tuple[list[Claim], int]:
    """Split the output into claims; drop filler. Returns the claims and the number left out."""
    claims: list[Claim] = []
    dropped = 0
    for index, sentence in enumerate(split_sentences(output)):
        normalised = normalise(sentence)
        if is_abstention(normalised):
            claims.append(Claim(TextUnit(sentence, index), abstention=True))
            continue
        if is_filler(normalised):
            continue
        if len(claims) >= MAX_CLAIMS:
            dropped += 1
            continue
        claims.append(Claim(TextUnit(sentence, index)))
    return claims, dropped
