"""Reversible redaction: replace sensitive values with placeholders and put them back later."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ._pii import CARD, EMAIL, IBAN, PHONE, PiiGuardrail
from ._result import Span
from ._secrets import SecretsGuardrail


class Detector(Protocol):
    """Anything with ``find(text) -> [(start, end, kind), ...]``, such as :class:`PiiGuardrail`."""

    def find(self, text: str) -> list[Span]: ...


# A placeholder as written, or as a model may echo it: other case, spaces inside the brackets,
# HTML-escaped brackets.
_PLACEHOLDER_RE = re.compile(r"(?:<|&lt;)\s*([A-Za-z][A-Za-z_]*?)_(\d+)\s*(?:>|&gt;)")
# A tail of a chunk that may be the start of a placeholder split across chunks.
_PARTIAL_RE = re.compile(r"(?:<|&(?:l(?:t(?:;)?)?)?)[\sA-Za-z_0-9]{0,40}(?:&(?:g(?:t)?)?)?\Z")


def _canonical(kind: str, value: str) -> str:
    # The same value written two ways gets one placeholder.
    if kind in (PHONE, CARD):
        return "+" + re.sub(r"\D", "", value) if value.lstrip().startswith("+") else re.sub(r"\D", "", value)
    if kind == IBAN:
        return value.replace(" ", "").upper()
    if kind == EMAIL:
        return value.lower()
    return value


class Redactor:
    """A vault that swaps sensitive values for placeholders such as ``<EMAIL_1>`` and back.

    Use one redactor per conversation or agent run. Within it, the same value always gets the same
    placeholder (phone and card numbers compared by digits, e-mail addresses case-insensitively),
    so the model can refer to it consistently. :meth:`restore` puts the real values back in the
    model's response wherever it repeats a placeholder, in any order. Placeholders this redactor did
    not issue are left alone. Thread-safe.

    Args:
        detectors: what to redact; default secrets first, then PII (secrets win where they overlap).

    Example:
        >>> redactor = Redactor()
        >>> redactor.redact("Mail jane@example.com")
        'Mail <EMAIL_1>'
        >>> redactor.restore("I wrote to <EMAIL_1>.")
        'I wrote to jane@example.com.'
    """

    def __init__(self, detectors: Sequence[Detector] | None = None) -> None:
        self.detectors: tuple[Detector, ...] = (
            tuple(detectors) if detectors is not None else (SecretsGuardrail(), PiiGuardrail())
        )
        self._lock = threading.Lock()
        self._by_value: dict[tuple[str, str], str] = {}
        self._values: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    @property
    def mapping(self) -> dict[str, str]:
        """A copy of the vault: placeholder to original value."""
        with self._lock:
            return dict(self._values)

    def find(self, text: str) -> list[Span]:
        """Return the spans the detectors find, without overlaps (earlier detectors win)."""
        kept: list[Span] = []
        for detector in self.detectors:
            for span in detector.find(text):
                if not any(span[0] < other[1] and other[0] < span[1] for other in kept):
                    kept.append(span)
        return sorted(kept)

    def redact(self, text: str) -> str:
        """Replace every value the detectors find with its placeholder."""
        return self.redact_spans(text, self.find(text))

    def redact_spans(self, text: str, spans: Iterable[Span]) -> str:
        """Replace the given ``(start, end, kind)`` spans with placeholders; overlapping spans are skipped."""
        pieces: list[str] = []
        position = 0
        for start, end, kind in sorted(spans):
            if start < position or end <= start:
                continue
            pieces.append(text[position:start])
            pieces.append(self.placeholder(kind, text[start:end]))
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def placeholder(self, kind: str, value: str) -> str:
        """Return the placeholder for ``value``, issuing a new one the first time it is seen."""
        label = re.sub(r"[^A-Z]+", "_", kind.upper()).strip("_") or "VALUE"
        key = (label, _canonical(kind, value))
        with self._lock:
            existing = self._by_value.get(key)
            if existing is not None:
                return existing
            number = self._counts.get(label, 0) + 1
            self._counts[label] = number
            placeholder = f"<{label}_{number}>"
            self._by_value[key] = placeholder
            self._values[placeholder] = value
            return placeholder

    def restore(self, text: str) -> str:
        """Put the original values back wherever ``text`` contains a placeholder of this redactor."""
        if not isinstance(text, str):
            return text
        with self._lock:
            values = dict(self._values)
        if not values:
            return text

        def replace(match: re.Match[str]) -> str:
            placeholder = f"<{match.group(1).upper()}_{int(match.group(2))}>"
            return values.get(placeholder, match.group())

        return _PLACEHOLDER_RE.sub(replace, text)

    def restore_stream(self, chunks: Iterable[str]) -> Iterator[str]:
        """Restore a streamed response chunk by chunk, holding back a tail that may be a split placeholder."""
        pending = ""
        for chunk in chunks:
            text = pending + chunk
            tail = _PARTIAL_RE.search(text)
            cut = tail.start() if tail is not None else len(text)
            pending = text[cut:]
            if cut:
                yield self.restore(text[:cut])
        if pending:
            yield self.restore(pending)
