"""JSON Schema validation with cached validators, and JsonSchemaAdherence for structured outputs."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ._result import EvaluationResult, Evaluator
from ._text import MAX_OUTPUT_CHARS, coerce_text

_MAX_ERRORS = 5
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


class ValidatorCache:
    """Compiled ``jsonschema`` validators keyed by the schema's canonical JSON (thread-safe LRU)."""

    def __init__(self, max_entries: int = 256) -> None:
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, schema: Mapping[str, Any]) -> Any:
        """Return a validator for ``schema``.

        Raises:
            ImportError: when ``jsonschema`` is not installed.
            jsonschema.SchemaError: when the schema itself is invalid.
        """
        key = json.dumps(schema, sort_keys=True, default=str)
        with self._lock:
            validator = self._entries.get(key)
            if validator is not None:
                self._entries.move_to_end(key)
                return validator
        import jsonschema

        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator_class.check_schema(schema)
        validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
        with self._lock:
            self._entries[key] = validator
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return validator


VALIDATORS = ValidatorCache()


def schema_errors(instance: object, schema: Mapping[str, Any]) -> list[str]:
    """Return up to five readable validation errors, each with the JSON path that failed.

    Raises:
        ImportError, jsonschema.SchemaError: as :meth:`ValidatorCache.get`.
    """
    validator = VALIDATORS.get(schema)
    messages = []
    for error in sorted(validator.iter_errors(instance), key=lambda error: list(error.path)):
        path = "$" + "".join(f"[{part!r}]" if isinstance(part, int) else f".{part}" for part in error.path)
        messages.append(f"{path}: {error.message}")
        if len(messages) == _MAX_ERRORS:
            break
    return messages


def schema_from_response_format(response_format: object) -> tuple[Mapping[str, Any] | None, str | None]:
    """Return (schema, problem) from an OpenAI ``response_format`` value.

    ``{"type": "json_schema", "json_schema": {"schema": ...}}`` gives its schema;
    ``{"type": "json_object"}`` gives None (any JSON object is valid).
    """
    if not isinstance(response_format, Mapping):
        return None, f"response_format must be a mapping, got {type(response_format).__name__}"
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}, None
    if kind == "json_schema":
        inner = response_format.get("json_schema")
        if isinstance(inner, Mapping) and isinstance(inner.get("schema"), Mapping):
            return inner["schema"], None
        return None, "response_format of type json_schema has no json_schema.schema"
    return None, f"response_format type {kind!r} does not request JSON (expected json_schema or json_object)"


class JsonSchemaAdherence(Evaluator):
    """Whether an output requested as JSON parses and validates against its schema.

    Args:
        threshold: ``passed`` is ``score >= threshold``; the score is 1 for a valid output, 0.5
            for JSON that parses but breaks the schema, 0 for text that is not JSON. Default 1.0.
        allow_code_fence: accept JSON wrapped in a Markdown code fence. Default False, because a
            caller that requested JSON gets a parse error from the fence.
    """

    name = "json_schema"

    def __init__(self, threshold: float = 1.0, *, allow_code_fence: bool = False) -> None:
        super().__init__(threshold)
        self.allow_code_fence = allow_code_fence

    def evaluate(
        self, output: object = None, schema: object = None, response_format: object = None
    ) -> EvaluationResult:
        """Check ``output`` against ``schema`` or the schema inside ``response_format``."""
        return self._run(lambda: self._check(output, schema, response_format))

    def _result(
        self, score: float, label: str, reason: str, details: tuple[Mapping[str, Any], ...] = ()
    ) -> EvaluationResult:
        return EvaluationResult(
            self.name, score, score >= self.threshold, label, reason, details, threshold=self.threshold
        )

    def _check(self, output: object, schema: object, response_format: object) -> EvaluationResult:
        if schema is None and response_format is not None:
            schema, problem = schema_from_response_format(response_format)
            if problem is not None:
                return self.error_result(problem)
        if schema is None:
            return self.error_result("no schema was given; pass schema= or response_format=")
        if not isinstance(schema, Mapping):
            return self.error_result(f"schema must be a mapping, got {type(schema).__name__}")
        if isinstance(output, (Mapping, list)) and not isinstance(output, str):
            instance: object = output
        else:
            coerced = coerce_text(output, MAX_OUTPUT_CHARS)
            if coerced.problem is not None:
                return self.error_result(f"output is {coerced.problem}")
            if coerced.truncated:
                return self.uncertain_result("The output is too long to parse as JSON.")
            text = coerced.text
            fence = _FENCE_RE.match(text)
            if fence is not None:
                if not self.allow_code_fence:
                    return self._result(
                        0.0,
                        "not_json",
                        "The output wraps its JSON in a Markdown code fence, so it does not parse as "
                        "JSON; ask the model for bare JSON or set allow_code_fence=True.",
                    )
                text = fence.group(1)
            try:
                instance = json.loads(text)
            except json.JSONDecodeError as exc:
                return self._result(
                    0.0,
                    "not_json",
                    f"The output is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
                )
        try:
            errors = schema_errors(instance, schema)
        except ImportError:
            return self.error_result("jsonschema is not installed; install agentwatch[evaluators]")
        except Exception as exc:  # noqa: BLE001 - jsonschema.SchemaError without importing jsonschema here
            return self.error_result(f"the schema is invalid: {getattr(exc, 'message', exc)}")
        if errors:
            details = tuple({"error": error} for error in errors)
            return self._result(
                0.5, "schema_violation", f"The output breaks the schema: {errors[0]}.", details
            )
        return self._result(1.0, "valid", "The output is valid JSON and matches the schema.")
