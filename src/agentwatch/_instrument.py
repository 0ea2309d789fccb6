"""``instrument()`` and ``uninstrument()``: the public entry points."""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from typing import Protocol

from opentelemetry import trace

from ._config import Settings, resolve_settings
from ._export import Telemetry, setup_telemetry
from ._state import STATE
from .governance import Policy, load_policy

logger = logging.getLogger("agentwatch")


class Integration(Protocol):
    name: str

    def instrument(self) -> None: ...

    def uninstrument(self) -> None: ...


def _openai() -> Integration:
    from .integrations.openai import OpenAIIntegration

    return OpenAIIntegration()


def _langchain() -> Integration:
    from .integrations.langchain import LangChainIntegration

    integration: Integration = LangChainIntegration()
    return integration


def _llamaindex() -> Integration:
    from .integrations.llamaindex import LlamaIndexIntegration

    integration: Integration = LlamaIndexIntegration()
    return integration


# name -> (the package that must be importable, a factory for the integration)
_REGISTRY: dict[str, tuple[str, Callable[[], Integration]]] = {
    "openai": ("openai", _openai),
    "langchain": ("langchain_core", _langchain),
    "llamaindex": ("llama_index.core", _llamaindex),
}


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


class Instrumentation:
    """The handle ``instrument()`` returns; ``uninstrument()`` undoes everything it patched."""

    def __init__(self, settings: Settings, telemetry: Telemetry) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.integrations: dict[str, Integration] = {}

    @property
    def tracer_provider(self) -> trace.TracerProvider:
        return self.telemetry.tracer_provider

    def enable(self, name: str, *, explicit: bool) -> None:
        if name in self.integrations:
            return
        entry = _REGISTRY.get(name)
        if entry is None:
            if explicit:
                logger.warning("agentwatch: the %r integration is not available in this version.", name)
            return
        package, factory = entry
        if not _installed(package):
            if explicit:
                logger.warning(
                    "agentwatch: integration %r requested but %r is not installed; install it "
                    "with `pip install agentwatch[%s]`.",
                    name,
                    package,
                    name,
                )
            return
        integration = factory()
        integration.instrument()
        self.integrations[name] = integration

    def uninstrument(self) -> None:
        """Restore every patched attribute and stop tracing; calling it twice is harmless."""
        uninstrument()

    def _restore(self) -> None:
        for integration in reversed(list(self.integrations.values())):
            integration.uninstrument()
        self.integrations.clear()
        if self.telemetry.owns_tracer_provider:
            flush = getattr(self.telemetry.tracer_provider, "force_flush", None)
            if flush is not None:
                flush()


_lock = threading.Lock()
_current: Instrumentation | None = None
_warned_twice = False


def instrument(
    service_name: str | None = None,
    policy: Policy | str | os.PathLike[str] | None = None,
    capture_content: bool | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    integrations: list[str] | tuple[str, ...] | None = None,
) -> Instrumentation:
    """Trace every model call of the installed frameworks as OpenTelemetry spans.

    Args:
        service_name: ``service.name`` of the spans; else ``OTEL_SERVICE_NAME``.
        policy: an ``agentwatch.Policy``, a path to a TOML policy, or None for
            ``AGENTWATCH_POLICY``; its routes name the spans' route and its evaluators run inline.
        capture_content: record messages and tool arguments; else
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``; default False.
        tracer_provider: where spans go; else the global provider if the application set one,
            else one agentwatch sets up (OTLP/HTTP if an OTLP endpoint is configured, otherwise
            the embedded store at ``AGENTWATCH_DB``, default ``.agentwatch/traces.db``).
        integrations: names among "openai", "langchain", "llamaindex"; default each importable.

    Raises:
        PolicyError: the policy names an unknown route, evaluator, guardrail, action or stage.
        ValueError: an unknown integration name.

    Returns:
        A handle whose ``uninstrument()`` restores everything. A second call warns once and
        returns the first handle.

    Example:
        >>> import agentwatch
        >>> handle = agentwatch.instrument(service_name="support-agent")
    """
    global _current, _warned_twice
    with _lock:
        if _current is not None:
            if not _warned_twice:
                _warned_twice = True
                logger.warning(
                    "agentwatch.instrument() was called again; keeping the first instrumentation. "
                    "Call agentwatch.uninstrument() first to change settings."
                )
            return _current
        resolved_policy = load_policy(policy)
        explicit = integrations is not None
        settings = resolve_settings(
            service_name=service_name, capture_content=capture_content, integrations=integrations
        )
        telemetry = setup_telemetry(settings, tracer_provider)
        handle = Instrumentation(settings, telemetry)
        STATE.activate(settings, telemetry.tracer_provider, telemetry.meter_provider, resolved_policy)
        try:
            for name in settings.integrations:
                handle.enable(name, explicit=explicit)
        except BaseException:
            handle._restore()
            STATE.deactivate()
            raise
        _current = handle
        return handle


def uninstrument() -> None:
    """Undo ``instrument()``: restore patched attributes; cached bound methods stop tracing too."""
    global _current
    with _lock:
        handle, _current = _current, None
        STATE.deactivate()
        if handle is not None:
            handle._restore()


def enable_integration(name: str) -> None:
    """Start agentwatch if needed and add one integration (used by the OTel entry points)."""
    handle = _current or instrument(integrations=[name])
    with _lock:
        handle.enable(name, explicit=True)


def current_instrumentation() -> Instrumentation | None:
    return _current
