"""Blocked topics: configured words and phrases, matched case- and inflection-tolerantly."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._result import LABEL_CLEAN, Guardrail, GuardrailResult, Span
from ._unicode import FoldedText, fold

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_SUFFIXES = (
    ("ings", ""),
    ("ing", ""),
    ("ied", "y"),
    ("ies", "y"),
    ("'s", ""),
    ("ed", ""),
    ("es", ""),
    ("s", ""),
)
_VOWELS = frozenset("aeiouy")


def stem(word: str) -> str:
    """Strip one inflection (plural, -ing, -ed), a final e and a doubled final consonant.

    It is applied the same way to topics and to the text, so it needs to be consistent rather
    than linguistically right: "gambling", "gambles" and "gamble" all give "gambl".
    """
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) + len(replacement) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                continue
            word = word[: len(word) - len(suffix)] + replacement
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in _VOWELS and word[-1] not in "ls":
        word = word[:-1]
    return word


def _stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(token) for token in _TOKEN_RE.findall(fold(phrase).text))


class BlockedTopicsGuardrail(Guardrail):
    """Detect configured topics; the result names the topic that matched first.

    Args:
        topics: words or phrases. A phrase matches its words in order with nothing between them,
            after case folding and stemming ("medical advice" matches "Medical advices").
        max_chars: longer text is not scanned and gives an ``"error"`` result.

    Raises:
        ValueError: when a topic has no letters or digits.
    """

    name = "blocked_topics"
    security = True

    def __init__(self, topics: Iterable[str], *, max_chars: int | None = None) -> None:
        super().__init__(**({} if max_chars is None else {"max_chars": max_chars}))
        self.topics = tuple(topics)
        by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for topic in self.topics:
            if not isinstance(topic, str):
                raise ValueError(f"Invalid blocked topic {topic!r}: expected a string.")
            stems = _stems(topic)
            if not stems:
                raise ValueError(f"Invalid blocked topic {topic!r}: it has no letters or digits.")
            by_first.setdefault(stems[0], []).append((topic, stems))
        self._by_first = by_first
        # One regular expression finds the candidate words: each starts with a topic's first stem
        # (less a final "y", which the -ies rule rewrites).
        prefixes = sorted({first[:-1] if first.endswith("y") else first for first in by_first}, key=len)
        alternation = "|".join(re.escape(prefix) for prefix in reversed(prefixes))
        # No leading \b: a pattern that starts with literals is scanned much faster, so the word
        # boundary is checked on each hit instead.
        self._candidates = re.compile(rf"(?:{alternation})[a-z0-9']*") if prefixes else None

    def find(self, text: str) -> list[Span]:
        """Return one span per topic occurrence, with the configured topic as its kind."""
        if self._candidates is None:
            return []
        folded = fold(text)
        spans: list[Span] = []
        for match in self._candidates.finditer(folded.text):
            if match.start() > 0 and folded.text[match.start() - 1].isalnum():
                continue
            for topic, stems in self._by_first.get(stem(match.group()), ()):
                end = self._match_rest(folded, match.end(), stems[1:])
                if end is not None:
                    start, original_end = folded.original_span(match.start(), end)
                    spans.append((start, original_end, topic))
        return spans

    @staticmethod
    def _match_rest(folded: FoldedText, position: int, rest: tuple[str, ...]) -> int | None:
        end = position
        for expected in rest:
            token = _TOKEN_RE.search(folded.text, end)
            if (
                token is None
                or folded.text[end : token.start()].strip(" \t\n-/")
                or stem(token.group()) != expected
            ):
                return None
            end = token.end()
        return end

    def _check(self, stage: str, text: str) -> GuardrailResult:
        spans = self.find(text)
        if not spans:
            return self.result(stage, True, LABEL_CLEAN, "No blocked topic found.")
        topics = list(dict.fromkeys(kind for _, _, kind in spans))
        return self.result(
            stage, False, "blocked_topic", f"Matched blocked topic {', '.join(map(repr, topics))}.", spans
        )
