"""Claims in an output and the indexed sentences of a context, as the rule-based tier sees them."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .._cooperate import pause
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
    """The context split into sentences and clauses, with an index from stem to unit.

    ``origins`` contains, for each unit, the :class:`PieceIndex` it was copied from and its position
    there, so per-piece caches (such as sentence vectors) can be reached from a unit.
    """

    text: str
    units: list[TextUnit]
    sentences: list[TextUnit]
    by_stem: dict[str, list[int]] = field(default_factory=dict)
    mid_sentence_entities: frozenset[str] = frozenset()
    _agreeing_memo: dict[tuple[object, ...], list[int]] = field(default_factory=dict)
    origins: list[tuple[PieceIndex, int]] = field(default_factory=list)

    @cached_property
    def quantities_by_dimension(self) -> dict[str, list[tuple[int, Quantity]]]:
        """The sentences' quantities grouped by dimension, with the index of their sentence."""
        grouped: dict[str, list[tuple[int, Quantity]]] = {}
        for unit in self.sentences:
            for quantity in unit.quantities:
                grouped.setdefault(quantity.dimension, []).append((unit.sentence_index, quantity))
        return grouped

    @cached_property
    def positions(self) -> dict[int, int]:
        """The position in ``units`` of each unit, keyed by ``id(unit)``."""
        return {id(unit): position for position, unit in enumerate(self.units)}

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

    def shared_stem_counts(self, stems: Iterable[str]) -> dict[int, int]:
        """Return, per unit position, how many of ``stems`` the unit's resolved stems contain."""
        counts: dict[int, int] = {}
        get = counts.get
        for stem_ in stems:
            for position in self.by_stem.get(stem_, ()):
                counts[position] = get(position, 0) + 1
        return counts


def _leading_stems(unit: TextUnit) -> frozenset[str]:
    # The first three content words approximate the sentence's subject, enough for "It ..." next.
    leading = []
    for token in unit.tokens:
        if token not in STOPWORDS and token not in NEGATIONS and not token[0].isdigit():
            leading.append(canonical(token))
        if len(leading) == 3:
            break
    return frozenset(leading)


def _compute_features(unit: TextUnit) -> None:
    # Every cached property the rules read on a context unit, computed once at build time, so a
    # shared unit is never written to while other threads read it.
    for name in _CONTEXT_FEATURES:
        getattr(unit, name)


_CONTEXT_FEATURES = (
    "normalised",
    "digit_text",
    "quantities",
    "tokens",
    "word_tokens",
    "stems",
    "all_stems",
    "resolved_stems",
    "negated",
    "quantifiers",
    "entities",
    "is_comparative",
)


