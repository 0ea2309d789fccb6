"""SqliteSpanExporter: the rows it writes, thread safety and failure handling."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import agentwatch.store
from agentwatch import semconv
from agentwatch.store import SCHEMA_VERSION, SqliteSpanExporter

START_NS = 1_700_000_000_000_000_000


def make_provider(exporter: SqliteSpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({semconv.SERVICE_NAME: "store-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def read_rows(path: Path) -> list[sqlite3.Row]:
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute("SELECT * FROM spans ORDER BY start_time_ns").fetchall()
    finally:
        connection.close()


def test_export_writes_every_field(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "traces.db"
    exporter = SqliteSpanExporter(path)
    provider = make_provider(exporter)
    tracer = provider.get_tracer("tests")

    root = tracer.start_span("invoke_agent support", start_time=START_NS)
    root_context = root.get_span_context()
    child = tracer.start_span(
        "chat smollm2",
        context=trace.set_span_in_context(root),
        kind=SpanKind.CLIENT,
        start_time=START_NS + 1_000,
        links=[Link(root_context, {"link.reason": "retry"})],
    )
    child.set_attribute(semconv.GEN_AI_REQUEST_MODEL, "smollm2")
    child.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 12)
    child.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, ("stop", "length"))
    child.add_event(
        semconv.EVENT_EVALUATION_RESULT,
        {semconv.GEN_AI_EVALUATION_SCORE_LABEL: "grounded", semconv.GEN_AI_EVALUATION_SCORE_VALUE: 0.75},
        timestamp=START_NS + 2_000,
    )
    child.set_status(Status(StatusCode.ERROR, "upstream timed out"))
    child.end(end_time=START_NS + 5_000)
    root.end(end_time=START_NS + 9_000)
    provider.shutdown()

    rows = read_rows(path)
    assert len(rows) == 2
    root_row, child_row = rows

    assert root_row["trace_id"] == format(root_context.trace_id, "032x")
    assert root_row["span_id"] == format(root_context.span_id, "016x")
    assert root_row["parent_span_id"] is None
    assert root_row["kind"] == "INTERNAL"
    assert root_row["status_code"] == "UNSET"
    assert root_row["end_time_ns"] == START_NS + 9_000

    assert child_row["trace_id"] == root_row["trace_id"]
    assert child_row["parent_span_id"] == root_row["span_id"]
    assert len(child_row["span_id"]) == 16
    assert child_row["name"] == "chat smollm2"
    assert child_row["kind"] == "CLIENT"
    assert child_row["start_time_ns"] == START_NS + 1_000
    assert child_row["end_time_ns"] == START_NS + 5_000
    assert child_row["status_code"] == "ERROR"
    assert child_row["status_description"] == "upstream timed out"
    assert child_row["service_name"] == "store-tests"
    assert json.loads(child_row["attributes"]) == {
        semconv.GEN_AI_REQUEST_MODEL: "smollm2",
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop", "length"],
    }
    assert json.loads(child_row["events"]) == [
        {
            "name": semconv.EVENT_EVALUATION_RESULT,
            "time_ns": START_NS + 2_000,
            "attributes": {
                semconv.GEN_AI_EVALUATION_SCORE_LABEL: "grounded",
                semconv.GEN_AI_EVALUATION_SCORE_VALUE: 0.75,
            },
        }
    ]
    assert json.loads(child_row["links"]) == [
        {
            "trace_id": root_row["trace_id"],
            "span_id": root_row["span_id"],
            "attributes": {"link.reason": "retry"},
        }
    ]


def test_export_records_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    exporter = SqliteSpanExporter(path)

    assert exporter.export([]) is SpanExportResult.SUCCESS
    exporter.shutdown()

    connection = sqlite3.connect(path)
    try:
        versions = connection.execute("SELECT version FROM schema_version").fetchall()
        journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()
    assert versions == [(SCHEMA_VERSION,)]
    assert journal_mode == "wal"


def test_export_reopens_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    for name in ("first", "second"):
        provider = make_provider(SqliteSpanExporter(path))
        provider.get_tracer("tests").start_span(name).end()
        provider.shutdown()

    assert [row["name"] for row in read_rows(path)] == ["first", "second"]
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    finally:
        connection.close()


def test_concurrent_exports_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    provider = make_provider(SqliteSpanExporter(path))
    tracer = provider.get_tracer("tests")
    thread_count, spans_per_thread = 8, 50
    barrier = threading.Barrier(thread_count)

    def emit(worker: int) -> None:
        barrier.wait()
        for index in range(spans_per_thread):
            tracer.start_span(f"worker-{worker}-{index}").end()

    with ThreadPoolExecutor(max_workers=thread_count) as pool:
        futures = [pool.submit(emit, worker) for worker in range(thread_count)]
        for future in futures:
            future.result()  # re-raises an error from the worker thread
    provider.shutdown()

    rows = read_rows(path)
    assert len(rows) == thread_count * spans_per_thread
    assert len({row["span_id"] for row in rows}) == thread_count * spans_per_thread
    expected_names = {f"worker-{w}-{i}" for w in range(thread_count) for i in range(spans_per_thread)}
    assert {row["name"] for row in rows} == expected_names


def test_export_after_shutdown_fails_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "traces.db"
    exporter = SqliteSpanExporter(path)
    provider = TracerProvider()
    tracer = provider.get_tracer("tests")
    span = tracer.start_span("late")
    span.end()
    exporter.export([span])
    exporter.shutdown()

    with caplog.at_level(logging.WARNING, logger="agentwatch.store._exporter"):
        result = exporter.export([span])

    assert result is SpanExportResult.FAILURE
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert "shut down" in caplog.records[0].getMessage()
    assert len(read_rows(path)) == 1


def test_shutdown_twice_is_harmless(tmp_path: Path) -> None:
    exporter = SqliteSpanExporter(tmp_path / "traces.db")
    exporter.export([])
    exporter.shutdown()
    exporter.shutdown()

    assert exporter.export([]) is SpanExportResult.FAILURE


def test_export_into_corrupt_file_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "traces.db"
    path.write_bytes(bytes(range(256)) * 16)
    exporter = SqliteSpanExporter(path)
    span = TracerProvider().get_tracer("tests").start_span("lost")
    span.end()

    with caplog.at_level(logging.DEBUG, logger="agentwatch.store._exporter"):
        first = exporter.export([span])
        second = exporter.export([span])

    assert first is SpanExportResult.FAILURE
    assert second is SpanExportResult.FAILURE
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG]
    assert str(path) in caplog.records[0].getMessage()


def test_export_into_folder_path_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exporter = SqliteSpanExporter(tmp_path)
    span = TracerProvider().get_tracer("tests").start_span("lost")
    span.end()

    with caplog.at_level(logging.WARNING, logger="agentwatch.store._exporter"):
        result = exporter.export([span])

    assert result is SpanExportResult.FAILURE
    assert len(caplog.records) == 1


def test_export_into_newer_schema_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "traces.db"
    exporter = SqliteSpanExporter(path)
    exporter.export([])
    exporter.shutdown()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    connection.close()

    span = TracerProvider().get_tracer("tests").start_span("lost")
    span.end()
    with caplog.at_level(logging.WARNING, logger="agentwatch.store._exporter"):
        result = SqliteSpanExporter(path).export([span])

    assert result is SpanExportResult.FAILURE
    assert f"schema version {SCHEMA_VERSION + 1}" in caplog.records[0].getMessage()
    assert read_rows(path) == []


def test_bytes_attribute_is_stored_as_text(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    provider = make_provider(SqliteSpanExporter(path))
    span = provider.get_tracer("tests").start_span("bytes", attributes={"payload": b"caf\xc3\xa9"})
    span.end()
    provider.shutdown()

    assert json.loads(read_rows(path)[0]["attributes"]) == {"payload": "café"}


def test_batch_processor_flushes_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    script = textwrap.dedent(
        """
        import sys
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from agentwatch.store import SqliteSpanExporter

        provider = TracerProvider(shutdown_on_exit=True)
        # A long schedule delay: only the flush at interpreter exit can write these spans.
        provider.add_span_processor(
            BatchSpanProcessor(SqliteSpanExporter(sys.argv[1]), schedule_delay_millis=60_000)
        )
        tracer = provider.get_tracer("exit-test")
        for index in range(3):
            tracer.start_span(f"span-{index}").end()
        """
    )
    source_root = Path(agentwatch.store.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source_root), os.environ.get("PYTHONPATH", "")])}

    completed = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True, timeout=60
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert [row["name"] for row in read_rows(path)] == ["span-0", "span-1", "span-2"]
