"""Policy actions for a failed step: fall back, block or raise.

The decision is made while the failed attempt's span is still open, so the evaluation that
triggered it and the ``agentwatch.fallback`` event both sit on that attempt. A fallback attempt
never falls back again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import semconv
from .._state import STATE
from ._policy import Route

if TYPE_CHECKING:
    from .._call import ModelCall
    from ._inline import Evaluation

BLOCK_NOTICE = "This response was withheld by the agentwatch policy ({check}: {reason})."


class GuardrailViolation(Exception):  # noqa: N818 - the public name the policy documentation uses
    """Raised when a policy check with action "raise" fails; carries the check and its reason."""

    def __init__(self, check: str, reason: str, stage: str = "output") -> None:
        super().__init__(f"{check} failed at the {stage} stage: {reason}")
        self.check = check
        self.reason = reason
        self.stage = stage


@dataclass(frozen=True)
class FallbackPlan:
    """The approved route a failed call is re-issued on, and why."""

    route: Route
    reason: str
    attempt: int


@dataclass(frozen=True)
class Verdict:
    """What to do about a failed step; ``plan`` is set when a fallback can be carried out."""

    action: str  # "fallback", "block" or "raise"
    check: str
    reason: str
    trigger: str  # "eval_fail", "guardrail", "error" or "timeout"
    plan: FallbackPlan | None = None


_SEVERITY = {"raise": 3, "block": 2, "fallback": 1}


def verdict_from_evaluations(evaluations: list[Evaluation]) -> Verdict | None:
    """Return the strongest action asked for by the failed evaluations, if any."""
    chosen: Verdict | None = None
    for evaluation in evaluations:
        action = evaluation.rule.on_fail
        if evaluation.result.passed or action not in _SEVERITY:
            continue
        if chosen is None or _SEVERITY[action] > _SEVERITY[chosen.action]:
            chosen = Verdict(action, evaluation.result.name, evaluation.result.reason, "eval_fail")
    return chosen


def decide_after_evaluations(call: ModelCall, evaluations: list[Evaluation]) -> None:
    """Set ``call.verdict`` from failed evaluations, planning the fallback while the span is open.

    An output guardrail's verdict on the same answer stays when it is at least as strong
    (raise, then block, then fallback), so a blocked answer is never handed out by a weaker action.
    """
    verdict = verdict_from_evaluations(evaluations)
    if verdict is None:
        return
    existing = call.verdict
    if existing is not None and (not call.acts or _SEVERITY[existing.action] >= _SEVERITY[verdict.action]):
        return  # the guardrail's action stands, and so does its policy.action attribute
    if not call.acts:
        # The caller has the answer already (a stream read as it arrived, a framework's own
        # evaluation at its end), so the failure is recorded and nothing else happens.
        call.span.set_attribute(semconv.POLICY_ACTION, "flag")
        return
    if verdict.action == "fallback":
        plan = plan_fallback(call, verdict.trigger, f"evaluation_failed:{verdict.check}")
        if plan is None:  # a fallback attempt, or a policy without this trigger
            call.span.set_attribute(semconv.POLICY_ACTION, "flag")
            return
        verdict = replace(verdict, plan=plan)
    call.span.set_attribute(semconv.POLICY_ACTION, verdict.action)
    call.verdict = verdict


def plan_fallback(call: ModelCall, trigger: str, reason: str) -> FallbackPlan | None:
    """Plan a re-issue on the approved route, and record the decision on the failed attempt."""
    policy = STATE.policy
    if policy is None or policy.fallback is None or call.fallback_attempt > 0:
        return None
    if trigger not in policy.fallback.on:
        return None
    route = policy.routes[policy.fallback.to]
    if call.metric_attributes.get(semconv.ROUTE_NAME) == route.name:
        return None
    plan = FallbackPlan(route, reason, 1)
    _record_fallback(call, plan)
    return plan


def plan_retry(call: ModelCall, plan: FallbackPlan, exc: BaseException) -> FallbackPlan | None:
    """Plan the next attempt on the approved route after fallback attempt ``plan`` raised ``exc``.

    The approved route is tried up to ``max_attempts`` times, on the error and timeout triggers
    the policy lists; anything else about a fallback's answer never leads to another attempt.
    """
    policy = STATE.policy
    if policy is None or policy.fallback is None or plan.attempt >= policy.fallback.max_attempts:
        return None
    if not isinstance(exc, Exception):
        return None  # cancellation: the caller stopped waiting
    trigger = "timeout" if is_timeout(exc) else "error"
    if trigger not in policy.fallback.on:
        return None
    retry = FallbackPlan(plan.route, f"{trigger}:{type(exc).__name__}", plan.attempt + 1)
    _record_fallback(call, retry)
    return retry


def _record_fallback(call: ModelCall, plan: FallbackPlan) -> None:
    """Add the ``agentwatch.fallback`` event to the failed attempt and count the fallback."""
    from_route = str(call.metric_attributes.get(semconv.ROUTE_NAME) or "")
    # A buffered stream that broke while read has ended its span already; the count still goes up.
    # (``call.ended`` is set before the end-time evaluation runs, so the span itself is asked.)
    if call.span.is_recording():
        call.span.add_event(
            semconv.EVENT_FALLBACK,
            {
                semconv.FALLBACK_FROM_ROUTE: from_route,
                semconv.FALLBACK_TO_ROUTE: plan.route.name,
                semconv.FALLBACK_FROM_MODEL: str(
                    call.metric_attributes.get(semconv.GEN_AI_REQUEST_MODEL, "")
                ),
                semconv.FALLBACK_TO_MODEL: plan.route.model,
                semconv.FALLBACK_REASON: plan.reason,
                semconv.FALLBACK_ATTEMPT: plan.attempt,
            },
        )
    STATE.instruments.fallbacks.add(
        1, {semconv.FALLBACK_FROM_ROUTE: from_route, semconv.FALLBACK_TO_ROUTE: plan.route.name}
    )


# Exception names (and so `error.type` values) of a call that timed out, across the SDK and httpx.
TIMEOUT_ERROR_TYPES = frozenset({"APITimeoutError", "TimeoutException", "ReadTimeout", "TimeoutError"})


def is_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ in TIMEOUT_ERROR_TYPES


def blocked_chat_chunk(model: str | None, check: str, reason: str) -> Any:
    """Return the one ``ChatCompletionChunk`` of a blocked streamed answer: the notice, content_filter."""
    from openai.types.chat import ChatCompletionChunk

    return ChatCompletionChunk.model_validate(
        {
            "id": "agentwatch-blocked",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model or "",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "content_filter",
                    "delta": {
                        "role": "assistant",
                        "content": BLOCK_NOTICE.format(check=check, reason=reason),
                    },
                }
            ],
        }
    )


def blocked_chat_completion(model: str | None, check: str, reason: str, usage: Any = None) -> Any:
    """Return a ``ChatCompletion`` with ``finish_reason="content_filter"`` and a short notice.

    ``usage`` is the withheld answer's token usage, when the model was called: its tokens were spent.
    """
    from openai.types.chat import ChatCompletion

    body = {
        "id": "agentwatch-blocked",
        "object": "chat.completion",
        "created": 0,
        "model": model or "",
        "choices": [
            {
                "index": 0,
                "finish_reason": "content_filter",
                "message": {
                    "role": "assistant",
                    "content": BLOCK_NOTICE.format(check=check, reason=reason),
                },
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return ChatCompletion.model_validate(body)
