"""Pure extractors: SDK request kwargs and response objects in, span attributes out.

Each extractor yields ``(key, value)`` pairs and reads fields defensively, so one odd field never
blanks the rest of the span. Content (messages, tool arguments) is yielded only with capture on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.util.types import AttributeValue

from ... import semconv
from ..._messages import dumps, field, input_messages, responses_input_messages, tool_call_part

Pairs = Iterator[tuple[str, AttributeValue]]

try:  # openai marks parameters the caller left out with these sentinels
    from openai._types import NotGiven, Omit

    _SENTINELS: tuple[type, ...] = (NotGiven, Omit)
except ImportError:  # pragma: no cover - depends on the installed SDK
    _SENTINELS = ()


def given(kwargs: Mapping[str, Any], name: str) -> Any:
    """Return a request parameter, or None when it was left out."""
    value = kwargs.get(name)
    if value is None or (_SENTINELS and isinstance(value, _SENTINELS)):
        return None
    return value


@lru_cache(maxsize=64)
def _server_of(base_url: str) -> tuple[tuple[str, AttributeValue], ...]:
    parts = urlsplit(base_url)
    pairs: list[tuple[str, AttributeValue]] = []
    if parts.hostname:
        pairs.append((semconv.SERVER_ADDRESS, parts.hostname))
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    if port:
        pairs.append((semconv.SERVER_PORT, port))
    return tuple(pairs)


def base_url_of(instance: Any) -> str | None:
    """Return the base URL of the client behind an SDK resource."""
    base_url = getattr(getattr(instance, "_client", None), "base_url", None)
    return None if base_url is None else str(base_url)


# The last base URL seen and its pairs. A client returns the same URL object on every call
# (openai 2.x and 3.x) and httpx URLs are immutable, so an identity check can skip str(), which
# httpx builds anew on each call.
_last_server: tuple[object, tuple[tuple[str, AttributeValue], ...]] = (None, ())


def server_attributes(instance: Any) -> tuple[tuple[str, AttributeValue], ...]:
    """Return server.address and server.port of the resource's client base URL."""
    global _last_server
    client = getattr(instance, "_client", None)
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return ()
    last_url, last_pairs = _last_server
    if base_url is last_url:
        return last_pairs
    # Parsing the URL costs more than the rest of the request extraction, so cache it.
    pairs = _server_of(str(base_url))
    _last_server = (base_url, pairs)
    return pairs


def provider_name(instance: Any) -> str:
    client = getattr(instance, "_client", None)
    if type(client).__name__.startswith("AsyncAzure") or type(client).__name__.startswith("Azure"):
        return "azure.ai.openai"
    return semconv.PROVIDER_OPENAI


_NUMERIC_PARAMS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", semconv.GEN_AI_REQUEST_SEED),
)


def _tool_names(tools: Any) -> list[str]:
    names: list[str] = []
    for tool in tools or ():
        function = field(tool, "function")
        name = field(function, "name") if function is not None else field(tool, "name")
        if isinstance(name, str):
            names.append(name)
    return names


def _common_request(kwargs: Mapping[str, Any], capture: bool) -> Pairs:
    for param, key in _NUMERIC_PARAMS:
        value = given(kwargs, param)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield key, value
    if given(kwargs, "stream") is True:
        yield semconv.REQUEST_STREAM, True
    tools = given(kwargs, "tools")
    if tools:
        names = _tool_names(tools)
        if names:
            yield semconv.REQUEST_TOOL_NAMES, names
        if capture:
            yield semconv.GEN_AI_TOOL_DEFINITIONS, dumps(list(tools))


