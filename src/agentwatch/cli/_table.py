"""Plain text tables and number formatting for terminal output."""

from __future__ import annotations

from collections.abc import Sequence

MAX_WIDTH = 100
_GAP = "  "
_ELLIPSIS = ".."
_MIN_SHRUNK_WIDTH = 8


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right_aligned: frozenset[int] = frozenset(),
    shrinkable: Sequence[int] = (),
    max_width: int = MAX_WIDTH,
) -> str:
    """Render rows under headers as aligned columns at most `max_width` characters wide.

    When the table is too wide, the columns listed in `shrinkable` lose width (widest first,
    down to 8 characters). A cut cell keeps its start and end around "..", because both
    ends of a model name or a host:port carry meaning.
    """
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - max_width
    while excess > 0:
        candidates = [index for index in shrinkable if widths[index] > _MIN_SHRUNK_WIDTH]
        if not candidates:
            break
        widest = max(candidates, key=lambda index: widths[index])
        widths[widest] -= 1
        excess -= 1

    lines = [_format_row(headers, widths, right_aligned)]
    lines.extend(_format_row(row, widths, right_aligned) for row in rows)
    return "\n".join(lines)


def _format_row(cells: Sequence[str], widths: Sequence[int], right_aligned: frozenset[int]) -> str:
    parts = []
    for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        if len(cell) > width:
            cell = shorten_middle(cell, width)
        parts.append(cell.rjust(width) if index in right_aligned else cell.ljust(width))
    return _GAP.join(parts).rstrip()


def shorten_middle(text: str, width: int) -> str:
    """Cut `text` to `width` characters by replacing its middle with ".."."""
    if len(text) <= width:
        return text
    kept = width - len(_ELLIPSIS)
    head = (kept + 1) // 2
    return text[:head] + _ELLIPSIS + text[len(text) - (kept - head) :]


def format_number(value: float | None, decimals: int = 1) -> str:
    """Format a number with fixed decimals, or an empty cell for None."""
    if value is None:
        return ""
    return f"{value:.{decimals}f}"


def format_count(value: int | None) -> str:
    """Format an integer count, or an empty cell for None."""
    return "" if value is None else str(value)
