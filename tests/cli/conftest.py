"""Write spans with fixed ids and times into a trace database for the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Span, Status, StatusCode

from agentwatch import semconv
from agentwatch.store import SqliteSpanExporter

# 2023-11-14 22:13:20 UTC
START_NS = 1_700_000_000_000_000_000
NS_PER_MS = 1_000_000


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


class Recorder:
    """Build finished spans through a real SDK pipeline into `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids = FixedIds()
        self._provider = TracerProvider(
            resource=Resource.create({semconv.SERVICE_NAME: "cli-tests"}), id_generator=self._ids
        )
        self._provider.add_span_processor(SimpleSpanProcessor(SqliteSpanExporter(path)))
        self._tracer = self._provider.get_tracer("tests")

    def span(
        self,
        name: str,
        *,
        trace_id: int | None = None,
        parent: Span | None = None,
        start_ms: float = 0.0,
        duration_ms: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
        error: str | None = None,
        events: tuple[tuple[str, Mapping[str, Any]], ...] = (),
        start_ns: int | None = None,
        links: tuple[Span, ...] = (),
    ) -> Span:
        """Record one ended span; a span without `parent` starts a new trace with `trace_id`."""
        if parent is None:
            self._ids.trace_id = trace_id if trace_id is not None else 1
            context = Context()
        else:
            context = trace.set_span_in_context(parent)

        start = start_ns if start_ns is not None else START_NS + int(start_ms * NS_PER_MS)
        span = self._tracer.start_span(
            name,
            context=context,
            attributes=attributes,
            start_time=start,
            links=[trace.Link(linked.get_span_context()) for linked in links],
        )
        for event_name, event_attributes in events:
            span.add_event(event_name, event_attributes, timestamp=start)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=start + int(duration_ms * NS_PER_MS))
        return span

    def model_call(
        self,
        *,
        model: str = "smollm2",
        route: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        step: int | None = None,
        extra: Mapping[str, Any] | None = None,
        **span_options: Any,
    ) -> Span:
        """Record one chat span with the attributes the OpenAI integration sets."""
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_CHAT,
            semconv.GEN_AI_REQUEST_MODEL: model,
            semconv.SERVER_ADDRESS: "127.0.0.1",
            semconv.SERVER_PORT: 8080,
        }
        if route is not None:
            attributes[semconv.ROUTE_NAME] = route
        if input_tokens is not None:
            attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        if step is not None:
            attributes[semconv.TRAJECTORY_STEP] = step
        attributes.update(extra or {})
        return self.span(f"chat {model}", attributes=attributes, **span_options)

    def shutdown(self) -> None:
        self._provider.shutdown()


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    recorder = Recorder(tmp_path / "traces.db")
    yield recorder
    recorder.shutdown()


@pytest.fixture(autouse=True)
def no_db_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own AGENTWATCH_DB must not leak into the tests.
    monkeypatch.delenv("AGENTWATCH_DB", raising=False)
