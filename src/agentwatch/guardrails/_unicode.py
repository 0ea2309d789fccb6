"""Text folding for pattern checks: invisible characters, compatibility forms and look-alikes.

``fold`` maps text to a lower-case Latin "skeleton" on which English phrase patterns match, and
keeps the offsets back to the original text so that spans point at what the user sent:

- invisible format characters (zero-width, bidi controls, Unicode tag characters, soft hyphen)
  are removed;
- each other character is NFKD-decomposed and its combining marks dropped, which maps fullwidth
  and mathematical letters to ASCII and strips accents (``ｉｇｎｏｒｅ``, ``ïgnöre``);
- Cyrillic and Greek letters that look like Latin ones are mapped to them (a small table of the
  common look-alikes, not the full Unicode confusables list);
- the digits and symbols of "leetspeak" map to letters (``1gn0re``), so patterns hold no digits.
"""

from __future__ import annotations

import bisect
import re
import threading
import unicodedata
from dataclasses import dataclass

# Zero-width and joiner characters, word joiner and invisible operators, soft hyphen, BOM, Mongolian
# vowel separator, Hangul fillers.
ZERO_WIDTH = frozenset(
    "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u115f\u1160\u3164\uffa0"
)
# Directional marks, embeddings, overrides and isolates (Unicode bidirectional algorithm, UAX #9).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The overrides force a display order, which hides the logical order of the text (Trojan Source).
BIDI_OVERRIDES = frozenset("\u202d\u202e")
TAG_FIRST = 0xE0000
TAG_LAST = 0xE007F

_LOOKALIKES = {
    # Cyrillic lower case
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ӏ": "l", "һ": "h", "ԛ": "q", "ԝ": "w", "ь": "b", "г": "r", "п": "n",
    # Cyrillic upper case
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "У": "y", "Х": "x", "Ѕ": "s", "І": "i", "Ј": "j", "Ԛ": "q", "Ԝ": "w",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h",
    "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    # Latin letters outside ASCII that NFKD leaves alone
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "ɡ": "g", "ǀ": "l",
    # Punctuation
    "‘": "'", "’": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"', "–": "-", "—": "-", "−": "-",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u3000": " ",
}  # fmt: skip

_LEET = str.maketrans("0134578@$", "oieastbas")
_LEET_BYTES = bytes.maketrans(b"0134578@$", b"oieastbas")

_CACHE_MAX = 4096
_cache: dict[str, str] = {}
_cache_lock = threading.Lock()
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")
_LATIN_LETTER_RE = re.compile(r"[a-zA-Z]")


def _fold_char(char: str) -> str:
    if char in ZERO_WIDTH or char in BIDI_CONTROLS:
        return ""
    code = ord(char)
    if TAG_FIRST <= code <= TAG_LAST or 0xFE00 <= code <= 0xFE0F:
        return ""
    mapped = _LOOKALIKES.get(char)
    if mapped is not None:
        return mapped
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(part for part in decomposed if not unicodedata.combining(part))
    if unicodedata.category(char) == "Cf":
        return ""
    return "".join(_LOOKALIKES.get(part, part) for part in kept).lower()


def fold_char(char: str) -> str:
    """Return the folded form of one character (cached; thread-safe)."""
    folded = _cache.get(char)
    if folded is None:
        folded = _fold_char(char)
        with _cache_lock:
            if len(_cache) < _CACHE_MAX:
                _cache[char] = folded
    return folded


@dataclass(frozen=True)
class FoldedText:
    """Folded text and the map from its offsets back to the original text.

    Attributes:
        text: the folded text.
        original: the text it came from.
        starts: for each segment, its start in ``text``; segments are ASCII runs (mapped one to one)
            and single non-ASCII characters (mapped as a whole).
        origins: for each segment, its start in ``original``.
        lengths: for each segment, its length in ``original``.
    """

    text: str
    original: str
    starts: tuple[int, ...] = ()
    origins: tuple[int, ...] = ()
    lengths: tuple[int, ...] = ()

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span ``[start, end)`` of the folded text to the original text."""
        if not self.starts:
            return start, end
        return self._origin(start, is_end=False), self._origin(end - 1, is_end=True)

    def _origin(self, index: int, *, is_end: bool) -> int:
        segment = max(0, bisect.bisect_right(self.starts, index) - 1)
        origin = self.origins[segment]
        length = self.lengths[segment]
        folded_length = (
            self.starts[segment + 1] if segment + 1 < len(self.starts) else len(self.text)
        ) - self.starts[segment]
        if folded_length == length:
            return origin + index - self.starts[segment] + (1 if is_end else 0)
        return origin + length if is_end else origin


def fold(text: str) -> FoldedText:
    """Fold ``text`` for pattern matching; see the module docstring for the steps."""
    if text.isascii():
        return FoldedText(text.lower().encode("ascii").translate(_LEET_BYTES).decode("ascii"), text)

    parts: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    lengths: list[int] = []
    size = 0
    position = 0

    for match in _NON_ASCII_RE.finditer(text):
        if match.start() > position:
            run = text[position : match.start()].lower()
            starts.append(size)
            origins.append(position)
            lengths.append(len(run))
            parts.append(run)
            size += len(run)
        for offset, char in enumerate(match.group()):
            folded = fold_char(char)
            if folded:
                starts.append(size)
                origins.append(match.start() + offset)
                lengths.append(1)
                parts.append(folded)
                size += len(folded)
        position = match.end()

    if position < len(text):
        run = text[position:].lower()
        starts.append(size)
        origins.append(position)
        lengths.append(len(run))
        parts.append(run)
    folded_text = "".join(parts).translate(_LEET)
    return FoldedText(folded_text, text, tuple(starts), tuple(origins), tuple(lengths))


def hidden_tag_text(text: str) -> str:
    """Decode Unicode tag characters (U+E0020 to U+E007E) to the ASCII text they smuggle."""
    return "".join(
        chr(ord(char) - TAG_FIRST) for char in text if TAG_FIRST + 0x20 <= ord(char) <= TAG_FIRST + 0x7E
    )


_WORD_RE = re.compile(r"[^\W\d_]+")


def _script(char: str) -> str:
    if char.isascii():
        return "latin"
    name = unicodedata.name(char, "")
    if name.startswith("CYRILLIC"):
        return "cyrillic"
    if name.startswith("GREEK"):
        return "greek"
    if name.startswith("LATIN"):
        return "latin"
    return "other"


def mixed_script_words(text: str) -> list[tuple[int, int]]:
    """Return the spans of words that mix Latin letters with Cyrillic or Greek look-alikes."""
    spans = []
    for match in _WORD_RE.finditer(text):
        word = match.group()
        if word.isascii() or not _LATIN_LETTER_RE.search(word):
            continue
        scripts = {_script(char) for char in word}
        if "latin" in scripts and scripts & {"cyrillic", "greek"}:
            spans.append((match.start(), match.end()))
    return spans
