"""The message JSON written on the chat span is the general converter's JSON, byte for byte.

Text-only messages skip the dicts and are written directly. These tests compare that shortcut
with the general path (``dumps`` of the converted dicts) for every message shape.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult

from agentwatch import semconv
from agentwatch._messages import dumps, input_messages, text_message_json
from agentwatch.integrations.langchain._extract import input_messages_json, model_response, openai_messages

TRICKY_TEXT = 'quote " backslash \\ newline \n tab \t bell \x07 non-ASCII é 東京 emoji 🙂'

MESSAGE_CASES: dict[str, list[Any]] = {
    "system and human": [SystemMessage("Be brief."), HumanMessage("Where is order 4711?")],
    "escapes and non-ASCII": [HumanMessage(TRICKY_TEXT)],
    "empty content": [HumanMessage("")],
    "content parts": [
        HumanMessage(
            content=[{"type": "text", "text": "first"}, "second", {"type": "image_url", "image_url": {}}]
        )
    ],
    "assistant without tool calls": [AIMessage("Sure.")],
    "assistant with tool calls": [
        AIMessage(
            "",
            tool_calls=[{"name": "lookup", "args": {"order": 4711}, "id": "call_1", "type": "tool_call"}],
        )
    ],
    "tool result": [ToolMessage("shipped", tool_call_id="call_1")],
    "custom role": [ChatMessage(role="critic", content="Too long.")],
    "prompt strings": ["plain prompt", ""],
    "whole exchange": [
        SystemMessage("Be brief."),
        HumanMessage("Where is order 4711?"),
        AIMessage("", tool_calls=[{"name": "lookup", "args": {}, "id": "call_2", "type": "tool_call"}]),
        ToolMessage(TRICKY_TEXT, tool_call_id="call_2"),
        AIMessage("It shipped."),
    ],
}


@pytest.mark.parametrize("messages", list(MESSAGE_CASES.values()), ids=list(MESSAGE_CASES))
def test_input_json_matches_general_path(messages: list[Any]) -> None:
    expected = dumps(input_messages(openai_messages(messages)))
    written = input_messages_json(messages)
    assert written == expected
    assert json.loads(written) == json.loads(expected)


def test_text_message_json_matches_dumps() -> None:
    for role, text, reason in [
        ("user", TRICKY_TEXT, None),
        ("assistant", "", "stop"),
        ("assistant", "done", TRICKY_TEXT),
        ('odd "role"', "x", ""),
    ]:
        message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}] if text else []}
        if reason is not None:
            message["finish_reason"] = reason
        assert text_message_json(role, text, reason) == dumps(message)


def _result(*generations: Any) -> LLMResult:
    return LLMResult(generations=[list(generations)])


def test_output_json_mixed_generations() -> None:
    text = ChatGeneration(
        message=AIMessage(
            TRICKY_TEXT, response_metadata={"finish_reason": "stop", "id": "r1", "model_name": "m"}
        )
    )
    calls = ChatGeneration(
        message=AIMessage(
            "Looking it up.",
            tool_calls=[{"name": "lookup", "args": {"order": 4711}, "id": "call_1", "type": "tool_call"}],
            response_metadata={"finish_reason": "tool_calls"},
        )
    )
    plain = Generation(text="completion text", generation_info={"finish_reason": "length"})
    attributes = model_response(_result(text, calls, plain), capture=True)
    written = attributes[semconv.GEN_AI_OUTPUT_MESSAGES]
    assert isinstance(written, str)
    assert json.loads(written) == [
        {"role": "assistant", "parts": [{"type": "text", "content": TRICKY_TEXT}], "finish_reason": "stop"},
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Looking it up."},
                {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"order": 4711}},
            ],
            "finish_reason": "tool_calls",
        },
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "completion text"}],
            "finish_reason": "length",
        },
    ]
    # The same separators and escaping as every other captured JSON value.
    assert written == dumps(json.loads(written))


def test_output_json_absent_capture_off() -> None:
    generation = ChatGeneration(
        message=AIMessage("secret answer", response_metadata={"finish_reason": "stop"})
    )
    attributes = model_response(_result(generation), capture=False)
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attributes
    assert attributes == {semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"]}
