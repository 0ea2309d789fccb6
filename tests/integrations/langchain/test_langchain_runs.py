"""The run-id map: lookups by LangChain run id, and the bound on runs that never end."""

from __future__ import annotations

import logging
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.integrations.langchain._runs import KIND_CHAIN, KIND_HIDDEN, Entry, RunMap


@pytest.fixture
def tracer() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_get_and_pop_by_run_id() -> None:
    runs = RunMap()
    run_id = uuid.uuid4()
    entry = Entry(KIND_HIDDEN, None, None, None)

    runs.add(run_id, entry)

    assert runs.get(run_id) is entry
    assert runs.get(uuid.UUID(str(run_id))) is entry
    assert runs.get(uuid.uuid4()) is None
    assert runs.get(None) is None
    assert runs.pop(run_id) is entry
    assert runs.pop(run_id) is None
    assert len(runs) == 0


def test_eviction_ends_oldest_run(
    tracer: tuple[TracerProvider, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    provider, exporter = tracer
    runs = RunMap(limit=2)
    run_ids = [uuid.uuid4() for _ in range(3)]
    spans = [provider.get_tracer("test").start_span(f"chain {index}") for index in range(3)]

    with caplog.at_level(logging.WARNING, logger="agentwatch"):
        for run_id, span in zip(run_ids, spans, strict=True):
            runs.add(run_id, Entry(KIND_CHAIN, span, None, None))

    assert len(runs) == 2
    assert runs.get(run_ids[0]) is None
    assert runs.get(run_ids[1]) is not None
    assert runs.get(run_ids[2]) is not None
    assert [span.name for span in exporter.get_finished_spans()] == ["chain 0"]
    assert "never reported its end" in caplog.text
