"""Models, tools and span helpers shared by the LangChain tests.

The chat models talk to the real local servers: llama.cpp's llama-server on port 8080 for text,
and the llama-cpp-python server on port 8081 (scripts/tool_model.sh) for tool calls. Tests replay
cassettes recorded from them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.trace import ReadableSpan

from _local import API_KEY, MODEL
from agentwatch import semconv

TEXT_BASE_URL = os.environ.get("AGENTWATCH_MODEL_BASE_URL", "http://127.0.0.1:8080/v1")
TOOL_BASE_URL = os.environ.get("AGENTWATCH_TOOL_MODEL_BASE_URL", "http://127.0.0.1:8081/v1")
QUESTION = "Say hello in five words."


def text_model(**kwargs: Any) -> ChatOpenAI:
    """Return a ChatOpenAI for llama-server, deterministic and short."""
    options: dict[str, Any] = {"temperature": 0.0, "max_tokens": 16, "seed": 7, **kwargs}
    return ChatOpenAI(model=MODEL, base_url=TEXT_BASE_URL, api_key=API_KEY, max_retries=0, **options)


def tool_model(**kwargs: Any) -> ChatOpenAI:
    """Return a ChatOpenAI for the tool-calling llama-cpp-python server."""
    options: dict[str, Any] = {"temperature": 0.0, "max_tokens": 64, "seed": 7, **kwargs}
    return ChatOpenAI(model=MODEL, base_url=TOOL_BASE_URL, api_key=API_KEY, max_retries=0, **options)


POLICY = "Refund requests must be filed within 30 days of delivery."


@tool
def search_policy(query: str) -> str:
    """Search the shop's policies (refunds, shipping, returns) and return the matching text."""
    return POLICY


@tool
def lookup_order(order_id: str) -> str:
    """Look up the delivery status of an order by its id."""
    return f"Order {order_id} was delivered on 2024-05-02."


def by_name(spans: Sequence[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    for candidate in spans:
        if candidate.context.span_id == span.parent.span_id:
            return candidate
    return None


def steps(spans: Sequence[ReadableSpan]) -> list[int]:
    """Return the trajectory steps of the spans, in start order."""
    ordered = sorted(spans, key=lambda span: span.start_time or 0)
    found: list[int] = []
    for span in ordered:
        step = (span.attributes or {}).get(semconv.TRAJECTORY_STEP)
        if isinstance(step, int):
            found.append(step)
    return found
