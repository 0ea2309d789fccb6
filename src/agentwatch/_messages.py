"""Read OpenAI-format chat messages (the lingua franca of agent frameworks) and convert them
to the GenAI semantic-convention JSON shape.

Messages may be dicts or SDK objects (users append ``response.choices[0].message`` to the next
request), so every read goes through ``field``. Nothing here raises on an unexpected shape: an
unknown part is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring
from typing import Any


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a mapping or an object."""
    if type(obj) is dict:
        return obj.get(name, default)
    return getattr(obj, name, default)


# One encoder for every call: json.dumps with options builds a new encoder each time, which
# costs about as much as encoding two chat messages.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":"))


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def text_message_json(role: str, text: str, finish_reason: str | None = None) -> str:
    """Return a message with one text part (none when ``text`` is empty) as ``dumps`` writes it.

    Most messages are text only, and writing their JSON directly costs a fraction of building
    the dict and encoding it. ``encode_basestring`` is the string quoting ``dumps`` uses.
    """
    parts = '{"type":"text","content":' + encode_basestring(text) + "}" if text else ""
    tail = "" if finish_reason is None else ',"finish_reason":' + encode_basestring(finish_reason)
    return '{"role":' + encode_basestring(role) + ',"parts":[' + parts + "]" + tail + "}"


def _parse_arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def content_text(content: Any) -> str:
    """Join the text of a message content that is a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    if isinstance(content, Iterable):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            text = field(part, "text")
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts)


def _content_parts(content: Any) -> Iterator[dict[str, Any]]:
    text = content_text(content)
    if text:
        yield {"type": "text", "content": text}


def tool_call_part(call: Any, include_arguments: bool = True) -> dict[str, Any]:
    function = field(call, "function")
    part: dict[str, Any] = {
        "type": "tool_call",
        "id": field(call, "id"),
        "name": field(function, "name") if function is not None else field(call, "name"),
    }
    if include_arguments:
        raw = field(function, "arguments") if function is not None else field(call, "arguments")
        part["arguments"] = _parse_arguments(raw)
    return part


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Convert chat-completions request messages to semantic-convention input messages."""
    converted: list[dict[str, Any]] = []
    if not isinstance(messages, Iterable) or isinstance(messages, (str, bytes)):
        return converted
    for message in messages:
        role = field(message, "role") or "user"
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": field(message, "tool_call_id"),
                    "response": content_text(field(message, "content")),
                }
            ]
        else:
            parts = list(_content_parts(field(message, "content")))
            for call in field(message, "tool_calls") or ():
                parts.append(tool_call_part(call))
        converted.append({"role": role, "parts": parts})
    return converted


def responses_input_messages(input_value: Any) -> list[dict[str, Any]]:
    """Convert a Responses API ``input`` (a string or a list of items) to input messages."""
    if isinstance(input_value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": input_value}]}]
    converted: list[dict[str, Any]] = []
    if not isinstance(input_value, Iterable):
        return converted
    for item in input_value:
        item_type = field(item, "type")
        if item_type == "function_call_output":
            converted.append(
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": field(item, "call_id"),
                            "response": content_text(field(item, "output")),
                        }
                    ],
                }
            )
        elif item_type == "function_call":
            converted.append(
                {
                    "role": "assistant",
                    "parts": [
                        {
                            "type": "tool_call",
                            "id": field(item, "call_id"),
                            "name": field(item, "name"),
                            "arguments": _parse_arguments(field(item, "arguments")),
                        }
                    ],
                }
            )
        else:
            role = field(item, "role") or "user"
            converted.append({"role": role, "parts": list(_content_parts(field(item, "content")))})
    return converted


def evidence_from_messages(messages: Any) -> Iterator[tuple[str, str, str | None]]:
    """Yield ``(kind, text, source)`` for each message a later answer may be judged against."""
    if not isinstance(messages, Iterable) or isinstance(messages, (str, bytes)):
        return
    for message in messages:
        role = field(message, "role")
        if role == "tool":
            yield "tool_result", content_text(field(message, "content")), field(message, "tool_call_id")
        elif role in ("system", "developer"):
            yield "system", content_text(field(message, "content")), None
        elif role == "user":
            yield "user", content_text(field(message, "content")), None
