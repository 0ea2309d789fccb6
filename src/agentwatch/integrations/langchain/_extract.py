"""Pure extractors: LangChain callback arguments in, span attributes out.

Model names, providers and request parameters come from what ``BaseChatModel`` passes to
``on_chat_model_start``: ``invocation_params`` and the ``ls_*`` metadata of
``_get_ls_params`` (langchain-core 1.x). Responses are ``LLMResult`` objects whose generations
carry ``AIMessage``s with ``usage_metadata``, ``response_metadata`` and ``tool_calls``. Every read
is defensive, so an odd field is skipped instead of blanking the span.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.util.types import AttributeValue

from ... import semconv
from ..._messages import content_text, dumps, field, input_messages, text_message_json, tool_call_part

Pairs = Iterator[tuple[str, AttributeValue]]

# ls_provider values whose GenAI provider name differs from LangChain's.
_PROVIDER_NAMES = {"azure": "azure.ai.openai", "google_genai": "gcp.gen_ai", "bedrock": "aws.bedrock"}

_NUMERIC_PARAMS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", semconv.GEN_AI_REQUEST_SEED),
)
# Most calls set none of them, so one set check usually replaces five lookups.
_NUMERIC_PARAM_NAMES = frozenset(param for param, _ in _NUMERIC_PARAMS)

# LangChain message types and the chat roles they stand for.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def model_request(
    invocation_params: Mapping[str, Any],
    metadata: Mapping[str, Any],
    messages: Sequence[Any] | None,
    capture: bool,
) -> dict[str, AttributeValue]:
    """Return the request attributes of a chat model or LLM run, set at span start.

    A dict rather than yielded pairs, because this runs on every model call.
    """
    attributes: dict[str, AttributeValue] = {}
    # The requested model: "model" or "model_name" of the parameters, else "ls_model_name".
    for model in (
        invocation_params.get("model"),
        invocation_params.get("model_name"),
        metadata.get("ls_model_name"),
    ):
        if isinstance(model, str) and model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model
            break
    provider = metadata.get("ls_provider")
    if isinstance(provider, str) and provider:
        provider = _PROVIDER_NAMES.get(provider, provider)
        attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
        attributes[semconv.LLM_PROVIDER] = provider

    if not _NUMERIC_PARAM_NAMES.isdisjoint(invocation_params):
        for param, key in _NUMERIC_PARAMS:
            value = invocation_params.get(param)
            if _number(value):
                attributes[key] = value
    max_tokens = (
        invocation_params.get("max_tokens")
        or invocation_params.get("max_completion_tokens")
        or metadata.get("ls_max_tokens")
    )
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    count = invocation_params.get("n")
    if isinstance(count, int) and not isinstance(count, bool) and count != 1:
        attributes[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = count
    stop = invocation_params.get("stop") or metadata.get("ls_stop")
    if isinstance(stop, str):
        attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)) and stop:
        attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(item) for item in stop]
    if invocation_params.get("stream") is True:
        attributes[semconv.REQUEST_STREAM] = True

    tools = invocation_params.get("tools")
    if isinstance(tools, (list, tuple)) and tools:
        names = [name for name in (_tool_name(tool) for tool in tools) if name]
        if names:
            attributes[semconv.REQUEST_TOOL_NAMES] = names
        if capture:
            attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = dumps(list(tools))
    if capture and messages is not None:
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = input_messages_json(messages)
    return attributes


def _tool_name(tool: Any) -> str | None:
    function = field(tool, "function")
    name = field(function, "name") if function is not None else field(tool, "name")
    return name if isinstance(name, str) else None


def _role(message: Any) -> Any:
    message_type = getattr(message, "type", None)
    role = _ROLES.get(message_type) if isinstance(message_type, str) else None
    return role or getattr(message, "role", None) or "user"


def input_messages_json(messages: Sequence[Any]) -> str:
    """Return LangChain messages (or prompt strings) as ``gen_ai.input.messages`` JSON.

    The same JSON as ``dumps(input_messages(openai_messages(messages)))``, with text-only messages
    written directly, because this runs on every model call with content capture on.
    """
    items: list[str] = []
    for message in messages:
        if isinstance(message, str):
            items.append(text_message_json("user", message))
            continue
        role = _role(message)
        calls = getattr(message, "tool_calls", None) if role == "assistant" else None
        if type(role) is str and role != "tool" and not calls:
            items.append(text_message_json(role, content_text(getattr(message, "content", None))))
        else:  # tool calls, tool results and odd roles take the general path
            items.extend(dumps(item) for item in input_messages(openai_messages([message])))
    return "[" + ",".join(items) + "]"


def openai_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Convert LangChain messages (or prompt strings) to OpenAI-format message dicts."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, str):
            converted.append({"role": "user", "content": message})
            continue
        role = _role(message)
        item: dict[str, Any] = {"role": role, "content": getattr(message, "content", None)}
        # Only assistant messages (AIMessage) carry tool calls. Reading a field a pydantic message
        # lacks raises inside getattr, which costs more than converting the message.
        calls = getattr(message, "tool_calls", None) if role == "assistant" else None
        if calls:
            item["tool_calls"] = _tool_calls(calls)
        if role == "tool":
            item["tool_call_id"] = getattr(message, "tool_call_id", None)
        converted.append(item)
    return converted


def first_generation(response: Any) -> Any:
    """Return the first generation of an ``LLMResult``, or None."""
    for batch in getattr(response, "generations", None) or ():
        for generation in batch or ():
            return generation
    return None


def usage(response: Any) -> tuple[int | None, int | None]:
    """Return (input, output) tokens from ``usage_metadata``, else ``llm_output["token_usage"]``.

    A count the model did not report is None, never 0.
    """
    message = getattr(first_generation(response), "message", None)
    metadata = getattr(message, "usage_metadata", None)
    if metadata:
        input_tokens = field(metadata, "input_tokens")
        output_tokens = field(metadata, "output_tokens")
        return (
            input_tokens if isinstance(input_tokens, int) else None,
            output_tokens if isinstance(output_tokens, int) else None,
        )
    token_usage = field(getattr(response, "llm_output", None) or {}, "token_usage")
    if not token_usage:
        return None, None
    prompt_tokens = field(token_usage, "prompt_tokens")
    completion_tokens = field(token_usage, "completion_tokens")
    return (
        prompt_tokens if isinstance(prompt_tokens, int) else None,
        completion_tokens if isinstance(completion_tokens, int) else None,
    )


def model_response(response: Any, capture: bool) -> dict[str, AttributeValue]:
    """Return the response attributes of an ``LLMResult`` (tokens are set separately)."""
    first_metadata: Any = None  # the response_metadata of the first generation's message
    finish_reasons: list[str] = []
    calls: list[dict[str, Any]] = []
    outputs: list[str] = []  # each output message's JSON
    for batch in getattr(response, "generations", None) or ():
        for generation in batch or ():
            message = getattr(generation, "message", None)
            metadata = getattr(message, "response_metadata", None) or {}
            if first_metadata is None:
                first_metadata = metadata
            reason = field(metadata, "finish_reason") or field(
                getattr(generation, "generation_info", None) or {}, "finish_reason"
            )
            if isinstance(reason, str):
                finish_reasons.append(reason)
            tool_calls = getattr(message, "tool_calls", None)
            message_calls = _tool_calls(tool_calls) if tool_calls else []
            calls.extend(message_calls)
            if capture:
                outputs.append(_output_json(generation, message, message_calls, reason))

    attributes: dict[str, AttributeValue] = {}
    metadata = first_metadata if first_metadata is not None else {}
    response_id = field(metadata, "id")
    if isinstance(response_id, str) and response_id:
        attributes[semconv.GEN_AI_RESPONSE_ID] = response_id
    response_model = field(metadata, "model_name")
    if not response_model:
        response_model = field(getattr(response, "llm_output", None) or {}, "model_name")
    if isinstance(response_model, str) and response_model:
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = response_model
    if finish_reasons:
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = finish_reasons
    if calls:
        names = [str(call["name"]) for call in calls if call["name"]]
        if names:
            attributes[semconv.RESPONSE_TOOL_CALL_NAMES] = names
        ids = [str(call["id"]) for call in calls if call["id"]]
        if ids:
            attributes[semconv.RESPONSE_TOOL_CALL_IDS] = ids
    if capture and outputs:
        attributes[semconv.GEN_AI_OUTPUT_MESSAGES] = "[" + ",".join(outputs) + "]"
    return attributes


def _tool_calls(tool_calls: Any) -> list[dict[str, Any]]:
    """Return an ``AIMessage``'s tool calls as ``{"id", "name", "arguments"}`` dicts."""
    return [
        {"id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")}
        for call in tool_calls
        if isinstance(call, dict)
    ]


