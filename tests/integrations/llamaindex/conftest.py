"""Fixtures for the LlamaIndex suite: instrumentation and a check for agentwatch faults.

The suite needs llama-index-core, llama-index-llms-openai-like and
llama-index-embeddings-openai-like (which pin openai<3); each test module skips itself where
they are missing, so this file imports none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentwatch


@pytest.fixture
def instrumented(
    tracer_provider: TracerProvider, capture_content: bool
) -> Iterator[agentwatch.Instrumentation]:
    # Only these two integrations, so the suite does not depend on the LangChain one.
    handle = agentwatch.instrument(
        tracer_provider=tracer_provider,
        capture_content=capture_content,
        integrations=["openai", "llamaindex"],
    )
    try:
        yield handle
    finally:
        agentwatch.uninstrument()


@pytest.fixture(autouse=True)
def no_agentwatch_faults(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test when agentwatch logged an internal fault.

    The dispatcher swallows whatever a handler raises, so the guard's re-raise under pytest
    never reaches the test; its log record does.
    """
    caplog.set_level(logging.DEBUG, logger="agentwatch")
    yield
    faults = [record for record in caplog.records if record.getMessage().startswith("agentwatch fault in")]
    assert not faults, [(record.getMessage(), record.exc_info) for record in faults]
