"""Where spans and metrics go when the application has not said.

If the application set a global TracerProvider, agentwatch uses it and adds nothing. Otherwise it
sets one up: OTLP/HTTP when an OTLP endpoint is configured, else the embedded SQLite store.
Both sit behind a batch processor, and the provider is shut down (and so flushed) at exit.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from ._config import Settings

logger = logging.getLogger(__name__)


@dataclass
class Telemetry:
    """The providers agentwatch records into, and whether it created them."""

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    owns_tracer_provider: bool


def _global_is_set(provider: object, proxy_type: type) -> bool:
    return not isinstance(provider, proxy_type)


def _make_tracer_provider(settings: Settings) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}), shutdown_on_exit=True
    )
    if settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) itself.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        logger.info("agentwatch: exporting spans over OTLP/HTTP to %s", settings.otlp_traces_endpoint)
    elif settings.exporter == "store":
        from .store import SqliteSpanExporter

        provider.add_span_processor(BatchSpanProcessor(SqliteSpanExporter(settings.db_path)))
        logger.info("agentwatch: storing spans in %s", settings.db_path)
    return provider


def _make_meter_provider(settings: Settings) -> metrics.MeterProvider:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    return MeterProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())],
        shutdown_on_exit=True,
    )


def _wants_otlp_metrics() -> bool:
    # Metrics follow the OTel variables: a traces-only endpoint says nothing about metrics, and
    # OTEL_METRICS_EXPORTER=none switches them off (Phoenix, for one, rejects OTLP metrics).
    if os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none":
        return False
    return any(
        os.environ.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    )


def setup_telemetry(settings: Settings, tracer_provider: trace.TracerProvider | None) -> Telemetry:
    """Pick or create the providers for this ``instrument()`` call."""
    owns = False
    if tracer_provider is None:
        current = trace.get_tracer_provider()
        if _global_is_set(current, trace.ProxyTracerProvider):
            tracer_provider = current
        else:
            tracer_provider = _make_tracer_provider(settings)
            trace.set_tracer_provider(tracer_provider)
            owns = True

    meter_provider = metrics.get_meter_provider()
    # The API exposes no public type for "no meter provider set yet"; compare with its proxy.
    proxy_type = getattr(metrics._internal, "_ProxyMeterProvider", type(None))
    if (
        not _global_is_set(meter_provider, proxy_type)
        and settings.exporter == "otlp"
        and _wants_otlp_metrics()
    ):
        meter_provider = _make_meter_provider(settings)
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider, owns)
