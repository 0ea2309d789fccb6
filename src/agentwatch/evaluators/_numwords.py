"""Numbers written as words ("thirty", "forty-eight", "two hundred", "an hour") turned into digits."""

from __future__ import annotations

import re

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_MULTIPLIERS = {"hundred": 100, "thousand": 1000}
_WORD = "|".join(sorted([*_SMALL, *_TENS, *_MULTIPLIERS, "dozen"], key=len, reverse=True))
_SEQUENCE_RE = re.compile(rf"\b(?:{_WORD})(?:(?:\s+and\s+|[\s-]+)(?:{_WORD}))*\b")
# "in a day", "for an hour": an article after a preposition counts one unit. After a quantity
# ("$25 a month") the article marks a rate, so it stays.
_ARTICLE_UNIT_RE = re.compile(
    r"\b(in|for|within|after|than|about|over|under|to|by|of|lasts?|takes?|every|once)\s+(?:a|an)\s+"
    r"(second|minute|hour|day|week|month|year|fortnight|business day|working day)\b"
)
_HALF_RE = re.compile(r"\bhalf an? (hour|day|year)\b")
_CLOCK_WORDS_RE = re.compile(r"\b(half|quarter) (past|to) (\d{1,2})\b")


def _sequence_value(words: list[str]) -> int | None:
    total, current = 0, 0
    for word in words:
        if word in _SMALL:
            current += _SMALL[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif word == "dozen":
            current = max(current, 1) * 12
        else:
            return None
    return total + current


def _replace_sequence(match: re.Match[str]) -> str:
    words = [word for word in re.split(r"[\s-]+", match.group(0)) if word and word != "and"]
    value = _sequence_value(words)
    return match.group(0) if value is None else str(value)


def _replace_clock(match: re.Match[str]) -> str:
    part, direction, hour = match.group(1), match.group(2), int(match.group(3))
    minutes = 30 if part == "half" else 15
    if direction == "to":
        hour, minutes = (hour - 1) % 24, 60 - minutes
    return f"{hour}:{minutes:02d}"


def words_to_digits(text: str) -> str:
    """Rewrite number words in lower-case text as digits; leave everything else unchanged."""
    if _HALF_RE.search(text):
        text = _HALF_RE.sub(lambda m: "0.5 " + m.group(1), text)
    text = _ARTICLE_UNIT_RE.sub(lambda m: f"{m.group(1)} 1 {m.group(2)}", text)
    text = _SEQUENCE_RE.sub(_replace_sequence, text)
    if "past" in text or " to " in text:
        text = _CLOCK_WORDS_RE.sub(_replace_clock, text)
    return text
