"""Write finished spans into the embedded SQLite trace store."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentwatch import semconv

logger = logging.getLogger(__name__)

# Bump on any change to the tables below, and teach the reader and `_create_schema` to migrate.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_time_ns INTEGER NOT NULL,
    end_time_ns INTEGER NOT NULL,
    status_code TEXT NOT NULL,
    status_description TEXT,
    service_name TEXT,
    attributes TEXT NOT NULL,
    events TEXT NOT NULL,
    links TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_start_time ON spans (start_time_ns);
"""

_INSERT = """
INSERT OR REPLACE INTO spans (
    trace_id, span_id, parent_span_id, name, kind, start_time_ns, end_time_ns,
    status_code, status_description, service_name, attributes, events, links
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# Seconds a writer waits for another process's write lock before the batch fails.
_BUSY_TIMEOUT_S = 5.0


class SqliteSpanExporter(SpanExporter):
    """Span exporter that stores finished spans in a local SQLite file.

    The file and its parent folder are created on the first export, so a program that emits no
    span leaves nothing behind. Each batch is one transaction. Every method may be called from
    any thread (a `BatchSpanProcessor` exports from its worker thread and again at interpreter
    exit), and `export` never raises: a failure is logged and reported as
    `SpanExportResult.FAILURE`.

    Example:
        >>> provider = TracerProvider(shutdown_on_exit=True)
        >>> provider.add_span_processor(BatchSpanProcessor(SqliteSpanExporter(".agentwatch/traces.db")))
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._is_shut_down = False
        self._warned_errors: set[str] = set()

    @property
    def path(self) -> Path:
        """Path of the SQLite file this exporter writes."""
        return self._path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Insert one batch of finished spans in a single transaction."""
        with self._lock:
            if self._is_shut_down:
                self._warn_once(
                    "shutdown",
                    "Trace store %s is shut down, so %d spans were dropped.",
                    self._path,
                    len(spans),
                )
                return SpanExportResult.FAILURE
            try:
                rows = [_span_row(span) for span in spans]
                connection = self._connect()
                with connection:
                    connection.executemany(_INSERT, rows)
            except (sqlite3.Error, OSError, ValueError, TypeError) as error:
                self._warn_once(
                    type(error).__name__,
                    "Failed to write %d spans to trace store %s: %s",
                    len(spans),
                    self._path,
                    error,
                )
                return SpanExportResult.FAILURE
            except Exception:
                # A bug here must not reach the SDK's worker thread or the exit handler.
                logger.warning(
                    "Unexpected error writing %d spans to trace store %s",
                    len(spans),
                    self._path,
                    exc_info=True,
                )
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the database connection. Later exports return FAILURE."""
        with self._lock:
            self._is_shut_down = True
            if self._connection is not None:
                try:
                    self._connection.close()
                except sqlite3.Error as error:
                    logger.warning("Failed to close trace store %s: %s", self._path, error)
                self._connection = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return True, because every export commits before it returns."""
        return True

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection

        self._path.parent.mkdir(parents=True, exist_ok=True)
        # The lock above serializes all use, so sharing the connection across threads is safe.
        connection = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            _create_schema(connection)
        except sqlite3.Error:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        # One WARNING per kind of failure; repeats go to DEBUG so a broken path cannot flood
        # the log with one line per batch.
        if kind in self._warned_errors:
            logger.debug(message, *args)
            return
        self._warned_errors.add(kind)
        logger.warning(message, *args)


def _create_schema(connection: sqlite3.Connection) -> None:
    with connection:
        connection.executescript(_SCHEMA)
        row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
        version = row[0] if row is not None else None
        if version is None:
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"trace store has schema version {version}, but this agentwatch writes version "
                f"{SCHEMA_VERSION}; pass another path in AGENTWATCH_DB or move the file away"
            )


def _span_row(span: ReadableSpan) -> tuple[Any, ...]:
    context = span.context
    if context is None:
        raise ValueError(f"span {span.name!r} has no span context")

    parent_span_id = format(span.parent.span_id, "016x") if span.parent is not None else None
    events = [
        {"name": event.name, "time_ns": event.timestamp, "attributes": _plain(event.attributes)}
        for event in span.events
    ]
    links = [
        {
            "trace_id": format(link.context.trace_id, "032x"),
            "span_id": format(link.context.span_id, "016x"),
            "attributes": _plain(link.attributes),
        }
        for link in span.links
    ]
    service_name = span.resource.attributes.get(semconv.SERVICE_NAME)

    return (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        parent_span_id,
        span.name,
        span.kind.name,
        span.start_time or 0,
        span.end_time or span.start_time or 0,
        span.status.status_code.name,
        span.status.description,
        str(service_name) if service_name is not None else None,
        _to_json(_plain(span.attributes)),
        _to_json(events),
        _to_json(links),
    )


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    # The SDK stores sequence values as tuples; JSON writes them as lists.
    return dict(attributes) if attributes else {}


def _to_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=_json_fallback)


def _json_fallback(value: object) -> object:
    # OTel accepts bytes attribute values, which JSON has no type for.
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
