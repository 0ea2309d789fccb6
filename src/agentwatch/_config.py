"""Settings: an argument wins, then the environment, then the default."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

KNOWN_INTEGRATIONS = ("openai", "langchain", "llamaindex")
DEFAULT_DB_PATH = Path(".agentwatch") / "traces.db"
DEFAULT_SERVICE_NAME = "agentwatch-app"

# OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT takes booleans in the contrib
# instrumentations and content modes (SPAN_ONLY, ...) in the newer GenAI utilities.
_CAPTURE_ON = {"true", "1", "yes", "on", "span_only", "span_and_event"}
_CAPTURE_OFF = {"false", "0", "no", "off", "no_content", ""}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration for one ``instrument()`` call."""

    service_name: str
    capture_content: bool
    db_path: Path
    otlp_traces_endpoint: str | None
    exporter: str  # "otlp", "store" or "none"
    integrations: tuple[str, ...]


def parse_capture_content(raw: str | None) -> bool:
    """Read the capture switch; an unknown value keeps content off and logs why."""
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _CAPTURE_ON:
        return True
    if value not in _CAPTURE_OFF:
        logger.warning(
            "Invalid OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=%r; content capture "
            "stays off. Use true or false.",
            raw,
        )
    return False


def _otlp_traces_endpoint() -> str | None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _integrations(requested: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if requested is None:
        raw = os.environ.get("AGENTWATCH_INTEGRATIONS", "").strip()
        if not raw:
            return KNOWN_INTEGRATIONS
        requested = [name.strip() for name in raw.split(",") if name.strip()]
    if isinstance(requested, str):
        requested = [requested]
    unknown = [name for name in requested if name not in KNOWN_INTEGRATIONS]
    if unknown:
        raise ValueError(
            f"Unknown integration {unknown[0]!r}. Valid integrations: {', '.join(KNOWN_INTEGRATIONS)}."
        )
    return tuple(dict.fromkeys(requested))


def _exporter(endpoint: str | None) -> str:
    raw = os.environ.get("AGENTWATCH_EXPORTER", "").strip().lower()
    if not raw:
        return "otlp" if endpoint else "store"
    if raw not in ("otlp", "store", "none"):
        raise ValueError(f"Invalid AGENTWATCH_EXPORTER={raw!r}. Valid values: otlp, store, none.")
    return raw


def resolve_settings(
    *,
    service_name: str | None,
    capture_content: bool | None,
    integrations: list[str] | tuple[str, ...] | None,
) -> Settings:
    """Resolve every setting from arguments, then environment, then defaults.

    Raises:
        ValueError: an integration name or AGENTWATCH_EXPORTER value is not one of the valid ones.
    """
    endpoint = _otlp_traces_endpoint()
    if capture_content is None:
        capture_content = parse_capture_content(
            os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        )
    return Settings(
        service_name=service_name or os.environ.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME,
        capture_content=bool(capture_content),
        db_path=Path(os.environ.get("AGENTWATCH_DB", "").strip() or DEFAULT_DB_PATH),
        otlp_traces_endpoint=endpoint,
        exporter=_exporter(endpoint),
        integrations=_integrations(integrations),
    )
