"""Assertion helpers: check span attributes exhaustively."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    return {
        key: (list(value) if isinstance(value, tuple) else value)
        for key, value in (span.attributes or {}).items()
    }


def assert_attributes(span: ReadableSpan, expected: dict[str, Any], *, ignore: tuple[str, ...] = ()) -> None:
    """Assert the span has exactly ``expected`` (plus the keys named in ``ignore``, any value)."""
    actual = attributes_of(span)
    for key in ignore:
        actual.pop(key, None)
    missing = {key: value for key, value in expected.items() if key not in actual}
    assert not missing, f"missing attributes: {missing}"
    wrong = {key: (actual[key], value) for key, value in expected.items() if actual[key] != value}
    assert not wrong, f"wrong attributes (actual, expected): {wrong}"
    extra = {key: value for key, value in actual.items() if key not in expected}
    assert not extra, f"unexpected attributes: {extra}"


def only(spans: list[ReadableSpan] | tuple[ReadableSpan, ...], name: str | None = None) -> ReadableSpan:
    matching = [span for span in spans if name is None or span.name == name]
    assert len(matching) == 1, f"expected one span named {name!r}, got {[s.name for s in spans]}"
    return matching[0]
