"""JsonSchemaGuardrail and GroundednessGuardrail wrap the evaluators in guardrail results."""

from __future__ import annotations

from agentwatch.guardrails import GroundednessGuardrail, JsonSchemaGuardrail

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}


def test_schema_valid_output() -> None:
    result = JsonSchemaGuardrail().check('{"id": 3}', schema=SCHEMA)
    assert result.passed is True
    assert result.label == "valid"
    assert result.score == 1.0
    assert result.stage == "output"


def test_schema_violation() -> None:
    result = JsonSchemaGuardrail().check('{"id": "x"}', schema=SCHEMA)
    assert result.passed is False
    assert result.label == "schema_violation"


def test_schema_not_json() -> None:
    result = JsonSchemaGuardrail().check("Sure! Here it is", schema=SCHEMA)
    assert result.passed is False
    assert result.label == "not_json"


def test_schema_from_response_format() -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}
    result = JsonSchemaGuardrail().check('{"id": 1}', response_format=response_format)
    assert result.passed is True


def test_schema_missing_is_error() -> None:
    result = JsonSchemaGuardrail().check('{"id": 1}')
    assert result.label == "error"
    assert result.error is not None


def test_schema_none_output_fails() -> None:
    assert JsonSchemaGuardrail().check(None, schema=SCHEMA).label == "not_json"


def test_groundedness_contradicted() -> None:
    result = GroundednessGuardrail().check(
        "Refunds are available for 60 days.", context="Refund requests must be filed within 30 days."
    )
    assert result.passed is False
    assert result.score is not None
    assert result.name == "groundedness"


def test_groundedness_supported() -> None:
    result = GroundednessGuardrail().check(
        "Refunds must be filed within 30 days.", context="Refund requests must be filed within 30 days."
    )
    assert result.passed is True