def chat_request(kwargs: Mapping[str, Any], capture: bool) -> Pairs:
    """Yield request attributes of ``chat.completions.create`` / ``parse``."""
    yield from _common_request(kwargs, capture)
    max_tokens = given(kwargs, "max_completion_tokens") or given(kwargs, "max_tokens")
    if isinstance(max_tokens, int):
        yield semconv.GEN_AI_REQUEST_MAX_TOKENS, max_tokens
    count = given(kwargs, "n")
    if isinstance(count, int) and count != 1:
        yield semconv.GEN_AI_REQUEST_CHOICE_COUNT, count
    stop = given(kwargs, "stop")
    if isinstance(stop, str):
        yield semconv.GEN_AI_REQUEST_STOP_SEQUENCES, [stop]
    elif isinstance(stop, (list, tuple)):
        yield semconv.GEN_AI_REQUEST_STOP_SEQUENCES, [str(item) for item in stop]
    response_format = given(kwargs, "response_format")
    if response_format is not None:
        format_type = field(response_format, "type")
        # parse() accepts a pydantic class, which always means JSON output.
        is_json = format_type in ("json_object", "json_schema") or isinstance(response_format, type)
        yield semconv.GEN_AI_OUTPUT_TYPE, "json" if is_json else "text"
    if capture:
        yield semconv.GEN_AI_INPUT_MESSAGES, dumps(input_messages(given(kwargs, "messages")))


def responses_request(kwargs: Mapping[str, Any], capture: bool) -> Pairs:
    """Yield request attributes of ``responses.create`` / ``parse``."""
    yield from _common_request(kwargs, capture)
    max_tokens = given(kwargs, "max_output_tokens")
    if isinstance(max_tokens, int):
        yield semconv.GEN_AI_REQUEST_MAX_TOKENS, max_tokens
    if given(kwargs, "text_format") is not None:
        yield semconv.GEN_AI_OUTPUT_TYPE, "json"
    if capture:
        instructions = given(kwargs, "instructions")
        if isinstance(instructions, str):
            yield semconv.GEN_AI_SYSTEM_INSTRUCTIONS, dumps([{"type": "text", "content": instructions}])
        yield semconv.GEN_AI_INPUT_MESSAGES, dumps(responses_input_messages(given(kwargs, "input")))


def embeddings_request(kwargs: Mapping[str, Any], capture: bool) -> Pairs:
    """Yield request attributes of ``embeddings.create``."""
    encoding = given(kwargs, "encoding_format")
    if isinstance(encoding, str):
        yield semconv.GEN_AI_REQUEST_ENCODING_FORMATS, [encoding]


def _usage_counts(usage: Any, input_name: str, output_name: str) -> tuple[int | None, int | None]:
    if usage is None:
        return None, None
    input_tokens = field(usage, input_name)
    output_tokens = field(usage, output_name)
    return (
        input_tokens if isinstance(input_tokens, int) else None,
        output_tokens if isinstance(output_tokens, int) else None,
    )


def chat_usage(response: Any) -> tuple[int | None, int | None]:
    return _usage_counts(field(response, "usage"), "prompt_tokens", "completion_tokens")


def responses_usage(response: Any) -> tuple[int | None, int | None]:
    return _usage_counts(field(response, "usage"), "input_tokens", "output_tokens")


def embeddings_usage(response: Any) -> tuple[int | None, int | None]:
    input_tokens, _ = _usage_counts(field(response, "usage"), "prompt_tokens", "completion_tokens")
    return input_tokens, None


def _identity(response: Any) -> Pairs:
    response_id = field(response, "id")
    if isinstance(response_id, str):
        yield semconv.GEN_AI_RESPONSE_ID, response_id
    model = field(response, "model")
    if isinstance(model, str):
        yield semconv.GEN_AI_RESPONSE_MODEL, model


def tool_call_attributes(calls: list[Any]) -> Pairs:
    """Yield the names (always) and ids of the tool calls a model made."""
    names = [name for name in (tool_call_part(call, False)["name"] for call in calls) if name]
    if names:
        yield semconv.RESPONSE_TOOL_CALL_NAMES, [str(name) for name in names]
    ids = [str(call_id) for call_id in (field(call, "id") for call in calls) if call_id]
    if ids:
        yield semconv.RESPONSE_TOOL_CALL_IDS, ids