class PieceIndex:
    """One context piece (a tool result, a document) split into sentences and clauses.

    The units' ``sentence_index`` counts from 0 within the piece. :func:`assemble_index` copies
    them with the offset of the piece in the whole context. Once built, a piece index is only
    read, apart from its vector store, which has its own lock.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        units: list[TextUnit] = []
        #: Position in ``units`` of each sentence, in sentence order.
        sentence_positions: list[int] = []
        entities: set[str] = set()
        previous: frozenset[str] = frozenset()
        for sentence_text in split_sentences(text):
            sentence = TextUnit(sentence_text, len(sentence_positions), previous)
            clauses = [part for part in _CLAUSE_RE.split(sentence_text) if part.strip()]
            if len(clauses) > 1:
                units.extend(TextUnit(part, sentence.sentence_index, previous) for part in clauses)
            sentence_positions.append(len(units))
            units.append(sentence)
            entities.update(sentence.entities)
            previous = _leading_stems(sentence)
        for unit in units:
            pause()
            _compute_features(unit)
        by_stem: dict[str, list[int]] = {}
        for position, unit in enumerate(units):
            for stem_ in unit.resolved_stems:
                by_stem.setdefault(stem_, []).append(position)
        self.units: tuple[TextUnit, ...] = tuple(units)
        self.sentence_positions: tuple[int, ...] = tuple(sentence_positions)
        self.by_stem = by_stem
        self.entities = frozenset(entities)
        self._vectors: dict[object, dict[int, Any]] = {}
        self._vectors_lock = threading.Lock()

    def vectors(self, key: object, positions: Iterable[int]) -> dict[int, Any]:
        """Return the stored sentence vectors for ``key`` (an embedder) at these unit positions."""
        with self._vectors_lock:
            stored = self._vectors.get(key)
            if not stored:
                return {}
            return {position: stored[position] for position in positions if position in stored}

    def store_vectors(self, key: object, vectors: Mapping[int, Any]) -> None:
        """Keep sentence vectors computed by ``key`` (an embedder) for these unit positions."""
        with self._vectors_lock:
            self._vectors.setdefault(key, {}).update(vectors)


def _placed(unit: TextUnit, sentence_index: int) -> TextUnit:
    # A copy that shares the computed features (lists and sets that are never mutated) and
    # carries the sentence's index in the whole context.
    copy = object.__new__(TextUnit)
    copy.__dict__.update(unit.__dict__)
    copy.sentence_index = sentence_index
    return copy


def assemble_index(pieces: Sequence[PieceIndex]) -> ContextIndex:
    """Join indexed pieces into the index of the whole context, in order.

    The result equals what indexing the pieces from scratch gives: the same units in the same
    order, with sentence indexes counted across pieces.
    """
    units: list[TextUnit] = []
    sentences: list[TextUnit] = []
    origins: list[tuple[PieceIndex, int]] = []
    by_stem: dict[str, list[int]] = {}
    entities: set[str] = set()
    for piece in pieces:
        unit_offset = len(units)
        sentence_offset = len(sentences)
        if sentence_offset == 0:
            placed = list(piece.units)
        else:
            placed = [_placed(unit, unit.sentence_index + sentence_offset) for unit in piece.units]
        units.extend(placed)
        sentences.extend(placed[position] for position in piece.sentence_positions)
        origins.extend((piece, position) for position in range(len(placed)))
        for stem_, positions in piece.by_stem.items():
            merged = by_stem.get(stem_)
            if merged is None:
                by_stem[stem_] = [position + unit_offset for position in positions]
            else:
                merged.extend(position + unit_offset for position in positions)
        entities.update(piece.entities)
    text = "\n\n".join(piece.text for piece in pieces)
    index = ContextIndex(text, units, sentences, by_stem, frozenset(entities), origins=origins)
    _ = index.quantities_by_dimension
    return index


def build_index(context_pieces: Sequence[str]) -> ContextIndex:
    """Split the context into sentences and clauses and index them by canonical stem."""
    return assemble_index([PieceIndex(piece) for piece in context_pieces])


class IndexCache:
    """Thread-safe LRU caches of context indexes: one per whole context, one per piece.

    The evaluators of one step usually get the same evidence, so a whole-context index is
    looked up first. A run's evidence grows by a tool result per step. For new evidence, only the
    pieces not seen before are indexed, and the rest come from the piece cache.

    Args:
        max_entries: whole-context indexes to keep.
        max_pieces: piece indexes to keep.
        max_piece_chars: total characters of the cached pieces. An index takes about 70 bytes
            per character of text (measured with ``tracemalloc`` on CPython 3.11), so the
            default of 1,000,000 characters is about 70 MB. Sentence vectors kept for T1 add
            1.5 KB per embedded unit on top. A piece longer than this is indexed but not kept.
    """

    def __init__(
        self, max_entries: int = 32, max_pieces: int = 1024, max_piece_chars: int = 1_000_000
    ) -> None:
        if max_entries < 1 or max_pieces < 1 or max_piece_chars < 1:
            raise ValueError(
                "max_entries, max_pieces and max_piece_chars must be at least 1, got "
                f"{max_entries}, {max_pieces} and {max_piece_chars}"
            )
        self._entries: OrderedDict[tuple[str, ...], ContextIndex] = OrderedDict()
        self._pieces: OrderedDict[str, PieceIndex] = OrderedDict()
        self._piece_chars = 0
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._max_pieces = max_pieces
        self._max_piece_chars = max_piece_chars
        #: Piece lookups served from the cache and pieces indexed, read by tests and benchmarks.
        self.piece_hits = 0
        self.piece_misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def piece_count(self) -> int:
        """The number of piece indexes held."""
        return len(self._pieces)

    @property
    def piece_chars(self) -> int:
        """The total characters of the pieces held."""
        return self._piece_chars

    def get(self, pieces: tuple[str, ...]) -> ContextIndex:
        """Return the index of the context made of ``pieces``, building only what is not cached."""
        with self._lock:
            index = self._entries.get(pieces)
            if index is not None:
                self._entries.move_to_end(pieces)
                return index
        index = assemble_index([self.piece(text) for text in pieces])
        with self._lock:
            self._entries[pieces] = index
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return index

    def piece(self, text: str) -> PieceIndex:
        """Return the index of one context piece, from the cache when it is there."""
        with self._lock:
            found = self._pieces.get(text)
            if found is not None:
                self._pieces.move_to_end(text)
                self.piece_hits += 1
                return found
            self.piece_misses += 1
        # Built outside the lock, so other threads are not held up. Two threads that miss on
        # the same text both build it, and the second result replaces the first.
        built = PieceIndex(text)
        if len(text) > self._max_piece_chars:
            return built
        with self._lock:
            previous = self._pieces.pop(text, None)
            if previous is not None:
                self._piece_chars -= len(previous.text)
            self._pieces[text] = built
            self._piece_chars += len(text)
            while len(self._pieces) > self._max_pieces or self._piece_chars > self._max_piece_chars:
                _, evicted = self._pieces.popitem(last=False)
                self._piece_chars -= len(evicted.text)
        return built

    def clear(self) -> None:
        """Drop every cached index, whole contexts and pieces."""
        with self._lock:
            self._entries.clear()
            self._pieces.clear()
            self._piece_chars = 0


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
