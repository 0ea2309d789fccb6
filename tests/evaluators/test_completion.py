from __future__ import annotations

import json

import pytest

from agentwatch.evaluators import JsonSchemaAdherence, TaskCompletion

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
    "required": ["id", "qty"],
    "additionalProperties": False,
}


def test_complete_answer():
    result = TaskCompletion(embedder=None).evaluate(
        input="How many employees does the company have?", output="The company has 48 employees."
    )
    assert result.passed is True
    assert result.label == "complete"


@pytest.mark.parametrize(
    ("output", "label"),
    [
        ("I'm sorry, but I can't help with that.", "refusal"),
        ("Error: upstream timed out", "error"),
        ("Agent stopped due to iteration limit or time limit.", "iteration_limit"),
        ("", "no_final_answer"),
        ("Bananas are yellow.", "off_topic"),
    ],
)
def test_failed_endings(output, label):
    result = TaskCompletion(embedder=None).evaluate(input="What is the refund deadline?", output=output)
    assert result.label == label
    assert result.passed is False


def test_unanswered_tool_call_in_trajectory():
    trajectory = [
        {"role": "user", "content": "Book a flight"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "book_flight", "arguments": "{}"}}
            ],
        },
    ]
    result = TaskCompletion(embedder=None).evaluate(input="Book a flight", trajectory=trajectory)
    assert result.label == "unanswered_tool_call"
    assert "book_flight" in result.reason


def test_final_answer_taken_from_trajectory():
    trajectory = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "get_weather"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "4 degrees"},
        {"role": "assistant", "content": "It is 4 degrees in Oslo."},
    ]
    result = TaskCompletion(embedder=None).evaluate(
        input="What's the weather in Oslo?", trajectory=trajectory
    )
    assert result.passed is True


def test_iteration_limit_in_trajectory():
    trajectory = [{"role": "assistant", "content": "Partial", "stop_reason": "max_iterations"}]
    result = TaskCompletion(embedder=None).evaluate(input="Do it", output="Partial", trajectory=trajectory)
    assert result.label == "iteration_limit"


def test_judge_gives_final_word():
    prompts: list[str] = []

    def judge(prompt: str) -> str:
        prompts.append(prompt)
        return '{"label": "partial", "explanation": "Only one of two questions answered."}'

    result = TaskCompletion(judge=judge, embedder=None).evaluate(
        input="What is the refund deadline and the fee?", output="The refund deadline is 30 days."
    )
    assert len(prompts) == 1
    assert result.tier == "T2"
    assert result.label == "partial"
    assert result.passed is False


def test_schema_valid_output():
    result = JsonSchemaAdherence().evaluate(output=json.dumps({"id": "A1", "qty": 2}), schema=ORDER_SCHEMA)
    assert result.passed is True
    assert result.label == "valid"


@pytest.mark.parametrize(
    ("output", "label", "fragment"),
    [
        ('{"id": "A1", "qty": 0}', "schema_violation", "qty"),
        ('{"id": "A1"}', "schema_violation", "qty"),
        ('{"id": "A1", "qty": 1, "note": "x"}', "schema_violation", "note"),
        ('{"id": "A1", "qty": ', "not_json", "not valid JSON"),
        ('```json\n{"id": "A1", "qty": 1}\n```', "not_json", "code fence"),
    ],
)
def test_schema_failures(output, label, fragment):
    result = JsonSchemaAdherence().evaluate(output=output, schema=ORDER_SCHEMA)
    assert result.label == label
    assert result.passed is False
    assert fragment in result.reason


def test_schema_from_response_format():
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "order", "strict": True, "schema": ORDER_SCHEMA},
    }
    result = JsonSchemaAdherence().evaluate(output='{"id": "A1", "qty": 3}', response_format=response_format)
    assert result.passed is True


@pytest.mark.parametrize(
    ("schema", "response_format"),
    [(None, None), ("not a schema", None), (None, {"type": "text"}), ({"type": "nonsense-type"}, None)],
)
def test_schema_missing_or_invalid_is_error(schema, response_format):
    result = JsonSchemaAdherence().evaluate(output="{}", schema=schema, response_format=response_format)
    assert result.label == "error"
    assert result.passed is False
