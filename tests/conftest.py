"""Shared fixtures: an in-memory span exporter, a metric reader, and instrumentation on demand."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentwatch

sys.path.insert(0, str(Path(__file__).parent))

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"

# One global meter provider for the whole run: OpenTelemetry allows setting it only once.
METRIC_READER = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[METRIC_READER]))


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def capture_content() -> bool:
    return False


@pytest.fixture
def instrumented(
    tracer_provider: TracerProvider, capture_content: bool
) -> Iterator[agentwatch.Instrumentation]:
    handle = agentwatch.instrument(tracer_provider=tracer_provider, capture_content=capture_content)
    try:
        yield handle
    finally:
        agentwatch.uninstrument()


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    METRIC_READER.get_metrics_data()  # drop what earlier tests recorded
    return METRIC_READER


@pytest.fixture
def vcr_cassette(request: pytest.FixtureRequest) -> Iterator[object]:
    """Replay ``cassettes/<test module>/<test name>.yaml``, recorded from the real local server.

    Set AGENTWATCH_RECORD=once (with scripts/local_model.sh start) to record a missing cassette;
    CI never records.
    """
    import vcr

    module = Path(request.node.fspath).stem
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES / module),
        record_mode=os.environ.get("AGENTWATCH_RECORD", "none"),
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        filter_headers=["authorization", "api-key", "openai-organization", "openai-project"],
        decode_compressed_response=True,
    )
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
    with recorder.use_cassette(f"{name}.yaml") as cassette:
        yield cassette


LOCAL_BASE_URL = os.environ.get("AGENTWATCH_MODEL_BASE_URL", "http://127.0.0.1:8080/v1")


@pytest.fixture
def replay(request: pytest.FixtureRequest) -> object:
    """Return ``replay(name)``: a context manager replaying ``cassettes/shared/<name>.yaml``.

    Shared cassettes hold ordinary calls recorded once from the real local server; many tests
    replay them, so a repeat of the same request is allowed.
    """
    import vcr

    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES / "shared"),
        record_mode=os.environ.get("AGENTWATCH_RECORD", "none"),
        match_on=["method", "scheme", "host", "port", "path", "body"],
        filter_headers=["authorization", "api-key", "openai-organization", "openai-project"],
        decode_compressed_response=True,
    )

    def use(name: str) -> object:
        return recorder.use_cassette(f"{name}.yaml", allow_playback_repeats=True)

    return use