def chat_response(response: Any, capture: bool) -> Pairs:
    """Yield response attributes of a ``ChatCompletion`` (tokens are set separately)."""
    yield from _identity(response)
    finish_reasons: list[str] = []
    calls: list[Any] = []
    outputs: list[dict[str, Any]] = []
    for choice in field(response, "choices") or ():
        reason = field(choice, "finish_reason")
        finish_reasons.append(str(reason) if reason is not None else "")
        message = field(choice, "message")
        choice_calls = list(field(message, "tool_calls") or ())
        calls.extend(choice_calls)
        if capture:
            parts: list[dict[str, Any]] = []
            content = field(message, "content")
            if isinstance(content, str) and content:
                parts.append({"type": "text", "content": content})
            parts.extend(tool_call_part(call) for call in choice_calls)
            outputs.append({"role": "assistant", "parts": parts, "finish_reason": reason or ""})
    if finish_reasons:
        yield semconv.GEN_AI_RESPONSE_FINISH_REASONS, finish_reasons
    yield from tool_call_attributes(calls)
    if capture and outputs:
        yield semconv.GEN_AI_OUTPUT_MESSAGES, dumps(outputs)


def responses_response(response: Any, capture: bool) -> Pairs:
    """Yield response attributes of a Responses API ``Response``."""
    yield from _identity(response)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in field(response, "output") or ():
        item_type = field(item, "type")
        if item_type == "function_call":
            calls.append(
                {
                    "id": field(item, "call_id"),
                    "name": field(item, "name"),
                    "arguments": field(item, "arguments"),
                }
            )
        elif item_type == "message":
            for part in field(item, "content") or ():
                text = field(part, "text")
                if field(part, "type") == "output_text" and isinstance(text, str):
                    texts.append(text)
    status = field(response, "status")
    if isinstance(status, str):
        reason = "tool_calls" if calls and status == "completed" else status
        incomplete = field(field(response, "incomplete_details"), "reason")
        yield semconv.GEN_AI_RESPONSE_FINISH_REASONS, [str(incomplete or reason)]
    yield from tool_call_attributes(calls)
    if capture:
        parts: list[dict[str, Any]] = []
        if texts:
            parts.append({"type": "text", "content": "".join(texts)})
        parts.extend({"type": "tool_call", **call} for call in calls)
        yield semconv.GEN_AI_OUTPUT_MESSAGES, dumps([{"role": "assistant", "parts": parts}])


def embeddings_response(response: Any, capture: bool) -> Pairs:
    """Yield response attributes of a ``CreateEmbeddingResponse``."""
    model = field(response, "model")
    if isinstance(model, str):
        yield semconv.GEN_AI_RESPONSE_MODEL, model
    data = field(response, "data") or ()
    if data:
        vector = field(data[0], "embedding")
        if isinstance(vector, list):
            yield semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector)


Answer = tuple[str, list[dict[str, Any]]]


def _call_dict(call: Any) -> dict[str, Any]:
    part = tool_call_part(call, include_arguments=False)
    function = field(call, "function")
    arguments = field(function, "arguments") if function is not None else field(call, "arguments")
    return {"name": part["name"], "arguments": arguments if isinstance(arguments, str) else dumps(arguments)}


def chat_answer(response: Any) -> Answer:
    """Return the first choice's text and tool calls, for inline evaluators."""
    choices = field(response, "choices") or ()
    if not choices:
        return "", []
    message = field(choices[0], "message")
    content = field(message, "content")
    calls = [_call_dict(call) for call in field(message, "tool_calls") or ()]
    return (content if isinstance(content, str) else ""), calls


def responses_answer(response: Any) -> Answer:
    """Return a Responses API answer's text and function calls, for inline evaluators."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in field(response, "output") or ():
        if field(item, "type") == "function_call":
            calls.append(_call_dict(item))
        elif field(item, "type") == "message":
            texts.extend(
                text for part in field(item, "content") or () if isinstance(text := field(part, "text"), str)
            )
    return "".join(texts), calls


def no_answer(response: Any) -> Answer:
    return "", []
