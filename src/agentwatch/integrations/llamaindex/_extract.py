"""Pure extractors: LlamaIndex call arguments and results in, span attributes out.

Each extractor yields ``(key, value)`` pairs and reads fields defensively, so one odd field never
blanks the rest of the span. Content (messages, queries, documents, tool arguments and results)
is yielded only with capture on. Token usage comes from the provider's raw response
(``ChatResponse.raw``), never from LlamaIndex's own counters, which default to 0 when the
provider reported nothing.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from ... import semconv
from ...governance._inline import StepRecord
from ._classify import Kind

Pairs = Iterator[tuple[str, AttributeValue]]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def field(obj: Any, name: str) -> Any:
    """Read ``name`` from a mapping or an object; None when absent."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def argument(bound_args: inspect.BoundArguments, name: str) -> Any:
    """Return a call argument by name, looking into ``**kwargs`` too; None when not passed."""
    arguments = bound_args.arguments
    if name in arguments:
        return arguments[name]
    extra = arguments.get("kwargs")
    return extra.get(name) if isinstance(extra, Mapping) else None


def as_text(value: Any) -> str:
    """Return the text of a query (a string or a ``QueryBundle``) or of a result."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    query_str = getattr(value, "query_str", None)
    if isinstance(query_str, str):
        return query_str
    response = getattr(value, "response", None)
    if isinstance(response, str):
        return response
    return str(value)


# --- model calls -------------------------------------------------------------------------


def _role(message: Any) -> str:
    role = field(message, "role")
    value = getattr(role, "value", role)
    return value if isinstance(value, str) else "user"


def _tool_call_parts(calls: Any) -> Iterator[dict[str, Any]]:
    for call in calls or ():
        function = field(call, "function")
        yield {
            "type": "tool_call",
            "id": field(call, "id"),
            "name": field(function, "name") if function is not None else field(call, "name"),
            "arguments": field(function, "arguments") if function is not None else None,
        }


def _tool_call_block_parts(blocks: Any) -> Iterator[dict[str, Any]]:
    for block in blocks or ():
        if field(block, "block_type") == "tool_call":
            yield {
                "type": "tool_call",
                "id": field(block, "tool_call_id"),
                "name": field(block, "tool_name"),
                "arguments": field(block, "tool_kwargs"),
            }


def message_tool_calls(message: Any) -> list[dict[str, Any]]:
    """Return the tool calls of a ``ChatMessage`` as semantic-convention ``tool_call`` parts.

    The OpenAI LLM keeps the SDK's calls in ``additional_kwargs["tool_calls"]`` beside its
    ``ToolCallBlock`` blocks. Classes that build only the blocks, such as LlamaIndex's
    ``MockFunctionCallingLLM``, are read from the blocks.
    """
    calls = list(_tool_call_parts(field(field(message, "additional_kwargs"), "tool_calls")))
    return calls or list(_tool_call_block_parts(field(message, "blocks")))


def _message(message: Any) -> dict[str, Any]:
    role = _role(message)
    extra = field(message, "additional_kwargs") or {}
    text = field(message, "content")
    if role == "tool":
        part = {"type": "tool_call_response", "id": field(extra, "tool_call_id"), "response": text}
        return {"role": role, "parts": [part]}
    parts: list[dict[str, Any]] = []
    if isinstance(text, str) and text:
        parts.append({"type": "text", "content": text})
    parts.extend(message_tool_calls(message))
    return {"role": role, "parts": parts}


def messages_json(messages: Any) -> str:
    """Convert LlamaIndex ``ChatMessage`` objects to semantic-convention JSON messages."""
    if not isinstance(messages, Iterable) or isinstance(messages, (str, bytes)):
        return "[]"
    return dumps([_message(message) for message in messages])


def _tool_names(tools: Any) -> list[str]:
    """Return the names of OpenAI tool schemas, or of ``BaseTool`` objects passed as they are."""
    names: list[str] = []
    for tool in tools or ():
        function = field(tool, "function")
        name = field(function, "name") if function is not None else field(tool, "name")
        if name is None:
            name = field(field(tool, "metadata"), "name")
        if isinstance(name, str):
            names.append(name)
    return names


def model_request(
    instance: Any, bound_args: inspect.BoundArguments, kind: Kind, method: str, capture: bool
) -> Pairs:
    """Yield request attributes of an LLM or embedding call, all known before it starts."""
    if kind is Kind.EMBED:
        return
    temperature = getattr(instance, "temperature", None)
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        yield semconv.GEN_AI_REQUEST_TEMPERATURE, float(temperature)
    max_tokens = getattr(instance, "max_tokens", None)
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        yield semconv.GEN_AI_REQUEST_MAX_TOKENS, max_tokens
    if "stream" in method:
        yield semconv.REQUEST_STREAM, True
    names = _tool_names(argument(bound_args, "tools"))
    if names:
        yield semconv.REQUEST_TOOL_NAMES, names
    if not capture:
        return
    if kind is Kind.CHAT:
        yield semconv.GEN_AI_INPUT_MESSAGES, messages_json(argument(bound_args, "messages"))
    else:
        prompt = argument(bound_args, "prompt")
        if isinstance(prompt, str):
            yield (
                semconv.GEN_AI_INPUT_MESSAGES,
                dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
            )


def usage(response: Any) -> tuple[int | None, int | None]:
    """Return (input, output) tokens from the raw provider response; None for what it lacks."""
    raw_usage = field(field(response, "raw"), "usage")
    if raw_usage is None:
        return None, None
    input_tokens = field(raw_usage, "prompt_tokens")
    output_tokens = field(raw_usage, "completion_tokens")
    return (
        input_tokens if isinstance(input_tokens, int) else None,
        output_tokens if isinstance(output_tokens, int) else None,
    )


def model_response(response: Any, kind: Kind, capture: bool) -> Pairs:
    """Yield response attributes of a ``ChatResponse`` or ``CompletionResponse``."""
    raw = field(response, "raw")
    response_id = field(raw, "id")
    if isinstance(response_id, str) and response_id:
        yield semconv.GEN_AI_RESPONSE_ID, response_id
    response_model = field(raw, "model")
    if isinstance(response_model, str) and response_model:
        yield semconv.GEN_AI_RESPONSE_MODEL, response_model
    reasons = [field(choice, "finish_reason") for choice in field(raw, "choices") or ()]
    reasons = [reason for reason in reasons if isinstance(reason, str)]
    if reasons:
        yield semconv.GEN_AI_RESPONSE_FINISH_REASONS, reasons

    message = field(response, "message")
    calls = message_tool_calls(message) if message is not None else []
    names = [call["name"] for call in calls if isinstance(call["name"], str)]
    if names:
        yield semconv.RESPONSE_TOOL_CALL_NAMES, names
    ids = [call["id"] for call in calls if isinstance(call["id"], str)]
    if ids:
        yield semconv.RESPONSE_TOOL_CALL_IDS, ids
    if not capture:
        return
    if kind is Kind.CHAT and message is not None:
        output = _message(message)
    else:
        text = field(response, "text")
        output = {"role": "assistant", "parts": [{"type": "text", "content": text}] if text else []}
    # The conventions require the field; an LLM that reports no reason gets an empty one.
    output["finish_reason"] = reasons[0] if reasons else ""
    yield semconv.GEN_AI_OUTPUT_MESSAGES, dumps([output])


def embedding_response(result: Any) -> Pairs:
    """Yield the dimension count of one embedding or of the first of a batch."""
    vector = result[0] if isinstance(result, list) and result and isinstance(result[0], list) else result
    if isinstance(vector, list) and vector:
        yield semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector)


# --- retrieval, queries and tools ------------------------------------------------------------


def node_text(node_with_score: Any) -> str:
    node = field(node_with_score, "node")
    get_content = getattr(node, "get_content", None)
    if callable(get_content):
        text = get_content()
        return text if isinstance(text, str) else ""
    text = field(node, "text")
    return text if isinstance(text, str) else ""


def node_id(node_with_score: Any) -> str | None:
    value = field(field(node_with_score, "node"), "node_id")
    return value if isinstance(value, str) else None


def retrieval_response(nodes: Any, capture: bool) -> Pairs:
    """Yield the document count, and with capture on the ids, scores and texts."""
    if not isinstance(nodes, list):
        return
    yield semconv.RETRIEVAL_DOCUMENT_COUNT, len(nodes)
    if capture:
        documents = [
            {"id": node_id(node), "score": field(node, "score"), "content": node_text(node)} for node in nodes
        ]
        yield semconv.GEN_AI_RETRIEVAL_DOCUMENTS, dumps(documents)


def step_event_facts(bound_args: Any) -> tuple[str | None, str | None]:
    """Return (agent name, tool call id) from the event a workflow step was called with.

    LlamaIndex's agent workflows pass each step one event: ``AgentInput``, ``AgentSetup`` and
    ``AgentOutput`` name the agent the step runs for, and ``ToolCall`` carries the id of the tool
    call the step makes. The events are pydantic models, so their fields are read only when the
    model declares them.

    NOTE: the field names are those of llama-index-core 0.14. If a release renames them, spans
    lose the agent name and the tool call id without a warning.
    """
    agent: str | None = None
    call_id: str | None = None
    for value in getattr(bound_args, "arguments", {}).values():
        fields = getattr(type(value), "model_fields", None)
        if not fields or not isinstance(fields, Mapping):
            continue
        if "current_agent_name" in fields:
            name = getattr(value, "current_agent_name", None)
            agent = name if isinstance(name, str) and name else agent
        if "tool_id" in fields:
            tool_id = getattr(value, "tool_id", None)
            call_id = tool_id if isinstance(tool_id, str) and tool_id else call_id
    return agent, call_id


def tool_name(instance: Any) -> str:
    name = field(field(instance, "metadata"), "name")
    return name if isinstance(name, str) and name else type(instance).__name__


def tool_arguments(instance: Any, bound_args: inspect.BoundArguments) -> str:
    """Return the arguments a tool was called with, as JSON.

    A ``FunctionTool`` whose function takes the workflow ``Context`` gets it from the agent, not
    from the model, so that argument (``ctx_param_name``) is left out.
    """
    arguments = dict(bound_args.arguments)
    arguments.pop("self", None)
    extra = arguments.pop("kwargs", None)
    if isinstance(extra, Mapping):
        arguments.update(extra)
    context_param = getattr(instance, "ctx_param_name", None)
    if isinstance(context_param, str):
        arguments.pop(context_param, None)
    positional = arguments.pop("args", None)
    if positional:
        arguments["args"] = list(positional)
    return dumps(arguments)


def tool_output_text(result: Any) -> str:
    """Return the text of a ``ToolOutput`` (its ``content``), or of any other result."""
    content = field(result, "content")
    if isinstance(content, str):
        return content
    return "" if result is None else str(result)


def step_record(bound_args: inspect.BoundArguments, kind: Kind) -> StepRecord:
    """Return what inline evaluators need of a model call's request, in the OpenAI message shape."""
    if kind is Kind.CHAT:
        messages = [
            {
                "role": str(getattr(field(message, "role"), "value", field(message, "role"))),
                "content": _text(message),
            }
            for message in argument(bound_args, "messages") or ()
        ]
    else:
        prompt = argument(bound_args, "prompt")
        messages = [{"role": "user", "content": prompt if isinstance(prompt, str) else ""}]
    return StepRecord(messages=messages, tools=[])


def _text(message: Any) -> str:
    content = field(message, "content")
    return content if isinstance(content, str) else ""


def answer(response: Any) -> tuple[str, list[dict[str, Any]]]:
    """Return a ``ChatResponse`` or ``CompletionResponse`` text and tool calls, for inline evaluators."""
    message = field(response, "message")
    text = _text(message) if message is not None else field(response, "text")
    tool_calls = message_tool_calls(message) if message is not None else []
    calls = [{"name": call["name"], "arguments": _arguments_text(call["arguments"])} for call in tool_calls]
    return (text if isinstance(text, str) else ""), calls


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else dumps(arguments)
