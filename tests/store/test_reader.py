"""TraceStore: opening databases, reading spans back and resolving trace ids."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

from agentwatch import semconv
from agentwatch.store import SCHEMA_VERSION, SqliteSpanExporter, StoredEvent, StoreError, TraceStore

START_NS = 1_700_000_000_000_000_000


class FixedIds(IdGenerator):
    """Hand out the trace id set by the test and span ids 1, 2, 3..."""

    def __init__(self) -> None:
        self.trace_id = 1
        self._span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        self._span_id += 1
        return self._span_id


def write_traces(path: Path, trace_ids: list[int]) -> None:
    ids = FixedIds()
    provider = TracerProvider(id_generator=ids)
    provider.add_span_processor(SimpleSpanProcessor(SqliteSpanExporter(path)))
    tracer = provider.get_tracer("tests")
    for offset, trace_id in enumerate(trace_ids):
        ids.trace_id = trace_id
        start = START_NS + offset * 1_000_000
        root = tracer.start_span("root", context=Context(), start_time=start)
        child = tracer.start_span("chat", context=trace.set_span_in_context(root), start_time=start + 10)
        child.add_event(
            semconv.EVENT_EVALUATION_RESULT,
            {semconv.GEN_AI_EVALUATION_SCORE_VALUE: 1.0},
            timestamp=start + 20,
        )
        child.end(end_time=start + 30)
        root.end(end_time=start + 40)
    provider.shutdown()


def test_open_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"

    with pytest.raises(StoreError) as raised:
        TraceStore.open(path)

    assert str(raised.value) == (
        f"No trace database at {path}. Run an instrumented program first, or pass --db PATH."
    )


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(bytes(range(256)) * 40, id="random-bytes"),
        pytest.param(b"", id="zero-bytes"),
    ],
)
def test_open_file_that_is_not_a_database(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "traces.db"
    path.write_bytes(content)

    with pytest.raises(StoreError) as raised:
        TraceStore.open(path)

    assert str(raised.value) == (
        f"{path} is not an agentwatch trace database. Pass --db PATH with a file written by "
        "agentwatch, or move this file away."
    )


def test_open_foreign_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE spans (id INTEGER)")
    connection.close()

    with pytest.raises(StoreError, match="is not an agentwatch trace database"):
        TraceStore.open(path)


def test_open_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    write_traces(path, [1])
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    connection.close()

    with pytest.raises(StoreError) as raised:
        TraceStore.open(path)

    assert str(raised.value) == (
        f"{path} has trace schema version {SCHEMA_VERSION + 1}, newer than this agentwatch "
        f"reads ({SCHEMA_VERSION}). Upgrade agentwatch."
    )


def test_open_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    write_traces(path, [1])

    with TraceStore.open(path) as store:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store._connection.execute("DELETE FROM spans")


def test_spans_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    write_traces(path, [0xABC])

    with TraceStore.open(path) as store:
        spans = store.spans()

    assert [span.name for span in spans] == ["root", "chat"]
    root, child = spans
    assert root.trace_id == format(0xABC, "032x")
    assert root.span_id == format(1, "016x")
    assert root.parent_span_id is None
    assert child.parent_span_id == root.span_id
    assert child.duration_ns == 20
    assert child.is_error is False
    assert child.events == (
        StoredEvent(
            name=semconv.EVENT_EVALUATION_RESULT,
            time_ns=START_NS + 20,
            attributes={semconv.GEN_AI_EVALUATION_SCORE_VALUE: 1.0},
        ),
    )


def test_spans_since(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    write_traces(path, [1, 2, 3])

    with TraceStore.open(path) as store:
        spans = store.spans(since_ns=START_NS + 1_000_000)

    assert [span.trace_id for span in spans] == [format(2, "032x")] * 2 + [format(3, "032x")] * 2


def test_recent_trace_ids_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    write_traces(path, [1, 2, 3])

    with TraceStore.open(path) as store:
        assert store.recent_trace_ids(2) == [format(3, "032x"), format(2, "032x")]
        assert store.count_spans() == 6


def test_resolve_trace_id_prefix(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    first = 0xAAAABBBB_00000000_00000000_00000001
    second = 0xAAAABBBB_CCCC0000_00000000_00000002
    write_traces(path, [first, second])

    with TraceStore.open(path) as store:
        assert store.resolve_trace_id("AAAABBBBCCCC") == format(second, "032x")
        assert store.resolve_trace_id(format(first, "032x")) == format(first, "032x")

        with pytest.raises(StoreError) as ambiguous:
            store.resolve_trace_id("aaaabbbb")
        with pytest.raises(StoreError) as short:
            store.resolve_trace_id("aaaabbb")
        with pytest.raises(StoreError) as unknown:
            store.resolve_trace_id("12345678")
        with pytest.raises(StoreError) as not_hex:
            store.resolve_trace_id("aaaabbbb*")

    assert str(ambiguous.value) == (
        "Trace id prefix aaaabbbb matches more than one trace. Give more characters."
    )
    assert str(short.value) == ("Trace id prefix 'aaaabbb' is too short: give at least 8 hex characters.")
    assert str(unknown.value) == (
        f"No trace with id 12345678 in {path}. Run `agentwatch --db {path} traces` to list runs."
    )
    assert str(not_hex.value) == "Invalid trace id 'aaaabbbb*': expected up to 32 hex characters."
