"""ToolSelectionAccuracy: are a model step's tool calls the right ones, well formed?

Without expected tools the checks are: the tool is among those offered, its arguments parse as a
JSON object and validate against the tool's JSON Schema, ``tool_choice`` is honoured, the same
call is not repeated (a loop), and no other offered tool fits the request clearly better. With
expected tools, actual and expected calls are paired by optimal matching (Hungarian algorithm),
or in order with ``ordered=True``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._embeddings import Embedder, resolve_embedder
from ._lexicon import canonical
from ._matching import best_assignment, best_ordered_alignment
from ._result import TIER_LOCAL_MODEL, TIER_RULES, EvaluationResult, Evaluator, clamp_score
from ._schema import schema_errors
from ._text import MAX_OUTPUT_CHARS, STOPWORDS, WORD_RE, coerce_text, normalise

_HARD_ISSUES = (
    "unknown_tool",
    "invalid_arguments",
    "schema_violation",
    "tool_choice_violation",
    "repeated_call",
)
_MAX_CALLS = 128


@dataclass
class _Tool:
    name: str
    description: str
    parameters: Mapping[str, Any] | None


@dataclass
class _Call:
    name: str
    raw_arguments: object
    arguments: Mapping[str, Any] | None = None
    issues: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def _function_spec(item: Mapping[str, Any]) -> Mapping[str, Any]:
    # Chat Completions nests the fields under "function"; the Responses API puts them at the top.
    nested = item.get("function")
    return nested if isinstance(nested, Mapping) else item


def _read_tools(tools: object) -> dict[str, _Tool]:
    found: dict[str, _Tool] = {}
    if not isinstance(tools, Sequence) or isinstance(tools, (str, bytes)):
        return found
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        spec = _function_spec(tool)
        name = spec.get("name")
        if isinstance(name, str):
            parameters = spec.get("parameters")
            found[name] = _Tool(
                name,
                str(spec.get("description") or ""),
                parameters if isinstance(parameters, Mapping) else None,
            )
    return found


def _read_call(call: object) -> _Call | None:
    if not isinstance(call, Mapping):
        return None
    spec = _function_spec(call)
    name = spec.get("name")
    return _Call(name if isinstance(name, str) else "", spec.get("arguments"))


def _parse_arguments(raw: object) -> tuple[Mapping[str, Any] | None, str | None]:
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, Mapping):
        return raw, None
    if not isinstance(raw, str):
        return None, f"arguments must be a JSON string, got {type(raw).__name__}"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"arguments are not valid JSON ({exc.msg})"
    if not isinstance(value, dict):
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None


def _call_key(name: str, arguments: Mapping[str, Any] | None, raw: object) -> str:
    if arguments is not None:
        return name + json.dumps(arguments, sort_keys=True, default=str)
    return name + str(raw)


def _forced_tool(tool_choice: object) -> str | None:
    if isinstance(tool_choice, Mapping):
        name = _function_spec(tool_choice).get("name")
        return name if isinstance(name, str) else None
    return None


def _values_agree(expected: object, actual: object) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.strip().casefold() == actual.strip().casefold()
    if (
        isinstance(expected, (int, float))
        and isinstance(actual, (int, float))
        and not isinstance(expected, bool)
    ):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9)
    return expected == actual


def _similarity(expected: Mapping[str, Any], call: _Call) -> float:
    if expected.get("name") != call.name:
        return 0.0
    wanted = expected.get("arguments")
    if isinstance(wanted, str):
        wanted, _ = _parse_arguments(wanted)
    if not wanted:
        return 1.0
    actual = call.arguments or {}
    agreeing = sum(1 for key, value in wanted.items() if key in actual and _values_agree(value, actual[key]))
    return 0.5 + 0.5 * agreeing / len(wanted)


def _words(text: str) -> set[str]:
    return {
        canonical(word)
        for word in WORD_RE.findall(normalise(text.replace("_", " ")))
        if word not in STOPWORDS
    }


def _tool_text(tool: _Tool) -> str:
    names = " ".join((tool.parameters or {}).get("properties", {}) or {}) if tool.parameters else ""
    return f"{tool.name.replace('_', ' ')}. {tool.description} {names.replace('_', ' ')}"


class ToolSelectionAccuracy(Evaluator):
    """Share of a step's tool calls that are valid and well chosen (1 = all of them).

    Args:
        threshold: ``passed`` is ``score >= threshold``. Default 0.8.
        max_repeats: how many identical calls (same name and arguments) a run may make before
            they count as a loop. Default 1.
        embedder: ``"auto"`` uses the bundled MiniLM to judge which offered tool fits the
            request; None judges by shared words only.
        fit_margin: how much better (in cosine similarity, or in shared-word weight without a
            model) another tool must fit the request before the chosen one is flagged.
    """

    name = "tool_selection"

    def __init__(
        self,
        threshold: float = 0.8,
        *,
        max_repeats: int = 1,
        embedder: object = "auto",
        fit_margin: float = 0.1,
    ) -> None:
        super().__init__(threshold)
        self.max_repeats = max_repeats
        self._embedder_choice = embedder
        self._embedder: Embedder | None = None
        self._embedder_resolved = False
        self.fit_margin = fit_margin

    def evaluate(
        self,
        input: object = None,
        tools: object = None,
        tool_calls: object = None,
        expected_tools: object = None,
        tool_choice: object = None,
        ordered: bool = False,
        previous_calls: object = None,
    ) -> EvaluationResult:
        """Check ``tool_calls`` against the offered ``tools`` and, when given, ``expected_tools``."""
        return self._run(
            lambda: self._check(
                input, tools, tool_calls, expected_tools, tool_choice, ordered, previous_calls
            )
        )

    def _check(
        self,
        input: object,
        tools: object,
        tool_calls: object,
        expected_tools: object,
        tool_choice: object,
        ordered: bool,
        previous_calls: object,
    ) -> EvaluationResult:
        offered = _read_tools(tools)
        if tool_calls is None:
            tool_calls = []
        if not isinstance(tool_calls, Sequence) or isinstance(tool_calls, (str, bytes)):
            return self.error_result(f"tool_calls must be a list of calls, got {type(tool_calls).__name__}")
        calls = [_read_call(call) for call in list(tool_calls)[:_MAX_CALLS]]
        if any(call is None for call in calls):
            return self.error_result("every tool call must be a mapping with a name and arguments")
        checked: list[_Call] = [call for call in calls if call is not None]
        if not offered and checked:
            return self.uncertain_result(
                "No tool schemas were given, so the calls cannot be checked; pass tools=."
            )
        request = coerce_text(input, MAX_OUTPUT_CHARS).text

        tier = TIER_RULES
        for call in checked:
            self._check_call(call, offered, tool_choice)
        self._check_repeats(checked, previous_calls)
        if request and len(offered) > 1:
            tier = self._check_fit(request, checked, offered)

        if tool_choice == "required" and not checked:
            return self._result(
                0.0,
                "tool_choice_violation",
                "tool_choice is 'required' but the model called no tool.",
                (),
                tier,
            )
        if expected_tools is not None:
            return self._score_expected(checked, expected_tools, ordered, tier)
        if not checked:
            if tool_choice == "none":
                return self._result(
                    1.0, "correct", "tool_choice is 'none' and the model called no tool.", (), tier
                )
            return self.uncertain_result(
                "The model called no tool and no expected tools were given, "
                "so tool selection cannot be judged."
            )
        # A call with a hard issue scores 0; one that only fits the request worse scores 0.5.
        total = 0.0
        for call in checked:
            if any(issue in _HARD_ISSUES for issue in call.issues):
                continue
            total += 0.5 if call.issues else 1.0
        return self._summarise(checked, total / len(checked), tier)

    def _check_call(self, call: _Call, offered: Mapping[str, _Tool], tool_choice: object) -> None:
        tool = offered.get(call.name)
        if tool is None:
            call.issues.append("unknown_tool")
            call.messages.append(
                f"'{call.name}' is not among the offered tools ({', '.join(sorted(offered))})"
            )
        arguments, problem = _parse_arguments(call.raw_arguments)
        call.arguments = arguments
        if problem is not None:
            call.issues.append("invalid_arguments")
            call.messages.append(f"'{call.name}' {problem}")
        elif tool is not None and tool.parameters:
            errors = schema_errors(arguments, tool.parameters)
            if errors:
                call.issues.append("schema_violation")
                call.messages.append(f"'{call.name}' arguments break its schema: {errors[0]}")
        forced = _forced_tool(tool_choice)
        if tool_choice == "none" or (forced is not None and forced != call.name):
            call.issues.append("tool_choice_violation")
            wanted = "no tool" if tool_choice == "none" else f"'{forced}'"
            call.messages.append(f"tool_choice requires {wanted}, but the model called '{call.name}'")

    def _check_repeats(self, calls: list[_Call], previous_calls: object) -> None:
        seen: Counter[str] = Counter()
        if isinstance(previous_calls, Sequence) and not isinstance(previous_calls, (str, bytes)):
            for previous in previous_calls:
                earlier = _read_call(previous)
                if earlier is not None:
                    arguments, _ = _parse_arguments(earlier.raw_arguments)
                    seen[_call_key(earlier.name, arguments, earlier.raw_arguments)] += 1
        for call in calls:
            key = _call_key(call.name, call.arguments, call.raw_arguments)
            seen[key] += 1
            if seen[key] > self.max_repeats:
                call.issues.append("repeated_call")
                call.messages.append(
                    f"'{call.name}' was called with the same arguments {seen[key]} times in this run"
                )

    def _get_embedder(self) -> Embedder | None:
        if not self._embedder_resolved:
            self._embedder = resolve_embedder(self._embedder_choice)
            self._embedder_resolved = True
        return self._embedder

    def _check_fit(self, request: str, calls: list[_Call], offered: Mapping[str, _Tool]) -> str:
        names = sorted(offered)
        embedder = self._get_embedder()
        if embedder is not None:
            vectors = embedder.embed([request] + [_tool_text(offered[name]) for name in names])
            fit = dict(zip(names, (float(value) for value in vectors[1:] @ vectors[0]), strict=True))
            margin, tier = self.fit_margin, TIER_LOCAL_MODEL
        else:
            request_words = _words(request)
            tool_words = {name: _words(_tool_text(offered[name])) for name in names}
            frequency = Counter(word for words in tool_words.values() for word in words)
            fit = {
                name: sum(1.0 / frequency[word] for word in request_words & tool_words[name])
                for name in names
            }
            margin, tier = 1.0, TIER_RULES
        called = {call.name for call in calls}
        for call in calls:
            if call.name not in fit:
                continue
            # In a step with several calls, each serves part of the request; a tool that is also
            # called in this step is not a better choice for the others.
            best = max(
                (name for name in names if name == call.name or name not in called),
                key=lambda name: fit[name],
            )
            if best != call.name and fit[best] - fit[call.name] >= margin:
                call.issues.append("better_tool_available")
                call.messages.append(f"'{best}' fits the request better than '{call.name}'")
        return tier

    def _score_expected(
        self, calls: list[_Call], expected_tools: object, ordered: bool, tier: str
    ) -> EvaluationResult:
        if not isinstance(expected_tools, Sequence) or isinstance(expected_tools, (str, bytes)):
            return self.error_result(f"expected_tools must be a list, got {type(expected_tools).__name__}")
        expected = [{"name": item} if isinstance(item, str) else item for item in expected_tools]
        if any(not isinstance(item, Mapping) for item in expected):
            return self.error_result("each expected tool must be a name or a mapping with a name")
        if not expected and not calls:
            return self._result(1.0, "correct", "No tool call was expected and none was made.", (), tier)
        similarity = [[_similarity(item, call) for call in calls] for item in expected]
        pairs = best_ordered_alignment(similarity) if ordered else best_assignment(similarity)
        matched = sum(similarity[row][column] for row, column in pairs)
        score = matched / max(len(expected), len(calls))
        valid = [call for call in calls if not any(issue in _HARD_ISSUES for issue in call.issues)]
        score *= len(valid) / len(calls) if calls else 1.0
        matched_calls = {column for row, column in pairs if similarity[row][column] > 0}
        matched_expected = {row for row, column in pairs if similarity[row][column] > 0}
        for position, call in enumerate(calls):
            if position not in matched_calls:
                call.issues.append("unexpected_call")
                call.messages.append(f"'{call.name}' was not expected here")
            elif any(similarity[row][position] < 1.0 for row, column in pairs if column == position):
                call.issues.append("argument_mismatch")
                call.messages.append(f"'{call.name}' was called with arguments other than expected")
        missing = [
            str(expected[row].get("name")) for row in range(len(expected)) if row not in matched_expected
        ]
        result = self._summarise(calls, score, tier)
        if missing:
            reason = f"Expected calls missing: {', '.join(missing)}. " + (result.reason if calls else "")
            details = (*result.details, {"missing": missing})
            return self._result(
                result.score,
                "missing_calls" if result.label == "correct" else result.label,
                reason.strip(),
                details,
                tier,
            )
        return result

    def _summarise(self, calls: list[_Call], score: float, tier: str) -> EvaluationResult:
        details = tuple(
            {"name": call.name, "issues": list(call.issues), "messages": list(call.messages)}
            for call in calls
        )
        problems = [call for call in calls if call.issues]
        if not problems:
            return self._result(
                score, "correct", f"All {len(calls)} tool calls are valid and fit the request.", details, tier
            )
        order = [*list(_HARD_ISSUES), "unexpected_call", "argument_mismatch", "better_tool_available"]
        first = min((issue for call in problems for issue in call.issues), key=order.index)
        message = next(
            text
            for call in problems
            for issue, text in zip(call.issues, call.messages, strict=True)
            if issue == first
        )
        return self._result(
            score,
            first,
            f"{len(problems)} of {len(calls)} tool calls have problems; {message}.",
            details,
            tier,
        )

    def _result(
        self, score: float, label: str, reason: str, details: tuple[Mapping[str, Any], ...], tier: str
    ) -> EvaluationResult:
        score = clamp_score(score)
        return EvaluationResult(
            self.name, score, score >= self.threshold, label, reason, details, tier, threshold=self.threshold
        )
