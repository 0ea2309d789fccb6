"""Read spans back from the embedded SQLite trace store."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from agentwatch.store._exporter import SCHEMA_VERSION

_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, start_time_ns, end_time_ns, "
    "status_code, status_description, service_name, attributes, events, links"
)

# A trace id prefix shorter than this matches too many runs to be useful.
MIN_TRACE_ID_PREFIX = 8

_HEX = re.compile(r"[0-9a-f]+")


class StoreError(Exception):
    """A trace database that is missing, unreadable, or contains no matching data.

    The message is one line that says what to do next, so a command line tool can print it
    as it is.
    """


@dataclass(frozen=True)
class StoredEvent:
    """Span event as stored: name, time in nanoseconds since the epoch, and attributes."""

    name: str
    time_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredLink:
    """Link from a span to another span, with hex ids."""

    trace_id: str
    span_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredSpan:
    """Finished span read from the store. Ids are lower-case hex, times are nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time_ns: int
    end_time_ns: int
    status_code: str
    status_description: str | None
    service_name: str | None
    attributes: dict[str, Any]
    events: tuple[StoredEvent, ...]
    links: tuple[StoredLink, ...]

    @property
    def duration_ns(self) -> int:
        """Span duration in nanoseconds."""
        return self.end_time_ns - self.start_time_ns

    @property
    def is_error(self) -> bool:
        """Whether the span ended with ERROR status."""
        return self.status_code == "ERROR"


class TraceStore:
    """Read-only view of an agentwatch trace database.

    Example:
        >>> with TraceStore.open(".agentwatch/traces.db") as store:
        ...     spans = store.trace_spans(store.resolve_trace_id("4bf92f35"))
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._path = path

    @classmethod
    def open(cls, path: str | Path) -> TraceStore:
        """Open the database at `path` read-only.

        Raises:
            StoreError: the file is missing, is not an SQLite database, or was not written
                by agentwatch (or by a newer agentwatch).
        """
        path = Path(path)
        if not path.exists():
            raise StoreError(
                f"No trace database at {path}. Run an instrumented program first, or pass --db PATH."
            )
        if not path.is_file():
            raise StoreError(f"{path} is not a file. Pass --db PATH with an agentwatch trace database.")

        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as error:
            raise StoreError(f"Cannot open trace database {path}: {error}.") from None

        try:
            _check_schema(connection, path)
        except BaseException:
            connection.close()
            raise
        return cls(connection, path)

    @property
    def path(self) -> Path:
        """Path of the open database file."""
        return self._path

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def count_spans(self) -> int:
        """Return the number of stored spans."""
        rows = self._query("SELECT COUNT(*) FROM spans")
        return int(rows[0][0])

    def spans(self, since_ns: int | None = None) -> list[StoredSpan]:
        """Return every span that started at or after `since_ns`, oldest first."""
        if since_ns is None:
            rows = self._query(f"SELECT {_COLUMNS} FROM spans ORDER BY start_time_ns")
        else:
            rows = self._query(
                f"SELECT {_COLUMNS} FROM spans WHERE start_time_ns >= ? ORDER BY start_time_ns",
                (since_ns,),
            )
        return self._read_spans(rows)

    def trace_spans(self, trace_id: str) -> list[StoredSpan]:
        """Return the spans of one trace, ordered by start time."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_time_ns, span_id",
            (trace_id,),
        )
        return self._read_spans(rows)

    def recent_trace_ids(self, limit: int) -> list[str]:
        """Return the ids of the `limit` traces that started last, newest first."""
        rows = self._query(
            "SELECT trace_id FROM spans GROUP BY trace_id ORDER BY MIN(start_time_ns) DESC, trace_id LIMIT ?",
            (limit,),
        )
        return [row[0] for row in rows]

    def resolve_trace_id(self, prefix: str) -> str:
        """Return the one stored trace id that starts with `prefix` (case-insensitive).

        Raises:
            StoreError: the prefix is not hex, is shorter than 8 characters, matches no trace,
                or matches more than one.
        """
        prefix = prefix.strip().lower()
        if not _HEX.fullmatch(prefix) or len(prefix) > 32:
            raise StoreError(f"Invalid trace id {prefix!r}: expected up to 32 hex characters.")
        if len(prefix) < MIN_TRACE_ID_PREFIX:
            raise StoreError(
                f"Trace id prefix {prefix!r} is too short: give at least "
                f"{MIN_TRACE_ID_PREFIX} hex characters."
            )

        # GLOB is case-sensitive and can use the primary key index; the prefix is plain hex,
        # so it contains no wildcard characters.
        rows = self._query(
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id GLOB ? LIMIT 2", (prefix + "*",)
        )
        matches = [row[0] for row in rows]
        if not matches:
            raise StoreError(
                f"No trace with id {prefix} in {self._path}. "
                f"Run `agentwatch --db {self._path} traces` to list runs."
            )
        if len(matches) > 1:
            raise StoreError(f"Trace id prefix {prefix} matches more than one trace. Give more characters.")
        return str(matches[0])

    def _read_spans(self, rows: list[tuple[Any, ...]]) -> list[StoredSpan]:
        try:
            return [_span_from_row(row) for row in rows]
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(f"Cannot read trace database {self._path}: {error}.") from None

    def _query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        # Fetch inside the try: SQLite reports a damaged page only when it reads that page.
        try:
            return self._connection.execute(sql, tuple(parameters)).fetchall()
        except sqlite3.Error as error:
            raise StoreError(f"Cannot read trace database {self._path}: {error}.") from None


def _check_schema(connection: sqlite3.Connection, path: Path) -> None:
    not_ours = (
        f"{path} is not an agentwatch trace database. Pass --db PATH with a file written by "
        "agentwatch, or move this file away."
    )
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"schema_version", "spans"} <= tables:
            raise StoreError(not_ours)
        row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.DatabaseError:
        # sqlite3 reports a file of random bytes as "file is not a database" on first read.
        raise StoreError(not_ours) from None

    version = row[0] if row is not None else None
    if not isinstance(version, int):
        raise StoreError(not_ours)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has trace schema version {version}, newer than this agentwatch reads "
            f"({SCHEMA_VERSION}). Upgrade agentwatch."
        )


def _span_from_row(row: tuple[Any, ...]) -> StoredSpan:
    (
        trace_id,
        span_id,
        parent_span_id,
        name,
        kind,
        start_time_ns,
        end_time_ns,
        status_code,
        status_description,
        service_name,
        attributes,
        events,
        links,
    ) = row
    return StoredSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=name,
        kind=kind,
        start_time_ns=start_time_ns,
        end_time_ns=end_time_ns,
        status_code=status_code,
        status_description=status_description,
        service_name=service_name,
        attributes=json.loads(attributes),
        events=tuple(_events_from_json(events)),
        links=tuple(_links_from_json(links)),
    )


def _events_from_json(text: str) -> Iterator[StoredEvent]:
    for event in json.loads(text):
        yield StoredEvent(name=event["name"], time_ns=event["time_ns"], attributes=event["attributes"])


def _links_from_json(text: str) -> Iterator[StoredLink]:
    for link in json.loads(text):
        yield StoredLink(trace_id=link["trace_id"], span_id=link["span_id"], attributes=link["attributes"])
