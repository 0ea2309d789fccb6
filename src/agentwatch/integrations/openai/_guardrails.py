"""Guardrails on OpenAI chat calls: input checks before the model call, output checks after it.

Input: each system, user and tool message is checked (tool results as ``source="tool"``, where
instructions addressed to the assistant are suspicious). ``redact`` sends the model a copy of the
messages with placeholders, and the user's answer gets the real values back. Output: the answer
text is checked before it is returned. Every check that ran becomes an
``agentwatch.guardrail.result`` event on the call's span.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ... import semconv
from ..._call import ModelCall
from ..._messages import content_text, evidence_from_messages, field
from ..._state import STATE
from ...guardrails import GuardrailOutcome, Redactor

_SOURCES = {"user": "user", "system": "user", "developer": "user", "tool": "tool"}


@dataclass
class InputDecision:
    """The guardrails' decision for one call."""

    action: str | None  # the strongest action that fired, or None
    check: str = ""
    reason: str = ""
    kwargs: dict[str, Any] | None = None  # the request to send when messages were redacted
    redactor: Redactor | None = None
    text: str | None = None  # the answer with the output guardrails' placeholders, when redacted


def _record(call: ModelCall, outcome: GuardrailOutcome) -> None:
    route = call.metric_attributes.get(semconv.ROUTE_NAME)
    for verdict in outcome.verdicts:
        result = verdict.result
        action = verdict.rule.action if verdict.fired else "none"
        call.span.add_event(
            semconv.EVENT_GUARDRAIL_RESULT,
            {
                semconv.GUARDRAIL_NAME: result.name,
                semconv.GUARDRAIL_STAGE: outcome.stage,
                semconv.GUARDRAIL_ACTION: action,
                semconv.GUARDRAIL_PASSED: bool(result.passed),
                semconv.GUARDRAIL_LABEL: result.label,
            },
        )
        if verdict.fired:
            attributes = {semconv.GUARDRAIL_NAME: result.name, semconv.GUARDRAIL_ACTION: action}
            if route is not None:
                attributes[semconv.ROUTE_NAME] = str(route)
            STATE.instruments.guardrail_actions.add(1, attributes)


def _first_fired(outcome: GuardrailOutcome) -> tuple[str, str]:
    for verdict in outcome.verdicts:
        if verdict.fired and verdict.rule.action == outcome.action:
            return verdict.result.name, verdict.result.reason
    return "", ""


_ORDER = {"raise": 4, "block": 3, "fallback": 2, "redact": 1, "flag": 0}


def check_input(call: ModelCall, kwargs: dict[str, Any]) -> InputDecision:
    """Run the input-stage guardrails on the request's messages."""
    suite = STATE.guardrails
    messages = kwargs.get("messages")
    if suite is None or messages is None or isinstance(messages, (str, bytes, dict)):
        return InputDecision(None)
    consumed = not isinstance(messages, (list, tuple))
    if consumed:
        # Any iterable of messages is valid in the SDK; a generator is read once, here, and the
        # request carries the list that was checked.
        messages = list(messages)
    evidence = [] if call.run.implicit else call.run.evidence_texts()
    call.guard_context = evidence or [text for _, text, _ in evidence_from_messages(messages) if text.strip()]
    redactor = Redactor()
    decision = InputDecision(None, redactor=redactor)
    redacted: dict[int, str] = {}
    for index, message in enumerate(messages):
        source = _SOURCES.get(str(field(message, "role")))
        text = content_text(field(message, "content"))
        if source is None or not text:
            continue
        outcome = suite.run(text, stage="input", source=source, redactor=redactor)
        _record(call, outcome)
        if outcome.action is None:
            continue
        if outcome.text is not None and outcome.text != text:
            # A redact rule fired, whatever stronger action another rule asked for.
            redacted[index] = outcome.text
        if decision.action is None or _ORDER[outcome.action] > _ORDER[decision.action]:
            decision.action = outcome.action
            decision.check, decision.reason = _first_fired(outcome)
        if outcome.action in ("raise", "block"):
            break
    if redacted and decision.action in ("redact", "flag", "fallback"):
        new_messages = list(messages)
        for index, text in redacted.items():
            message = (
                copy.copy(dict(messages[index]))
                if isinstance(messages[index], dict)
                else messages[index].model_dump()
            )
            message["content"] = text
            new_messages[index] = message
        decision.kwargs = {**kwargs, "messages": new_messages}
    if consumed and decision.kwargs is None:
        decision.kwargs = {**kwargs, "messages": messages}
    if decision.action is not None:
        call.span.set_attribute(semconv.POLICY_ACTION, decision.action)
    return decision


def restore_answer(response: Any, redactor: Redactor | None) -> None:
    """Put the real values back into a ChatCompletion the model answered with placeholders."""
    if redactor is None or not redactor.mapping:
        return
    for choice in field(response, "choices") or ():
        message = field(choice, "message")
        content = field(message, "content")
        if isinstance(content, str):
            message.content = redactor.restore(content)


def check_output(call: ModelCall, response: Any) -> InputDecision:
    """Run the output-stage guardrails on each choice of a ChatCompletion; return the strongest decision."""
    strongest = InputDecision(None)
    for choice in field(response, "choices") or ():
        message = field(choice, "message")
        decision = check_output_text(call, content_text(field(message, "content")))
        if decision.text is not None:
            message.content = decision.text
        if decision.action is not None and (
            strongest.action is None or _ORDER[decision.action] > _ORDER[strongest.action]
        ):
            strongest = decision
    if strongest.action is not None:
        call.span.set_attribute(semconv.POLICY_ACTION, strongest.action)
    return strongest


def check_output_text(call: ModelCall, text: str) -> InputDecision:
    """Run the output-stage guardrails on an answer's text; ``text`` is set when it was redacted."""
    if STATE.guardrails is None or not text:
        return InputDecision(None)
    outcome = STATE.guardrails.run(text, stage="output", context=call.guard_context)
    _record(call, outcome)
    if outcome.action is None:
        return InputDecision(None)
    check, reason = _first_fired(outcome)
    decision = InputDecision(outcome.action, check, reason)
    if outcome.action == "redact" and outcome.text is not None:
        decision.text = outcome.text
    call.span.set_attribute(semconv.POLICY_ACTION, outcome.action)
    return decision


def flag_streamed_output(call: ModelCall, text: str) -> None:
    """Check an answer the caller has read already: record the results, and ``flag`` if one fired."""
    decision = check_output_text(call, text)
    if decision.action is not None:
        call.span.set_attribute(semconv.POLICY_ACTION, "flag")