def _output_json(generation: Any, message: Any, calls: list[dict[str, Any]], reason: Any) -> str:
    """Return one generation as a ``gen_ai.output.messages`` item, in JSON."""
    text = content_text(field(message, "content")) if message is not None else field(generation, "text")
    if not isinstance(text, str):
        text = ""
    finish_reason = reason if isinstance(reason, str) else ""
    if not calls:
        return text_message_json("assistant", text, finish_reason)
    parts: list[dict[str, Any]] = [{"type": "text", "content": text}] if text else []
    parts.extend(tool_call_part(call) for call in calls)
    return dumps({"role": "assistant", "parts": parts, "finish_reason": finish_reason})


def tool_output_text(output: Any) -> str:
    """Return the text of a tool's output: a ``ToolMessage``'s content, or the value itself."""
    content = getattr(output, "content", output)
    if isinstance(content, str):
        return content
    text = content_text(content) if isinstance(content, list) else ""
    return text or dumps(content)


def _document_source(document: Any) -> str | None:
    source = getattr(document, "id", None)
    if not source:
        metadata = getattr(document, "metadata", None)
        source = metadata.get("source") if isinstance(metadata, dict) else None
    return str(source) if source else None


def documents_text(documents: Sequence[Any]) -> Iterator[tuple[str, str | None]]:
    """Yield ``(text, source)`` of each retrieved ``Document``; the source is its id or ``source``."""
    for document in documents:
        text = getattr(document, "page_content", None)
        if isinstance(text, str):
            yield text, _document_source(document)


def retrieval_response(documents: Sequence[Any], capture: bool) -> Pairs:
    """Yield the document count, and with capture on the documents' ids and texts as JSON."""
    yield semconv.RETRIEVAL_DOCUMENT_COUNT, len(documents)
    if capture:
        items = [
            {"id": _document_source(document), "content": getattr(document, "page_content", None)}
            for document in documents
        ]
        yield semconv.GEN_AI_RETRIEVAL_DOCUMENTS, dumps(items)
