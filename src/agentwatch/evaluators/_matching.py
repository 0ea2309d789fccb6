"""Optimal one-to-one matching of expected and actual tool calls."""

from __future__ import annotations

from collections.abc import Sequence


def best_assignment(similarity: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Return the row-column pairs that maximise the summed similarity (Hungarian algorithm).

    The matrix may be rectangular; each row and column is used at most once. Runs in O(n^3), so
    the order of the expected list never changes the result, unlike a greedy match.
    """
    rows = len(similarity)
    columns = len(similarity[0]) if rows else 0
    if rows == 0 or columns == 0:
        return []
    size = max(rows, columns)
    # Minimise cost = 1 - similarity on a square matrix padded with zero-similarity cells.
    cost = [
        [1.0 - (similarity[r][c] if r < rows and c < columns else 0.0) for c in range(size)]
        for r in range(size)
    ]
    infinity = float("inf")
    row_potential = [0.0] * (size + 1)
    column_potential = [0.0] * (size + 1)
    row_of_column = [0] * (size + 1)  # 1-based; 0 means unassigned
    way = [0] * (size + 1)
    for row in range(1, size + 1):
        row_of_column[0] = row
        column = 0
        min_slack = [infinity] * (size + 1)
        used = [False] * (size + 1)
        while True:
            used[column] = True
            current_row = row_of_column[column]
            delta, next_column = infinity, 0
            for candidate in range(1, size + 1):
                if used[candidate]:
                    continue
                slack = (
                    cost[current_row - 1][candidate - 1]
                    - row_potential[current_row]
                    - column_potential[candidate]
                )
                if slack < min_slack[candidate]:
                    min_slack[candidate], way[candidate] = slack, column
                if min_slack[candidate] < delta:
                    delta, next_column = min_slack[candidate], candidate
            for candidate in range(size + 1):
                if used[candidate]:
                    row_potential[row_of_column[candidate]] += delta
                    column_potential[candidate] -= delta
                else:
                    min_slack[candidate] -= delta
            column = next_column
            if row_of_column[column] == 0:
                break
        while column:
            previous = way[column]
            row_of_column[column] = row_of_column[previous]
            column = previous
    pairs = []
    for column in range(1, size + 1):
        row = row_of_column[column]
        if row and row - 1 < rows and column - 1 < columns:
            pairs.append((row - 1, column - 1))
    return sorted(pairs)


def best_ordered_alignment(similarity: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Return the order-preserving row-column pairs with the largest summed similarity."""
    rows = len(similarity)
    columns = len(similarity[0]) if rows else 0
    table = [[0.0] * (columns + 1) for _ in range(rows + 1)]
    for r in range(1, rows + 1):
        for c in range(1, columns + 1):
            table[r][c] = max(
                table[r - 1][c], table[r][c - 1], table[r - 1][c - 1] + similarity[r - 1][c - 1]
            )
    pairs = []
    r, c = rows, columns
    while r and c:
        if table[r][c] == table[r - 1][c]:
            r -= 1
        elif table[r][c] == table[r][c - 1]:
            c -= 1
        else:
            pairs.append((r - 1, c - 1))
            r, c = r - 1, c - 1
    return sorted(pairs)
