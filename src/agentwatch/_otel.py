"""Entry points for ``opentelemetry-instrument``: one instrumentor per integration."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from ._instrument import current_instrumentation, enable_integration, uninstrument


class _AgentwatchInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    integration = ""
    package = ""

    def instrumentation_dependencies(self) -> Collection[str]:
        return [self.package]

    def _instrument(self, **kwargs: Any) -> None:
        enable_integration(self.integration)

    def _uninstrument(self, **kwargs: Any) -> None:
        handle = current_instrumentation()
        if handle is not None and set(handle.integrations) <= {self.integration}:
            uninstrument()


class OpenAIInstrumentor(_AgentwatchInstrumentor):
    """agentwatch's OpenAI integration for ``opentelemetry-instrument``."""

    integration = "openai"
    package = "openai >= 2.0"


class LangChainInstrumentor(_AgentwatchInstrumentor):
    """agentwatch's LangChain/LangGraph integration for ``opentelemetry-instrument``."""

    integration = "langchain"
    package = "langchain-core >= 1.0"


class LlamaIndexInstrumentor(_AgentwatchInstrumentor):
    """agentwatch's LlamaIndex integration for ``opentelemetry-instrument``."""

    integration = "llamaindex"
    package = "llama-index-core >= 0.14"
