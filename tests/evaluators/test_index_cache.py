"""The per-piece index cache and the per-piece sentence vectors of the groundedness evaluators."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agentwatch.evaluators import Groundedness, HallucinationScore
from agentwatch.evaluators._claims import IndexCache, build_index
from agentwatch.evaluators._groundedness import _INDEXES

PIECES = [
    "Refund requests must be filed within 30 days. Refunds are paid to the original payment method.",
    "Bob Diaz leads the search team. The search team is based in Lisbon; it answers within 2 days.",
    "Express shipping takes 1 business day, but standard shipping takes 3 to 5 business days.",
]
OUTPUTS = [
    "Refunds are available for 60 days.",
    "Bob Diaz leads the search team, which is based in Lisbon.",
    "Standard shipping takes 3 to 5 business days.",
    "Alice Chen leads the search team.",
    "Express shipping takes two weeks.",
]


def _shape(index: Any) -> list[tuple[str, int, frozenset[str]]]:
    return [(unit.text, unit.sentence_index, unit.resolved_stems) for unit in index.units]


def test_assembled_index_equals_fresh_build() -> None:
    cache = IndexCache()
    for piece in PIECES[:2]:
        cache.piece(piece)
    assembled = cache.get(tuple(PIECES))
    fresh = build_index(PIECES)
    assert _shape(assembled) == _shape(fresh)
    assert [unit.sentence_index for unit in assembled.sentences] == list(range(len(fresh.sentences)))
    assert assembled.by_stem == fresh.by_stem
    assert assembled.mid_sentence_entities == fresh.mid_sentence_entities
    assert assembled.quantities_by_dimension.keys() == fresh.quantities_by_dimension.keys()


def test_sentence_units_are_the_listed_sentences() -> None:
    index = IndexCache().get(tuple(PIECES))
    for unit in index.units:
        sentence = index.sentences[unit.sentence_index]
        assert unit is sentence or unit.text in sentence.text


def test_repeated_piece_is_a_hit() -> None:
    cache = IndexCache()
    cache.get(tuple(PIECES[:2]))
    assert cache.piece_misses == 2
    cache.get(tuple(PIECES))
    assert cache.piece_hits == 2
    assert cache.piece_misses == 3


def test_same_piece_twice_in_one_context() -> None:
    index = IndexCache().get((PIECES[0], PIECES[0]))
    fresh = build_index([PIECES[0], PIECES[0]])
    assert _shape(index) == _shape(fresh)
    assert index.sentences[2] is not index.sentences[0]


def test_piece_count_is_bounded() -> None:
    cache = IndexCache(max_pieces=3)
    for number in range(10):
        cache.piece(f"Ticket {number} was closed after {number + 1} days.")
    assert cache.piece_count == 3
    cache.piece("Ticket 9 was closed after 10 days.")
    assert cache.piece_hits == 1
    cache.piece("Ticket 0 was closed after 1 days.")
    assert cache.piece_misses == 11


def test_piece_characters_are_bounded() -> None:
    cache = IndexCache(max_piece_chars=100)
    pieces = [f"Team {number} answers tickets within {number} business days." for number in range(5)]
    for piece in pieces:
        cache.piece(piece)
    assert cache.piece_chars <= 100
    assert cache.piece_count == 100 // len(pieces[0])
    cache.piece("x" * 101)
    assert cache.piece_chars <= 100


def test_context_entries_are_bounded() -> None:
    cache = IndexCache(max_entries=2)
    for count in range(1, 4):
        cache.get(tuple(PIECES[:count]))
    assert len(cache) == 2


def test_invalid_bounds_raise() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        IndexCache(max_pieces=0)


@pytest.mark.parametrize("evaluator_type", [Groundedness, HallucinationScore])
def test_results_same_with_and_without_cache(evaluator_type: type[Groundedness | HallucinationScore]) -> None:
    evaluator = evaluator_type(embedder=None)
    expected = []
    for output in OUTPUTS:
        _INDEXES.clear()
        expected.append(evaluator.evaluate(output=output, context=PIECES))
    _INDEXES.clear()
    for step in range(1, len(PIECES) + 1):
        evaluator.evaluate(output=OUTPUTS[0], context=PIECES[:step])
    for output, cold in zip(OUTPUTS, expected, strict=True):
        warm = evaluator.evaluate(output=output, context=PIECES)
        assert (warm.score, warm.label, warm.reason) == (cold.score, cold.label, cold.reason)
        assert warm.details == cold.details


def test_concurrent_lookups_agree() -> None:
    cache = IndexCache(max_pieces=2)
    shapes: list[list[tuple[str, int, frozenset[str]]]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            shape = _shape(cache.get(tuple(PIECES)))
            with lock:
                shapes.append(shape)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(shape == _shape(build_index(PIECES)) for shape in shapes)
    assert cache.piece_count <= 2


class CountingEmbedder:
    """Wraps the bundled model and records the texts it is asked to embed."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.texts: list[str] = []

    def available(self) -> bool:
        return True

    def embed(self, texts: Any) -> Any:
        self.texts.extend(texts)
        return self.model.embed(texts)


def test_unit_vectors_kept_per_piece(embedder: Any) -> None:
    counting = CountingEmbedder(embedder)
    evaluator = Groundedness(embedder=counting)
    claim = "The money goes back to the card or account you paid with."
    _INDEXES.clear()
    first = evaluator.evaluate(output=claim, context=PIECES[:1])
    assert first.tier == "T1"
    embedded_first = list(counting.texts)
    assert claim in embedded_first
    counting.texts.clear()
    second = evaluator.evaluate(output=claim, context=PIECES)
    assert set(counting.texts).isdisjoint(set(embedded_first) - {claim})
    assert second.details[0]["verdict"] == first.details[0]["verdict"]
