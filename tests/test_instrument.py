"""instrument() / uninstrument(): idempotence, restoring patches, settings and entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

import openai
import pytest
import wrapt
from openai.resources.chat.completions.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses.responses import Responses
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from _local import MODEL, sync_client
from agentwatch import _config

KWARGS: dict[str, Any] = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Say hello in five words."}],
    "max_tokens": 16,
    "temperature": 0.0,
    "seed": 7,
}
PATCHED = [
    (Completions, "create"),
    (Completions, "parse"),
    (AsyncCompletions, "create"),
    (Embeddings, "create"),
    (Responses, "create"),
    (Responses, "parse"),
]


def test_uninstrument_restores_attributes(tracer_provider: TracerProvider) -> None:
    originals = {(owner, name): owner.__dict__[name] for owner, name in PATCHED}

    agentwatch.instrument(tracer_provider=tracer_provider)
    assert all(owner.__dict__[name] is not originals[(owner, name)] for owner, name in PATCHED)
    agentwatch.uninstrument()

    assert all(owner.__dict__[name] is originals[(owner, name)] for owner, name in PATCHED)


def test_cached_bound_method_stops_tracing(
    tracer_provider: TracerProvider, exporter: Any, replay: Any
) -> None:
    handle = agentwatch.instrument(tracer_provider=tracer_provider)
    client = sync_client()
    cached_create = client.chat.completions.create
    cached_raw = client.chat.completions.with_raw_response.create
    handle.uninstrument()

    with replay("chat"):
        cached_create(**KWARGS)
        cached_raw(**KWARGS).parse()

    assert exporter.get_finished_spans() == ()


def test_instrument_twice_warns_once(
    tracer_provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agentwatch")
    from agentwatch import _instrument

    _instrument._warned_twice = False
    try:
        first = agentwatch.instrument(tracer_provider=tracer_provider)
        second = agentwatch.instrument(tracer_provider=tracer_provider)
        third = agentwatch.instrument()
        assert first is second is third
        assert not isinstance(Completions.__dict__["create"].__wrapped__, wrapt.FunctionWrapper)
        warnings = [r for r in caplog.records if "called again" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        agentwatch.uninstrument()


def test_double_instrument_traces_once(tracer_provider: TracerProvider, exporter: Any, replay: Any) -> None:
    agentwatch.instrument(tracer_provider=tracer_provider)
    agentwatch.instrument(tracer_provider=tracer_provider)
    try:
        with replay("chat"):
            sync_client().chat.completions.create(**KWARGS)
    finally:
        agentwatch.uninstrument()
    assert len(exporter.get_finished_spans()) == 1


def test_uninstrument_without_instrument_is_harmless() -> None:
    agentwatch.uninstrument()
    agentwatch.uninstrument()
    assert agentwatch.current_run() is None


def test_unknown_integration_names_valid_ones(tracer_provider: TracerProvider) -> None:
    with pytest.raises(
        ValueError, match=r"Unknown integration 'opnai'\. Valid integrations: openai, langchain, llamaindex"
    ):
        agentwatch.instrument(tracer_provider=tracer_provider, integrations=["opnai"])
    assert "create" in Completions.__dict__
    assert not isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)


def test_settings_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("AGENTWATCH_DB", "/tmp/x/traces.db")

    from_env = _config.resolve_settings(service_name=None, capture_content=None, integrations=None)
    from_args = _config.resolve_settings(
        service_name="from-arg", capture_content=False, integrations=["openai"]
    )

    assert (from_env.service_name, from_env.capture_content, str(from_env.db_path)) == (
        "from-env",
        True,
        "/tmp/x/traces.db",
    )
    assert (from_args.service_name, from_args.capture_content, from_args.integrations) == (
        "from-arg",
        False,
        ("openai",),
    )


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_SERVICE_NAME",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "AGENTWATCH_DB",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "AGENTWATCH_EXPORTER",
    ):
        monkeypatch.delenv(name, raising=False)

    settings = _config.resolve_settings(service_name=None, capture_content=None, integrations=None)

    assert settings.service_name == "agentwatch-app"
    assert settings.capture_content is False
    assert str(settings.db_path) == ".agentwatch/traces.db"
    assert settings.exporter == "store"
    assert settings.otlp_traces_endpoint is None


def test_otlp_endpoint_selects_otlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    settings = _config.resolve_settings(service_name=None, capture_content=None, integrations=None)
    assert (settings.exporter, settings.otlp_traces_endpoint) == ("otlp", "http://127.0.0.1:4318")


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("SPAN_ONLY", True), ("0", False), ("maybe", False)]
)
def test_capture_switch_values(raw: str, expected: bool) -> None:
    assert _config.parse_capture_content(raw) is expected


def test_entry_point_registered() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert names.get("agentwatch_openai") == "agentwatch._otel:OpenAIInstrumentor"
    from agentwatch._otel import OpenAIInstrumentor

    assert OpenAIInstrumentor().instrumentation_dependencies() == ["openai >= 2.0"]


def test_openai_isinstance_kept(tracer_provider: TracerProvider) -> None:
    agentwatch.instrument(tracer_provider=tracer_provider)
    try:
        assert isinstance(sync_client().chat.completions, Completions)
        assert callable(openai.OpenAI.__init__)
    finally:
        agentwatch.uninstrument()
