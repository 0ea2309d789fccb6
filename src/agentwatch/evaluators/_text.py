"""Input coercion and the light text normalisation that the rule-based tier works on."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: Inputs longer than this are cut; the evaluators then report that they saw only part of it.
MAX_OUTPUT_CHARS = 100_000
MAX_CONTEXT_CHARS = 2_000_000


@dataclass(frozen=True)
class CoercedText:
    """Text taken from an input of any type, with what went wrong on the way."""

    text: str
    truncated: bool = False
    problem: str | None = None


def _message_content(item: Mapping[str, object]) -> str | None:
    # OpenAI chat messages and retrieval documents: take the text field they carry.
    for key in ("content", "text", "page_content", "output", "result"):
        value = item.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            parts = [_part_text(part) for part in value]
            return "\n".join(part for part in parts if part)
    return None


def _part_text(part: object) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping):
        text = part.get("text")
        if isinstance(text, str):
            return text
    return ""


def coerce_text(value: object, limit: int) -> CoercedText:
    """Turn an evaluator input into text without raising.

    Strings pass through; lists and tuples are joined with blank lines; bytes are decoded as UTF-8;
    chat messages and documents give their ``content``/``text``; other mappings are JSON-encoded.
    Numbers are written out. Anything else is reported through ``problem``.
    """
    if value is None:
        return CoercedText("", problem="missing")
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, bool):
        return CoercedText("", problem=f"expected text, got {type(value).__name__}")
    elif isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, Mapping):
        content = _message_content(value)
        if content is None:
            try:
                content = json.dumps(value, default=str, ensure_ascii=False)
            except (TypeError, ValueError):
                return CoercedText("", problem="a mapping that cannot be read as text")
        text = content
    elif isinstance(value, (list, tuple)):
        pieces: list[str] = []
        size = 0
        for item in value:
            piece = coerce_text(item, limit).text
            if piece:
                pieces.append(piece)
                size += len(piece)
            if size > limit:
                break
        text = "\n\n".join(pieces)
    else:
        return CoercedText("", problem=f"expected text, got {type(value).__name__}")
    if len(text) > limit:
        return CoercedText(text[:limit], truncated=True)
    return CoercedText(text)


_TRANSLATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": " - ",
        "\u2212": "-",
        "\u00a0": " ",
        "\u202f": " ",
    }
)

_CONTRACTIONS = (
    (re.compile(r"\bcan't\b|\bcannot\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'ve\b"), " have"),
)


def normalise(text: str) -> str:
    """Lower-case the text, unify quotes and dashes, and expand negative contractions."""
    lowered = text.translate(_TRANSLATION).lower()
    if "'" in lowered or "cannot" in lowered:
        for pattern, replacement in _CONTRACTIONS:
            lowered = pattern.sub(replacement, lowered)
    return lowered


WORD_RE = re.compile(r"[a-z]+(?:-[a-z]+)*|\d+(?:[.,:]\d+)*")

STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from into onto as is are was were
    be been being am do does did doing has have had having it its this that these those there here
    they them their he she him her his hers we us our you your i me my mine which who whom whose
    what when where why how than also just very can could may might must shall should will would
    per each about after before within up down out off again further once any both either own same
    such too s t one ones other another etc via upon while whereas because until unless during
    through over under above below between among against toward towards around across along
    based more less fewer most least come comes came coming go goes went get gets got""".split()
)

#: Words whose meaning the rule checks read separately (negation, comparators, quantifiers).
NEGATIONS = frozenset({"not", "no", "never", "none", "nothing", "nobody", "neither", "nor", "without"})


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """Reduce a lower-case word to a crude stem, so "expires", "expired" and "expire" match."""
    if len(word) <= 3 or word[0].isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ingly", "edly", "ings", "ing", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    else:
        if word.endswith("es") and len(word) > 4 and word[-3] in "sxz":
            word = word[:-2]
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsaeiou":
        word = word[:-1]
    return word


def content_words(tokens: Sequence[str]) -> list[str]:
    """Return the stems of the tokens that carry content (no stop words, negations or digits)."""
    return [
        stem(token)
        for token in tokens
        if token not in STOPWORDS and token not in NEGATIONS and not token[0].isdigit()
    ]
