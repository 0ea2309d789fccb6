"""Embedded trace store: a local SQLite file of finished spans.

`SqliteSpanExporter` writes spans as an OpenTelemetry exporter, and `TraceStore` reads them
back for the `agentwatch` command line tool. One row per span stores the ids in hex, the name,
kind, start and end time in nanoseconds, status, `service.name` from the resource, and the
attributes, events and links as JSON.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
    >>> provider = TracerProvider(shutdown_on_exit=True)
    >>> provider.add_span_processor(BatchSpanProcessor(SqliteSpanExporter(".agentwatch/traces.db")))
"""

from __future__ import annotations

from agentwatch.store._exporter import SCHEMA_VERSION, SqliteSpanExporter
from agentwatch.store._reader import (
    MIN_TRACE_ID_PREFIX,
    StoredEvent,
    StoredLink,
    StoredSpan,
    StoreError,
    TraceStore,
)

__all__ = [
    "MIN_TRACE_ID_PREFIX",
    "SCHEMA_VERSION",
    "SqliteSpanExporter",
    "StoreError",
    "StoredEvent",
    "StoredLink",
    "StoredSpan",
    "TraceStore",
]
